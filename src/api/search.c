/* search.yaml: POST /search (modules/search.rst), the room_events category.
 *
 * What a user may find: the events of every room where they have (or had) a membership, at
 * the positions history visibility lets them see (visibility_ranges), so a user who left
 * finds nothing sent after they left and never anything of a room they were not in. The
 * store searches only those ranges; each hit is checked again with visibility_allows before
 * it is written out, as /messages and /context do.
 *
 * next_batch tokens: "r<n>" (rank order: n hits already returned) or "t<pos>" (recent order:
 * hits below stream position pos), and for a group's token "_R" or "_S" and the room or
 * sender in URL-safe base64, which restricts the search to that group (modules/search.rst:
 * "using a token inside a group will return more results from within that group"). */
#include <stdint.h>
#include <stdio.h>
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
#include "sync/filter.h"

#define DEFAULT_LIMIT 10
/* Results per page, whatever the filter asks: each may carry context and profiles. */
#define MAX_LIMIT 100
#define DEFAULT_CONTEXT 5
#define MAX_CONTEXT 100
/* Hits rejected after the store (ignored users, filter fields the store does not see) are
 * skipped, but only so many per request; the page then ends early with a next_batch. */
#define MAX_SCAN 1000
/* A search term longer than this is refused rather than run. */
#define MAX_TERM 4096

struct search_req {
    const char *term;
    unsigned keys;
    struct event_filter filter;
    long limit;
    bool by_rank;
    bool context;
    long before_limit, after_limit;
    bool include_profile;
    bool include_state;
    bool group_room, group_sender;
    /* From next_batch. */
    int64_t skip, before_pos;
    char *only_room, *only_sender; /* a group's token; owned */
};

/* One room the user may search, with what it takes to read it. */
struct search_room {
    const char *room_id; /* borrowed from the visibility list */
    const struct room_version *v;
    struct visibility *vis; /* borrowed from the visibility list */
};

/* ---- request ---- */

static bool
type_allowed(const json_t *f, const char *type)
{
    const json_t *yes = json_object_get(f, "types"), *no = json_object_get(f, "not_types"), *e;
    size_t i;
    bool listed = false;

    json_array_foreach(no, i, e)
    {
        if (filter_type_matches(json_string_value(e), type))
            return false;
    }
    if (!yes)
        return true;
    json_array_foreach(yes, i, e)
    {
        listed = listed || filter_type_matches(json_string_value(e), type);
    }
    return listed;
}

static int
parse_keys_or_reply(struct req *r, const json_t *keys, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bit;
    } known[] = {
        {"content.body", STORE_SEARCH_BODY},
        {"content.name", STORE_SEARCH_NAME},
        {"content.topic", STORE_SEARCH_TOPIC},
    };
    const json_t *k;
    size_t i, j;

    /* SPEC: "The keys to search. Defaults to all." */
    if (!keys) {
        *out = STORE_SEARCH_ALL_KEYS;
        return 0;
    }
    if (!json_is_array(keys))
        goto bad;
    *out = 0;
    json_array_foreach(keys, i, k)
    {
        for (j = 0; j < sizeof(known) / sizeof(known[0]); j++)
            if (json_is_string(k) && strcmp(json_string_value(k), known[j].name) == 0)
                break;
        if (j == sizeof(known) / sizeof(known[0]))
            goto bad;
        *out |= known[j].bit;
    }
    return 0;
bad:
    reply_error(r, MERR_BAD_JSON,
                "keys must be a list of 'content.body', 'content.name', 'content.topic'");
    return -1;
}

static int
parse_context_or_reply(struct req *r, const json_t *ctx, struct search_req *q)
{
    static const char *const limits[] = {"before_limit", "after_limit"};
    long *dest[] = {&q->before_limit, &q->after_limit};
    const json_t *v;

    q->before_limit = q->after_limit = DEFAULT_CONTEXT;
    if (!ctx)
        return 0;
    if (!json_is_object(ctx)) {
        reply_error(r, MERR_BAD_JSON, "event_context must be an object");
        return -1;
    }
    q->context = true;
    for (size_t i = 0; i < 2; i++) {
        v = json_object_get(ctx, limits[i]);
        if (!v)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            reply_error(r, MERR_BAD_JSON, "event_context.%s must be a non-negative integer",
                        limits[i]);
            return -1;
        }
        *dest[i] = json_integer_value(v) > MAX_CONTEXT ? MAX_CONTEXT : (long)json_integer_value(v);
    }
    v = json_object_get(ctx, "include_profile");
    if (v && !json_is_boolean(v)) {
        reply_error(r, MERR_BAD_JSON, "event_context.include_profile must be a boolean");
        return -1;
    }
    q->include_profile = json_is_true(v);
    return 0;
}

static int
parse_groupings_or_reply(struct req *r, const json_t *g, struct search_req *q)
{
    const json_t *by, *e, *key;
    size_t i;

    if (!g)
        return 0;
    by = json_object_get(g, "group_by");
    if (!json_is_object(g) || (by && !json_is_array(by)))
        goto bad;
    json_array_foreach(by, i, e)
    {
        key = json_object_get(e, "key");
        if (!json_is_object(e) || !json_is_string(key))
            goto bad;
        if (strcmp(json_string_value(key), "room_id") == 0)
            q->group_room = true;
        else if (strcmp(json_string_value(key), "sender") == 0)
            q->group_sender = true;
        else
            goto bad;
    }
    return 0;
bad:
    reply_error(r, MERR_BAD_JSON,
                "groupings must be {\"group_by\": [{\"key\": \"room_id\" or \"sender\"}]}");
    return -1;
}

/* The base64 of a group token back to its value, or NULL. */
static char *
group_value(const char *b64)
{
    size_t len = strlen(b64), outlen = 0;
    char *std = xstrdup(b64), *out = NULL;
    unsigned char *raw = xmalloc(len + 1);

    for (char *p = std; *p; p++)
        *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
    if (len > 0 && util_base64_decode(std, raw, len, &outlen) == 0 &&
        util_valid_utf8((const char *)raw, outlen))
        out = xstrndup((const char *)raw, outlen);
    free(std);
    free(raw);
    return out;
}

static int
parse_token_or_reply(struct req *r, const char *tok, struct search_req *q)
{
    char *copy = xstrdup(tok), *group = strchr(copy, '_');
    int64_t cursor;
    int rc = -1;

    q->skip = 0;
    q->before_pos = INT64_MAX;
    if (group)
        *group++ = '\0';
    if ((copy[0] != 'r' && copy[0] != 't') || util_parse_int64(copy + 1, &cursor) != 0 ||
        cursor < 0 || !copy[1])
        goto out;
    /* The token must come from a search in the same order ("send the same request"). */
    if ((copy[0] == 'r') != q->by_rank)
        goto out;
    if (q->by_rank)
        q->skip = cursor;
    else
        q->before_pos = cursor;
    if (group) {
        char **dest = group[0] == 'R' ? &q->only_room : group[0] == 'S' ? &q->only_sender : NULL;
        if (!dest || !(*dest = group_value(group + 1)))
            goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        reply_error(r, MERR_INVALID_PARAM, "Invalid next_batch token");
    free(copy);
    return rc;
}

/* Reads the request into q; replies and returns -1 if it is not valid. 1: no room_events. */
static int
parse_request_or_reply(struct req *r, struct search_req *q)
{
    const json_t *cats = json_object_get(r->json, "search_categories"), *re, *v;
    const char *key, *tok;
    char err[256];

    if (!cats) {
        reply_error(r, MERR_MISSING_PARAM, "search_categories is required");
        return -1;
    }
    if (!json_is_object(cats)) {
        reply_error(r, MERR_BAD_JSON, "search_categories must be an object");
        return -1;
    }
    json_object_foreach((json_t *)cats, key, v)
    {
        /* SPEC: "Currently the only specified category is room_events." */
        if (strcmp(key, "room_events") != 0) {
            reply_error(r, MERR_BAD_JSON, "Unknown search category: %s", key);
            return -1;
        }
    }
    re = json_object_get(cats, "room_events");
    if (!re)
        return 1;
    if (!json_is_object(re)) {
        reply_error(r, MERR_BAD_JSON, "room_events must be an object");
        return -1;
    }
    v = json_object_get(re, "search_term");
    if (!v) {
        reply_error(r, MERR_MISSING_PARAM, "search_term is required");
        return -1;
    }
    if (!json_is_string(v)) {
        reply_error(r, MERR_BAD_JSON, "search_term must be a string");
        return -1;
    }
    if (json_string_length(v) > MAX_TERM) {
        reply_error(r, MERR_BAD_JSON, "search_term is longer than %d bytes", MAX_TERM);
        return -1;
    }
    q->term = json_string_value(v);
    if (parse_keys_or_reply(r, json_object_get(re, "keys"), &q->keys) != 0)
        return -1;
    v = json_object_get(re, "filter");
    if (filter_parse(json_is_null(v) ? NULL : v, &q->filter, err, sizeof(err)) != 0) {
        reply_error(r, MERR_BAD_JSON, "%s", err);
        return -1;
    }
    q->limit = q->filter.limit < 0           ? DEFAULT_LIMIT
               : q->filter.limit > MAX_LIMIT ? MAX_LIMIT
                                             : q->filter.limit;
    /* The keys of event types the filter leaves out are not searched at all. */
    if (!type_allowed(q->filter.json, "m.room.message"))
        q->keys &= ~(unsigned)STORE_SEARCH_BODY;
    if (!type_allowed(q->filter.json, "m.room.name"))
        q->keys &= ~(unsigned)STORE_SEARCH_NAME;
    if (!type_allowed(q->filter.json, "m.room.topic"))
        q->keys &= ~(unsigned)STORE_SEARCH_TOPIC;
    v = json_object_get(re, "order_by");
    /* SPEC: "By default, this is rank." */
    if (v && (!json_is_string(v) || (strcmp(json_string_value(v), "rank") != 0 &&
                                     strcmp(json_string_value(v), "recent") != 0))) {
        reply_error(r, MERR_BAD_JSON, "order_by must be 'rank' or 'recent'");
        return -1;
    }
    q->by_rank = !v || strcmp(json_string_value(v), "rank") == 0;
    if (parse_context_or_reply(r, json_object_get(re, "event_context"), q) != 0)
        return -1;
    v = json_object_get(re, "include_state");
    if (v && !json_is_boolean(v)) {
        reply_error(r, MERR_BAD_JSON, "include_state must be a boolean");
        return -1;
    }
    q->include_state = json_is_true(v);
    if (parse_groupings_or_reply(r, json_object_get(re, "groupings"), q) != 0)
        return -1;
    tok = req_query(r, "next_batch");
    if (tok)
        return parse_token_or_reply(r, tok, q);
    if (req_has_query(r, "next_batch")) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid next_batch token");
        return -1;
    }
    q->skip = 0;
    q->before_pos = INT64_MAX;
    return 0;
}

/* ---- rooms and ranges ---- */

static bool
listed(const json_t *list, const char *value)
{
    const json_t *e;
    size_t i;

    json_array_foreach(list, i, e)
    {
        if (strcmp(json_string_value(e), value) == 0)
            return true;
    }
    return false;
}

/* The rooms to search (those of vrooms that the request allows) and their visible ranges. */
static void
choose_rooms(struct req *r, const struct search_req *q, struct visibility_room *vrooms, size_t n,
             struct search_room *rooms, size_t *nrooms, struct store_search_range **ranges,
             size_t *nranges)
{
    const json_t *yes = json_object_get(q->filter.json, "rooms");
    const json_t *no = json_object_get(q->filter.json, "not_rooms");

    *nrooms = 0;
    *nranges = 0;
    for (size_t i = 0; i < n; i++) {
        const char *room_id = vrooms[i].room_id;
        struct search_room *sr = &rooms[*nrooms];
        struct visibility_range *vr = NULL;
        size_t nvr;
        /* SPEC: filter.rooms / not_rooms (room_event_filter.yaml) choose the rooms. */
        if ((q->only_room && strcmp(q->only_room, room_id) != 0) ||
            (yes && !listed(yes, room_id)) || listed(no, room_id) ||
            !(sr->v = rooms_version(r->hs->rooms, room_id)))
            continue;
        sr->room_id = room_id;
        sr->vis = &vrooms[i].vis;
        (*nrooms)++;
        nvr = visibility_ranges(sr->vis, &vr);
        *ranges = xrealloc(*ranges, (*nranges + nvr + 1) * sizeof(**ranges));
        for (size_t k = 0; k < nvr; k++)
            (*ranges)[(*nranges)++] = (struct store_search_range){room_id, vr[k].after, vr[k].upto};
        free(vr);
    }
}

static int
cmp_search_room(const void *a, const void *b)
{
    return strcmp(((const struct search_room *)a)->room_id,
                  ((const struct search_room *)b)->room_id);
}

/* rooms is sorted by room ID (as the visibility list it comes from). */
static struct search_room *
room_of(struct search_room *rooms, size_t n, const char *room_id)
{
    struct search_room key = {room_id, NULL, NULL};
    return n ? bsearch(&key, rooms, n, sizeof(*rooms), cmp_search_room) : NULL;
}

/* ---- results ---- */

/* SPEC: profile_info, "the historic profile information of the users that sent the events
 * returned": their m.room.member content at the end of the context (as Synapse). */
static json_t *
profiles(struct req *r, const char *room_id, int64_t pos, const json_t *events)
{
    json_t *out = json_object(), *ev;
    size_t i;

    json_array_foreach(events, i, ev)
    {
        const char *sender = json_string_value(json_object_get(ev, "sender"));
        char *event_id = NULL;
        struct store_event e = {0};
        json_t *member = NULL, *content, *profile;
        if (!sender || json_object_get(out, sender))
            continue;
        profile = json_object();
        if (store_state_event_at(r->hs->store, room_id, "m.room.member", sender, pos, &event_id) ==
                STORE_OK &&
            store_event_get(r->hs->store, event_id, &e) == STORE_OK && !e.redacted_by &&
            (member = json_loads(e.json, 0, NULL))) {
            content = json_object_get(member, "content");
            /* Only strings: the schema has no room for anything else. */
            if (json_is_string(json_object_get(content, "displayname")))
                json_object_set(profile, "displayname", json_object_get(content, "displayname"));
            if (json_is_string(json_object_get(content, "avatar_url")))
                json_object_set(profile, "avatar_url", json_object_get(content, "avatar_url"));
        }
        json_object_set_new(out, sender, profile);
        json_decref(member);
        store_event_clear(&e);
        free(event_id);
    }
    return out;
}

/* The context of a result: events around it, under the same visibility and filter. NULL on
 * storage failure. */
static json_t *
context_of(struct req *r, const struct search_req *q, struct search_room *sr,
           const struct store_event *e, const json_t *ev)
{
    json_t *before = json_array(), *after = json_array(), *ctx = NULL, *all;
    int64_t start, end, state_pos;
    char tok[32];

    /* As /context: going back from the event's position excludes it, forward too. */
    if (api_room_events_page(r, sr->room_id, sr->v, sr->vis, &q->filter, e->pos - 1, 0, true,
                             (size_t)q->before_limit, before, &start) != 0 ||
        api_room_events_page(r, sr->room_id, sr->v, sr->vis, &q->filter, e->pos, INT64_MAX, false,
                             (size_t)q->after_limit, after, &end) != 0)
        goto out;
    ctx = json_object();
    snprintf(tok, sizeof(tok), "s%lld", (long long)start);
    json_object_set_new(ctx, "start", json_string(tok));
    snprintf(tok, sizeof(tok), "s%lld", (long long)end);
    json_object_set_new(ctx, "end", json_string(tok));
    if (q->include_profile) {
        /* Never the state after the user left the room. */
        state_pos = end < visibility_state_pos(sr->vis) ? end : visibility_state_pos(sr->vis);
        all = json_array();
        json_array_extend(all, before);
        json_array_append(all, (json_t *)ev);
        json_array_extend(all, after);
        json_object_set_new(ctx, "profile_info", profiles(r, sr->room_id, state_pos, all));
        json_decref(all);
    }
    json_object_set(ctx, "events_before", before);
    json_object_set(ctx, "events_after", after);
out:
    json_decref(before);
    json_decref(after);
    return ctx;
}

/* SPEC: include_state, "the current state for each room returned"; a user who left sees it
 * as it was when they left. */
static json_t *
room_state(struct req *r, struct search_room *sr)
{
    struct store_event *list = NULL;
    size_t n = 0;
    int64_t pos = visibility_state_pos(sr->vis);
    json_t *out = json_array(), *ev;

    if (pos < 0 || store_room_state_at(r->hs->store, sr->room_id, pos, &list, &n) != STORE_OK)
        return out;
    for (size_t i = 0; i < n; i++)
        if ((ev = api_event_for_client(r, &list[i], sr->v)))
            json_array_append_new(out, ev);
    store_event_list_free(list, n);
    return out;
}

static char *
make_token(const struct search_req *q, int64_t cursor, char group, const char *value)
{
    char head[32];
    char *b64, *tok;

    snprintf(head, sizeof(head), "%c%lld", q->by_rank ? 'r' : 't', (long long)cursor);
    if (!group)
        return xstrdup(head);
    b64 = util_base64_encode((const unsigned char *)value, strlen(value));
    for (char *p = b64; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    tok = xasprintf("%s_%c%s", head, group, b64);
    free(b64);
    return tok;
}

static json_t *
token_json(const struct search_req *q, int64_t cursor, char group, const char *value)
{
    char *tok = make_token(q, cursor, group, value);
    json_t *out = json_string(tok);
    free(tok);
    return out;
}

/* groups.<key>: {value: {order, results, next_batch}}, in the order of the results. */
static json_t *
groups_by(const struct search_req *q, const json_t *results, const char *key, char group,
          int64_t cursor, bool more)
{
    json_t *out = json_object(), *res;
    size_t i;

    json_array_foreach(results, i, res)
    {
        json_t *ev = json_object_get(res, "result");
        const char *value = json_string_value(json_object_get(ev, key));
        json_t *g = json_object_get(out, value);
        if (!g) {
            g = json_pack("{s:I, s:[]}", "order", (json_int_t)json_object_size(out) + 1, "results");
            if (more)
                json_object_set_new(g, "next_batch", token_json(q, cursor, group, value));
            json_object_set_new(out, value, g);
        }
        json_array_append(json_object_get(g, "results"), json_object_get(ev, "event_id"));
    }
    return out;
}

/* Is the hit a result: visible, not from an ignored user, passing the filter? *ev is the
 * client event when it is. */
static bool
accept_hit(struct req *r, const struct search_req *q, struct search_room *sr, const json_t *ignored,
           const struct store_event *e, json_t **ev)
{
    *ev = NULL;
    if (strcmp(e->room_id, sr->room_id) != 0 || e->redacted_by || !visibility_allows(sr->vis, e))
        return false;
    /* SPEC: ignore_users.rst: ignored users' events are hidden, "with the exception of state
     * events". */
    if (!e->state_key && json_object_get(ignored, e->sender))
        return false;
    if (q->only_sender && strcmp(q->only_sender, e->sender) != 0)
        return false;
    if (!(*ev = api_event_for_client(r, e, sr->v)))
        return false;
    if (!filter_event_matches(&q->filter, sr->room_id, *ev)) {
        json_decref(*ev);
        *ev = NULL;
        return false;
    }
    return true;
}

/* The room_events answer, or NULL on storage failure. */
static json_t *
search_room_events(struct req *r, struct search_req *q)
{
    char **words = NULL;
    struct visibility_room *vrooms = NULL;
    size_t nvrooms = 0, nrooms = 0, nranges = 0, nwords = 0, naccepted = 0, scanned = 0;
    struct search_room *rooms = NULL;
    struct store_search_range *ranges = NULL;
    struct store_search_hit *accepted = NULL;
    struct store_search_query sq = {0};
    json_t *results = json_array(), *ignored = api_ignored_users(r->hs, r->user_id);
    json_t *out = NULL, *highlights = json_array(), *state = NULL, *groups = NULL;
    int64_t count = 0, cursor;
    bool more = false, failed = true;

    /* Deferred indexing (issue 3): every event whose send was answered before this request
     * is indexed before the query (nothing to do when the index is current). */
    if (store_search_catch_up(r->hs->store, 0, NULL) != STORE_OK ||
        visibility_load_user_rooms(r, r->user_id, &vrooms, &nvrooms) != 0)
        goto out;
    rooms = xcalloc(nvrooms + 1, sizeof(*rooms));
    choose_rooms(r, q, vrooms, nvrooms, rooms, &nrooms, &ranges, &nranges);
    sq = (struct store_search_query){q->term,    q->keys, ranges,        nranges,
                                     q->by_rank, q->skip, q->before_pos, 0};
    accepted = xcalloc((size_t)q->limit + 1, sizeof(*accepted));
    cursor = q->by_rank ? q->skip : q->before_pos;
    for (bool first = true;; first = false) {
        struct store_search_hit *hits = NULL;
        size_t n = 0, i;
        int64_t c = 0;
        /* One more than needed: whether a next page exists. */
        sq.max = (size_t)q->limit - naccepted + 1;
        sq.skip = q->by_rank ? cursor : 0;
        sq.before_pos = q->by_rank ? INT64_MAX : cursor;
        if (store_search_events(r->hs->store, &sq, &hits, &n, &c) != STORE_OK)
            goto out;
        if (first)
            count = c;
        for (i = 0; i < n; i++) {
            struct search_room *sr = room_of(rooms, nrooms, hits[i].room_id);
            struct store_event e = {0};
            json_t *ev = NULL, *res;
            if ((long)naccepted == q->limit) {
                more = q->limit > 0;
                break;
            }
            cursor = q->by_rank ? cursor + 1 : hits[i].pos;
            scanned++;
            if (!sr || store_event_at(r->hs->store, hits[i].pos, &e) != STORE_OK ||
                !accept_hit(r, q, sr, ignored, &e, &ev)) {
                store_event_clear(&e);
                continue;
            }
            res = json_pack("{s:f, s:o}", "rank", hits[i].rank, "result", ev);
            if (q->context) {
                json_t *ctx = context_of(r, q, sr, &e, ev);
                if (!ctx) {
                    json_decref(res);
                    store_event_clear(&e);
                    free(hits);
                    goto out;
                }
                json_object_set_new(res, "context", ctx);
            }
            json_array_append_new(results, res);
            accepted[naccepted++] = hits[i];
            store_event_clear(&e);
        }
        free(hits);
        if (more || n < sq.max || q->limit == 0)
            break; /* a further hit was seen, or there are no more */
        if (scanned >= MAX_SCAN) {
            more = true;
            break;
        }
    }
    if (store_search_highlights(r->hs->store, &sq, accepted, naccepted, &words, &nwords) !=
        STORE_OK)
        goto out;
    for (size_t i = 0; i < nwords; i++)
        json_array_append_new(highlights, json_string(words[i]));
    if (q->include_state) {
        state = json_object();
        for (size_t i = 0; i < naccepted; i++) {
            struct search_room *sr = room_of(rooms, nrooms, accepted[i].room_id);
            if (!json_object_get(state, sr->room_id))
                json_object_set_new(state, sr->room_id, room_state(r, sr));
        }
    }
    if (q->group_room || q->group_sender) {
        groups = json_object();
        if (q->group_room)
            json_object_set_new(groups, "room_id",
                                groups_by(q, results, "room_id", 'R', cursor, more));
        if (q->group_sender)
            json_object_set_new(groups, "sender",
                                groups_by(q, results, "sender", 'S', cursor, more));
    }
    out = json_pack("{s:I, s:o, s:o}", "count", (json_int_t)count, "highlights", highlights,
                    "results", results);
    highlights = results = NULL;
    if (state)
        json_object_set_new(out, "state", state);
    if (groups)
        json_object_set_new(out, "groups", groups);
    state = groups = NULL;
    /* SPEC: "If this field is absent, there are no more results." */
    if (more)
        json_object_set_new(out, "next_batch",
                            token_json(q, cursor,
                                       q->only_room     ? 'R'
                                       : q->only_sender ? 'S'
                                                        : 0,
                                       q->only_room ? q->only_room : q->only_sender));
    failed = false;
out:
    if (failed) {
        json_decref(out);
        out = NULL;
    }
    json_decref(results);
    json_decref(highlights);
    json_decref(state);
    json_decref(groups);
    json_decref(ignored);
    free(rooms);
    visibility_rooms_free(vrooms, nvrooms);
    free(ranges);
    free(accepted);
    store_strings_free(words, nwords);
    return out;
}

/* POST /_matrix/client/r0/search */
void
search_post(struct req *r)
{
    struct search_req q = {0};
    json_t *re;
    int rc = parse_request_or_reply(r, &q);

    if (rc < 0)
        goto out;
    if (rc == 1) {
        reply_json(r, 200, json_pack("{s:{}}", "search_categories"));
        goto out;
    }
    if (!(re = search_room_events(r, &q))) {
        reply_internal(r, "search failed");
        goto out;
    }
    reply_json(r, 200, json_pack("{s:{s:o}}", "search_categories", "room_events", re));
out:
    filter_clear(&q.filter);
    free(q.only_room);
    free(q.only_sender);
}
