#include "api/threepid.h"

#include <regex.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/hs.h"
#include "api/idserver.h"
#include "core/config.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/mailer.h"
#include "core/util.h"
#include "http/ratelimit.h"
#include "store/store.h"

#define TOKEN_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
#define MAX_EMAIL_LEN 254

/* Synapse's paths for the link in the mail; one handler validates them all. */
static const char *const link_paths[] = {
    [TP_REGISTER] = "_matrix/client/unstable/registration/email/submit_token",
    [TP_PASSWORD] = "_synapse/client/password_reset/email/submit_token",
    [TP_ADD] = "_matrix/client/unstable/add_threepid/email/submit_token",
};
static const char *const kind_names[] = {
    [TP_REGISTER] = "register",
    [TP_PASSWORD] = "password",
    [TP_ADD] = "add",
};

char *
threepid_canonical_email(const char *address)
{
    const char *start = address, *end = address + strlen(address), *at;
    char *out;

    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end == start || (size_t)(end - start) > MAX_EMAIL_LEN)
        return NULL;
    at = memchr(start, '@', (size_t)(end - start));
    if (!at || at == start || at == end - 1 || memchr(at + 1, '@', (size_t)(end - at - 1)))
        return NULL;
    for (const char *p = start; p < end; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>')
            return NULL;
    out = xstrndup(start, (size_t)(end - start));
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return out;
}

bool
threepid_client_secret_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 255 &&
           strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.=_-") == n;
}

bool
threepid_allowed(const struct config *cfg, const char *medium, const char *address)
{
    if (cfg->n_allowed_local_3pids == 0)
        return true;
    for (size_t i = 0; i < cfg->n_allowed_local_3pids; i++) {
        const struct config_3pid_pattern *p = &cfg->allowed_local_3pids[i];
        char *anchored;
        regex_t re;
        bool match;

        if (strcmp(p->medium, medium) != 0)
            continue;
        /* Synapse uses re.match (anchored at the start); a pattern that wants a prefix
         * only can end in ".*". Anchoring the end too keeps "example.org" from admitting
         * "example.org.evil". */
        anchored = xasprintf("^(%s)$", p->pattern);
        if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB | REG_ICASE) != 0) {
            free(anchored);
            continue;
        }
        match = regexec(&re, address, 0, NULL, 0) == 0;
        regfree(&re);
        free(anchored);
        if (match)
            return true;
    }
    return false;
}

static void
set_err(struct threepid_error *err, int status, enum merr code, const char *msg)
{
    err->status = status;
    err->code = code;
    err->msg = msg;
    err->retry_after_ms = 0;
}

static char *
link_for(struct hs *hs, enum threepid_kind kind, const char *token, const char *secret,
         const char *sid)
{
    char *t = fetch_escape(token), *c = fetch_escape(secret), *s = fetch_escape(sid);
    char *url = xasprintf("%s%s?token=%s&client_secret=%s&sid=%s", hs->cfg->public_baseurl,
                          link_paths[kind], t, c, s);
    free(t);
    free(c);
    free(s);
    return url;
}

char *
threepid_submit_url(struct hs *hs)
{
    return xasprintf("%s%s", hs->cfg->public_baseurl, link_paths[TP_ADD]);
}

/* Synapse's default subjects and wording. */
static void
send_mail(struct hs *hs, enum threepid_kind kind, const char *email, const char *link,
          const char *token)
{
    const struct config *cfg = hs->cfg;
    char *subject, *text;
    const char *why;

    switch (kind) {
    case TP_REGISTER:
        subject = xasprintf("[%s] Validate your email", cfg->server_name);
        why = "You have asked us to register this email with a new Matrix account on";
        break;
    case TP_PASSWORD:
        subject = xasprintf("[%s] Password reset", cfg->server_name);
        why = "A password reset request has been received for your Matrix account on";
        break;
    default:
        subject = xasprintf("[%s] Validate your email", cfg->server_name);
        why = "You have asked us to add this email address to your Matrix account on";
        break;
    }
    text = xasprintf("Hello,\n\n%s %s. If this was you, please open the link below to "
                     "confirm your email address:\n\n%s\n\nOr enter this code in your client: "
                     "%s\n\nIf this was not you, you can safely ignore this email.\n\n"
                     "Thank you,\n%s\n",
                     why, cfg->server_name, link, token, cfg->email_app_name);
    if (mailer_send(hs->mailer, cfg->email_notif_from, email, subject, text) != 0)
        log_warn("mail queue full: validation mail to %s dropped", email);
    free(subject);
    free(text);
}

int
threepid_email_request(struct hs *hs, const char *ip, enum threepid_kind kind, const char *email,
                       const char *client_secret, int64_t send_attempt, const char *next_link,
                       char **sid, struct threepid_error *err)
{
    struct store_3pid_session s = {0};
    char *owner = NULL, *token = NULL, hash[65], *link = NULL;
    int64_t now = util_now_ms(), retry;
    enum store_rc rc;
    int ret = -1;

    *sid = NULL;
    if (!threepid_allowed(hs->cfg, "email", email)) {
        /* SPEC: requestToken 403 M_THREEPID_DENIED "does not allow the third party identifier
         * as a contact option". */
        set_err(err, 403, MERR_THREEPID_DENIED, "Your email address is not allowed here");
        return -1;
    }
    /* SPEC: client_server_api "Rate limiting"; Synapse's rc_3pid_validation, per client
     * address and per email address. */
    if (!ratelimit_check(hs->rl_3pid_ip, ip, now, true, &retry) ||
        !ratelimit_check(hs->rl_3pid_target, email, now, true, &retry)) {
        set_err(err, 429, MERR_LIMIT_EXCEEDED, "Too many requests");
        err->retry_after_ms = retry;
        return -1;
    }
    rc = store_threepid_owner(hs->store, "email", email, &owner);
    if (rc == STORE_ERR)
        goto internal;
    /* SPEC: "The homeserver must check that the given email address is not already
     * associated with an account" (registration, adding); password reset needs one that is. */
    if (kind != TP_PASSWORD && rc == STORE_OK) {
        set_err(err, 400, MERR_THREEPID_IN_USE, "Email is already in use");
        goto out;
    }
    if (kind == TP_PASSWORD && rc == STORE_NOT_FOUND) {
        set_err(err, 400, MERR_THREEPID_NOT_FOUND, "Email not found");
        goto out;
    }
    rc = store_3pid_session_find_open(hs->store, "email", email, client_secret, &s);
    if (rc == STORE_ERR)
        goto internal;
    if (rc == STORE_OK && send_attempt <= s.last_send_attempt) {
        /* SPEC: "If they do not [increment it], the server should respond with success but
         * not resend the email." */
        *sid = xstrdup(s.session_id);
        ret = 0;
        goto out;
    }
    if (rc == STORE_NOT_FOUND) {
        s.session_id = util_random_string(TOKEN_CHARS, 24);
        s.medium = xstrdup("email");
        s.address = xstrdup(email);
        s.client_secret = xstrdup(client_secret);
        s.created_ts = now;
    }
    token = util_random_string(TOKEN_CHARS, 32);
    util_sha256_hex(token, strlen(token), hash);
    free(s.kind);
    s.kind = xstrdup(kind_names[kind]);
    free(s.token_hash);
    s.token_hash = xstrdup(hash);
    free(s.next_link);
    s.next_link = next_link ? xstrdup(next_link) : NULL;
    s.last_send_attempt = send_attempt;
    s.token_expires_ts = now + hs->cfg->email_validation_token_lifetime_ms;
    if (store_3pid_session_put(hs->store, &s) != STORE_OK)
        goto internal;
    link = link_for(hs, kind, token, client_secret, s.session_id);
    send_mail(hs, kind, email, link, token);
    *sid = xstrdup(s.session_id);
    ret = 0;
    goto out;
internal:
    log_error("3pid: storage failed while starting validation of %s", email);
    set_err(err, 500, MERR_INTERNAL, "Internal server error");
out:
    if (token)
        sodium_memzero(token, strlen(token));
    free(token);
    free(link);
    free(owner);
    store_3pid_session_clear(&s);
    return ret;
}

int
threepid_session_validated(struct hs *hs, const char *sid, const char *client_secret,
                           char **address, int64_t *validated_ts)
{
    struct store_3pid_session s;
    int ret = -1;

    *address = NULL;
    if (store_3pid_session_get(hs->store, sid, &s) != STORE_OK)
        return -1;
    if (s.validated_ts && strlen(s.client_secret) == strlen(client_secret) &&
        sodium_memcmp(s.client_secret, client_secret, strlen(client_secret)) == 0) {
        *address = xstrdup(s.address);
        *validated_ts = s.validated_ts;
        ret = 0;
    }
    store_3pid_session_clear(&s);
    return ret;
}

int
threepid_submit_token(struct hs *hs, const char *sid, const char *client_secret, const char *token,
                      char **next_link)
{
    struct store_3pid_session s;
    char hash[65];
    enum store_rc rc;
    int ret = -1;

    *next_link = NULL;
    rc = store_3pid_session_get(hs->store, sid, &s);
    if (rc != STORE_OK)
        return rc == STORE_NOT_FOUND ? -1 : -2;
    util_sha256_hex(token, strlen(token), hash);
    if (strlen(s.client_secret) != strlen(client_secret) ||
        sodium_memcmp(s.client_secret, client_secret, strlen(client_secret)) != 0 ||
        strlen(s.token_hash) != 64 || sodium_memcmp(s.token_hash, hash, 64) != 0)
        goto out;
    /* An already validated session stays valid; an unvalidated one needs a live token. */
    if (!s.validated_ts && util_now_ms() > s.token_expires_ts)
        goto out;
    if (store_3pid_session_validate(hs->store, sid, util_now_ms()) != STORE_OK) {
        ret = -2;
        goto out;
    }
    *next_link = s.next_link ? xstrdup(s.next_link) : NULL;
    ret = 0;
out:
    store_3pid_session_clear(&s);
    return ret;
}

bool
threepid_unbind(struct hs *hs, const char *user_id, const char *medium, const char *address,
                const char *id_server)
{
    struct store_threepid_bind *binds = NULL;
    struct idserver_resp resp;
    size_t n = 0;
    bool all = true;

    if (id_server) {
        all = idserver_unbind(hs, id_server, user_id, medium, address, &resp) == 0;
        idserver_resp_clear(&resp);
        /* SPEC (unbind, delete): a 3PID is unbound from the server named, and forgotten
         * there whatever it answered (as Synapse). */
        store_threepid_bind_remove(hs->store, user_id, medium, address, id_server);
        return all;
    }
    if (store_threepid_binds(hs->store, user_id, medium, address, &binds, &n) != STORE_OK)
        return false;
    /* SPEC: "If the homeserver does not know the original id_server, it MUST return a
     * id_server_unbind_result of no-support." */
    if (n == 0)
        all = false;
    for (size_t i = 0; i < n; i++) {
        if (idserver_unbind(hs, binds[i].id_server, user_id, medium, address, &resp) != 0)
            all = false;
        idserver_resp_clear(&resp);
        store_threepid_bind_remove(hs->store, user_id, medium, address, binds[i].id_server);
    }
    store_threepid_binds_free(binds, n);
    return all;
}
