/* Helpers shared by the room modules' handlers. */
#ifndef HEARTH_API_ROOMS_COMMON_H
#define HEARTH_API_ROOMS_COMMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"
#include "rooms/rooms.h"
#include "store/store.h"

/* Replies with the Matrix error for a failed rooms_* call. */
void api_reply_rooms_error(struct req *r, enum rooms_rc rc, const char *reason);
/* Sends one event from r->user_id, waiting in this thread for its commit; returns its ID (new
 * string) or NULL after replying. Handlers that can be resumed use api_send_start (below). */
char *api_send_event_or_reply(struct req *r, const char *room_id, const char *type,
                              const char *state_key, const json_t *content, const char *redacts);
/* The client format of a stored event with unsigned (age, redacted_because, prev_content...),
 * redacted if it was. New reference, or NULL if the stored JSON is unreadable. */
json_t *api_event_for_client(struct req *r, const struct store_event *e,
                             const struct room_version *v);
/* Same for a full event known by ID and JSON (state from the cache); pos unknown. */
json_t *api_full_event_for_client(struct req *r, const char *event_id, const json_t *ev);
/* Checks a room ID's grammar ("!opaque:server"); replies 400 and returns false if bad. */
bool api_room_id_ok_or_reply(struct req *r, const char *room_id);
/* The room's version, or NULL after replying 404 M_NOT_FOUND / 403. */
const struct room_version *api_room_or_reply(struct req *r, const char *room_id);
/* The same for endpoints only members may use: an unknown room answers 403 M_FORBIDDEN, as
 * a room the user is not in does, so a non-member cannot tell which rooms exist (issue 12).
 * SPEC: r0.6.1 lists only 403 for these ("You aren't a member of the room"). */
const struct room_version *api_member_room_or_reply(struct req *r, const char *room_id);
#define API_NOT_MEMBER "You are not a member of this room"

struct visibility;
struct event_filter;
/* Collects into chunk up to limit events of the room from token position `from` towards `to`
 * (a token P is just after the event at P: back from it includes P, forward excludes it),
 * skipping those the user may not see (vis) or the filter rejects; *last_pos is the token
 * after the last event examined (the next page's token). 0, or -1 on storage error. */
int api_room_events_page(struct req *r, const char *room_id, const struct room_version *v,
                         const struct visibility *vis, const struct event_filter *f, int64_t from,
                         int64_t to, bool backwards, size_t limit, json_t *chunk,
                         int64_t *last_pos);
/* The current m.room.member events of the senders in chunk (lazy-loading members). */
json_t *api_lazy_members(struct req *r, const char *room_id, const json_t *chunk);
/* ?filter= as a RoomEventFilter; replies and returns -1 if invalid. */
int api_parse_filter_param_or_reply(struct req *r, struct event_filter *f);
/* ?limit=, dflt when absent, capped; replies and returns -1 if invalid. */
long api_parse_limit_or_reply(struct req *r, long dflt);
/* Parses a stream token ("s<position>"); -1 if malformed. */
int64_t api_parse_stream_token(const char *token);
/* Transaction IDs (idempotent sends): the request's key, and the token's hash. */
struct api_txn {
    char token_hash[65];
    char *key; /* owned */
    struct store_txn_ref ref;
    int slot; /* its bucket among the transactions in flight (room_send.c), or -1 */
    struct api_txn *next_flight;
};
/* If this access token already sent this txnId for this request, replies with that event's ID
 * and returns true; also true after a 500 when the lookup itself failed. Otherwise fills t
 * (free with api_txn_clear) for the send to record. */
bool api_txn_replay(struct req *r, const char *txn_id, struct api_txn *t);
/* The send is done (committed or failed): retries of the same transaction may look now.
 * api_txn_clear does it too. */
void api_txn_release(struct api_txn *t);
void api_txn_clear(struct api_txn *t);
#define API_TXN_INIT                                                                               \
    {                                                                                              \
        .slot = -1                                                                                 \
    }

/* Sending without holding the thread while the commit runs (room_send.c). A handler calls
 * api_send_begin (which gives its transaction, for api_txn_replay if it has one), then
 * api_send_start: true means the request is suspended; the handler returns, and runs again
 * with r->resumed once the commit has ended. Then (or at once, when api_send_start returned
 * false) api_send_result gives the event's ID (a new string), or NULL after replying. The
 * strings passed stay borrowed until then; content is referenced. */
struct api_txn *api_send_begin(struct req *r);
bool api_send_start(struct req *r, const char *room_id, const char *type, const char *state_key,
                    const json_t *content, const char *redacts);
char *api_send_result(struct req *r);

#endif
