/* to_device.yaml, modules/send_to_device.rst: messages to devices, stored in each device's
 * inbox until its /sync acknowledges them (sync_e2e.c). No federation yet: messages to users
 * of other servers are dropped, as they would be for a server that cannot be reached. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "core/config.h"
#include "core/util.h"
#include "json/json.h"
#include "room/id.h"
#include "store/store.h"
#include "sync/notifier.h"

static bool
local_user(struct req *r, const char *user_id)
{
    const char *lp, *server;
    size_t lplen;
    return id_user_id_split(user_id, &lp, &lplen, &server) &&
           strcmp(server, r->hs->cfg->server_name) == 0;
}

/* PUT /_matrix/client/r0/sendToDevice/{eventType}/{txnId} */
void
to_device_send(struct req *r)
{
    const char *type = r->params[0], *txn = r->params[1], *user, *device;
    const json_t *messages = json_object_get(r->json, "messages");
    json_t *devices, *content;
    struct store_to_device_msg *msgs = NULL;
    struct store_to_device_send send = {0};
    const char **notify = NULL;
    char token_hash[65], *txn_key = NULL, **texts = NULL;
    size_t n = 0, cap = 0, nnotify = 0;

    if (!*type || !*txn) {
        reply_error(r, MERR_INVALID_PARAM, "eventType and txnId must not be empty");
        return;
    }
    if (!messages) {
        reply_error(r, MERR_MISSING_PARAM, "Missing messages");
        return;
    }
    if (!json_is_object(messages)) {
        reply_error(r, MERR_BAD_JSON, "messages must be an object");
        return;
    }
    json_object_foreach((json_t *)messages, user, devices)
    {
        if (!id_user_id_valid(user)) {
            reply_error(r, MERR_INVALID_PARAM, "messages: '%s' is not a user ID", user);
            return;
        }
        if (!json_is_object(devices)) {
            reply_error(r, MERR_BAD_JSON, "messages: each user maps to {device ID: content}");
            return;
        }
        json_object_foreach(devices, device, content)
        {
            if (!json_is_object(content)) {
                reply_error(r, MERR_BAD_JSON, "messages: each message content is an object");
                return;
            }
        }
        cap += json_object_size(devices);
    }
    msgs = xcalloc(cap + 1, sizeof(*msgs));
    texts = xcalloc(cap + 1, sizeof(*texts));
    notify = xcalloc(json_object_size(messages) + 1, sizeof(*notify));
    json_object_foreach((json_t *)messages, user, devices)
    {
        if (!local_user(r, user) || json_object_size(devices) == 0)
            continue;
        notify[nnotify++] = user;
        json_object_foreach(devices, device, content)
        {
            texts[n] = json_dump_compact(content);
            msgs[n] = (struct store_to_device_msg){user, device, texts[n]};
            n++;
        }
    }
    /* SPEC: the transaction ID is scoped to the access token; the key is the request (the
     * same txnId for another event type is another transaction, as Synapse keys it). */
    util_sha256_hex(r->access_token, strlen(r->access_token), token_hash);
    txn_key = xasprintf("%s\x1f%s\x1f%s", r->route->pattern, type, txn);
    send = (struct store_to_device_send){.sender = r->user_id,
                                         .type = type,
                                         .msgs = msgs,
                                         .n = n,
                                         .token_hash = token_hash,
                                         .txn_key = txn_key,
                                         .txn_id = txn,
                                         .now = util_now_ms()};
    if (store_to_device_send(r->hs->store, &send) != STORE_OK) {
        reply_internal(r, "to-device send failed");
        goto out;
    }
    if (!send.replayed && nnotify > 0)
        notifier_notify(r->hs->notifier, notify, nnotify);
    reply_empty(r);
out:
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(msgs);
    free(notify);
    free(txn_key);
}
