#include "core/config.h"

#include "core/log.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

/* A config file is a few kilobytes; anything far bigger is a mistake, not a config. */
#define CONFIG_MAX_FILE (1024 * 1024)
/* Room for a key path such as "database.args.password" in error messages. */
#define KEY_PATH_MAX 256

#define DEFAULT_PORT 8008
#define DEFAULT_BIND "127.0.0.1"
#define DEFAULT_ROOM_VERSION "6" /* SPEC: v1.1 rooms/_index.md (issue 15) */
#define DEFAULT_MAX_UPLOAD (50 * 1024 * 1024)
#define DEFAULT_MAX_REQUEST (1024 * 1024)
#define DEFAULT_EVENT_CACHE 4096
#define MAX_THREAD_POOL 1024

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

/* ---- growable string ---------------------------------------------------------------------- */

struct sbuf {
    char *p;
    size_t len;
    size_t cap;
};

static void
sbuf_putn(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
sbuf_puts(struct sbuf *b, const char *s)
{
    sbuf_putn(b, s, strlen(s));
}

static void
sbuf_putc(struct sbuf *b, char c)
{
    sbuf_putn(b, &c, 1);
}

static void __attribute__((format(printf, 2, 3))) sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (!s) {
        fputs("hearth: out of memory\n", stderr);
        abort();
    }
    sbuf_puts(b, s);
    free(s);
}

/* Returns the string (never NULL); the caller owns it. */
static char *
sbuf_take(struct sbuf *b)
{
    char *p = b->p ? b->p : xstrdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

/* ---- paths -------------------------------------------------------------------------------- */

/* Returns a new absolute path: rel resolved against the absolute dir base, with ".", ".." and
 * repeated slashes removed lexically (like Python's os.path.abspath, which Synapse uses). */
static char *
path_resolve(const char *base, const char *rel)
{
    char *joined = rel[0] == '/' ? xstrdup(rel) : xasprintf("%s/%s", base, rel);
    size_t n = strlen(joined);
    char *out = xmalloc(n + 2);
    size_t o = 0;
    const char *s = joined;

    while (*s) {
        const char *e;
        size_t len;

        while (*s == '/')
            s++;
        e = s;
        while (*e && *e != '/')
            e++;
        len = (size_t)(e - s);
        if (len == 0 || (len == 1 && s[0] == '.')) {
            /* nothing */
        } else if (len == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            out[o++] = '/';
            memcpy(out + o, s, len);
            o += len;
        }
        s = e;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    free(joined);
    return out;
}

/* Returns a new absolute form of dir (relative to the working directory), or NULL. */
static char *
absolute_dir(const char *dir)
{
    char cwd[PATH_MAX];

    if (dir && dir[0] == '/')
        return path_resolve("/", dir);
    if (!getcwd(cwd, sizeof(cwd)))
        return NULL;
    return path_resolve(cwd, dir ? dir : ".");
}

/* ---- server names ------------------------------------------------------------------------- */

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
valid_port(const char *s)
{
    long v = 0;
    size_t n = 0;

    for (; is_digit(s[n]); n++)
        v = v * 10 + (s[n] - '0');
    return n >= 1 && n <= 5 && s[n] == '\0' && v >= 1 && v <= 65535;
}

/* SPEC: appendices "Server Name": IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT */
static bool
valid_ipv4(const char *s, size_t n)
{
    size_t i = 0;

    for (int part = 0; part < 4; part++) {
        int v = 0, digits = 0;
        while (i < n && is_digit(s[i]) && digits < 4) {
            v = v * 10 + (s[i++] - '0');
            digits++;
        }
        if (digits == 0 || digits > 3 || v > 255)
            return false;
        if (part < 3) {
            if (i >= n || s[i] != '.')
                return false;
            i++;
        }
    }
    return i == n;
}

/* dns-name = 1*255dns-char, in labels of 1..63 letters, digits and hyphens. */
static bool
valid_dns_name(const char *s, size_t n)
{
    size_t label = 0;

    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (is_alnum(s[i]) || s[i] == '-') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0;
}

/* SPEC: appendices "Server Name": server_name = hostname [ ":" port ]. */
static bool
valid_server_name(const char *s)
{
    const char *port = NULL;
    bool only_digits = true;
    size_t n;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        char buf[INET6_ADDRSTRLEN];
        unsigned char addr[16];

        if (!close || (size_t)(close - s - 1) >= sizeof(buf))
            return false;
        memcpy(buf, s + 1, (size_t)(close - s - 1));
        buf[close - s - 1] = '\0';
        if (inet_pton(AF_INET6, buf, addr) != 1)
            return false;
        if (close[1] == '\0')
            return true;
        return close[1] == ':' && valid_port(close + 2);
    }
    port = strchr(s, ':');
    n = port ? (size_t)(port - s) : strlen(s);
    if (port && !valid_port(port + 1))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]) && s[i] != '.')
            only_digits = false;
    /* No top-level domain is all digits, so such a name must be an IPv4 literal. */
    if (only_digits)
        return valid_ipv4(s, n);
    return valid_dns_name(s, n);
}

/* ---- YAML access -------------------------------------------------------------------------- */

struct loader {
    yaml_document_t *doc;
    const char *base_dir; /* absolute */
    struct config *cfg;
    char *err;
    size_t errlen;
};

static int __attribute__((format(printf, 3, 4)))
fail(struct loader *ld, const char *path, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!ld->err || ld->errlen == 0)
        return -1;
    n = snprintf(ld->err, ld->errlen, "%s: ", path);
    if (n < 0 || (size_t)n >= ld->errlen)
        return -1;
    va_start(ap, fmt);
    vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static yaml_node_t *
node_at(struct loader *ld, int index)
{
    return yaml_document_get_node(ld->doc, index);
}

/* An empty value, "~" or "null" means "not set": the default applies, as in Synapse where
 * the key would load as None. */
static bool
is_null(const yaml_node_t *n)
{
    const char *v;

    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    v = (const char *)n->data.scalar.value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* Writes parent.key (or just key at the top) into out, with control characters replaced so a
 * hostile key cannot forge log lines. */
static void
key_path(char *out, size_t outlen, const char *parent, const char *key)
{
    int n =
        parent[0] ? snprintf(out, outlen, "%s.%s", parent, key) : snprintf(out, outlen, "%s", key);
    if (n < 0)
        out[0] = '\0';
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

/* Borrows the scalar's text; fails unless v is a scalar without NUL bytes. */
static int
get_scalar(struct loader *ld, yaml_node_t *v, const char *path, const char *what, const char **out)
{
    if (v->type != YAML_SCALAR_NODE)
        return fail(ld, path, "must be %s", what);
    if (strlen((const char *)v->data.scalar.value) != v->data.scalar.length)
        return fail(ld, path, "must not contain NUL bytes");
    *out = (const char *)v->data.scalar.value;
    return 0;
}

/* Whole-string decimal integer: no spaces, no hex/octal, no "1_000", no fraction. */
static int
parse_integer(const char *s, long long *out)
{
    const char *d = (s[0] == '+' || s[0] == '-') ? s + 1 : s;
    char *end;
    long long v;

    if (!is_digit(d[0]))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* Whole-string finite decimal number (strtod alone would take "inf", "nan" and hex floats). */
static int
parse_number(const char *s, double *out)
{
    char *end;
    double v;

    if (s[0] == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* An integer min..max into the int at field. */
static int
get_int(struct loader *ld, yaml_node_t *v, const char *path, int min, int max, void *field)
{
    const char *s = NULL;
    long long n;

    if (v->type != YAML_SCALAR_NODE || get_scalar(ld, v, path, "an integer", &s) < 0 ||
        parse_integer(s, &n) < 0 || n < min || n > max)
        return fail(ld, path, "must be an integer %d..%d", min, max);
    *(int *)field = (int)n;
    return 0;
}

/* A count scaled by an optional one-letter unit, as Synapse's sizes and durations. Returns -1
 * without a message: the caller names what was expected. */
struct unit {
    char suffix;
    long long mult;
};

static int
get_scaled(struct loader *ld, yaml_node_t *v, const char *path, const char *what,
           const struct unit *units, size_t nunits, int64_t *out)
{
    long long n, mult = 1;
    char digits[32];
    const char *s = NULL;
    size_t len;

    if (v->type != YAML_SCALAR_NODE || get_scalar(ld, v, path, what, &s) < 0)
        return -1;
    len = strlen(s);
    if (len == 0 || len >= sizeof(digits))
        return -1;
    for (size_t i = 0; i < nunits; i++)
        if (s[len - 1] == units[i].suffix) {
            mult = units[i].mult;
            len--;
            break;
        }
    memcpy(digits, s, len);
    digits[len] = '\0';
    if (!is_digit(digits[0]) || parse_integer(digits, &n) < 0 || n <= 0 || n > INT64_MAX / mult)
        return -1;
    *out = (int64_t)(n * mult);
    return 0;
}

/* ---- value loaders ------------------------------------------------------------------------ */

/* Each loader parses v (never a null value) into field, which points into the config. */
typedef int (*load_fn)(struct loader *ld, yaml_node_t *v, const char *path, void *field);

struct key_spec {
    const char *name;
    load_fn load; /* NULL: a known key that Hearth accepts and ignores */
    size_t offset;
};

static void
set_string(char **field, char *value)
{
    free(*field);
    *field = value;
}

/* Hands each item of the list v to each, with its path ("key[3]") and field; fails with
 * "must be <list_what>" unless v is a list. */
static int
load_list(struct loader *ld, yaml_node_t *v, const char *path, const char *list_what, load_fn each,
          void *field)
{
    char sub[KEY_PATH_MAX];
    size_t i = 0;

    if (v->type != YAML_SEQUENCE_NODE)
        return fail(ld, path, "must be %s", list_what);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++, i++) {
        yaml_node_t *item = node_at(ld, *it);

        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        if (!item)
            return fail(ld, sub, "is not a valid YAML node");
        if (each(ld, item, sub, field) < 0)
            return -1;
    }
    return 0;
}

/* A list of strings as (char **, size_t) at field, field + sizeof(char **): the config's
 * char **x; size_t n_x; pairs. */
struct string_list {
    char **items;
    size_t n;
};

static void
string_list_add(struct string_list *l, char *s)
{
    l->items = xrealloc(l->items, (l->n + 1) * sizeof(char *));
    l->items[l->n++] = s;
}

static int
load_path(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    const char *s = NULL;

    if (get_scalar(ld, v, path, "a path", &s) < 0)
        return -1;
    if (s[0] == '\0')
        return fail(ld, path, "must not be empty");
    set_string(field, path_resolve(ld->base_dir, s));
    return 0;
}

static int
load_bool(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    bool *out = field;
    const char *s = NULL;

    if (v->type == YAML_SCALAR_NODE && get_scalar(ld, v, path, "a boolean", &s) == 0) {
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
            if (strcasecmp(s, yes[i]) == 0) {
                *out = true;
                return 0;
            }
            if (strcasecmp(s, no[i]) == 0) {
                *out = false;
                return 0;
            }
        }
    }
    return fail(ld, path, "must be true or false");
}

/* Synapse's sizes: a byte count, or a number with a K, M or G suffix (powers of 1024). */
static int
load_size(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    static const struct unit units[] = {{'K', 1024},        {'k', 1024},      {'M', 1024 * 1024},
                                        {'m', 1024 * 1024}, {'G', 1LL << 30}, {'g', 1LL << 30}};

    if (get_scaled(ld, v, path, "a size", units, NKEYS(units), field) < 0)
        return fail(ld, path,
                    "must be a positive size in bytes, optionally with a K, M or G suffix");
    return 0;
}

/* Each entry's slot is allocated up front, so the count is bounded (16M slots: 768 MB). */
static int
load_event_cache(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    if (load_size(ld, v, path, field) < 0)
        return -1;
    if (*(int64_t *)field > 16 * 1024 * 1024)
        return fail(ld, path, "must be at most 16M events");
    return 0;
}

static int
load_rate(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    const char *s = NULL;

    if (v->type != YAML_SCALAR_NODE || get_scalar(ld, v, path, "a number", &s) < 0 ||
        parse_number(s, field) < 0 || *(double *)field < 0)
        return fail(ld, path, "must be a number >= 0");
    return 0;
}

static int
load_server_name(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    const char *s = NULL;

    if (get_scalar(ld, v, path, "a string", &s) < 0)
        return -1;
    if (!valid_server_name(s))
        return fail(ld, path,
                    "'%s' is not a valid server name (hostname, IPv4 or [IPv6] literal, "
                    "optional :port)",
                    s);
    set_string(field, xstrdup(s));
    return 0;
}

/* Synapse appends the trailing slash too; URLs built from this join paths onto it. */
static int
load_public_baseurl(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    const char *s = NULL;
    size_t len;

    if (get_scalar(ld, v, path, "a URL", &s) < 0)
        return -1;
    len = strlen(s);
    if (!((strncasecmp(s, "https://", 8) == 0 && len > 8) ||
          (strncasecmp(s, "http://", 7) == 0 && len > 7)) ||
        strpbrk(s, " \t\r\n"))
        return fail(ld, path, "must be an http:// or https:// URL");
    set_string(field, s[len - 1] == '/' ? xstrdup(s) : xasprintf("%s/", s));
    return 0;
}

static int
load_log_level(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    static const char *const canonical[] = {"debug", "info", "warning", "error"};
    char lower[16];
    enum log_level level;
    const char *s = NULL;
    size_t len;

    if (get_scalar(ld, v, path, "a string", &s) < 0)
        return -1;
    len = strlen(s);
    if (len >= sizeof(lower))
        goto bad;
    for (size_t i = 0; i <= len; i++)
        lower[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    if (log_parse_level(lower, &level) < 0)
        goto bad;
    set_string(field, xstrdup(canonical[level]));
    return 0;
bad:
    return fail(ld, path, "must be debug, info, warning or error");
}

static int
load_room_version(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    const char *s = NULL;

    if (v->type != YAML_SCALAR_NODE || get_scalar(ld, v, path, "a string", &s) < 0 ||
        !(s[0] >= '1' && s[0] <= '7' && s[1] == '\0'))
        return fail(ld, path, "must be one of \"1\" to \"7\"");
    set_string(field, xstrdup(s));
    return 0;
}

/* A non-empty string into the char * at field; empty is the error for "". */
static int
get_nonempty(struct loader *ld, yaml_node_t *v, const char *path, void *field, const char *empty)
{
    const char *s = NULL;

    if (get_scalar(ld, v, path, "a string", &s) < 0)
        return -1;
    if (s[0] == '\0')
        return fail(ld, path, "%s", empty);
    set_string(field, xstrdup(s));
    return 0;
}

static int
load_secret(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    /* An empty secret would let anyone register admins; refuse rather than guess. */
    return get_nonempty(ld, v, path, field, "must not be empty (remove the key to disable)");
}

static int
load_thread_pool(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    return get_int(ld, v, path, 0, MAX_THREAD_POOL, field);
}

static int
load_port(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    return get_int(ld, v, path, 1, 65535, field);
}

/* Any non-empty string. */
static int
load_string(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    return get_nonempty(ld, v, path, field, "must not be empty (remove the key to unset)");
}

/* Synapse's durations: milliseconds, or a number with s, m, h, d, w or y. */
static int
load_duration(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    static const struct unit units[] = {{'s', 1000},     {'m', 60000},     {'h', 3600000},
                                        {'d', 86400000}, {'w', 604800000}, {'y', 31536000000LL}};

    if (get_scaled(ld, v, path, "a duration", units, NKEYS(units), field) < 0)
        return fail(
            ld, path,
            "must be a positive duration: milliseconds, or a number with s, m, h, d, w or y");
    return 0;
}

/* A non-empty string added to the string_list at field. */
static int
add_string(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    const char *s = NULL;

    if (get_scalar(ld, v, path, "a string", &s) < 0)
        return -1;
    if (!s[0])
        return fail(ld, path, "must not be empty");
    string_list_add(field, xstrdup(s));
    return 0;
}

static int
load_string_list(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    return load_list(ld, v, path, "a list of strings", add_string, field);
}

static int
load_turn_uris(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    return load_list(ld, v, path, "a list of URIs", add_string, field);
}

/* A path, resolved like every path, added to the string_list at field. */
static int
add_path(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    char *one = NULL;

    if (load_path(ld, v, path, &one) < 0)
        return -1;
    string_list_add(field, one);
    return 0;
}

/* app_service_config_files (issue 13): a list of paths. */
static int
load_app_service_files(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    return load_list(ld, v, path, "a list of paths", add_path, field);
}

/* ---- mappings ----------------------------------------------------------------------------- */

/* Synapse settings that Hearth has no use for. A Synapse config carries several of them, so
 * they are noted at info level instead of the warning that catches typos. */
static const char *const synapse_unused[] = {
    "report_stats",
    "pid_file",
    "log_config",
    "macaroon_secret_key",
    "form_secret",
    "trusted_key_servers",
    "suppress_key_server_warning",
    "web_client_location",
    "serve_server_wellknown",
    "use_presence",
    "enable_metrics",
    "password_config",
    "federation_domain_whitelist",
    "caches",
    "event_cache_size",
    "admin_contact",
    "auto_join_rooms",
    "retention",
    "rc_joins",
    "rc_invites",
    "rc_federation",
    "rc_admin_redaction",
    "experimental_features",
    "modules",
};

static bool
is_synapse_unused(const char *name)
{
    for (size_t i = 0; i < sizeof(synapse_unused) / sizeof(synapse_unused[0]); i++)
        if (strcmp(name, synapse_unused[i]) == 0)
            return true;
    return false;
}

static const struct key_spec *
find_spec(const struct key_spec *keys, size_t nkeys, const char *name)
{
    for (size_t i = 0; i < nkeys; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* Returns the value of key in map, or NULL when absent or null. */
static yaml_node_t *
map_get(struct loader *ld, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node_at(ld, p->key), *v = node_at(ld, p->value);
        if (k && k->type == YAML_SCALAR_NODE && v &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return is_null(v) ? NULL : v;
    }
    return NULL;
}

/* Checks the keys of map and hands each value to its loader with base + offset. Duplicate keys
 * are errors (PyYAML would silently keep the last); unknown keys are warnings. */
static int
load_mapping(struct loader *ld, yaml_node_t *map, const char *path, const struct key_spec *keys,
             size_t nkeys, void *base)
{
    char sub[KEY_PATH_MAX];

    if (map->type != YAML_MAPPING_NODE)
        return fail(ld, path[0] ? path : "config", "must be a mapping");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node_at(ld, p->key), *v = node_at(ld, p->value);
        const struct key_spec *spec;
        const char *name;

        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return fail(ld, path[0] ? path : "config", "keys must be strings");
        name = (const char *)k->data.scalar.value;
        key_path(sub, sizeof(sub), path, name);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *qk = node_at(ld, q->key);
            if (qk && qk->type == YAML_SCALAR_NODE &&
                strcmp((const char *)qk->data.scalar.value, name) == 0)
                return fail(ld, sub, "duplicate key");
        }
        spec = find_spec(keys, nkeys, name);
        if (!spec) {
            if (!path[0] && is_synapse_unused(name))
                log_info("config: Synapse setting '%s' is not used by Hearth; ignored", sub);
            else
                log_warn("config: unknown key '%s' ignored", sub);
            continue;
        }
        if (!spec->load || is_null(v))
            continue;
        if (spec->load(ld, v, sub, (char *)base + spec->offset) < 0)
            return -1;
    }
    return 0;
}

static const struct key_spec ratelimit_keys[] = {
    {"per_second", load_rate, offsetof(struct config_ratelimit, per_second)},
    {"burst_count", load_rate, offsetof(struct config_ratelimit, burst_count)},
};

static int
load_ratelimit(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    return load_mapping(ld, v, path, ratelimit_keys, NKEYS(ratelimit_keys), field);
}

static const struct key_spec rc_login_keys[] = {
    {"address", load_ratelimit, offsetof(struct config, rc_login_address)},
    {"account", load_ratelimit, offsetof(struct config, rc_login_account)},
    {"failed_attempts", load_ratelimit, offsetof(struct config, rc_login_failed_attempts)},
};

static int
load_rc_login(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    (void)field;
    return load_mapping(ld, v, path, rc_login_keys, NKEYS(rc_login_keys), ld->cfg);
}

static const struct key_spec presence_keys[] = {
    {"enabled", load_bool, offsetof(struct config, presence_enabled)},
};

static int
load_presence(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    (void)field;
    return load_mapping(ld, v, path, presence_keys, NKEYS(presence_keys), ld->cfg);
}

static const struct key_spec server_notices_keys[] = {
    {"system_mxid_localpart", load_string, offsetof(struct config, server_notices_localpart)},
    {"system_mxid_display_name", load_string, offsetof(struct config, server_notices_display_name)},
    {"system_mxid_avatar_url", load_string, offsetof(struct config, server_notices_avatar_url)},
    {"room_name", load_string, offsetof(struct config, server_notices_room_name)},
};

static int
load_server_notices(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    char sub[KEY_PATH_MAX];
    const char *lp;

    (void)field;
    if (load_mapping(ld, v, path, server_notices_keys, NKEYS(server_notices_keys), ld->cfg) < 0)
        return -1;
    key_path(sub, sizeof(sub), path, "system_mxid_localpart");
    /* As Synapse: the section turns the feature on, so the system user must be named. */
    lp = ld->cfg->server_notices_localpart;
    if (!lp)
        return fail(ld, sub, "required");
    /* The localpart grammar (appendices/identifier_grammar.rst), checked here because the
     * system user is created on first use, long after startup. */
    if (strspn(lp, "abcdefghijklmnopqrstuvwxyz0123456789._=-/") != strlen(lp))
        return fail(ld, sub, "'%s' is not a valid localpart", lp);
    if (!ld->cfg->server_notices_room_name)
        ld->cfg->server_notices_room_name = xstrdup("Server Notices");
    return 0;
}

static const struct key_spec user_directory_keys[] = {
    {"search_all_users", load_bool, offsetof(struct config, user_directory_search_all_users)},
};

static int
load_user_directory(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    (void)field;
    return load_mapping(ld, v, path, user_directory_keys, NKEYS(user_directory_keys), ld->cfg);
}

/* ---- content repository (issue 7) ---------------------------------------------------------- */

static int
load_thumb_dim(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    return get_int(ld, v, path, 1, 4096, field);
}

static int
load_thumb_method(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    const char *s = NULL;

    if (get_scalar(ld, v, path, "crop or scale", &s) < 0)
        return -1;
    if (strcmp(s, "crop") == 0)
        *(enum config_thumb_method *)field = CONFIG_THUMB_CROP;
    else if (strcmp(s, "scale") == 0)
        *(enum config_thumb_method *)field = CONFIG_THUMB_SCALE;
    else
        return fail(ld, path, "must be crop or scale");
    return 0;
}

static const struct key_spec thumbnail_size_keys[] = {
    {"width", load_thumb_dim, offsetof(struct config_thumbnail_size, width)},
    {"height", load_thumb_dim, offsetof(struct config_thumbnail_size, height)},
    {"method", load_thumb_method, offsetof(struct config_thumbnail_size, method)},
};

static int
add_thumbnail_size(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    struct config *cfg = field;
    struct config_thumbnail_size ts = {0, 0, CONFIG_THUMB_SCALE};

    if (load_mapping(ld, v, path, thumbnail_size_keys, NKEYS(thumbnail_size_keys), &ts) < 0)
        return -1;
    if (ts.width == 0 || ts.height == 0)
        return fail(ld, path, "width and height are required");
    cfg->thumbnail_sizes =
        xrealloc(cfg->thumbnail_sizes, (cfg->n_thumbnail_sizes + 1) * sizeof(ts));
    cfg->thumbnail_sizes[cfg->n_thumbnail_sizes++] = ts;
    return 0;
}

/* thumbnail_sizes: [{width, height, method}], as Synapse. With an empty list every request
 * is answered with a thumbnail made to its size. */
static int
load_thumbnail_sizes(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    struct config *cfg = ld->cfg;

    (void)field;
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(ld, path, "must be a list of {width, height, method}");
    free(cfg->thumbnail_sizes);
    cfg->thumbnail_sizes = xcalloc(1, sizeof(*cfg->thumbnail_sizes)); /* non-NULL: was set */
    cfg->n_thumbnail_sizes = 0;
    return load_list(ld, v, path, "a list of {width, height, method}", add_thumbnail_size, cfg);
}

/* "10.0.0.0/8", "::1/128" or a bare address (a single host). Host bits must be zero. */
static int
parse_ip_range(const char *s, struct config_ip_range *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    long long prefix = -1;
    int bits;

    if (alen == 0 || alen >= sizeof(buf))
        return -1;
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, buf, out->addr) == 1)
        out->family = AF_INET6;
    else
        return -1;
    bits = out->family == AF_INET ? 32 : 128;
    if (slash && (parse_integer(slash + 1, &prefix) < 0 || !is_digit(slash[1]) || prefix < 0 ||
                  prefix > bits))
        return -1;
    out->prefix = slash ? (int)prefix : bits;
    for (int b = out->prefix; b < bits; b++)
        if (out->addr[b / 8] & (0x80 >> (b % 8)))
            return -1;
    return 0;
}

/* A list of IP ranges as (struct config_ip_range *, size_t) at field, as string_list. */
struct ip_range_list {
    struct config_ip_range *items;
    size_t n;
};

static void
add_ip_range(struct ip_range_list *l, const struct config_ip_range *r)
{
    l->items = xrealloc(l->items, (l->n + 1) * sizeof(*l->items));
    l->items[l->n++] = *r;
}

static int
load_ip_range(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    struct config_ip_range r;
    const char *s = NULL;

    if (get_scalar(ld, v, path, "an IP range", &s) < 0)
        return -1;
    if (parse_ip_range(s, &r) < 0)
        return fail(ld, path, "'%s' is not an IP address or range (such as 10.0.0.0/8)", s);
    add_ip_range(field, &r);
    return 0;
}

static int
load_ip_ranges(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    struct ip_range_list *l = field;

    if (v->type != YAML_SEQUENCE_NODE)
        return fail(ld, path, "must be a list of IP ranges");
    free(l->items);
    l->items = xcalloc(1, sizeof(*l->items)); /* non-NULL: was set (an empty list is a choice) */
    l->n = 0;
    return load_list(ld, v, path, "a list of IP ranges", load_ip_range, l);
}

/* Synapse's defaults: thumbnail sizes from content_repo.rst; the preview blacklist of its
 * sample config (private, loopback, link-local, shared, documentation and multicast ranges),
 * plus the unroutable 0.0.0.0 and :: that Synapse always adds. */
static const struct config_thumbnail_size default_thumbnail_sizes[] = {
    {32, 32, CONFIG_THUMB_CROP},    {96, 96, CONFIG_THUMB_CROP},    {320, 240, CONFIG_THUMB_SCALE},
    {640, 480, CONFIG_THUMB_SCALE}, {800, 600, CONFIG_THUMB_SCALE},
};
static const char *const default_preview_blacklist[] = {
    "127.0.0.0/8",     "10.0.0.0/8",     "172.16.0.0/12",  "192.168.0.0/16", "100.64.0.0/10",
    "192.0.0.0/24",    "169.254.0.0/16", "192.88.99.0/24", "198.18.0.0/15",  "192.0.2.0/24",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4",    "::1/128",        "fe80::/10",
    "fc00::/7",        "2001:db8::/32",  "ff00::/8",       "fec0::/10",
};

/* A blacklist left unset gets the default ranges; 0.0.0.0 and :: are always added. */
static void
finish_blacklist(struct ip_range_list *l)
{
    struct config_ip_range r;

    if (!l->items)
        for (size_t i = 0; i < NKEYS(default_preview_blacklist); i++)
            if (parse_ip_range(default_preview_blacklist[i], &r) == 0)
                add_ip_range(l, &r);
    if (parse_ip_range("0.0.0.0", &r) == 0)
        add_ip_range(l, &r);
    if (parse_ip_range("::", &r) == 0)
        add_ip_range(l, &r);
}

static void
finish_media(struct config *cfg)
{
    if (!cfg->thumbnail_sizes) {
        cfg->n_thumbnail_sizes = NKEYS(default_thumbnail_sizes);
        cfg->thumbnail_sizes = xmalloc(sizeof(default_thumbnail_sizes));
        memcpy(cfg->thumbnail_sizes, default_thumbnail_sizes, sizeof(default_thumbnail_sizes));
    }
    finish_blacklist((struct ip_range_list *)&cfg->url_preview_ip_range_blacklist);
}
/* ---- (end of content repository) ---- */

/* ---- 3PID, identity servers, SSO (issue 10) ------------------------------------------------ */

static const struct key_spec email_keys[] = {
    {"smtp_host", load_string, offsetof(struct config, email_smtp_host)},
    {"smtp_port", load_port, offsetof(struct config, email_smtp_port)},
    {"smtp_user", load_string, offsetof(struct config, email_smtp_user)},
    {"smtp_pass", load_secret, offsetof(struct config, email_smtp_pass)},
    {"require_transport_security", load_bool,
     offsetof(struct config, email_require_transport_security)},
    {"enable_tls", load_bool, offsetof(struct config, email_enable_tls)},
    {"force_tls", load_bool, offsetof(struct config, email_force_tls)},
    {"notif_from", load_string, offsetof(struct config, email_notif_from)},
    {"app_name", load_string, offsetof(struct config, email_app_name)},
    {"validation_token_lifetime", load_duration,
     offsetof(struct config, email_validation_token_lifetime_ms)},
    /* Synapse settings for notification mails and web client links; Hearth's validation mails
     * link to this server's own pages. */
    {"client_base_url", NULL, 0},
    {"riot_base_url", NULL, 0},
    {"enable_notifs", NULL, 0},
    {"notif_for_new_users", NULL, 0},
    {"template_dir", NULL, 0},
    {"subjects", NULL, 0},
    {"invite_client_location", NULL, 0},
    {"notif_template_html", NULL, 0},
    {"notif_template_text", NULL, 0},
};

static int
load_email(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    char sub[KEY_PATH_MAX];
    char *from, *app;
    const char *mark;

    (void)field;
    if (load_mapping(ld, v, path, email_keys, NKEYS(email_keys), ld->cfg) < 0)
        return -1;
    if (!ld->cfg->email_notif_from) {
        key_path(sub, sizeof(sub), path, "notif_from");
        return fail(ld, sub, "required to send validation mail");
    }
    if (ld->cfg->email_require_transport_security && ld->cfg->email_force_tls) {
        key_path(sub, sizeof(sub), path, "force_tls");
        return fail(ld, sub, "cannot be combined with require_transport_security (STARTTLS)");
    }
    /* Synapse's notif_from may say "%(app)s", replaced by app_name. */
    app = ld->cfg->email_app_name ? ld->cfg->email_app_name : "Matrix";
    from = ld->cfg->email_notif_from;
    if ((mark = strstr(from, "%(app)s")) != NULL) {
        char *out = xasprintf("%.*s%s%s", (int)(mark - from), from, app, mark + 7);
        set_string(&ld->cfg->email_notif_from, out);
    }
    ld->cfg->email_enabled = true;
    return 0;
}

/* registrations_require_3pid: ["email"]. Phone numbers need an SMS provider, which Hearth
 * does not have. */
static int
require_3pid(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    const char *s = NULL;

    (void)field;
    if (get_scalar(ld, v, path, "a string", &s) < 0)
        return -1;
    if (strcmp(s, "email") != 0)
        return fail(ld, path, "only \"email\" is supported (no SMS provider for msisdn)");
    ld->cfg->registration_requires_email = true;
    return 0;
}

static int
load_registrations_require_3pid(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    return load_list(ld, v, path, "a list of media (\"email\")", require_3pid, field);
}

static const struct key_spec pattern_keys[] = {
    {"medium", load_string, offsetof(struct config_3pid_pattern, medium)},
    {"pattern", load_string, offsetof(struct config_3pid_pattern, pattern)},
};

/* allowed_local_3pids: [{medium, pattern}]; a pattern is a regular expression the whole
 * address must match (Synapse: Python's re.match, anchored here at both ends). */
static int
add_3pid_pattern(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    struct config *cfg = ld->cfg;
    struct config_3pid_pattern *p;
    regex_t re;

    (void)field;
    cfg->allowed_local_3pids =
        xrealloc(cfg->allowed_local_3pids, (cfg->n_allowed_local_3pids + 1) * sizeof(*p));
    p = &cfg->allowed_local_3pids[cfg->n_allowed_local_3pids++];
    memset(p, 0, sizeof(*p));
    if (load_mapping(ld, v, path, pattern_keys, NKEYS(pattern_keys), p) < 0)
        return -1;
    if (!p->medium || !p->pattern)
        return fail(ld, path, "needs medium and pattern");
    if (strcmp(p->medium, "email") != 0 && strcmp(p->medium, "msisdn") != 0)
        return fail(ld, path, "medium must be email or msisdn");
    if (regcomp(&re, p->pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return fail(ld, path, "pattern is not a valid regular expression");
    regfree(&re);
    return 0;
}

static int
load_allowed_local_3pids(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    return load_list(ld, v, path, "a list of {medium, pattern}", add_3pid_pattern, field);
}

/* An http(s) URL, kept as written (an OIDC issuer is compared byte for byte). */
static int
load_url(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    const char *s = NULL;

    if (get_scalar(ld, v, path, "a URL", &s) < 0)
        return -1;
    if ((strncasecmp(s, "https://", 8) != 0 && strncasecmp(s, "http://", 7) != 0) ||
        strpbrk(s, " \t\r\n"))
        return fail(ld, path, "must be an http:// or https:// URL");
    set_string(field, xstrdup(s));
    return 0;
}

/* One of the NULL-terminated allowed strings; bad is the error, NULL for the generic one. */
static int
load_one_of(struct loader *ld, yaml_node_t *v, const char *path, void *field,
            const char *const *allowed, const char *bad)
{
    const char *s = NULL;

    if (get_scalar(ld, v, path, "a string", &s) < 0)
        return -1;
    for (const char *const *a = allowed; *a; a++) {
        if (strcmp(s, *a) == 0) {
            set_string(field, xstrdup(s));
            return 0;
        }
    }
    if (bad)
        return fail(ld, path, "%s", bad);
    return fail(ld, path, "'%s' is not supported here", s);
}

static int
load_scheme(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    static const char *const ok[] = {"https", "http", NULL};
    return load_one_of(ld, v, path, field, ok, "must be https or http");
}

static const struct key_spec sso_keys[] = {
    {"client_whitelist", load_string_list, offsetof(struct config, sso_client_whitelist)},
    {"update_profile_information", NULL, 0},
    {"template_dir", NULL, 0},
};

static int
load_sso(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    (void)field;
    return load_mapping(ld, v, path, sso_keys, NKEYS(sso_keys), ld->cfg);
}

static int
load_auth_method(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    static const char *const ok[] = {"client_secret_basic", "client_secret_post", "none", NULL};
    return load_one_of(ld, v, path, field, ok, NULL);
}

static int
load_profile_method(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    static const char *const ok[] = {"auto", "userinfo_endpoint", NULL};
    return load_one_of(ld, v, path, field, ok, NULL);
}

static int
load_pkce_method(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    static const char *const ok[] = {"auto", "always", "never", NULL};
    return load_one_of(ld, v, path, field, ok, NULL);
}

static const struct key_spec mapping_config_keys[] = {
    {"subject_claim", load_string, offsetof(struct config_oidc_provider, subject_claim)},
    {"localpart_template", load_string, offsetof(struct config_oidc_provider, localpart_template)},
    {"display_name_template", load_string,
     offsetof(struct config_oidc_provider, display_name_template)},
    {"email_template", load_string, offsetof(struct config_oidc_provider, email_template)},
    {"confirm_localpart", NULL, 0},
    {"extra_attributes", NULL, 0},
};

static int
load_mapping_config(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    return load_mapping(ld, v, path, mapping_config_keys, NKEYS(mapping_config_keys), field);
}

static const struct key_spec mapping_provider_keys[] = {
    {"module", NULL, 0}, /* Hearth has one mapper: Synapse's default (JinjaOidcMappingProvider) */
    {"config", load_mapping_config, 0},
};

static int
load_mapping_provider(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    return load_mapping(ld, v, path, mapping_provider_keys, NKEYS(mapping_provider_keys), field);
}

#define OIDC(f) offsetof(struct config_oidc_provider, f)
static const struct key_spec oidc_keys[] = {
    {"idp_id", load_string, OIDC(idp_id)},
    {"idp_name", load_string, OIDC(idp_name)},
    {"issuer", load_url, OIDC(issuer)},
    {"client_id", load_string, OIDC(client_id)},
    {"client_secret", load_secret, OIDC(client_secret)},
    {"client_auth_method", load_auth_method, OIDC(client_auth_method)},
    {"scopes", load_string_list, OIDC(scopes)},
    {"discover", load_bool, OIDC(discover)},
    {"authorization_endpoint", load_url, OIDC(authorization_endpoint)},
    {"token_endpoint", load_url, OIDC(token_endpoint)},
    {"userinfo_endpoint", load_url, OIDC(userinfo_endpoint)},
    {"jwks_uri", load_url, OIDC(jwks_uri)},
    {"skip_verification", load_bool, OIDC(skip_verification)},
    {"user_profile_method", load_profile_method, OIDC(user_profile_method)},
    {"allow_existing_users", load_bool, OIDC(allow_existing_users)},
    {"pkce_method", load_pkce_method, OIDC(pkce_method)},
    {"user_mapping_provider", load_mapping_provider, 0},
    {"enabled", NULL, 0},
    {"idp_icon", NULL, 0},
    {"idp_brand", NULL, 0},
    {"attribute_requirements", NULL, 0},
    {"backchannel_logout_enabled", NULL, 0},
};
#undef OIDC

/* One provider from a mapping; legacy says it came from oidc_config (id "oidc"). */
static int
load_oidc_provider(struct loader *ld, yaml_node_t *v, const char *path, bool legacy)
{
    struct config *cfg = ld->cfg;
    struct config_oidc_provider *p;
    char sub[KEY_PATH_MAX];

    if (v->type != YAML_MAPPING_NODE)
        return fail(ld, path, "must be a mapping");
    cfg->oidc_providers = xrealloc(cfg->oidc_providers, (cfg->n_oidc_providers + 1) * sizeof(*p));
    p = &cfg->oidc_providers[cfg->n_oidc_providers++];
    memset(p, 0, sizeof(*p));
    p->discover = true;
    if (load_mapping(ld, v, path, oidc_keys, NKEYS(oidc_keys), p) < 0)
        return -1;
    if (!p->issuer || !p->client_id) {
        key_path(sub, sizeof(sub), path, p->issuer ? "client_id" : "issuer");
        return fail(ld, sub, "required");
    }
    if (!p->client_auth_method)
        p->client_auth_method = xstrdup("client_secret_basic");
    if (strcmp(p->client_auth_method, "none") != 0 && !p->client_secret) {
        key_path(sub, sizeof(sub), path, "client_secret");
        return fail(ld, sub, "required unless client_auth_method is none");
    }
    if (!p->discover && (!p->authorization_endpoint || !p->token_endpoint)) {
        key_path(sub, sizeof(sub), path, "discover");
        return fail(ld, sub, "false needs authorization_endpoint and token_endpoint");
    }
    /* Synapse prefixes configured IDs so they cannot clash with other SSO kinds. */
    if (legacy && !p->idp_id) {
        p->idp_id = xstrdup("oidc");
    } else {
        char *id = xasprintf("oidc-%s", p->idp_id ? p->idp_id : "oidc");
        set_string(&p->idp_id, id);
    }
    for (const char *c = p->idp_id; *c; c++)
        if (!is_alnum(*c) && !strchr("-._~", *c)) {
            key_path(sub, sizeof(sub), path, "idp_id");
            return fail(ld, sub, "may only contain A-Z, a-z, 0-9, -, ., _ and ~");
        }
    for (size_t i = 0; i + 1 < cfg->n_oidc_providers; i++)
        if (strcmp(cfg->oidc_providers[i].idp_id, p->idp_id) == 0) {
            key_path(sub, sizeof(sub), path, "idp_id");
            return fail(ld, sub, "duplicate provider ID %s", p->idp_id);
        }
    if (!p->idp_name)
        p->idp_name = xstrdup("OIDC");
    if (p->n_scopes == 0) {
        p->scopes = xmalloc(sizeof(char *));
        p->scopes[p->n_scopes++] = xstrdup("openid");
    }
    if (!p->user_profile_method)
        p->user_profile_method = xstrdup("auto");
    if (!p->pkce_method)
        p->pkce_method = xstrdup("auto");
    if (!p->subject_claim)
        p->subject_claim = xstrdup("sub");
    if (!p->localpart_template)
        p->localpart_template = xstrdup("{{ user.preferred_username }}");
    return 0;
}

static int
add_oidc_provider(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    (void)field;
    return load_oidc_provider(ld, v, path, false);
}

static int
load_oidc_providers(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    return load_list(ld, v, path, "a list of providers", add_oidc_provider, field);
}

/* Synapse's older single-provider form, used when enabled is true. */
static int
load_oidc_config(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    yaml_node_t *en = v->type == YAML_MAPPING_NODE ? map_get(ld, v, "enabled") : NULL;
    bool enabled = false;
    char sub[KEY_PATH_MAX];

    (void)field;
    if (en) {
        key_path(sub, sizeof(sub), path, "enabled");
        if (load_bool(ld, en, sub, &enabled) < 0)
            return -1;
    }
    return enabled ? load_oidc_provider(ld, v, path, true) : 0;
}

static void
free_oidc_provider(struct config_oidc_provider *p)
{
    free(p->idp_id);
    free(p->idp_name);
    free(p->issuer);
    free(p->client_id);
    if (p->client_secret)
        sodium_memzero(p->client_secret, strlen(p->client_secret));
    free(p->client_secret);
    free(p->client_auth_method);
    for (size_t i = 0; i < p->n_scopes; i++)
        free(p->scopes[i]);
    free(p->scopes);
    free(p->authorization_endpoint);
    free(p->token_endpoint);
    free(p->userinfo_endpoint);
    free(p->jwks_uri);
    free(p->user_profile_method);
    free(p->pkce_method);
    free(p->subject_claim);
    free(p->localpart_template);
    free(p->display_name_template);
    free(p->email_template);
}

/* ---- (end of issue 10) ---- */

/* ---- listeners ---------------------------------------------------------------------------- */

/* One address added to the listener at field; Synapse still honours the old single
 * bind_address by adding it to bind_addresses. */
static int
load_bind_address(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    struct config_listener *l = field;
    unsigned char addr[16];
    const char *s = NULL;

    if (get_scalar(ld, v, path, "an IP address", &s) < 0)
        return -1;
    if (inet_pton(AF_INET, s, addr) != 1 && inet_pton(AF_INET6, s, addr) != 1)
        return fail(ld, path, "'%s' is not an IPv4 or IPv6 address", s);
    if (l->n_bind >= CONFIG_MAX_BIND)
        return fail(ld, path, "at most %d bind addresses", CONFIG_MAX_BIND);
    l->bind_addresses[l->n_bind++] = xstrdup(s);
    return 0;
}

static int
load_bind_addresses(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    if (v->type == YAML_SEQUENCE_NODE && v->data.sequence.items.start == v->data.sequence.items.top)
        return fail(ld, path, "must not be empty");
    return load_list(ld, v, path, "a list of IP addresses", load_bind_address, field);
}

static int
load_tls(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    bool tls = false;

    (void)field;
    if (load_bool(ld, v, path, &tls) < 0)
        return -1;
    if (tls)
        log_warn("config: %s: Hearth does not terminate TLS; this listener serves plain HTTP",
                 path);
    return 0;
}

/* Slow clients (issue 12, soak): listeners[].max_connections_per_ip, 0 = no limit. */
static int
load_conn_limit(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    long long n;

    if (get_int(ld, v, path, 0, 1000000, &n) < 0)
        return -1;
    *(int *)field = (int)n;
    return 0;
}

static const struct key_spec listener_keys[] = {
    {"port", load_port, offsetof(struct config_listener, port)},
    {"bind_addresses", load_bind_addresses, 0},
    {"bind_address", load_bind_address, 0},
    {"tls", load_tls, 0},
    {"type", NULL, 0},
    {"resources", NULL, 0},
    {"x_forwarded", load_bool, offsetof(struct config_listener, x_forwarded)},
    {"connection_timeout", load_duration, offsetof(struct config_listener, connection_timeout_ms)},
    {"max_connections_per_ip", load_conn_limit,
     offsetof(struct config_listener, max_connections_per_ip)},
};

/* The first listener of type http serves the API (an entry without a type is http); the first
 * of type metrics serves Prometheus text (issue 14); other types (manhole, replication) are
 * Synapse's and ignored. */
struct listeners {
    struct config *cfg;
    bool have_http, have_metrics;
};

static int
add_listener(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    struct listeners *ls = field;
    struct config_listener *l;
    char tpath[KEY_PATH_MAX];
    yaml_node_t *type;
    const char *t = "http";

    if (v->type != YAML_MAPPING_NODE)
        return fail(ld, path, "must be a mapping");
    type = map_get(ld, v, "type");
    if (type) {
        key_path(tpath, sizeof(tpath), path, "type");
        if (get_scalar(ld, type, tpath, "a string", &t) < 0)
            return -1;
    }
    if (strcmp(t, "http") == 0 && !ls->have_http) {
        l = &ls->cfg->listener;
        ls->have_http = true;
    } else if (strcmp(t, "metrics") == 0 && !ls->have_metrics) {
        l = &ls->cfg->metrics_listener;
        ls->have_metrics = true;
    } else {
        return 0; /* manhole, replication, a second http: not ours */
    }
    if (load_mapping(ld, v, path, listener_keys, NKEYS(listener_keys), l) < 0)
        return -1;
    if (l->port == 0) {
        key_path(tpath, sizeof(tpath), path, "port");
        return fail(ld, tpath, "required (an integer 1..65535)");
    }
    return 0;
}

static int
load_listeners(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    struct config *cfg = field;
    struct listeners ls = {cfg, false, false};

    if (load_list(ld, v, path, "a list", add_listener, &ls) < 0)
        return -1;
    if (!ls.have_http)
        return fail(ld, path, "no listener of type http");
    if (ls.have_metrics && cfg->metrics_listener.n_bind == 0)
        cfg->metrics_listener.bind_addresses[cfg->metrics_listener.n_bind++] =
            xstrdup(DEFAULT_BIND);
    if (ls.have_metrics && cfg->metrics_listener.port == cfg->listener.port)
        return fail(ld, path, "the metrics listener needs a port of its own");
    return 0;
}

/* ---- database ----------------------------------------------------------------------------- */

static int
load_db_name(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    static const char *const ok[] = {"sqlite3", "psycopg2", NULL};
    return load_one_of(ld, v, path, field, ok, "must be sqlite3 or psycopg2");
}

/* SQLite's special names are not files. */
static int
load_db_path(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    const char *s = NULL;

    if (get_scalar(ld, v, path, "a path", &s) < 0)
        return -1;
    if (strcmp(s, ":memory:") == 0 || strncmp(s, "file:", 5) == 0) {
        set_string(field, xstrdup(s));
        return 0;
    }
    return load_path(ld, v, path, field);
}

/* Validates a libpq parameter; the conninfo string is built afterwards, in file order. */
static int
load_pg_value(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    const char *s = NULL;

    (void)field;
    return get_scalar(ld, v, path, "a string", &s);
}

static int
load_pg_port(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    int port;

    (void)field;
    return load_port(ld, v, path, &port);
}

/* cp_min / cp_max: Synapse's pool bounds (Twisted adbapi), here the reader pool's. */
static int
load_pool_size(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    return get_int(ld, v, path, 1, 1000, field);
}

static const struct key_spec database_keys[] = {
    {"name", load_db_name, offsetof(struct config, database_name)},
    {"args", NULL, 0}, /* read once the name is known */
    {"txn_limit", NULL, 0},
    {"allow_unsafe_locale", NULL, 0},
};

static const struct key_spec sqlite_keys[] = {
    {"database", load_db_path, offsetof(struct config, database_path)},
    {"cp_min", NULL, 0},
    {"cp_max", NULL, 0},
};

/* Synapse hands these to psycopg2, which passes them to libpq; cp_* configure Twisted's pool. */
static const struct key_spec psycopg2_keys[] = {
    {"user", load_pg_value, 0},
    {"password", load_pg_value, 0},
    {"database", load_pg_value, 0},
    {"dbname", load_pg_value, 0},
    {"host", load_pg_value, 0},
    {"hostaddr", load_pg_value, 0},
    {"port", load_pg_port, 0},
    {"sslmode", load_pg_value, 0},
    {"sslcert", load_pg_value, 0},
    {"sslkey", load_pg_value, 0},
    {"sslrootcert", load_pg_value, 0},
    {"sslcrl", load_pg_value, 0},
    {"application_name", load_pg_value, 0},
    {"connect_timeout", load_pg_value, 0},
    {"keepalives", load_pg_value, 0},
    {"keepalives_idle", load_pg_value, 0},
    {"keepalives_interval", load_pg_value, 0},
    {"keepalives_count", load_pg_value, 0},
    {"options", load_pg_value, 0},
    {"passfile", load_pg_value, 0},
    {"target_session_attrs", load_pg_value, 0},
    {"cp_min", load_pool_size, offsetof(struct config, database_cp_min)},
    {"cp_max", load_pool_size, offsetof(struct config, database_cp_max)},
    {"cp_reconnect", NULL, 0},
};

/* libpq conninfo: values with spaces, quotes or backslashes (or empty ones) are single-quoted,
 * with ' and \ escaped by a backslash. */
static void
conninfo_append(struct sbuf *b, const char *key, const char *value)
{
    bool quote = value[0] == '\0' || strpbrk(value, " \t\n\r\f\v'\\") != NULL;

    if (b->len)
        sbuf_putc(b, ' ');
    sbuf_printf(b, "%s=", key);
    if (!quote) {
        sbuf_puts(b, value);
        return;
    }
    sbuf_putc(b, '\'');
    for (const char *p = value; *p; p++) {
        if (*p == '\'' || *p == '\\')
            sbuf_putc(b, '\\');
        sbuf_putc(b, *p);
    }
    sbuf_putc(b, '\'');
}

static int
load_psycopg2_args(struct loader *ld, yaml_node_t *args, const char *path)
{
    struct sbuf b = {0};

    if (load_mapping(ld, args, path, psycopg2_keys, NKEYS(psycopg2_keys), ld->cfg) < 0)
        return -1;
    if (map_get(ld, args, "database") && map_get(ld, args, "dbname"))
        return fail(ld, path, "give only one of database and dbname");
    for (yaml_node_pair_t *p = args->data.mapping.pairs.start; p < args->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node_at(ld, p->key), *v = node_at(ld, p->value);
        const char *name = (const char *)k->data.scalar.value;
        const struct key_spec *spec = find_spec(psycopg2_keys, NKEYS(psycopg2_keys), name);

        if (!spec || !spec->load || spec->load == load_pool_size || is_null(v))
            continue;
        if (strcmp(name, "database") == 0)
            name = "dbname";
        conninfo_append(&b, name, (const char *)v->data.scalar.value);
    }
    set_string(&ld->cfg->database_conninfo, sbuf_take(&b));
    return 0;
}

static int
load_database(struct loader *ld, yaml_node_t *v, const char *path, void *field)
{
    struct config *cfg = field;
    char sub[KEY_PATH_MAX];
    yaml_node_t *args;

    if (load_mapping(ld, v, path, database_keys, NKEYS(database_keys), cfg) < 0)
        return -1;
    if (!cfg->database_name)
        cfg->database_name = xstrdup("sqlite3");
    args = map_get(ld, v, "args");
    if (!args)
        return 0;
    key_path(sub, sizeof(sub), path, "args");
    if (strcmp(cfg->database_name, "psycopg2") == 0) {
        if (load_psycopg2_args(ld, args, sub) < 0)
            return -1;
        if (cfg->database_cp_min > cfg->database_cp_max)
            cfg->database_cp_min = cfg->database_cp_max;
        return 0;
    }
    return load_mapping(ld, args, sub, sqlite_keys, NKEYS(sqlite_keys), cfg);
}

/* ---- top level ---------------------------------------------------------------------------- */

static const struct key_spec top_keys[] = {
    {"server_name", load_server_name, offsetof(struct config, server_name)},
    {"public_baseurl", load_public_baseurl, offsetof(struct config, public_baseurl)},
    {"listeners", load_listeners, 0},
    {"database", load_database, 0},
    {"media_store_path", load_path, offsetof(struct config, media_store_path)},
    {"signing_key_path", load_path, offsetof(struct config, signing_key_path)},
    {"log_level", load_log_level, offsetof(struct config, log_level)},
    {"enable_registration", load_bool, offsetof(struct config, enable_registration)},
    {"enable_registration_without_verification", load_bool,
     offsetof(struct config, enable_registration_without_verification)},
    {"allow_guest_access", load_bool, offsetof(struct config, allow_guest_access)},
    {"registration_shared_secret", load_secret,
     offsetof(struct config, registration_shared_secret)},
    {"default_room_version", load_room_version, offsetof(struct config, default_room_version)},
    {"max_upload_size", load_size, offsetof(struct config, max_upload_size)},
    {"max_request_size", load_size, offsetof(struct config, max_request_size)},
    {"event_cache_size", load_event_cache, offsetof(struct config, event_cache_size)},
    {"thread_pool_size", load_thread_pool, offsetof(struct config, thread_pool_size)},
    {"rc_message", load_ratelimit, offsetof(struct config, rc_message)},
    {"rc_registration", load_ratelimit, offsetof(struct config, rc_registration)},
    {"rc_login", load_rc_login, 0},
    {"turn_uris", load_turn_uris, offsetof(struct config, turn_uris)},
    {"turn_shared_secret", load_secret, offsetof(struct config, turn_shared_secret)},
    {"turn_username", load_string, offsetof(struct config, turn_username)},
    {"turn_password", load_secret, offsetof(struct config, turn_password)},
    {"turn_user_lifetime", load_duration, offsetof(struct config, turn_user_lifetime_ms)},
    {"turn_allow_guests", load_bool, offsetof(struct config, turn_allow_guests)},
    {"user_directory", load_user_directory, 0},
    {"presence", load_presence, 0},
    {"server_notices", load_server_notices, 0},
    /* content repository (issue 7) */
    {"max_image_pixels", load_size, offsetof(struct config, max_image_pixels)},
    {"thumbnail_sizes", load_thumbnail_sizes, 0},
    {"dynamic_thumbnails", load_bool, offsetof(struct config, dynamic_thumbnails)},
    {"url_preview_enabled", load_bool, offsetof(struct config, url_preview_enabled)},
    {"url_preview_ip_range_blacklist", load_ip_ranges,
     offsetof(struct config, url_preview_ip_range_blacklist)},
    {"url_preview_ip_range_whitelist", load_ip_ranges,
     offsetof(struct config, url_preview_ip_range_whitelist)},
    {"max_spider_size", load_size, offsetof(struct config, max_spider_size)},
    {"app_service_config_files", load_app_service_files,
     offsetof(struct config, app_service_config_files)}, /* application services */
    /* 3PID, identity servers, SSO, soft logout (issue 10) */
    {"email", load_email, 0},
    {"registrations_require_3pid", load_registrations_require_3pid, 0},
    {"allowed_local_3pids", load_allowed_local_3pids, 0},
    {"enable_3pid_changes", load_bool, offsetof(struct config, enable_3pid_changes)},
    {"rc_3pid_validation", load_ratelimit, offsetof(struct config, rc_3pid_validation)},
    {"session_lifetime", load_duration, offsetof(struct config, session_lifetime_ms)},
    {"access_token_lifetime", load_duration, offsetof(struct config, session_lifetime_ms)},
    {"identity_server_scheme", load_scheme, offsetof(struct config, identity_server_scheme)},
    {"ip_range_blacklist", load_ip_ranges, offsetof(struct config, ip_range_blacklist)},
    {"ip_range_whitelist", load_ip_ranges, offsetof(struct config, ip_range_whitelist)},
    {"oidc_providers", load_oidc_providers, 0},
    {"oidc_config", load_oidc_config, 0},
    {"sso", load_sso, 0},
    {"account_threepid_delegates", NULL, 0}, /* Hearth validates addresses itself */
    {"enable_3pid_lookup", NULL, 0},
    {"disable_msisdn_registration", NULL, 0},
};

static void
set_defaults(struct config *cfg)
{
    const struct config_ratelimit login = {0.17, 3};

    cfg->max_upload_size = DEFAULT_MAX_UPLOAD;
    cfg->max_request_size = DEFAULT_MAX_REQUEST;
    cfg->event_cache_size = DEFAULT_EVENT_CACHE;
    cfg->rc_message = (struct config_ratelimit){0.2, 10};
    cfg->rc_registration = login;
    cfg->rc_login_address = login;
    cfg->rc_login_account = login;
    cfg->rc_login_failed_attempts = login;
    cfg->turn_user_lifetime_ms = 3600000;
    cfg->turn_allow_guests = true;
    cfg->presence_enabled = true;
    cfg->listener.connection_timeout_ms = 90000; /* slow clients (issue 12, soak) */
    cfg->listener.max_connections_per_ip = 4096;
    cfg->database_cp_min = 5;
    cfg->database_cp_max = 10;
    cfg->max_image_pixels = 32 * 1024 * 1024; /* content repository (issue 7): Synapse's */
    cfg->max_spider_size = 10 * 1024 * 1024;
    /* issue 10 */
    cfg->email_smtp_port = 25;
    cfg->email_enable_tls = true;
    cfg->email_validation_token_lifetime_ms = 3600000;
    cfg->enable_3pid_changes = true;
    cfg->rc_3pid_validation = (struct config_ratelimit){0.003, 5};
}

/* Fills what the file left unset; some defaults depend on server_name and the base dir. */
static int
finish(struct loader *ld)
{
    struct config *cfg = ld->cfg;

    if (!cfg->server_name)
        return fail(ld, "server_name", "required");
    if (cfg->listener.port == 0)
        cfg->listener.port = DEFAULT_PORT;
    if (cfg->listener.n_bind == 0)
        cfg->listener.bind_addresses[cfg->listener.n_bind++] = xstrdup(DEFAULT_BIND);
    if (!cfg->database_name)
        cfg->database_name = xstrdup("sqlite3");
    if (strcmp(cfg->database_name, "sqlite3") == 0 && !cfg->database_path)
        cfg->database_path = path_resolve(ld->base_dir, "homeserver.db");
    if (strcmp(cfg->database_name, "psycopg2") == 0 && !cfg->database_conninfo)
        cfg->database_conninfo = xstrdup(""); /* libpq falls back to PG* variables */
    if (!cfg->media_store_path)
        cfg->media_store_path = path_resolve(ld->base_dir, "media_store");
    if (!cfg->signing_key_path) {
        char *name = xasprintf("%s.signing.key", cfg->server_name);
        cfg->signing_key_path = path_resolve(ld->base_dir, name);
        free(name);
    }
    if (!cfg->log_level)
        cfg->log_level = xstrdup("info");
    if (!cfg->default_room_version)
        cfg->default_room_version = xstrdup(DEFAULT_ROOM_VERSION);
    finish_media(cfg);
    /* issue 10: mail and SSO send people back to this server, so it must know its URL. */
    if ((cfg->email_enabled || cfg->n_oidc_providers) && !cfg->public_baseurl)
        return fail(ld, "public_baseurl", "required when email or oidc_providers is configured");
    if (cfg->registration_requires_email && !cfg->email_enabled)
        return fail(ld, "registrations_require_3pid", "email needs the email section");
    if (cfg->email_enabled && !cfg->email_smtp_host)
        cfg->email_smtp_host = xstrdup("localhost");
    if (cfg->email_enabled && !cfg->email_app_name)
        cfg->email_app_name = xstrdup("Matrix");
    if (!cfg->identity_server_scheme)
        cfg->identity_server_scheme = xstrdup("https");
    /* Synapse's ip_range_blacklist defaults to the private ranges (its url_preview list). */
    finish_blacklist((struct ip_range_list *)&cfg->ip_range_blacklist);
    return 0;
}

static int
yaml_failure(struct loader *ld, const char *source, const yaml_parser_t *parser)
{
    const char *problem = parser->problem ? parser->problem : "unknown error";

    if (parser->error == YAML_MEMORY_ERROR) {
        fputs("hearth: out of memory\n", stderr);
        abort();
    }
    if (parser->error == YAML_READER_ERROR)
        return fail(ld, source, "YAML error at byte %zu: %s", parser->problem_offset, problem);
    /* An unclosed bracket is reported at the end of the file; say where it opened. */
    if (parser->context && parser->context_mark.line != parser->problem_mark.line)
        return fail(ld, source,
                    "YAML syntax error at line %zu, column %zu: %s %s started at line %zu",
                    parser->problem_mark.line + 1, parser->problem_mark.column + 1, problem,
                    parser->context, parser->context_mark.line + 1);
    if (parser->context)
        return fail(ld, source, "YAML syntax error at line %zu, column %zu: %s %s",
                    parser->problem_mark.line + 1, parser->problem_mark.column + 1, problem,
                    parser->context);
    return fail(ld, source, "YAML syntax error at line %zu, column %zu: %s",
                parser->problem_mark.line + 1, parser->problem_mark.column + 1, problem);
}

/* source names the input in YAML errors: the file path, or "config". */
static int
load_yaml(const char *yaml, size_t len, const char *source, const char *base_dir,
          struct config **out, char *err, size_t errlen)
{
    struct loader ld = {.err = err, .errlen = errlen};
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    bool have_parser = false, have_doc = false;
    char *abs_base = NULL;
    yaml_node_t *root;
    int rc = -1;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    abs_base = absolute_dir(base_dir);
    if (!abs_base) {
        fail(&ld, source, "cannot resolve the current directory: %s", strerror(errno));
        goto out;
    }
    ld.base_dir = abs_base;
    ld.cfg = xcalloc(1, sizeof(*ld.cfg));
    set_defaults(ld.cfg);

    if (!yaml_parser_initialize(&parser)) {
        fputs("hearth: out of memory\n", stderr);
        abort();
    }
    have_parser = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_failure(&ld, source, &parser);
        goto out;
    }
    have_doc = true;
    ld.doc = &doc;
    /* A second document would be silently ignored otherwise, errors in it included. */
    if (!yaml_parser_load(&parser, &extra)) {
        yaml_failure(&ld, source, &parser);
        goto out;
    }
    root = yaml_document_get_root_node(&extra);
    yaml_document_delete(&extra);
    if (root) {
        fail(&ld, source, "expected a single YAML document");
        goto out;
    }

    root = yaml_document_get_root_node(&doc);
    if (root && !is_null(root) &&
        load_mapping(&ld, root, "", top_keys, NKEYS(top_keys), ld.cfg) < 0)
        goto out;
    if (finish(&ld) < 0)
        goto out;
    *out = ld.cfg;
    ld.cfg = NULL;
    rc = 0;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    if (have_parser)
        yaml_parser_delete(&parser);
    config_free(ld.cfg);
    free(abs_base);
    return rc;
}

int
config_load_string(const char *yaml, size_t len, const char *base_dir, struct config **out,
                   char *err, size_t errlen)
{
    return load_yaml(yaml, len, "config", base_dir, out, err, errlen);
}

int
config_load(const char *path, struct config **out, char *err, size_t errlen)
{
    struct loader ld = {.err = err, .errlen = errlen};
    const char *slash = strrchr(path, '/');
    char *dir = NULL, *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;
    int rc = -1;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    f = fopen(path, "r");
    if (!f) {
        fail(&ld, path, "cannot open: %s", strerror(errno));
        goto out;
    }
    buf = xmalloc(CONFIG_MAX_FILE + 1);
    len = fread(buf, 1, CONFIG_MAX_FILE + 1, f);
    if (ferror(f)) {
        fail(&ld, path, "cannot read: %s", strerror(errno));
        goto out;
    }
    if (len > CONFIG_MAX_FILE) {
        fail(&ld, path, "larger than %d bytes", CONFIG_MAX_FILE);
        goto out;
    }
    if (!slash)
        dir = xstrdup(".");
    else if (slash == path)
        dir = xstrdup("/");
    else
        dir = xstrndup(path, (size_t)(slash - path));
    rc = load_yaml(buf, len, path, dir, out, err, errlen);
out:
    if (f)
        fclose(f);
    if (buf)
        sodium_memzero(buf, len); /* the file holds secrets */
    free(buf);
    free(dir);
    return rc;
}

static void
free_secret(char *s)
{
    if (s)
        sodium_memzero(s, strlen(s));
    free(s);
}

void
config_free(struct config *cfg)
{
    if (!cfg)
        return;
    free(cfg->server_name);
    free(cfg->public_baseurl);
    for (size_t i = 0; i < cfg->listener.n_bind; i++)
        free(cfg->listener.bind_addresses[i]);
    for (size_t i = 0; i < cfg->metrics_listener.n_bind; i++)
        free(cfg->metrics_listener.bind_addresses[i]);
    free(cfg->database_name);
    free(cfg->database_path);
    free_secret(cfg->database_conninfo); /* may hold the password */
    free(cfg->media_store_path);
    free(cfg->signing_key_path);
    free(cfg->log_level);
    free_secret(cfg->registration_shared_secret);
    for (size_t i = 0; i < cfg->n_turn_uris; i++)
        free(cfg->turn_uris[i]);
    free(cfg->turn_uris);
    free_secret(cfg->turn_shared_secret);
    free(cfg->turn_username);
    free_secret(cfg->turn_password);
    free(cfg->server_notices_localpart);
    free(cfg->server_notices_display_name);
    free(cfg->server_notices_avatar_url);
    free(cfg->server_notices_room_name);
    free(cfg->default_room_version);
    free(cfg->thumbnail_sizes); /* content repository (issue 7) */
    free(cfg->url_preview_ip_range_blacklist);
    free(cfg->url_preview_ip_range_whitelist);
    for (size_t i = 0; i < cfg->n_app_service_config_files; i++)
        free(cfg->app_service_config_files[i]);
    free(cfg->app_service_config_files);
    /* issue 10 */
    free(cfg->email_smtp_host);
    free(cfg->email_smtp_user);
    free_secret(cfg->email_smtp_pass);
    free(cfg->email_notif_from);
    free(cfg->email_app_name);
    for (size_t i = 0; i < cfg->n_allowed_local_3pids; i++) {
        free(cfg->allowed_local_3pids[i].medium);
        free(cfg->allowed_local_3pids[i].pattern);
    }
    free(cfg->allowed_local_3pids);
    free(cfg->identity_server_scheme);
    for (size_t i = 0; i < cfg->n_oidc_providers; i++)
        free_oidc_provider(&cfg->oidc_providers[i]);
    free(cfg->oidc_providers);
    for (size_t i = 0; i < cfg->n_sso_client_whitelist; i++)
        free(cfg->sso_client_whitelist[i]);
    free(cfg->sso_client_whitelist);
    free(cfg->ip_range_blacklist);
    free(cfg->ip_range_whitelist);
    free(cfg);
}

/* ---- generate-config ---------------------------------------------------------------------- */

/* A YAML double-quoted scalar, so paths with any characters survive. */
static void
put_yaml_string(struct sbuf *b, const char *s)
{
    sbuf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            sbuf_putc(b, '\\');
            sbuf_putc(b, (char)c);
        } else if (c < 0x20 || c == 0x7f) {
            sbuf_printf(b, "\\x%02x", c);
        } else {
            sbuf_putc(b, (char)c);
        }
    }
    sbuf_putc(b, '"');
}

static void
put_path_setting(struct sbuf *b, const char *indent, const char *key, const char *dir,
                 const char *file)
{
    char *p = path_resolve(dir, file);

    sbuf_printf(b, "%s%s: ", indent, key);
    put_yaml_string(b, p);
    sbuf_putc(b, '\n');
    free(p);
}

static void
put_ratelimit(struct sbuf *b, const char *indent, double per_second, double burst)
{
    sbuf_printf(b, "%s  per_second: %g\n", indent, per_second);
    sbuf_printf(b, "%s  burst_count: %g\n", indent, burst);
}

char *
config_generate(const char *server_name, const char *data_dir)
{
    unsigned char secret[32];
    char hex[sizeof(secret) * 2 + 1];
    struct sbuf b = {0};
    char *dir = NULL, *key_file = NULL, *text = NULL;

    if (!server_name || !valid_server_name(server_name) || sodium_init() < 0)
        goto out;
    dir = absolute_dir(data_dir);
    if (!dir)
        goto out;
    randombytes_buf(secret, sizeof(secret));
    sodium_bin2hex(hex, sizeof(hex), secret, sizeof(secret));
    key_file = xasprintf("%s.signing.key", server_name);

    sbuf_puts(&b, "# Hearth homeserver configuration, written by `hearth generate-config`.\n"
                  "# Key names are Synapse's, so Synapse's documentation describes them too.\n"
                  "# Relative paths are taken relative to the directory of this file.\n\n");
    sbuf_puts(&b, "# The domain in user IDs (@alice:example.org); it cannot change later.\n"
                  "server_name: ");
    put_yaml_string(&b, server_name);
    sbuf_puts(&b, "\n\n# URL clients reach this server at, served in /.well-known/matrix/client;"
                  " unset: 404 there.\n"
                  "#public_baseurl: \"https://matrix.example.org/\"\n\n");
    sbuf_puts(
        &b,
        "# The first listener of type http is used (x_forwarded: true behind a reverse proxy: the "
        "client address is then X-Forwarded-For's first); resources is "
        "accepted and ignored.\n"
        "listeners:\n"
        "  - port: 8008                    # TCP port, 1..65535\n"
        "    type: http\n"
        "    bind_addresses: [\"127.0.0.1\"]  # loopback only; up to 8 IPv4/IPv6 "
        "addresses\n"
        "    # A whole request (headers and body) must arrive within this, or the connection "
        "is\n    # closed (slow clients); waiting long-polls are not cut (Hearth-specific).\n"
        "    connection_timeout: 90s\n"
        "    # Open connections per client address, 0 = no limit; behind a reverse proxy every\n"
        "    # client comes from the proxy's address (Hearth-specific).\n"
        "    max_connections_per_ip: 4096\n"
        "# Prometheus metrics on a port of their own (docs/metrics.md):\n"
        "#  - port: 9000\n"
        "#    type: metrics\n"
        "#    bind_addresses: [\"127.0.0.1\"]\n\n");
    sbuf_puts(&b, "# sqlite3 (a file) or psycopg2 (PostgreSQL; args: user, password, dbname, "
                  "host, port, ...).\n"
                  "database:\n"
                  "  name: sqlite3\n"
                  "  args:\n");
    put_path_setting(&b, "    ", "database", dir, "homeserver.db");
    sbuf_puts(&b, "\n# Where uploaded media files are kept.\n");
    put_path_setting(&b, "", "media_store_path", dir, "media_store");
    sbuf_puts(&b, "# The server's ed25519 signing key.\n");
    put_path_setting(&b, "", "signing_key_path", dir, key_file);
    sbuf_puts(&b, "\n# debug, info, warning or error.\n"
                  "log_level: info\n\n");
    sbuf_puts(&b, "# OPEN REGISTRATION: anyone who can reach the listener can create an account.\n"
                  "# Fine on loopback for local development; turn both off (the default) before "
                  "exposing\n# the server.\n"
                  "enable_registration: true\n"
                  "# Synapse's acknowledgement that registration needs no email or captcha.\n"
                  "enable_registration_without_verification: true\n"
                  "# Guest accounts: no password, only in rooms that let guests in.\n"
                  "allow_guest_access: false\n\n");
    sbuf_printf(&b,
                "# Lets `hearth register-user` create accounts, admins included; keep it "
                "private.\n"
                "registration_shared_secret: \"%s\"\n\n",
                hex);
    sbuf_puts(&b, "# Room version for new rooms: \"1\" to \"6\".\n"
                  "default_room_version: \"" DEFAULT_ROOM_VERSION "\"\n"
                  "# Largest media upload: bytes, or with a K, M or G suffix.\n"
                  "max_upload_size: 50M\n"
                  "# Largest JSON request body (Hearth-specific).\n"
                  "max_request_size: 1M\n"
                  "# HTTP worker threads; 0 = one per CPU core (Hearth-specific).\n"
                  "thread_pool_size: 0\n\n");
    sbuf_puts(&b, "# Rate limits: per_second is the sustained rate, burst_count the burst "
                  "allowed.\n"
                  "# Messages sent, per user.\n"
                  "rc_message:\n");
    put_ratelimit(&b, "", 0.2, 10);
    sbuf_puts(&b, "# Registrations, per client IP address.\n"
                  "rc_registration:\n");
    put_ratelimit(&b, "", 0.17, 3);
    sbuf_puts(&b, "rc_login:\n"
                  "  # Login attempts per client IP address.\n"
                  "  address:\n");
    put_ratelimit(&b, "  ", 0.17, 3);
    sbuf_puts(&b, "  # Login attempts per account.\n"
                  "  account:\n");
    put_ratelimit(&b, "  ", 0.17, 3);
    sbuf_puts(&b, "  # Failed login attempts per account.\n"
                  "  failed_attempts:\n");
    put_ratelimit(&b, "  ", 0.17, 3);
    sbuf_puts(&b, "\n# Presence (online/idle/offline) for users who share a room; off saves load.\n"
                  "presence:\n"
                  "  enabled: true\n");
    sbuf_puts(&b, "\n# VoIP: TURN servers for calls. With turn_shared_secret, clients get "
                  "TURN REST API\n# credentials valid for turn_user_lifetime; else "
                  "turn_username and turn_password.\n"
                  "#turn_uris: [\"turn:turn.example.org:3478?transport=udp\"]\n"
                  "#turn_shared_secret: \"\"\n"
                  "turn_user_lifetime: 1h\n"
                  "turn_allow_guests: true\n\n"
                  "# User directory search: all accounts, or only users who share a room "
                  "with the searcher\n# or are in public rooms (false).\n"
                  "user_directory:\n"
                  "  search_all_users: false\n"
                  "\n# Server notices: official messages to users, sent by a system user "
                  "into a room\n# per user tagged m.server_notice (admin API "
                  "POST /_synapse/admin/v1/send_server_notice).\n"
                  "# Uncomment to turn on.\n"
                  "#server_notices:\n"
                  "#  system_mxid_localpart: notices\n"
                  "#  system_mxid_display_name: \"Server Notices\"\n"
                  "#  system_mxid_avatar_url: \"mxc://example.org/abc\"\n"
                  "#  room_name: \"Server Notices\"\n");
    sbuf_puts(&b, "\n# Content repository. Images with more pixels than max_image_pixels are "
                  "not thumbnailed.\n"
                  "max_image_pixels: 32M\n"
                  "# Thumbnail sizes offered; a request gets the smallest one at least as large "
                  "as asked\n# (method crop: exactly that aspect; scale: the image's own).\n"
                  "thumbnail_sizes:\n"
                  "  - {width: 32, height: 32, method: crop}\n"
                  "  - {width: 96, height: 96, method: crop}\n"
                  "  - {width: 320, height: 240, method: scale}\n"
                  "  - {width: 640, height: 480, method: scale}\n"
                  "  - {width: 800, height: 600, method: scale}\n"
                  "# Make thumbnails of exactly the size a client asks for (more disk and CPU).\n"
                  "dynamic_thumbnails: false\n\n"
                  "# URL previews (GET /preview_url): the server fetches pages its users link "
                  "to.\n"
                  "url_preview_enabled: false\n"
                  "# Addresses previews must never fetch from, checked on every connection "
                  "(redirects too).\n# Unset: Synapse's list of private and reserved ranges "
                  "(below); 0.0.0.0 and :: always.\n"
                  "url_preview_ip_range_blacklist:\n");
    for (size_t i = 0; i < NKEYS(default_preview_blacklist); i++)
        sbuf_printf(&b, "  - '%s'\n", default_preview_blacklist[i]);
    sbuf_puts(&b, "# Exceptions to the blacklist.\n"
                  "#url_preview_ip_range_whitelist: ['192.168.1.1']\n"
                  "# Largest page or image a preview downloads.\n"
                  "max_spider_size: 10M\n");
    sbuf_puts(&b, "\n# Application services (bridges, bots): one registration file per "
                  "service, in Synapse's\n# format (id, url, as_token, hs_token, "
                  "sender_localpart, namespaces, rate_limited,\n# protocols). Each is "
                  "checked at start; events of interest are pushed to its url.\n"
                  "#app_service_config_files:\n"
                  "#  - \"/etc/hearth/irc-bridge.yaml\"\n");
    /* issue 10 */
    sbuf_puts(&b, "\n# Email: this server validates addresses by mail (registration, password "
                  "reset, adding\n# an address). Needs public_baseurl: the links point there. "
                  "Uncomment to turn on.\n"
                  "#email:\n"
                  "#  smtp_host: localhost\n"
                  "#  smtp_port: 25\n"
                  "#  smtp_user: \"\"\n"
                  "#  smtp_pass: \"\"\n"
                  "#  require_transport_security: false  # STARTTLS or no mail\n"
                  "#  enable_tls: true                   # STARTTLS when offered\n"
                  "#  notif_from: \"Your %(app)s homeserver <noreply@example.org>\"\n"
                  "#  app_name: Matrix\n"
                  "#  validation_token_lifetime: 1h\n"
                  "# Registration needs an email address (else email is optional when "
                  "configured).\n"
                  "#registrations_require_3pid: [email]\n"
                  "# Only these addresses may be added (regular expressions on the whole "
                  "address).\n"
                  "#allowed_local_3pids: [{medium: email, pattern: '.*@example\\.org'}]\n"
                  "# Users may add and remove addresses.\n"
                  "enable_3pid_changes: true\n"
                  "# Validation mails, per client address and per email address.\n"
                  "rc_3pid_validation:\n");
    put_ratelimit(&b, "", 0.003, 5);
    sbuf_puts(&b, "# Access tokens expire after this; the client logs in again on the same "
                  "device (soft\n# logout). Unset: tokens live until logout.\n"
                  "#session_lifetime: 24h\n"
                  "# Identity servers are reached over https (http only for local testing).\n"
                  "identity_server_scheme: https\n"
                  "# Addresses identity server requests may not reach (default: private "
                  "ranges), and\n# exceptions to that.\n"
                  "#ip_range_blacklist: [\"127.0.0.0/8\", \"10.0.0.0/8\"]\n"
                  "#ip_range_whitelist: [\"192.168.1.5\"]\n"
                  "# Single sign-on with OpenID Connect providers (Synapse's oidc_providers). "
                  "Needs\n# public_baseurl; the provider redirects to "
                  "<public_baseurl>_synapse/client/oidc/callback.\n"
                  "#oidc_providers:\n"
                  "#  - idp_id: example\n"
                  "#    idp_name: \"Example\"\n"
                  "#    issuer: \"https://id.example.org/\"\n"
                  "#    client_id: \"hearth\"\n"
                  "#    client_secret: \"...\"\n"
                  "#    scopes: [openid, profile]\n"
                  "#    user_mapping_provider:\n"
                  "#      config:\n"
                  "#        localpart_template: \"{{ user.preferred_username }}\"\n"
                  "#        display_name_template: \"{{ user.name }}\"\n"
                  "# Clients trusted to receive a login token without a confirmation page.\n"
                  "#sso:\n"
                  "#  client_whitelist: [\"https://app.example.org/\"]\n");
    text = sbuf_take(&b);
out:
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(hex, sizeof(hex));
    free(b.p);
    free(dir);
    free(key_file);
    return text;
}

/* ---- the configuration reference (issue 14) -------------------------------------------------
 * Generated from the key tables above, so docs/configuration.md cannot drift from the parser:
 * a key added to a table shows up, with the kind of value its loader accepts. */

struct ref_kind {
    load_fn load;
    const char *kind;
    const struct key_spec *sub; /* a mapping (or list of mappings) with these keys */
    size_t nsub;
    bool list;
};

static const struct ref_kind ref_kinds[] = {
    {load_path, "path (relative to the config file's directory)", NULL, 0, false},
    {load_bool, "boolean", NULL, 0, false},
    {load_size, "size in bytes (a number, or with K, M, G)", NULL, 0, false},
    {load_event_cache,
     "events kept formatted in memory (a number, or with K, M, G: multiples of 1,024; at most "
     "16M); default 4K, about 2 KB each when full",
     NULL, 0, false},
    {load_rate, "number", NULL, 0, false},
    {load_server_name, "server name (required)", NULL, 0, false},
    {load_public_baseurl, "http(s) URL", NULL, 0, false},
    {load_log_level, "debug, info, warning or error", NULL, 0, false},
    {load_room_version, "room version", NULL, 0, false},
    {load_secret, "secret string", NULL, 0, false},
    {load_thread_pool, "integer", NULL, 0, false},
    {load_conn_limit, "integer (open connections per client address; 0: no limit)", NULL, 0, false},
    {load_port, "port 1..65535", NULL, 0, false},
    {load_string, "string", NULL, 0, false},
    {load_duration, "duration (milliseconds, or with s, m, h, d)", NULL, 0, false},
    {load_turn_uris, "list of turn:/turns: URIs", NULL, 0, false},
    {load_ratelimit, "mapping", ratelimit_keys, NKEYS(ratelimit_keys), false},
    {load_rc_login, "mapping", rc_login_keys, NKEYS(rc_login_keys), false},
    {load_presence, "mapping", presence_keys, NKEYS(presence_keys), false},
    {load_server_notices, "mapping", server_notices_keys, NKEYS(server_notices_keys), false},
    {load_user_directory, "mapping", user_directory_keys, NKEYS(user_directory_keys), false},
    {load_thumbnail_sizes, "list of mappings", thumbnail_size_keys, NKEYS(thumbnail_size_keys),
     true},
    {load_thumb_dim, "integer (pixels)", NULL, 0, false},
    {load_thumb_method, "crop or scale", NULL, 0, false},
    {load_ip_ranges, "list of IP ranges (CIDR)", NULL, 0, false},
    {load_bind_addresses, "list of IP addresses", NULL, 0, false},
    {load_bind_address, "IP address (added to bind_addresses)", NULL, 0, false},
    {load_tls, "boolean (Hearth serves plain HTTP behind a TLS proxy)", NULL, 0, false},
    {load_listeners, "list of mappings (type http: the API; type metrics: Prometheus)",
     listener_keys, NKEYS(listener_keys), true},
    {load_db_name, "sqlite3 or psycopg2", NULL, 0, false},
    {load_db_path, "path of the SQLite file", NULL, 0, false},
    {load_pg_value, "libpq connection parameter", NULL, 0, false},
    {load_pg_port, "port 1..65535", NULL, 0, false},
    {load_pool_size, "integer (connections)", NULL, 0, false},
    {load_database, "mapping", database_keys, NKEYS(database_keys), false},
    {load_app_service_files, "list of paths (application service registration files)", NULL, 0,
     false},
    {load_email, "mapping (turns on validation mail; needs public_baseurl)", email_keys,
     NKEYS(email_keys), false},
    {load_registrations_require_3pid, "list of media (only email)", NULL, 0, false},
    {load_allowed_local_3pids, "list of mappings (pattern: a regular expression)", pattern_keys,
     NKEYS(pattern_keys), true},
    {load_scheme, "https or http", NULL, 0, false},
    {load_oidc_providers, "list of mappings (OpenID Connect providers; need public_baseurl)",
     oidc_keys, NKEYS(oidc_keys), true},
    {load_oidc_config, "mapping: one oidc_providers entry plus enabled (Synapse's older form)",
     NULL, 0, false},
    {load_sso, "mapping", sso_keys, NKEYS(sso_keys), false},
    {load_string_list, "list of strings", NULL, 0, false},
    {load_url, "http(s) URL", NULL, 0, false},
    {load_auth_method, "client_secret_basic, client_secret_post or none", NULL, 0, false},
    {load_profile_method, "auto or userinfo_endpoint", NULL, 0, false},
    {load_pkce_method, "auto, always or never", NULL, 0, false},
    {load_mapping_provider, "mapping", mapping_provider_keys, NKEYS(mapping_provider_keys), false},
    {load_mapping_config, "mapping", mapping_config_keys, NKEYS(mapping_config_keys), false},
};

/* Keys without a loader of their own that are read elsewhere. */
static const struct {
    const char *path, *kind;
} ref_special[] = {
    {"listeners[].type", "http (the default) or metrics; other types are ignored"},
    {"database.args", "mapping, by database.name (below)"},
};

static void
ref_table(struct sbuf *b, const char *prefix, const struct key_spec *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct ref_kind *k = NULL;
        char path[KEY_PATH_MAX];

        for (size_t j = 0; j < NKEYS(ref_kinds) && keys[i].load; j++)
            if (ref_kinds[j].load == keys[i].load)
                k = &ref_kinds[j];
        snprintf(path, sizeof(path), "%s%s", prefix, keys[i].name);
        sbuf_puts(b, "| `");
        sbuf_puts(b, path);
        sbuf_puts(b, "` | ");
        const char *special = NULL;
        for (size_t j = 0; j < NKEYS(ref_special); j++)
            if (strcmp(ref_special[j].path, path) == 0)
                special = ref_special[j].kind;
        sbuf_puts(b, special         ? special
                     : !keys[i].load ? "accepted for Synapse compatibility; ignored"
                     : k             ? k->kind
                                     : "see `hearth generate-config`");
        sbuf_puts(b, " |\n");
        if (k && k->sub) {
            char sub[KEY_PATH_MAX + 4];
            snprintf(sub, sizeof(sub), "%s%s.", path, k->list ? "[]" : "");
            ref_table(b, sub, k->sub, k->nsub);
        }
        if (strcmp(path, "database.args") == 0) {
            ref_table(b, "database.args (sqlite3).", sqlite_keys, NKEYS(sqlite_keys));
            ref_table(b, "database.args (psycopg2).", psycopg2_keys, NKEYS(psycopg2_keys));
        }
    }
}

char *
config_reference(void)
{
    struct sbuf b = {0};

    sbuf_puts(&b, "# Configuration reference\n\n"
                  "<!-- Generated by `hearth config-reference` from the tables the configuration "
                  "parser uses (src/core/config.c). Do not edit: regenerate with\n"
                  "     build/hearth config-reference > docs/configuration.md -->\n\n"
                  "Hearth reads one YAML file with Synapse's key names. Every key it knows is "
                  "listed here with the kind of value it takes; `hearth generate-config` writes "
                  "a commented file with the meaning and default of each. Unknown keys are "
                  "logged as warnings and ignored, and a value of the wrong kind stops the "
                  "server at start with a message naming the key.\n\n"
                  "| key | value |\n| --- | --- |\n");
    ref_table(&b, "", top_keys, NKEYS(top_keys));
    sbuf_puts(&b, "\nSynapse settings that Hearth accepts and ignores (logged at start): ");
    for (size_t i = 0; i < NKEYS(synapse_unused); i++) {
        sbuf_puts(&b, i ? ", `" : "`");
        sbuf_puts(&b, synapse_unused[i]);
        sbuf_puts(&b, "`");
    }
    sbuf_puts(&b, ".\n");
    return b.p;
}
