/* OpenID Connect (authorization code flow, Core 1.0 section 3.1) against the providers of
 * oidc_providers, for SSO login and the m.login.sso UIA stage (issue 10). Login attempts in
 * flight live in memory for a few minutes, keyed by their `state`; the browser that started one
 * must bring back its cookie. Provider metadata (discovery) is fetched on first use and kept. */
#ifndef HEARTH_API_OIDC_H
#define HEARTH_API_OIDC_H

#include <jansson.h>
#include <stddef.h>

struct config;
struct config_oidc_provider;
struct oidc;

/* Name of the cookie that ties a login attempt to its browser, and the path it is sent to. */
#define OIDC_COOKIE "oidc_session"
#define OIDC_CALLBACK_PATH "/_synapse/client/oidc/callback"

struct oidc *oidc_new(const struct config *cfg);
void oidc_free(struct oidc *o);

/* The provider with this ID, or the first one when idp_id is NULL; NULL if none. Borrowed. */
const struct config_oidc_provider *oidc_provider(const struct config *cfg, const char *idp_id);

/* Starts a login at p: *auth_url (new) is where to send the browser, *cookie (new) the value
 * of OIDC_COOKIE to set. client_redirect_url is the client's redirectUrl (login), or
 * ui_auth_session the UIA session (m.login.sso stage). 0, or -1 with a reason in err. */
int oidc_start(struct oidc *o, const struct config *cfg, const struct config_oidc_provider *p,
               const char *client_redirect_url, const char *ui_auth_session, char **auth_url,
               char **cookie, char *err, size_t errlen);

/* What a completed login established. Owned (oidc_login_clear). */
struct oidc_login {
    const struct config_oidc_provider *provider; /* borrowed from the config */
    char *subject;                               /* the subject_claim's value */
    json_t *claims;                              /* the user's claims (ID token or userinfo) */
    char *client_redirect_url;                   /* login: the client's redirectUrl */
    char *ui_auth_session;                       /* UIA: the session to complete */
};
void oidc_login_clear(struct oidc_login *l);

/* At the callback: finds the attempt by state (it is spent), checks the cookie, exchanges the
 * code at the token endpoint, verifies the ID token (signature, issuer, audience, expiry,
 * nonce) and/or reads the userinfo endpoint. 0, or -1 with a reason in err. */
int oidc_finish(struct oidc *o, const struct config *cfg, const char *state, const char *code,
                const char *cookie, struct oidc_login *out, char *err, size_t errlen);

/* Renders Synapse's default mapping templates: "{{ user.<claim> }}" placeholders are replaced
 * by the claim's value (strings and integers; anything else, or a missing claim, renders
 * empty), other text is copied. New string, trimmed of spaces. */
char *oidc_render_template(const char *tmpl, const json_t *claims);
/* Synapse's map_username_to_mxid_localpart: lower-case, every byte outside [a-z0-9._/-]
 * written as "=xx", a leading '_' as "=5f". New string. */
char *oidc_localpart_from(const char *name);

#endif
