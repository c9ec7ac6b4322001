/* presence.yaml, modules/presence.rst: presence lives in memory (src/sync/presence.c); a
 * change wakes the user and everyone sharing a room with them, whose syncs carry it in the
 * top-level "presence" section. Config presence.enabled = false turns it all off. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "core/config.h"
#include "json/json.h"
#include "rooms/rooms.h"
#include "store/store.h"
#include "sync/notifier.h"
#include "sync/presence.h"

json_t *
api_room_sharers(struct hs *hs, const char *user_id)
{
    char **rooms = NULL;
    size_t n = 0;
    json_t *out;

    if (store_user_rooms(hs->store, user_id, "join", &rooms, &n) != STORE_OK)
        return NULL;
    out = json_object();
    json_object_set_new(out, user_id, json_true());
    for (size_t i = 0; i < n; i++) {
        json_t *state = rooms_current_state(hs->rooms, rooms[i]), *entry;
        const char *user;
        json_object_foreach(json_object_get(state, "m.room.member"), user, entry)
        {
            json_t *content = json_object_get(json_object_get(entry, "event"), "content");
            const char *m = json_string_value(json_object_get(content, "membership"));
            if (m && strcmp(m, "join") == 0)
                json_object_set_new(out, user, json_true());
        }
        json_decref(state);
    }
    store_strings_free(rooms, n);
    return out;
}

void
api_presence_changed(void *arg, const char *user_id)
{
    struct hs *hs = arg;
    json_t *sharers = api_room_sharers(hs, user_id), *v;
    const char **users, *user;
    size_t n = 0;

    if (!sharers)
        return;
    users = calloc(json_object_size(sharers), sizeof(*users));
    if (!users)
        abort();
    json_object_foreach(sharers, user, v)
    {
        users[n++] = user;
    }
    notifier_notify(hs->notifier, users, n);
    free(users);
    json_decref(sharers);
}

void
api_presence_active(struct hs *hs, const char *user_id)
{
    if (hs->cfg->presence_enabled)
        presence_active(hs->presence, user_id);
}

/* PUT /_matrix/client/r0/presence/{userId}/status */
void
presence_put_status(struct req *r)
{
    json_t *state = json_object_get(r->json, "presence");
    json_t *msg = json_object_get(r->json, "status_msg");
    const char *s = json_string_value(state);

    if (strcmp(r->params[0], r->user_id) != 0) {
        reply_error(r, MERR_FORBIDDEN, "Cannot set another user's presence");
        return;
    }
    if (!state) {
        reply_error(r, MERR_MISSING_PARAM, "Missing presence");
        return;
    }
    if (!s ||
        (strcmp(s, "online") != 0 && strcmp(s, "offline") != 0 && strcmp(s, "unavailable") != 0)) {
        reply_error(r, MERR_INVALID_PARAM, "presence must be online, offline or unavailable");
        return;
    }
    if (msg && !json_is_null(msg) && !json_is_string(msg)) {
        reply_error(r, MERR_BAD_JSON, "status_msg must be a string");
        return;
    }
    /* With presence off the request succeeds and changes nothing, as in Synapse. */
    if (r->hs->cfg->presence_enabled)
        presence_set(r->hs->presence, r->user_id, s, json_string_value(msg));
    reply_empty(r);
}

/* GET /_matrix/client/r0/presence/{userId}/status */
void
presence_get_status(struct req *r)
{
    const char *target = r->params[0];
    struct store_user u = {0};
    enum store_rc rc = store_user_get(r->hs->store, target, &u);
    json_t *content = NULL;

    store_user_clear(&u);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "Unknown user");
        return;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "user lookup failed");
        return;
    }
    /* SPEC: 403 "You are not allowed to see this user's presence status": only users who
     * share a room see it, as Synapse decides visibility. */
    if (strcmp(target, r->user_id) != 0) {
        json_t *sharers = api_room_sharers(r->hs, r->user_id);
        bool shares = sharers && json_object_get(sharers, target);
        json_decref(sharers);
        if (!sharers) {
            reply_internal(r, "room lookup failed");
            return;
        }
        if (!shares) {
            reply_error(r, MERR_FORBIDDEN, "You are not allowed to see their presence");
            return;
        }
    }
    if (r->hs->cfg->presence_enabled)
        content = presence_get(r->hs->presence, target);
    if (!content)
        content = json_pack("{s:s}", "presence", "offline");
    reply_json(r, 200, content);
}
