/* administrative_contact.yaml: third-party identifiers. Until email and phone verification
 * exist (the 3PID issue), accounts have none: listing answers an empty list, and every call
 * that would add or verify one answers a precise error after checking its body. */
#include <string.h>

#include "api/api.h"
#include "json/json.h"

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

/* GET /_matrix/client/r0/account/3pid */
void
threepid_list(struct req *r)
{
    reply_json(r, 200, json_pack("{s:[]}", "threepids"));
}

/* POST /_matrix/client/r0/account/3pid */
void
threepid_add_legacy(struct req *r)
{
    static const char *const fields[] = {"client_secret", "id_server", "id_access_token", "sid",
                                         NULL};
    json_t *creds = json_object_get(r->json, "three_pid_creds");

    if (!creds) {
        reply_error(r, MERR_MISSING_PARAM, "Missing parameter: three_pid_creds");
        return;
    }
    if (!json_is_object(creds)) {
        reply_error(r, MERR_BAD_JSON, "three_pid_creds must be an object");
        return;
    }
    if (!require_fields_or_reply(r, creds, fields))
        return;
    reply_error_status(r, 403, MERR_THREEPID_AUTH_FAILED,
                       "The third-party credentials could not be verified");
}

/* POST /_matrix/client/r0/account/3pid/add */
void
threepid_add(struct req *r)
{
    static const char *const fields[] = {"client_secret", "sid", NULL};
    if (!require_fields_or_reply(r, r->json, fields))
        return;
    /* No validation session can exist yet, so none is validated. */
    reply_error(r, MERR_THREEPID_AUTH_FAILED, "No validated 3pid session found");
}

/* POST /_matrix/client/r0/account/3pid/bind */
void
threepid_bind(struct req *r)
{
    static const char *const fields[] = {"client_secret", "id_server", "id_access_token", "sid",
                                         NULL};
    if (!require_fields_or_reply(r, r->json, fields))
        return;
    reply_error_status(r, 403, MERR_SERVER_NOT_TRUSTED,
                       "This server does not talk to identity servers yet");
}

static bool
medium_address_or_reply(struct req *r)
{
    static const char *const fields[] = {"medium", "address", NULL};
    const char *medium;

    if (!require_fields_or_reply(r, r->json, fields))
        return false;
    medium = json_string_value(json_object_get(r->json, "medium"));
    if (strcmp(medium, "email") != 0 && strcmp(medium, "msisdn") != 0) {
        reply_error(r, MERR_INVALID_PARAM, "medium must be 'email' or 'msisdn'");
        return false;
    }
    return true;
}

/* POST /_matrix/client/r0/account/3pid/delete */
void
threepid_delete(struct req *r)
{
    if (!medium_address_or_reply(r))
        return;
    /* The account has no such identifier; deleting what is absent succeeds (as Synapse). */
    reply_json(r, 200, json_pack("{s:s}", "id_server_unbind_result", "no-support"));
}

/* POST /_matrix/client/r0/account/3pid/unbind */
void
threepid_unbind(struct req *r)
{
    if (!medium_address_or_reply(r))
        return;
    reply_json(r, 200, json_pack("{s:s}", "id_server_unbind_result", "no-support"));
}

/* POST /_matrix/client/r0/account/3pid/email/requestToken (and msisdn; and the registration
 * and password-reset variants, which take the same bodies) */
void
threepid_request_token(struct req *r)
{
    static const char *const email[] = {"client_secret", "email", "i:send_attempt", NULL};
    static const char *const msisdn[] = {"client_secret", "country", "phone_number",
                                         "i:send_attempt", NULL};
    bool is_email = strstr(r->path, "/email/") != NULL;
    const char *secret;

    if (!require_fields_or_reply(r, r->json, is_email ? email : msisdn))
        return;
    /* SPEC: client_secret must match [0-9a-zA-Z.=_-] and be at most 255 characters. */
    secret = json_string_value(json_object_get(r->json, "client_secret"));
    if (!*secret || strlen(secret) > 255 ||
        strspn(secret, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.=_-") !=
            strlen(secret)) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid client_secret");
        return;
    }
    if (is_email && !strchr(json_string_value(json_object_get(r->json, "email")), '@')) {
        reply_error(r, MERR_INVALID_PARAM, "Invalid email address");
        return;
    }
    reply_error_status(r, 403, MERR_THREEPID_DENIED,
                       "Third-party identifiers are not supported by this server yet");
}
