/* Synapse's room admin API (docs/admin_api/rooms.md in Synapse): list, details, members,
 * state, delete (with block and purge), make room admin, block. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/synapse_admin.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "room/event.h"
#include "room/version.h"
#include "rooms/rooms.h"
#include "store/store.h"

#define DEFAULT_LIMIT 100

static const char *
state_str(json_t *state, const char *type, const char *field)
{
    json_t *ev = json_object_get(json_object_get(json_object_get(state, type), ""), "event");
    return json_string_value(json_object_get(json_object_get(ev, "content"), field));
}

static json_t *
str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static bool
is_local(struct req *r, const char *user_id)
{
    const char *colon = strchr(user_id, ':');
    return colon && strcmp(colon + 1, r->hs->cfg->server_name) == 0;
}

/* Synapse's room fields, from the room's current state. New reference. */
static json_t *
room_json(struct req *r, const struct store_admin_room *room, json_t *state, bool details)
{
    json_t *members = json_object_get(state, "m.room.member"), *entry, *create, *o;
    int64_t joined = 0, local = 0, nstate = 0, devices = 0;
    const char *key, *sk;
    json_t *per_key;

    json_object_foreach(state, key, per_key)
    {
        nstate += (int64_t)json_object_size(per_key);
    }
    json_object_foreach(members, sk, entry)
    {
        const char *m = json_string_value(json_object_get(
            json_object_get(json_object_get(entry, "event"), "content"), "membership"));
        if (!m || strcmp(m, "join") != 0)
            continue;
        joined++;
        if (is_local(r, sk)) {
            local++;
            if (details) {
                struct store_device *devs = NULL;
                size_t n = 0;
                if (store_device_list(r->hs->store, sk, &devs, &n) == STORE_OK)
                    devices += (int64_t)n;
                store_device_list_free(devs, n);
            }
        }
    }
    create = json_object_get(
        json_object_get(json_object_get(json_object_get(state, "m.room.create"), ""), "event"),
        "content");
    o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:b}", "room_id", room->room_id, "version",
                  room->version, "creator", room->creator, "joined_members", (json_int_t)joined,
                  "joined_local_members", (json_int_t)local, "state_events", (json_int_t)nstate,
                  "public", room->is_public, "federatable",
                  !json_is_false(json_object_get(create, "m.federate")));
    json_object_set_new(o, "name", str_or_null(state_str(state, "m.room.name", "name")));
    json_object_set_new(o, "canonical_alias",
                        str_or_null(state_str(state, "m.room.canonical_alias", "alias")));
    json_object_set_new(o, "encryption",
                        str_or_null(state_str(state, "m.room.encryption", "algorithm")));
    json_object_set_new(o, "join_rules",
                        str_or_null(state_str(state, "m.room.join_rules", "join_rule")));
    json_object_set_new(o, "guest_access",
                        str_or_null(state_str(state, "m.room.guest_access", "guest_access")));
    json_object_set_new(
        o, "history_visibility",
        str_or_null(state_str(state, "m.room.history_visibility", "history_visibility")));
    json_object_set_new(o, "room_type",
                        str_or_null(json_string_value(json_object_get(create, "type"))));
    if (details) {
        json_object_set_new(o, "avatar", str_or_null(state_str(state, "m.room.avatar", "url")));
        json_object_set_new(o, "topic", str_or_null(state_str(state, "m.room.topic", "topic")));
        json_object_set_new(o, "joined_local_devices", json_integer(devices));
        json_object_set_new(o, "forgotten", json_false());
    }
    return o;
}

/* ---- the list ---- */

enum sort_kind { SORT_TEXT, SORT_NUM_DESC, SORT_BOOL };

static const struct {
    const char *name, *field;
    enum sort_kind kind;
} room_orders[] = {
    {"name", "name", SORT_TEXT},
    {"alphabetical", "name", SORT_TEXT}, /* deprecated in Synapse */
    {"size", "joined_members", SORT_NUM_DESC},
    {"canonical_alias", "canonical_alias", SORT_TEXT},
    {"joined_members", "joined_members", SORT_NUM_DESC},
    {"joined_local_members", "joined_local_members", SORT_NUM_DESC},
    {"version", "version", SORT_TEXT},
    {"creator", "creator", SORT_TEXT},
    {"encryption", "encryption", SORT_TEXT},
    {"federatable", "federatable", SORT_BOOL},
    {"public", "public", SORT_BOOL},
    {"join_rules", "join_rules", SORT_TEXT},
    {"guest_access", "guest_access", SORT_TEXT},
    {"history_visibility", "history_visibility", SORT_TEXT},
    {"state_events", "state_events", SORT_NUM_DESC},
};

struct sort_ctx {
    const char *field;
    enum sort_kind kind;
    bool backwards;
};

static int
compare_rooms(const void *a, const void *b, void *arg)
{
    const struct sort_ctx *c = arg;
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_t *vx = json_object_get(x, c->field), *vy = json_object_get(y, c->field);
    int d = 0;

    if (c->kind == SORT_TEXT) {
        const char *sx = json_string_value(vx), *sy = json_string_value(vy);
        d = strcmp(sx ? sx : "", sy ? sy : "");
    } else if (c->kind == SORT_BOOL) {
        d = (int)json_is_true(vx) - (int)json_is_true(vy);
    } else {
        /* As Synapse: the sizes sort largest first unless dir=b. */
        json_int_t ix = json_integer_value(vx), iy = json_integer_value(vy);
        d = ix < iy ? 1 : ix > iy ? -1 : 0;
    }
    if (d == 0)
        d = strcmp(json_string_value(json_object_get(x, "room_id")),
                   json_string_value(json_object_get(y, "room_id")));
    return c->backwards ? -d : d;
}

static bool
contains_ci(const char *hay, const char *needle)
{
    return hay && strcasestr(hay, needle) != NULL;
}

/* GET /_synapse/admin/v1/rooms */
void
synapse_admin_rooms_list(struct req *r)
{
    const char *order_by = req_query(r, "order_by"), *term = req_query(r, "search_term");
    struct store_admin_room *rooms = NULL;
    struct sort_ctx sc = {"name", SORT_TEXT, false};
    json_t **items = NULL, *list, *out;
    size_t n = 0, m = 0;
    int64_t from, limit;
    bool found = !order_by;

    if (!synapse_admin_check_or_reply(r))
        return;
    if (!synapse_admin_query_int(r, "from", 0, &from) ||
        !synapse_admin_query_int(r, "limit", DEFAULT_LIMIT, &limit) ||
        !synapse_admin_query_dir(r, false, &sc.backwards))
        return;
    for (size_t i = 0; order_by && i < sizeof(room_orders) / sizeof(room_orders[0]); i++) {
        if (strcmp(order_by, room_orders[i].name) == 0) {
            sc.field = room_orders[i].field;
            sc.kind = room_orders[i].kind;
            found = true;
        }
    }
    if (!found) {
        reply_error(r, MERR_INVALID_PARAM, "Unknown value for order_by: %s", order_by);
        return;
    }
    if (term && !*term) {
        reply_error(r, MERR_INVALID_PARAM, "search_term cannot be empty");
        return;
    }
    if (store_admin_rooms(r->hs->store, &rooms, &n) != STORE_OK) {
        reply_internal(r, "room list failed");
        return;
    }
    items = n ? xcalloc(n, sizeof(*items)) : NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *state = rooms_current_state(r->hs->rooms, rooms[i].room_id), *o;
        if (!state) /* purged meanwhile */
            continue;
        o = room_json(r, &rooms[i], state, false);
        json_decref(state);
        /* As Synapse: the term matches the name, the canonical alias or the room ID. */
        if (term && !contains_ci(json_string_value(json_object_get(o, "name")), term) &&
            !contains_ci(json_string_value(json_object_get(o, "canonical_alias")), term) &&
            !contains_ci(rooms[i].room_id, term)) {
            json_decref(o);
            continue;
        }
        items[m++] = o;
    }
    store_admin_rooms_free(rooms, n);
    if (m > 1)
        qsort_r(items, m, sizeof(*items), compare_rooms, &sc);
    list = json_array();
    for (size_t i = 0; i < m; i++) {
        if ((int64_t)i >= from && (int64_t)i < from + limit)
            json_array_append(list, items[i]);
        json_decref(items[i]);
    }
    free(items);
    out = json_pack("{s:o, s:I, s:I}", "rooms", list, "offset", (json_int_t)from, "total_rooms",
                    (json_int_t)m);
    if (from + limit < (int64_t)m)
        json_object_set_new(out, "next_batch", json_integer(from + limit));
    if (from > 0)
        json_object_set_new(out, "prev_batch", json_integer(from > limit ? from - limit : 0));
    reply_json(r, 200, out);
}

static void
room_clear(struct store_admin_room *room)
{
    free(room->room_id);
    free(room->version);
    free(room->creator);
    memset(room, 0, sizeof(*room));
}

/* The room of r->params[0]: 0 with *room and *state (new reference), or -1 after replying. */
static int
room_or_reply(struct req *r, struct store_admin_room *room, json_t **state)
{
    enum store_rc rc;

    memset(room, 0, sizeof(*room));
    *state = NULL;
    if (!synapse_admin_check_or_reply(r))
        return -1;
    if (r->params[0][0] != '!') {
        reply_error(r, MERR_INVALID_PARAM, "%s is not a legal room ID", r->params[0]);
        return -1;
    }
    rc = store_room_get(r->hs->store, r->params[0], &room->version, &room->creator);
    if (rc == STORE_OK) {
        room->room_id = xstrdup(r->params[0]);
        rc = store_room_is_public(r->hs->store, r->params[0], &room->is_public);
    }
    if (rc == STORE_OK)
        *state = rooms_current_state(r->hs->rooms, r->params[0]);
    if (rc == STORE_NOT_FOUND || (rc == STORE_OK && !*state)) {
        room_clear(room);
        reply_error(r, MERR_NOT_FOUND, "Room not found");
        return -1;
    }
    if (rc != STORE_OK) {
        room_clear(room);
        reply_internal(r, "room lookup failed");
        return -1;
    }
    return 0;
}

/* GET /_synapse/admin/v1/rooms/{roomId} */
void
synapse_admin_room_get(struct req *r)
{
    struct store_admin_room room;
    json_t *state;

    if (room_or_reply(r, &room, &state) != 0)
        return;
    reply_json(r, 200, room_json(r, &room, state, true));
    json_decref(state);
    room_clear(&room);
}

/* The users with this membership (NULL: joined) in the state; new array. */
static json_t *
members_with(json_t *state, const char *membership)
{
    json_t *list = json_array(), *entry;
    const char *sk;

    json_object_foreach(json_object_get(state, "m.room.member"), sk, entry)
    {
        const char *m = json_string_value(json_object_get(
            json_object_get(json_object_get(entry, "event"), "content"), "membership"));
        if (m && strcmp(m, membership) == 0)
            json_array_append_new(list, json_string(sk));
    }
    return list;
}

/* GET /_synapse/admin/v1/rooms/{roomId}/members */
void
synapse_admin_room_members(struct req *r)
{
    struct store_admin_room room;
    json_t *state, *list;

    if (room_or_reply(r, &room, &state) != 0)
        return;
    list = members_with(state, "join");
    reply_json(
        r, 200,
        json_pack("{s:o, s:I}", "members", list, "total", (json_int_t)json_array_size(list)));
    json_decref(state);
    room_clear(&room);
}

/* GET /_synapse/admin/v1/rooms/{roomId}/state */
void
synapse_admin_room_state(struct req *r)
{
    struct store_admin_room room;
    json_t *state, *list = json_array(), *per_key, *entry;
    const char *type, *sk;

    if (room_or_reply(r, &room, &state) != 0) {
        json_decref(list);
        return;
    }
    json_object_foreach(state, type, per_key)
    {
        json_object_foreach(per_key, sk, entry)
        {
            /* Client format, as Synapse serializes them: synapse-admin's state tab keys its
             * rows by event_id, which a room v3+ PDU does not carry. */
            json_t *ev = event_client_format(json_object_get(entry, "event"),
                                             json_string_value(json_object_get(entry, "event_id")));
            if (ev)
                json_array_append_new(list, ev);
        }
    }
    reply_json(r, 200, json_pack("{s:o}", "state", list));
    json_decref(state);
    room_clear(&room);
}

/* ---- deletion ---- */

struct delete_opts {
    bool block, purge;
    /* new_room_user_id: the local users are moved to a new room this user owns, where it
     * posts message; room_name names it (Synapse's defaults below). NULL: no new room. */
    const char *new_owner, *room_name, *message;
};

/* Synapse's defaults (docs/admin_api/rooms.md, Delete Room API). */
#define SHUTDOWN_ROOM_NAME "Content Violation Notification"
#define SHUTDOWN_MESSAGE                                                                           \
    "Sharing illegal content on this server is not permitted and rooms in violation will be "      \
    "blocked."

/* Reads the body's options. false after replying. */
static bool
delete_opts_or_reply(struct req *r, struct delete_opts *o)
{
    json_t *block = json_object_get(r->json, "block"), *purge = json_object_get(r->json, "purge");
    json_t *force = json_object_get(r->json, "force_purge");
    json_t *new_owner = json_object_get(r->json, "new_room_user_id");
    json_t *name = json_object_get(r->json, "room_name");
    json_t *message = json_object_get(r->json, "message");
    struct store_admin_user u = {0};
    enum store_rc rc;

    memset(o, 0, sizeof(*o));
    if ((block && !json_is_boolean(block)) || (purge && !json_is_boolean(purge)) ||
        (force && !json_is_boolean(force))) {
        reply_error(r, MERR_BAD_JSON, "block, purge and force_purge must be booleans");
        return false;
    }
    if ((new_owner && !json_is_null(new_owner) && !json_is_string(new_owner)) ||
        (name && !json_is_null(name) && !json_is_string(name)) ||
        (message && !json_is_null(message) && !json_is_string(message))) {
        reply_error(r, MERR_BAD_JSON, "new_room_user_id, room_name and message must be strings");
        return false;
    }
    o->block = json_is_true(block);
    o->purge = !purge || json_is_true(purge);
    o->room_name = json_is_string(name) ? json_string_value(name) : SHUTDOWN_ROOM_NAME;
    o->message = json_is_string(message) ? json_string_value(message) : SHUTDOWN_MESSAGE;
    if (!json_is_string(new_owner))
        return true;
    o->new_owner = json_string_value(new_owner);
    /* As Synapse: "User must be our own". The account must exist to own a room. */
    if (o->new_owner[0] != '@' || !is_local(r, o->new_owner)) {
        reply_error(r, MERR_INVALID_PARAM, "User must be our own: %s", o->new_owner);
        return false;
    }
    rc = store_admin_user_get(r->hs->store, o->new_owner, &u);
    if (rc == STORE_OK && u.deactivated)
        rc = STORE_NOT_FOUND;
    store_admin_user_clear(&u);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_INVALID_PARAM, "Unknown or deactivated user %s", o->new_owner);
        return false;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "user lookup failed");
        return false;
    }
    return true;
}

/* The room the local members of a deleted room move to (Synapse: createRoom as the new owner
 * with preset public_chat, the name, and users_default -10 so the others cannot speak). New
 * room ID, or NULL (reason filled). */
static char *
shutdown_room_create(struct req *r, const struct delete_opts *o, char *reason, size_t reasonlen)
{
    const char *version = r->hs->cfg->default_room_version;
    char *suffix = util_random_string("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 18);
    char *room_id = xasprintf("!%s:%s", suffix, r->hs->cfg->server_name), **ids = NULL;
    json_t *c[6];
    struct rooms_proto p[6];
    size_t n = 0;

    c[n] = json_pack("{s:s, s:s}", "creator", o->new_owner, "room_version", version);
    p[n] = (struct rooms_proto){o->new_owner, "m.room.create", "", c[n], NULL}, n++;
    c[n] = json_pack("{s:s}", "membership", "join");
    profile_add_to_member_content(r->hs, o->new_owner, c[n]);
    p[n] = (struct rooms_proto){o->new_owner, "m.room.member", o->new_owner, c[n], NULL}, n++;
    c[n] = create_room_default_power_levels(o->new_owner, NULL, false, 0);
    json_object_set_new(c[n], "users_default", json_integer(-10));
    p[n] = (struct rooms_proto){o->new_owner, "m.room.power_levels", "", c[n], NULL}, n++;
    c[n] = json_pack("{s:s}", "join_rule", "public");
    p[n] = (struct rooms_proto){o->new_owner, "m.room.join_rules", "", c[n], NULL}, n++;
    c[n] = json_pack("{s:s}", "history_visibility", "shared");
    p[n] = (struct rooms_proto){o->new_owner, "m.room.history_visibility", "", c[n], NULL}, n++;
    c[n] = json_pack("{s:s}", "name", o->room_name);
    p[n] = (struct rooms_proto){o->new_owner, "m.room.name", "", c[n], NULL}, n++;
    if (rooms_create(r->hs->rooms, room_id, room_version_get(version), p, n, &ids, reason,
                     reasonlen) == ROOMS_OK) {
        rooms_ids_free(ids, n);
    } else {
        free(room_id);
        room_id = NULL;
    }
    for (size_t i = 0; i < n; i++)
        json_decref(c[i]);
    free(suffix);
    return room_id;
}

/* One event of `sender` into room_id; true if it went in (reason filled otherwise). */
static bool
send_as(struct req *r, const char *room_id, const char *sender, const char *type,
        const char *state_key, const json_t *content, char *reason, size_t reasonlen)
{
    struct rooms_proto p = {sender, type, state_key, content, NULL};
    return rooms_send(r->hs->rooms, room_id, &p, 1, NULL, NULL, reason, reasonlen) == ROOMS_OK;
}

/* Shuts the room down: blocks it (opts), makes every local member leave, removes its local
 * aliases and directory entry, and purges it (opts). The result in Synapse's shape, or NULL
 * after replying. */
static json_t *
delete_room_or_reply(struct req *r, const char *room_id, const struct delete_opts *o)
{
    json_t *kicked = json_array(), *failed = json_array(), *aliases = json_array(), *state;
    json_t *leave = json_pack("{s:s}", "membership", "leave"), *entry;
    json_t *join = NULL, *new_room = json_null();
    char **names = NULL, *new_id = NULL, reason[256];
    size_t n = 0;
    const char *sk;
    char *version = NULL, *creator = NULL;
    enum store_rc rc = store_room_get(r->hs->store, room_id, &version, &creator);

    free(version);
    free(creator);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND)
        goto fail;
    if (rc == STORE_NOT_FOUND && !o->block) {
        reply_error(r, MERR_NOT_FOUND, "Unknown room id %s", room_id);
        goto err;
    }
    if (o->block &&
        store_room_block(r->hs->store, room_id, r->user_id, true, util_now_ms()) != STORE_OK)
        goto fail;
    if (rc == STORE_NOT_FOUND) /* Synapse lets an admin block a room it has never seen */
        goto done;
    if (o->new_owner) {
        if (!(new_id = shutdown_room_create(r, o, reason, sizeof(reason)))) {
            log_warn("room deletion: new room for %s failed: %s", room_id, reason);
            goto fail;
        }
        json_decref(new_room);
        new_room = json_string(new_id);
    }
    state = rooms_current_state(r->hs->rooms, room_id);
    json_object_foreach(json_object_get(state, "m.room.member"), sk, entry)
    {
        const char *m = json_string_value(json_object_get(
            json_object_get(json_object_get(entry, "event"), "content"), "membership"));
        bool joined = m && strcmp(m, "join") == 0, ok;
        if (!m || (!joined && strcmp(m, "invite") != 0) || !is_local(r, sk))
            continue;
        ok = send_as(r, room_id, sk, "m.room.member", sk, leave, reason, sizeof(reason));
        /* Synapse's RoomShutdownHandler then makes each of them forget the room. */
        if (ok && store_room_forget(r->hs->store, sk, room_id) != STORE_OK)
            log_warn("room deletion: %s could not forget %s", sk, room_id);
        /* Synapse then joins each kicked user to the new room; a failure there counts as a
         * failure to kick, as in Synapse. */
        if (ok && joined && new_id && strcmp(sk, o->new_owner) != 0) {
            json_decref(join);
            join = json_pack("{s:s}", "membership", "join");
            profile_add_to_member_content(r->hs, sk, join);
            ok = send_as(r, new_id, sk, "m.room.member", sk, join, reason, sizeof(reason));
        }
        if (ok) {
            if (joined)
                json_array_append_new(kicked, json_string(sk));
        } else {
            log_warn("room deletion: %s could not leave %s: %s", sk, room_id, reason);
            json_array_append_new(failed, json_string(sk));
        }
    }
    json_decref(state);
    if (new_id) {
        json_t *msg = json_pack("{s:s, s:s}", "msgtype", "m.text", "body", o->message);
        bool ok =
            send_as(r, new_id, o->new_owner, "m.room.message", NULL, msg, reason, sizeof(reason));
        json_decref(msg);
        if (!ok)
            log_warn("room deletion: message in %s failed: %s", new_id, reason);
    }
    if (store_room_aliases(r->hs->store, room_id, &names, &n) != STORE_OK)
        goto fail;
    if (new_id) { /* Synapse moves the local aliases to the new room */
        if (n && store_aliases_move(r->hs->store, room_id, new_id) != STORE_OK) {
            store_strings_free(names, n);
            goto fail;
        }
        for (size_t i = 0; i < n; i++)
            json_array_append_new(aliases, json_string(names[i]));
    } else {
        for (size_t i = 0; i < n; i++) {
            if (store_alias_delete(r->hs->store, names[i]) == STORE_OK)
                json_array_append_new(aliases, json_string(names[i]));
        }
    }
    store_strings_free(names, n);
    if (store_room_set_public(r->hs->store, room_id, false) != STORE_OK)
        goto fail;
    if (o->purge) {
        rc = store_room_purge(r->hs->store, room_id);
        rooms_forget_cache(r->hs->rooms, room_id);
        if (rc != STORE_OK && rc != STORE_NOT_FOUND)
            goto fail;
    }
done:
    log_info("%s deleted room %s (block %d, purge %d, new room %s)", r->user_id, room_id, o->block,
             o->purge, new_id ? new_id : "none");
    json_decref(leave);
    json_decref(join);
    free(new_id);
    return json_pack("{s:o, s:o, s:o, s:o}", "kicked_users", kicked, "failed_to_kick_users", failed,
                     "local_aliases", aliases, "new_room_id", new_room);
fail:
    reply_internal(r, "room deletion failed");
err:
    json_decref(kicked);
    json_decref(failed);
    json_decref(aliases);
    json_decref(leave);
    json_decref(join);
    json_decref(new_room);
    free(new_id);
    return NULL;
}

static bool
room_id_ok_or_reply(struct req *r)
{
    if (!synapse_admin_check_or_reply(r))
        return false;
    if (r->params[0][0] != '!' || !strchr(r->params[0], ':')) {
        reply_error(r, MERR_INVALID_PARAM, "%s is not a legal room ID", r->params[0]);
        return false;
    }
    return true;
}

/* DELETE /_synapse/admin/v1/rooms/{roomId} (and POST /v1/rooms/{roomId}/delete) */
void
synapse_admin_room_delete_v1(struct req *r)
{
    struct delete_opts o;
    json_t *res;

    if (!room_id_ok_or_reply(r) || !delete_opts_or_reply(r, &o))
        return;
    res = delete_room_or_reply(r, r->params[0], &o);
    if (res)
        reply_json(r, 200, res);
}

/* DELETE /_synapse/admin/v2/rooms/{roomId}: Synapse runs this in the background and answers a
 * delete_id to poll. Hearth's deletion is quick, so it is done before the answer and its
 * status is "complete" (or "failed") from the start. */
void
synapse_admin_room_delete_v2(struct req *r)
{
    struct delete_opts o;
    json_t *res;
    char *id, *text;

    if (!room_id_ok_or_reply(r) || !delete_opts_or_reply(r, &o))
        return;
    res = delete_room_or_reply(r, r->params[0], &o);
    if (!res)
        return;
    id = util_random_token(12);
    text = json_dumps(res, JSON_COMPACT);
    json_decref(res);
    if (store_room_deletion_put(r->hs->store, id, r->params[0], "complete", text, util_now_ms()) !=
        STORE_OK)
        reply_internal(r, "deletion record failed");
    else
        reply_json(r, 200, json_pack("{s:s}", "delete_id", id));
    free(text);
    free(id);
}

static json_t *
deletion_json(const struct store_room_deletion *d, bool with_ids)
{
    json_t *o = json_pack("{s:s}", "status", d->status);
    json_t *res = d->result ? json_loads(d->result, 0, NULL) : NULL;

    if (with_ids)
        json_object_set_new(o, "delete_id", json_string(d->delete_id));
    json_object_set_new(o, "shutdown_room", res ? res : json_object());
    return o;
}

/* GET /_synapse/admin/v2/rooms/{roomId}/delete_status */
void
synapse_admin_room_delete_status(struct req *r)
{
    struct store_room_deletion *list = NULL;
    size_t n = 0;
    json_t *results;

    if (!room_id_ok_or_reply(r))
        return;
    if (store_room_deletions(r->hs->store, r->params[0], NULL, &list, &n) != STORE_OK) {
        reply_internal(r, "deletion lookup failed");
        return;
    }
    if (n == 0) {
        reply_error(r, MERR_NOT_FOUND, "No delete task for room_id '%s' found", r->params[0]);
        return;
    }
    results = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(results, deletion_json(&list[i], true));
    store_room_deletions_free(list, n);
    reply_json(r, 200, json_pack("{s:o}", "results", results));
}

/* GET /_synapse/admin/v2/rooms/delete_status/{deleteId} */
void
synapse_admin_room_delete_status_by_id(struct req *r)
{
    struct store_room_deletion *list = NULL;
    size_t n = 0;

    if (!synapse_admin_check_or_reply(r))
        return;
    if (store_room_deletions(r->hs->store, NULL, r->params[0], &list, &n) != STORE_OK) {
        reply_internal(r, "deletion lookup failed");
        return;
    }
    if (n == 0) {
        reply_error(r, MERR_NOT_FOUND, "delete id '%s' not found", r->params[0]);
        return;
    }
    reply_json(r, 200, deletion_json(&list[0], false));
    store_room_deletions_free(list, n);
}

/* ---- make room admin, block ---- */

/* POST /_synapse/admin/v1/rooms/{roomIdOrAlias}/make_room_admin: the local member with the
 * most power gives user_id (default: the caller) the same power, and invites them unless they
 * are in the room or it is public (as Synapse). */
void
synapse_admin_room_make_admin(struct req *r)
{
    const char *target = json_get_str(r->json, "user_id", NULL), *sk;
    char *room_id = NULL, *membership = NULL, *granter = NULL, reason[256];
    json_t *pl = NULL, *users, *entry, *state = NULL, *content = NULL;
    json_int_t best = 0, dflt;
    const char *rule;
    enum store_rc rc;

    if (!synapse_admin_check_or_reply(r))
        return;
    if (!target)
        target = r->user_id;
    if (!synapse_admin_local_user_or_reply(r, target, "Only local users can be room admins"))
        return;
    if (r->params[0][0] == '#') {
        rc = store_alias_get(r->hs->store, r->params[0], &room_id, NULL);
        if (rc == STORE_NOT_FOUND) {
            reply_error(r, MERR_NOT_FOUND, "Room alias %s not found", r->params[0]);
            return;
        }
        if (rc != STORE_OK) {
            reply_internal(r, "alias lookup failed");
            return;
        }
    } else if (r->params[0][0] == '!') {
        room_id = xstrdup(r->params[0]);
    } else {
        reply_error(r, MERR_INVALID_PARAM, "%s is not a room ID or alias", r->params[0]);
        return;
    }
    state = rooms_current_state(r->hs->rooms, room_id);
    if (!state) {
        reply_error(r, MERR_NOT_FOUND, "Room not found");
        goto out;
    }
    pl = rooms_state_content(r->hs->rooms, room_id, "m.room.power_levels", "");
    if (!pl)
        pl = json_object();
    users = json_object_get(pl, "users");
    dflt = json_integer_value(json_object_get(pl, "users_default"));
    json_object_foreach(json_object_get(state, "m.room.member"), sk, entry)
    {
        const char *m = json_string_value(json_object_get(
            json_object_get(json_object_get(entry, "event"), "content"), "membership"));
        json_t *lv = json_object_get(users, sk);
        json_int_t level = lv ? json_integer_value(lv) : dflt;
        if (!m || strcmp(m, "join") != 0 || !is_local(r, sk))
            continue;
        if (!granter || level > best) {
            free(granter);
            granter = xstrdup(sk);
            best = level;
        }
    }
    if (!granter) {
        reply_error(r, MERR_INVALID_PARAM,
                    "No local admin user in room with power to update power "
                    "levels.");
        goto out;
    }
    if (!json_is_object(users)) {
        users = json_object();
        json_object_set_new(pl, "users", users);
    }
    json_object_set_new(users, target, json_integer(best));
    {
        struct rooms_proto p = {granter, "m.room.power_levels", "", pl, NULL};
        enum rooms_rc rrc =
            rooms_send(r->hs->rooms, room_id, &p, 1, NULL, NULL, reason, sizeof(reason));
        if (rrc == ROOMS_FORBIDDEN || rrc == ROOMS_INVALID) {
            reply_error(r, MERR_INVALID_PARAM,
                        "No local admin user in room with power to update power levels.");
            goto out;
        }
        if (rrc != ROOMS_OK) {
            reply_internal(r, "power levels update failed");
            goto out;
        }
    }
    membership = rooms_membership(r->hs->rooms, room_id, target);
    content = rooms_state_content(r->hs->rooms, room_id, "m.room.join_rules", "");
    rule = json_string_value(json_object_get(content, "join_rule"));
    if (!(membership && (strcmp(membership, "join") == 0 || strcmp(membership, "invite") == 0)) &&
        !(rule && strcmp(rule, "public") == 0)) {
        json_t *invite = json_pack("{s:s}", "membership", "invite");
        struct rooms_proto p = {granter, "m.room.member", target, invite, NULL};
        enum rooms_rc rrc =
            rooms_send(r->hs->rooms, room_id, &p, 1, NULL, NULL, reason, sizeof(reason));
        json_decref(invite);
        if (rrc != ROOMS_OK) {
            reply_error(r, MERR_FORBIDDEN, "Could not invite %s: %s", target, reason);
            goto out;
        }
    }
    log_info("%s made %s an admin of %s", r->user_id, target, room_id);
    reply_empty(r);
out:
    json_decref(content);
    json_decref(pl);
    json_decref(state);
    free(membership);
    free(granter);
    free(room_id);
}

/* GET /_synapse/admin/v1/rooms/{roomId}/block */
void
synapse_admin_room_block_get(struct req *r)
{
    char *by = NULL;
    enum store_rc rc;

    if (!room_id_ok_or_reply(r))
        return;
    rc = store_room_blocked(r->hs->store, r->params[0], &by);
    if (rc == STORE_OK)
        reply_json(r, 200, json_pack("{s:b, s:s}", "block", 1, "user_id", by));
    else if (rc == STORE_NOT_FOUND)
        reply_json(r, 200, json_pack("{s:b}", "block", 0));
    else
        reply_internal(r, "block lookup failed");
    free(by);
}

/* PUT /_synapse/admin/v1/rooms/{roomId}/block */
void
synapse_admin_room_block_put(struct req *r)
{
    json_t *block = json_object_get(r->json, "block");

    if (!json_is_boolean(block)) {
        reply_error(r, MERR_BAD_JSON, "block (a boolean) is required");
        return;
    }
    if (!room_id_ok_or_reply(r))
        return;
    if (store_room_block(r->hs->store, r->params[0], r->user_id, json_is_true(block),
                         util_now_ms()) != STORE_OK) {
        reply_internal(r, "block update failed");
        return;
    }
    log_info("%s %s room %s", r->user_id, json_is_true(block) ? "blocked" : "unblocked",
             r->params[0]);
    reply_json(r, 200, json_pack("{s:b}", "block", json_is_true(block)));
}

bool
synapse_admin_room_joinable_or_reply(struct req *r, const char *room_id)
{
    enum store_rc rc = store_room_blocked(r->hs->store, room_id, NULL);

    if (rc == STORE_NOT_FOUND)
        return true;
    if (rc == STORE_OK)
        reply_error(r, MERR_FORBIDDEN, "This room has been blocked on this server");
    else
        reply_internal(r, "block lookup failed");
    return false;
}

/* GET /_synapse/admin/v1/rooms/{roomId}/forward_extremities: Hearth's rooms have one line of
 * events (no federation), so the latest event is the only extremity. */
void
synapse_admin_room_forward_extremities(struct req *r)
{
    struct store_event ev;
    enum store_rc rc;

    if (!room_id_ok_or_reply(r))
        return;
    rc = store_room_last_event(r->hs->store, r->params[0], &ev);
    if (rc == STORE_NOT_FOUND)
        reply_error(r, MERR_NOT_FOUND, "Room not found");
    else if (rc != STORE_OK)
        reply_internal(r, "room lookup failed");
    else
        reply_json(r, 200,
                   json_pack("{s:i, s:[{s:s, s:n, s:I, s:I}]}", "count", 1, "results", "event_id",
                             ev.event_id, "state_group", "depth", (json_int_t)ev.depth,
                             "received_ts", (json_int_t)ev.pos));
    store_event_clear(&ev);
}

/* GET /_synapse/admin/v1/federation/destinations: Hearth does not federate, so it has no
 * destinations (synapse-admin's federation page shows none). */
void
synapse_admin_federation_destinations(struct req *r)
{
    if (!synapse_admin_check_or_reply(r))
        return;
    reply_json(r, 200, json_pack("{s:[], s:i}", "destinations", "total", 0));
}
