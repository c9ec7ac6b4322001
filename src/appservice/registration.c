/* Application service registrations: Synapse's YAML files (id, url, as_token, hs_token,
 * sender_localpart, namespaces, rate_limited, protocols), validated at start, and the namespace
 * lookups every request and every event needs. */
#include <curl/curl.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "appservice/appservice_internal.h"
#include "core/log.h"
#include "core/util.h"
#include "room/id.h"

/* A registration is a few hundred bytes; anything far bigger is a mistake. */
#define REG_MAX_FILE (1024 * 1024)
/* Deeper YAML than this is not a registration (and aliases could otherwise loop). */
#define REG_MAX_DEPTH 32

static const char *const ns_names[] = {"users", "aliases", "rooms"};

/* ---- errors ---- */

struct reg_err {
    const char *source;
    char *buf;
    size_t len;
};

static int __attribute__((format(printf, 3, 4)))
fail(struct reg_err *e, const char *key, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!e->buf || e->len == 0)
        return -1;
    n = key ? snprintf(e->buf, e->len, "%s: %s: ", e->source, key)
            : snprintf(e->buf, e->len, "%s: ", e->source);
    if (n < 0 || (size_t)n >= e->len)
        return -1;
    va_start(ap, fmt);
    vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
    va_end(ap);
    /* Control characters from a hostile file must not forge log lines. */
    for (char *p = e->buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return -1;
}

/* ---- YAML to JSON ---- */

/* PyYAML (YAML 1.1) reads these plain scalars as null, booleans and integers (so Synapse
 * refuses "hs_token: 5", and so do we); everything else is text. */
static json_t *
plain_scalar(const char *s)
{
    const char *d = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
    int64_t n;

    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No",
                                     "NO",    "off",   "Off",   "OFF"};

    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        if (strcmp(s, nulls[i]) == 0)
            return json_null();
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(s, yes[i]) == 0)
            return json_true();
        if (strcmp(s, no[i]) == 0)
            return json_false();
    }
    if (*d >= '0' && *d <= '9' && strspn(d, "0123456789") == strlen(d) &&
        util_parse_int64(s, &n) == 0)
        return json_integer((json_int_t)n);
    return json_string(s);
}

static json_t *
to_json(struct reg_err *e, yaml_document_t *doc, yaml_node_t *n, int depth)
{
    json_t *out = NULL;

    if (!n || depth > REG_MAX_DEPTH) {
        fail(e, NULL, "YAML nested too deeply");
        return NULL;
    }
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *s = (const char *)n->data.scalar.value;
        if (strlen(s) != n->data.scalar.length || !util_valid_utf8(s, strlen(s))) {
            fail(e, NULL, "YAML text must be UTF-8 without NUL bytes");
            return NULL;
        }
        out = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_scalar(s) : json_string(s);
        break;
    }
    case YAML_SEQUENCE_NODE:
        out = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            json_t *v = to_json(e, doc, yaml_document_get_node(doc, *it), depth + 1);
            if (!v) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, v);
        }
        break;
    case YAML_MAPPING_NODE:
        out = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            const char *key;
            json_t *v;

            if (!k || k->type != YAML_SCALAR_NODE ||
                strlen((const char *)k->data.scalar.value) != k->data.scalar.length) {
                fail(e, NULL, "mapping keys must be strings");
                json_decref(out);
                return NULL;
            }
            key = (const char *)k->data.scalar.value;
            /* PyYAML would silently keep the last; a duplicate is a mistake worth saying. */
            if (json_object_get(out, key)) {
                fail(e, key, "duplicate key");
                json_decref(out);
                return NULL;
            }
            v = to_json(e, doc, yaml_document_get_node(doc, p->value), depth + 1);
            if (!v) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(out, key, v);
        }
        break;
    default:
        fail(e, NULL, "empty YAML document");
        return NULL;
    }
    return out;
}

static json_t *
parse_yaml(struct reg_err *e, const char *yaml, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    json_t *out = NULL;
    yaml_node_t *root;

    if (!yaml_parser_initialize(&parser)) {
        fputs("hearth: out of memory\n", stderr);
        abort();
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        fail(e, NULL, "YAML syntax error at line %zu, column %zu: %s", parser.problem_mark.line + 1,
             parser.problem_mark.column + 1, parser.problem ? parser.problem : "unknown error");
        yaml_parser_delete(&parser);
        return NULL;
    }
    root = yaml_document_get_root_node(&doc);
    if (!root)
        fail(e, NULL, "empty file");
    else
        out = to_json(e, &doc, root, 0);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return out;
}

/* ---- validation ---- */

static void
ns_free(struct as_namespace *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].regex);
        pcre2_code_free(list[i].re);
    }
    free(list);
}

static void
reg_free(struct appservice *a)
{
    if (!a)
        return;
    free(a->id);
    free(a->url);
    if (a->hs_token) {
        sodium_memzero(a->hs_token, strlen(a->hs_token));
        free(a->hs_token);
    }
    free(a->sender);
    for (int k = 0; k < 3; k++)
        ns_free(a->ns[k], a->n_ns[k]);
    for (size_t i = 0; i < a->n_protocols; i++)
        free(a->protocols[i]);
    free(a->protocols);
    free(a->legacy_until);
    free(a);
}

/* A required non-empty string; *out borrowed from reg. */
static int
req_string(struct reg_err *e, const json_t *reg, const char *key, const char **out)
{
    const json_t *v = json_object_get(reg, key);

    if (!v || json_is_null(v))
        return fail(e, key, "required");
    if (!json_is_string(v) || json_string_length(v) == 0)
        return fail(e, key, "must be a non-empty string");
    *out = json_string_value(v);
    return 0;
}

/* Python's re.match: anchored at the start of the subject, not at its end. UCP: \d, \w and
 * \s mean what they mean for Python's str patterns. */
static int
compile_regex(struct reg_err *e, const char *key, const char *regex, pcre2_code **out)
{
    int code;
    PCRE2_SIZE off;
    PCRE2_UCHAR msg[256];

    *out = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED,
                         PCRE2_ANCHORED | PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
    if (*out)
        return 0;
    pcre2_get_error_message(code, msg, sizeof(msg));
    return fail(e, key, "invalid regex at offset %zu: %s", (size_t)off, (const char *)msg);
}

static int
load_namespaces(struct reg_err *e, const json_t *reg, struct appservice *a)
{
    const json_t *nss = json_object_get(reg, "namespaces");
    const char *name;
    json_t *v;
    char key[128];

    if (!nss || json_is_null(nss))
        return fail(e, "namespaces", "required");
    if (!json_is_object(nss))
        return fail(e, "namespaces", "must be a mapping of users, aliases and rooms");
    json_object_foreach((json_t *)nss, name, v)
    {
        int k = -1;
        for (int i = 0; i < 3; i++)
            if (strcmp(name, ns_names[i]) == 0)
                k = i;
        snprintf(key, sizeof(key), "namespaces.%s", name);
        if (k < 0) {
            log_warn("%s: %s: unknown namespace ignored", e->source, key);
            continue;
        }
        if (json_is_null(v))
            continue;
        if (!json_is_array(v))
            return fail(e, key, "must be a list");
        a->ns[k] = xcalloc(json_array_size(v) + 1, sizeof(*a->ns[k]));
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *item = json_array_get(v, i);
            const json_t *ex = json_object_get(item, "exclusive");
            const char *regex = json_string_value(json_object_get(item, "regex"));
            struct as_namespace *ns = &a->ns[k][a->n_ns[k]];

            snprintf(key, sizeof(key), "namespaces.%s[%zu]", name, i);
            if (!json_is_object(item))
                return fail(e, key, "must be a mapping with exclusive and regex");
            /* SPEC: "Each individual namespace MUST declare" exclusive and regex. */
            if (!json_is_boolean(ex))
                return fail(e, key, "exclusive is required and must be true or false");
            if (!regex || !*regex)
                return fail(e, key, "regex is required and must be a non-empty string");
            snprintf(key, sizeof(key), "namespaces.%s[%zu].regex", name, i);
            if (compile_regex(e, key, regex, &ns->re) < 0)
                return -1;
            ns->regex = xstrdup(regex);
            ns->exclusive = json_is_true(ex);
            a->n_ns[k]++;
        }
    }
    return 0;
}

static int
load_protocols(struct reg_err *e, const json_t *reg, struct appservice *a)
{
    const json_t *v = json_object_get(reg, "protocols");

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return fail(e, "protocols", "must be a list of protocol names");
    a->protocols = xcalloc(json_array_size(v) + 1, sizeof(char *));
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *p = json_string_value(json_array_get(v, i));
        char key[64];
        snprintf(key, sizeof(key), "protocols[%zu]", i);
        /* The name goes into URL paths; '/' would change which route it reaches. */
        if (!p || !*p || strchr(p, '/'))
            return fail(e, key, "must be a non-empty string without '/'");
        a->protocols[a->n_protocols++] = xstrdup(p);
    }
    return 0;
}

static int
load_url(struct reg_err *e, const json_t *reg, struct appservice *a)
{
    const json_t *v = json_object_get(reg, "url");
    const char *s;
    size_t len;

    /* SPEC: url is required but "Optionally set to null if no traffic is required". */
    if (!v)
        return fail(e, "url", "required (null if the service wants no traffic)");
    if (json_is_null(v))
        return 0;
    s = json_string_value(v);
    if (!s ||
        !((strncmp(s, "http://", 7) == 0 && s[7]) || (strncmp(s, "https://", 8) == 0 && s[8])) ||
        strpbrk(s, " \t\r\n?#"))
        return fail(e, "url", "must be an http:// or https:// URL without query, or null");
    len = strlen(s);
    while (len > 0 && s[len - 1] == '/')
        len--;
    a->url = xstrndup(s, len);
    return 0;
}

/* Keys Synapse or later specs define that Hearth does not use. */
static const char *const known_unused[] = {
    "receive_ephemeral",  "push_ephemeral",     "de.sorunome.msc2409.push_ephemeral",
    "org.matrix.msc3202", "io.element.msc4190",
};

static bool
known_key(const char *k)
{
    static const char *const used[] = {
        "id",         "url",          "as_token", "hs_token", "sender_localpart",
        "namespaces", "rate_limited", "protocols"};
    for (size_t i = 0; i < sizeof(used) / sizeof(used[0]); i++)
        if (strcmp(k, used[i]) == 0)
            return true;
    for (size_t i = 0; i < sizeof(known_unused) / sizeof(known_unused[0]); i++)
        if (strcmp(k, known_unused[i]) == 0) {
            return true;
        }
    return false;
}

static int
validate(struct appservices *as, struct reg_err *e, const json_t *reg, struct appservice **out)
{
    struct appservice *a = xcalloc(1, sizeof(*a));
    const char *id = NULL, *as_token = NULL, *hs_token = NULL, *lp = NULL, *key;
    const json_t *v;
    json_t *val;

    *out = NULL;
    a->legacy_until = xcalloc(1, sizeof(*a->legacy_until));
    if (!json_is_object(reg)) {
        fail(e, NULL, "must be a YAML mapping");
        goto bad;
    }
    json_object_foreach((json_t *)reg, key, val)
    {
        if (!known_key(key))
            log_warn("%s: unknown key '%s' ignored", e->source, key);
    }
    if (req_string(e, reg, "id", &id) < 0 || req_string(e, reg, "as_token", &as_token) < 0 ||
        req_string(e, reg, "hs_token", &hs_token) < 0 ||
        req_string(e, reg, "sender_localpart", &lp) < 0 || load_url(e, reg, a) < 0)
        goto bad;
    a->id = xstrdup(id);
    util_sha256_hex(as_token, strlen(as_token), a->as_token_hash);
    a->hs_token = xstrdup(hs_token);
    a->sender = xasprintf("@%s:%s", lp, as->server_name);
    if (!id_localpart_valid(lp) || !id_user_id_valid(a->sender)) {
        fail(e, "sender_localpart", "'%s' is not a valid localpart (a-z, 0-9, '=_-./')", lp);
        goto bad;
    }
    if (load_namespaces(e, reg, a) < 0 || load_protocols(e, reg, a) < 0)
        goto bad;
    v = json_object_get(reg, "rate_limited");
    if (v && !json_is_null(v) && !json_is_boolean(v)) {
        fail(e, "rate_limited", "must be true or false");
        goto bad;
    }
    /* Not rate limited unless asked for (Synapse's default is true: bridges there need it
     * turned off by hand, which is what everyone does). */
    a->rate_limited = json_is_true(v);
    /* SPEC: "each as_token and id MUST be unique per application service". */
    for (size_t i = 0; i < as->n; i++) {
        if (strcmp(as->list[i]->id, a->id) == 0) {
            fail(e, "id", "'%s' is also the id of another application service", a->id);
            goto bad;
        }
        if (strcmp(as->list[i]->as_token_hash, a->as_token_hash) == 0) {
            fail(e, "as_token", "is also the as_token of application service '%s'",
                 as->list[i]->id);
            goto bad;
        }
    }
    *out = a;
    return 0;
bad:
    reg_free(a);
    return -1;
}

/* ---- the set ---- */

struct appservices *
appservices_new(const char *server_name)
{
    struct appservices *as = xcalloc(1, sizeof(*as));
    pthread_condattr_t ca;

    as->server_name = xstrdup(server_name);
    pthread_mutex_init(&as->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&as->cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&as->stopping, false);
    return as;
}

int
appservices_add_yaml(struct appservices *as, const char *yaml, size_t len, const char *source,
                     char *err, size_t errlen)
{
    struct reg_err e = {source, err, errlen};
    struct appservice *a = NULL;
    json_t *reg;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    reg = parse_yaml(&e, yaml, len);
    if (!reg)
        return -1;
    rc = validate(as, &e, reg, &a);
    json_decref(reg);
    if (rc < 0)
        return -1;
    as->list = xrealloc(as->list, (as->n + 1) * sizeof(*as->list));
    as->list[as->n++] = a;
    return 0;
}

static int
add_file(struct appservices *as, const char *path, char *err, size_t errlen)
{
    struct reg_err e = {path, err, errlen};
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len;
    int rc = -1;

    if (!f)
        return fail(&e, NULL, "cannot open: %s", strerror(errno));
    buf = xmalloc(REG_MAX_FILE + 1);
    len = fread(buf, 1, REG_MAX_FILE + 1, f);
    if (ferror(f))
        fail(&e, NULL, "cannot read: %s", strerror(errno));
    else if (len > REG_MAX_FILE)
        fail(&e, NULL, "larger than %d bytes", REG_MAX_FILE);
    else
        rc = appservices_add_yaml(as, buf, len, path, err, errlen);
    fclose(f);
    sodium_memzero(buf, len < REG_MAX_FILE + 1 ? len : REG_MAX_FILE + 1); /* tokens */
    free(buf);
    return rc;
}

int
appservices_load(const char *const *paths, size_t n, const char *server_name,
                 struct appservices **out, char *err, size_t errlen)
{
    struct appservices *as = appservices_new(server_name);

    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        if (add_file(as, paths[i], err, errlen) < 0) {
            appservices_free(as);
            return -1;
        }
        log_info("application service '%s' (%s) loaded from %s", as->list[as->n - 1]->id,
                 as->list[as->n - 1]->sender, paths[i]);
    }
    *out = as;
    return 0;
}

void
appservices_free(struct appservices *as)
{
    if (!as)
        return;
    appservices_stop(as);
    for (size_t i = 0; i < as->n; i++)
        reg_free(as->list[i]);
    free(as->list);
    /* libcurl's global state is fetch_global_cleanup's (issue 12). */
    free(as->server_name);
    pthread_mutex_destroy(&as->lock);
    pthread_cond_destroy(&as->cond);
    free(as);
}

size_t
appservices_count(const struct appservices *as)
{
    return as ? as->n : 0;
}

const struct appservice *
appservices_at(const struct appservices *as, size_t i)
{
    return i < appservices_count(as) ? as->list[i] : NULL;
}

const struct appservice *
appservices_by_token(const struct appservices *as, const char *token)
{
    const struct appservice *found = NULL;
    char hash[65];

    if (!as || as->n == 0 || !token)
        return NULL;
    util_sha256_hex(token, strlen(token), hash);
    for (size_t i = 0; i < as->n; i++)
        if (sodium_memcmp(hash, as->list[i]->as_token_hash, 64) == 0)
            found = as->list[i];
    return found;
}

const struct appservice *
appservices_by_id(const struct appservices *as, const char *id)
{
    for (size_t i = 0; i < appservices_count(as); i++)
        if (strcmp(as->list[i]->id, id) == 0)
            return as->list[i];
    return NULL;
}

const char *
appservice_id(const struct appservice *a)
{
    return a->id;
}

const char *
appservice_sender(const struct appservice *a)
{
    return a->sender;
}

const char *
appservice_url(const struct appservice *a)
{
    return a->url;
}

bool
appservice_rate_limited(const struct appservice *a)
{
    return a->rate_limited;
}

size_t
appservice_n_protocols(const struct appservice *a)
{
    return a->n_protocols;
}

const char *
appservice_protocol(const struct appservice *a, size_t i)
{
    return i < a->n_protocols ? a->protocols[i] : NULL;
}

bool
appservice_has_protocol(const struct appservice *a, const char *protocol)
{
    for (size_t i = 0; i < a->n_protocols; i++)
        if (strcmp(a->protocols[i], protocol) == 0)
            return true;
    return false;
}

static bool
regex_matches(const pcre2_code *re, const char *s)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc;

    if (!md) {
        fputs("hearth: out of memory\n", stderr);
        abort();
    }
    /* Invalid UTF-8 in the subject is an error, hence no match. */
    rc = pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

bool
appservice_matches(const struct appservice *a, enum as_ns kind, const char *s, bool exclusive_only)
{
    if (!s)
        return false;
    for (size_t i = 0; i < a->n_ns[kind]; i++) {
        const struct as_namespace *ns = &a->ns[kind][i];
        if ((!exclusive_only || ns->exclusive) && regex_matches(ns->re, s))
            return true;
    }
    return false;
}

bool
appservice_is_user(const struct appservice *a, const char *user_id)
{
    return user_id &&
           (strcmp(user_id, a->sender) == 0 || appservice_matches(a, AS_NS_USERS, user_id, false));
}

const struct appservice *
appservices_exclusive(const struct appservices *as, enum as_ns kind, const char *s,
                      const struct appservice *except)
{
    for (size_t i = 0; i < appservices_count(as); i++)
        if (as->list[i] != except && appservice_matches(as->list[i], kind, s, true))
            return as->list[i];
    return NULL;
}

bool
appservice_interested(const struct appservice *a, const json_t *ev, const json_t *aliases,
                      const json_t *members)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *sk = json_string_value(json_object_get(ev, "state_key"));
    const char *user;
    const json_t *v;
    size_t i;

    if (appservice_is_user(a, json_string_value(json_object_get(ev, "sender"))))
        return true;
    if (type && sk && strcmp(type, "m.room.member") == 0 && appservice_is_user(a, sk))
        return true;
    if (appservice_matches(a, AS_NS_ROOMS, json_string_value(json_object_get(ev, "room_id")),
                           false))
        return true;
    json_array_foreach(aliases, i, v)
    {
        if (appservice_matches(a, AS_NS_ALIASES, json_string_value(v), false))
            return true;
    }
    json_object_foreach((json_t *)members, user, v)
    {
        if (appservice_is_user(a, user))
            return true;
    }
    return false;
}
