/* Push rule evaluation: see eval.h. */
#include "push/eval.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "json/json.h"
#include "push/rules.h"

/* Event fields read often enough to be lower-cased once per event; others are looked up in a
 * flattened copy made on first use. */
enum field { F_TYPE, F_BODY, F_MSGTYPE, F_STATE_KEY, F_MEMBERSHIP, F_ROOM_ID, F_SENDER, F_OTHER };
#define F_NFIXED F_OTHER
static const char *const field_keys[F_NFIXED] = {
    "type",    "content.body", "content.msgtype", "state_key", "content.membership",
    "room_id", "sender"};

enum cond_kind {
    C_MATCH,          /* event_match */
    C_DISPLAY_NAME,   /* contains_display_name */
    C_MEMBER_COUNT,   /* room_member_count */
    C_SENDER_PERM,    /* sender_notification_permission */
    C_SELF_STATE_KEY, /* .m.rule.invite_for_me: state_key is the member's user ID */
    C_SELF_LOCALPART, /* .m.rule.contains_user_name: the body names the member's localpart */
    C_NEVER,          /* SPEC: "Unrecognised conditions MUST NOT match any events" */
};

enum count_op { OP_EQ, OP_LT, OP_GT, OP_LE, OP_GE };

struct cond {
    enum cond_kind kind;
    enum field field;
    bool word;     /* match between word boundaries (content.body), else the whole value */
    bool glob;     /* the pattern has glob characters */
    char *pattern; /* lower-cased */
    size_t plen;
    char *key;     /* F_OTHER: the dotted key; C_SENDER_PERM: the notifications key */
    uint64_t hash; /* identity of a member-independent condition, for the per-event memo */
    enum count_op op;
    int64_t count;
};

struct rule {
    struct cond *conds;
    size_t n;
    bool per_member; /* a condition depends on the member (display name, own ID) */
    struct push_result res;
};

struct push_compiled {
    atomic_int refs;
    struct rule *rules;
    size_t n;
};

#define MEMO_SLOTS 64
#define MEMO_PROBES 8

struct memo {
    const struct cond *c; /* NULL: free */
    bool result;
};

struct push_event {
    const json_t *event;
    char *f[F_NFIXED]; /* lower-cased string values, NULL when absent or not strings */
    size_t flen[F_NFIXED];
    int64_t members;
    int64_t sender_level;
    const json_t *notifications; /* power levels' "notifications", borrowed */
    json_t *flat;                /* {dotted key: lower-cased string}, made on first use */
    uint64_t *words;             /* hashes of the body's words (open addressing), or NULL */
    size_t wcap;
    uint64_t wmask[4]; /* a bit per word hash's top 8 bits: a member whose names' first words
                          have no bit here is not named by the body */
    bool words_done;
    size_t name_lookups; /* names looked for in the body so far */
    struct memo memo[MEMO_SLOTS];
    /* Per ruleset, what does not depend on the member (see struct group): every member
     * without changes shares one ruleset, so this is usually one entry. Open addressing on
     * the ruleset's address. */
    struct group *groups;
    size_t gcap, ngroups;
    const struct push_compiled *last_c; /* the ruleset last asked for, at groups[last_slot] */
    size_t last_slot;
};

/* One ruleset's evaluation of an event, shared by every member using that ruleset: the
 * first rule that matches whoever the member is (c->n: none), and before it the rules that
 * depend on the member whose other conditions hold (live), in order. A member's result is
 * the first live rule whose member conditions hold, else the first common rule. */
struct group {
    const struct push_compiled *c; /* NULL: free slot */
    size_t first;
    size_t *live;
    size_t nlive;
    bool names_only; /* the live rules' member conditions are all names in the body */
};

/* ---- characters ---- */

static inline unsigned char
lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Synapse's boundaries come from Python's \W: letters, digits and '_' are word characters,
 * in any script; every non-ASCII byte counts as a letter here. */
static inline bool
is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

static char *
lower_dup(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)lower((unsigned char)s[i]);
    out[n] = '\0';
    return out;
}

static uint64_t
fnv(const char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_BASIS 0xcbf29ce484222325ULL

/* ---- globs ---- */

static bool
has_glob(const char *p)
{
    return strpbrk(p, "*?[") != NULL;
}

/* A character class (p just after '['): 1 or 0 for c, *end past its ']'; -1 when unterminated
 * (the '[' is then literal). */
static int
class_match(const char *p, unsigned char c, const char **end)
{
    bool neg = false, hit = false, first = true;

    if (*p == '!') {
        neg = true;
        p++;
    }
    while (*p && (*p != ']' || first)) {
        unsigned char lo = (unsigned char)*p, hi = lo;
        if (p[1] == '-' && p[2] && p[2] != ']') {
            hi = (unsigned char)p[2];
            p += 3;
        } else {
            p++;
        }
        if (c >= lo && c <= hi)
            hit = true;
        first = false;
    }
    if (*p != ']')
        return -1;
    *end = p + 1;
    return hit != neg;
}

/* One pattern element (not '*', not the end) against c; advances *pp past it. */
static bool
elem_match(const char **pp, unsigned char c)
{
    const char *p = *pp, *end;
    int r;

    if (*p == '?') {
        *pp = p + 1;
        return true;
    }
    if (*p == '[' && (r = class_match(p + 1, c, &end)) >= 0) {
        *pp = end;
        return r == 1;
    }
    *pp = p + 1;
    return (unsigned char)*p == c;
}

enum glob_rc { GLOB_MATCH = 1, GLOB_NO_PREFIX = 0, GLOB_NO_REST = -1 };

/* Matches pattern p against s[0..j) for some j at which the match may end: end of the value,
 * or (word) a non-word character. Iterative, backtracking only to the last '*', so it is
 * O(len(p) * len(s)) whatever the pattern. GLOB_NO_REST: it failed after reaching a '*', so a
 * later start cannot succeed either (the '*' would have absorbed the difference). Both are
 * lower-cased. '*' and '?' match any character, newlines included. */
static enum glob_rc
glob_at(const char *p, const char *s, const char *end, bool word)
{
    const char *star_p = NULL, *star_s = NULL;

    for (;;) {
        if (*p == '\0') {
            if (s == end || (word && !is_word((unsigned char)*s)))
                return GLOB_MATCH;
        } else if (*p == '*') {
            while (*p == '*')
                p++;
            star_p = p;
            star_s = s;
            continue;
        } else if (s < end) {
            const char *q = p;
            if (elem_match(&q, (unsigned char)*s)) {
                p = q;
                s++;
                continue;
            }
        }
        if (!star_p)
            return GLOB_NO_PREFIX;
        if (star_s >= end)
            return GLOB_NO_REST;
        p = star_p;
        s = ++star_s;
    }
}

/* A glob over a lower-cased value. */
static bool
glob_lower(const char *p, const char *s, size_t len, bool word)
{
    const char *end = s + len;

    if (!word)
        return glob_at(p, s, end, false) == GLOB_MATCH;
    /* Anywhere between word boundaries (Synapse: "(^|\W)pattern(\W|$)"). */
    for (size_t i = 0; i <= len; i++) {
        enum glob_rc rc;
        if (i > 0 && is_word((unsigned char)s[i - 1]))
            continue;
        rc = glob_at(p, s + i, end, true);
        if (rc == GLOB_MATCH)
            return true;
        /* A leading '*' already tried every later start. */
        if (rc == GLOB_NO_REST || *p == '*')
            return false;
    }
    return false;
}

/* A literal (lower-cased) needle in s between word boundaries. */
static bool
word_search(const char *s, size_t len, const char *needle, size_t nlen)
{
    const char *at = s, *end = s + len;

    if (nlen == 0)
        return glob_lower("", s, len, true);
    while ((size_t)(end - at) >= nlen && (at = memmem(at, (size_t)(end - at), needle, nlen))) {
        size_t i = (size_t)(at - s);
        if ((i == 0 || !is_word((unsigned char)s[i - 1])) &&
            (i + nlen == len || !is_word((unsigned char)s[i + nlen])))
            return true;
        at++;
    }
    return false;
}

bool
push_glob_match(const char *pattern, const char *value, bool word_boundary)
{
    char *p = lower_dup(pattern, strlen(pattern)), *v = lower_dup(value, strlen(value));
    bool m = glob_lower(p, v, strlen(v), word_boundary);
    free(p);
    free(v);
    return m;
}

/* ---- compiling ---- */

static void
cond_identity(struct cond *c)
{
    uint64_t h = fnv(c->pattern ? c->pattern : "", c->plen, FNV_BASIS);
    h = fnv((const char *)&c->field, sizeof(c->field), h);
    h ^= c->word ? 0x9e3779b97f4a7c15ULL : 0;
    if (c->key)
        h = fnv(c->key, strlen(c->key), h);
    c->hash = h;
}

static void
compile_match(struct cond *c, const char *key, const char *pattern)
{
    c->kind = C_MATCH;
    c->field = F_OTHER;
    for (int f = 0; f < F_NFIXED; f++)
        if (strcmp(key, field_keys[f]) == 0)
            c->field = (enum field)f;
    if (c->field == F_OTHER)
        c->key = xstrdup(key);
    /* Synapse matches content.body between word boundaries, every other key whole. */
    c->word = c->field == F_BODY;
    c->plen = strlen(pattern);
    c->pattern = lower_dup(pattern, c->plen);
    c->glob = has_glob(c->pattern);
    cond_identity(c);
}

/* SPEC: "is": "A decimal integer optionally prefixed by one of, ==, <, >, >= or <=". */
static bool
parse_count(const char *is, enum count_op *op, int64_t *count)
{
    if (!is)
        return false;
    if (strncmp(is, "==", 2) == 0) {
        *op = OP_EQ;
        is += 2;
    } else if (strncmp(is, "<=", 2) == 0) {
        *op = OP_LE;
        is += 2;
    } else if (strncmp(is, ">=", 2) == 0) {
        *op = OP_GE;
        is += 2;
    } else if (*is == '<') {
        *op = OP_LT;
        is++;
    } else if (*is == '>') {
        *op = OP_GT;
        is++;
    } else {
        *op = OP_EQ;
    }
    if (!*is || strspn(is, "0123456789") != strlen(is))
        return false;
    return util_parse_int64(is, count) == 0;
}

static void
compile_cond(struct cond *c, const json_t *j, const char *rule_id, bool is_default)
{
    const char *kind = json_string_value(json_object_get(j, "kind"));
    const char *key = json_string_value(json_object_get(j, "key"));
    const char *pattern = json_string_value(json_object_get(j, "pattern"));

    memset(c, 0, sizeof(*c));
    c->kind = C_NEVER;
    if (!kind)
        return;
    if (strcmp(kind, "event_match") == 0) {
        if (!key || !pattern)
            return;
        /* The spec's "[the user's Matrix ID]": whoever is being evaluated. */
        if (is_default && strcmp(rule_id, ".m.rule.invite_for_me") == 0 &&
            strcmp(key, "state_key") == 0) {
            c->kind = C_SELF_STATE_KEY;
            return;
        }
        compile_match(c, key, pattern);
    } else if (strcmp(kind, "contains_display_name") == 0) {
        c->kind = C_DISPLAY_NAME;
    } else if (strcmp(kind, "room_member_count") == 0) {
        if (parse_count(json_string_value(json_object_get(j, "is")), &c->op, &c->count))
            c->kind = C_MEMBER_COUNT;
    } else if (strcmp(kind, "sender_notification_permission") == 0) {
        if (key) {
            c->kind = C_SENDER_PERM;
            c->key = xstrdup(key);
        }
    }
}

static bool
has_notify(const json_t *actions, bool *highlight)
{
    size_t i;
    json_t *a;
    bool notify = false;

    *highlight = false;
    json_array_foreach(actions, i, a)
    {
        const char *s = json_string_value(a);
        const char *tweak = json_string_value(json_object_get(a, "set_tweak"));
        if (s && (strcmp(s, "notify") == 0 || strcmp(s, "coalesce") == 0))
            notify = true;
        if (tweak && strcmp(tweak, "highlight") == 0) {
            /* SPEC: "If a highlight tweak is given with no value, its value is defined to be
             * true." */
            json_t *v = json_object_get(a, "value");
            *highlight = !v || json_is_true(v);
        }
    }
    return notify;
}

static void
compile_rule(struct rule *r, const json_t *j, enum push_kind kind)
{
    const char *id = json_string_value(json_object_get(j, "rule_id"));
    bool is_default = json_is_true(json_object_get(j, "default"));
    json_t *actions = json_object_get(j, "actions");

    r->res.rule_id = xstrdup(id ? id : "");
    if (actions) {
        r->res.actions = json_dump_compact(actions);
    } else { /* a rule without actions (found by fuzz_push: the temporary array leaked) */
        json_t *none = json_array();
        r->res.actions = json_dump_compact(none);
        json_decref(none);
    }
    r->res.notify = has_notify(actions, &r->res.highlight);
    switch (kind) {
    case PUSH_OVERRIDE:
    case PUSH_UNDERRIDE: {
        json_t *conds = json_object_get(j, "conditions"), *c;
        size_t i;
        r->n = json_array_size(conds);
        r->conds = xcalloc(r->n + 1, sizeof(*r->conds));
        json_array_foreach(conds, i, c) compile_cond(&r->conds[i], c, r->res.rule_id, is_default);
        break;
    }
    case PUSH_CONTENT: {
        const char *pattern = json_string_value(json_object_get(j, "pattern"));
        r->n = 1;
        r->conds = xcalloc(1, sizeof(*r->conds));
        if (is_default && strcmp(r->res.rule_id, ".m.rule.contains_user_name") == 0)
            r->conds[0].kind = C_SELF_LOCALPART;
        else if (pattern)
            compile_match(&r->conds[0], "content.body", pattern);
        else
            r->conds[0].kind = C_NEVER;
        break;
    }
    case PUSH_ROOM:
    case PUSH_SENDER:
        /* The rule ID names the room or the sender (Synapse: event_match on room_id, or on
         * user_id, which it reads as the sender). */
        r->n = 1;
        r->conds = xcalloc(1, sizeof(*r->conds));
        compile_match(&r->conds[0], kind == PUSH_ROOM ? "room_id" : "sender", r->res.rule_id);
        break;
    case PUSH_NKINDS:
        break;
    }
    for (size_t k = 0; k < r->n; k++)
        if (r->conds[k].kind == C_DISPLAY_NAME || r->conds[k].kind == C_SELF_STATE_KEY ||
            r->conds[k].kind == C_SELF_LOCALPART)
            r->per_member = true;
}

struct push_compiled *
push_compile(const json_t *ruleset)
{
    struct push_compiled *c = xcalloc(1, sizeof(*c));
    json_t *global = json_object_get(ruleset, "global");
    size_t total = 0;

    atomic_init(&c->refs, 1);
    for (int k = 0; k < PUSH_NKINDS; k++)
        total += json_array_size(json_object_get(global, push_kind_names[k]));
    c->rules = xcalloc(total + 1, sizeof(*c->rules));
    for (int k = 0; k < PUSH_NKINDS; k++) {
        json_t *rule;
        size_t i;
        json_array_foreach(json_object_get(global, push_kind_names[k]), i, rule)
        {
            /* SPEC: "Disabled rules never match." */
            if (json_is_false(json_object_get(rule, "enabled")))
                continue;
            compile_rule(&c->rules[c->n++], rule, (enum push_kind)k);
        }
    }
    return c;
}

struct push_compiled *
push_compiled_ref(struct push_compiled *c)
{
    if (c)
        atomic_fetch_add(&c->refs, 1);
    return c;
}

void
push_compiled_unref(struct push_compiled *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    for (size_t i = 0; i < c->n; i++) {
        struct rule *r = &c->rules[i];
        for (size_t k = 0; k < r->n; k++) {
            free(r->conds[k].pattern);
            free(r->conds[k].key);
        }
        free(r->conds);
        free((char *)r->res.rule_id);
        free((char *)r->res.actions);
    }
    free(c->rules);
    free(c);
}

/* ---- events ---- */

static const json_t *
dotted(const json_t *ev, const char *key)
{
    const char *dot = strchr(key, '.');
    if (!dot)
        return json_object_get(ev, key);
    char first[64];
    size_t n = (size_t)(dot - key);
    if (n >= sizeof(first))
        return NULL;
    memcpy(first, key, n);
    first[n] = '\0';
    return json_object_get(json_object_get(ev, first), dot + 1);
}

/* A power level: an integer, or (older rooms) a string of one. */
static bool
level_of(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    return json_is_string(v) && util_parse_int64(json_string_value(v), out) == 0;
}

struct push_event *
push_event_new(const json_t *event, int64_t member_count, const json_t *power_levels,
               const char *creator)
{
    struct push_event *pe = xcalloc(1, sizeof(*pe));
    const char *sender = json_string_value(json_object_get(event, "sender"));

    pe->event = event;
    pe->members = member_count;
    for (int f = 0; f < F_NFIXED; f++) {
        const json_t *v = dotted(event, field_keys[f]);
        if (json_is_string(v)) {
            pe->flen[f] = json_string_length(v);
            pe->f[f] = lower_dup(json_string_value(v), pe->flen[f]);
        }
    }
    if (power_levels) {
        const json_t *users = json_object_get(power_levels, "users");
        if (!sender || !level_of(json_object_get(users, sender), &pe->sender_level))
            if (!level_of(json_object_get(power_levels, "users_default"), &pe->sender_level))
                pe->sender_level = 0;
        pe->notifications = json_object_get(power_levels, "notifications");
    } else {
        /* SPEC: m.room.power_levels: without the event, the creator has 100, others 0. */
        pe->sender_level = sender && creator && strcmp(sender, creator) == 0 ? 100 : 0;
    }
    return pe;
}

void
push_event_free(struct push_event *pe)
{
    if (!pe)
        return;
    for (int f = 0; f < F_NFIXED; f++)
        free(pe->f[f]);
    json_decref(pe->flat);
    free(pe->words);
    for (size_t i = 0; i < pe->gcap; i++)
        free(pe->groups[i].live);
    free(pe->groups);
    free(pe);
}

static void
flatten(json_t *out, const json_t *obj, const char *prefix, int depth)
{
    const char *k;
    json_t *v;

    if (depth > 32)
        return;
    json_object_foreach((json_t *)obj, k, v)
    {
        char *key = prefix ? xasprintf("%s.%s", prefix, k) : xstrdup(k);
        if (json_is_object(v)) {
            flatten(out, v, key, depth + 1);
        } else if (json_is_string(v)) {
            char *low = lower_dup(json_string_value(v), json_string_length(v));
            json_object_set_new(out, key, json_stringn_nocheck(low, json_string_length(v)));
            free(low);
        }
        free(key);
    }
}

/* The lower-cased value a condition looks at, or NULL. */
static const char *
value_of(struct push_event *pe, const struct cond *c, size_t *len)
{
    json_t *v;

    if (c->field != F_OTHER) {
        *len = pe->flen[c->field];
        return pe->f[c->field];
    }
    /* Synapse flattens the event's objects into dotted keys (a key may itself hold dots). */
    if (!pe->flat) {
        pe->flat = json_object();
        flatten(pe->flat, pe->event, NULL, 0);
    }
    v = json_object_get(pe->flat, c->key);
    *len = json_string_length(v);
    return json_string_value(v);
}

/* The body's words as hashes, so a display name or localpart whose first word is not among
 * them is ruled out without scanning a long body. */
static void
make_words(struct push_event *pe)
{
    const char *s = pe->f[F_BODY];
    size_t len = pe->flen[F_BODY], count = 0, i = 0;

    pe->words_done = true;
    for (size_t k = 0; k < len; k++)
        if (is_word((unsigned char)s[k]) && (k == 0 || !is_word((unsigned char)s[k - 1])))
            count++;
    for (pe->wcap = 16; pe->wcap < count * 2; pe->wcap *= 2)
        ;
    pe->words = xcalloc(pe->wcap, sizeof(*pe->words));
    while (i < len) {
        size_t start;
        uint64_t h;
        while (i < len && !is_word((unsigned char)s[i]))
            i++;
        if (i == len)
            break;
        start = i;
        while (i < len && is_word((unsigned char)s[i]))
            i++;
        h = fnv(s + start, i - start, FNV_BASIS) | 1;
        pe->wmask[h >> 62] |= 1ULL << ((h >> 56) & 63);
        for (size_t slot = h & (pe->wcap - 1);; slot = (slot + 1) & (pe->wcap - 1)) {
            if (pe->words[slot] == h)
                break;
            if (!pe->words[slot]) {
                pe->words[slot] = h;
                break;
            }
        }
    }
}

/* Bodies shorter than this are scanned directly until this many names were looked for. */
#define WORDS_MIN_BODY 256
#define WORDS_MIN_LOOKUPS 4

/* Does the body name name[0..n) (any case) between word boundaries? A scan of the body. */
static bool
body_names_scan(struct push_event *pe, const char *name, size_t n)
{
    char buf[256], *needle;
    bool found;

    if (n == 0 || !pe->f[F_BODY])
        return false;
    needle = n < sizeof(buf) ? buf : xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        needle[i] = (char)lower((unsigned char)name[i]);
    needle[n] = '\0';
    found = word_search(pe->f[F_BODY], pe->flen[F_BODY], needle, n);
    if (needle != buf)
        free(needle);
    return found;
}

/* The hash of a name's first word (lower-cased), as make_words hashes the body's words; 0
 * when the name does not start with a word character. */
static uint64_t
first_word_hash(const char *name, size_t n)
{
    uint64_t h = FNV_BASIS;
    size_t w = 0;

    for (; w < n && is_word((unsigned char)name[w]); w++) {
        h ^= lower((unsigned char)name[w]);
        h *= 0x100000001b3ULL;
    }
    return w ? h | 1 : 0;
}

/* The same answer as body_names_scan, faster when many names are looked for in one body: a
 * match starts at a word of the body equal to the name's first word (when the name starts with
 * a word character), so a name whose first word (word: its hash) is not among the body's words
 * is ruled out by one lookup, without a scan. */
static bool
body_names(struct push_event *pe, const char *name, size_t n, uint64_t word)
{
    if (n == 0 || !pe->f[F_BODY])
        return false;
    pe->name_lookups++;
    if (word && (pe->flen[F_BODY] >= WORDS_MIN_BODY || pe->name_lookups > WORDS_MIN_LOOKUPS)) {
        size_t slot;
        if (!pe->words_done)
            make_words(pe);
        for (slot = word & (pe->wcap - 1); pe->words[slot] != word;
             slot = (slot + 1) & (pe->wcap - 1))
            if (!pe->words[slot])
                return false;
    }
    return body_names_scan(pe, name, n);
}

static bool
match_uncached(struct push_event *pe, const struct cond *c)
{
    size_t len = 0;
    const char *v = value_of(pe, c, &len);

    if (!v)
        return false;
    if (c->glob)
        return glob_lower(c->pattern, v, len, c->word);
    if (c->word)
        return word_search(v, len, c->pattern, c->plen);
    return len == c->plen && memcmp(v, c->pattern, len) == 0;
}

static bool
same_match(const struct cond *a, const struct cond *b)
{
    return a == b || (a->hash == b->hash && a->field == b->field && a->word == b->word &&
                      a->plen == b->plen && strcmp(a->pattern, b->pattern) == 0 &&
                      (!a->key == !b->key) && (!a->key || strcmp(a->key, b->key) == 0));
}

/* event_match does not depend on the member: each distinct one is computed once per event. */
static bool
match(struct push_event *pe, const struct cond *c)
{
    size_t slot = c->hash & (MEMO_SLOTS - 1);
    bool r;

    for (int probe = 0; probe < MEMO_PROBES; probe++, slot = (slot + 1) & (MEMO_SLOTS - 1)) {
        struct memo *m = &pe->memo[slot];
        if (!m->c) {
            r = match_uncached(pe, c);
            m->c = c;
            m->result = r;
            return r;
        }
        if (same_match(m->c, c))
            return m->result;
    }
    return match_uncached(pe, c);
}

static bool
count_ok(const struct cond *c, int64_t n)
{
    switch (c->op) {
    case OP_EQ:
        return n == c->count;
    case OP_LT:
        return n < c->count;
    case OP_GT:
        return n > c->count;
    case OP_LE:
        return n <= c->count;
    case OP_GE:
        return n >= c->count;
    }
    return false;
}

static bool
is_user(const char *lowered, size_t len, const char *user_id)
{
    size_t i = 0;
    if (!lowered)
        return false;
    for (; i < len && user_id[i]; i++)
        if (lowered[i] != (char)lower((unsigned char)user_id[i]))
            return false;
    return i == len && !user_id[i];
}

/* Conditions that depend on the member (who is evaluated, display name). */
static bool
is_member_cond(const struct cond *c)
{
    return c->kind == C_DISPLAY_NAME || c->kind == C_SELF_STATE_KEY || c->kind == C_SELF_LOCALPART;
}

void
push_member_init(struct push_member *m, const char *user_id, const char *display_name)
{
    const char *colon = strchr(user_id, ':');

    m->user_id = user_id;
    m->display_name = display_name;
    m->name_len = display_name ? strlen(display_name) : 0;
    m->name_word = first_word_hash(display_name, m->name_len);
    /* The localpart; none (nothing to find) for a malformed ID. */
    m->local_len = colon && user_id[0] == '@' ? (size_t)(colon - user_id - 1) : 0;
    m->local_word = first_word_hash(user_id + 1, m->local_len);
    /* Each name is empty or starts with a word: the words' bits can rule both out. */
    m->prefilter = (m->name_len == 0 || m->name_word) && (m->local_len == 0 || m->local_word);
}

/* A condition that depends on the member. scan: search the body (no word index). */
static bool
member_cond_holds(struct push_event *pe, const struct cond *c, const struct push_member *m,
                  bool scan)
{
    switch (c->kind) {
    case C_DISPLAY_NAME:
        return scan ? body_names_scan(pe, m->display_name, m->name_len)
                    : body_names(pe, m->display_name, m->name_len, m->name_word);
    case C_SELF_STATE_KEY:
        return is_user(pe->f[F_STATE_KEY], pe->flen[F_STATE_KEY], m->user_id);
    case C_SELF_LOCALPART:
        return scan ? body_names_scan(pe, m->user_id + 1, m->local_len)
                    : body_names(pe, m->user_id + 1, m->local_len, m->local_word);
    default:
        return false;
    }
}

/* A condition that does not depend on the member. memo: event_match results are remembered
 * for the event. */
static bool
event_cond_holds(struct push_event *pe, const struct cond *c, bool memo)
{
    switch (c->kind) {
    case C_MATCH:
        return memo ? match(pe, c) : match_uncached(pe, c);
    case C_MEMBER_COUNT:
        return count_ok(c, pe->members);
    case C_SENDER_PERM: {
        int64_t need = 50; /* SPEC: m.room.power_levels notifications.room defaults to 50 */
        if (!level_of(json_object_get(pe->notifications, c->key), &need))
            need = 50;
        return pe->sender_level >= need;
    }
    default:
        return false;
    }
}

const struct push_result *
push_evaluate_reference(const struct push_compiled *c, struct push_event *pe, const char *user_id,
                        const char *display_name)
{
    struct push_member m;

    push_member_init(&m, user_id, display_name);
    for (size_t i = 0; i < c->n; i++) {
        const struct rule *r = &c->rules[i];
        size_t k = 0;
        while (k < r->n &&
               (is_member_cond(&r->conds[k]) ? member_cond_holds(pe, &r->conds[k], &m, true)
                                             : event_cond_holds(pe, &r->conds[k], false)))
            k++;
        if (k == r->n)
            return &r->res;
    }
    return NULL;
}

/* Fills g for c: its rules in order until the first that matches for every member. */
static void
group_fill(struct push_event *pe, struct group *g, const struct push_compiled *c)
{
    size_t cap = 0;

    g->c = c;
    g->first = c->n;
    g->names_only = true;
    for (size_t i = 0; i < c->n; i++) {
        const struct rule *r = &c->rules[i];
        size_t k = 0;
        while (k < r->n &&
               (is_member_cond(&r->conds[k]) || event_cond_holds(pe, &r->conds[k], true)))
            k++;
        if (k < r->n)
            continue;
        if (!r->per_member) {
            g->first = i;
            return;
        }
        for (k = 0; k < r->n; k++)
            if (is_member_cond(&r->conds[k]) && r->conds[k].kind == C_SELF_STATE_KEY)
                g->names_only = false;
        if (g->nlive == cap) {
            cap = cap ? 2 * cap : 4;
            g->live = xrealloc(g->live, cap * sizeof(*g->live));
        }
        g->live[g->nlive++] = i;
    }
}

static size_t
group_slot(const struct group *groups, size_t cap, const struct push_compiled *c)
{
    uint64_t h = (uint64_t)(uintptr_t)c * 0x9e3779b97f4a7c15ULL;
    size_t slot = (size_t)(h >> 32) & (cap - 1);

    while (groups[slot].c && groups[slot].c != c)
        slot = (slot + 1) & (cap - 1);
    return slot;
}

/* Might a word with this hash (0: none) be among the body's (make_words done)? */
static bool
word_bit(const struct push_event *pe, uint64_t h)
{
    return h && (pe->wmask[h >> 62] >> ((h >> 56) & 63) & 1);
}

/* The event's group for c, made on first use. */
static const struct group *
group_of(struct push_event *pe, const struct push_compiled *c)
{
    size_t slot;

    if (pe->last_c == c)
        return &pe->groups[pe->last_slot];
    if (pe->gcap) {
        slot = group_slot(pe->groups, pe->gcap, c);
        if (pe->groups[slot].c) {
            pe->last_c = c;
            pe->last_slot = slot;
            return &pe->groups[slot];
        }
    }
    if (2 * (pe->ngroups + 1) > pe->gcap) {
        size_t cap = pe->gcap ? 2 * pe->gcap : 4;
        struct group *groups = xcalloc(cap, sizeof(*groups));
        for (size_t i = 0; i < pe->gcap; i++)
            if (pe->groups[i].c)
                groups[group_slot(groups, cap, pe->groups[i].c)] = pe->groups[i];
        free(pe->groups);
        pe->groups = groups;
        pe->gcap = cap;
    }
    slot = group_slot(pe->groups, pe->gcap, c);
    group_fill(pe, &pe->groups[slot], c);
    pe->ngroups++;
    pe->last_c = c;
    pe->last_slot = slot;
    return &pe->groups[slot];
}

const struct push_result *
push_evaluate_member(const struct push_compiled *c, struct push_event *pe,
                     const struct push_member *m)
{
    const struct group *g = group_of(pe, c);

    if (g->nlive == 0)
        goto common;
    /* When the live rules only look for the member's names in the body: a member none of
     * whose names' first words is a body word (by the words' bits) is not named. */
    if (g->names_only && m->prefilter) {
        if (!pe->f[F_BODY])
            goto common;
        if (!pe->words_done)
            make_words(pe);
        if (!word_bit(pe, m->name_len ? m->name_word : 0) &&
            !word_bit(pe, m->local_len ? m->local_word : 0))
            goto common;
    }
    /* Per member, only the member conditions of the live rules are left to check. */
    for (size_t i = 0; i < g->nlive; i++) {
        const struct rule *r = &c->rules[g->live[i]];
        size_t k = 0;
        while (k < r->n &&
               (!is_member_cond(&r->conds[k]) || member_cond_holds(pe, &r->conds[k], m, false)))
            k++;
        if (k == r->n)
            return &r->res;
    }
common:
    return g->first < c->n ? &c->rules[g->first].res : NULL;
}

const struct push_result *
push_evaluate(const struct push_compiled *c, struct push_event *pe, const char *user_id,
              const char *display_name)
{
    struct push_member m;

    push_member_init(&m, user_id, display_name);
    return push_evaluate_member(c, pe, &m);
}
