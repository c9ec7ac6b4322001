/* rooms.yaml: reading a room's events, state and members. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "api/visibility.h"
#include "core/util.h"
#include "json/json.h"
#include "rooms/rooms.h"
#include "store/store.h"
#include "sync/token.h"

/* The state the user may read (current, or as at their leaving), or NULL after replying. */
static struct store_event *
readable_state_or_reply(struct req *r, const char *room_id, size_t *n, int64_t at)
{
    struct visibility vis;
    struct store_event *list = NULL;
    int64_t pos;

    *n = 0;
    if (!api_member_room_or_reply(r, room_id))
        return NULL;
    if (visibility_load(r, room_id, r->user_id, &vis) != 0) {
        reply_internal(r, "visibility lookup failed");
        return NULL;
    }
    pos = visibility_state_pos(&vis);
    visibility_clear(&vis);
    if (pos < 0) {
        reply_error(r, MERR_FORBIDDEN, "You are not allowed to view this room");
        return NULL;
    }
    if (at < pos)
        pos = at;
    if (store_room_state_at(r->hs->store, room_id, pos, &list, n) != STORE_OK) {
        reply_internal(r, "state lookup failed");
        return NULL;
    }
    if (!list)
        list = xcalloc(1, sizeof(*list)); /* an empty but non-NULL answer */
    return list;
}

/* GET /_matrix/client/r0/rooms/{roomId}/event/{eventId} */
void
rooms_get_event(struct req *r)
{
    const char *room_id = r->params[0];
    const struct room_version *v;
    struct store_event e = {0};
    struct visibility vis = {0};
    enum store_rc rc;
    json_t *out;

    if (!(v = api_room_or_reply(r, room_id)))
        return;
    rc = store_event_get(r->hs->store, r->params[1], &e);
    if (rc == STORE_ERR) {
        reply_internal(r, "event lookup failed");
        goto out;
    }
    if (rc == STORE_NOT_FOUND || strcmp(e.room_id, room_id) != 0) {
        reply_error(r, MERR_NOT_FOUND, "Event not found");
        goto out;
    }
    if (visibility_load(r, room_id, r->user_id, &vis) != 0) {
        reply_internal(r, "visibility lookup failed");
        goto out;
    }
    if (!visibility_allows(&vis, &e)) {
        reply_error(r, MERR_NOT_FOUND, "Event not found");
        goto out;
    }
    out = api_event_for_client(r, &e, v);
    if (!out)
        reply_internal(r, "stored event unreadable");
    else
        reply_json(r, 200, out);
out:
    visibility_clear(&vis);
    store_event_clear(&e);
}

/* GET /_matrix/client/r0/rooms/{roomId}/state */
void
rooms_get_state(struct req *r)
{
    const struct room_version *v;
    struct store_event *list;
    size_t n;
    json_t *arr;

    list = readable_state_or_reply(r, r->params[0], &n, INT64_MAX);
    if (!list)
        return;
    v = rooms_version(r->hs->rooms, r->params[0]);
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *ev = api_event_for_client(r, &list[i], v);
        if (ev)
            json_array_append_new(arr, ev);
    }
    store_event_list_free(list, n);
    reply_json(r, 200, arr);
}

/* GET /_matrix/client/r0/rooms/{roomId}/state/{eventType}/{stateKey} (and without key) */
void
rooms_get_state_event(struct req *r)
{
    const char *type = r->params[1], *key = r->params[2] ? r->params[2] : "";
    const struct room_version *v;
    struct store_event *list;
    size_t n;
    json_t *found = NULL;

    list = readable_state_or_reply(r, r->params[0], &n, INT64_MAX);
    if (!list)
        return;
    v = rooms_version(r->hs->rooms, r->params[0]);
    for (size_t i = 0; i < n && !found; i++) {
        if (strcmp(list[i].type, type) == 0 && list[i].state_key &&
            strcmp(list[i].state_key, key) == 0)
            found = api_event_for_client(r, &list[i], v);
    }
    store_event_list_free(list, n);
    if (!found) {
        reply_error(r, MERR_NOT_FOUND, "Event not found");
        return;
    }
    reply_json(r, 200, json_incref(json_object_get(found, "content")));
    json_decref(found);
}

/* Parses a pagination token ("s<position>"); returns -1 if malformed. */
int64_t
api_parse_stream_token(const char *token)
{
    struct sync_token t;
    /* A sync next_batch is also a room token: its events position. */
    if (sync_token_parse(token, &t) != 0)
        return -1;
    return t.pos[STREAM_EVENTS];
}

/* GET /_matrix/client/r0/rooms/{roomId}/members */
void
rooms_get_members(struct req *r)
{
    const char *at = req_query(r, "at"), *membership = req_query(r, "membership");
    const char *not_membership = req_query(r, "not_membership");
    const struct room_version *v;
    struct store_event *list;
    int64_t at_pos = INT64_MAX;
    size_t n;
    json_t *chunk;

    if (at) {
        at_pos = api_parse_stream_token(at);
        if (at_pos < 0) {
            reply_error(r, MERR_INVALID_PARAM, "Invalid 'at' token");
            return;
        }
    }
    list = readable_state_or_reply(r, r->params[0], &n, at_pos);
    if (!list)
        return;
    v = rooms_version(r->hs->rooms, r->params[0]);
    chunk = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *ev;
        const char *m;
        if (strcmp(list[i].type, "m.room.member") != 0)
            continue;
        ev = api_event_for_client(r, &list[i], v);
        if (!ev)
            continue;
        m = json_string_value(json_object_get(json_object_get(ev, "content"), "membership"));
        /* SPEC: given both, "either the membership is the same as membership or is not the
         * same as not_membership". */
        bool is = membership && m && strcmp(m, membership) == 0;
        bool is_not = not_membership && (!m || strcmp(m, not_membership) != 0);
        if ((membership || not_membership) && !is && !is_not) {
            json_decref(ev);
            continue;
        }
        json_array_append_new(chunk, ev);
    }
    store_event_list_free(list, n);
    reply_json(r, 200, json_pack("{s:o}", "chunk", chunk));
}

/* GET /_matrix/client/r0/rooms/{roomId}/joined_members */
void
rooms_get_joined_members(struct req *r)
{
    const char *room_id = r->params[0];
    json_t *state, *members, *joined, *entry;
    const char *user;
    char *m;

    if (!api_member_room_or_reply(r, room_id))
        return;
    m = rooms_membership(r->hs->rooms, room_id, r->user_id);
    if (!m || strcmp(m, "join") != 0) {
        free(m);
        reply_error(r, MERR_FORBIDDEN, "You are not in this room");
        return;
    }
    free(m);
    state = rooms_current_state(r->hs->rooms, room_id);
    members = json_object_get(state, "m.room.member");
    joined = json_object();
    json_object_foreach(members, user, entry)
    {
        json_t *content = json_object_get(json_object_get(entry, "event"), "content");
        json_t *info;
        if (!json_is_string(json_object_get(content, "membership")) ||
            strcmp(json_string_value(json_object_get(content, "membership")), "join") != 0)
            continue;
        info = json_object();
        if (json_is_string(json_object_get(content, "displayname")))
            json_object_set(info, "display_name", json_object_get(content, "displayname"));
        if (json_is_string(json_object_get(content, "avatar_url")))
            json_object_set(info, "avatar_url", json_object_get(content, "avatar_url"));
        json_object_set_new(joined, user, info);
    }
    json_decref(state);
    reply_json(r, 200, json_pack("{s:o}", "joined", joined));
}
