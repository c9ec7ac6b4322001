#include "api/oidc.h"

#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/util.h"
#include "json/jwt.h"

/* A login attempt lives as long as Synapse's (its oidc session cookie lasts an hour; the
 * attempt itself is meant to take minutes). */
#define ATTEMPT_TTL_MS (60 * 60 * 1000)
#define MAX_ATTEMPTS 10000
#define CLOCK_LEEWAY_S 120

struct provider_meta {
    bool loaded;
    char *authorization_endpoint, *token_endpoint, *userinfo_endpoint, *jwks_uri;
    bool pkce_s256;
};

struct attempt {
    struct attempt *next;
    char *state, *cookie, *nonce, *verifier; /* verifier NULL: no PKCE */
    const struct config_oidc_provider *p;
    char *redirect_url, *ui_session;
    int64_t created_ms;
};

struct oidc {
    pthread_mutex_t lock;
    const struct config *cfg;
    struct provider_meta *meta; /* one per cfg->oidc_providers */
    struct attempt *head;
    size_t n_attempts;
};

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static void
attempt_free(struct attempt *a)
{
    free(a->state);
    free(a->cookie);
    free(a->nonce);
    free(a->verifier);
    free(a->redirect_url);
    free(a->ui_session);
    free(a);
}

static void
meta_clear(struct provider_meta *m)
{
    free(m->authorization_endpoint);
    free(m->token_endpoint);
    free(m->userinfo_endpoint);
    free(m->jwks_uri);
    memset(m, 0, sizeof(*m));
}

struct oidc *
oidc_new(const struct config *cfg)
{
    struct oidc *o = xcalloc(1, sizeof(*o));
    pthread_mutex_init(&o->lock, NULL);
    o->cfg = cfg;
    o->meta = xcalloc(cfg->n_oidc_providers ? cfg->n_oidc_providers : 1, sizeof(*o->meta));
    return o;
}

void
oidc_free(struct oidc *o)
{
    struct attempt *a, *next;

    if (!o)
        return;
    for (a = o->head; a; a = next) {
        next = a->next;
        attempt_free(a);
    }
    for (size_t i = 0; i < o->cfg->n_oidc_providers; i++)
        meta_clear(&o->meta[i]);
    free(o->meta);
    pthread_mutex_destroy(&o->lock);
    free(o);
}

const struct config_oidc_provider *
oidc_provider(const struct config *cfg, const char *idp_id)
{
    for (size_t i = 0; i < cfg->n_oidc_providers; i++)
        if (!idp_id || strcmp(cfg->oidc_providers[i].idp_id, idp_id) == 0)
            return &cfg->oidc_providers[i];
    return NULL;
}

/* GET a JSON object. New reference or NULL. */
static json_t *
get_json(const char *url, const char *auth, char *err, size_t errlen)
{
    struct fetch_req fr = {.method = "GET", .url = url};
    struct fetch_resp resp;
    json_t *v = NULL;

    fr.headers[0] = auth;
    if (fetch(&fr, &resp) != 0) {
        fail(err, errlen, "%s: %s", url, resp.error);
        return NULL;
    }
    if (resp.status == 200)
        v = json_loadb(resp.body, resp.len, 0, NULL);
    if (!json_is_object(v)) {
        fail(err, errlen, "%s: HTTP %ld without a JSON object", url, resp.status);
        json_decref(v);
        v = NULL;
    }
    fetch_resp_clear(&resp);
    return v;
}

static bool
url_allowed(const struct config_oidc_provider *p, const char *url)
{
    /* SPEC (OIDC Discovery 3): endpoints are https; skip_verification admits http (tests). */
    return url && (strncmp(url, "https://", 8) == 0 ||
                   (p->skip_verification && strncmp(url, "http://", 7) == 0));
}

static char *
pick(const char *configured, const json_t *doc, const char *key)
{
    const char *v = configured ? configured : json_string_value(json_object_get(doc, key));
    return v ? xstrdup(v) : NULL;
}

/* The provider's endpoints, discovered once. 0, or -1 with err. */
static int
load_meta(struct oidc *o, const struct config_oidc_provider *p, struct provider_meta *out,
          char *err, size_t errlen)
{
    size_t idx = (size_t)(p - o->cfg->oidc_providers);
    struct provider_meta m = {0};
    json_t *doc = NULL, *methods;
    size_t i;
    json_t *v;

    pthread_mutex_lock(&o->lock);
    if (o->meta[idx].loaded) {
        const struct provider_meta *c = &o->meta[idx];
        out->loaded = true;
        out->authorization_endpoint = xstrdup(c->authorization_endpoint);
        out->token_endpoint = xstrdup(c->token_endpoint);
        out->userinfo_endpoint = c->userinfo_endpoint ? xstrdup(c->userinfo_endpoint) : NULL;
        out->jwks_uri = c->jwks_uri ? xstrdup(c->jwks_uri) : NULL;
        out->pkce_s256 = c->pkce_s256;
        pthread_mutex_unlock(&o->lock);
        return 0;
    }
    pthread_mutex_unlock(&o->lock);
    if (p->discover) {
        size_t len = strlen(p->issuer);
        char *url = xasprintf("%.*s/.well-known/openid-configuration",
                              (int)(len && p->issuer[len - 1] == '/' ? len - 1 : len), p->issuer);
        doc = get_json(url, NULL, err, errlen);
        free(url);
        if (!doc)
            return -1;
        /* SPEC (OIDC Discovery 4.3): "The issuer value returned MUST be identical to the
         * Issuer URL that was directly used to retrieve the configuration information." */
        v = json_object_get(doc, "issuer");
        if (!p->skip_verification &&
            (!json_is_string(v) || strcmp(json_string_value(v), p->issuer) != 0)) {
            json_decref(doc);
            return fail(err, errlen, "discovery document names another issuer");
        }
    }
    m.authorization_endpoint = pick(p->authorization_endpoint, doc, "authorization_endpoint");
    m.token_endpoint = pick(p->token_endpoint, doc, "token_endpoint");
    m.userinfo_endpoint = pick(p->userinfo_endpoint, doc, "userinfo_endpoint");
    m.jwks_uri = pick(p->jwks_uri, doc, "jwks_uri");
    methods = json_object_get(doc, "code_challenge_methods_supported");
    json_array_foreach(methods, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), "S256") == 0)
            m.pkce_s256 = true;
    }
    json_decref(doc);
    if (!url_allowed(p, m.authorization_endpoint) || !url_allowed(p, m.token_endpoint) ||
        (m.userinfo_endpoint && !url_allowed(p, m.userinfo_endpoint)) ||
        (m.jwks_uri && !url_allowed(p, m.jwks_uri))) {
        meta_clear(&m);
        return fail(err, errlen, "provider %s: missing or non-https endpoints", p->idp_id);
    }
    m.loaded = true;
    pthread_mutex_lock(&o->lock);
    if (!o->meta[idx].loaded) {
        o->meta[idx] = m;
        out->authorization_endpoint = xstrdup(m.authorization_endpoint);
        out->token_endpoint = xstrdup(m.token_endpoint);
        out->userinfo_endpoint = m.userinfo_endpoint ? xstrdup(m.userinfo_endpoint) : NULL;
        out->jwks_uri = m.jwks_uri ? xstrdup(m.jwks_uri) : NULL;
        out->pkce_s256 = m.pkce_s256;
        out->loaded = true;
        pthread_mutex_unlock(&o->lock);
        return 0;
    }
    pthread_mutex_unlock(&o->lock);
    /* Another request loaded it meanwhile: use that. */
    meta_clear(&m);
    return load_meta(o, p, out, err, errlen);
}

static bool
has_scope(const struct config_oidc_provider *p, const char *scope)
{
    for (size_t i = 0; i < p->n_scopes; i++)
        if (strcmp(p->scopes[i], scope) == 0)
            return true;
    return false;
}

static char *
callback_url(const struct config *cfg)
{
    /* The path without its leading '/' (indexing, not `+ 1`, which clang warns about). */
    return xasprintf("%s%s", cfg->public_baseurl, &OIDC_CALLBACK_PATH[1]);
}

/* RFC 7636 4.2: S256 challenge = BASE64URL(SHA256(verifier)). */
static char *
pkce_challenge(const char *verifier)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

    crypto_hash_sha256(h, (const unsigned char *)verifier, strlen(verifier));
    sodium_bin2base64(b64, sizeof(b64), h, sizeof(h), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return xstrdup(b64);
}

/* Appends &name=value (escaped) to *url. */
static void
add_param(char **url, const char *name, const char *value)
{
    char *v = fetch_escape(value);
    char *next = xasprintf("%s%s%s=%s", *url, strchr(*url, '?') ? "&" : "?", name, v);
    free(v);
    free(*url);
    *url = next;
}

int
oidc_start(struct oidc *o, const struct config *cfg, const struct config_oidc_provider *p,
           const char *client_redirect_url, const char *ui_auth_session, char **auth_url,
           char **cookie, char *err, size_t errlen)
{
    struct provider_meta m = {0};
    struct attempt *a, **pp;
    char *scope = NULL, *cb = NULL;
    int64_t now = util_now_ms();
    bool pkce;

    *auth_url = *cookie = NULL;
    if (load_meta(o, p, &m, err, errlen) != 0)
        return -1;
    pkce = strcmp(p->pkce_method, "always") == 0 ||
           (strcmp(p->pkce_method, "auto") == 0 && m.pkce_s256);
    a = xcalloc(1, sizeof(*a));
    a->state = util_random_token(24);
    a->cookie = util_random_token(24);
    a->nonce = util_random_token(24);
    a->verifier = pkce ? util_random_token(32) : NULL; /* 43 characters, RFC 7636 4.1 */
    a->p = p;
    a->redirect_url = client_redirect_url ? xstrdup(client_redirect_url) : NULL;
    a->ui_session = ui_auth_session ? xstrdup(ui_auth_session) : NULL;
    a->created_ms = now;

    scope = xstrdup("");
    for (size_t i = 0; i < p->n_scopes; i++) {
        char *next = xasprintf("%s%s%s", scope, i ? " " : "", p->scopes[i]);
        free(scope);
        scope = next;
    }
    cb = callback_url(cfg);
    *auth_url = xstrdup(m.authorization_endpoint);
    add_param(auth_url, "response_type", "code");
    add_param(auth_url, "client_id", p->client_id);
    add_param(auth_url, "redirect_uri", cb);
    add_param(auth_url, "scope", scope);
    add_param(auth_url, "state", a->state);
    add_param(auth_url, "nonce", a->nonce);
    if (pkce) {
        char *challenge = pkce_challenge(a->verifier);
        add_param(auth_url, "code_challenge", challenge);
        add_param(auth_url, "code_challenge_method", "S256");
        free(challenge);
    }
    *cookie = xstrdup(a->cookie);

    pthread_mutex_lock(&o->lock);
    for (pp = &o->head; *pp;) {
        if (now - (*pp)->created_ms > ATTEMPT_TTL_MS) {
            struct attempt *dead = *pp;
            *pp = dead->next;
            attempt_free(dead);
            o->n_attempts--;
        } else {
            pp = &(*pp)->next;
        }
    }
    /* Bounded: a flood of redirects cannot grow memory without end; the oldest go first. */
    while (o->n_attempts >= MAX_ATTEMPTS) {
        for (pp = &o->head; (*pp)->next; pp = &(*pp)->next)
            ;
        attempt_free(*pp);
        *pp = NULL;
        o->n_attempts--;
    }
    a->next = o->head;
    o->head = a;
    o->n_attempts++;
    pthread_mutex_unlock(&o->lock);
    free(scope);
    free(cb);
    meta_clear(&m);
    return 0;
}

void
oidc_login_clear(struct oidc_login *l)
{
    free(l->subject);
    json_decref(l->claims);
    free(l->client_redirect_url);
    free(l->ui_auth_session);
    memset(l, 0, sizeof(*l));
}

static struct attempt *
take_attempt(struct oidc *o, const char *state)
{
    struct attempt *found = NULL;

    pthread_mutex_lock(&o->lock);
    for (struct attempt **pp = &o->head; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->state, state) == 0) {
            found = *pp;
            *pp = found->next;
            o->n_attempts--;
            break;
        }
    }
    pthread_mutex_unlock(&o->lock);
    return found;
}

/* POST to the token endpoint (RFC 6749 4.1.3). The answer object, or NULL with err. */
static json_t *
exchange_code(const struct config *cfg, const struct config_oidc_provider *p,
              const struct provider_meta *m, const struct attempt *a, const char *code, char *err,
              size_t errlen)
{
    struct fetch_req fr = {.method = "POST", .url = m->token_endpoint};
    struct fetch_resp resp;
    char *cb = callback_url(cfg), *ecode = fetch_escape(code), *ecb = fetch_escape(cb);
    char *body, *auth = NULL, *tmp;
    json_t *v = NULL;

    body = xasprintf("grant_type=authorization_code&code=%s&redirect_uri=%s", ecode, ecb);
    if (a->verifier) {
        tmp = xasprintf("%s&code_verifier=%s", body, a->verifier);
        free(body);
        body = tmp;
    }
    if (strcmp(p->client_auth_method, "client_secret_basic") == 0) {
        /* RFC 6749 2.3.1: form-urlencoded id and secret, joined by ':', in base64. */
        char *id = fetch_escape(p->client_id), *secret = fetch_escape(p->client_secret);
        char *pair = xasprintf("%s:%s", id, secret);
        size_t cap = sodium_base64_ENCODED_LEN(strlen(pair), sodium_base64_VARIANT_ORIGINAL);
        char *b64 = xmalloc(cap);
        sodium_bin2base64(b64, cap, (const unsigned char *)pair, strlen(pair),
                          sodium_base64_VARIANT_ORIGINAL);
        auth = xasprintf("Authorization: Basic %s", b64);
        sodium_memzero(pair, strlen(pair));
        free(pair);
        free(b64);
        free(id);
        free(secret);
    } else {
        char *id = fetch_escape(p->client_id);
        if (strcmp(p->client_auth_method, "client_secret_post") == 0) {
            char *secret = fetch_escape(p->client_secret);
            tmp = xasprintf("%s&client_id=%s&client_secret=%s", body, id, secret);
            free(secret);
        } else {
            tmp = xasprintf("%s&client_id=%s", body, id);
        }
        free(id);
        free(body);
        body = tmp;
    }
    fr.headers[0] = auth;
    fr.body = body;
    fr.content_type = "application/x-www-form-urlencoded";
    if (fetch(&fr, &resp) != 0) {
        fail(err, errlen, "token endpoint: %s", resp.error);
        goto out;
    }
    v = json_loadb(resp.body, resp.len, 0, NULL);
    if (resp.status != 200 || !json_is_object(v)) {
        const char *e = json_string_value(json_object_get(v, "error"));
        fail(err, errlen, "token endpoint answered HTTP %ld%s%s", resp.status, e ? ": " : "",
             e ? e : "");
        json_decref(v);
        v = NULL;
    }
    fetch_resp_clear(&resp);
out:
    if (auth)
        sodium_memzero(auth, strlen(auth));
    free(auth);
    free(body);
    free(cb);
    free(ecode);
    free(ecb);
    return v;
}

/* The subject claim as a string (Synapse accepts strings and integers). New string or NULL. */
static char *
subject_of(const json_t *claims, const char *claim)
{
    const json_t *v = json_object_get(claims, claim);
    if (json_is_string(v) && json_string_length(v) > 0)
        return xstrdup(json_string_value(v));
    if (json_is_integer(v))
        return xasprintf("%lld", (long long)json_integer_value(v));
    return NULL;
}

int
oidc_finish(struct oidc *o, const struct config *cfg, const char *state, const char *code,
            const char *cookie, struct oidc_login *out, char *err, size_t errlen)
{
    struct attempt *a = take_attempt(o, state);
    struct provider_meta m = {0};
    json_t *tok = NULL, *claims = NULL, *jwks = NULL;
    const char *id_token, *access_token;
    char *auth = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!a)
        return fail(err, errlen, "unknown or expired login attempt");
    /* The cookie set when this attempt started: a link to the callback alone, sent to
     * someone else, does not log them in (CSRF). */
    if (!cookie || strcmp(cookie, a->cookie) != 0) {
        fail(err, errlen, "the login session cookie is missing or does not match");
        goto out;
    }
    if (load_meta(o, a->p, &m, err, errlen) != 0)
        goto out;
    tok = exchange_code(cfg, a->p, &m, a, code, err, errlen);
    if (!tok)
        goto out;
    id_token = json_string_value(json_object_get(tok, "id_token"));
    access_token = json_string_value(json_object_get(tok, "access_token"));
    if (has_scope(a->p, "openid")) {
        /* SPEC (OIDC Core 3.1.3.3): the response of an openid request has an ID token. */
        if (!id_token) {
            fail(err, errlen, "the token response has no id_token");
            goto out;
        }
        if (m.jwks_uri) {
            jwks = get_json(m.jwks_uri, NULL, err, errlen);
            if (!jwks)
                goto out;
        }
        claims = jwt_verify(id_token, jwks, a->p->client_secret, err, errlen);
        if (!claims)
            goto out;
        if (jwt_check_claims(claims, a->p->issuer, a->p->client_id, a->nonce, util_now_ms() / 1000,
                             CLOCK_LEEWAY_S, err, errlen) != 0) {
            json_decref(claims);
            claims = NULL;
            goto out;
        }
    }
    if (strcmp(a->p->user_profile_method, "userinfo_endpoint") == 0 || !claims) {
        json_t *info;
        if (!m.userinfo_endpoint || !access_token) {
            fail(err, errlen, "userinfo needs a userinfo_endpoint and an access_token");
            goto out;
        }
        auth = xasprintf("Authorization: Bearer %s", access_token);
        info = get_json(m.userinfo_endpoint, auth, err, errlen);
        if (!info)
            goto out;
        /* SPEC (OIDC Core 5.3.2): "The sub Claim in the UserInfo Response MUST be verified to
         * exactly match the sub Claim in the ID Token". */
        if (claims && !json_equal(json_object_get(info, "sub"), json_object_get(claims, "sub"))) {
            json_decref(info);
            fail(err, errlen, "userinfo is about another subject than the ID token");
            goto out;
        }
        json_decref(claims);
        claims = info;
    }
    out->subject = subject_of(claims, a->p->subject_claim);
    if (!out->subject) {
        fail(err, errlen, "the claims have no %s", a->p->subject_claim);
        goto out;
    }
    out->provider = a->p;
    out->claims = claims;
    claims = NULL;
    out->client_redirect_url = a->redirect_url;
    a->redirect_url = NULL;
    out->ui_auth_session = a->ui_session;
    a->ui_session = NULL;
    rc = 0;
out:
    if (rc != 0)
        oidc_login_clear(out);
    json_decref(claims);
    json_decref(tok);
    json_decref(jwks);
    free(auth);
    meta_clear(&m);
    attempt_free(a);
    return rc;
}

char *
oidc_render_template(const char *tmpl, const json_t *claims)
{
    size_t cap = strlen(tmpl) + 1, len = 0;
    char *out = xmalloc(cap);
    const char *p = tmpl;

    while (*p) {
        const char *open = strstr(p, "{{"), *close = open ? strstr(open, "}}") : NULL;
        const char *seg = close ? open : p + strlen(p);
        char *piece = xstrndup(p, (size_t)(seg - p));
        char *value = NULL;

        if (close) {
            const char *s = open + 2, *e = close;
            while (s < e && *s == ' ')
                s++;
            while (e > s && e[-1] == ' ')
                e--;
            if ((size_t)(e - s) > 5 && strncmp(s, "user.", 5) == 0) {
                char *name = xstrndup(s + 5, (size_t)(e - s - 5));
                const json_t *v = json_object_get(claims, name);
                if (json_is_string(v))
                    value = xstrdup(json_string_value(v));
                else if (json_is_integer(v))
                    value = xasprintf("%lld", (long long)json_integer_value(v));
                free(name);
            }
        }
        for (int k = 0; k < 2; k++) {
            const char *add = k ? (value ? value : "") : piece;
            size_t n = strlen(add);
            if (len + n + 1 > cap) {
                cap = (len + n + 1) * 2;
                out = xrealloc(out, cap);
            }
            memcpy(out + len, add, n);
            len += n;
        }
        free(piece);
        free(value);
        p = close ? close + 2 : seg;
    }
    out[len] = '\0';
    /* Jinja's output is stripped by Synapse's mapper. */
    {
        size_t s = 0;
        while (out[s] == ' ' || out[s] == '\t' || out[s] == '\n')
            s++;
        memmove(out, out + s, len - s + 1);
        len -= s;
        while (len > 0 && (out[len - 1] == ' ' || out[len - 1] == '\t' || out[len - 1] == '\n'))
            out[--len] = '\0';
    }
    return out;
}

char *
oidc_localpart_from(const char *name)
{
    size_t n = strlen(name), o = 0;
    char *out = xmalloc(n * 3 + 1);

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
            c == '/') {
            if (o == 0 && c == '_') {
                memcpy(out + o, "=5f", 3);
                o += 3;
            } else {
                out[o++] = (char)c;
            }
        } else {
            static const char hex[] = "0123456789abcdef";
            out[o++] = '=';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}
