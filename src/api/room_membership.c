/* Room membership: joining.yaml, inviting.yaml, leaving.yaml, kicking.yaml, banning.yaml,
 * list_joined_rooms.yaml. Each change is an m.room.member event; the authorization rules
 * decide who may make it, so the 403s here are theirs. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/synapse_admin.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "room/id.h"
#include "rooms/rooms.h"
#include "store/store.h"

/* Optional "reason" must be a string; replies and returns false otherwise. */
static bool
reason_ok_or_reply(struct req *r, const char **reason)
{
    bool wrong = false;
    *reason = json_get_str(r->json, "reason", &wrong);
    if (wrong)
        reply_error(r, MERR_BAD_JSON, "reason must be a string");
    return !wrong;
}

/* Sends membership `m` for target; replies 200 with `ok_body` (taken) on success. */
static void
change_membership(struct req *r, const char *room_id, const char *target, const char *m,
                  const char *reason, json_t *ok_body)
{
    json_t *content = json_pack("{s:s}", "membership", m);
    char *id;

    if (reason)
        json_object_set_new(content, "reason", json_string(reason));
    /* SPEC: client_server_api "Events on Change of Profile Information": servers "should
     * include the display name and avatar URL fields" in their users' membership events; an
     * invite carries the invitee's (Synapse). */
    if (strcmp(m, "join") == 0 || strcmp(m, "invite") == 0 || strcmp(m, "knock") == 0)
        profile_add_to_member_content(r->hs, target, content);
    id = api_send_event_or_reply(r, room_id, "m.room.member", target, content, NULL);
    json_decref(content);
    if (!id) {
        json_decref(ok_body);
        return;
    }
    free(id);
    reply_json(r, 200, ok_body ? ok_body : json_object());
}

/* SPEC: guest_access: "Servers MUST only allow guest users to join rooms if the
 * m.room.guest_access state event is present on the room, and has the guest_access value
 * can_join." */
bool
api_guest_may_join(struct rooms *rooms, const char *room_id)
{
    json_t *content = rooms_state_content(rooms, room_id, "m.room.guest_access", "");
    const char *v = json_string_value(json_object_get(content, "guest_access"));
    bool ok = v && strcmp(v, "can_join") == 0;
    json_decref(content);
    return ok;
}

static void
join(struct req *r, const char *room_id)
{
    const char *reason;
    if (!reason_ok_or_reply(r, &reason))
        return;
    if (!api_room_or_reply(r, room_id))
        return;
    /* Rooms an admin blocked (issue 14). */
    if (!synapse_admin_room_joinable_or_reply(r, room_id))
        return;
    if (r->is_guest && !api_guest_may_join(r->hs->rooms, room_id)) {
        reply_error(r, MERR_FORBIDDEN, "Guest access is not allowed in this room");
        return;
    }
    /* SPEC: joining.yaml: "If a third_party_signed was supplied, the homeserver must verify
     * that it matches a pending m.room.third_party_invite event in the room" (issue 10). */
    if (!third_party_signed_or_reply(r, room_id))
        return;
    /* Joining a room one is already in is a no-op change the auth rules allow. */
    change_membership(r, room_id, r->user_id, "join", reason,
                      json_pack("{s:s}", "room_id", room_id));
}

/* POST /_matrix/client/r0/rooms/{roomId}/join */
void
membership_join_room(struct req *r)
{
    join(r, r->params[0]);
}

/* Runs fn on the room of {roomIdOrAlias} (r->params[0]). */
static void
with_room_id_or_alias(struct req *r, void (*fn)(struct req *, const char *))
{
    const char *target = r->params[0];
    char *room_id = NULL;

    if (target[0] == '#') {
        enum store_rc rc = store_alias_get(r->hs->store, target, &room_id, NULL);
        /* An application service may create it when asked (issue 13): this runs again once it
         * answered. */
        if (rc == STORE_NOT_FOUND && api_appservice_suspend_for_alias(r, target))
            return;
        if (rc == STORE_NOT_FOUND) {
            reply_error(r, MERR_NOT_FOUND, "Room alias %s not found", target);
            return;
        }
        if (rc != STORE_OK) {
            reply_internal(r, "alias lookup failed");
            return;
        }
        fn(r, room_id);
        free(room_id);
        return;
    }
    if (target[0] != '!') {
        reply_error(r, MERR_INVALID_PARAM, "Not a room ID or alias");
        return;
    }
    /* server_name is for joining over federation; a local room ignores it. */
    fn(r, target);
}

/* POST /_matrix/client/r0/join/{roomIdOrAlias} */
void
membership_join_alias(struct req *r)
{
    with_room_id_or_alias(r, join);
}

/* Matrix v1.1 knocking.yaml (issue 15): an m.room.member knock, which the v7 auth rules allow
 * only under the knock join rule (403 otherwise, as the spec lists). */
static void
knock(struct req *r, const char *room_id)
{
    const char *reason;
    if (!reason_ok_or_reply(r, &reason) || !api_room_or_reply(r, room_id))
        return;
    change_membership(r, room_id, r->user_id, "knock", reason,
                      json_pack("{s:s}", "room_id", room_id));
}

/* POST /_matrix/client/v3/knock/{roomIdOrAlias} */
void
membership_knock(struct req *r)
{
    with_room_id_or_alias(r, knock);
}

/* Target user of kick/ban/unban/invite: "user_id" in the body. */
static const char *
target_or_reply(struct req *r)
{
    bool wrong = false;
    const char *target = json_get_str(r->json, "user_id", &wrong);
    if (!target) {
        reply_error(r, wrong ? MERR_BAD_JSON : MERR_MISSING_PARAM,
                    "user_id is required and must be a string");
        return NULL;
    }
    if (!id_user_id_valid(target)) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid user ID");
        return NULL;
    }
    return target;
}

/* POST /_matrix/client/r0/rooms/{roomId}/invite */
void
membership_invite(struct req *r)
{
    const char *room_id = r->params[0], *target, *reason;
    const char *lp, *server;
    size_t lp_len;
    struct store_user u;
    enum store_rc rc;

    /* third_party_membership.yaml: the other form of this endpoint (issue 10). */
    if (third_party_invite_requested(r)) {
        third_party_invite(r);
        return;
    }
    if (!(target = target_or_reply(r)) || !reason_ok_or_reply(r, &reason))
        return;
    if (!api_member_room_or_reply(r, room_id))
        return;
    id_user_id_split(target, &lp, &lp_len, &server);
    if (strcmp(server, r->hs->cfg->server_name) != 0) {
        reply_error(r, MERR_FORBIDDEN, "Inviting users of other servers needs federation");
        return;
    }
    rc = store_user_get(r->hs->store, target, &u);
    store_user_clear(&u);
    /* An application service may create the invitee when asked (issue 13): this runs again
     * once it answered. */
    if (rc == STORE_NOT_FOUND && api_appservice_suspend_for_user(r, target))
        return;
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "Unknown user %s", target);
        return;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "user lookup failed");
        return;
    }
    change_membership(r, room_id, target, "invite", reason, NULL);
}

/* POST /_matrix/client/r0/rooms/{roomId}/leave */
void
membership_leave(struct req *r)
{
    const char *reason;
    if (!reason_ok_or_reply(r, &reason) || !api_member_room_or_reply(r, r->params[0]) ||
        !server_notices_may_leave_or_reply(r, r->params[0]))
        return;
    change_membership(r, r->params[0], r->user_id, "leave", reason, NULL);
}

/* POST /_matrix/client/r0/rooms/{roomId}/forget */
void
membership_forget(struct req *r)
{
    const char *room_id = r->params[0];
    char *m;

    /* Whether or not the room exists, someone who was never in it forgets it trivially: the
     * same 200 for both, so forget does not reveal which rooms exist (issue 12; Synapse too
     * answers 200 without checking the room). */
    if (!api_room_id_ok_or_reply(r, room_id))
        return;
    m = rooms_membership(r->hs->rooms, room_id, r->user_id);
    if (!m) {
        reply_empty(r);
        return;
    }
    if (strcmp(m, "join") == 0 || strcmp(m, "invite") == 0) {
        free(m);
        reply_error(r, MERR_UNKNOWN, "Leave the room before forgetting it");
        return;
    }
    free(m);
    if (store_room_forget(r->hs->store, r->user_id, room_id) != STORE_OK) {
        reply_internal(r, "forget failed");
        return;
    }
    reply_empty(r);
}

/* POST /_matrix/client/r0/rooms/{roomId}/kick */
void
membership_kick(struct req *r)
{
    const char *target, *reason;
    if (!(target = target_or_reply(r)) || !reason_ok_or_reply(r, &reason) ||
        !api_member_room_or_reply(r, r->params[0]))
        return;
    char *m = rooms_membership(r->hs->rooms, r->params[0], target);
    /* Kicking someone who is not there would turn "no membership" into "leave". Kicking a
     * knocker rejects the knock (v1.1 "Knocking on rooms"). */
    if (!m || (strcmp(m, "join") != 0 && strcmp(m, "invite") != 0 && strcmp(m, "knock") != 0)) {
        free(m);
        reply_error(r, MERR_FORBIDDEN, "The user is not in the room");
        return;
    }
    free(m);
    change_membership(r, r->params[0], target, "leave", reason, NULL);
}

/* POST /_matrix/client/r0/rooms/{roomId}/ban */
void
membership_ban(struct req *r)
{
    const char *target, *reason;
    if (!(target = target_or_reply(r)) || !reason_ok_or_reply(r, &reason) ||
        !api_member_room_or_reply(r, r->params[0]))
        return;
    change_membership(r, r->params[0], target, "ban", reason, NULL);
}

/* POST /_matrix/client/r0/rooms/{roomId}/unban */
void
membership_unban(struct req *r)
{
    const char *target, *reason;
    char *m;
    if (!(target = target_or_reply(r)) || !reason_ok_or_reply(r, &reason) ||
        !api_member_room_or_reply(r, r->params[0]))
        return;
    m = rooms_membership(r->hs->rooms, r->params[0], target);
    if (!m || strcmp(m, "ban") != 0) {
        free(m);
        reply_error(r, MERR_FORBIDDEN, "The user is not banned");
        return;
    }
    free(m);
    change_membership(r, r->params[0], target, "leave", reason, NULL);
}

/* GET /_matrix/client/r0/joined_rooms */
void
membership_joined_rooms(struct req *r)
{
    char **ids = NULL;
    size_t n = 0;
    json_t *arr;

    if (store_user_rooms(r->hs->store, r->user_id, "join", &ids, &n) != STORE_OK) {
        reply_internal(r, "joined rooms lookup failed");
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(ids[i]));
    store_strings_free(ids, n);
    reply_json(r, 200, json_pack("{s:o}", "joined_rooms", arr));
}

int
api_leave_all_rooms(struct hs *hs, const char *user_id)
{
    static const char *const memberships[] = {"join", "invite"};
    json_t *content = json_pack("{s:s}", "membership", "leave");
    int failures = 0;

    for (size_t k = 0; k < 2; k++) {
        char **ids = NULL;
        size_t n = 0;
        if (store_user_rooms(hs->store, user_id, memberships[k], &ids, &n) != STORE_OK) {
            failures++;
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            struct rooms_proto p = {user_id, "m.room.member", user_id, content, NULL};
            char reason[256];
            if (rooms_send(hs->rooms, ids[i], &p, 1, NULL, NULL, reason, sizeof(reason)) !=
                ROOMS_OK) {
                log_warn("%s could not leave %s: %s", user_id, ids[i], reason);
                failures++;
            }
        }
        store_strings_free(ids, n);
    }
    json_decref(content);
    return failures ? -1 : 0;
}

void
api_part_guests(struct hs *hs, const char *room_id)
{
    json_t *state = rooms_current_state(hs->rooms, room_id), *entry;
    json_t *content = json_pack("{s:s}", "membership", "leave");
    const char *user;

    /* SPEC: guest_access: when guest access is withdrawn, "the server MUST set the membership
     * of all guest users in the room to leave". */
    json_object_foreach(json_object_get(state, "m.room.member"), user, entry)
    {
        json_t *c = json_object_get(json_object_get(entry, "event"), "content");
        const char *m = json_string_value(json_object_get(c, "membership"));
        struct store_user u;
        if (!m || strcmp(m, "join") != 0)
            continue;
        if (store_user_get(hs->store, user, &u) == STORE_OK && u.is_guest) {
            struct rooms_proto p = {user, "m.room.member", user, content, NULL};
            char reason[256];
            if (rooms_send(hs->rooms, room_id, &p, 1, NULL, NULL, reason, sizeof(reason)) !=
                ROOMS_OK)
                log_warn("could not part guest %s from %s: %s", user, room_id, reason);
        }
        store_user_clear(&u);
    }
    json_decref(content);
    json_decref(state);
}
