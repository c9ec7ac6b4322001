#include "http/auth.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/hs.h"
#include "appservice/appservice.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "room/id.h"
#include "store/store.h"

/* last_seen_* is written at most this often per device, so a busy client is not one write
 * per request. */
#define LAST_SEEN_INTERVAL_MS 60000
/* A longer User-Agent is cut (on a UTF-8 character boundary) before it is stored. */
#define USER_AGENT_MAX 512

const char *
auth_user_agent(struct req *r)
{
    const char *ua = req_header(r, "User-Agent");
    size_t len;

    if (!ua || !*ua)
        return NULL;
    len = strlen(ua);
    if (len <= USER_AGENT_MAX)
        return ua;
    len = USER_AGENT_MAX;
    while (len > 0 && ((unsigned char)ua[len] & 0xC0) == 0x80)
        len--;
    return arena_strndup(&r->arena, ua, len);
}

char *
auth_new_token(char hash[65])
{
    char *rnd = util_random_token(AUTH_TOKEN_BYTES);
    char *tok = xasprintf("hth_%s", rnd);
    sodium_memzero(rnd, strlen(rnd));
    free(rnd);
    util_sha256_hex(tok, strlen(tok), hash);
    return tok;
}

/* SPEC: application_service_api.rst "Identity assertion": the service acts as its sender, or
 * as the user_id parameter when that is in its users namespace (403 M_FORBIDDEN otherwise, and
 * for users it has not registered, as Synapse). */
static bool
appservice_or_reply(struct req *r, const struct appservice *as, const char *token)
{
    const char *uid = req_query(r, "user_id");
    const char *lp, *server;
    size_t lp_len;

    if (!uid || !*uid) {
        uid = appservice_sender(as);
    } else if (strcmp(uid, appservice_sender(as)) != 0) {
        struct store_user u = {0};
        enum store_rc rc;

        if (!id_user_id_valid(uid) || !id_user_id_split(uid, &lp, &lp_len, &server) ||
            strcmp(server, r->hs->cfg->server_name) != 0 || !appservice_is_user(as, uid)) {
            reply_error(r, MERR_FORBIDDEN, "Application service cannot masquerade as this user");
            return false;
        }
        rc = store_user_get(r->hs->store, uid, &u);
        store_user_clear(&u);
        if (rc == STORE_NOT_FOUND) {
            reply_error(r, MERR_FORBIDDEN, "Application service has not registered this user");
            return false;
        }
        if (rc != STORE_OK) {
            reply_internal(r, "user lookup failed");
            return false;
        }
    }
    r->access_token = arena_strdup(&r->arena, token);
    r->user_id = arena_strdup(&r->arena, uid);
    r->device_id = NULL; /* a service has no device (as Synapse) */
    r->is_guest = false;
    r->appservice = as;
    return true;
}

bool
auth_rate_limited(const struct req *r)
{
    /* SPEC: rate_limited: "Whether requests from masqueraded users are rate-limited. The
     * sender is excluded." */
    return !r->appservice || (appservice_rate_limited(r->appservice) &&
                              strcmp(r->user_id, appservice_sender(r->appservice)) != 0);
}

/* The request's access token (Authorization: Bearer, or ?access_token=) in *token, NULL when
 * there is none; false after replying 401 to a malformed one. */
static bool
token_or_reply(struct req *r, const char **token)
{
    const char *hdr = req_header(r, "Authorization");
    const char *query = req_query(r, "access_token");

    *token = NULL;
    if (hdr) {
        if (strncasecmp(hdr, "Bearer ", 7) != 0) {
            reply_error(r, MERR_MISSING_TOKEN, "Invalid Authorization header");
            return false;
        }
        *token = hdr + 7;
        while (**token == ' ')
            (*token)++;
        if (query) {
            reply_error(r, MERR_MISSING_TOKEN,
                        "Mixing Authorization header and access_token parameter");
            return false;
        }
    } else {
        *token = query;
    }
    if (*token && !**token)
        *token = NULL;
    return true;
}

bool
auth_appservice_or_reply(struct req *r)
{
    const char *token;

    if (!token_or_reply(r, &token))
        return false;
    if (!token) {
        reply_error(r, MERR_MISSING_TOKEN, "Missing access token");
        return false;
    }
    r->appservice = appservices_by_token(r->hs->appservices, token);
    if (!r->appservice) {
        reply_error(r, MERR_UNKNOWN_TOKEN, "Not an application service's token");
        return false;
    }
    r->access_token = arena_strdup(&r->arena, token);
    r->user_id = appservice_sender(r->appservice);
    return true;
}

bool
auth_request_or_reply(struct req *r)
{
    const struct appservice *as;
    const char *token = NULL;
    struct store_auth a;
    char hash[65];
    enum store_rc rc;

    if (!token_or_reply(r, &token))
        return false;
    if (!token) {
        if (r->route->auth == AUTH_OPTIONAL)
            return true;
        reply_error(r, MERR_MISSING_TOKEN, "Missing access token");
        return false;
    }
    as = appservices_by_token(r->hs->appservices, token);
    if (as)
        return appservice_or_reply(r, as, token);
    /* Only the SHA-256 of a token is stored; lookup is by that hash, so no stored secret is
     * ever compared byte by byte with client input. */
    util_sha256_hex(token, strlen(token), hash);
    rc = store_token_lookup(r->hs->store, hash, &a);
    if (rc == STORE_NOT_FOUND) {
        json_t *extra = json_pack("{s:b}", "soft_logout", 0);
        reply_error_extra(r, 401, MERR_UNKNOWN_TOKEN, "Unknown access token", extra);
        json_decref(extra);
        return false;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "token lookup failed");
        return false;
    }
    /* SPEC: client_server_api "Soft logout": an expired token (session_lifetime) keeps its
     * device and keys; the client logs in again with the same device_id. */
    if (a.valid_until_ts && util_now_ms() >= a.valid_until_ts) {
        json_t *extra = json_pack("{s:b}", "soft_logout", 1);
        reply_error_extra(r, 401, MERR_UNKNOWN_TOKEN, "Access token has expired", extra);
        json_decref(extra);
        store_auth_clear(&a);
        return false;
    }
    r->access_token = arena_strdup(&r->arena, token);
    r->user_id = arena_strdup(&r->arena, a.user_id);
    r->device_id = arena_strdup(&r->arena, a.device_id);
    r->is_guest = a.is_guest;
    int64_t now = util_now_ms();
    const char *ua = auth_user_agent(r);
    if (now - a.last_seen_ts >= LAST_SEEN_INTERVAL_MS || !a.last_seen_ip ||
        strcmp(a.last_seen_ip, r->ip) != 0 ||
        (ua && (!a.last_seen_user_agent || strcmp(a.last_seen_user_agent, ua) != 0))) {
        if (store_device_touch(r->hs->store, a.user_id, a.device_id, r->ip, ua, now) != STORE_OK)
            log_warn("could not record last_seen for %s", a.user_id);
    }
    store_auth_clear(&a);
    return true;
}
