/* administrative_contact.yaml and the requestToken endpoints of registration.yaml: the 3PIDs
 * of an account, validated by mail from this server, and binds at identity servers (issue 10).
 * Phone numbers need an SMS provider, which Hearth does not have: their requestToken endpoints
 * answer M_THREEPID_DENIED after checking the body. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/html.h"
#include "api/idserver.h"
#include "api/threepid.h"
#include "api/uia.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "store/store.h"

/* Replies and returns false unless every named field is a string (or int for "i:"). */
static bool
require_fields_or_reply(struct req *r, const json_t *obj, const char *const *fields)
{
    for (const char *const *f = fields; *f; f++) {
        bool want_int = strncmp(*f, "i:", 2) == 0;
        const char *name = want_int ? *f + 2 : *f;
        json_t *v = json_object_get(obj, name);
        if (!v) {
            reply_error(r, MERR_MISSING_PARAM, "Missing parameter: %s", name);
            return false;
        }
        if (want_int ? !json_is_integer(v) : !json_is_string(v)) {
            reply_error(r, MERR_BAD_JSON, "Parameter %s must be %s", name,
                        want_int ? "an integer" : "a string");
            return false;
        }
    }
    return true;
}

/* The optional string fields must be strings when present. */
static bool
optional_strings_or_reply(struct req *r, const json_t *obj, const char *const *fields)
{
    for (const char *const *f = fields; *f; f++) {
        json_t *v = json_object_get(obj, *f);
        if (v && !json_is_string(v)) {
            reply_error(r, MERR_BAD_JSON, "Parameter %s must be a string", *f);
            return false;
        }
    }
    return true;
}

static bool
changes_allowed_or_reply(struct req *r)
{
    /* Synapse's enable_3pid_changes: 400 M_FORBIDDEN when off. */
    if (!r->hs->cfg->enable_3pid_changes) {
        reply_error_status(r, 400, MERR_FORBIDDEN, "3PID changes are disabled on this server");
        return false;
    }
    return true;
}

/* GET /_matrix/client/r0/account/3pid */
void
threepid_list(struct req *r)
{
    struct store_threepid *list = NULL;
    size_t n = 0;
    json_t *arr;

    if (store_threepid_list(r->hs->store, r->user_id, &list, &n) != STORE_OK) {
        reply_internal(r, "3pid list failed");
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I}", "medium", list[i].medium,
                                             "address", list[i].address, "validated_at",
                                             (json_int_t)list[i].validated_ts, "added_at",
                                             (json_int_t)list[i].added_ts));
    store_threepids_free(list, n);
    reply_json(r, 200, json_pack("{s:o}", "threepids", arr));
}

/* The bind itself, for /3pid/bind and the deprecated POST /3pid (obj holds the fields). */
static void
bind_3pid(struct req *r, const json_t *obj)
{
    static const char *const fields[] = {"client_secret", "id_server", "id_access_token", "sid",
                                         NULL};
    const char *id_server, *medium, *address;
    struct idserver_resp resp;

    if (!require_fields_or_reply(r, obj, fields))
        return;
    id_server = json_string_value(json_object_get(obj, "id_server"));
    /* SPEC: M_SERVER_NOT_TRUSTED "if the server does not trust/support the identity server
     * provided": anything but a server name could send this request elsewhere. */
    if (!idserver_name_ok(id_server)) {
        reply_error(r, MERR_SERVER_NOT_TRUSTED, "id_server must be a hostname[:port]");
        return;
    }
    if (idserver_bind(r->hs, id_server, json_string_value(json_object_get(obj, "id_access_token")),
                      json_string_value(json_object_get(obj, "sid")),
                      json_string_value(json_object_get(obj, "client_secret")), r->user_id,
                      &resp) != 0) {
        /* SPEC: "Homeservers should simply proxy any errors received by the identity server
         * to the caller." */
        idserver_reply_failure(r, &resp);
        idserver_resp_clear(&resp);
        return;
    }
    medium = json_string_value(json_object_get(resp.body, "medium"));
    address = json_string_value(json_object_get(resp.body, "address"));
    /* SPEC: "Homeservers should track successful binds so they can be unbound later." */
    if (medium && address &&
        store_threepid_bind_add(r->hs->store, r->user_id, medium, address, id_server) != STORE_OK) {
        idserver_resp_clear(&resp);
        reply_internal(r, "bind record failed");
        return;
    }
    if (!medium || !address)
        log_warn("identity server %s answered a bind without medium and address", id_server);
    idserver_resp_clear(&resp);
    reply_empty(r);
}

/* POST /_matrix/client/r0/account/3pid */
void
threepid_add_legacy(struct req *r)
{
    json_t *creds = json_object_get(r->json, "three_pid_creds");

    if (!creds) {
        reply_error(r, MERR_MISSING_PARAM, "Missing parameter: three_pid_creds");
        return;
    }
    if (!json_is_object(creds)) {
        reply_error(r, MERR_BAD_JSON, "three_pid_creds must be an object");
        return;
    }
    /* SPEC: "This results in this endpoint being an equivalent to /3pid/bind". */
    bind_3pid(r, creds);
}

/* POST /_matrix/client/r0/account/3pid/add */
void
threepid_add(struct req *r)
{
    static const char *const fields[] = {"client_secret", "sid", NULL};
    const char *sid, *secret;
    char *address = NULL, *owner = NULL;
    int64_t validated_ts = 0;
    enum store_rc rc;

    if (!require_fields_or_reply(r, r->json, fields) || !changes_allowed_or_reply(r))
        return;
    if (!uia_check_user_or_reply(r, "add_3pid", r->user_id))
        return;
    sid = json_string_value(json_object_get(r->json, "sid"));
    secret = json_string_value(json_object_get(r->json, "client_secret"));
    if (threepid_session_validated(r->hs, sid, secret, &address, &validated_ts) != 0) {
        reply_error(r, MERR_THREEPID_AUTH_FAILED, "No validated 3pid session found");
        return;
    }
    /* SPEC: "Homeservers should prevent the caller from adding a 3PID to their account if it
     * has already been added to another user's account on the homeserver." */
    rc = store_threepid_owner(r->hs->store, "email", address, &owner);
    if (rc == STORE_OK && strcmp(owner, r->user_id) != 0) {
        reply_error(r, MERR_THREEPID_IN_USE, "Email is already in use");
        goto out;
    }
    if (rc == STORE_NOT_FOUND) {
        rc = store_threepid_add(r->hs->store, r->user_id, "email", address, validated_ts,
                                util_now_ms());
        if (rc == STORE_EXISTS) {
            reply_error(r, MERR_THREEPID_IN_USE, "Email is already in use");
            goto out;
        }
    }
    if (rc != STORE_OK) {
        reply_internal(r, "3pid add failed");
        goto out;
    }
    /* A session adds its address once. */
    store_3pid_session_delete(r->hs->store, sid);
    reply_empty(r);
out:
    free(owner);
    free(address);
}

/* POST /_matrix/client/r0/account/3pid/bind */
void
threepid_bind(struct req *r)
{
    bind_3pid(r, r->json);
}

/* Checks medium, address and the optional id_server of /delete and /unbind; *address gets
 * the canonical address (new string). */
static bool
medium_address_or_reply(struct req *r, char **address)
{
    static const char *const fields[] = {"medium", "address", NULL};
    static const char *const optional[] = {"id_server", NULL};
    const char *medium, *addr, *id_server;

    *address = NULL;
    if (!require_fields_or_reply(r, r->json, fields) ||
        !optional_strings_or_reply(r, r->json, optional))
        return false;
    medium = json_string_value(json_object_get(r->json, "medium"));
    addr = json_string_value(json_object_get(r->json, "address"));
    if (strcmp(medium, "email") != 0 && strcmp(medium, "msisdn") != 0) {
        reply_error(r, MERR_INVALID_PARAM, "medium must be 'email' or 'msisdn'");
        return false;
    }
    id_server = json_string_value(json_object_get(r->json, "id_server"));
    if (id_server && !idserver_name_ok(id_server)) {
        reply_error(r, MERR_SERVER_NOT_TRUSTED, "id_server must be a hostname[:port]");
        return false;
    }
    *address = strcmp(medium, "email") == 0 ? threepid_canonical_email(addr) : NULL;
    if (!*address)
        *address = xstrdup(addr);
    return true;
}

static void
reply_unbind_result(struct req *r, bool success)
{
    reply_json(r, 200,
               json_pack("{s:s}", "id_server_unbind_result", success ? "success" : "no-support"));
}

/* POST /_matrix/client/r0/account/3pid/delete */
void
threepid_delete(struct req *r)
{
    const char *medium;
    char *address = NULL;
    enum store_rc rc;
    bool unbound;

    if (!medium_address_or_reply(r, &address))
        return;
    if (!changes_allowed_or_reply(r))
        goto out;
    medium = json_string_value(json_object_get(r->json, "medium"));
    /* SPEC: delete "might not cause an unbind"; as Synapse, it unbinds from the identity
     * server named, else from those it was bound at through this server. */
    unbound = threepid_unbind(r->hs, r->user_id, medium, address,
                              json_string_value(json_object_get(r->json, "id_server")));
    rc = store_threepid_remove(r->hs->store, r->user_id, medium, address);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
        reply_internal(r, "3pid delete failed");
        goto out;
    }
    /* Deleting what the account does not have succeeds (as Synapse). */
    reply_unbind_result(r, unbound);
out:
    free(address);
}

/* POST /_matrix/client/r0/account/3pid/unbind */
void
threepid_unbind_handler(struct req *r)
{
    char *address = NULL;

    if (!medium_address_or_reply(r, &address))
        return;
    reply_unbind_result(
        r, threepid_unbind(r->hs, r->user_id, json_string_value(json_object_get(r->json, "medium")),
                           address, json_string_value(json_object_get(r->json, "id_server"))));
    free(address);
}

/* ---- requestToken ---- */

static enum threepid_kind
kind_of_path(const char *path)
{
    if (strstr(path, "/register/"))
        return TP_REGISTER;
    if (strstr(path, "/account/password/"))
        return TP_PASSWORD;
    return TP_ADD;
}

/* POST /_matrix/client/r0/{register,account/password,account/3pid}/{email,msisdn}/requestToken */
void
threepid_request_token(struct req *r)
{
    static const char *const email_fields[] = {"client_secret", "email", "i:send_attempt", NULL};
    static const char *const msisdn_fields[] = {"client_secret", "country", "phone_number",
                                                "i:send_attempt", NULL};
    static const char *const optional[] = {"next_link", "id_server", "id_access_token", NULL};
    const struct config *cfg = r->hs->cfg;
    bool is_email = strstr(r->path, "/email/") != NULL;
    enum threepid_kind kind = kind_of_path(r->path);
    const char *secret, *next_link;
    struct threepid_error err;
    char *email = NULL, *sid = NULL, *submit_url;
    json_t *out;

    if (!require_fields_or_reply(r, r->json, is_email ? email_fields : msisdn_fields) ||
        !optional_strings_or_reply(r, r->json, optional))
        return;
    secret = json_string_value(json_object_get(r->json, "client_secret"));
    if (!threepid_client_secret_ok(secret)) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid client_secret");
        return;
    }
    if (!is_email) {
        /* SPEC: 403 M_THREEPID_DENIED "The homeserver does not allow the third party
         * identifier as a contact option" (Synapse answers 400 M_UNKNOWN here). */
        reply_error_status(r, 403, MERR_THREEPID_DENIED,
                           "This server does not support phone numbers");
        return;
    }
    email = threepid_canonical_email(json_string_value(json_object_get(r->json, "email")));
    if (!email) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid email address");
        return;
    }
    next_link = json_string_value(json_object_get(r->json, "next_link"));
    if (next_link && strncmp(next_link, "https://", 8) != 0 &&
        strncmp(next_link, "http://", 7) != 0) {
        reply_error(r, MERR_INVALID_PARAM, "next_link must be an http(s) URL");
        goto out;
    }
    if (!cfg->email_enabled) {
        /* SPEC: M_SERVER_NOT_TRUSTED "if the server does not trust/support the identity
         * server provided": this server does not delegate validation to identity servers. */
        if (json_object_get(r->json, "id_server"))
            reply_error(r, MERR_SERVER_NOT_TRUSTED,
                        "This server does not delegate email validation to identity servers");
        else
            reply_error_status(r, 403, MERR_THREEPID_DENIED,
                               "Email validation is not enabled on this server");
        goto out;
    }
    if (kind == TP_REGISTER && !cfg->enable_registration) {
        reply_error(r, MERR_FORBIDDEN, "Registration has been disabled");
        goto out;
    }
    if (kind == TP_ADD && !changes_allowed_or_reply(r))
        goto out;
    if (threepid_email_request(r->hs, r->ip, kind, email, secret,
                               json_integer_value(json_object_get(r->json, "send_attempt")),
                               next_link, &sid, &err) != 0) {
        if (err.code == MERR_LIMIT_EXCEEDED)
            reply_limit_exceeded(r, err.retry_after_ms);
        else if (err.code == MERR_INTERNAL)
            reply_internal(r, "email validation failed");
        else
            reply_error_status(r, err.status, err.code, "%s", err.msg);
        goto out;
    }
    /* SPEC: submit_url takes the identity service's submitToken parameters; the mail has both
     * the link and the token, so either works. */
    submit_url = threepid_submit_url(r->hs);
    out = json_pack("{s:s, s:s}", "sid", sid, "submit_url", submit_url);
    free(submit_url);
    reply_json(r, 200, out);
out:
    free(sid);
    free(email);
}

/* ---- the link in the mail, and submit_url ---- */

static void
validated_page(struct req *r, int rc, const char *next_link)
{
    if (rc == -2) {
        reply_internal(r, "3pid validation failed");
        return;
    }
    if (rc != 0) {
        html_reply_message(r, 400, "Validation failed",
                           "This link is invalid or has expired. Ask your client to send a "
                           "new one.");
        return;
    }
    /* SPEC: next_link: "When the validation is completed, the identity server will redirect
     * the user to this URL." */
    if (next_link) {
        reply_redirect(r, next_link);
        return;
    }
    html_reply_message(r, 200, "Email address validated",
                       "Your email address has been validated. Return to your client to "
                       "continue.");
}

/* The query fields of a link; false after replying. */
static bool
link_fields_or_reply(struct req *r, const char **token, const char **secret, const char **sid,
                     bool form)
{
    *token = form ? html_form_get(r, "token") : req_query(r, "token");
    *secret = form ? html_form_get(r, "client_secret") : req_query(r, "client_secret");
    *sid = form ? html_form_get(r, "sid") : req_query(r, "sid");
    if (!*token || !*secret || !*sid || !**token || !**secret || !**sid) {
        html_reply_message(r, 400, "Validation failed",
                           "This link is incomplete: it needs token, client_secret and sid.");
        return false;
    }
    return true;
}

/* GET /_matrix/client/unstable/registration/email/submit_token (and add_threepid) */
void
threepid_submit_token_get(struct req *r)
{
    const char *token, *secret, *sid;
    char *next = NULL;
    int rc;

    if (!link_fields_or_reply(r, &token, &secret, &sid, false))
        return;
    rc = threepid_submit_token(r->hs, sid, secret, token, &next);
    validated_page(r, rc, next);
    free(next);
}

/* GET /_synapse/client/password_reset/email/submit_token: a page asking to confirm, so a mail
 * scanner following the link does not validate a reset (as Synapse). */
void
threepid_password_reset_confirm(struct req *r)
{
    const char *token, *secret, *sid;
    char *t, *c, *s, *body;

    if (!link_fields_or_reply(r, &token, &secret, &sid, false))
        return;
    t = html_escape(token);
    c = html_escape(secret);
    s = html_escape(sid);
    body = xasprintf("<p>A password reset was requested for your account. If this was you, "
                     "confirm it below, then return to your client to choose a new "
                     "password.</p><form method=\"post\"><input type=\"hidden\" name=\"token\" "
                     "value=\"%s\"><input type=\"hidden\" name=\"client_secret\" value=\"%s\">"
                     "<input type=\"hidden\" name=\"sid\" value=\"%s\">"
                     "<button type=\"submit\">Confirm password reset</button></form>",
                     t, c, s);
    reply_html(r, 200, html_page("Password reset", body));
    free(body);
    free(t);
    free(c);
    free(s);
}

/* POST /_synapse/client/password_reset/email/submit_token (the form of the page above) */
void
threepid_password_reset_submit(struct req *r)
{
    const char *token, *secret, *sid;
    char *next = NULL;
    int rc;

    if (!link_fields_or_reply(r, &token, &secret, &sid, true))
        return;
    rc = threepid_submit_token(r->hs, sid, secret, token, &next);
    validated_page(r, rc, next);
    free(next);
}

/* POST submit_url: {sid, client_secret, token}, the identity service's submitToken shape. */
void
threepid_submit_token_post(struct req *r)
{
    static const char *const fields[] = {"sid", "client_secret", "token", NULL};
    char *next = NULL;
    int rc;

    if (!require_fields_or_reply(r, r->json, fields))
        return;
    rc = threepid_submit_token(r->hs, json_string_value(json_object_get(r->json, "sid")),
                               json_string_value(json_object_get(r->json, "client_secret")),
                               json_string_value(json_object_get(r->json, "token")), &next);
    free(next);
    if (rc == -2) {
        reply_internal(r, "3pid validation failed");
        return;
    }
    reply_json(r, 200, json_pack("{s:b}", "success", rc == 0));
}
