/* read_markers.yaml, modules/read_markers.rst: m.fully_read goes into the room's account data
 * (the account data API refuses that type, so it is stored here), m.read is a receipt. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "json/json.h"
#include "rooms/rooms.h"
#include "store/store.h"
#include "sync/notifier.h"

/* The stream position of the room's event, 0 if unknown or elsewhere, -1 on failure. */
static int64_t
event_pos_in_room(struct req *r, const char *room_id, const char *event_id)
{
    struct store_event e = {0};
    enum store_rc rc = store_event_get(r->hs->store, event_id, &e);
    int64_t pos = rc == STORE_NOT_FOUND ? 0 : -1;

    if (rc == STORE_OK)
        pos = strcmp(e.room_id, room_id) == 0 ? e.pos : 0;
    store_event_clear(&e);
    return pos;
}

/* The marker only moves forward, as Synapse's: one for an earlier event is ignored. */
static int
set_fully_read_or_reply(struct req *r, const char *room_id, const char *event_id)
{
    const char *me = r->user_id;
    char *old = NULL, *text = NULL;
    json_t *content = NULL;
    int64_t pos = event_pos_in_room(r, room_id, event_id);
    int ret = -1;

    if (pos == 0) {
        reply_error(r, MERR_NOT_FOUND, "Unknown event in this room");
        goto out;
    }
    if (pos < 0)
        goto fail;
    if (store_account_data_get(r->hs->store, r->user_id, room_id, "m.fully_read", &old) ==
            STORE_OK &&
        (content = json_loads(old, 0, NULL))) {
        const char *was = json_string_value(json_object_get(content, "event_id"));
        if (was && event_pos_in_room(r, room_id, was) >= pos) {
            ret = 0;
            goto out;
        }
    }
    json_decref(content);
    content = json_pack("{s:s}", "event_id", event_id);
    text = json_dump_compact(content);
    if (store_account_data_put(r->hs->store, r->user_id, room_id, "m.fully_read", text, NULL) !=
        STORE_OK)
        goto fail;
    notifier_notify(r->hs->notifier, &me, 1);
    ret = 0;
    goto out;
fail:
    reply_internal(r, "read marker store failed");
out:
    json_decref(content);
    free(old);
    free(text);
    return ret;
}

/* POST /_matrix/client/r0/rooms/{roomId}/read_markers */
void
read_markers_post(struct req *r)
{
    const char *room_id = r->params[0];
    json_t *fully = json_object_get(r->json, "m.fully_read");
    json_t *read = json_object_get(r->json, "m.read");
    char *membership = NULL;

    if (!api_room_id_ok_or_reply(r, room_id))
        return;
    /* SPEC: r0.6.1 read_markers.yaml: m.fully_read is required. */
    if (!fully) {
        reply_error(r, MERR_MISSING_PARAM, "Missing m.fully_read");
        return;
    }
    if (!json_is_string(fully) || (read && !json_is_null(read) && !json_is_string(read))) {
        reply_error(r, MERR_BAD_JSON, "m.fully_read and m.read must be event IDs");
        return;
    }
    membership = rooms_membership(r->hs->rooms, room_id, r->user_id);
    if (!membership || strcmp(membership, "join") != 0) {
        reply_error(r, MERR_FORBIDDEN, "You are not in this room");
        goto out;
    }
    /* Both events are checked before either marker moves. */
    if (json_is_string(read) && event_pos_in_room(r, room_id, json_string_value(read)) == 0) {
        reply_error(r, MERR_NOT_FOUND, "Unknown event in this room");
        goto out;
    }
    if (set_fully_read_or_reply(r, room_id, json_string_value(fully)) != 0)
        goto out;
    if (json_is_string(read) && api_read_receipt_or_reply(r, room_id, json_string_value(read)) != 0)
        goto out;
    reply_empty(r);
out:
    free(membership);
}
