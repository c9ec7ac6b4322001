/* account-data.yaml: per-user and per-room account data; /sync carries changes. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "json/json.h"
#include "push/push.h"
#include "store/store.h"
#include "sync/notifier.h"

static bool
own_or_reply(struct req *r)
{
    if (strcmp(r->params[0], r->user_id) != 0) {
        reply_error(r, MERR_FORBIDDEN, "Cannot access account data of other users");
        return false;
    }
    return true;
}

static void
put(struct req *r, const char *room_id, const char *type)
{
    char *text;
    enum store_rc rc;
    const char *me = r->user_id;

    if (!*type) {
        reply_error(r, MERR_INVALID_PARAM, "type must not be empty");
        return;
    }
    /* Synapse refuses this one here: it belongs to read markers. */
    if (strcmp(type, "m.fully_read") == 0) {
        reply_error(r, MERR_BAD_JSON, "Cannot set m.fully_read through this API");
        return;
    }
    text = json_dump_compact(r->json);
    rc = store_account_data_put(r->hs->store, r->user_id, room_id, type, text, NULL);
    free(text);
    if (rc != STORE_OK) {
        reply_internal(r, "account data store failed");
        return;
    }
    /* push (issue 8): no notifications from ignored users; their cached rules know them */
    if (!*room_id && strcmp(type, "m.ignored_user_list") == 0)
        push_user_changed(r->hs->push, r->user_id);
    notifier_notify(r->hs->notifier, &me, 1);
    reply_empty(r);
}

static void
get(struct req *r, const char *room_id, const char *type)
{
    char *text = NULL;
    json_t *content;
    enum store_rc rc = store_account_data_get(r->hs->store, r->user_id, room_id, type, &text);

    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "Account data not found");
        return;
    }
    if (rc != STORE_OK || !(content = json_loads(text, 0, NULL))) {
        free(text);
        reply_internal(r, "account data load failed");
        return;
    }
    free(text);
    reply_json(r, 200, content);
}

/* PUT /_matrix/client/r0/user/{userId}/account_data/{type} */
void
account_data_put(struct req *r)
{
    if (own_or_reply(r))
        put(r, "", r->params[1]);
}

/* GET /_matrix/client/r0/user/{userId}/account_data/{type} */
void
account_data_get(struct req *r)
{
    if (own_or_reply(r))
        get(r, "", r->params[1]);
}

/* PUT /_matrix/client/r0/user/{userId}/rooms/{roomId}/account_data/{type} */
void
account_data_room_put(struct req *r)
{
    if (own_or_reply(r) && api_room_id_ok_or_reply(r, r->params[1]))
        put(r, r->params[1], r->params[2]);
}

/* GET /_matrix/client/r0/user/{userId}/rooms/{roomId}/account_data/{type} */
void
account_data_room_get(struct req *r)
{
    if (own_or_reply(r) && api_room_id_ok_or_reply(r, r->params[1]))
        get(r, r->params[1], r->params[2]);
}
