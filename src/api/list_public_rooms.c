/* list_public_rooms.yaml: the server's public room directory. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "rooms/rooms.h"
#include "store/store.h"

struct entry {
    json_t *obj; /* the chunk entry, owned */
    int64_t members;
    const char *room_id; /* borrowed from obj */
};

/* What a listing asks for. */
struct query {
    int64_t limit; /* 0: no limit */
    int64_t offset;
    const char *term; /* generic_search_term, or NULL */
    /* Application services' room directories (issue 13): third_party_instance_id
     * "<service id>|<network id>" lists that network's rooms only; include_all_networks adds
     * every network's rooms to the server's own. */
    char *network_as, *network_id; /* owned */
    bool all_networks;
};

/* Splits third_party_instance_id (Synapse's "<service id>|<network id>"); replies 400 and
 * returns false when malformed. */
static bool
network_ok_or_reply(struct req *r, const char *id, struct query *q)
{
    const char *bar = id ? strchr(id, '|') : NULL;

    if (!id)
        return true;
    if (!bar || bar == id || !bar[1] || strchr(bar + 1, '|')) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid third_party_instance_id");
        return false;
    }
    q->network_as = xstrndup(id, (size_t)(bar - id));
    q->network_id = xstrdup(bar + 1);
    return true;
}

/* The rooms a listing covers (new array of new strings, no duplicates). */
static enum store_rc
listed_rooms(struct req *r, const struct query *q, char ***out, size_t *n)
{
    char **local = NULL, **nets = NULL;
    size_t nl = 0, nn = 0;
    enum store_rc rc = STORE_OK;

    *out = NULL;
    *n = 0;
    if (!q->network_as)
        rc = store_public_rooms(r->hs->store, &local, &nl);
    if (rc == STORE_OK && (q->network_as || q->all_networks))
        rc = store_appservice_room_list(r->hs->store, q->network_as, q->network_id, &nets, &nn);
    if (rc != STORE_OK) {
        store_strings_free(local, nl);
        store_strings_free(nets, nn);
        return rc;
    }
    *out = xcalloc(nl + nn + 1, sizeof(char *));
    for (size_t i = 0; i < nl; i++)
        (*out)[(*n)++] = local[i];
    for (size_t i = 0; i < nn; i++) {
        bool dup = false;
        for (size_t k = 0; k < nl && !dup; k++)
            dup = strcmp(local[k], nets[i]) == 0;
        if (dup)
            free(nets[i]);
        else
            (*out)[(*n)++] = nets[i];
    }
    free(local);
    free(nets);
    return STORE_OK;
}

/* A string field of the content of a current state event (borrowed from state), or NULL. */
static const char *
state_str(const json_t *state, const char *type, const char *key)
{
    const json_t *ev = json_object_get(json_object_get(json_object_get(state, type), ""), "event");
    const char *s = json_string_value(json_object_get(json_object_get(ev, "content"), key));
    return s && *s ? s : NULL;
}

static int64_t
joined_members(const json_t *state)
{
    const json_t *members = json_object_get(state, "m.room.member"), *m;
    const char *key;
    int64_t n = 0;

    json_object_foreach((json_t *)members, key, m)
    {
        const json_t *content = json_object_get(json_object_get(m, "event"), "content");
        const char *ms = json_string_value(json_object_get(content, "membership"));
        if (ms && strcmp(ms, "join") == 0)
            n++;
    }
    return n;
}

/* The chunk entry of a room (SPEC: list_public_rooms.yaml PublicRoomsChunk), or NULL if the
 * room is unknown here. */
static json_t *
room_entry(struct req *r, const char *room_id, int64_t *members)
{
    json_t *state = rooms_current_state(r->hs->rooms, room_id), *e;
    const char *s;

    if (!state)
        return NULL;
    *members = joined_members(state);
    e = json_pack("{s:s, s:I}", "room_id", room_id, "num_joined_members", (json_int_t)*members);
    if ((s = state_str(state, "m.room.name", "name")))
        json_object_set_new(e, "name", json_string(s));
    if ((s = state_str(state, "m.room.topic", "topic")))
        json_object_set_new(e, "topic", json_string(s));
    if ((s = state_str(state, "m.room.avatar", "url")))
        json_object_set_new(e, "avatar_url", json_string(s));
    if ((s = state_str(state, "m.room.canonical_alias", "alias")))
        json_object_set_new(e, "canonical_alias", json_string(s));
    s = state_str(state, "m.room.history_visibility", "history_visibility");
    json_object_set_new(e, "world_readable", json_boolean(s && strcmp(s, "world_readable") == 0));
    s = state_str(state, "m.room.guest_access", "guest_access");
    json_object_set_new(e, "guest_can_join", json_boolean(s && strcmp(s, "can_join") == 0));
    /* SPEC: v1.1 public_rooms_response.yaml join_rule: "The room's join rule. When not
     * present, the room is assumed to be public." */
    if ((s = state_str(state, "m.room.join_rules", "join_rule")))
        json_object_set_new(e, "join_rule", json_string(s));
    json_decref(state);
    return e;
}

static bool
field_matches(const json_t *e, const char *key, const char *term)
{
    const char *s = json_string_value(json_object_get(e, key));
    return s && strcasestr(s, term);
}

/* SPEC: generic_search_term: "A string to search for in the room metadata, e.g. name, topic,
 * canonical alias etc." Case-insensitive (ASCII) substring, as Synapse. */
static bool
entry_matches(const json_t *e, const char *term)
{
    return !term || !*term || field_matches(e, "name", term) || field_matches(e, "topic", term) ||
           field_matches(e, "canonical_alias", term);
}

/* SPEC: "The rooms are ordered by the number of joined members, with the largest rooms
 * first." Room ID breaks ties so pages are stable. */
static int
entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->members != y->members)
        return x->members > y->members ? -1 : 1;
    return strcmp(x->room_id, y->room_id);
}

/* Tokens are offsets into the ordered list ("o<offset>"). */
static bool
parse_since_or_reply(struct req *r, const char *since, int64_t *offset)
{
    *offset = 0;
    if (!since || !*since)
        return true;
    if (since[0] != 'o' || util_parse_int64(since + 1, offset) != 0 || *offset < 0) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid pagination token");
        return false;
    }
    return true;
}

static json_t *
token(int64_t offset)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "o%" PRId64, offset);
    return json_string(buf);
}

/* The local server's list is the only one until federation exists. */
static bool
server_ok_or_reply(struct req *r)
{
    const char *server = req_query(r, "server");
    if (server && *server && strcmp(server, r->hs->cfg->server_name) != 0) {
        reply_error(r, MERR_INVALID_PARAM,
                    "Listing the rooms of another server needs federation, not supported yet");
        return false;
    }
    return true;
}

static void
list_rooms(struct req *r, const struct query *q)
{
    char **ids = NULL;
    size_t n = 0, i, ne = 0, start, end;
    struct entry *list = NULL;
    json_t *chunk, *body;

    if (listed_rooms(r, q, &ids, &n) != STORE_OK) {
        reply_internal(r, "public room listing failed");
        return;
    }
    list = xcalloc(n ? n : 1, sizeof(*list));
    for (i = 0; i < n; i++) {
        int64_t members = 0;
        json_t *e = room_entry(r, ids[i], &members);
        if (!e)
            continue;
        if (!entry_matches(e, q->term)) {
            json_decref(e);
            continue;
        }
        list[ne++] = (struct entry){e, members, json_string_value(json_object_get(e, "room_id"))};
    }
    qsort(list, ne, sizeof(*list), entry_cmp);

    start = q->offset < (int64_t)ne ? (size_t)q->offset : ne;
    end = q->limit > 0 && (uint64_t)q->limit < ne - start ? start + (size_t)q->limit : ne;
    chunk = json_array();
    for (i = start; i < end; i++) {
        char **aliases = NULL;
        size_t na = 0;
        if (store_room_aliases(r->hs->store, list[i].room_id, &aliases, &na) == STORE_OK &&
            na > 0) {
            json_t *arr = json_array();
            for (size_t k = 0; k < na; k++)
                json_array_append_new(arr, json_string(aliases[k]));
            json_object_set_new(list[i].obj, "aliases", arr);
        }
        store_strings_free(aliases, na);
        json_array_append(chunk, list[i].obj);
    }
    body = json_pack("{s:o, s:I}", "chunk", chunk, "total_room_count_estimate", (json_int_t)n);
    if (end < ne)
        json_object_set_new(body, "next_batch", token((int64_t)end));
    if (start > 0) {
        int64_t prev = q->limit > 0 && (int64_t)start > q->limit ? (int64_t)start - q->limit : 0;
        json_object_set_new(body, "prev_batch", token(prev));
    }
    reply_json(r, 200, body);

    for (i = 0; i < ne; i++)
        json_decref(list[i].obj);
    free(list);
    store_strings_free(ids, n);
}

/* GET /_matrix/client/r0/publicRooms */
void
public_rooms_get(struct req *r)
{
    struct query q = {0};
    const char *limit = req_query(r, "limit");

    if (!server_ok_or_reply(r))
        return;
    if (limit && (util_parse_int64(limit, &q.limit) != 0 || q.limit < 0)) {
        reply_error(r, MERR_INVALID_PARAM, "limit must be a non-negative integer");
        return;
    }
    if (!parse_since_or_reply(r, req_query(r, "since"), &q.offset))
        return;
    /* Synapse takes the POST body's network choice as query parameters here too. */
    q.all_networks = req_query(r, "include_all_networks") &&
                     strcmp(req_query(r, "include_all_networks"), "true") == 0;
    if (q.all_networks && req_query(r, "third_party_instance_id")) {
        reply_error(r, MERR_INVALID_PARAM,
                    "third_party_instance_id cannot be used with include_all_networks");
        return;
    }
    if (!network_ok_or_reply(r, req_query(r, "third_party_instance_id"), &q))
        return;
    list_rooms(r, &q);
    free(q.network_as);
    free(q.network_id);
}

/* POST /_matrix/client/r0/publicRooms */
void
public_rooms_post(struct req *r)
{
    struct query q = {0};
    const json_t *b = r->json, *v, *filter;
    const char *since, *network;
    bool wrong = false;

    if (!server_ok_or_reply(r))
        return;
    if ((v = json_object_get(b, "limit")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            reply_error(r, MERR_BAD_JSON, "limit must be a non-negative integer");
            return;
        }
        q.limit = json_integer_value(v);
    }
    since = json_get_str(b, "since", &wrong);
    network = json_get_str(b, "third_party_instance_id", &wrong);
    filter = json_object_get(b, "filter");
    if (filter && !json_is_null(filter) && !json_is_object(filter)) {
        reply_error(r, MERR_BAD_JSON, "filter must be an object");
        return;
    }
    q.term = json_get_str(filter, "generic_search_term", &wrong);
    if (wrong) {
        reply_error(r, MERR_BAD_JSON,
                    "since, third_party_instance_id and generic_search_term must be strings");
        return;
    }
    v = json_object_get(b, "include_all_networks");
    if (v && !json_is_null(v) && !json_is_boolean(v)) {
        reply_error(r, MERR_BAD_JSON, "include_all_networks must be a boolean");
        return;
    }
    /* SPEC: third_party_instance_id "Can only be used if include_all_networks is false." */
    if (network && json_is_true(v)) {
        reply_error(r, MERR_INVALID_PARAM,
                    "third_party_instance_id cannot be used with include_all_networks");
        return;
    }
    q.all_networks = json_is_true(v);
    if (!parse_since_or_reply(r, since, &q.offset) || !network_ok_or_reply(r, network, &q))
        return;
    list_rooms(r, &q);
    free(q.network_as);
    free(q.network_id);
}

/* GET /_matrix/client/r0/directory/list/room/{roomId} */
void
public_rooms_get_visibility(struct req *r)
{
    const char *room_id = r->params[0];
    bool is_public = false;
    enum store_rc rc;

    if (!api_room_id_ok_or_reply(r, room_id))
        return;
    rc = store_room_is_public(r->hs->store, room_id, &is_public);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "Room not found");
        return;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "room visibility lookup failed");
        return;
    }
    reply_json(r, 200, json_pack("{s:s}", "visibility", is_public ? "public" : "private"));
}

/* PUT /_matrix/client/r0/directory/list/room/{roomId} */
void
public_rooms_set_visibility(struct req *r)
{
    const char *room_id = r->params[0], *vis;
    bool wrong = false;
    enum store_rc rc;

    vis = json_get_str(r->json, "visibility", &wrong);
    if (wrong) {
        reply_error(r, MERR_BAD_JSON, "visibility must be a string");
        return;
    }
    /* SPEC: visibility "Defaults to 'public'." */
    if (!vis)
        vis = "public";
    if (strcmp(vis, "public") != 0 && strcmp(vis, "private") != 0) {
        reply_error(r, MERR_INVALID_PARAM, "visibility must be 'public' or 'private'");
        return;
    }
    if (!api_room_or_reply(r, room_id))
        return;
    /* SPEC allows checks such as "only the room creator or a server administrator"; we take
     * Synapse's: a server admin or a room moderator (power to send m.room.canonical_alias),
     * so a room's admins can publish it and ordinary members cannot. */
    if (!directory_user_may_edit_room(r, room_id)) {
        reply_error(r, MERR_FORBIDDEN,
                    "You need to be a moderator in the room to edit its room list entry");
        return;
    }
    rc = store_room_set_public(r->hs->store, room_id, strcmp(vis, "public") == 0);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "Room not found");
        return;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "room visibility update failed");
        return;
    }
    log_info("%s made %s %s in the room directory", r->user_id, room_id, vis);
    reply_empty(r);
}
