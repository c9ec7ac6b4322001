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

int
api_room_snapshot(struct req *r, const char *room_id, long limit, json_t **out)
{
    const struct room_version *v = rooms_version(r->hs->rooms, room_id);
    struct visibility vis = {0};
    struct store_event *list = NULL;
    size_t n = 0;
    json_t *chunk = NULL, *state, *rev, *entry;
    int64_t pos, now, last;
    char tok[32];
    bool pub = false;
    int rc = -1;

    *out = NULL;
    if (!v)
        return 1;
    if (visibility_load(r, room_id, r->user_id, &vis) != 0 ||
        store_stream_position(r->hs->store, &now) != STORE_OK)
        goto out;
    pos = visibility_state_pos(&vis);
    if (pos < 0) {
        rc = 1;
        goto out;
    }
    if (pos > now)
        pos = now;
    chunk = json_array();
    if ((limit > 0 && api_room_events_page(r, room_id, v, &vis, NULL, pos, 0, true, (size_t)limit,
                                           chunk, &last) != 0) ||
        store_room_state_at(r->hs->store, room_id, pos, &list, &n) != STORE_OK)
        goto out;
    if (limit <= 0)
        last = pos;
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
    entry = json_pack("{s:s, s:o, s:[], s:[]}", "room_id", room_id, "state", state, "presence",
                      "account_data");
    if (vis.membership_now)
        json_object_set_new(entry, "membership", json_string(vis.membership_now));
    store_room_is_public(r->hs->store, room_id, &pub);
    json_object_set_new(entry, "visibility", json_string(pub ? "public" : "private"));
    snprintf(tok, sizeof(tok), "s%lld", (long long)last);
    json_object_set_new(entry, "messages", json_pack("{s:s, s:o}", "start", tok, "chunk", chunk));
    chunk = NULL;
    snprintf(tok, sizeof(tok), "s%lld", (long long)pos);
    json_object_set_new(json_object_get(entry, "messages"), "end", json_string(tok));
    *out = entry;
    rc = 0;
out:
    json_decref(chunk);
    store_event_list_free(list, n);
    visibility_clear(&vis);
    return rc;
}

/* GET /_matrix/client/r0/rooms/{roomId}/initialSync */
void
room_initial_sync_get(struct req *r)
{
    json_t *entry;
    int rc;

    if (!api_member_room_or_reply(r, r->params[0]))
        return;
    rc = api_room_snapshot(r, r->params[0], INITIAL_SYNC_LIMIT, &entry);
    if (rc > 0)
        reply_error(r, MERR_FORBIDDEN, "You are not allowed to view this room");
    else if (rc < 0)
        reply_internal(r, "room snapshot failed");
    else
        reply_json(r, 200, entry);
}
