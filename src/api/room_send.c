/* room_send.yaml and room_state.yaml: sending message and state events. */
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

bool
api_txn_replay(struct req *r, const char *txn_id, char token_hash[65])
{
    char *event_id = NULL, *key = txn_key(r, txn_id);
    enum store_rc rc;

    /* SPEC: transaction IDs are scoped to the access token. */
    util_sha256_hex(r->access_token, strlen(r->access_token), token_hash);
    rc = store_txn_get(r->hs->store, token_hash, key, &event_id);
    free(key);
    if (rc != STORE_OK)
        return false;
    reply_json(r, 200, json_pack("{s:s}", "event_id", event_id));
    free(event_id);
    return true;
}

void
api_txn_record(struct req *r, const char *txn_id, const char *token_hash, const char *event_id)
{
    char *key = txn_key(r, txn_id);
    /* A failure here only loses idempotency for a retry; the event is already sent. */
    if (store_txn_put(r->hs->store, token_hash, key, txn_id, event_id) != STORE_OK)
        log_warn("could not record transaction for %s", event_id);
    free(key);
}

/* PUT /_matrix/client/r0/rooms/{roomId}/send/{eventType}/{txnId} */
void
room_send_message(struct req *r)
{
    const char *room_id = r->params[0], *type = r->params[1], *txn = r->params[2];
    char hash[65], *id;

    if (!*type || !*txn) {
        reply_error(r, MERR_INVALID_PARAM, "eventType and txnId must not be empty");
        return;
    }
    /* SPEC: guest_access: guests may send m.room.message only. */
    if (r->is_guest && strcmp(type, "m.room.message") != 0) {
        reply_error(r, MERR_GUEST_ACCESS_FORBIDDEN, "Guests may only send m.room.message");
        return;
    }
    if (!api_room_id_ok_or_reply(r, room_id) || api_txn_replay(r, txn, hash))
        return;
    id = api_send_event_or_reply(r, room_id, type, NULL, r->json, NULL);
    if (!id)
        return;
    api_txn_record(r, txn, hash, id);
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
    reply_json(r, 200, json_pack("{s:s}", "event_id", id));
    free(id);
}
