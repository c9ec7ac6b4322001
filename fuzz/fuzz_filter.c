/* libFuzzer driver: filter parsing and matching (src/sync/filter.c). Input: a JSON object
 *   {"filter": {...}, "event": {...}, "room_id": "..."}
 * or a bare filter. The filter is parsed as a sync Filter and as a RoomEventFilter; when it
 * parses, the event goes through every matcher and event_fields. No crash, and the same
 * answer twice. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_event_filter(const struct event_filter *f, const char *room_id, const json_t *ev)
{
    if (!ev)
        return;
    if (filter_event_matches(f, room_id, ev) != filter_event_matches(f, room_id, ev))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    const json_t *fj, *ev;
    const char *room_id;
    struct sync_filter sf;
    struct event_filter ef;
    char err[256];

    if (!in)
        return 0;
    fj = json_object_get(in, "filter");
    if (!fj)
        fj = in;
    ev = json_object_get(in, "event");
    room_id = json_string_value(json_object_get(in, "room_id"));
    if (!room_id)
        room_id = "!r:example.org";

    if (sync_filter_parse(fj, &sf, err, sizeof(err)) == 0) {
        check_event_filter(&sf.presence, room_id, ev);
        check_event_filter(&sf.account_data, room_id, ev);
        check_event_filter(&sf.timeline, room_id, ev);
        check_event_filter(&sf.state, room_id, ev);
        check_event_filter(&sf.ephemeral, room_id, ev);
        check_event_filter(&sf.room_account_data, room_id, ev);
        (void)sync_filter_room_included(&sf, room_id);
        if (ev) {
            json_t *copy = json_deep_copy(ev);
            json_t *cut = sync_filter_apply_fields(&sf, copy);
            if (!cut)
                abort();
            json_decref(cut);
            json_decref(copy);
        }
        sync_filter_clear(&sf);
    } else if (memchr(err, '\0', sizeof(err)) == NULL) {
        abort();
    }
    if (filter_parse(fj, &ef, err, sizeof(err)) == 0) {
        check_event_filter(&ef, room_id, ev);
        filter_clear(&ef);
    }
    /* Wildcard matching on arbitrary strings. */
    if (json_is_string(json_object_get(in, "pattern")) && ev)
        (void)filter_type_matches(json_string_value(json_object_get(in, "pattern")),
                                  json_string_value(json_object_get(ev, "type")) ?: "");
    json_decref(in);
    return 0;
}
