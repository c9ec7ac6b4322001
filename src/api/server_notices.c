/* modules/server_notices.rst: official messages to a user, sent by a system user (config
 * server_notices, as Synapse names it) into one room per user that the user's m.tag account
 * data marks m.server_notice. Sent through Synapse's admin API. The room is created on the
 * first notice and remembered (server_notice_rooms), so later notices reuse it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "room/id.h"
#include "room/version.h"
#include "rooms/rooms.h"
#include "store/store.h"
#include "sync/notifier.h"

#define NOTICE_TAG "m.server_notice"

/* Finding or making a user's room is read, then write: one notice at a time, so two notices
 * sent at once do not make two rooms. */
static pthread_mutex_t notices_lock = PTHREAD_MUTEX_INITIALIZER;

/* Creates the system user on first use: an account without a password (nobody logs in as
 * it), with the configured profile. */
static int
ensure_system_user(struct hs *hs, const char *system_id)
{
    const struct config *cfg = hs->cfg;
    struct store_user u;
    enum store_rc rc = store_user_get(hs->store, system_id, &u);

    store_user_clear(&u);
    if (rc == STORE_OK)
        return 0;
    if (rc != STORE_NOT_FOUND)
        return -1;
    rc = store_user_create(hs->store, system_id, NULL, false, false, util_now_ms());
    if (rc != STORE_OK && rc != STORE_EXISTS)
        return -1;
    if (cfg->server_notices_display_name)
        rc = store_profile_set_displayname(hs->store, system_id, cfg->server_notices_display_name);
    else
        rc = store_profile_init(hs->store, system_id);
    if (rc == STORE_OK && cfg->server_notices_avatar_url)
        rc = store_profile_set_avatar_url(hs->store, system_id, cfg->server_notices_avatar_url);
    if (rc != STORE_OK)
        log_warn("could not set the profile of the server notices user %s", system_id);
    log_info("created the server notices user %s", system_id);
    return 0;
}

/* SPEC: "Servers must identify this room to clients with the m.server_notice tag": added to
 * the room's m.tag of the user, other tags kept. */
static int
tag_room(struct hs *hs, const char *user_id, const char *room_id)
{
    char *text = NULL;
    json_t *content = NULL, *tags;
    enum store_rc rc = store_account_data_get(hs->store, user_id, room_id, "m.tag", &text);
    int ret = -1;

    if (rc != STORE_OK && rc != STORE_NOT_FOUND)
        goto out;
    content = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(content)) {
        json_decref(content);
        content = json_object();
    }
    tags = json_object_get(content, "tags");
    if (!json_is_object(tags)) {
        tags = json_object();
        json_object_set_new(content, "tags", tags);
    }
    if (!json_object_get(tags, NOTICE_TAG)) {
        char *out = NULL;
        json_object_set_new(tags, NOTICE_TAG, json_object());
        out = json_dump_compact(content);
        rc = store_account_data_put(hs->store, user_id, room_id, "m.tag", out, NULL);
        free(out);
        if (rc != STORE_OK)
            goto out;
        notifier_notify(hs->notifier, &user_id, 1);
    }
    ret = 0;
out:
    json_decref(content);
    free(text);
    return ret;
}

/* Sends one event from the system user. Returns its ID (new string) or NULL with *rc set. */
static char *
send_one(struct hs *hs, const char *room_id, const char *sender, const char *type,
         const char *state_key, const json_t *content, enum rooms_rc *rc, char *reason,
         size_t reasonlen)
{
    struct rooms_proto p = {sender, type, state_key, content, NULL};
    char **ids = NULL, *id;

    *rc = rooms_send(hs->rooms, room_id, &p, 1, NULL, &ids, reason, reasonlen);
    if (*rc != ROOMS_OK)
        return NULL;
    id = ids[0];
    ids[0] = NULL;
    rooms_ids_free(ids, 1);
    return id;
}

static enum rooms_rc
invite(struct hs *hs, const char *room_id, const char *system_id, const char *user_id, char *reason,
       size_t reasonlen)
{
    json_t *content = json_pack("{s:s}", "membership", "invite");
    enum rooms_rc rc;
    char *id;

    profile_add_to_member_content(hs, user_id, content);
    id =
        send_one(hs, room_id, system_id, "m.room.member", user_id, content, &rc, reason, reasonlen);
    free(id);
    json_decref(content);
    return rc;
}

#define ROOM_EVENTS 7

struct room_plan {
    struct rooms_proto protos[ROOM_EVENTS];
    json_t *contents[ROOM_EVENTS];
    size_t n;
};

static void
plan_add(struct room_plan *p, const char *sender, const char *type, const char *state_key,
         json_t *content_owned)
{
    p->contents[p->n] = content_owned;
    p->protos[p->n++] = (struct rooms_proto){sender, type, state_key, content_owned, NULL};
}

/* A new notices room, as createRoom with preset private_chat and name room_name makes one
 * (create_room.c); the user is not in it yet. */
static enum rooms_rc
new_room(struct hs *hs, const char *system_id, char **room_id_out, char *reason, size_t reasonlen)
{
    const char *version = hs->cfg->default_room_version;
    char *suffix = util_random_string("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 18);
    char *room_id = xasprintf("!%s:%s", suffix, hs->cfg->server_name), **ids = NULL;
    struct room_plan plan = {0};
    json_t *join = json_pack("{s:s}", "membership", "join");
    json_t *pl = create_room_default_power_levels(system_id, NULL, false, 0);
    enum rooms_rc rc;

    profile_add_to_member_content(hs, system_id, join);
    /* Users below events_default (as in Synapse's notices rooms): the room is for reading. */
    json_object_set_new(pl, "users_default", json_integer(-10));
    plan_add(&plan, system_id, "m.room.create", "",
             json_pack("{s:s, s:s}", "creator", system_id, "room_version", version));
    plan_add(&plan, system_id, "m.room.member", system_id, join);
    plan_add(&plan, system_id, "m.room.power_levels", "", pl);
    plan_add(&plan, system_id, "m.room.join_rules", "", json_pack("{s:s}", "join_rule", "invite"));
    plan_add(&plan, system_id, "m.room.history_visibility", "",
             json_pack("{s:s}", "history_visibility", "shared"));
    plan_add(&plan, system_id, "m.room.guest_access", "",
             json_pack("{s:s}", "guest_access", "can_join"));
    plan_add(&plan, system_id, "m.room.name", "",
             json_pack("{s:s}", "name", hs->cfg->server_notices_room_name));

    rc = rooms_create(hs->rooms, room_id, room_version_get(version), plan.protos, plan.n, &ids,
                      reason, reasonlen);
    if (rc == ROOMS_OK) {
        rooms_ids_free(ids, plan.n);
        log_info("created server notices room %s", room_id);
        *room_id_out = room_id;
        room_id = NULL;
    }
    for (size_t i = 0; i < plan.n; i++)
        json_decref(plan.contents[i]);
    free(room_id);
    free(suffix);
    return rc;
}

/* The user's notices room, with the user invited or joined (new string in *room_id). */
static enum rooms_rc
notices_room(struct hs *hs, const char *system_id, const char *user_id, char **room_id,
             char *reason, size_t reasonlen)
{
    char *room = NULL, *m = NULL;
    enum store_rc src = store_server_notice_room_get(hs->store, user_id, &room);
    enum rooms_rc rc = ROOMS_ERR;

    if (src != STORE_OK && src != STORE_NOT_FOUND)
        goto out;
    if (room) {
        m = rooms_membership(hs->rooms, room, user_id);
        if (m && (strcmp(m, "join") == 0 || strcmp(m, "invite") == 0)) {
            /* The tag may have been deleted by the user; it is what marks the room. */
            if (tag_room(hs, user_id, room) != 0)
                goto out;
            rc = ROOMS_OK;
            goto out;
        }
        /* The user is gone from it (deactivated and back, or kicked): invite again, or
         * start over if that is refused. */
        if (tag_room(hs, user_id, room) == 0 &&
            invite(hs, room, system_id, user_id, reason, reasonlen) == ROOMS_OK) {
            rc = ROOMS_OK;
            goto out;
        }
        free(room);
        room = NULL;
    }
    rc = new_room(hs, system_id, &room, reason, reasonlen);
    if (rc != ROOMS_OK)
        goto out;
    rc = ROOMS_ERR;
    /* Remembered and tagged before the invite, so the invite the user sees is to a room that
     * is already marked. */
    if (store_server_notice_room_put(hs->store, user_id, room) != STORE_OK ||
        tag_room(hs, user_id, room) != 0)
        goto out;
    rc = invite(hs, room, system_id, user_id, reason, reasonlen);
out:
    if (rc == ROOMS_OK) {
        *room_id = room;
        room = NULL;
    }
    free(room);
    free(m);
    return rc;
}

/* The body's fields; replies and returns false if one is missing or of the wrong type. */
static bool
parse_body_or_reply(struct req *r, const char **user_id, const json_t **content, const char **type,
                    const char **state_key)
{
    bool wrong = false;

    *user_id = json_get_str(r->json, "user_id", &wrong);
    *type = json_get_str(r->json, "type", &wrong);
    *state_key = json_get_str(r->json, "state_key", &wrong);
    *content = json_object_get(r->json, "content");
    if (wrong || (*content && !json_is_object(*content))) {
        reply_error(r, MERR_BAD_JSON,
                    "user_id, type and state_key must be strings and content an object");
        return false;
    }
    if (!*user_id || !*content) {
        reply_error(r, MERR_MISSING_PARAM, "user_id and content are required");
        return false;
    }
    if (!*type)
        *type = "m.room.message";
    if (!**type) {
        reply_error(r, MERR_INVALID_PARAM, "type must not be empty");
        return false;
    }
    return true;
}

/* Checks that target is a local account other than the system user; replies if not. */
static bool
target_ok_or_reply(struct req *r, const char *target, const char *system_id)
{
    const char *lp, *server;
    size_t lp_len;
    struct store_user u;
    enum store_rc rc;

    if (!id_user_id_split(target, &lp, &lp_len, &server) || !id_user_id_valid(target)) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid user ID");
        return false;
    }
    if (strcmp(server, r->hs->cfg->server_name) != 0) {
        reply_error(r, MERR_INVALID_PARAM, "Server notices can only be sent to local users");
        return false;
    }
    if (strcmp(target, system_id) == 0) {
        reply_error(r, MERR_INVALID_PARAM, "The server notices user cannot be sent notices");
        return false;
    }
    rc = store_user_get(r->hs->store, target, &u);
    store_user_clear(&u);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "User not found");
        return false;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "user lookup failed");
        return false;
    }
    return true;
}

/* POST /_synapse/admin/v1/send_server_notice */
void
server_notices_send(struct req *r)
{
    const struct config *cfg = r->hs->cfg;
    const char *target, *type, *state_key;
    const json_t *content;
    char *system_id = NULL, *room_id = NULL, *event_id = NULL, reason[256] = "";
    struct store_user me;
    enum store_rc src;
    enum rooms_rc rc;
    bool admin;

    src = store_user_get(r->hs->store, r->user_id, &me);
    admin = src == STORE_OK && me.is_admin;
    store_user_clear(&me);
    if (src != STORE_OK && src != STORE_NOT_FOUND) {
        reply_internal(r, "user lookup failed");
        return;
    }
    if (!admin) {
        reply_error(r, MERR_FORBIDDEN, "You are not a server admin");
        return;
    }
    if (!parse_body_or_reply(r, &target, &content, &type, &state_key))
        return;
    if (!cfg->server_notices_localpart) {
        reply_error(r, MERR_UNKNOWN, "Server notices are not enabled on this server");
        return;
    }
    system_id = xasprintf("@%s:%s", cfg->server_notices_localpart, cfg->server_name);
    if (!target_ok_or_reply(r, target, system_id))
        goto out;
    pthread_mutex_lock(&notices_lock);
    if (ensure_system_user(r->hs, system_id) != 0)
        rc = ROOMS_ERR;
    else
        rc = notices_room(r->hs, system_id, target, &room_id, reason, sizeof(reason));
    if (rc == ROOMS_OK)
        event_id = send_one(r->hs, room_id, system_id, type, state_key, content, &rc, reason,
                            sizeof(reason));
    pthread_mutex_unlock(&notices_lock);
    if (rc != ROOMS_OK) {
        api_reply_rooms_error(r, rc, reason);
        goto out;
    }
    log_info("server notice %s sent to %s in %s", event_id, target, room_id);
    reply_json(r, 200, json_pack("{s:s}", "event_id", event_id));
out:
    free(event_id);
    free(room_id);
    free(system_id);
}

bool
server_notices_may_leave_or_reply(struct req *r, const char *room_id)
{
    char *room = NULL;
    enum store_rc rc = store_server_notice_room_get(r->hs->store, r->user_id, &room);
    bool notices = rc == STORE_OK && strcmp(room, room_id) == 0;

    free(room);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
        reply_internal(r, "server notices room lookup failed");
        return false;
    }
    /* SPEC: modules/server_notices.rst: "Attempting to reject the invite must result in a
     * M_CANNOT_LEAVE_SERVER_NOTICE_ROOM error"; leaving after joining is refused the same
     * way, as Synapse does. */
    if (notices) {
        reply_error(r, MERR_CANNOT_LEAVE_SERVER_NOTICE_ROOM,
                    "You cannot leave the server notices room");
        return false;
    }
    return true;
}
