/* redaction.yaml */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "json/json.h"
#include "room/auth.h"
#include "store/store.h"

/* May r->user_id redact an event sent by `sender`? The auth rules of v3+ leave this to the
 * server: SPEC rooms/v3 "the redaction is applied if the sender's power level is at least the
 * redact level, or the sender of the redaction and of the original event match". */
static bool
may_redact(struct req *r, const char *room_id, const char *sender)
{
    json_t *pl, *create;
    bool ok;

    if (strcmp(sender, r->user_id) == 0)
        return true;
    pl = rooms_state_content(r->hs->rooms, room_id, "m.room.power_levels", "");
    create = rooms_state_get(r->hs->rooms, room_id, "m.room.create", "");
    ok = pl_user_level(pl, create, r->user_id) >= pl_action_level(pl, "redact");
    json_decref(pl);
    json_decref(create);
    return ok;
}

/* PUT /_matrix/client/r0/rooms/{roomId}/redact/{eventId}/{txnId} */
void
redaction_redact(struct req *r)
{
    const char *room_id = r->params[0], *target = r->params[1], *txn = r->params[2];
    const char *reason;
    struct store_event e = {0};
    json_t *content = NULL;
    struct api_txn *t;
    char *id;
    bool wrong = false, suspended = false;
    enum store_rc rc;

    if (r->resumed)
        goto answer;
    reason = json_get_str(r->json, "reason", &wrong);
    if (wrong) {
        reply_error(r, MERR_BAD_JSON, "reason must be a string");
        return;
    }
    if (!api_member_room_or_reply(r, room_id))
        return;
    t = api_send_begin(r);
    if (api_txn_replay(r, txn, t))
        goto refused;
    rc = store_event_get(r->hs->store, target, &e);
    if (rc == STORE_ERR) {
        reply_internal(r, "event lookup failed");
        goto refused;
    }
    if (rc == STORE_NOT_FOUND || strcmp(e.room_id, room_id) != 0) {
        reply_error(r, MERR_NOT_FOUND, "Event not found");
        goto refused;
    }
    if (!may_redact(r, room_id, e.sender)) {
        reply_error(r, MERR_FORBIDDEN, "You may not redact other users' events");
        goto refused;
    }
    content = reason ? json_pack("{s:s}", "reason", reason) : json_object();
    suspended = api_send_start(r, room_id, "m.room.redaction", NULL, content, target);
    json_decref(content);
    store_event_clear(&e);
    if (suspended)
        return;
answer:
    if ((id = api_send_result(r)))
        reply_json(r, 200, json_pack("{s:s}", "event_id", id));
    free(id);
    return;
refused:
    /* Answered: a retry of this transaction may look now. */
    api_txn_release(t);
    store_event_clear(&e);
}
