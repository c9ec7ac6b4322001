/* old_sync.yaml and peeking_events.yaml: the deprecated event stream (GET /events, also used
 * to peek into world-readable rooms), GET /initialSync and GET /events/{eventId}. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/longpoll.h"
#include "api/rooms_common.h"
#include "api/visibility.h"
#include "core/util.h"
#include "json/json.h"
#include "rooms/rooms.h"
#include "store/store.h"
#include "sync/token.h"

#define EVENTS_LIMIT 100
#define INITIAL_SYNC_DEFAULT_LIMIT 10

/* Collected events of several rooms, to be put in stream order. */
struct collected {
    struct store_event *ev;
    size_t n, cap;
};

static void
collected_free(struct collected *c)
{
    store_event_list_free(c->ev, c->n);
    memset(c, 0, sizeof(*c));
}

static void
collect(struct collected *c, struct store_event *e)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->ev = xrealloc(c->ev, c->cap * sizeof(*c->ev));
    }
    c->ev[c->n++] = *e;
    memset(e, 0, sizeof(*e));
}

/* The visible events of one room in (from, upto], at most EVENTS_LIMIT + 1 of them: more than
 * a page is enough to know the page is full. */
static int
room_events_after(struct req *r, const char *room_id, int64_t from, int64_t upto,
                  struct collected *c)
{
    struct visibility vis = {0};
    struct store_event *list = NULL;
    size_t n = 0, kept = 0;
    int64_t cursor = from;
    int rc = -1;

    if (rooms_last_pos(r->hs->rooms, room_id) <= from)
        return 0;
    if (visibility_load(r, room_id, r->user_id, &vis) != 0)
        goto out;
    while (kept <= EVENTS_LIMIT) {
        if (store_room_events(r->hs->store, room_id, cursor, upto, false, EVENTS_LIMIT + 1, &list,
                              &n) != STORE_OK)
            goto out;
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            cursor = list[i].pos;
            if (visibility_allows(&vis, &list[i])) {
                collect(c, &list[i]);
                kept++;
            }
        }
        store_event_list_free(list, n);
        list = NULL;
        n = 0;
    }
    rc = 0;
out:
    store_event_list_free(list, n);
    visibility_clear(&vis);
    return rc;
}

static int
by_pos(const void *a, const void *b)
{
    const struct store_event *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Peeking: a non-member may read a room only while it is world_readable; members as usual. */
static bool
peek_allowed_or_reply(struct req *r, const char *room_id)
{
    struct visibility vis;
    bool ok;

    /* An unknown room is not world readable either: the same answer (issue 12). */
    if (!rooms_version(r->hs->rooms, room_id)) {
        reply_error(r, MERR_FORBIDDEN, "The room is not world readable");
        return false;
    }
    if (visibility_load(r, room_id, r->user_id, &vis) != 0) {
        reply_internal(r, "visibility lookup failed");
        return false;
    }
    ok = (vis.membership_now && strcmp(vis.membership_now, "join") == 0) ||
         strcmp(vis.visibility_now, "world_readable") == 0;
    visibility_clear(&vis);
    if (!ok)
        reply_error(r, MERR_FORBIDDEN, "The room is not world readable");
    return ok;
}

/* GET /_matrix/client/r0/events */
void
old_sync_events(struct req *r)
{
    const char *from = req_query(r, "from"), *timeout = req_query(r, "timeout");
    const char *room_id = req_query(r, "room_id");
    uint64_t seq = longpoll_begin(r);
    struct sync_token tok;
    int64_t from_pos, now, timeout_ms = 0;
    json_t *chunk = NULL;
    char **rooms = NULL;
    size_t nrooms = 0, limit;
    struct collected c = {0};
    int64_t end_pos;
    char start[32], end[32];

    if (timeout && (util_parse_int64(timeout, &timeout_ms) != 0 || timeout_ms < 0)) {
        reply_error(r, MERR_INVALID_PARAM, "timeout must be a non-negative integer");
        return;
    }
    if (timeout_ms > 5 * 60 * 1000)
        timeout_ms = 5 * 60 * 1000;
    if (store_stream_position(r->hs->store, &now) != STORE_OK) {
        reply_internal(r, "stream position failed");
        return;
    }
    if (from) {
        if (sync_token_parse(from, &tok) != 0) {
            reply_error(r, MERR_INVALID_PARAM, "Invalid from token");
            return;
        }
        from_pos = tok.pos[STREAM_EVENTS] > now ? now : tok.pos[STREAM_EVENTS];
    } else {
        from_pos = now;
    }
    if (room_id && !peek_allowed_or_reply(r, room_id))
        return;
    if (r->is_guest && !room_id) {
        reply_error(r, MERR_GUEST_ACCESS_FORBIDDEN, "Guests may only peek with room_id");
        return;
    }
    if (room_id) {
        if (room_events_after(r, room_id, from_pos, now, &c) != 0)
            goto fail;
    } else {
        struct store_membership *changed = NULL;
        size_t nchanged = 0;
        if (store_user_rooms(r->hs->store, r->user_id, "join", &rooms, &nrooms) != STORE_OK)
            goto fail;
        for (size_t i = 0; i < nrooms; i++)
            if (room_events_after(r, rooms[i], from_pos, now, &c) != 0)
                goto fail;
        /* Rooms left since `from` (their events up to the leaving), and invites: the user's
         * own membership news. */
        if (store_user_membership_changes(r->hs->store, r->user_id, from_pos, &changed,
                                          &nchanged) != STORE_OK)
            goto fail;
        for (size_t i = 0; i < nchanged; i++) {
            const char *m = changed[i].membership;
            int failed = 0;
            if (m && (strcmp(m, "leave") == 0 || strcmp(m, "ban") == 0)) {
                failed = room_events_after(r, changed[i].room_id, from_pos, changed[i].pos, &c);
            } else if (m && strcmp(m, "invite") == 0) {
                struct store_state_interval *hist = NULL;
                size_t nh = 0;
                struct store_event e = {0};
                if (store_state_history(r->hs->store, changed[i].room_id, "m.room.member",
                                        r->user_id, &hist, &nh) == STORE_OK &&
                    nh > 0 && store_event_get(r->hs->store, hist[nh - 1].event_id, &e) == STORE_OK)
                    collect(&c, &e);
                store_event_clear(&e);
                store_state_intervals_free(hist, nh);
            }
            if (failed) {
                store_memberships_free(changed, nchanged);
                goto fail;
            }
        }
        store_memberships_free(changed, nchanged);
    }
    /* One stream order across rooms; a full page ends at its last event, so following `end`
     * loses nothing. */
    if (c.n > 1)
        qsort(c.ev, c.n, sizeof(*c.ev), by_pos);
    end_pos = now;
    if (c.n > EVENTS_LIMIT) {
        end_pos = c.ev[EVENTS_LIMIT - 1].pos;
        limit = EVENTS_LIMIT;
    } else {
        limit = c.n;
    }
    chunk = json_array();
    for (size_t i = 0; i < limit; i++) {
        const struct room_version *v = rooms_version(r->hs->rooms, c.ev[i].room_id);
        json_t *ev = v ? api_event_for_client(r, &c.ev[i], v) : NULL;
        if (ev)
            json_array_append_new(chunk, ev);
    }
    if (json_array_size(chunk) == 0 &&
        longpoll_suspend(r, room_id ? room_id : r->user_id, timeout_ms, seq))
        goto out;
    snprintf(start, sizeof(start), "s%lld", (long long)from_pos);
    snprintf(end, sizeof(end), "s%lld", (long long)end_pos);
    reply_json(r, 200, json_pack("{s:s, s:s, s:O}", "start", start, "end", end, "chunk", chunk));
    goto out;
fail:
    reply_internal(r, "event stream failed");
out:
    collected_free(&c);
    json_decref(chunk);
    store_strings_free(rooms, nrooms);
}

/* GET /_matrix/client/r0/initialSync */
void
old_sync_initial_sync(struct req *r)
{
    static const char *const memberships[] = {"join", "invite", "leave", "ban"};
    const char *limit_s = req_query(r, "limit"), *archived_s = req_query(r, "archived");
    int64_t limit = INITIAL_SYNC_DEFAULT_LIMIT, now;
    bool archived = false;
    json_t *rooms_out = NULL;
    char tok[32];

    if (limit_s && (util_parse_int64(limit_s, &limit) != 0 || limit < 0)) {
        reply_error(r, MERR_INVALID_PARAM, "limit must be a non-negative integer");
        return;
    }
    if (archived_s) {
        if (strcmp(archived_s, "true") != 0 && strcmp(archived_s, "false") != 0) {
            reply_error(r, MERR_INVALID_PARAM, "archived must be true or false");
            return;
        }
        archived = strcmp(archived_s, "true") == 0;
    }
    if (store_stream_position(r->hs->store, &now) != STORE_OK) {
        reply_internal(r, "stream position failed");
        return;
    }
    rooms_out = json_array();
    for (size_t k = 0; k < sizeof(memberships) / sizeof(memberships[0]); k++) {
        char **ids = NULL;
        size_t n = 0;
        if (k >= 2 && !archived)
            break;
        if (store_user_rooms(r->hs->store, r->user_id, memberships[k], &ids, &n) != STORE_OK) {
            reply_internal(r, "room list failed");
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *entry = NULL;
            if (strcmp(memberships[k], "invite") == 0) {
                json_t *ev = rooms_state_get(r->hs->rooms, ids[i], "m.room.member", r->user_id);
                struct store_state_interval *hist = NULL;
                size_t nh = 0;
                entry = json_pack("{s:s, s:s}", "room_id", ids[i], "membership", "invite");
                /* The invite event itself (its ID from the state history, as v3+ events
                 * do not carry one). */
                if (ev &&
                    store_state_history(r->hs->store, ids[i], "m.room.member", r->user_id, &hist,
                                        &nh) == STORE_OK &&
                    nh > 0)
                    json_object_set_new(entry, "invite",
                                        api_full_event_for_client(r, hist[nh - 1].event_id, ev));
                store_state_intervals_free(hist, nh);
                json_decref(ev);
            } else if (api_room_snapshot(r, ids[i], (long)limit, &entry) < 0) {
                store_strings_free(ids, n);
                reply_internal(r, "room snapshot failed");
                goto out;
            }
            if (entry) {
                json_object_set_new(entry, "membership", json_string(memberships[k]));
                json_array_append_new(rooms_out, entry);
            }
        }
        store_strings_free(ids, n);
    }
    snprintf(tok, sizeof(tok), "s%lld", (long long)now);
    reply_json(r, 200,
               json_pack("{s:s, s:O, s:[], s:[]}", "end", tok, "rooms", rooms_out, "presence",
                         "account_data"));
out:
    json_decref(rooms_out);
}

/* GET /_matrix/client/r0/events/{eventId} */
void
old_sync_get_event(struct req *r)
{
    struct store_event e = {0};
    struct visibility vis = {0};
    const struct room_version *v;
    enum store_rc rc = store_event_get(r->hs->store, r->params[0], &e);
    json_t *out;

    if (rc == STORE_ERR) {
        reply_internal(r, "event lookup failed");
        goto out;
    }
    if (rc == STORE_NOT_FOUND || !(v = rooms_version(r->hs->rooms, e.room_id)) ||
        visibility_load(r, e.room_id, r->user_id, &vis) != 0 || !visibility_allows(&vis, &e)) {
        reply_error(r, MERR_NOT_FOUND, "Event not found");
        goto out;
    }
    out = api_event_for_client(r, &e, v);
    if (out)
        reply_json(r, 200, out);
    else
        reply_internal(r, "stored event unreadable");
out:
    visibility_clear(&vis);
    store_event_clear(&e);
}
