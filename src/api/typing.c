/* typing.yaml, modules/typing_notifications.rst: who is typing lives in memory
 * (src/sync/typing.c); a change wakes the syncs of the room's joined members, which carry it
 * as the room's ephemeral m.typing event. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "core/config.h"
#include "json/json.h"
#include "rooms/rooms.h"
#include "sync/notifier.h"
#include "sync/presence.h"
#include "sync/typing.h"

/* Synapse's default and cap: a client that forgets to stop typing stops after two minutes. */
#define DEFAULT_TIMEOUT_MS 30000
#define MAX_TIMEOUT_MS 120000

void
api_notify_room_members(struct hs *hs, const char *room_id)
{
    json_t *state = rooms_current_state(hs->rooms, room_id), *entry;
    json_t *members = json_object_get(state, "m.room.member");
    const char **users = calloc(json_object_size(members) + 1, sizeof(*users));
    const char *user;
    size_t n = 0;

    if (!users)
        abort();
    json_object_foreach(members, user, entry)
    {
        json_t *content = json_object_get(json_object_get(entry, "event"), "content");
        const char *m = json_string_value(json_object_get(content, "membership"));
        if (m && strcmp(m, "join") == 0)
            users[n++] = user;
    }
    if (n > 0)
        notifier_notify(hs->notifier, users, n);
    free(users);
    json_decref(state);
}

void
api_typing_expired(void *arg, const char *room_id)
{
    api_notify_room_members(arg, room_id);
}

/* PUT /_matrix/client/r0/rooms/{roomId}/typing/{userId} */
void
typing_put(struct req *r)
{
    const char *room_id = r->params[0];
    json_t *typing = json_object_get(r->json, "typing");
    json_t *timeout = json_object_get(r->json, "timeout");
    int64_t timeout_ms = DEFAULT_TIMEOUT_MS;
    char *membership = NULL;

    if (strcmp(r->params[1], r->user_id) != 0) {
        reply_error(r, MERR_FORBIDDEN, "Cannot set another user's typing state");
        return;
    }
    if (!api_room_id_ok_or_reply(r, room_id))
        return;
    if (!typing) {
        reply_error(r, MERR_MISSING_PARAM, "Missing typing");
        return;
    }
    if (!json_is_boolean(typing)) {
        reply_error(r, MERR_BAD_JSON, "typing must be a boolean");
        return;
    }
    if (timeout && !json_is_null(timeout)) {
        if (!json_is_integer(timeout) || json_integer_value(timeout) < 0) {
            reply_error(r, MERR_BAD_JSON, "timeout must be a non-negative integer");
            return;
        }
        timeout_ms = json_integer_value(timeout);
    }
    if (timeout_ms > MAX_TIMEOUT_MS)
        timeout_ms = MAX_TIMEOUT_MS;
    membership = rooms_membership(r->hs->rooms, room_id, r->user_id);
    if (!membership || strcmp(membership, "join") != 0) {
        reply_error(r, MERR_FORBIDDEN, "You are not in this room");
        goto out;
    }
    if (json_is_true(typing))
        api_presence_active(r->hs, r->user_id);
    if (typing_set(r->hs->typing, room_id, r->user_id, json_is_true(typing), timeout_ms))
        api_notify_room_members(r->hs, room_id);
    reply_empty(r);
out:
    free(membership);
}
