/* event_context.yaml: GET /rooms/{roomId}/context/{eventId} */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "api/visibility.h"
#include "json/json.h"
#include "store/store.h"
#include "sync/filter.h"

/* The room state at position pos, as client events; with lazy loading only the members who
 * sent something in `events`. */
static json_t *
state_at(struct req *r, const char *room_id, const struct room_version *v, int64_t pos, bool lazy,
         const json_t *events)
{
    struct store_event *list = NULL;
    size_t n = 0, i;
    json_t *out = json_array(), *ev;

    if (store_room_state_at(r->hs->store, room_id, pos, &list, &n) != STORE_OK)
        return out;
    for (size_t k = 0; k < n; k++) {
        if (lazy && strcmp(list[k].type, "m.room.member") == 0) {
            bool sent = false;
            json_array_foreach(events, i, ev)
            {
                const char *s = json_string_value(json_object_get(ev, "sender"));
                sent = sent || (s && list[k].state_key && strcmp(s, list[k].state_key) == 0);
            }
            if (!sent)
                continue;
        }
        ev = api_event_for_client(r, &list[k], v);
        if (ev)
            json_array_append_new(out, ev);
    }
    store_event_list_free(list, n);
    return out;
}

/* GET /_matrix/client/r0/rooms/{roomId}/context/{eventId} */
void
event_context_get(struct req *r)
{
    const char *room_id = r->params[0];
    const struct room_version *v;
    struct visibility vis = {0};
    struct event_filter f = {0};
    struct store_event e = {0};
    json_t *before = NULL, *after = NULL, *all, *out, *ev;
    int64_t start, end, state_pos;
    long limit;
    enum store_rc rc;
    char tok[32];

    if ((limit = api_parse_limit_or_reply(r, 10)) < 0 ||
        api_parse_filter_param_or_reply(r, &f) != 0)
        return;
    if (!(v = api_room_or_reply(r, room_id)))
        goto out;
    rc = store_event_get(r->hs->store, r->params[1], &e);
    if (rc == STORE_ERR) {
        reply_internal(r, "event lookup failed");
        goto out;
    }
    if (visibility_load(r, room_id, r->user_id, &vis) != 0) {
        reply_internal(r, "visibility lookup failed");
        goto out;
    }
    if (rc == STORE_NOT_FOUND || strcmp(e.room_id, room_id) != 0 || !visibility_allows(&vis, &e)) {
        reply_error(r, MERR_NOT_FOUND, "Event not found");
        goto out;
    }
    before = json_array();
    after = json_array();
    /* Half the limit before the event, the rest after, as Synapse splits it. */
    if (api_room_events_page(r, room_id, v, &vis, &f, e.pos - 1, 0, true, (size_t)limit / 2, before,
                             &start) != 0 ||
        api_room_events_page(r, room_id, v, &vis, &f, e.pos, INT64_MAX, false,
                             (size_t)limit - (size_t)limit / 2, after, &end) != 0) {
        reply_internal(r, "event lookup failed");
        goto out;
    }
    ev = api_event_for_client(r, &e, v);
    if (!ev) {
        reply_internal(r, "stored event unreadable");
        goto out;
    }
    out = json_pack("{s:o}", "event", ev);
    snprintf(tok, sizeof(tok), "s%lld", (long long)start);
    json_object_set_new(out, "start", json_string(tok));
    snprintf(tok, sizeof(tok), "s%lld", (long long)end);
    json_object_set_new(out, "end", json_string(tok));
    /* SPEC: "The state of the room at the last event returned." */
    state_pos = end;
    if (visibility_state_pos(&vis) < state_pos)
        state_pos = visibility_state_pos(&vis);
    all = json_array();
    json_array_extend(all, before);
    json_array_append(all, ev);
    json_array_extend(all, after);
    json_object_set_new(out, "state", state_at(r, room_id, v, state_pos, f.lazy_load_members, all));
    json_decref(all);
    json_object_set_new(out, "events_before", before);
    json_object_set_new(out, "events_after", after);
    before = after = NULL;
    reply_json(r, 200, out);
out:
    json_decref(before);
    json_decref(after);
    store_event_clear(&e);
    visibility_clear(&vis);
    filter_clear(&f);
}
