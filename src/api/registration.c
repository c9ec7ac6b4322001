/* registration.yaml: register, availability, password change, deactivation. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/idserver.h"
#include "api/threepid.h"
#include "api/uia.h"
#include "api/userid.h"
#include "core/config.h"
#include "core/log.h"
#include "core/password.h"
#include "core/util.h"
#include "http/ratelimit.h"
#include "json/json.h"
#include "room/id.h"
#include "store/store.h"

/* Synapse refuses longer passwords too; argon2 is fine with them but nobody needs more. */
#define MAX_PASSWORD_LEN 512

/* Registration flows (issue 10): email alone when registrations_require_3pid names it;
 * otherwise dummy when enable_registration_without_verification, and email when the server
 * validates addresses (as Synapse offers them). None: registration cannot be completed. */
static size_t
register_flows(const struct config *cfg, struct uia_flow *flows)
{
    size_t n = 0;
    if (cfg->registration_requires_email) {
        flows[n++] = (struct uia_flow){{"m.login.email.identity", NULL}};
        return n;
    }
    if (cfg->enable_registration_without_verification)
        flows[n++] = (struct uia_flow){{"m.login.dummy", NULL}};
    if (cfg->email_enabled)
        flows[n++] = (struct uia_flow){{"m.login.email.identity", NULL}};
    return n;
}

static const struct uia_flow email_flows[] = {{{"m.login.email.identity", NULL}}};

/* Checks a desired localpart; on failure replies and returns false. */
static bool
username_ok_or_reply(struct req *r, const char *username, char **user_id)
{
    *user_id = NULL;
    if (!id_localpart_valid(username)) {
        reply_error(r, MERR_INVALID_USERNAME,
                    "User ID can only contain characters a-z, 0-9, or '=_-./'");
        return false;
    }
    /* Localparts starting with '_' are kept for application services (Synapse's rule). */
    if (username[0] == '_') {
        reply_error(r, MERR_INVALID_USERNAME, "User ID may not begin with _");
        return false;
    }
    *user_id = userid_make(r->hs, username);
    if (strlen(*user_id) > ID_MAX_LEN) {
        free(*user_id);
        *user_id = NULL;
        reply_error(r, MERR_INVALID_USERNAME, "User ID may not be longer than %d characters",
                    ID_MAX_LEN);
        return false;
    }
    /* Application services' exclusive namespaces (issue 13). */
    if (!api_appservice_user_free_or_reply(r, *user_id)) {
        free(*user_id);
        *user_id = NULL;
        return false;
    }
    return true;
}

/* Replies M_USER_IN_USE if taken. */
static bool
user_free_or_reply(struct req *r, const char *user_id)
{
    struct store_user u;
    enum store_rc rc = store_user_get(r->hs->store, user_id, &u);

    store_user_clear(&u);
    if (rc == STORE_OK) {
        reply_error(r, MERR_USER_IN_USE, "User ID already taken.");
        return false;
    }
    if (rc != STORE_NOT_FOUND) {
        reply_internal(r, "user lookup failed");
        return false;
    }
    return true;
}

/* Creates the account (with the email its registration validated, if any) and, unless
 * inhibit_login, a device and token. */
static void
finish_register(struct req *r, const char *user_id, const char *password, bool guest,
                const char *device_id, const char *display_name, bool inhibit_login,
                const struct uia_result *auth)
{
    char *hash = NULL;
    json_t *out = NULL;
    enum store_rc rc;

    if (password) {
        hash = password_hash(password);
        if (!hash) {
            reply_internal(r, "password hashing failed");
            goto out;
        }
    }
    if (auth && auth->email) {
        char *owner = NULL;
        rc = store_threepid_owner(r->hs->store, "email", auth->email, &owner);
        free(owner);
        if (rc == STORE_OK) {
            reply_error(r, MERR_THREEPID_IN_USE, "Email is already in use");
            goto out;
        }
    }
    rc = store_user_create(r->hs->store, user_id, hash, guest, false, util_now_ms());
    if (rc == STORE_EXISTS) {
        reply_error(r, MERR_USER_IN_USE, "User ID already taken.");
        goto out;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "user create failed");
        goto out;
    }
    /* The registration's validated email becomes the account's (as Synapse), so it serves
     * password resets and 3PID login. */
    if (auth && auth->email &&
        store_threepid_add(r->hs->store, user_id, "email", auth->email, auth->email_validated_ts,
                           util_now_ms()) != STORE_OK)
        log_warn("could not add %s to the new account %s", auth->email, user_id);
    /* A validation serves one registration. */
    if (auth && auth->email_sid)
        store_3pid_session_delete(r->hs->store, auth->email_sid);
    /* The localpart is the default display name (as Synapse); failing leaves none. */
    if (store_profile_init(r->hs->store, user_id) != STORE_OK)
        log_warn("could not set the default display name of %s", user_id);
    ratelimit_record(r->hs->rl_registration, r->ip, util_now_ms());
    log_info("registered %s%s", user_id, guest ? " (guest)" : "");
    out = json_pack("{s:s, s:s}", "user_id", user_id, "home_server", r->hs->cfg->server_name);
    if (!inhibit_login && api_issue_login_or_reply(r, user_id, device_id, display_name, out) != 0)
        goto out;
    reply_json(r, 200, out);
    out = NULL;
out:
    json_decref(out);
    free(hash);
}

static void
register_guest(struct req *r)
{
    const char *display_name = json_get_str(r->json, "initial_device_display_name", NULL);
    char *user_id = NULL, num[32];
    int64_t n;

    if (!r->hs->cfg->allow_guest_access) {
        reply_error(r, MERR_FORBIDDEN, "Guest access is disabled");
        return;
    }
    if (store_next_localpart_number(r->hs->store, &n) != STORE_OK) {
        reply_internal(r, "localpart counter failed");
        return;
    }
    snprintf(num, sizeof(num), "%lld", (long long)n);
    user_id = userid_make(r->hs, num);
    /* SPEC: registration.yaml: for guests every parameter but initial_device_display_name
     * is ignored, and the server picks the device_id. */
    finish_register(r, user_id, NULL, true, NULL, display_name, false, NULL);
    free(user_id);
}

/* POST /_matrix/client/r0/register */
void
registration_register(struct req *r)
{
    const struct config *cfg = r->hs->cfg;
    const char *kind = req_query(r, "kind");
    const char *username, *password, *device_id, *display_name;
    json_t *inhibit;
    bool wrong = false;
    char *user_id = NULL;
    int64_t retry;
    struct uia_flow flows[2];
    size_t n_flows;
    struct uia_result auth = {0};

    /* Application services register their users (issue 13; appservice.c). */
    if (api_appservice_register(r))
        return;
    if (kind && strcmp(kind, "user") != 0 && strcmp(kind, "guest") != 0) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid kind: must be 'user' or 'guest'");
        return;
    }
    if (!ratelimit_check(r->hs->rl_registration, r->ip, util_now_ms(), false, &retry)) {
        reply_limit_exceeded(r, retry);
        return;
    }
    if (kind && strcmp(kind, "guest") == 0) {
        register_guest(r);
        return;
    }
    if (!cfg->enable_registration) {
        reply_error(r, MERR_FORBIDDEN, "Registration has been disabled");
        return;
    }
    username = json_get_str(r->json, "username", &wrong);
    password = json_get_str(r->json, "password", &wrong);
    device_id = json_get_str(r->json, "device_id", &wrong);
    display_name = json_get_str(r->json, "initial_device_display_name", &wrong);
    inhibit = json_object_get(r->json, "inhibit_login");
    if (wrong) {
        reply_error(r, MERR_BAD_JSON,
                    "username, password, device_id and initial_device_display_name must be "
                    "strings");
        return;
    }
    if (inhibit && !json_is_boolean(inhibit)) {
        reply_error(r, MERR_BAD_JSON, "inhibit_login must be a boolean");
        return;
    }
    if (password && strlen(password) > MAX_PASSWORD_LEN) {
        reply_error(r, MERR_INVALID_PARAM, "Password too long");
        return;
    }
    if (device_id && (!*device_id || strlen(device_id) > 255)) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid device_id");
        return;
    }
    /* Username problems are reported before authentication, so a client learns of them
     * before the user completes any stage (as Synapse does). */
    if (username) {
        if (!username_ok_or_reply(r, username, &user_id))
            goto out;
        if (!user_free_or_reply(r, user_id))
            goto out;
    }
    n_flows = register_flows(cfg, flows);
    if (n_flows == 0) {
        /* No verification stage this server can offer (email needs the email section). */
        reply_error(r, MERR_FORBIDDEN,
                    "Registration requires verification, which this server cannot offer");
        goto out;
    }
    if (!uia_check_ex_or_reply(r, "register", flows, n_flows, NULL, &auth))
        goto out;
    if (!password) {
        reply_error(r, MERR_MISSING_PARAM, "Missing password");
        goto out;
    }
    if (!user_id) {
        int64_t n;
        char num[32];
        if (store_next_localpart_number(r->hs->store, &n) != STORE_OK) {
            reply_internal(r, "localpart counter failed");
            goto out;
        }
        snprintf(num, sizeof(num), "%lld", (long long)n);
        user_id = userid_make(r->hs, num);
    }
    finish_register(r, user_id, password, false, device_id, display_name, json_is_true(inhibit),
                    &auth);
out:
    uia_result_clear(&auth);
    free(user_id);
}

/* GET /_matrix/client/r0/register/available */
void
registration_available(struct req *r)
{
    const char *username = req_query(r, "username");
    char *user_id = NULL;

    if (!username) {
        reply_error(r, MERR_MISSING_PARAM, "Missing username parameter");
        return;
    }
    if (!username_ok_or_reply(r, username, &user_id))
        return;
    if (user_free_or_reply(r, user_id))
        reply_json(r, 200, json_pack("{s:b}", "available", 1));
    free(user_id);
}

/* POST /_matrix/client/r0/account/password */
void
registration_password(struct req *r)
{
    const char *new_password;
    json_t *logout = json_object_get(r->json, "logout_devices");
    bool wrong = false;
    char *hash = NULL, *owner = NULL;
    const char *user_id;
    struct uia_result auth = {0};

    new_password = json_get_str(r->json, "new_password", &wrong);
    if (wrong || (logout && !json_is_boolean(logout))) {
        reply_error(r, MERR_BAD_JSON, "new_password must be a string, logout_devices a boolean");
        return;
    }
    if (!new_password && json_object_get(r->json, "auth")) {
        reply_error(r, MERR_MISSING_PARAM, "Missing new_password");
        return;
    }
    if (new_password && strlen(new_password) > MAX_PASSWORD_LEN) {
        reply_error(r, MERR_INVALID_PARAM, "Password too long");
        return;
    }
    if (r->user_id) {
        if (!uia_check_user_or_reply(r, "password", r->user_id))
            return;
    } else {
        /* SPEC: "The homeserver may change the flows available depending on whether a valid
         * access token is provided": without one, a password reset by email (issue 10). */
        if (!r->hs->cfg->email_enabled) {
            reply_error(r, MERR_MISSING_TOKEN, "Missing access token");
            return;
        }
        if (!uia_check_ex_or_reply(r, "password", email_flows, 1, NULL, &auth))
            return;
        if (store_threepid_owner(r->hs->store, "email", auth.email, &owner) != STORE_OK) {
            reply_error(r, MERR_THREEPID_NOT_FOUND, "Email address not found");
            goto out;
        }
    }
    user_id = r->user_id ? r->user_id : owner;
    if (!new_password) {
        reply_error(r, MERR_MISSING_PARAM, "Missing new_password");
        goto out;
    }
    hash = password_hash(new_password);
    if (!hash) {
        reply_internal(r, "password hashing failed");
        goto out;
    }
    if (store_user_set_password(r->hs->store, user_id, hash) != STORE_OK) {
        reply_internal(r, "password update failed");
        goto out;
    }
    /* SPEC: logout_devices defaults to true: every other device's tokens are revoked (all of
     * them for a reset without a token). */
    if (!logout || json_is_true(logout)) {
        if (store_device_delete_all_except(r->hs->store, user_id, r->device_id) != STORE_OK) {
            reply_internal(r, "device logout failed");
            goto out;
        }
        api_device_list_changed(r->hs, r->user_id); /* e2e */
    }
    /* A validation serves one password reset. */
    if (auth.email_sid)
        store_3pid_session_delete(r->hs->store, auth.email_sid);
    reply_empty(r);
out:
    uia_result_clear(&auth);
    free(owner);
    free(hash);
}

/* POST /_matrix/client/r0/account/deactivate */
void
registration_deactivate(struct req *r)
{
    json_t *id_server = json_object_get(r->json, "id_server");
    struct store_threepid_bind *binds = NULL;
    size_t n_binds = 0;
    bool unbound_all = true;

    if (id_server && !json_is_string(id_server)) {
        reply_error(r, MERR_BAD_JSON, "id_server must be a string");
        return;
    }
    if (id_server && !idserver_name_ok(json_string_value(id_server))) {
        reply_error(r, MERR_INVALID_PARAM, "id_server must be a hostname with an optional port");
        return;
    }
    if (!uia_check_user_or_reply(r, "deactivate", r->user_id))
        return;
    /* SPEC: id_server: "The identity server to unbind all of the user's 3PIDs from. If not
     * provided, the homeserver MUST use the id_server that was originally use to bind each
     * identifier." As Synapse, the identifiers are those bound through this server. */
    if (store_threepid_binds(r->hs->store, r->user_id, NULL, NULL, &binds, &n_binds) != STORE_OK) {
        reply_internal(r, "bind lookup failed");
        return;
    }
    for (size_t i = 0; i < n_binds; i++) {
        /* The same 3PID bound at several servers is unbound from all of them at once. */
        if (i > 0 && strcmp(binds[i].medium, binds[i - 1].medium) == 0 &&
            strcmp(binds[i].address, binds[i - 1].address) == 0)
            continue;
        if (!threepid_unbind(r->hs, r->user_id, binds[i].medium, binds[i].address,
                             json_string_value(id_server)))
            unbound_all = false;
    }
    store_threepid_binds_free(binds, n_binds);
    /* Leave first, while the account can still send; a room that refuses is logged. */
    api_leave_all_rooms(r->hs, r->user_id);
    if (store_threepid_remove_all(r->hs->store, r->user_id) != STORE_OK ||
        store_user_deactivate(r->hs->store, r->user_id) != STORE_OK) {
        reply_internal(r, "deactivation failed");
        return;
    }
    api_device_list_changed(r->hs, r->user_id); /* e2e: its devices are gone */
    log_info("deactivated %s", r->user_id);
    /* SPEC: "must be success if the homeserver has no identifiers to unbind". */
    reply_json(
        r, 200,
        json_pack("{s:s}", "id_server_unbind_result", unbound_all ? "success" : "no-support"));
}

/* POST /_matrix/client/r0/register/email/requestToken (and the msisdn and password
 * variants) */
void
registration_request_token(struct req *r)
{
    threepid_request_token(r);
}
