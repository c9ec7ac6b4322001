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

/* The key a transaction is remembered under: the request it came with (as Synapse keys it:
 * the same txnId in another room, or for a redaction, is another transaction). */
static char *
txn_key(struct req *r, const char *txn_id)
{
    return xasprintf("%s\x1f%s\x1f%s\x1f%s", r->route->pattern, r->params[0],
                     r->params[1] ? r->params[1] : "", txn_id);
}

/* Retries of one transaction must not both send: the check and the send's commit happen
 * under a lock chosen by the transaction, striped so unrelated sends rarely share one. */
#define TXN_STRIPES 256
static pthread_mutex_t txn_locks[TXN_STRIPES];
static pthread_once_t txn_locks_once = PTHREAD_ONCE_INIT;

static void
txn_locks_init(void)
{
    for (size_t i = 0; i < TXN_STRIPES; i++)
        pthread_mutex_init(&txn_locks[i], NULL);
}

static int
stripe_of(const char *a, const char *b)
{
    size_t h = 5381;
    for (const char *p = a; *p; p++)
        h = h * 33 + (unsigned char)*p;
    for (const char *p = b; *p; p++)
        h = h * 33 + (unsigned char)*p;
    return (int)(h % TXN_STRIPES);
}

bool
api_txn_replay(struct req *r, const char *txn_id, struct api_txn *t)
{
    char *event_id = NULL;

    /* SPEC: transaction IDs are scoped to the access token. */
    util_sha256_hex(r->access_token, strlen(r->access_token), t->token_hash);
    t->key = txn_key(r, txn_id);
    t->ref = (struct store_txn_ref){t->token_hash, t->key, txn_id};
    t->stripe = stripe_of(t->token_hash, t->key);
    pthread_once(&txn_locks_once, txn_locks_init);
    pthread_mutex_lock(&txn_locks[t->stripe]);
    if (store_txn_get(r->hs->store, t->token_hash, t->key, &event_id) != STORE_OK)
        return false;
    reply_json(r, 200, json_pack("{s:s}", "event_id", event_id));
    free(event_id);
    return true;
}

void
api_txn_clear(struct api_txn *t)
{
    if (t->stripe >= 0)
        pthread_mutex_unlock(&txn_locks[t->stripe]);
    t->stripe = -1;
    free(t->key);
    t->key = NULL;
}

/* PUT /_matrix/client/r0/rooms/{roomId}/send/{eventType}/{txnId} */
void
room_send_message(struct req *r)
{
    const char *room_id = r->params[0], *type = r->params[1], *txn = r->params[2];
    struct api_txn t = API_TXN_INIT;
    char *id;

    if (!*type || !*txn) {
        reply_error(r, MERR_INVALID_PARAM, "eventType and txnId must not be empty");
        return;
    }
    /* SPEC: guest_access: guests may send m.room.message only. */
    if (r->is_guest && strcmp(type, "m.room.message") != 0) {
        reply_error(r, MERR_GUEST_ACCESS_FORBIDDEN, "Guests may only send m.room.message");
        return;
    }
    if (!api_room_id_ok_or_reply(r, room_id) || api_txn_replay(r, txn, &t))
        goto out;
    id = api_send_event_txn_or_reply(r, room_id, type, NULL, r->json, NULL, &t.ref);
    if (!id)
        goto out;
    /* SPEC: modules/presence.rst: last_active_ago counts from the user's last activity; a
     * message is activity, as in Synapse. */
    api_presence_active(r->hs, r->user_id);
    reply_json(r, 200, json_pack("{s:s}", "event_id", id));
    free(id);
out:
    api_txn_clear(&t);
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
