/* Email validation done by the homeserver itself (client_server_api "Adding Account
 * Administrative Contact Information"; the requestToken endpoints): sessions, the mail with its
 * link, and the checks shared by registration, password reset, account 3PIDs and login
 * (issue 10). */
#ifndef HEARTH_API_THREEPID_H
#define HEARTH_API_THREEPID_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"

struct config;
struct hs;

/* What a validation session is for: which mail is sent and which link it carries. */
enum threepid_kind { TP_REGISTER, TP_PASSWORD, TP_ADD };

/* The canonical form of an email address (trimmed, lower-cased, as Synapse stores them), or
 * NULL when it is not one (exactly one '@' with text on both sides, no spaces or controls, at
 * most 254 bytes). New string. */
char *threepid_canonical_email(const char *address);
/* SPEC: identity client_secret: [0-9a-zA-Z.=_-], 1..255 characters. */
bool threepid_client_secret_ok(const char *s);
/* allowed_local_3pids: true when none is configured or a pattern matches the whole address. */
bool threepid_allowed(const struct config *cfg, const char *medium, const char *address);

/* Why a request failed: the reply to give. */
struct threepid_error {
    int status;
    enum merr code;
    const char *msg;        /* static text */
    int64_t retry_after_ms; /* for M_LIMIT_EXCEEDED */
};

/* Starts (or continues) validating `email` (canonical) for `kind`: checks the address is
 * allowed and free (register, add) or known (password), rate limits per client address and
 * per email address, and mails a link unless this send_attempt is not newer than the last one
 * for (email, client_secret). 0 and *sid (new string), or -1 with err filled. */
int threepid_email_request(struct hs *hs, const char *ip, enum threepid_kind kind,
                           const char *email, const char *client_secret, int64_t send_attempt,
                           const char *next_link, char **sid, struct threepid_error *err);

/* The address a session validated: 0 with *address (new string) and *validated_ts, or -1 when
 * the session is unknown, the secret does not match, or it is not validated yet. */
int threepid_session_validated(struct hs *hs, const char *sid, const char *client_secret,
                               char **address, int64_t *validated_ts);

/* Checks a token for a session and marks it validated. 0 on success (*next_link gets the
 * session's next_link or NULL, new string), -1 when the session, secret or token is wrong or
 * expired, -2 on a storage failure. */
int threepid_submit_token(struct hs *hs, const char *sid, const char *client_secret,
                          const char *token, char **next_link);

/* submit_url: where clients post {sid, client_secret, token}. New string. */
char *threepid_submit_url(struct hs *hs);

/* Unbinds (medium, address) of user_id at id_server, or when id_server is NULL at every
 * identity server it was bound at through this server, and forgets those binds. True
 * ("success") when every unbind succeeded and some server was asked, false ("no-support"). */
bool threepid_unbind(struct hs *hs, const char *user_id, const char *medium, const char *address,
                     const char *id_server);

#endif
