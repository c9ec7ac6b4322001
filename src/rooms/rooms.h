/* The room service: a per-room cache of current state (so auth checks never read the
 * database), and the pipeline that turns what a client asks for into signed, authorized,
 * persisted events. One mutex per room orders its events. */
#ifndef HEARTH_ROOMS_ROOMS_H
#define HEARTH_ROOMS_ROOMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/signing_key.h"
#include "room/version.h"

struct store;
struct store_txn_ref;
struct rooms;

enum rooms_rc {
    ROOMS_OK = 0,
    ROOMS_UNKNOWN_ROOM, /* no such room here */
    ROOMS_FORBIDDEN,    /* the authorization rules refused an event */
    ROOMS_INVALID,      /* not a valid event (non-canonical values, bad fields) */
    ROOMS_TOO_LARGE,    /* over the size limits of an event or one of its fields */
    ROOMS_ERR,          /* storage failed; logged */
    ROOMS_DONE_NOW,     /* rooms_send_start: its commit has ended already */
};

/* What a client asks to send. Strings and content are borrowed. */
struct rooms_proto {
    const char *sender;
    const char *type;
    const char *state_key; /* NULL for a message event */
    const json_t *content;
    const char *redacts; /* m.room.redaction only */
};

struct rooms *rooms_new(struct store *st, const char *server_name, const struct signing_key *key);
/* Called after every commit with the users the new events concern (the room's joined and
 * invited members, and anyone whose membership changed) and their notifier_user_hash; the
 * sync notifier listens. The arrays are borrowed for the call. */
void rooms_set_listener(struct rooms *rs,
                        void (*fn)(void *arg, const char *const *users, const size_t *hashes,
                                   size_t n),
                        void *arg);
/* The stream position of the room's latest event (0 if unknown room). */
int64_t rooms_last_pos(struct rooms *rs, const char *room_id);
void rooms_free(struct rooms *rs);

/* Sends events into an existing room: all are authorized in order against the state the
 * earlier ones produce, then persisted in one transaction, or none is; it returns once they
 * are durable. txn (optional) records the client's transaction ID for the last event in the
 * same transaction. event_ids (optional) receives a new array of n new strings (free with
 * rooms_ids_free). On ROOMS_FORBIDDEN or ROOMS_INVALID, reason says why. */
enum rooms_rc rooms_send(struct rooms *rs, const char *room_id, const struct rooms_proto *protos,
                         size_t n, const struct store_txn_ref *txn, char ***event_ids, char *reason,
                         size_t reasonlen);
/* One event, sent without waiting in this thread for its commit.
 * ROOMS_OK: *out is pending; suspend(arg) has run, and done(arg) runs on the writer's side
 * once the commit has ended; then rooms_send_finish gives the outcome and frees *out.
 * ROOMS_DONE_NOW: committed (or failed) in this thread; call rooms_send_finish at once.
 * Other codes: refused, *out NULL. */
struct rooms_sending;
enum rooms_rc rooms_send_start(struct rooms *rs, const char *room_id,
                               const struct rooms_proto *proto, const struct store_txn_ref *txn,
                               void (*suspend)(void *), void (*done)(void *), void *arg,
                               struct rooms_sending **out, char *reason, size_t reasonlen);
enum rooms_rc rooms_send_finish(struct rooms_sending *s, char ***event_ids, char *reason,
                                size_t reasonlen);
/* Creates the room with protos[0] its m.room.create event and the rest its initial events. */
enum rooms_rc rooms_create(struct rooms *rs, const char *room_id, const struct room_version *v,
                           const struct rooms_proto *protos, size_t n, char ***event_ids,
                           char *reason, size_t reasonlen);
void rooms_ids_free(char **ids, size_t n);

/* The room's version, or NULL for an unknown room. */
const struct room_version *rooms_version(struct rooms *rs, const char *room_id);
/* The room's version in *v: ROOMS_OK, ROOMS_UNKNOWN_ROOM, or ROOMS_ERR when storage failed
 * (which rooms_version cannot tell from an unknown room). */
enum rooms_rc rooms_lookup(struct rooms *rs, const char *room_id, const struct room_version **v);
/* A copy of the current state event (full event) for (type, state_key), or NULL. */
json_t *rooms_state_get(struct rooms *rs, const char *room_id, const char *type,
                        const char *state_key);
/* A copy of the content of that state event, or NULL. */
json_t *rooms_state_content(struct rooms *rs, const char *room_id, const char *type,
                            const char *state_key);
/* The user's current membership ("join", "invite", "leave", "ban"), new string, or NULL. */
char *rooms_membership(struct rooms *rs, const char *room_id, const char *user_id);
/* Current state as {type: {state_key: {"event_id": ..., "event": <full event>}}}, a new
 * reference the caller may read (and must not modify), or NULL for an unknown room. */
json_t *rooms_current_state(struct rooms *rs, const char *room_id);
/* The room summary for user_id (sync.yaml): m.heroes (up to max_heroes other members, in the
 * order they arrived; the left and banned when nobody else is joined or invited),
 * m.joined_member_count, m.invited_member_count. New reference; NULL for an unknown room. */
json_t *rooms_member_summary(struct rooms *rs, const char *room_id, const char *user_id,
                             size_t max_heroes);
/* Drops the cached room (after a failed write whose outcome is unknown). */
void rooms_forget_cache(struct rooms *rs, const char *room_id);

/* ---- push (issue 8) ---- */
struct store_push_event;
/* Push rule evaluation, done for each event as it is built (under the room's lock, with the
 * room's state including the event), so its notifications are stored in the event's own
 * transaction. evaluate returns an opaque note (NULL: nobody to notify) that owns *push, what
 * to store; after the commit, committed takes the note with the event's stream position; if
 * the event is not stored, discard frees it. */
struct rooms_push_hook {
    void *(*evaluate)(void *arg, const char *room_id, const char *event_id, const json_t *event,
                      const json_t *state, const struct store_push_event **push);
    void (*committed)(void *arg, void *note, int64_t pos);
    void (*discard)(void *arg, void *note);
    void *arg;
};
/* Copies the hook; set before serving. */
void rooms_set_push_hook(struct rooms *rs, const struct rooms_push_hook *hook);
/* ---- (end of push) ---- */

#endif
