/* Synapse's user admin API (docs/admin_api/user_admin_api.md in Synapse): list, query, create
 * or modify, deactivate, reset passwords, whois, devices, joined rooms, media, login as a
 * user, the admin flag. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/synapse_admin.h"
#include "api/threepid.h"
#include "http/auth.h"
#include "core/config.h"
#include "core/log.h"
#include "core/password.h"
#include "core/util.h"
#include "json/json.h"
#include "media/media.h"
#include "room/id.h"
#include "store/store.h"

#define DEFAULT_LIMIT 100
#define MAX_PASSWORD 512
#define MAX_DISPLAYNAME 256
#define MAX_AVATAR_URL 1024

/* Synapse's fields; is_guest, admin, deactivated and shadow_banned are 0/1 integers there
 * (the users table's columns), erased a boolean. */
static json_t *
user_json(const struct store_admin_user *u, bool details)
{
    json_t *o = json_pack("{s:s, s:i, s:i, s:n, s:i, s:b, s:i, s:b}", "name", u->user_id,
                          "is_guest", u->is_guest, "admin", u->is_admin, "user_type", "deactivated",
                          u->deactivated, "erased", u->erased, "shadow_banned", 0, "locked", 0);
    json_object_set_new(o, "displayname",
                        u->displayname ? json_string(u->displayname) : json_null());
    json_object_set_new(o, "avatar_url", u->avatar_url ? json_string(u->avatar_url) : json_null());
    if (!details) {
        /* The list gives milliseconds (Synapse since 1.39)... */
        json_object_set_new(o, "creation_ts", json_integer(u->created_ts));
        return o;
    }
    /* ...and the single query seconds (Synapse's users.creation_ts; synapse-admin copes). */
    json_object_set_new(o, "creation_ts", json_integer(u->created_ts / 1000));
    json_object_set_new(o, "appservice_id", json_null());
    json_object_set_new(o, "consent_server_notice_sent", json_null());
    json_object_set_new(o, "consent_version", json_null());
    json_object_set_new(o, "consent_ts", json_null());
    return o;
}

/* GET /_synapse/admin/v2/users */
void
synapse_admin_users_list(struct req *r)
{
    struct store_admin_user_query q = {0};
    struct store_admin_user *list = NULL;
    size_t n = 0;
    int64_t total = 0;
    json_t *users, *out;

    if (!synapse_admin_check_or_reply(r))
        return;
    if (!synapse_admin_query_int(r, "from", 0, &q.from) ||
        !synapse_admin_query_int(r, "limit", DEFAULT_LIMIT, &q.limit) ||
        !synapse_admin_query_bool(r, "guests", true, &q.guests) ||
        !synapse_admin_query_bool(r, "deactivated", false, &q.deactivated) ||
        !synapse_admin_query_dir(r, false, &q.backwards))
        return;
    q.user_id = req_query(r, "user_id");
    q.name = req_query(r, "name");
    q.order_by = req_query(r, "order_by");
    if (q.order_by && !store_admin_user_order_ok(q.order_by)) {
        reply_error(r, MERR_INVALID_PARAM, "Unknown value for order_by: %s", q.order_by);
        return;
    }
    if (store_admin_users_list(r->hs->store, &q, &list, &n, &total) != STORE_OK) {
        reply_internal(r, "user list failed");
        return;
    }
    users = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(users, user_json(&list[i], false));
    store_admin_users_free(list, n);
    out = json_pack("{s:o, s:I}", "users", users, "total", (json_int_t)total);
    /* next_token is a string in Synapse's user list. */
    if (q.from + (int64_t)n < total) {
        char next[24];
        snprintf(next, sizeof(next), "%lld", (long long)(q.from + (int64_t)n));
        json_object_set_new(out, "next_token", json_string(next));
    }
    reply_json(r, 200, out);
}

/* The target account of a /users/{userId} request: 0 with *u filled, or -1 after replying
 * (400 for a remote or malformed ID, 404 for an unknown one). */
static int
target_or_reply(struct req *r, const char *what, struct store_admin_user *u)
{
    enum store_rc rc;

    memset(u, 0, sizeof(*u));
    if (!synapse_admin_check_or_reply(r) ||
        !synapse_admin_local_user_or_reply(r, r->params[0], what))
        return -1;
    rc = store_admin_user_get(r->hs->store, r->params[0], u);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "User not found");
        return -1;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "user lookup failed");
        return -1;
    }
    return 0;
}

/* Synapse's threepids [{medium, address, added_at, validated_at}] and external_ids
 * [{auth_provider, external_id}] of one account, into o. false on storage failure. */
static bool
add_links(struct req *r, json_t *o, const char *user_id)
{
    struct store_threepid *tp = NULL;
    struct store_external_id *ext = NULL;
    size_t ntp = 0, next = 0;
    json_t *tps = json_array(), *exts = json_array();
    bool ok = store_threepid_list(r->hs->store, user_id, &tp, &ntp) == STORE_OK &&
              store_admin_external_ids(r->hs->store, user_id, &ext, &next) == STORE_OK;

    for (size_t i = 0; ok && i < ntp; i++)
        json_array_append_new(tps,
                              json_pack("{s:s, s:s, s:I, s:I}", "medium", tp[i].medium, "address",
                                        tp[i].address, "added_at", (json_int_t)tp[i].added_ts,
                                        "validated_at", (json_int_t)tp[i].validated_ts));
    for (size_t i = 0; ok && i < next; i++)
        json_array_append_new(exts, json_pack("{s:s, s:s}", "auth_provider", ext[i].auth_provider,
                                              "external_id", ext[i].external_id));
    json_object_set_new(o, "threepids", tps);
    json_object_set_new(o, "external_ids", exts);
    store_threepids_free(tp, ntp);
    store_external_ids_free(ext, next);
    return ok;
}

static void
reply_user(struct req *r, int status, const char *user_id)
{
    struct store_admin_user u;
    json_t *o;

    if (store_admin_user_get(r->hs->store, user_id, &u) != STORE_OK) {
        reply_internal(r, "user lookup failed");
        return;
    }
    o = user_json(&u, true);
    store_admin_user_clear(&u);
    if (!add_links(r, o, user_id)) {
        json_decref(o);
        reply_internal(r, "user lookup failed");
        return;
    }
    reply_json(r, status, o);
}

/* PUT's threepids and external_ids (Synapse's UserRestServletV2): each entry needs its two
 * strings (400 M_MISSING_PARAM), and one another account has answers 409 (Synapse:
 * "Threepid already in use" M_THREEPID_IN_USE, "External id is already in use" M_UNKNOWN).
 * false after replying. */
static bool
links_ok_or_reply(struct req *r, const char *uid, const json_t *threepids, const json_t *ext_ids)
{
    size_t i;
    json_t *t;

    json_array_foreach(threepids, i, t)
    {
        const char *medium = json_string_value(json_object_get(t, "medium"));
        const char *address = json_string_value(json_object_get(t, "address"));
        char *owner = NULL;
        enum store_rc rc;
        if (!medium || !address) {
            reply_error(r, MERR_MISSING_PARAM, "Missing params: medium and address");
            return false;
        }
        /* Synapse canonicalises emails (lower case) before storing them. */
        if (strcmp(medium, "email") == 0) {
            char *canon = threepid_canonical_email(address);
            if (!canon) {
                reply_error(r, MERR_INVALID_PARAM, "Unable to parse email address");
                return false;
            }
            json_object_set_new(t, "address", json_string(canon));
            free(canon);
            address = json_string_value(json_object_get(t, "address"));
        }
        rc = store_threepid_owner(r->hs->store, medium, address, &owner);
        if (rc == STORE_OK && strcmp(owner, uid) != 0) {
            free(owner);
            reply_error_status(r, 409, MERR_THREEPID_IN_USE, "Threepid already in use");
            return false;
        }
        free(owner);
        if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
            reply_internal(r, "3PID lookup failed");
            return false;
        }
    }
    json_array_foreach(ext_ids, i, t)
    {
        const char *provider = json_string_value(json_object_get(t, "auth_provider"));
        const char *id = json_string_value(json_object_get(t, "external_id"));
        char *owner = NULL;
        enum store_rc rc;
        if (!provider || !id) {
            reply_error(r, MERR_MISSING_PARAM, "Missing params: auth_provider and external_id");
            return false;
        }
        rc = store_external_id_get(r->hs->store, provider, id, &owner);
        if (rc == STORE_OK && strcmp(owner, uid) != 0) {
            free(owner);
            reply_error_status(r, 409, MERR_UNKNOWN, "External id is already in use");
            return false;
        }
        free(owner);
        if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
            reply_internal(r, "external ID lookup failed");
            return false;
        }
    }
    return true;
}

static bool
has_threepid(const json_t *threepids, const char *medium, const char *address)
{
    size_t i;
    json_t *t;

    json_array_foreach(threepids, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "medium")), medium) == 0 &&
            strcmp(json_string_value(json_object_get(t, "address")), address) == 0)
            return true;
    }
    return false;
}

/* Makes the account's 3PIDs and SSO links the given lists (NULL: unchanged), as Synapse: the
 * ones missing are removed, the new ones added (validated now). 0, or -1 after replying. */
static int
links_set_or_reply(struct req *r, const char *uid, const json_t *threepids, const json_t *ext_ids)
{
    struct store_threepid *cur = NULL;
    struct store_external_id *ext = NULL;
    size_t ncur = 0, i;
    json_t *t;
    int64_t now = util_now_ms();
    int ret = -1;

    if (threepids) {
        if (store_threepid_list(r->hs->store, uid, &cur, &ncur) != STORE_OK)
            goto fail;
        for (size_t k = 0; k < ncur; k++)
            if (!has_threepid(threepids, cur[k].medium, cur[k].address) &&
                store_threepid_remove(r->hs->store, uid, cur[k].medium, cur[k].address) != STORE_OK)
                goto fail;
        json_array_foreach(threepids, i, t)
        {
            enum store_rc rc = store_threepid_add(
                r->hs->store, uid, json_string_value(json_object_get(t, "medium")),
                json_string_value(json_object_get(t, "address")), now, now);
            if (rc != STORE_OK && rc != STORE_EXISTS) /* EXISTS: it has it already */
                goto fail;
        }
    }
    if (ext_ids) {
        size_t n = json_array_size(ext_ids);
        ext = xcalloc(n ? n : 1, sizeof(*ext));
        json_array_foreach(ext_ids, i, t)
        {
            ext[i].auth_provider = (char *)json_string_value(json_object_get(t, "auth_provider"));
            ext[i].external_id = (char *)json_string_value(json_object_get(t, "external_id"));
        }
        if (store_admin_external_ids_set(r->hs->store, uid, ext, n) != STORE_OK)
            goto fail;
    }
    ret = 0;
    goto out;
fail:
    reply_internal(r, "3PID or external ID update failed");
out:
    store_threepids_free(cur, ncur);
    free(ext); /* its strings are borrowed from the request */
    return ret;
}

/* GET /_synapse/admin/v2/users/{userId} */
void
synapse_admin_user_get(struct req *r)
{
    struct store_admin_user u;

    if (target_or_reply(r, "Can only look up local users", &u) != 0)
        return;
    reply_user(r, 200, u.user_id);
    store_admin_user_clear(&u);
}

/* Leaves every room and deactivates (and erases) the account. 0, or -1 after replying. */
static int
deactivate_or_reply(struct req *r, const char *user_id, bool erase)
{
    api_leave_all_rooms(r->hs, user_id);
    if (store_user_deactivate(r->hs->store, user_id) != STORE_OK) {
        reply_internal(r, "deactivation failed");
        return -1;
    }
    if (erase && store_user_erase(r->hs->store, user_id) != STORE_OK) {
        reply_internal(r, "erasure failed");
        return -1;
    }
    log_info("%s deactivated %s%s", r->user_id, user_id, erase ? " (erased)" : "");
    return 0;
}

/* Sets the password (hashed) and, with logout, revokes every device. 0 or -1 after
 * replying. */
static int
set_password_or_reply(struct req *r, const char *user_id, const char *password, bool logout)
{
    char *hash = password_hash(password);
    enum store_rc rc;

    if (!hash) {
        reply_internal(r, "password hashing failed");
        return -1;
    }
    rc = store_user_set_password(r->hs->store, user_id, hash);
    free(hash);
    if (rc == STORE_OK && logout)
        rc = store_device_delete_all_except(r->hs->store, user_id, NULL);
    if (rc != STORE_OK) {
        reply_internal(r, "password change failed");
        return -1;
    }
    return 0;
}

/* PUT /_synapse/admin/v2/users/{userId}: creates the account (201) or modifies it (200). */
void
synapse_admin_user_put(struct req *r)
{
    const char *uid = r->params[0], *password, *displayname, *avatar_url, *lp, *server;
    json_t *admin = json_object_get(r->json, "admin");
    json_t *deact = json_object_get(r->json, "deactivated");
    json_t *logout = json_object_get(r->json, "logout_devices");
    json_t *threepids = json_object_get(r->json, "threepids");
    json_t *dn = json_object_get(r->json, "displayname");
    json_t *av = json_object_get(r->json, "avatar_url");
    json_t *ext_ids = json_object_get(r->json, "external_ids");
    struct store_admin_user u;
    bool wrong = false, exists;
    size_t lp_len;
    enum store_rc rc;

    if (!synapse_admin_check_or_reply(r) ||
        !synapse_admin_local_user_or_reply(r, uid,
                                           "This endpoint can only be used with local "
                                           "users"))
        return;
    password = json_get_str(r->json, "password", &wrong);
    displayname = json_get_str(r->json, "displayname", &wrong);
    avatar_url = json_get_str(r->json, "avatar_url", &wrong);
    if (wrong || (admin && !json_is_boolean(admin)) || (deact && !json_is_boolean(deact)) ||
        (logout && !json_is_boolean(logout)) || (threepids && !json_is_array(threepids)) ||
        (ext_ids && !json_is_array(ext_ids))) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid field types");
        return;
    }
    if (!links_ok_or_reply(r, uid, threepids, ext_ids))
        return;
    if ((password && strlen(password) > MAX_PASSWORD) ||
        (displayname && strlen(displayname) > MAX_DISPLAYNAME) ||
        (avatar_url && strlen(avatar_url) > MAX_AVATAR_URL)) {
        reply_error(r, MERR_INVALID_PARAM, "A field is too long");
        return;
    }
    rc = store_admin_user_get(r->hs->store, uid, &u);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
        reply_internal(r, "user lookup failed");
        return;
    }
    exists = rc == STORE_OK;
    if (!exists) {
        char *hash = NULL;
        id_user_id_split(uid, &lp, &lp_len, &server);
        if (strlen(uid) > ID_MAX_LEN) {
            reply_error(r, MERR_INVALID_USERNAME, "User ID is too long");
            return;
        }
        if (password && !(hash = password_hash(password))) {
            reply_internal(r, "password hashing failed");
            return;
        }
        rc = store_user_create(r->hs->store, uid, hash, false, json_is_true(admin), util_now_ms());
        free(hash);
        if (rc == STORE_EXISTS) { /* created meanwhile */
            reply_error(r, MERR_USER_IN_USE, "User ID already taken.");
            return;
        }
        if (rc != STORE_OK || store_profile_init(r->hs->store, uid) != STORE_OK) {
            reply_internal(r, "user create failed");
            return;
        }
        log_info("%s created %s%s", r->user_id, uid, json_is_true(admin) ? " (admin)" : "");
    } else {
        if (admin && !json_is_true(admin) && strcmp(uid, r->user_id) == 0) {
            store_admin_user_clear(&u);
            reply_error(r, MERR_FORBIDDEN, "You may not demote yourself.");
            return;
        }
        /* As Synapse: reactivating a password account needs a new password. */
        if (deact && !json_is_true(deact) && u.deactivated && !password) {
            store_admin_user_clear(&u);
            reply_error(r, MERR_INVALID_PARAM,
                        "Must provide a password to re-activate an account.");
            return;
        }
        if (admin && store_user_set_admin(r->hs->store, uid, json_is_true(admin)) != STORE_OK) {
            store_admin_user_clear(&u);
            reply_internal(r, "admin flag update failed");
            return;
        }
        if (password &&
            set_password_or_reply(r, uid, password, !logout || json_is_true(logout)) != 0) {
            store_admin_user_clear(&u);
            return;
        }
        if (deact && !json_is_true(deact) && u.deactivated &&
            store_user_reactivate(r->hs->store, uid) != STORE_OK) {
            store_admin_user_clear(&u);
            reply_internal(r, "reactivation failed");
            return;
        }
    }
    if ((dn && store_profile_set_displayname(r->hs->store, uid, displayname) != STORE_OK) ||
        (av && store_profile_set_avatar_url(r->hs->store, uid, avatar_url) != STORE_OK)) {
        store_admin_user_clear(&u);
        reply_internal(r, "profile update failed");
        return;
    }
    if (links_set_or_reply(r, uid, threepids, ext_ids) != 0) {
        store_admin_user_clear(&u);
        return;
    }
    if (json_is_true(deact) && !(exists && u.deactivated) &&
        deactivate_or_reply(r, uid, false) != 0) {
        store_admin_user_clear(&u);
        return;
    }
    store_admin_user_clear(&u);
    reply_user(r, exists ? 200 : 201, uid);
}

/* POST /_synapse/admin/v1/deactivate/{userId} */
void
synapse_admin_user_deactivate(struct req *r)
{
    json_t *erase = json_object_get(r->json, "erase");
    struct store_admin_user u;

    if (erase && !json_is_boolean(erase)) {
        reply_error(r, MERR_BAD_JSON, "Param 'erase' must be a boolean, if given");
        return;
    }
    if (target_or_reply(r, "Can only deactivate local users", &u) != 0)
        return;
    store_admin_user_clear(&u);
    if (deactivate_or_reply(r, r->params[0], json_is_true(erase)) != 0)
        return;
    reply_json(r, 200, json_pack("{s:s}", "id_server_unbind_result", "success"));
}

/* POST /_synapse/admin/v1/reset_password/{userId} */
void
synapse_admin_user_reset_password(struct req *r)
{
    json_t *logout = json_object_get(r->json, "logout_devices");
    const char *pw = json_get_str(r->json, "new_password", NULL);
    struct store_admin_user u;

    if (!pw || strlen(pw) > MAX_PASSWORD || (logout && !json_is_boolean(logout))) {
        reply_error(r, MERR_MISSING_PARAM, "new_password (a string) is required");
        return;
    }
    if (target_or_reply(r, "Can only change the password of local users", &u) != 0)
        return;
    store_admin_user_clear(&u);
    if (set_password_or_reply(r, r->params[0], pw, !logout || json_is_true(logout)) != 0)
        return;
    log_info("%s reset the password of %s", r->user_id, r->params[0]);
    reply_empty(r);
}

/* GET /_synapse/admin/v1/whois/{userId} */
void
synapse_admin_user_whois(struct req *r)
{
    if (!synapse_admin_check_or_reply(r))
        return;
    admin_whois(r); /* the client API's whois, which answers admins for anyone */
}

static json_t *
device_json(const char *user_id, const struct store_device *d)
{
    json_t *o = json_pack("{s:s, s:s}", "device_id", d->device_id, "user_id", user_id);
    json_object_set_new(o, "display_name",
                        d->display_name ? json_string(d->display_name) : json_null());
    json_object_set_new(o, "last_seen_ip",
                        d->last_seen_ip ? json_string(d->last_seen_ip) : json_null());
    json_object_set_new(o, "last_seen_ts",
                        d->last_seen_ts ? json_integer(d->last_seen_ts) : json_null());
    json_object_set_new(o, "last_seen_user_agent",
                        d->last_seen_user_agent ? json_string(d->last_seen_user_agent)
                                                : json_null());
    return o;
}

/* GET /_synapse/admin/v2/users/{userId}/devices */
void
synapse_admin_user_devices(struct req *r)
{
    struct store_admin_user u;
    struct store_device *devs = NULL;
    size_t n = 0;
    json_t *list;

    if (target_or_reply(r, "Can only look up local users", &u) != 0)
        return;
    store_admin_user_clear(&u);
    if (store_device_list(r->hs->store, r->params[0], &devs, &n) != STORE_OK) {
        reply_internal(r, "device list failed");
        return;
    }
    list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, device_json(r->params[0], &devs[i]));
    store_device_list_free(devs, n);
    reply_json(r, 200, json_pack("{s:o, s:I}", "devices", list, "total", (json_int_t)n));
}

/* POST /_synapse/admin/v2/users/{userId}/devices: a new device without a usable token (for
 * bridges and tools that manage a device's keys); an existing one is left as it is. */
void
synapse_admin_user_device_create(struct req *r)
{
    const char *dev = json_get_str(r->json, "device_id", NULL);
    struct store_admin_user u;
    struct store_device d;
    char hash[65], *token;
    enum store_rc rc;

    if (!dev || !*dev || strlen(dev) > 255) {
        reply_error(r, MERR_MISSING_PARAM, "device_id (a string) is required");
        return;
    }
    if (target_or_reply(r, "Can only create devices of local users", &u) != 0)
        return;
    store_admin_user_clear(&u);
    rc = store_device_get(r->hs->store, r->params[0], dev, &d);
    store_device_clear(&d);
    if (rc == STORE_NOT_FOUND) {
        /* A token nobody is told: the device exists, but logs nobody in. */
        token = auth_new_token(hash);
        free(token);
        rc = store_device_login(r->hs->store, r->params[0], dev, NULL, hash, r->ip, NULL,
                                util_now_ms());
    }
    if (rc != STORE_OK) {
        reply_internal(r, "device create failed");
        return;
    }
    reply_empty(r);
}

/* GET /_synapse/admin/v2/users/{userId}/devices/{deviceId} */
void
synapse_admin_user_device_get(struct req *r)
{
    struct store_admin_user u;
    struct store_device d;
    enum store_rc rc;

    if (target_or_reply(r, "Can only look up local users", &u) != 0)
        return;
    store_admin_user_clear(&u);
    rc = store_device_get(r->hs->store, r->params[0], r->params[1], &d);
    if (rc == STORE_NOT_FOUND)
        reply_error(r, MERR_NOT_FOUND, "Device not found");
    else if (rc != STORE_OK)
        reply_internal(r, "device lookup failed");
    else
        reply_json(r, 200, device_json(r->params[0], &d));
    store_device_clear(&d);
}

/* PUT /_synapse/admin/v2/users/{userId}/devices/{deviceId} */
void
synapse_admin_user_device_put(struct req *r)
{
    json_t *name = json_object_get(r->json, "display_name");
    struct store_admin_user u;
    enum store_rc rc;

    if (name && !json_is_string(name)) {
        reply_error(r, MERR_BAD_JSON, "display_name must be a string");
        return;
    }
    if (target_or_reply(r, "Can only update devices of local users", &u) != 0)
        return;
    store_admin_user_clear(&u);
    if (!name) {
        struct store_device d;
        rc = store_device_get(r->hs->store, r->params[0], r->params[1], &d);
        store_device_clear(&d);
    } else {
        rc = store_device_set_display_name(r->hs->store, r->params[0], r->params[1],
                                           json_string_value(name));
    }
    if (rc == STORE_NOT_FOUND)
        reply_error(r, MERR_NOT_FOUND, "Device not found");
    else if (rc != STORE_OK)
        reply_internal(r, "device update failed");
    else
        reply_empty(r);
}

/* DELETE /_synapse/admin/v2/users/{userId}/devices/{deviceId}: as Synapse, deleting a device
 * that does not exist succeeds. */
void
synapse_admin_user_device_delete(struct req *r)
{
    struct store_admin_user u;
    enum store_rc rc;

    if (target_or_reply(r, "Can only delete devices of local users", &u) != 0)
        return;
    store_admin_user_clear(&u);
    rc = store_device_delete(r->hs->store, r->params[0], r->params[1]);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
        reply_internal(r, "device delete failed");
        return;
    }
    reply_empty(r);
}

/* POST /_synapse/admin/v2/users/{userId}/delete_devices */
void
synapse_admin_user_devices_delete(struct req *r)
{
    json_t *devices = json_object_get(r->json, "devices"), *d;
    struct store_admin_user u;
    size_t i;

    if (!json_is_array(devices)) {
        reply_error(r, MERR_MISSING_PARAM, "devices (a list of device IDs) is required");
        return;
    }
    json_array_foreach(devices, i, d)
    {
        if (!json_is_string(d)) {
            reply_error(r, MERR_INVALID_PARAM, "devices must be a list of strings");
            return;
        }
    }
    if (target_or_reply(r, "Can only delete devices of local users", &u) != 0)
        return;
    store_admin_user_clear(&u);
    json_array_foreach(devices, i, d)
    {
        enum store_rc rc = store_device_delete(r->hs->store, r->params[0], json_string_value(d));
        if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
            reply_internal(r, "device delete failed");
            return;
        }
    }
    reply_empty(r);
}

/* GET /_synapse/admin/v1/users/{userId}/joined_rooms */
void
synapse_admin_user_joined_rooms(struct req *r)
{
    struct store_admin_user u;
    char **ids = NULL;
    size_t n = 0;
    json_t *list;

    if (target_or_reply(r, "Can only look up local users", &u) != 0)
        return;
    store_admin_user_clear(&u);
    if (store_user_rooms(r->hs->store, r->params[0], "join", &ids, &n) != STORE_OK) {
        reply_internal(r, "room list failed");
        return;
    }
    list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_string(ids[i]));
    store_strings_free(ids, n);
    reply_json(r, 200, json_pack("{s:o, s:I}", "joined_rooms", list, "total", (json_int_t)n));
}

/* GET /_synapse/admin/v1/users/{userId}/media */
void
synapse_admin_user_media(struct req *r)
{
    struct store_admin_user u;
    struct store_media *list = NULL;
    const char *order_by = req_query(r, "order_by");
    int64_t from, limit, total = 0;
    bool backwards;
    size_t n = 0;
    json_t *media, *out;

    if (target_or_reply(r, "Can only look up local users", &u) != 0)
        return;
    store_admin_user_clear(&u);
    if (!synapse_admin_query_int(r, "from", 0, &from) ||
        !synapse_admin_query_int(r, "limit", DEFAULT_LIMIT, &limit) ||
        !synapse_admin_query_dir(r, false, &backwards))
        return;
    if (order_by && !store_admin_media_order_ok(order_by)) {
        reply_error(r, MERR_INVALID_PARAM, "Unknown value for order_by: %s", order_by);
        return;
    }
    if (store_media_list_user(r->hs->store, r->params[0], from, limit, order_by, backwards, &list,
                              &n, &total) != STORE_OK) {
        reply_internal(r, "media list failed");
        return;
    }
    media = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_pack(
            "{s:s, s:s, s:I, s:I, s:I, s:b}", "media_id", list[i].media_id, "media_type",
            list[i].media_type, "media_length", (json_int_t)list[i].length, "created_ts",
            (json_int_t)list[i].created_ts, "last_access_ts", (json_int_t)list[i].created_ts,
            "safe_from_quarantine", list[i].safe_from_quarantine);
        json_object_set_new(m, "upload_name",
                            list[i].upload_name ? json_string(list[i].upload_name) : json_null());
        json_object_set_new(m, "quarantined_by",
                            list[i].quarantined_by ? json_string(list[i].quarantined_by)
                                                   : json_null());
        json_array_append_new(media, m);
    }
    store_media_list_free(list, n);
    out = json_pack("{s:o, s:I}", "media", media, "total", (json_int_t)total);
    if (from + (int64_t)n < total)
        json_object_set_new(out, "next_token", json_integer(from + (json_int_t)n));
    reply_json(r, 200, out);
}

/* DELETE /_synapse/admin/v1/users/{userId}/media */
void
synapse_admin_user_media_delete(struct req *r)
{
    struct store_admin_user u;
    char **ids = NULL;
    size_t n = 0;
    json_t *deleted;

    if (target_or_reply(r, "Can only delete media of local users", &u) != 0)
        return;
    store_admin_user_clear(&u);
    if (store_media_user_ids(r->hs->store, r->params[0], &ids, &n) != STORE_OK) {
        reply_internal(r, "media list failed");
        return;
    }
    deleted = json_array();
    for (size_t i = 0; i < n; i++) {
        enum media_rc mrc = media_delete(r->hs->media, ids[i]);
        if (mrc == MEDIA_OK)
            json_array_append_new(deleted, json_string(ids[i]));
        else if (mrc != MEDIA_NOT_FOUND)
            log_warn("could not delete media %s", ids[i]);
    }
    store_strings_free(ids, n);
    log_info("%s deleted %zu media of %s", r->user_id, json_array_size(deleted), r->params[0]);
    reply_json(r, 200,
               json_pack("{s:o, s:I}", "deleted_media", deleted, "total",
                         (json_int_t)json_array_size(deleted)));
}

/* POST /_synapse/admin/v1/users/{userId}/login: an access token for the user (on a new device
 * named "Admin login"; Hearth's tokens belong to devices). valid_until_ms is accepted but
 * Hearth's tokens do not expire. */
void
synapse_admin_user_login(struct req *r)
{
    json_t *until = json_object_get(r->json, "valid_until_ms"), *out;
    struct store_admin_user u;

    if (until && !json_is_null(until) && !json_is_integer(until)) {
        reply_error(r, MERR_INVALID_PARAM, "valid_until_ms must be an integer");
        return;
    }
    if (target_or_reply(r, "Only local users can be logged in as", &u) != 0)
        return;
    if (strcmp(u.user_id, r->user_id) == 0) {
        store_admin_user_clear(&u);
        reply_error(r, MERR_UNKNOWN, "Cannot use admin API to login as self");
        return;
    }
    if (u.deactivated || u.is_guest) {
        store_admin_user_clear(&u);
        reply_error(r, MERR_INVALID_PARAM, "Cannot log in as a deactivated or guest account");
        return;
    }
    store_admin_user_clear(&u);
    out = json_object();
    if (api_issue_login_or_reply(r, r->params[0], NULL, "Admin login", out) != 0) {
        json_decref(out);
        return;
    }
    log_info("%s logged in as %s", r->user_id, r->params[0]);
    reply_json(r, 200, json_pack("{s:O}", "access_token", json_object_get(out, "access_token")));
    json_decref(out);
}

/* GET /_synapse/admin/v1/users/{userId}/admin */
void
synapse_admin_user_admin_get(struct req *r)
{
    struct store_admin_user u;

    if (target_or_reply(r, "Only local users can be admins of this homeserver", &u) != 0)
        return;
    reply_json(r, 200, json_pack("{s:b}", "admin", u.is_admin));
    store_admin_user_clear(&u);
}

/* PUT /_synapse/admin/v1/users/{userId}/admin */
void
synapse_admin_user_admin_put(struct req *r)
{
    json_t *admin = json_object_get(r->json, "admin");
    struct store_admin_user u;

    if (!json_is_boolean(admin)) {
        reply_error(r, MERR_MISSING_PARAM, "admin (a boolean) is required");
        return;
    }
    if (target_or_reply(r, "Only local users can be admins of this homeserver", &u) != 0)
        return;
    store_admin_user_clear(&u);
    if (strcmp(r->params[0], r->user_id) == 0 && !json_is_true(admin)) {
        reply_error(r, MERR_FORBIDDEN, "You may not demote yourself.");
        return;
    }
    if (store_user_set_admin(r->hs->store, r->params[0], json_is_true(admin)) != STORE_OK) {
        reply_internal(r, "admin flag update failed");
        return;
    }
    log_info("%s made %s %s", r->user_id, r->params[0],
             json_is_true(admin) ? "an admin" : "a user");
    reply_empty(r);
}

/* GET /_synapse/admin/v1/users/{userId}/pushers (Synapse's shape: pushers and total). */
void
synapse_admin_user_pushers(struct req *r)
{
    struct store_admin_user u;
    json_t *list;

    if (target_or_reply(r, "Can only look up local users", &u) != 0)
        return;
    list = api_pushers_json(r->hs, u.user_id);
    store_admin_user_clear(&u);
    if (!list) {
        reply_internal(r, "pushers lookup failed");
        return;
    }
    reply_json(
        r, 200,
        json_pack("{s:o, s:I}", "pushers", list, "total", (json_int_t)json_array_size(list)));
}
