/* room_initial_sync.yaml: GET /rooms/{roomId}/initialSync (deprecated, used for previews). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "api/visibility.h"
#include "json/json.h"
#include "store/store.h"

#define INITIAL_SYNC_LIMIT 10

/* GET /_matrix/client/r0/rooms/{roomId}/initialSync */
void
room_initial_sync_get(struct req *r)
{
    const char *room_id = r->params[0];
    const struct room_version *v;
    struct visibility vis = {0};
    struct store_event *list = NULL;
    size_t n = 0;
    json_t *chunk = NULL, *state, *out, *rev;
    int64_t pos, now, last;
    char tok[32];

    if (!(v = api_room_or_reply(r, room_id)))
        return;
    if (visibility_load(r, room_id, r->user_id, &vis) != 0 ||
        store_stream_position(r->hs->store, &now) != STORE_OK) {
        reply_internal(r, "room lookup failed");
        goto out;
    }
    pos = visibility_state_pos(&vis);
    if (pos < 0) {
        reply_error(r, MERR_FORBIDDEN, "You are not allowed to view this room");
        goto out;
    }
    if (pos > now)
        pos = now;
    chunk = json_array();
    if (api_room_events_page(r, room_id, v, &vis, NULL, pos, 0, true, INITIAL_SYNC_LIMIT, chunk,
                             &last) != 0 ||
        store_room_state_at(r->hs->store, room_id, pos, &list, &n) != STORE_OK) {
        reply_internal(r, "event lookup failed");
        goto out;
    }
    /* The page was read newest first; messages are oldest first. */
    rev = json_array();
    for (size_t i = json_array_size(chunk); i-- > 0;)
        json_array_append(rev, json_array_get(chunk, i));
    json_decref(chunk);
    chunk = rev;
    state = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *ev = api_event_for_client(r, &list[i], v);
        if (ev)
            json_array_append_new(state, ev);
    }
    out = json_pack("{s:s, s:o, s:[], s:[]}", "room_id", room_id, "state", state, "presence",
                    "account_data");
    if (vis.membership_now)
        json_object_set_new(out, "membership", json_string(vis.membership_now));
    json_object_set_new(out, "visibility", json_string("private"));
    {
        bool pub = false;
        if (store_room_is_public(r->hs->store, room_id, &pub) == STORE_OK && pub)
            json_object_set_new(out, "visibility", json_string("public"));
    }
    snprintf(tok, sizeof(tok), "s%lld", (long long)last);
    json_object_set_new(out, "messages", json_pack("{s:s, s:o}", "start", tok, "chunk", chunk));
    chunk = NULL;
    snprintf(tok, sizeof(tok), "s%lld", (long long)pos);
    json_object_set_new(json_object_get(out, "messages"), "end", json_string(tok));
    reply_json(r, 200, out);
out:
    json_decref(chunk);
    store_event_list_free(list, n);
    visibility_clear(&vis);
}
