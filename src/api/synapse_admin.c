/* Synapse's shared-secret registration (/_synapse/admin/v1/register), which admin tools
 * such as register_new_matrix_user speak. The protocol fixes HMAC-SHA1, so it comes from
 * OpenSSL's libcrypto. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/synapse_admin.h"
#include "api/userid.h"
#include "core/config.h"
#include "core/log.h"
#include "core/password.h"
#include "core/util.h"
#include "core/version.h"
#include "json/json.h"
#include "room/id.h"
#include "store/store.h"

#define NONCE_TTL_MS 60000
#define MAX_NONCES 1024

struct nonce {
    char value[48];
    int64_t created_ms;
};

struct nonces {
    pthread_mutex_t lock;
    struct nonce items[MAX_NONCES];
    size_t n;
};

struct nonces *
synapse_admin_nonces_new(void)
{
    struct nonces *ns = xcalloc(1, sizeof(*ns));
    pthread_mutex_init(&ns->lock, NULL);
    return ns;
}

void
synapse_admin_nonces_free(struct nonces *ns)
{
    if (!ns)
        return;
    pthread_mutex_destroy(&ns->lock);
    free(ns);
}

static void
expire(struct nonces *ns, int64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < ns->n; i++)
        if (now - ns->items[i].created_ms < NONCE_TTL_MS)
            ns->items[k++] = ns->items[i];
    ns->n = k;
}

/* Removes the nonce if known and fresh; true if it was. Single use either way. */
static bool
take_nonce(struct nonces *ns, const char *value)
{
    bool found = false;
    pthread_mutex_lock(&ns->lock);
    expire(ns, util_now_ms());
    for (size_t i = 0; i < ns->n; i++) {
        if (strcmp(ns->items[i].value, value) == 0) {
            ns->items[i] = ns->items[--ns->n];
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&ns->lock);
    return found;
}

/* GET /_synapse/admin/v1/register */
void
synapse_admin_register_nonce(struct req *r)
{
    struct nonces *ns = r->hs->admin_nonces;
    char *value;
    int64_t now = util_now_ms();

    if (!r->hs->cfg->registration_shared_secret) {
        reply_error(r, MERR_UNKNOWN, "Shared secret registration is not enabled");
        return;
    }
    value = util_random_token(24);
    pthread_mutex_lock(&ns->lock);
    expire(ns, now);
    if (ns->n == MAX_NONCES) /* drop the oldest */
        memmove(&ns->items[0], &ns->items[1], (MAX_NONCES - 1) * sizeof(ns->items[0]));
    else
        ns->n++;
    snprintf(ns->items[ns->n - 1].value, sizeof(ns->items[0].value), "%s", value);
    ns->items[ns->n - 1].created_ms = now;
    pthread_mutex_unlock(&ns->lock);
    reply_json(r, 200, json_pack("{s:s}", "nonce", value));
    free(value);
}

/* HMAC-SHA1(secret, nonce \0 username \0 password \0 admin|notadmin [\0 user_type]) */
static bool
mac_matches(const char *secret, const char *nonce, const char *user, const char *pw, bool admin,
            const char *user_type, const char *mac_hex)
{
    unsigned char mac[EVP_MAX_MD_SIZE], given[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    size_t given_len = 0;
    const char *parts[5] = {nonce, user, pw, admin ? "admin" : "notadmin", user_type};
    size_t nparts = user_type ? 5 : 4, total = 0, off = 0;
    unsigned char *msg;
    bool ok = false;

    for (size_t i = 0; i < nparts; i++)
        total += strlen(parts[i]) + 1;
    msg = xmalloc(total);
    for (size_t i = 0; i < nparts; i++) {
        size_t len = strlen(parts[i]);
        if (i > 0)
            msg[off++] = '\0';
        memcpy(msg + off, parts[i], len);
        off += len;
    }
    if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), msg, off, mac, &mac_len))
        goto out;
    if (sodium_hex2bin(given, sizeof(given), mac_hex, strlen(mac_hex), NULL, &given_len, NULL) !=
            0 ||
        given_len != mac_len)
        goto out;
    ok = sodium_memcmp(given, mac, mac_len) == 0;
out:
    sodium_memzero(msg, total);
    free(msg);
    return ok;
}

/* POST /_synapse/admin/v1/register */
void
synapse_admin_register(struct req *r)
{
    const char *secret = r->hs->cfg->registration_shared_secret;
    const char *nonce, *username, *password, *mac, *user_type;
    json_t *admin = json_object_get(r->json, "admin"), *out = NULL;
    char *user_id = NULL, *hash = NULL;
    bool wrong = false;
    enum store_rc rc;

    if (!secret) {
        reply_error(r, MERR_UNKNOWN, "Shared secret registration is not enabled");
        return;
    }
    nonce = json_get_str(r->json, "nonce", &wrong);
    username = json_get_str(r->json, "username", &wrong);
    password = json_get_str(r->json, "password", &wrong);
    mac = json_get_str(r->json, "mac", &wrong);
    user_type = json_get_str(r->json, "user_type", &wrong);
    if (wrong || (admin && !json_is_boolean(admin))) {
        reply_error(r, MERR_BAD_JSON, "Invalid field types");
        return;
    }
    if (!nonce || !take_nonce(r->hs->admin_nonces, nonce)) {
        reply_error(r, MERR_UNKNOWN, "unrecognised nonce");
        return;
    }
    if (!username || !password || !mac) {
        reply_error(r, MERR_MISSING_PARAM, "username, password and mac are required");
        return;
    }
    if (!mac_matches(secret, nonce, username, password, json_is_true(admin), user_type, mac)) {
        reply_error(r, MERR_FORBIDDEN, "HMAC incorrect");
        return;
    }
    if (!id_localpart_valid(username)) {
        reply_error(r, MERR_INVALID_USERNAME,
                    "User ID can only contain characters a-z, 0-9, or '=_-./'");
        return;
    }
    user_id = userid_make(r->hs, username);
    if (strlen(user_id) > ID_MAX_LEN) {
        reply_error(r, MERR_INVALID_USERNAME, "User ID is too long");
        goto out;
    }
    hash = password_hash(password);
    if (!hash) {
        reply_internal(r, "password hashing failed");
        goto out;
    }
    rc = store_user_create(r->hs->store, user_id, hash, false, json_is_true(admin), util_now_ms());
    if (rc == STORE_EXISTS) {
        reply_error(r, MERR_USER_IN_USE, "User ID already taken.");
        goto out;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "user create failed");
        goto out;
    }
    /* The localpart is the default display name (as Synapse); failing leaves none. */
    if (store_profile_init(r->hs->store, user_id) != STORE_OK)
        log_warn("could not set the default display name of %s", user_id);
    log_info("registered %s via shared secret%s", user_id, json_is_true(admin) ? " (admin)" : "");
    out = json_object();
    if (api_issue_login_or_reply(r, user_id, NULL, NULL, out) != 0)
        goto out;
    reply_json(r, 200, out);
    out = NULL;
out:
    json_decref(out);
    free(hash);
    free(user_id);
}

/* ---- Synapse's admin API: shared helpers (issue 14) ---- */

bool
synapse_admin_check_or_reply(struct req *r)
{
    struct store_user me;
    enum store_rc rc = store_user_get(r->hs->store, r->user_id, &me);
    bool admin = rc == STORE_OK && me.is_admin && !me.deactivated;

    store_user_clear(&me);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
        reply_internal(r, "user lookup failed");
        return false;
    }
    if (!admin) {
        reply_error(r, MERR_FORBIDDEN, "You are not a server admin");
        return false;
    }
    return true;
}

bool
synapse_admin_local_user_or_reply(struct req *r, const char *user_id, const char *what)
{
    const char *lp, *server;
    size_t lp_len;

    if (!id_user_id_split(user_id, &lp, &lp_len, &server) || !id_user_id_valid(user_id)) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid user ID");
        return false;
    }
    if (strcmp(server, r->hs->cfg->server_name) != 0) {
        reply_error(r, MERR_INVALID_PARAM, "%s", what);
        return false;
    }
    return true;
}

bool
synapse_admin_query_int(struct req *r, const char *name, int64_t def, int64_t *out)
{
    const char *v = req_query(r, name);

    *out = def;
    if (!v && !req_has_query(r, name))
        return true;
    if (!v || util_parse_int64(v, out) != 0 || *out < 0) {
        reply_error(r, MERR_INVALID_PARAM,
                    "Query parameter %s must be a string representing a positive integer.", name);
        return false;
    }
    return true;
}

bool
synapse_admin_query_bool(struct req *r, const char *name, bool def, bool *out)
{
    const char *v = req_query(r, name);

    *out = def;
    if (!v && !req_has_query(r, name))
        return true;
    if (v && strcmp(v, "true") == 0) {
        *out = true;
        return true;
    }
    if (v && strcmp(v, "false") == 0) {
        *out = false;
        return true;
    }
    reply_error(r, MERR_INVALID_PARAM,
                "Boolean query parameter %s must be one of ['true', 'false']", name);
    return false;
}

bool
synapse_admin_query_dir(struct req *r, bool def_backwards, bool *backwards)
{
    const char *v = req_query(r, "dir");

    *backwards = def_backwards;
    if (!v && !req_has_query(r, "dir"))
        return true;
    if (v && (strcmp(v, "f") == 0 || strcmp(v, "b") == 0)) {
        *backwards = v[0] == 'b';
        return true;
    }
    reply_error(r, MERR_INVALID_PARAM, "Query parameter dir must be one of ['b', 'f']");
    return false;
}

/* GET /_synapse/admin/v1/server_version */
void
synapse_admin_server_version(struct req *r)
{
    /* Synapse answers this without authentication; so do we (it is the version only). */
    reply_json(r, 200, json_pack("{s:s}", "server_version", "Hearth " HEARTH_VERSION));
}

/* GET /health: for load balancers and container checks, as Synapse. */
void
synapse_admin_health(struct req *r)
{
    reply_raw(r, 200, "text/plain", xstrdup("OK"), 2);
}
