/* notifications.yaml: the events the user was notified about (the push rules said "notify"),
 * newest first; and the unread counts of /sync (modules/push.rst "Receiving notifications").
 * Notifications are stored with their events (src/push, store_push.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "core/log.h"
#include "core/util.h"
#include "rooms/rooms.h"
#include "store/store.h"

#define DEFAULT_LIMIT 50 /* Synapse's */

/* GET /_matrix/client/r0/notifications */
void
notifications_get(struct req *r)
{
    const char *from = req_query(r, "from"), *only = req_query(r, "only");
    struct store_notification *list = NULL;
    size_t n = 0;
    int64_t before = INT64_MAX, next = 0;
    long limit;
    json_t *out;
    char tok[32];

    if (req_has_query(r, "from") && (!from || util_parse_int64(from, &before) != 0 || before < 0)) {
        reply_error(r, MERR_INVALID_PARAM, "from must be a token from next_token");
        return;
    }
    if ((limit = api_parse_limit_or_reply(r, DEFAULT_LIMIT)) < 0)
        return;
    if (only && strcmp(only, "highlight") != 0) {
        reply_error(r, MERR_INVALID_PARAM, "only must be 'highlight'");
        return;
    }
    if (store_notifications(r->hs->store, r->user_id, before, only != NULL, (size_t)limit, &list,
                            &n, &next) != STORE_OK) {
        reply_internal(r, "notifications lookup failed");
        return;
    }
    out = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct room_version *v = rooms_version(r->hs->rooms, list[i].event.room_id);
        json_t *ev = v ? api_event_for_client(r, &list[i].event, v) : NULL;
        json_t *actions = json_loads(list[i].actions, 0, NULL);
        if (!ev || !actions) {
            json_decref(ev);
            json_decref(actions);
            continue;
        }
        /* profile_tag belongs to device-scoped rules, which r0.6.1 no longer has: left out. */
        json_array_append_new(out, json_pack("{s:o, s:o, s:b, s:s, s:I}", "actions", actions,
                                             "event", ev, "read", list[i].read, "room_id",
                                             list[i].event.room_id, "ts", (json_int_t)list[i].ts));
    }
    /* SPEC: next_token: "If this is absent, there are no more results." */
    if (next > 0 && limit > 0) {
        snprintf(tok, sizeof(tok), "%lld", (long long)next);
        reply_json(r, 200, json_pack("{s:o, s:s}", "notifications", out, "next_token", tok));
    } else {
        reply_json(r, 200, json_pack("{s:o}", "notifications", out));
    }
    store_notifications_free(list, n);
}

void
api_push_unread_counts(struct hs *hs, const char *user_id, json_t *join)
{
    const char *room;
    json_t *entry;

    json_object_foreach(join, room, entry)
    {
        int64_t notes = 0, highlights = 0;
        if (store_push_counts(hs->store, user_id, room, &notes, &highlights) != STORE_OK)
            log_error("push: cannot count the notifications of %s in %s", user_id, room);
        json_object_set_new(entry, "unread_notifications",
                            json_pack("{s:I, s:I}", "highlight_count", (json_int_t)highlights,
                                      "notification_count", (json_int_t)notes));
    }
}
