/* admin.yaml: who is this user, and from where do they connect. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "core/config.h"
#include "room/id.h"
#include "store/store.h"

/* GET /_matrix/client/r0/admin/whois/{userId} */
void
admin_whois(struct req *r)
{
    const char *target = r->params[0], *lp, *server;
    struct store_device *devs = NULL;
    struct store_user me, u;
    size_t lp_len, n = 0;
    json_t *devices;
    enum store_rc rc;
    bool admin = false;

    if (strcmp(target, r->user_id) != 0) {
        /* SPEC: admin.yaml: "may be restricted to only be called by the user being looked
         * up, or by a server admin". */
        rc = store_user_get(r->hs->store, r->user_id, &me);
        admin = rc == STORE_OK && me.is_admin;
        store_user_clear(&me);
        if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
            reply_internal(r, "user lookup failed");
            return;
        }
        if (!admin) {
            reply_error(r, MERR_FORBIDDEN, "You are not a server admin");
            return;
        }
    }
    if (!id_user_id_split(target, &lp, &lp_len, &server) || !id_user_id_valid(target)) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid user ID");
        return;
    }
    if (strcmp(server, r->hs->cfg->server_name) != 0) {
        reply_error(r, MERR_INVALID_PARAM, "Can only whois a local user");
        return;
    }
    /* Synapse answers an empty device list for an unknown user; saying so is more useful. */
    rc = store_user_get(r->hs->store, target, &u);
    store_user_clear(&u);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "Unknown user %s", target);
        return;
    }
    if (rc == STORE_OK)
        rc = store_device_list(r->hs->store, target, &devs, &n);
    if (rc != STORE_OK) {
        reply_internal(r, "device lookup failed");
        return;
    }
    /* One session per device (a device holds one access token at a time) with its last
     * connection. */
    devices = json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *conns = json_array(), *conn;
        if (devs[i].last_seen_ip) {
            conn = json_pack("{s:s, s:I}", "ip", devs[i].last_seen_ip, "last_seen",
                             (json_int_t)devs[i].last_seen_ts);
            /* Not valid UTF-8 (a header is any bytes): left out, as it is optional. */
            if (devs[i].last_seen_user_agent)
                json_object_set_new(conn, "user_agent", json_string(devs[i].last_seen_user_agent));
            json_array_append_new(conns, conn);
        }
        json_object_set_new(devices, devs[i].device_id,
                            json_pack("{s:[{s:o}]}", "sessions", "connections", conns));
    }
    store_device_list_free(devs, n);
    reply_json(r, 200, json_pack("{s:s, s:o}", "user_id", target, "devices", devices));
}
