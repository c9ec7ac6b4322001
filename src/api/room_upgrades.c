/* room_upgrades.yaml and modules/room_upgrades.rst: replacing a room by one of another
 * version. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "room/auth.h"
#include "room/version.h"
#include "rooms/rooms.h"
#include "store/store.h"

/* SPEC: room_upgrades.rst server behaviour 3: the recommended state to transfer (plus the
 * canonical alias, whose aliases move along in step 4). Power levels and bans are handled
 * apart. */
static const char *const transferred[] = {
    "m.room.canonical_alias", "m.room.join_rules", "m.room.history_visibility",
    "m.room.guest_access",    "m.room.name",       "m.room.topic",
    "m.room.avatar",          "m.room.encryption", "m.room.server_acl",
};

struct plan {
    struct rooms_proto *protos;
    json_t **owned; /* each proto's content */
    size_t n, cap;
};

static void
plan_add(struct plan *p, const char *sender, const char *type, const char *state_key,
         json_t *content_owned)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->protos = xrealloc(p->protos, p->cap * sizeof(*p->protos));
        p->owned = xrealloc(p->owned, p->cap * sizeof(*p->owned));
    }
    p->owned[p->n] = content_owned;
    p->protos[p->n++] = (struct rooms_proto){sender, type, state_key, content_owned, NULL};
}

static void
plan_clear(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        json_decref(p->owned[i]);
    free(p->protos);
    free(p->owned);
}

/* In a rooms_current_state snapshot: the full event for (type, state_key), or NULL. */
static const json_t *
state_event(const json_t *state, const char *type, const char *state_key)
{
    return json_object_get(json_object_get(json_object_get(state, type), state_key), "event");
}

static const json_t *
state_content(const json_t *state, const char *type, const char *state_key)
{
    return json_object_get(state_event(state, type, state_key), "content");
}

static const char *
membership_of(const json_t *state, const char *user_id)
{
    return json_string_value(
        json_object_get(state_content(state, "m.room.member", user_id), "membership"));
}

/* A power level as an integer, or NULL if unreadable. Versions 1-5 accept integer strings
 * ("50"), which version 6 refuses, so copied levels are converted. */
static json_t *
pl_int(const json_t *v)
{
    int64_t i;
    if (json_is_integer(v))
        return json_integer(json_integer_value(v));
    if (json_is_string(v) && util_parse_int64(json_string_value(v), &i) == 0)
        return json_integer(i);
    return NULL;
}

static json_t *
pl_int_map(const json_t *map)
{
    json_t *out = json_object(), *v, *i;
    const char *k;

    json_object_foreach((json_t *)map, k, v)
    {
        if ((i = pl_int(v)))
            json_object_set_new(out, k, i);
    }
    return out;
}

/* A copy of power levels content with every level an integer; unreadable ones are dropped,
 * so their defaults apply as they did in the old room. */
static json_t *
pl_normalized(const json_t *pl)
{
    static const char *const levels[] = {"ban",    "events_default", "invite",       "kick",
                                         "redact", "state_default",  "users_default"};
    static const char *const maps[] = {"users", "events", "notifications"};
    json_t *out = json_deep_copy(pl), *v, *i;
    size_t k;

    for (k = 0; k < sizeof(levels) / sizeof(levels[0]); k++) {
        if (!(v = json_object_get(out, levels[k])))
            continue;
        if ((i = pl_int(v)))
            json_object_set_new(out, levels[k], i);
        else
            json_object_del(out, levels[k]);
    }
    for (k = 0; k < sizeof(maps) / sizeof(maps[0]); k++) {
        if (!(v = json_object_get(out, maps[k])))
            continue;
        if (json_is_object(v))
            json_object_set_new(out, maps[k], pl_int_map(v));
        else
            json_object_del(out, maps[k]);
    }
    return out;
}

/* The level needed to send the copied state and bans (as Synapse: state_default, ban and
 * every per-event level). */
static int64_t
pl_needed(const json_t *pl)
{
    int64_t need = pl_action_level(pl, "state_default"), ban = pl_action_level(pl, "ban");
    const json_t *v;
    const char *k;

    if (ban > need)
        need = ban;
    json_object_foreach(json_object_get(pl, "events"), k, v)
    {
        if (json_integer_value(v) > need)
            need = json_integer_value(v);
    }
    return need;
}

/* SPEC: server behaviour 2 and 3: the replacement room's m.room.create, the upgrader's join,
 * power levels, transferable state and bans. */
static void
plan_new_room(struct req *r, struct plan *p, const json_t *state, const char *old_id,
              const char *last_event_id, const char *version)
{
    const json_t *old_create = state_content(state, "m.room.create", "");
    const json_t *old_member = state_content(state, "m.room.member", r->user_id);
    const json_t *old_pl = state_content(state, "m.room.power_levels", ""), *c, *v;
    json_t *create, *member, *pl = NULL, *final_pl = NULL;
    int64_t level = 100;
    const char *key;
    size_t i;

    create = json_pack("{s:s, s:s, s:{s:s, s:s}}", "creator", r->user_id, "room_version", version,
                       "predecessor", "room_id", old_id, "event_id", last_event_id);
    if ((v = json_object_get(old_create, "m.federate")))
        json_object_set(create, "m.federate", (json_t *)v);
    plan_add(p, r->user_id, "m.room.create", "", create);

    member = json_pack("{s:s}", "membership", "join");
    if (json_is_string(v = json_object_get(old_member, "displayname")))
        json_object_set(member, "displayname", (json_t *)v);
    if (json_is_string(v = json_object_get(old_member, "avatar_url")))
        json_object_set(member, "avatar_url", (json_t *)v);
    plan_add(p, r->user_id, "m.room.member", r->user_id, member);

    if (old_pl) {
        int64_t need;
        pl = pl_normalized(old_pl);
        need = pl_needed(pl);
        level = pl_user_level(pl, NULL, r->user_id);
        /* Below what copying needs, the upgrader is raised for the copy and the true levels
         * are sent last (as Synapse). */
        if (level < need) {
            json_t *tmp = json_deep_copy(pl), *users = json_object_get(tmp, "users");
            if (!json_is_object(users)) {
                users = json_object();
                json_object_set_new(tmp, "users", users);
            }
            json_object_set_new(users, r->user_id, json_integer(need));
            final_pl = pl;
            pl = tmp;
            level = need;
        }
        plan_add(p, r->user_id, "m.room.power_levels", "", pl);
    }
    for (i = 0; i < sizeof(transferred) / sizeof(transferred[0]); i++)
        if ((c = state_content(state, transferred[i], "")))
            plan_add(p, r->user_id, transferred[i], "", json_deep_copy(c));
    /* Bans are sent by the upgrader, so copying them impersonates nobody; the auth rules only
     * let one ban users of lower power. */
    json_object_foreach(json_object_get(state, "m.room.member"), key, v)
    {
        const char *m = json_string_value(
            json_object_get(json_object_get(json_object_get(v, "event"), "content"), "membership"));
        if (m && strcmp(m, "ban") == 0 &&
            pl_user_level(final_pl ? final_pl : pl, NULL, key) < level)
            plan_add(p, r->user_id, "m.room.member", key, json_pack("{s:s}", "membership", "ban"));
    }
    if (final_pl)
        plan_add(p, r->user_id, "m.room.power_levels", "", final_pl);
}

/* Sends one event in the old room as the upgrader; failures are only logged (steps 4 and 6
 * are "if possible"). */
static void
send_best_effort(struct req *r, const char *room_id, const char *type, const json_t *content)
{
    struct rooms_proto p = {r->user_id, type, "", content, NULL};
    char reason[256] = "", **ids = NULL;

    if (rooms_send(r->hs->rooms, room_id, &p, 1, NULL, &ids, reason, sizeof(reason)) == ROOMS_OK)
        rooms_ids_free(ids, 1);
    else
        log_info("upgrade of %s: could not send %s: %s", room_id, type, reason);
}

/* SPEC: server behaviour 4: local aliases, the published directory entry and the canonical
 * alias go to the new room. */
static void
move_aliases(struct req *r, const char *old_id, const char *new_id, const json_t *state)
{
    const json_t *canonical = state_content(state, "m.room.canonical_alias", "");
    bool is_public = false;

    if (store_aliases_move(r->hs->store, old_id, new_id) != STORE_OK)
        log_warn("upgrade of %s: could not move its aliases to %s", old_id, new_id);
    if (store_room_is_public(r->hs->store, old_id, &is_public) == STORE_OK && is_public &&
        (store_room_set_public(r->hs->store, new_id, true) != STORE_OK ||
         store_room_set_public(r->hs->store, old_id, false) != STORE_OK))
        log_warn("upgrade of %s: could not move its directory entry to %s", old_id, new_id);
    /* The old room's aliases now lead to the new room. */
    if (canonical && json_object_size(canonical) > 0) {
        json_t *empty = json_object();
        send_best_effort(r, old_id, "m.room.canonical_alias", empty);
        json_decref(empty);
    }
}

/* SPEC: server behaviour 6: "setting events_default and invite to the greater of 50 and
 * users_default + 1". */
static void
restrict_old_room(struct req *r, const char *old_id)
{
    json_t *cur = rooms_state_content(r->hs->rooms, old_id, "m.room.power_levels", "");
    json_t *pl;
    int64_t floor;
    bool changed = false;

    /* Without a power levels event everyone's defaults apply; Synapse leaves such rooms. */
    if (!cur)
        return;
    pl = json_deep_copy(cur);
    floor = pl_action_level(pl, "users_default") + 1;
    if (floor < 50)
        floor = 50;
    if (pl_action_level(pl, "events_default") < floor) {
        json_object_set_new(pl, "events_default", json_integer(floor));
        changed = true;
    }
    if (pl_action_level(pl, "invite") < floor) {
        json_object_set_new(pl, "invite", json_integer(floor));
        changed = true;
    }
    if (changed)
        send_best_effort(r, old_id, "m.room.power_levels", pl);
    json_decref(pl);
    json_decref(cur);
}

/* POST /_matrix/client/r0/rooms/{roomId}/upgrade */
void
room_upgrades_upgrade(struct req *r)
{
    const char *old_id = r->params[0], *version, *m;
    const struct room_version *v;
    const json_t *pl;
    json_t *state = NULL, *tombstone = NULL;
    struct store_event last = {0};
    struct plan plan = {0};
    char *suffix = NULL, *new_id = NULL, *tomb_id = NULL, reason[256] = "", **ids = NULL;
    bool wrong = false;
    enum rooms_rc rc;

    version = json_get_str(r->json, "new_version", &wrong);
    if (!version) {
        reply_error(r, wrong ? MERR_BAD_JSON : MERR_MISSING_PARAM,
                    "new_version is required and must be a string");
        return;
    }
    if (!(v = room_version_get(version))) {
        reply_error(r, MERR_UNSUPPORTED_ROOM_VERSION, "Room version '%s' is not supported",
                    version);
        return;
    }
    if (!api_member_room_or_reply(r, old_id))
        return;
    if (!(state = rooms_current_state(r->hs->rooms, old_id))) {
        reply_error(r, MERR_NOT_FOUND, "Unknown room");
        return;
    }
    /* SPEC: server behaviour 1: "Checks that the user has permission to send m.room.tombstone
     * events in the room." (rooms_send checks again when it is sent.) */
    m = membership_of(state, r->user_id);
    pl = state_content(state, "m.room.power_levels", "");
    if (!m || strcmp(m, "join") != 0 ||
        pl_user_level(pl, state_event(state, "m.room.create", ""), r->user_id) <
            pl_event_level(pl, "m.room.tombstone", true)) {
        reply_error(r, MERR_FORBIDDEN, "You cannot upgrade this room");
        goto out;
    }
    /* SPEC: m.room.create predecessor.event_id: "The event ID of the last known event in the
     * old room." The tombstone comes after (step 5), so this is the event before it. */
    if (store_room_last_event(r->hs->store, old_id, &last) != STORE_OK) {
        reply_internal(r, "last event lookup failed");
        goto out;
    }

    suffix = util_random_string("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 18);
    new_id = xasprintf("!%s:%s", suffix, r->hs->cfg->server_name);
    plan_new_room(r, &plan, state, old_id, last.event_id, v->id);
    rc = rooms_create(r->hs->rooms, new_id, v, plan.protos, plan.n, &ids, reason, sizeof(reason));
    if (rc != ROOMS_OK) {
        api_reply_rooms_error(r, rc, reason);
        goto out;
    }
    rooms_ids_free(ids, plan.n);

    move_aliases(r, old_id, new_id, state);

    /* SPEC: server behaviour 5 */
    tombstone =
        json_pack("{s:s, s:s}", "body", "This room has been replaced", "replacement_room", new_id);
    if (!(tomb_id = api_send_event_or_reply(r, old_id, "m.room.tombstone", "", tombstone, NULL)))
        goto out;
    restrict_old_room(r, old_id);

    log_info("%s upgraded %s to %s (version %s)", r->user_id, old_id, new_id, v->id);
    reply_json(r, 200, json_pack("{s:s}", "replacement_room", new_id));
out:
    plan_clear(&plan);
    json_decref(tombstone);
    json_decref(state);
    store_event_clear(&last);
    free(tomb_id);
    free(new_id);
    free(suffix);
}
