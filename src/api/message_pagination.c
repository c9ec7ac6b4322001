/* message_pagination.yaml: GET /rooms/{roomId}/messages. A token "s<P>" is the point just
 * after the event at stream position P: going back from it returns events at P and before,
 * going forward events after P. Positions are one order for the whole server, and on one
 * server a room's topological order is its stream order. */
#include <stdint.h>
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
#define MAX_LIMIT 1000
/* Events hidden by visibility or the filter are skipped, but only so many per request. */
#define MAX_SCAN 5000

int
api_room_events_page(struct req *r, const char *room_id, const struct room_version *v,
                     const struct visibility *vis, const struct event_filter *f, int64_t from,
                     int64_t to, bool backwards, size_t limit, json_t *chunk, int64_t *last_pos)
{
    size_t scanned = 0;
    /* SPEC: ignore_users.rst: ignored users' events are not sent, "with the exception of
     * state events" (Synapse filters /messages and /context too). */
    json_t *ignored = r->user_id ? api_ignored_users(r->hs, r->user_id) : json_object();
    int rc = -1;

    *last_pos = from;
    while (json_array_size(chunk) < limit && scanned < MAX_SCAN) {
        struct store_event *list = NULL;
        size_t n = 0, want = limit - json_array_size(chunk);
        /* The store's bound is exclusive both ways; a token includes its own position
         * going back. */
        int64_t bound = backwards && *last_pos < INT64_MAX ? *last_pos + 1 : *last_pos;
        /* A few more rows than wanted in case some are skipped; not many more, since each
         * row carries its JSON (sync speed, issue 4: an initial sync reads 100 rooms). */
        if (store_room_events(r->hs->store, room_id, bound, to, backwards, want + want / 2 + 2,
                              &list, &n) != STORE_OK)
            goto out;
        for (size_t i = 0; i < n && json_array_size(chunk) < limit; i++) {
            json_t *ev;
            *last_pos = backwards ? list[i].pos - 1 : list[i].pos;
            scanned++;
            if (vis && !visibility_allows(vis, &list[i]))
                continue;
            if (!list[i].state_key && json_object_get(ignored, list[i].sender))
                continue;
            ev = api_event_for_client(r, &list[i], v);
            if (!ev)
                continue;
            if (f && !filter_event_matches(f, room_id, ev))
                json_decref(ev);
            else
                json_array_append_new(chunk, ev);
        }
        store_event_list_free(list, n);
        if (n == 0)
            break;
    }
    rc = 0;
out:
    json_decref(ignored);
    return rc;
}

json_t *
api_lazy_members(struct req *r, const char *room_id, const json_t *chunk)
{
    json_t *state = json_array(), *seen = json_object(), *ev;
    size_t i;

    json_array_foreach(chunk, i, ev)
    {
        const char *sender = json_string_value(json_object_get(ev, "sender"));
        json_t *member;
        if (!sender || json_object_get(seen, sender))
            continue;
        json_object_set_new(seen, sender, json_true());
        member = rooms_state_get(r->hs->rooms, room_id, "m.room.member", sender);
        if (member) {
            json_t *id = json_object_get(member, "event_id");
            struct store_state_interval *hist = NULL;
            size_t nh = 0;
            /* v3+ events carry no event_id: take it from the state history. */
            if (!id &&
                store_state_history(r->hs->store, room_id, "m.room.member", sender, &hist, &nh) ==
                    STORE_OK &&
                nh > 0)
                json_array_append_new(state,
                                      api_full_event_for_client(r, hist[nh - 1].event_id, member));
            else if (id)
                json_array_append_new(state,
                                      api_full_event_for_client(r, json_string_value(id), member));
            store_state_intervals_free(hist, nh);
            json_decref(member);
        }
    }
    json_decref(seen);
    return state;
}

/* Parses ?filter= (inline JSON); replies and returns -1 on error. */
int
api_parse_filter_param_or_reply(struct req *r, struct event_filter *f)
{
    const char *text = req_query(r, "filter");
    json_t *json = NULL;
    char err[256];
    int rc;

    if (text && *text) {
        json = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        if (!json) {
            reply_error(r, MERR_BAD_JSON, "filter is not valid JSON");
            return -1;
        }
    }
    rc = filter_parse(json, f, err, sizeof(err));
    json_decref(json);
    if (rc != 0)
        reply_error(r, MERR_BAD_JSON, "%s", err);
    return rc;
}

/* The limit query parameter; replies and returns -1 if invalid. */
long
api_parse_limit_or_reply(struct req *r, long dflt)
{
    const char *s = req_query(r, "limit");
    int64_t v;

    if (!s)
        return dflt;
    if (util_parse_int64(s, &v) != 0 || v < 0) {
        reply_error(r, MERR_INVALID_PARAM, "limit must be a non-negative integer");
        return -1;
    }
    return v > MAX_LIMIT ? MAX_LIMIT : (long)v;
}

/* GET /_matrix/client/r0/rooms/{roomId}/messages */
void
message_pagination_get(struct req *r)
{
    const char *room_id = r->params[0], *from = req_query(r, "from"), *to = req_query(r, "to");
    const char *dir = req_query(r, "dir");
    const struct room_version *v;
    struct visibility vis = {0};
    struct event_filter f = {0};
    int64_t from_pos, to_pos, last, now;
    long limit;
    bool backwards;
    json_t *chunk = NULL, *out;
    char tok[32];

    if (!dir || (strcmp(dir, "b") != 0 && strcmp(dir, "f") != 0)) {
        reply_error(r, dir ? MERR_INVALID_PARAM : MERR_MISSING_PARAM, "dir must be 'b' or 'f'");
        return;
    }
    backwards = dir[0] == 'b';
    if ((limit = api_parse_limit_or_reply(r, DEFAULT_LIMIT)) < 0)
        return;
    if (api_parse_filter_param_or_reply(r, &f) != 0)
        return;
    if (f.limit >= 0 && f.limit < limit)
        limit = f.limit;
    if (!(v = api_member_room_or_reply(r, room_id)))
        goto out;
    if (store_stream_position(r->hs->store, &now) != STORE_OK) {
        reply_internal(r, "stream position failed");
        goto out;
    }
    /* Later specs let `from` be omitted: from the end going back, the start going forward. */
    from_pos = from ? api_parse_stream_token(from) : (backwards ? now : 0);
    to_pos = to ? api_parse_stream_token(to) : (backwards ? 0 : INT64_MAX);
    if (from_pos < 0 || to_pos < 0) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid pagination token");
        goto out;
    }
    if (visibility_load(r, room_id, r->user_id, &vis) != 0) {
        reply_internal(r, "visibility lookup failed");
        goto out;
    }
    if (!visibility_any(&vis)) {
        reply_error(r, MERR_FORBIDDEN, "You are not allowed to view this room");
        goto out;
    }
    chunk = json_array();
    if (api_room_events_page(r, room_id, v, &vis, &f, from_pos, to_pos, backwards, (size_t)limit,
                             chunk, &last) != 0) {
        reply_internal(r, "event lookup failed");
        goto out;
    }
    snprintf(tok, sizeof(tok), "s%lld", (long long)from_pos);
    out = json_pack("{s:s}", "start", tok);
    snprintf(tok, sizeof(tok), "s%lld", (long long)last);
    json_object_set_new(out, "end", json_string(tok));
    if (f.lazy_load_members)
        json_object_set_new(out, "state", api_lazy_members(r, room_id, chunk));
    json_object_set_new(out, "chunk", chunk);
    chunk = NULL;
    reply_json(r, 200, out);
out:
    json_decref(chunk);
    visibility_clear(&vis);
    filter_clear(&f);
}
