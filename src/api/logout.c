/* logout.yaml */
#include "api/api.h"
#include "api/hs.h"
#include "store/store.h"

/* POST /_matrix/client/r0/logout */
void
logout_post(struct req *r)
{
    /* The token dies with its device (Synapse does the same). */
    enum store_rc rc = store_device_delete(r->hs->store, r->user_id, r->device_id);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
        reply_internal(r, "logout failed");
        return;
    }
    /* e2e: the device's keys and inbox went with it; others see it leave the device list. */
    api_device_list_changed(r->hs, r->user_id);
    reply_empty(r);
}

/* POST /_matrix/client/r0/logout/all */
void
logout_all(struct req *r)
{
    if (store_device_delete_all_except(r->hs->store, r->user_id, NULL) != STORE_OK) {
        reply_internal(r, "logout failed");
        return;
    }
    api_device_list_changed(r->hs, r->user_id); /* e2e */
    reply_empty(r);
}
