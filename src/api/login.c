/* login.yaml: login flows and login. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/threepid.h"
#include "api/userid.h"
#include "core/config.h"
#include "core/log.h"
#include "core/password.h"
#include "core/util.h"
#include "http/auth.h"
#include "http/ratelimit.h"
#include "json/json.h"
#include "store/store.h"

char *
api_new_device_id(void)
{
    return util_random_string("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 10);
}

int
api_issue_login_or_reply(struct req *r, const char *user_id, const char *device_id,
                         const char *display_name, json_t *out)
{
    char hash[65], *token = NULL, *dev = NULL;
    int rc = -1;

    int64_t now = util_now_ms(), until = 0;

    dev = device_id ? xstrdup(device_id) : api_new_device_id();
    token = auth_new_token(hash);
    /* session_lifetime: tokens expire into a soft logout; not for guests (as Synapse), who
     * could not log in again. */
    if (r->hs->cfg->session_lifetime_ms > 0) {
        struct store_user u;
        if (store_user_get(r->hs->store, user_id, &u) == STORE_OK && !u.is_guest)
            until = now + r->hs->cfg->session_lifetime_ms;
        store_user_clear(&u);
    }
    if (store_device_login_until(r->hs->store, user_id, dev, display_name, hash, r->ip,
                                 auth_user_agent(r), now, until) != STORE_OK) {
        reply_internal(r, "device login failed");
        goto out;
    }
    /* e2e: a new device is a device-list change (logged by the store); a login to an
     * existing device only wakes syncs that find nothing. */
    api_device_list_changed(r->hs, user_id);
    json_object_set_new(out, "user_id", json_string(user_id));
    json_object_set_new(out, "access_token", json_string(token));
    json_object_set_new(out, "device_id", json_string(dev));
    json_object_set_new(out, "home_server", json_string(r->hs->cfg->server_name));
    rc = 0;
out:
    free(token);
    free(dev);
    return rc;
}

/* GET /_matrix/client/r0/login */
void
login_get_flows(struct req *r)
{
    const struct config *cfg = r->hs->cfg;
    json_t *flows = json_pack("[{s:s},{s:s}]", "type", "m.login.password", "type", "m.login.token");

    /* SPEC: modules/sso_login "If the homeserver advertises m.login.sso as a viable flow";
     * identity_providers as Matrix 1.1 (and Synapse) list them, for clients that offer a
     * button per provider (/login/sso/redirect/{idpId}). */
    if (cfg->n_oidc_providers) {
        json_t *idps = json_array();
        for (size_t i = 0; i < cfg->n_oidc_providers; i++)
            json_array_append_new(idps, json_pack("{s:s, s:s}", "id", cfg->oidc_providers[i].idp_id,
                                                  "name", cfg->oidc_providers[i].idp_name));
        json_array_append_new(
            flows, json_pack("{s:s, s:o}", "type", "m.login.sso", "identity_providers", idps));
    }
    reply_json(r, 200, json_pack("{s:o}", "flows", flows));
}

char *
api_login_token_new(struct store *st, const char *user_id, int64_t lifetime_ms)
{
    char hash[65], *rnd = util_random_token(32), *token = xasprintf("hlt_%s", rnd);

    free(rnd);
    util_sha256_hex(token, strlen(token), hash);
    if (store_login_token_add(st, hash, user_id, util_now_ms() + lifetime_ms) != STORE_OK) {
        free(token);
        return NULL;
    }
    return token;
}

/* SPEC: "In the case that the homeserver does not know about the supplied 3PID, the homeserver
 * must respond with 403 Forbidden." The account of an email address, or NULL after replying. */
static char *
thirdparty_user_or_reply(struct req *r, const char *medium, const char *address)
{
    char *email, *owner = NULL;
    enum store_rc rc;

    if (!medium || !address) {
        reply_error(r, MERR_BAD_JSON, "medium and address must be strings");
        return NULL;
    }
    email = strcmp(medium, "email") == 0 ? threepid_canonical_email(address) : NULL;
    if (!email) {
        reply_error(r, MERR_FORBIDDEN, "Invalid username or password");
        return NULL;
    }
    rc = store_threepid_owner(r->hs->store, "email", email, &owner);
    free(email);
    if (rc == STORE_ERR) {
        reply_internal(r, "3pid lookup failed");
        return NULL;
    }
    if (rc == STORE_NOT_FOUND)
        reply_error(r, MERR_FORBIDDEN, "Invalid username or password");
    return owner;
}

/* Which user does the body name? Returns a new user ID, or NULL after replying. */
static char *
identify_or_reply(struct req *r)
{
    const json_t *ident = json_object_get(r->json, "identifier");
    const char *who = NULL;
    char *user_id;

    if (ident) {
        const char *type;
        if (!json_is_object(ident) || !(type = json_get_str(ident, "type", NULL))) {
            reply_error(r, MERR_BAD_JSON, "identifier must be an object with a type");
            return NULL;
        }
        if (strcmp(type, "m.id.user") == 0) {
            who = json_get_str(ident, "user", NULL);
            if (!who) {
                reply_error(r, MERR_BAD_JSON, "identifier.user must be a string");
                return NULL;
            }
        } else if (strcmp(type, "m.id.thirdparty") == 0) {
            return thirdparty_user_or_reply(r, json_get_str(ident, "medium", NULL),
                                            json_get_str(ident, "address", NULL));
        } else if (strcmp(type, "m.id.phone") == 0) {
            /* No account has a phone number: an unknown 3PID is a 403. */
            reply_error(r, MERR_FORBIDDEN, "Invalid username or password");
            return NULL;
        } else {
            reply_error(r, MERR_UNKNOWN, "Unknown login identifier type");
            return NULL;
        }
    } else if (json_object_get(r->json, "medium") || json_object_get(r->json, "address")) {
        /* The r0 spec's older form: medium and address at the top level. */
        return thirdparty_user_or_reply(r, json_get_str(r->json, "medium", NULL),
                                        json_get_str(r->json, "address", NULL));
    } else {
        bool wrong = false;
        who = json_get_str(r->json, "user", &wrong);
        if (!who) {
            reply_error(r, wrong ? MERR_BAD_JSON : MERR_MISSING_PARAM,
                        "Missing identifier or user");
            return NULL;
        }
    }
    user_id = userid_qualify(r->hs, who);
    if (!user_id)
        reply_error(r, MERR_FORBIDDEN, "Invalid username or password");
    return user_id;
}

/* The account to log into by password, or NULL after replying. */
static char *
password_login_or_reply(struct req *r)
{
    const char *pw = json_get_str(r->json, "password", NULL);
    char *user_id = NULL;
    struct store_user u = {0};
    enum store_rc rc;
    int64_t now = util_now_ms(), retry;
    bool ok;

    if (!pw) {
        reply_error(r, MERR_BAD_JSON, "password must be a string");
        return NULL;
    }
    user_id = identify_or_reply(r);
    if (!user_id)
        return NULL;
    if (!ratelimit_check(r->hs->rl_login_account, user_id, now, true, &retry) ||
        !ratelimit_check(r->hs->rl_login_failed, user_id, now, false, &retry)) {
        reply_limit_exceeded(r, retry);
        goto fail;
    }
    rc = store_user_get(r->hs->store, user_id, &u);
    if (rc == STORE_ERR) {
        reply_internal(r, "user lookup failed");
        goto fail;
    }
    if (rc == STORE_NOT_FOUND) {
        /* Same work as for a real account, so timing does not tell which exist. */
        password_verify(r->hs->dummy_password_hash, pw);
        ok = false;
    } else {
        ok = password_verify(u.password_hash, pw);
    }
    if (!ok) {
        ratelimit_record(r->hs->rl_login_failed, user_id, now);
        reply_error(r, MERR_FORBIDDEN, "Invalid username or password");
        goto fail;
    }
    if (u.deactivated) {
        reply_error(r, MERR_USER_DEACTIVATED, "This account has been deactivated");
        goto fail;
    }
    store_user_clear(&u);
    return user_id;
fail:
    store_user_clear(&u);
    free(user_id);
    return NULL;
}

static char *
token_login_or_reply(struct req *r)
{
    const char *token = json_get_str(r->json, "token", NULL);
    char hash[65], *user_id = NULL;
    struct store_user u = {0};
    enum store_rc rc;

    if (!token) {
        reply_error(r, MERR_BAD_JSON, "token must be a string");
        return NULL;
    }
    util_sha256_hex(token, strlen(token), hash);
    rc = store_login_token_consume(r->hs->store, hash, util_now_ms(), &user_id);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_FORBIDDEN, "Invalid login token");
        return NULL;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "login token lookup failed");
        return NULL;
    }
    rc = store_user_get(r->hs->store, user_id, &u);
    if (rc != STORE_OK || u.deactivated) {
        reply_error(r, rc == STORE_OK ? MERR_USER_DEACTIVATED : MERR_FORBIDDEN,
                    "This account cannot log in");
        free(user_id);
        user_id = NULL;
    }
    store_user_clear(&u);
    return user_id;
}

/* POST /_matrix/client/r0/login */
void
login_post(struct req *r)
{
    const char *type, *device_id, *display_name;
    char *user_id = NULL;
    json_t *out = NULL;
    bool wrong = false;
    int64_t retry;

    if (!ratelimit_check(r->hs->rl_login_address, r->ip, util_now_ms(), true, &retry)) {
        reply_limit_exceeded(r, retry);
        return;
    }
    type = json_get_str(r->json, "type", &wrong);
    device_id = json_get_str(r->json, "device_id", &wrong);
    display_name = json_get_str(r->json, "initial_device_display_name", &wrong);
    if (wrong) {
        reply_error(r, MERR_BAD_JSON,
                    "type, device_id and initial_device_display_name must be strings");
        return;
    }
    if (!type) {
        reply_error(r, MERR_MISSING_PARAM, "Missing login type");
        return;
    }
    if (device_id && (!*device_id || strlen(device_id) > 255)) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid device_id");
        return;
    }
    if (strcmp(type, "m.login.password") == 0)
        user_id = password_login_or_reply(r);
    else if (strcmp(type, "m.login.token") == 0)
        user_id = token_login_or_reply(r);
    else
        reply_error(r, MERR_UNKNOWN, "Unknown login type %s", type);
    if (!user_id)
        return;
    out = json_object();
    if (api_issue_login_or_reply(r, user_id, device_id, display_name, out) != 0)
        goto out;
    if (r->hs->cfg->public_baseurl)
        json_object_set_new(
            out, "well_known",
            json_pack("{s:{s:s}}", "m.homeserver", "base_url", r->hs->cfg->public_baseurl));
    log_info("login %s device %s", user_id, json_string_value(json_object_get(out, "device_id")));
    reply_json(r, 200, out);
    out = NULL;
out:
    json_decref(out);
    free(user_id);
}
