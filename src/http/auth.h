/* Access-token authentication of a request. */
#ifndef HEARTH_HTTP_AUTH_H
#define HEARTH_HTTP_AUTH_H

#include <stdbool.h>

#include "http/http.h"

/* Token length in random bytes (256 bits). */
#define AUTH_TOKEN_BYTES 32

/* Finds the access token (Authorization: Bearer, or ?access_token=) and resolves it to a
 * user and device in r. Returns false after writing the 401 reply. A route with
 * AUTH_OPTIONAL and no token passes with r->user_id NULL. */
bool auth_request_or_reply(struct req *r);

/* For endpoints only application services may call with no user behind (POST /register with
 * m.login.application_service): the service whose as_token the request carries, in
 * r->appservice (r->user_id its sender; ?user_id= plays no part). Returns false after replying
 * 401 M_MISSING_TOKEN or M_UNKNOWN_TOKEN. */
bool auth_appservice_or_reply(struct req *r);

/* Does the rate limit apply to this request's user? Not to application services (issue 13)
 * unless their registration says rate_limited, and never to a service's sender. */
bool auth_rate_limited(const struct req *r);

/* The request's User-Agent as recorded with a device's last connection (cut to a bounded
 * length; borrowed from r), or NULL when there is none. */
const char *auth_user_agent(struct req *r);

/* Returns a new access token; *hash (65 bytes) receives what the store keeps. */
char *auth_new_token(char hash[65]);

#endif
