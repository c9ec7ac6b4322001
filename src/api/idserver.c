#include "api/idserver.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/hs.h"
#include "core/config.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/util.h"
#include "http/http.h"
#include "json/json.h"
#include "room/event.h"
#include "room/id.h"

#define IS_TIMEOUT_MS 10000

void
idserver_resp_clear(struct idserver_resp *resp)
{
    json_decref(resp->body);
    memset(resp, 0, sizeof(*resp));
}

bool
idserver_name_ok(const char *id_server)
{
    return id_server && *id_server && id_server_name_valid(id_server);
}

void
idserver_reply_failure(struct req *r, const struct idserver_resp *resp)
{
    const char *code = json_string_value(json_object_get(resp->body, "errcode"));
    const char *msg = json_string_value(json_object_get(resp->body, "error"));

    if (resp->status >= 400 && resp->status < 500 && code && strncmp(code, "M_", 2) == 0) {
        json_t *body = json_pack("{s:s, s:s}", "errcode", code, "error",
                                 msg ? msg : "The identity server refused the request");
        reply_json(r, (int)resp->status, body);
        return;
    }
    reply_error_status(r, 502, MERR_UNKNOWN, "The identity server could not be used (%s)",
                       resp->status ? "unexpected answer" : resp->error);
}

static char *
is_url(struct hs *hs, const char *id_server, const char *path)
{
    return xasprintf("%s://%s/_matrix/identity/v2/%s", hs->cfg->identity_server_scheme, id_server,
                     path);
}

/* Synapse's ip_range_blacklist/whitelist: identity servers are named by clients, so they must
 * not reach the server's own network. */
static bool
refuse(void *arg, int family, const unsigned char *addr)
{
    const struct config *cfg = arg;
    return fetch_ip_refused(cfg->ip_range_blacklist, cfg->n_ip_range_blacklist,
                            cfg->ip_range_whitelist, cfg->n_ip_range_whitelist, family, addr);
}

/* One call; the answer's JSON object (if any) goes to resp->body. 0 for a 200. */
static int
call(struct hs *hs, const char *method, const char *url, const char *auth_header,
     const json_t *body, struct idserver_resp *resp)
{
    struct fetch_req fr = {.method = method,
                           .url = url,
                           .timeout_ms = IS_TIMEOUT_MS,
                           .refuse = refuse,
                           .refuse_arg = (void *)hs->cfg};
    struct fetch_resp out;
    char *text = body ? json_dump_compact(body) : NULL;
    json_error_t jerr;
    int rc;

    memset(resp, 0, sizeof(*resp));
    fr.headers[0] = auth_header;
    fr.body = text;
    rc = fetch(&fr, &out);
    free(text);
    if (rc != 0) {
        snprintf(resp->error, sizeof(resp->error), "%s", out.error);
        log_warn("identity server %s: %s", url, out.error);
        return -1;
    }
    resp->status = out.status;
    resp->body = json_loadb(out.body, out.len, 0, &jerr);
    if (resp->body && !json_is_object(resp->body)) {
        json_decref(resp->body);
        resp->body = NULL;
    }
    fetch_resp_clear(&out);
    if (resp->status != 200 || !resp->body) {
        snprintf(resp->error, sizeof(resp->error), "HTTP %ld", resp->status);
        return -1;
    }
    return 0;
}

static char *
bearer(const char *token)
{
    return xasprintf("Authorization: Bearer %s", token);
}

int
idserver_bind(struct hs *hs, const char *id_server, const char *id_access_token, const char *sid,
              const char *client_secret, const char *mxid, struct idserver_resp *resp)
{
    char *url = is_url(hs, id_server, "3pid/bind"), *auth = bearer(id_access_token);
    json_t *body =
        json_pack("{s:s, s:s, s:s}", "sid", sid, "client_secret", client_secret, "mxid", mxid);
    int rc = call(hs, "POST", url, auth, body, resp);

    json_decref(body);
    free(url);
    free(auth);
    return rc;
}

/* SPEC: server_server_api "Request Authentication", which identity servers accept for
 * unbinding: the request as JSON {method, uri, origin, destination, content}, signed. */
static char *
xmatrix_header(struct hs *hs, const char *id_server, const char *uri, const json_t *content)
{
    json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:O}", "method", "POST", "uri", uri, "origin",
                            hs->cfg->server_name, "destination", id_server, "content", content);
    const char *sig;
    char *out = NULL;

    if (json_sign(req, hs->cfg->server_name, &hs->key) == 0) {
        sig = json_string_value(json_object_get(
            json_object_get(json_object_get(req, "signatures"), hs->cfg->server_name),
            hs->key.key_id));
        if (sig)
            out = xasprintf("Authorization: X-Matrix origin=%s,key=\"%s\",sig=\"%s\"",
                            hs->cfg->server_name, hs->key.key_id, sig);
    }
    json_decref(req);
    return out;
}

int
idserver_unbind(struct hs *hs, const char *id_server, const char *mxid, const char *medium,
                const char *address, struct idserver_resp *resp)
{
    char *url = is_url(hs, id_server, "3pid/unbind"), *auth;
    json_t *body = json_pack("{s:s, s:{s:s, s:s}}", "mxid", mxid, "threepid", "medium", medium,
                             "address", address);
    int rc = -1;

    auth = xmatrix_header(hs, id_server, "/_matrix/identity/v2/3pid/unbind", body);
    if (auth)
        rc = call(hs, "POST", url, auth, body, resp);
    else
        snprintf(resp->error, sizeof(resp->error), "could not sign the request");
    json_decref(body);
    free(url);
    free(auth);
    return rc;
}

/* SPEC: identity_service_api "Client behaviour" for hashed lookups: the hash is the unpadded
 * URL-safe base64 of SHA-256("<address> <medium> <pepper>"). */
static char *
lookup_hash(const char *address, const char *medium, const char *pepper)
{
    char *text = xasprintf("%s %s %s", address, medium, pepper);
    unsigned char h[crypto_hash_sha256_BYTES];
    char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

    crypto_hash_sha256(h, (const unsigned char *)text, strlen(text));
    sodium_bin2base64(b64, sizeof(b64), h, sizeof(h), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    free(text);
    return xstrdup(b64);
}

static bool
offers(const json_t *algorithms, const char *name)
{
    size_t i;
    json_t *a;
    json_array_foreach(algorithms, i, a) if (json_is_string(a) &&
                                             strcmp(json_string_value(a), name) == 0) return true;
    return false;
}

int
idserver_lookup(struct hs *hs, const char *id_server, const char *id_access_token,
                const char *medium, const char *address, char **mxid, struct idserver_resp *resp)
{
    char *url = is_url(hs, id_server, "hash_details"), *auth = bearer(id_access_token);
    char *key = NULL;
    const char *pepper, *algorithm;
    json_t *body = NULL, *algs;
    int rc = -1;

    *mxid = NULL;
    if (call(hs, "GET", url, auth, NULL, resp) != 0)
        goto out;
    algs = json_object_get(resp->body, "algorithms");
    pepper = json_string_value(json_object_get(resp->body, "lookup_pepper"));
    if (offers(algs, "sha256") && pepper) {
        algorithm = "sha256";
        key = lookup_hash(address, medium, pepper);
    } else if (offers(algs, "none")) {
        algorithm = "none";
        key = xasprintf("%s %s", address, medium);
    } else {
        snprintf(resp->error, sizeof(resp->error), "no lookup algorithm in common");
        resp->status = 0;
        goto out;
    }
    body = json_pack("{s:[s], s:s, s:s}", "addresses", key, "algorithm", algorithm, "pepper",
                     pepper ? pepper : "");
    idserver_resp_clear(resp);
    free(url);
    url = is_url(hs, id_server, "lookup");
    if (call(hs, "POST", url, auth, body, resp) != 0)
        goto out;
    {
        const char *who =
            json_string_value(json_object_get(json_object_get(resp->body, "mappings"), key));
        *mxid = who ? xstrdup(who) : NULL;
    }
    rc = 0;
out:
    json_decref(body);
    free(key);
    free(url);
    free(auth);
    return rc;
}

int
idserver_store_invite(struct hs *hs, const char *id_server, const char *id_access_token,
                      const json_t *body, struct idserver_resp *resp)
{
    char *url = is_url(hs, id_server, "store-invite"), *auth = bearer(id_access_token);
    int rc = call(hs, "POST", url, auth, body, resp);
    free(url);
    free(auth);
    return rc;
}

bool
idserver_key_valid(struct hs *hs, const char *key_validity_url, const char *public_key)
{
    struct idserver_resp resp;
    char *pk = fetch_escape(public_key);
    char *url = xasprintf("%s%spublic_key=%s", key_validity_url,
                          strchr(key_validity_url, '?') ? "&" : "?", pk);
    bool valid = false;

    if (call(hs, "GET", url, NULL, NULL, &resp) == 0)
        valid = json_is_true(json_object_get(resp.body, "valid"));
    idserver_resp_clear(&resp);
    free(url);
    free(pk);
    return valid;
}
