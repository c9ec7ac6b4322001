/* sso_login_redirect.yaml, modules/sso_login.rst: single sign-on with OpenID Connect providers
 * (oidc_providers), the callback that maps the provider's user to an account, the redirect
 * back to the client with a loginToken, and the m.login.sso UIA stage (issue 10). Paths and
 * pages follow Synapse's (/_synapse/client/oidc/callback, the confirmation page for clients
 * not in sso.client_whitelist). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/html.h"
#include "api/oidc.h"
#include "api/threepid.h"
#include "api/uia.h"
#include "api/userid.h"
#include "core/config.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/util.h"
#include "room/id.h"
#include "store/store.h"

/* Synapse's lifetime for the login tokens SSO hands out (the spec suggests about five
 * seconds; clients on slow devices need more). */
#define SSO_LOGIN_TOKEN_MS 120000
/* Synapse tries this many numbered localparts before giving up. */
#define MAX_LOCALPART_TRIES 1000

static const char *
cookie_value(struct req *r, const char *name)
{
    const char *h = req_header(r, "Cookie"), *p;
    size_t n = strlen(name);

    for (p = h; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            const char *v = p + n + 1, *end = strchr(v, ';');
            return arena_strndup(&r->arena, v, end ? (size_t)(end - v) : strlen(v));
        }
        p = strchr(p, ';');
    }
    return NULL;
}

static void
set_cookie(struct req *r, const char *value)
{
    bool secure = strncmp(r->hs->cfg->public_baseurl, "https://", 8) == 0;
    char *c = xasprintf("%s=%s; Path=/_synapse/client/oidc; Max-Age=3600; HttpOnly; "
                        "SameSite=Lax%s",
                        OIDC_COOKIE, value, secure ? "; Secure" : "");
    req_add_header(r, "Set-Cookie", c);
    free(c);
}

/* GET /_matrix/client/r0/login/sso/redirect and /login/sso/redirect/{idpId} */
void
sso_redirect(struct req *r)
{
    const char *redirect_url = req_query(r, "redirectUrl");
    const struct config_oidc_provider *p;
    char *auth_url = NULL, *cookie = NULL, err[256];

    if (r->hs->cfg->n_oidc_providers == 0) {
        reply_error(r, MERR_UNRECOGNIZED, "Single sign-on is not configured on this server");
        return;
    }
    if (!redirect_url || !*redirect_url) {
        reply_error(r, MERR_MISSING_PARAM, "Missing redirectUrl");
        return;
    }
    p = oidc_provider(r->hs->cfg, r->params[0]);
    if (!p) {
        reply_error(r, MERR_NOT_FOUND, "Unknown identity provider");
        return;
    }
    if (oidc_start(r->hs->oidc, r->hs->cfg, p, redirect_url, NULL, &auth_url, &cookie, err,
                   sizeof(err)) != 0) {
        log_warn("sso: cannot start a login at %s: %s", p->idp_id, err);
        reply_error_status(r, 502, MERR_UNKNOWN, "The identity provider cannot be reached");
        return;
    }
    /* SPEC: "The server MUST respond with an HTTP redirect to the SSO interface." */
    set_cookie(r, cookie);
    reply_redirect(r, auth_url);
    free(auth_url);
    free(cookie);
}

/* A new account for an SSO user (Synapse's JinjaOidcMappingProvider): localpart from
 * localpart_template, numbered when taken; display name and email from their templates.
 * 0 with *user_id (new), or -1 with a message for the user. */
static int
create_account(struct hs *hs, const struct oidc_login *l, char **user_id, const char **why)
{
    const struct config_oidc_provider *p = l->provider;
    char *raw = oidc_render_template(p->localpart_template, l->claims);
    char *base = oidc_localpart_from(raw);
    int64_t now = util_now_ms();
    int rc = -1;

    *user_id = NULL;
    *why = "Could not choose a user name for your account";
    if (!*base)
        goto out;
    for (int i = 0; i < MAX_LOCALPART_TRIES && !*user_id; i++) {
        char *lp = i ? xasprintf("%s%d", base, i) : xstrdup(base);
        char *uid = userid_make(hs, lp);
        struct store_user u;
        enum store_rc src;

        free(lp);
        if (strlen(uid) > ID_MAX_LEN) {
            free(uid);
            break;
        }
        src = store_user_get(hs->store, uid, &u);
        store_user_clear(&u);
        if (src == STORE_OK && i == 0 && p->allow_existing_users) {
            /* allow_existing_users: the subject takes over the account of its localpart. */
            *user_id = uid;
            break;
        }
        if (src == STORE_NOT_FOUND) {
            src = store_user_create(hs->store, uid, NULL, false, false, now);
            if (src == STORE_OK) {
                char *name = p->display_name_template
                                 ? oidc_render_template(p->display_name_template, l->claims)
                                 : NULL;
                if (name && *name)
                    store_profile_set_displayname(hs->store, uid, name);
                else if (store_profile_init(hs->store, uid) != STORE_OK)
                    log_warn("could not set the display name of %s", uid);
                free(name);
                if (p->email_template) {
                    char *e = oidc_render_template(p->email_template, l->claims);
                    char *email = threepid_canonical_email(e);
                    /* As Synapse: the provider's email becomes the account's, if free. */
                    if (email &&
                        store_threepid_add(hs->store, uid, "email", email, now, now) != STORE_OK)
                        log_info("sso: %s not added to %s (in use)", email, uid);
                    free(email);
                    free(e);
                }
                log_info("sso: registered %s for %s subject %s", uid, p->idp_id, l->subject);
                *user_id = uid;
                break;
            }
        }
        free(uid);
        if (src == STORE_ERR) {
            *why = "Internal server error";
            goto out;
        }
    }
    if (!*user_id)
        goto out;
    if (store_external_id_add(hs->store, p->idp_id, l->subject, *user_id) != STORE_OK) {
        free(*user_id);
        *user_id = NULL;
        *why = "Internal server error";
        goto out;
    }
    rc = 0;
out:
    free(raw);
    free(base);
    return rc;
}

/* redirectUrl with loginToken added (before any fragment). New string. */
static char *
with_login_token(const char *url, const char *token)
{
    const char *hash = strchr(url, '#');
    size_t pre = hash ? (size_t)(hash - url) : strlen(url);
    char *t = fetch_escape(token);
    const char *sep = memchr(url, '?', pre) ? "&" : "?";
    char *out = xasprintf("%.*s%sloginToken=%s%s", (int)pre, url, sep, t, hash ? hash : "");
    free(t);
    return out;
}

static bool
client_whitelisted(const struct config *cfg, const char *url)
{
    char *fallback = xasprintf("%s_matrix/static/client/login/", cfg->public_baseurl);
    bool ok = strncmp(url, fallback, strlen(fallback)) == 0;
    free(fallback);
    for (size_t i = 0; i < cfg->n_sso_client_whitelist && !ok; i++)
        ok = strncmp(url, cfg->sso_client_whitelist[i], strlen(cfg->sso_client_whitelist[i])) == 0;
    return ok;
}

static void
finish_login(struct req *r, const struct oidc_login *l)
{
    char *user_id = NULL, *token = NULL, *target = NULL;
    const char *why = NULL;
    struct store_user u;
    enum store_rc rc;

    rc = store_external_id_get(r->hs->store, l->provider->idp_id, l->subject, &user_id);
    if (rc == STORE_ERR) {
        reply_internal(r, "external id lookup failed");
        goto out;
    }
    if (rc == STORE_NOT_FOUND && create_account(r->hs, l, &user_id, &why) != 0) {
        bool internal = strcmp(why, "Internal server error") == 0;
        if (internal)
            log_error("sso: could not create an account for %s subject %s", l->provider->idp_id,
                      l->subject);
        html_reply_message(r, internal ? 500 : 400, "Login failed", why);
        goto out;
    }
    rc = store_user_get(r->hs->store, user_id, &u);
    if (rc != STORE_OK || u.deactivated) {
        store_user_clear(&u);
        html_reply_message(r, 403, "Login failed", "This account has been deactivated.");
        goto out;
    }
    store_user_clear(&u);
    token = api_login_token_new(r->hs->store, user_id, SSO_LOGIN_TOKEN_MS);
    if (!token) {
        reply_internal(r, "login token failed");
        goto out;
    }
    target = with_login_token(l->client_redirect_url, token);
    /* SPEC: "The browser is directed to the redirectUrl provided by the client with a
     * loginToken query parameter". Synapse first asks the user when the client is not in
     * sso.client_whitelist, so a link to /redirect cannot hand a token to a stranger. */
    if (client_whitelisted(r->hs->cfg, l->client_redirect_url)) {
        reply_redirect(r, target);
    } else {
        char *who = html_escape(user_id), *link = html_escape(target);
        char *dest = html_escape(l->client_redirect_url);
        char *body = xasprintf("<p>You are signed in as <strong>%s</strong>.</p>"
                               "<p>Continue to your application at <code>%s</code>? It will "
                               "have full access to your account. If you did not just sign in, "
                               "close this page.</p><p><a class=\"button\" id=\"continue\" "
                               "href=\"%s\">Continue</a></p>",
                               who, dest, link);
        reply_html(r, 200, html_page("Continue to your account", body));
        free(body);
        free(who);
        free(link);
        free(dest);
    }
out:
    if (token)
        free(token);
    free(target);
    free(user_id);
}

/* The m.login.sso stage: the subject must be linked to the session's user. */
static void
finish_ui_auth(struct req *r, const struct oidc_login *l)
{
    char *user_id = NULL, *op = NULL, *session_user = NULL;

    if (uia_session_info(r->hs->uia, l->ui_auth_session, &op, &session_user) != 0) {
        html_reply_message(r, 400, "Authentication failed",
                           "The authentication session has expired. Start again from your "
                           "application.");
        goto out;
    }
    if (store_external_id_get(r->hs->store, l->provider->idp_id, l->subject, &user_id) !=
            STORE_OK ||
        !session_user || strcmp(user_id, session_user) != 0) {
        html_reply_message(r, 403, "Authentication failed",
                           "You signed in as a different user than the one this request is "
                           "for.");
        goto out;
    }
    uia_mark_done(r->hs->uia, l->ui_auth_session, "m.login.sso", NULL, NULL, 0);
    reply_html(r, 200, html_auth_done_page());
out:
    free(user_id);
    free(op);
    free(session_user);
}

/* GET /_synapse/client/oidc/callback */
void
sso_oidc_callback(struct req *r)
{
    const char *state = req_query(r, "state"), *code = req_query(r, "code");
    const char *error = req_query(r, "error");
    struct oidc_login l;
    char err[256];

    if (error) {
        /* RFC 6749 4.1.2.1: the provider refused or the user cancelled. */
        const char *desc = req_query(r, "error_description");
        char *msg = xasprintf("The identity provider answered: %s%s%s", error, desc ? ": " : "",
                              desc ? desc : "");
        html_reply_message(r, 400, "Login failed", msg);
        free(msg);
        return;
    }
    if (!state || !code) {
        html_reply_message(r, 400, "Login failed", "The callback needs state and code.");
        return;
    }
    if (oidc_finish(r->hs->oidc, r->hs->cfg, state, code, cookie_value(r, OIDC_COOKIE), &l, err,
                    sizeof(err)) != 0) {
        log_warn("sso: login failed: %s", err);
        html_reply_message(r, 400, "Login failed", err);
        return;
    }
    if (l.ui_auth_session)
        finish_ui_auth(r, &l);
    else
        finish_login(r, &l);
    oidc_login_clear(&l);
}

void
sso_fallback_page(struct req *r, const char *session)
{
    char *op = NULL, *user_id = NULL, **providers = NULL, *auth_url = NULL, *cookie = NULL;
    const struct config_oidc_provider *p = NULL;
    size_t np = 0;
    char err[256];

    if (uia_session_info(r->hs->uia, session, &op, &user_id) != 0 || !user_id) {
        html_reply_message(r, 400, "Authentication failed", "Unknown authentication session.");
        goto out;
    }
    if (store_external_id_providers(r->hs->store, user_id, &providers, &np) != STORE_OK) {
        reply_internal(r, "provider lookup failed");
        goto out;
    }
    for (size_t i = 0; i < np && !p; i++)
        p = oidc_provider(r->hs->cfg, providers[i]);
    if (!p) {
        html_reply_message(r, 400, "Authentication failed",
                           "Your account is not linked to a single sign-on provider here.");
        goto out;
    }
    if (oidc_start(r->hs->oidc, r->hs->cfg, p, NULL, session, &auth_url, &cookie, err,
                   sizeof(err)) != 0) {
        log_warn("sso: cannot start re-authentication at %s: %s", p->idp_id, err);
        html_reply_message(r, 502, "Authentication failed",
                           "The identity provider cannot be reached.");
        goto out;
    }
    {
        /* SPEC: m.login.sso: "The homeserver should return a page which asks for the user's
         * confirmation before proceeding." */
        char *link = html_escape(auth_url), *name = html_escape(p->idp_name);
        char *body = xasprintf("<p>A client is trying to %s. To confirm this action, "
                               "re-authenticate with single sign-on. If you did not expect "
                               "this, your account may be compromised!</p><p><a "
                               "class=\"button\" id=\"continue\" href=\"%s\">Continue with "
                               "%s</a></p>",
                               strcmp(op, "deactivate") == 0           ? "deactivate your account"
                               : strcmp(op, "add_3pid") == 0           ? "add an email address"
                               : strncmp(op, "delete_device", 13) == 0 ? "remove a device"
                                                                       : "change your account",
                               link, name);
        set_cookie(r, cookie);
        reply_html(r, 200, html_page("Confirm it's you", body));
        free(body);
        free(link);
        free(name);
    }
out:
    store_strings_free(providers, np);
    free(auth_url);
    free(cookie);
    free(op);
    free(user_id);
}
