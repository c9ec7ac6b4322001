/* The homeserver as a client of identity servers (Identity Service API v2): bind, unbind,
 * hashed lookup, store-invite and key validity, with libcurl (issue 10). The identity server is
 * the one the client names (`id_server`, "hostname[:port]"); requests go to
 * <identity_server_scheme>://<id_server>/_matrix/identity/v2/... */
#ifndef HEARTH_API_IDSERVER_H
#define HEARTH_API_IDSERVER_H

#include <jansson.h>
#include <stdbool.h>

struct hs;
struct req;

/* The answer of an identity server. */
struct idserver_resp {
    long status;  /* HTTP status; 0 when none arrived */
    json_t *body; /* the JSON object answered, or NULL (owned) */
    char error[128];
};
void idserver_resp_clear(struct idserver_resp *resp);

/* True if id_server is a server name (hostname, IPv4 or [IPv6], optional :port): nothing that
 * could steer the URL elsewhere. */
bool idserver_name_ok(const char *id_server);

/* Replies with what an identity server answered to a failed call: its own Matrix error
 * (status and errcode proxied, as the spec asks for binds), or 502 M_UNKNOWN when it could not
 * be reached or did not answer a Matrix error. */
void idserver_reply_failure(struct req *r, const struct idserver_resp *resp);

/* POST /_matrix/identity/v2/3pid/bind. 0 when the server answered 200. */
int idserver_bind(struct hs *hs, const char *id_server, const char *id_access_token,
                  const char *sid, const char *client_secret, const char *mxid,
                  struct idserver_resp *resp);
/* POST /_matrix/identity/v2/3pid/unbind, signed by this server (X-Matrix). 0 when the
 * identity server unbound it (200). */
int idserver_unbind(struct hs *hs, const char *id_server, const char *mxid, const char *medium,
                    const char *address, struct idserver_resp *resp);
/* Hashed lookup (hash_details, then lookup with sha256 or none). 0 and *mxid (new string, NULL
 * when nobody is bound), or -1 (resp says why). */
int idserver_lookup(struct hs *hs, const char *id_server, const char *id_access_token,
                    const char *medium, const char *address, char **mxid,
                    struct idserver_resp *resp);
/* POST /_matrix/identity/v2/store-invite with `body` (borrowed). 0 when answered 200: the
 * answer (token, public_keys, display_name) is in resp->body. */
int idserver_store_invite(struct hs *hs, const char *id_server, const char *id_access_token,
                          const json_t *body, struct idserver_resp *resp);
/* GET key_validity_url?public_key=...: true only for an answer {"valid": true}. */
bool idserver_key_valid(struct hs *hs, const char *key_validity_url, const char *public_key);

#endif
