/* openid.yaml: tokens a user hands to an integration, which checks them with the
 * federation API's userinfo endpoint. They prove who the user is and nothing more: kept apart
 * from access tokens, so they open no other endpoint. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "core/config.h"
#include "core/util.h"
#include "store/store.h"

/* Synapse's openid token lifetime. */
#define OPENID_TTL_SECONDS 3600
#define OPENID_TOKEN_BYTES 24

/* POST /_matrix/client/r0/user/{userId}/openid/request_token */
void
openid_request_token(struct req *r)
{
    char hash[65], *token;
    int64_t now = util_now_ms();
    enum store_rc rc;

    if (strcmp(r->params[0], r->user_id) != 0) {
        reply_error(r, MERR_FORBIDDEN, "Cannot request tokens for other users");
        return;
    }
    token = util_random_token(OPENID_TOKEN_BYTES);
    util_sha256_hex(token, strlen(token), hash);
    rc = store_openid_token_add(r->hs->store, hash, r->user_id,
                                now + (int64_t)OPENID_TTL_SECONDS * 1000, now);
    if (rc != STORE_OK) {
        sodium_memzero(token, strlen(token));
        free(token);
        reply_internal(r, "openid token store failed");
        return;
    }
    reply_json(r, 200,
               json_pack("{s:s, s:s, s:s, s:i}", "access_token", token, "token_type", "Bearer",
                         "matrix_server_name", r->hs->cfg->server_name, "expires_in",
                         OPENID_TTL_SECONDS));
    sodium_memzero(token, strlen(token));
    free(token);
}

/* GET /_matrix/federation/v1/openid/userinfo */
void
openid_userinfo(struct req *r)
{
    const char *token = req_query(r, "access_token");
    char hash[65], *user_id = NULL;
    enum store_rc rc;

    if (!token || !*token) {
        reply_error(r, MERR_MISSING_TOKEN, "Access token required");
        return;
    }
    util_sha256_hex(token, strlen(token), hash);
    rc = store_openid_token_lookup(r->hs->store, hash, util_now_ms(), &user_id);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_UNKNOWN_TOKEN, "Access token unknown or expired");
        return;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "openid token lookup failed");
        return;
    }
    reply_json(r, 200, json_pack("{s:s}", "sub", user_id));
    free(user_id);
}
