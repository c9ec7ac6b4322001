/* voip.yaml: TURN server credentials for calls. The TURN REST API (used by coturn's
 * use-auth-secret) fixes HMAC-SHA1, so it comes from OpenSSL's libcrypto. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "core/config.h"
#include "core/util.h"

/* password = base64(HMAC-SHA1(secret, username)), padded as the TURN server computes it.
 * New string, or NULL. */
static char *
rest_password(const char *secret, const char *username)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char *b64, *out;
    size_t len;

    if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)username,
              strlen(username), mac, &mac_len))
        return NULL;
    b64 = util_base64_encode(mac, mac_len);
    sodium_memzero(mac, sizeof(mac));
    len = strlen(b64);
    out = xasprintf("%s%.*s", b64, (int)((4 - len % 4) % 4), "==");
    free(b64);
    return out;
}

/* GET /_matrix/client/r0/voip/turnServer */
void
voip_turn_server(struct req *r)
{
    const struct config *cfg = r->hs->cfg;
    char *username = NULL, *password = NULL;
    json_t *uris;

    if (r->is_guest && !cfg->turn_allow_guests) {
        reply_error(r, MERR_FORBIDDEN, "Guest access not allowed");
        return;
    }
    /* Without TURN servers (or credentials for them) the answer is {}, as Synapse gives:
     * clients then call without a relay. */
    if (cfg->n_turn_uris == 0 ||
        (!cfg->turn_shared_secret && !(cfg->turn_username && cfg->turn_password))) {
        reply_json(r, 200, json_object());
        return;
    }
    if (cfg->turn_shared_secret) {
        /* TURN REST API: the username is "<expiry in Unix seconds>:<user ID>". */
        int64_t expiry = (util_now_ms() + cfg->turn_user_lifetime_ms) / 1000;
        username = xasprintf("%lld:%s", (long long)expiry, r->user_id);
        password = rest_password(cfg->turn_shared_secret, username);
        if (!password) {
            free(username);
            reply_internal(r, "HMAC-SHA1 failed");
            return;
        }
    } else {
        username = xstrdup(cfg->turn_username);
        password = xstrdup(cfg->turn_password);
    }
    uris = json_array();
    for (size_t i = 0; i < cfg->n_turn_uris; i++)
        json_array_append_new(uris, json_string(cfg->turn_uris[i]));
    reply_json(r, 200,
               json_pack("{s:s, s:s, s:o, s:I}", "username", username, "password", password, "uris",
                         uris, "ttl", (json_int_t)(cfg->turn_user_lifetime_ms / 1000)));
    sodium_memzero(password, strlen(password));
    free(password);
    free(username);
}
