/* receipts.yaml, modules/receipts.rst: m.read receipts, stored (store_ephemeral.c) and
 * delivered as the room's ephemeral m.receipt event in sync. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "core/config.h"
#include "core/util.h"
#include "rooms/rooms.h"
#include "store/store.h"
#include "sync/presence.h"

int
api_read_receipt_or_reply(struct req *r, const char *room_id, const char *event_id)
{
    struct store_event e = {0};
    enum store_rc rc = store_event_get(r->hs->store, event_id, &e);
    int ret = -1;

    if (rc == STORE_NOT_FOUND || (rc == STORE_OK && strcmp(e.room_id, room_id) != 0)) {
        reply_error(r, MERR_NOT_FOUND, "Unknown event in this room");
        goto out;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "event lookup failed");
        goto out;
    }
    rc = store_receipt_put(r->hs->store, room_id, r->user_id, "m.read", event_id, e.pos,
                           util_now_ms(), NULL);
    if (rc != STORE_OK && rc != STORE_EXISTS) {
        reply_internal(r, "receipt store failed");
        goto out;
    }
    /* STORE_EXISTS: an older receipt than the one held, kept as it was; nothing to wake. */
    if (rc == STORE_OK)
        api_notify_room_members(r->hs, room_id);
    api_presence_active(r->hs, r->user_id);
    ret = 0;
out:
    store_event_clear(&e);
    return ret;
}

/* POST /_matrix/client/r0/rooms/{roomId}/receipt/{receiptType}/{eventId} */
void
receipts_post(struct req *r)
{
    const char *room_id = r->params[0];
    char *membership = NULL;

    if (!api_room_id_ok_or_reply(r, room_id))
        return;
    /* SPEC: r0.6.1 receipts.yaml: "receiptType ... Must be m.read." */
    if (strcmp(r->params[1], "m.read") != 0) {
        reply_error(r, MERR_INVALID_PARAM, "Receipt type must be m.read");
        return;
    }
    membership = rooms_membership(r->hs->rooms, room_id, r->user_id);
    if (!membership || strcmp(membership, "join") != 0) {
        reply_error(r, MERR_FORBIDDEN, "You are not in this room");
        goto out;
    }
    if (api_read_receipt_or_reply(r, room_id, r->params[2]) == 0)
        reply_empty(r);
out:
    free(membership);
}
