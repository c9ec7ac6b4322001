/* room_send.yaml and room_state.yaml: sending message and state events. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "store/store.h"
#include "rooms/rooms.h"
#include "http/http.h"

/* The key a transaction is remembered under: the request it came with (as Synapse keys it:
 * the same txnId in another room, or for a redaction, is another transaction). */
static char *
txn_key(struct req *r, const char *txn_id)
{
    return xasprintf("%s\x1f%s\x1f%s\x1f%s", r->route->pattern, r->params[0],
                     r->params[1] ? r->params[1] : "", txn_id);
}

/* Retries of one transaction must not both send. A transaction being sent is in this table
 * from its check until its commit has ended (done or failed), and a retry waits there, then
 * finds the stored answer. Not a lock held across the send: a message's thread serves other
 * connections while its commit runs (room_send_message), so the entry leaves from the
 * writer's side. */
#define TXN_BUCKETS 256
static struct api_txn *flights[TXN_BUCKETS];
static pthread_mutex_t flight_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flight_done = PTHREAD_COND_INITIALIZER;

static int
bucket_of(const char *a, const char *b)
{
    size_t h = 5381;
    for (const char *p = a; *p; p++)
        h = h * 33 + (unsigned char)*p;
    for (const char *p = b; *p; p++)
        h = h * 33 + (unsigned char)*p;
    return (int)(h % TXN_BUCKETS);
}

static bool
in_flight(int b, const struct api_txn *t)
{
    for (const struct api_txn *f = flights[b]; f; f = f->next_flight)
        if (strcmp(f->token_hash, t->token_hash) == 0 && strcmp(f->key, t->key) == 0)
            return true;
    return false;
}

bool
api_txn_replay(struct req *r, const char *txn_id, struct api_txn *t)
{
    char *event_id = NULL;
    int b;

    /* SPEC: transaction IDs are scoped to the access token. */
    util_sha256_hex(r->access_token, strlen(r->access_token), t->token_hash);
    t->key = txn_key(r, txn_id);
    t->ref = (struct store_txn_ref){t->token_hash, t->key, txn_id};
    b = bucket_of(t->token_hash, t->key);
    pthread_mutex_lock(&flight_lock);
    while (in_flight(b, t))
        pthread_cond_wait(&flight_done, &flight_lock);
    t->next_flight = flights[b];
    flights[b] = t;
    t->slot = b;
    pthread_mutex_unlock(&flight_lock);
    if (store_txn_get(r->hs->store, t->token_hash, t->key, &event_id) != STORE_OK)
        return false;
    reply_json(r, 200, json_pack("{s:s}", "event_id", event_id));
    free(event_id);
    return true;
}

void
api_txn_release(struct api_txn *t)
{
    if (t->slot < 0)
        return;
    pthread_mutex_lock(&flight_lock);
    for (struct api_txn **pp = &flights[t->slot]; *pp; pp = &(*pp)->next_flight)
        if (*pp == t) {
            *pp = t->next_flight;
            break;
        }
    t->slot = -1;
    pthread_cond_broadcast(&flight_done);
    pthread_mutex_unlock(&flight_lock);
}

void
api_txn_clear(struct api_txn *t)
{
    api_txn_release(t);
    free(t->key);
    t->key = NULL;
}

/* A message's connection is suspended while its commit runs (its thread serves other
 * connections meanwhile, as with long-polls), and resumed from the writer's side once the
 * commit is on disk; the handler then runs again and answers. */
struct send_async {
    struct rooms_sending *s;
    struct api_txn t;
};

static void
send_async_free(void *arg)
{
    struct send_async *sa = arg;
    char reason[256];

    /* Not answered (the connection went away after the commit): the send still completes. */
    if (sa->s)
        rooms_send_finish(sa->s, NULL, reason, sizeof(reason));
    api_txn_clear(&sa->t);
    free(sa);
}

static void
send_suspend(void *arg)
{
    req_suspend(arg);
}

/* On the writer's side, the job done: a retry waiting for this txnId may look now. */
static void
send_done(void *arg)
{
    struct req *r = arg;
    struct send_async *sa = r->ctx;

    api_txn_release(&sa->t);
    req_resume(r);
}

static void
send_answer(struct req *r, struct send_async *sa)
{
    char reason[256] = "", **ids = NULL;
    enum rooms_rc rc = rooms_send_finish(sa->s, &ids, reason, sizeof(reason));

    sa->s = NULL;
    if (rc != ROOMS_OK) {
        api_reply_rooms_error(r, rc, reason);
        return;
    }
    /* SPEC: modules/presence.rst: last_active_ago counts from the user's last activity; a
     * message is activity, as in Synapse. */
    api_presence_active(r->hs, r->user_id);
    reply_json(r, 200, json_pack("{s:s}", "event_id", ids[0]));
    rooms_ids_free(ids, 1);
}

/* PUT /_matrix/client/r0/rooms/{roomId}/send/{eventType}/{txnId} */
void
room_send_message(struct req *r)
{
    const char *room_id = r->params[0], *type = r->params[1], *txn = r->params[2];
    struct rooms_proto p = {r->user_id, type, NULL, r->json, NULL};
    struct send_async *sa;
    char reason[256] = "";
    enum rooms_rc rc;

    if (r->resumed) {
        send_answer(r, r->ctx);
        return;
    }
    if (!*type || !*txn) {
        reply_error(r, MERR_INVALID_PARAM, "eventType and txnId must not be empty");
        return;
    }
    /* SPEC: guest_access: guests may send m.room.message only. */
    if (r->is_guest && strcmp(type, "m.room.message") != 0) {
        reply_error(r, MERR_GUEST_ACCESS_FORBIDDEN, "Guests may only send m.room.message");
        return;
    }
    if (!api_room_id_ok_or_reply(r, room_id))
        return;
    sa = xcalloc(1, sizeof(*sa));
    sa->t = (struct api_txn)API_TXN_INIT;
    r->ctx = sa;
    r->ctx_free = send_async_free;
    if (api_txn_replay(r, txn, &sa->t)) {
        api_txn_release(&sa->t);
        return;
    }
    rc = rooms_send_start(r->hs->rooms, room_id, &p, &sa->t.ref, send_suspend, send_done, r, &sa->s,
                          reason, sizeof(reason));
    if (rc == ROOMS_DONE_NOW)
        send_answer(r, sa);
    else if (rc != ROOMS_OK)
        api_reply_rooms_error(r, rc, reason);
    /* Answered here: let a retry look now, not when the response has gone out (a retry on
     * another connection of this thread would wait for this thread). Suspended: the writer's
     * side lets it go (send_done). */
    if (!r->suspended)
        api_txn_release(&sa->t);
}

/* PUT /_matrix/client/r0/rooms/{roomId}/state/{eventType}/{stateKey} (and without stateKey) */
void
room_send_state(struct req *r)
{
    const char *room_id = r->params[0], *type = r->params[1];
    const char *state_key = r->params[2] ? r->params[2] : "";
    char *id;

    if (!*type) {
        reply_error(r, MERR_INVALID_PARAM, "eventType must not be empty");
        return;
    }
    if (!api_room_id_ok_or_reply(r, room_id))
        return;
    /* SPEC: m.room.canonical_alias aliases must exist and point to the room (M_BAD_ALIAS). */
    if (strcmp(type, "m.room.canonical_alias") == 0 && strcmp(state_key, "") == 0 &&
        !directory_canonical_alias_ok_or_reply(r, room_id, r->json))
        return;
    id = api_send_event_or_reply(r, room_id, type, state_key, r->json, NULL);
    if (!id)
        return;
    if (strcmp(type, "m.room.guest_access") == 0 && strcmp(state_key, "") == 0 &&
        !api_guest_may_join(r->hs->rooms, room_id))
        api_part_guests(r->hs, room_id);
    api_presence_active(r->hs, r->user_id);
    reply_json(r, 200, json_pack("{s:s}", "event_id", id));
    free(id);
}
