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

/* New visible events of one room after `from`, oldest first, appended to chunk. */
static int
room_events_after(struct req *r, const char *room_id, int64_t from, int64_t upto, json_t *chunk)
{
    const struct room_version *v = rooms_version(r->hs->rooms, room_id);
    struct visibility vis = {0};
    int64_t last;
    int rc = -1;

    if (!v)
        return 0;
    if (rooms_last_pos(r->hs->rooms, room_id) <= from)
        return 0;
    if (visibility_load(r, room_id, r->user_id, &vis) == 0)
        rc = api_room_events_page(r, room_id, v, &vis, NULL, from, upto, false, EVENTS_LIMIT, chunk,
                                  &last);
    visibility_clear(&vis);
    return rc;
}

/* Events sorted by their position in the stream, so several rooms interleave rightly. */
static int
by_age(const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
    json_int_t tx = json_integer_value(json_object_get(x, "origin_server_ts"));
    json_int_t ty = json_integer_value(json_object_get(y, "origin_server_ts"));
    return tx < ty ? -1 : tx > ty;
}

/* Peeking: a non-member may read a room only while it is world_readable; members as usual. */
static bool
peek_allowed_or_reply(struct req *r, const char *room_id)
{
    struct visibility vis;
    bool ok;

    if (!rooms_version(r->hs->rooms, room_id)) {
        reply_error(r, MERR_NOT_FOUND, "Unknown room");
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
    size_t nrooms = 0;
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
    chunk = json_array();
    if (room_id) {
        if (room_events_after(r, room_id, from_pos, now, chunk) != 0)
            goto fail;
    } else {
        struct store_membership *left = NULL;
        size_t nleft = 0;
        if (store_user_rooms(r->hs->store, r->user_id, "join", &rooms, &nrooms) != STORE_OK)
            goto fail;
        for (size_t i = 0; i < nrooms; i++)
            if (room_events_after(r, rooms[i], from_pos, now, chunk) != 0)
                goto fail;
        /* Rooms left since `from`: their events up to the leaving. */
        if (store_user_membership_changes(r->hs->store, r->user_id, from_pos, &left, &nleft) !=
            STORE_OK)
            goto fail;
        for (size_t i = 0; i < nleft; i++) {
            if (!left[i].membership || (strcmp(left[i].membership, "leave") != 0 &&
                                        strcmp(left[i].membership, "ban") != 0))
                continue;
            if (room_events_after(r, left[i].room_id, from_pos, left[i].pos, chunk) != 0) {
                store_memberships_free(left, nleft);
                goto fail;
            }
        }
        store_memberships_free(left, nleft);
        if (json_array_size(chunk) > 1) {
            size_t n = json_array_size(chunk);
            json_t **items = xmalloc(n * sizeof(*items));
            for (size_t i = 0; i < n; i++)
                items[i] = json_incref(json_array_get(chunk, i));
            qsort(items, n, sizeof(*items), by_age);
            json_array_clear(chunk);
            for (size_t i = 0; i < n; i++)
                json_array_append_new(chunk, items[i]);
            free(items);
        }
    }
    if (json_array_size(chunk) == 0 &&
        longpoll_suspend(r, room_id ? room_id : r->user_id, timeout_ms, seq))
        goto out;
    snprintf(start, sizeof(start), "s%lld", (long long)from_pos);
    snprintf(end, sizeof(end), "s%lld", (long long)now);
    reply_json(r, 200, json_pack("{s:s, s:s, s:O}", "start", start, "end", end, "chunk", chunk));
    goto out;
fail:
    reply_internal(r, "event stream failed");
out:
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
