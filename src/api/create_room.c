/* create_room.yaml */
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

#define MAX_INITIAL 256

struct preset {
    const char *name;
    const char *join_rule;
    const char *history;
    const char *guest_access; /* NULL: no m.room.guest_access event */
    bool invitees_admin;
    int invite_level; /* Synapse lets members of private chats invite */
};

/* SPEC: create_room.yaml, the preset table. */
static const struct preset presets[] = {
    {"private_chat", "invite", "shared", "can_join", false, 0},
    {"trusted_private_chat", "invite", "shared", "can_join", true, 0},
    {"public_chat", "public", "shared", "forbidden", false, 50},
};

struct plan {
    struct rooms_proto protos[MAX_INITIAL];
    json_t *owned[MAX_INITIAL]; /* contents built here */
    size_t n, nowned;
};

static void
plan_add(struct plan *p, const char *sender, const char *type, const char *state_key,
         json_t *content_owned)
{
    p->owned[p->nowned++] = content_owned;
    p->protos[p->n++] = (struct rooms_proto){sender, type, state_key, content_owned, NULL};
}

static void
plan_clear(struct plan *p)
{
    for (size_t i = 0; i < p->nowned; i++)
        json_decref(p->owned[i]);
}

json_t *
create_room_default_power_levels(const char *creator, const json_t *invite, bool invitees_admin,
                                 int invite_level)
{
    json_t *users = json_pack("{s:i}", creator, 100), *u;
    size_t i;

    if (invitees_admin)
        json_array_foreach(invite, i, u)
            json_object_set_new(users, json_string_value(u), json_integer(100));
    /* The levels Synapse gives a new room, which clients expect. */
    return json_pack("{s:o, s:i, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}, s:i, s:i, s:i, "
                     "s:i, s:i, s:i}",
                     "users", users, "users_default", 0, "events", "m.room.name", 50,
                     "m.room.power_levels", 100, "m.room.history_visibility", 100,
                     "m.room.canonical_alias", 50, "m.room.avatar", 50, "m.room.tombstone", 100,
                     "m.room.server_acl", 100, "m.room.encryption", 100, "events_default", 0,
                     "state_default", 50, "ban", 50, "kick", 50, "redact", 50, "invite",
                     invite_level);
}

static bool
in_initial_state(const json_t *initial, const char *type, const char *state_key)
{
    size_t i;
    json_t *e;
    json_array_foreach(initial, i, e)
    {
        const char *t = json_string_value(json_object_get(e, "type"));
        const char *sk = json_string_value(json_object_get(e, "state_key"));
        if (t && strcmp(t, type) == 0 && strcmp(sk ? sk : "", state_key) == 0)
            return true;
    }
    return false;
}

/* Validates the request body; replies and returns false if it is bad. */
static bool
validate_or_reply(struct req *r, const struct preset **preset, const char **version)
{
    const json_t *b = r->json, *v, *e;
    const char *vis, *pre;
    bool wrong = false;
    size_t i;

    vis = json_get_str(b, "visibility", &wrong);
    pre = json_get_str(b, "preset", &wrong);
    *version = json_get_str(b, "room_version", &wrong);
    json_get_str(b, "room_alias_name", &wrong);
    json_get_str(b, "name", &wrong);
    json_get_str(b, "topic", &wrong);
    if (wrong) {
        reply_error(r, MERR_BAD_JSON,
                    "visibility, preset, room_version, room_alias_name, name and topic must be "
                    "strings");
        return false;
    }
    if (vis && strcmp(vis, "public") != 0 && strcmp(vis, "private") != 0) {
        reply_error(r, MERR_BAD_JSON, "visibility must be 'public' or 'private'");
        return false;
    }
    if (!pre)
        pre = vis && strcmp(vis, "public") == 0 ? "public_chat" : "private_chat";
    *preset = NULL;
    for (i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
        if (strcmp(pre, presets[i].name) == 0)
            *preset = &presets[i];
    if (!*preset) {
        reply_error(r, MERR_BAD_JSON, "Unknown preset '%s'", pre);
        return false;
    }
    if (!*version)
        *version = r->hs->cfg->default_room_version;
    if (!room_version_get(*version)) {
        reply_error(r, MERR_UNSUPPORTED_ROOM_VERSION, "Room version '%s' is not supported",
                    *version);
        return false;
    }
    if ((v = json_object_get(b, "invite"))) {
        if (!json_is_array(v)) {
            reply_error(r, MERR_BAD_JSON, "invite must be a list of user IDs");
            return false;
        }
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e) || !id_user_id_valid(json_string_value(e))) {
                reply_error(r, MERR_INVALID_PARAM, "invite: not a valid user ID");
                return false;
            }
        }
        if (json_array_size(v) > 100) {
            reply_error(r, MERR_INVALID_PARAM, "invite: at most 100 users");
            return false;
        }
    }
    if ((v = json_object_get(b, "invite_3pid"))) {
        if (!json_is_array(v)) {
            reply_error(r, MERR_BAD_JSON, "invite_3pid must be a list");
            return false;
        }
        if (json_array_size(v) > 100) {
            reply_error(r, MERR_INVALID_PARAM, "invite_3pid: at most 100 invites");
            return false;
        }
        /* third_party_membership (issue 10): each entry as POST /invite takes it. */
        json_array_foreach(v, i, e)
        {
            if (third_party_invite_check_or_reply(r, e) != 0)
                return false;
        }
    }
    if ((v = json_object_get(b, "initial_state"))) {
        if (!json_is_array(v) || json_array_size(v) > MAX_INITIAL - 16) {
            reply_error(r, MERR_BAD_JSON, "initial_state must be a list of state events");
            return false;
        }
        json_array_foreach(v, i, e)
        {
            json_t *sk = json_object_get(e, "state_key");
            if (!json_is_object(e) || !json_is_string(json_object_get(e, "type")) ||
                !json_is_object(json_object_get(e, "content")) || (sk && !json_is_string(sk))) {
                reply_error(r, MERR_BAD_JSON,
                            "initial_state entries need a string type, an object content and "
                            "an optional string state_key");
                return false;
            }
            if (strcmp(json_string_value(json_object_get(e, "type")), "m.room.create") == 0 ||
                strcmp(json_string_value(json_object_get(e, "type")), "m.room.member") == 0) {
                reply_error(r, MERR_INVALID_ROOM_STATE,
                            "initial_state may not contain m.room.create or m.room.member");
                return false;
            }
        }
    }
    if ((v = json_object_get(b, "creation_content")) && !json_is_object(v)) {
        reply_error(r, MERR_BAD_JSON, "creation_content must be an object");
        return false;
    }
    if ((v = json_object_get(b, "power_level_content_override")) && !json_is_object(v)) {
        reply_error(r, MERR_BAD_JSON, "power_level_content_override must be an object");
        return false;
    }
    if ((v = json_object_get(b, "is_direct")) && !json_is_boolean(v)) {
        reply_error(r, MERR_BAD_JSON, "is_direct must be a boolean");
        return false;
    }
    return true;
}

/* POST /_matrix/client/r0/createRoom */
void
create_room(struct req *r)
{
    const struct preset *preset;
    const char *version, *alias_name, *name, *topic;
    const json_t *invite, *initial, *override;
    char *room_id = NULL, *alias = NULL, *suffix = NULL, reason[256] = "", **ids = NULL;
    struct plan plan = {0};
    json_t *create, *pl, *e;
    size_t i;
    enum rooms_rc rc;

    if (!validate_or_reply(r, &preset, &version))
        return;
    alias_name = json_get_str(r->json, "room_alias_name", NULL);
    name = json_get_str(r->json, "name", NULL);
    topic = json_get_str(r->json, "topic", NULL);
    invite = json_object_get(r->json, "invite");
    initial = json_object_get(r->json, "initial_state");
    override = json_object_get(r->json, "power_level_content_override");

    if (alias_name) {
        char *existing = NULL;
        enum store_rc src;
        if (!*alias_name || strpbrk(alias_name, ": \t\n#")) {
            reply_error(r, MERR_INVALID_PARAM, "Invalid room_alias_name");
            return;
        }
        alias = xasprintf("#%s:%s", alias_name, r->hs->cfg->server_name);
        if (strlen(alias) > 255) {
            reply_error(r, MERR_INVALID_PARAM, "Room alias too long");
            goto out;
        }
        src = store_alias_get(r->hs->store, alias, &existing, NULL);
        free(existing);
        if (src == STORE_OK) {
            reply_error(r, MERR_ROOM_IN_USE, "Room alias already taken");
            goto out;
        }
    }

    suffix = util_random_string("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 18);
    room_id = xasprintf("!%s:%s", suffix, r->hs->cfg->server_name);

    /* SPEC: create_room.yaml: the events in this order. 1. m.room.create */
    create = json_object_get(r->json, "creation_content")
                 ? json_deep_copy(json_object_get(r->json, "creation_content"))
                 : json_object();
    json_object_set_new(create, "creator", json_string(r->user_id));
    json_object_set_new(create, "room_version", json_string(version));
    plan_add(&plan, r->user_id, "m.room.create", "", create);
    /* 2. the creator joins */
    {
        json_t *join = json_pack("{s:s}", "membership", "join");
        profile_add_to_member_content(r->hs, r->user_id, join);
        plan_add(&plan, r->user_id, "m.room.member", r->user_id, join);
    }
    /* 3. power levels, with the override on top */
    if (!in_initial_state(initial, "m.room.power_levels", "")) {
        pl = create_room_default_power_levels(r->user_id, preset->invitees_admin ? invite : NULL,
                                              preset->invitees_admin, preset->invite_level);
        if (override)
            json_object_update(pl, (json_t *) override);
        plan_add(&plan, r->user_id, "m.room.power_levels", "", pl);
    }
    if (alias)
        plan_add(&plan, r->user_id, "m.room.canonical_alias", "",
                 json_pack("{s:s}", "alias", alias));
    /* 4. the preset's events, unless initial_state sets them */
    if (!in_initial_state(initial, "m.room.join_rules", ""))
        plan_add(&plan, r->user_id, "m.room.join_rules", "",
                 json_pack("{s:s}", "join_rule", preset->join_rule));
    if (!in_initial_state(initial, "m.room.history_visibility", ""))
        plan_add(&plan, r->user_id, "m.room.history_visibility", "",
                 json_pack("{s:s}", "history_visibility", preset->history));
    if (preset->guest_access && !in_initial_state(initial, "m.room.guest_access", ""))
        plan_add(&plan, r->user_id, "m.room.guest_access", "",
                 json_pack("{s:s}", "guest_access", preset->guest_access));
    /* 5. initial_state in order */
    json_array_foreach(initial, i, e)
    {
        const char *sk = json_string_value(json_object_get(e, "state_key"));
        plan_add(&plan, r->user_id, json_string_value(json_object_get(e, "type")), sk ? sk : "",
                 json_deep_copy(json_object_get(e, "content")));
    }
    /* 6. name and topic */
    if (name)
        plan_add(&plan, r->user_id, "m.room.name", "", json_pack("{s:s}", "name", name));
    if (topic)
        plan_add(&plan, r->user_id, "m.room.topic", "", json_pack("{s:s}", "topic", topic));
    /* 7. invites */
    json_array_foreach(invite, i, e)
    {
        json_t *content = json_pack("{s:s}", "membership", "invite");
        if (json_is_true(json_object_get(r->json, "is_direct")))
            json_object_set_new(content, "is_direct", json_true());
        /* The invitee's profile, as in any invite. */
        profile_add_to_member_content(r->hs, json_string_value(e), content);
        plan_add(&plan, r->user_id, "m.room.member", json_string_value(e), content);
    }

    rc = rooms_create(r->hs->rooms, room_id, room_version_get(version), plan.protos, plan.n, &ids,
                      reason, sizeof(reason));
    if (rc == ROOMS_FORBIDDEN) {
        reply_error(r, MERR_INVALID_ROOM_STATE, "Invalid initial state: %s", reason);
        goto out;
    }
    if (rc != ROOMS_OK) {
        api_reply_rooms_error(r, rc, reason);
        goto out;
    }
    rooms_ids_free(ids, plan.n);
    if (alias && store_alias_put(r->hs->store, alias, room_id, r->user_id) != STORE_OK)
        log_warn("could not store alias %s for %s", alias, room_id);
    if (json_is_string(json_object_get(r->json, "visibility")) &&
        strcmp(json_string_value(json_object_get(r->json, "visibility")), "public") == 0)
        store_room_set_public(r->hs->store, room_id, true);
    log_info("%s created room %s (version %s)", r->user_id, room_id, version);
    /* 8. third-party invites (issue 10), once the room exists, as Synapse does them. The room
     * stands if one fails: that is logged, and its error reply is replaced by the room's. */
    json_array_foreach(json_object_get(r->json, "invite_3pid"), i, e)
    {
        if (third_party_invite_one(r, room_id, e) != 0)
            log_warn("createRoom %s: third-party invite %zu failed (HTTP %d)", room_id, i,
                     r->status);
    }
    reply_json(r, 200, json_pack("{s:s}", "room_id", room_id));
out:
    plan_clear(&plan);
    free(room_id);
    free(alias);
    free(suffix);
}
