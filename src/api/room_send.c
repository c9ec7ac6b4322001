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
    switch (store_txn_get(r->hs->store, t->token_hash, t->key, &event_id)) {
    case STORE_OK:
        break;
    case STORE_NOT_FOUND:
        return false;
    default:
        /* Not knowing whether it was sent, sending could store it twice: the client retries. */
        reply_internal(r, "transaction lookup failed");
        return true;
    }
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

/* A send's connection is suspended while its commit runs (its thread serves other
 * connections meanwhile, as with long-polls), and resumed from the writer's side once the
 * commit is on disk; the handler then runs again and answers (rooms_common.h). */
struct api_send {
    struct rooms_sending *s;
    struct api_txn t;
    json_t *content;  /* a reference held until the send has ended */
    enum rooms_rc rc; /* of rooms_send_start, when it refused the event */
    char reason[256];
};

static void
api_send_free(void *arg)
{
    struct api_send *sa = arg;
    char reason[256];

    /* Not answered (the connection went away after the commit): the send still completes. */
    if (sa->s)
        rooms_send_finish(sa->s, NULL, reason, sizeof(reason));
    api_txn_clear(&sa->t);
    json_decref(sa->content);
    free(sa);
}

struct api_txn *
api_send_begin(struct req *r)
{
    struct api_send *sa = xcalloc(1, sizeof(*sa));

    sa->t = (struct api_txn)API_TXN_INIT;
    r->ctx = sa;
    r->ctx_free = api_send_free;
    return &sa->t;
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
    struct api_send *sa = r->ctx;

    api_txn_release(&sa->t);
    req_resume(r);
}

bool
api_send_start(struct req *r, const char *room_id, const char *type, const char *state_key,
               const json_t *content, const char *redacts)
{
    struct api_send *sa = r->ctx;
    struct rooms_proto p = {r->user_id, type, state_key, content, redacts};

    sa->content = json_incref((json_t *)content);
    sa->rc = rooms_send_start(r->hs->rooms, room_id, &p, sa->t.slot >= 0 ? &sa->t.ref : NULL,
                              send_suspend, send_done, r, &sa->s, sa->reason, sizeof(sa->reason));
    return sa->rc == ROOMS_OK;
}

char *
api_send_result(struct req *r)
{
    struct api_send *sa = r->ctx;
    char **ids = NULL, *id;
    enum rooms_rc rc = sa->rc;

    if (sa->s) {
        rc = rooms_send_finish(sa->s, &ids, sa->reason, sizeof(sa->reason));
        sa->s = NULL;
    }
    /* The answer is known: a retry may look now, not when the response has gone out (a retry
     * on another connection of this thread would wait for this thread). */
    api_txn_release(&sa->t);
    if (rc != ROOMS_OK) {
        api_reply_rooms_error(r, rc, sa->reason);
        return NULL;
    }
    id = ids[0];
    free(ids);
    return id;
}

/* PUT /_matrix/client/r0/rooms/{roomId}/send/{eventType}/{txnId} */
void
room_send_message(struct req *r)
{
    const char *room_id = r->params[0], *type = r->params[1], *txn = r->params[2];
    char *id;

    if (!r->resumed) {
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
        struct api_txn *t = api_send_begin(r);
        if (api_txn_replay(r, txn, t)) {
            api_txn_release(t);
            return;
        }
        if (api_send_start(r, room_id, type, NULL, r->json, NULL))
            return; /* suspended */
    }
    if (!(id = api_send_result(r)))
        return;
    /* SPEC: modules/presence.rst: last_active_ago counts from the user's last activity; a
     * message is activity, as in Synapse. */
    api_presence_active(r->hs, r->user_id);
    reply_json(r, 200, json_pack("{s:s}", "event_id", id));
    free(id);
}

/* PUT /_matrix/client/r0/rooms/{roomId}/state/{eventType}/{stateKey} (and without stateKey) */
void
room_send_state(struct req *r)
{
    const char *room_id = r->params[0], *type = r->params[1];
    const char *state_key = r->params[2] ? r->params[2] : "";
    char *id;

    if (!r->resumed) {
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
        api_send_begin(r);
        if (api_send_start(r, room_id, type, state_key, r->json, NULL))
            return; /* suspended */
    }
    if (!(id = api_send_result(r)))
        return;
    if (strcmp(type, "m.room.guest_access") == 0 && strcmp(state_key, "") == 0 &&
        !api_guest_may_join(r->hs->rooms, room_id))
        api_part_guests(r->hs, room_id);
    api_presence_active(r->hs, r->user_id);
    reply_json(r, 200, json_pack("{s:s}", "event_id", id));
    free(id);
}
