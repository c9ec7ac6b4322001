/* device_management.yaml */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/uia.h"
#include "json/json.h"
#include "store/store.h"

static json_t *
device_json(const char *user_id, const struct store_device *d)
{
    json_t *o = json_pack("{s:s, s:s}", "user_id", user_id, "device_id", d->device_id);
    if (d->display_name)
        json_object_set_new(o, "display_name", json_string(d->display_name));
    if (d->last_seen_ip)
        json_object_set_new(o, "last_seen_ip", json_string(d->last_seen_ip));
    if (d->last_seen_ts)
        json_object_set_new(o, "last_seen_ts", json_integer(d->last_seen_ts));
    return o;
}

/* GET /_matrix/client/r0/devices */
void
devices_list(struct req *r)
{
    struct store_device *list = NULL;
    size_t n = 0;
    json_t *arr;

    if (store_device_list(r->hs->store, r->user_id, &list, &n) != STORE_OK) {
        reply_internal(r, "device list failed");
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, device_json(r->user_id, &list[i]));
    store_device_list_free(list, n);
    reply_json(r, 200, json_pack("{s:o}", "devices", arr));
}

/* GET /_matrix/client/r0/devices/{deviceId} */
void
devices_get(struct req *r)
{
    struct store_device d;
    enum store_rc rc = store_device_get(r->hs->store, r->user_id, r->params[0], &d);

    if (rc == STORE_NOT_FOUND)
        reply_error(r, MERR_NOT_FOUND, "Device not found");
    else if (rc != STORE_OK)
        reply_internal(r, "device lookup failed");
    else
        reply_json(r, 200, device_json(r->user_id, &d));
    store_device_clear(&d);
}

/* PUT /_matrix/client/r0/devices/{deviceId} */
void
devices_put(struct req *r)
{
    bool wrong = false;
    const char *name = json_get_str(r->json, "display_name", &wrong);
    struct store_device d;
    enum store_rc rc;

    if (wrong) {
        reply_error(r, MERR_BAD_JSON, "display_name must be a string");
        return;
    }
    if (name && strlen(name) > 100) {
        reply_error(r, MERR_INVALID_PARAM, "display_name is too long (100 characters at most)");
        return;
    }
    if (!name) {
        /* Nothing to change; still 404 for an unknown device. */
        rc = store_device_get(r->hs->store, r->user_id, r->params[0], &d);
        store_device_clear(&d);
    } else {
        rc = store_device_set_display_name(r->hs->store, r->user_id, r->params[0], name);
        /* e2e: keys/query shows the name (unsigned.device_display_name), so, as Synapse,
         * a rename is a device-list change. */
        if (rc == STORE_OK && store_device_list_changed(r->hs->store, r->user_id) == STORE_OK)
            api_device_list_changed(r->hs, r->user_id);
    }
    if (rc == STORE_NOT_FOUND)
        reply_error(r, MERR_NOT_FOUND, "Device not found");
    else if (rc != STORE_OK)
        reply_internal(r, "device update failed");
    else
        reply_empty(r);
}

/* DELETE /_matrix/client/r0/devices/{deviceId} */
void
devices_delete(struct req *r)
{
    enum store_rc rc;

    if (!uia_check_user_or_reply(r, "delete_device", r->user_id))
        return;
    /* SPEC: 200 "The device was successfully removed, or had been removed previously." */
    rc = store_device_delete(r->hs->store, r->user_id, r->params[0]);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
        reply_internal(r, "device delete failed");
        return;
    }
    /* e2e: the store deleted its keys and inbox and logged a device-list change. */
    if (rc == STORE_OK)
        api_device_list_changed(r->hs, r->user_id);
    reply_empty(r);
}

/* POST /_matrix/client/r0/delete_devices */
void
devices_delete_many(struct req *r)
{
    json_t *devices = json_object_get(r->json, "devices"), *d;
    size_t i;

    if (!devices) {
        reply_error(r, MERR_MISSING_PARAM, "Missing devices");
        return;
    }
    if (!json_is_array(devices)) {
        reply_error(r, MERR_BAD_JSON, "devices must be an array of strings");
        return;
    }
    json_array_foreach(devices, i, d)
    {
        if (!json_is_string(d)) {
            reply_error(r, MERR_BAD_JSON, "devices must be an array of strings");
            return;
        }
    }
    if (!uia_check_user_or_reply(r, "delete_devices", r->user_id))
        return;
    /* Unknown device IDs are skipped, as the spec asks nothing else of them. */
    json_array_foreach(devices, i, d)
    {
        enum store_rc rc = store_device_delete(r->hs->store, r->user_id, json_string_value(d));
        if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
            reply_internal(r, "device delete failed");
            return;
        }
    }
    api_device_list_changed(r->hs, r->user_id); /* e2e */
    reply_empty(r);
}
