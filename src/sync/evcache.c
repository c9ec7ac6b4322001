/* The formatted-event memo (evcache.h): set-associative, WAYS entries per set, each event
 * with two candidate sets (two hashes), the least recently used of their entries replaced;
 * sets are locked in stripes. Two choices let a cache fill to most of its size before sets
 * overflow (issue 12: with one 4-way set per event, 3,200 events thrashed 4,096 entries and
 * the cache had to be sized for twice its working set). Lookups copy nothing: they hand
 * out a reference to the shared object (jansson's reference counts are atomic here). */
#include "sync/evcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "room/event.h"

#define WAYS 8
#define STRIPES 64

struct slot {
    char *event_id; /* NULL: empty */
    uint64_t sum;   /* of the stored unsigned text and JSON length it was made from */
    json_t *client; /* client format without "unsigned" */
    char *text;     /* its compact dump */
    size_t text_len;
    uint64_t used; /* tick of the last use */
};

struct evcache {
    size_t nsets;
    struct slot *slots; /* nsets * WAYS */
    pthread_mutex_t locks[STRIPES];
    _Atomic uint64_t tick;
};

static uint64_t
fnv(uint64_t h, const char *s)
{
    if (!s)
        return (h ^ 0xffu) * 1099511628211ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    /* the terminator too, so "ab"+"c" and "a"+"bc" differ */
    return (h ^ 0u) * 1099511628211ULL;
}

#define FNV_BASIS 14695981039346656037ULL

struct evcache *
evcache_new(size_t entries)
{
    struct evcache *c = xcalloc(1, sizeof(*c));

    c->nsets = entries / WAYS + 1;
    c->slots = xcalloc(c->nsets * WAYS, sizeof(*c->slots));
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    return c;
}

static void
slot_clear(struct slot *s)
{
    free(s->event_id);
    json_decref(s->client);
    free(s->text);
    memset(s, 0, sizeof(*s));
}

void
evcache_free(struct evcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsets * WAYS; i++)
        slot_clear(&c->slots[i]);
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&c->locks[i]);
    free(c->slots);
    free(c);
}

/* The two sets an event may be in (the same one twice only when there is a single set),
 * and their locks taken in address order. */
struct where {
    struct slot *ways[2];
    pthread_mutex_t *lock[2];
    size_t nways; /* 1 or 2 */
};

static void
where_lock(struct evcache *c, const char *event_id, struct where *w)
{
    uint64_t h = fnv(FNV_BASIS, event_id);
    size_t a = (size_t)(h % c->nsets), b = (size_t)((h >> 32) * 2654435761u % c->nsets);

    if (b == a)
        b = (a + 1) % c->nsets;
    w->ways[0] = &c->slots[a * WAYS];
    w->ways[1] = &c->slots[b * WAYS];
    w->nways = a == b ? 1 : 2;
    w->lock[0] = &c->locks[a % STRIPES];
    w->lock[1] = &c->locks[b % STRIPES];
    if (w->lock[1] < w->lock[0]) {
        pthread_mutex_t *t = w->lock[0];
        w->lock[0] = w->lock[1];
        w->lock[1] = t;
    }
    pthread_mutex_lock(w->lock[0]);
    if (w->lock[1] != w->lock[0])
        pthread_mutex_lock(w->lock[1]);
}

static void
where_unlock(const struct where *w)
{
    if (w->lock[1] != w->lock[0])
        pthread_mutex_unlock(w->lock[1]);
    pthread_mutex_unlock(w->lock[0]);
}

/* The i-th of the 2 * WAYS candidate entries. */
static struct slot *
where_slot(const struct where *w, size_t i)
{
    return i / WAYS < w->nways ? &w->ways[i / WAYS][i % WAYS] : NULL;
}

/* Where a new entry goes: the entry another thread made meanwhile, else a free one in the
 * emptier set (the two-choice rule that keeps sets from overflowing), else the least
 * recently used. Locked. */
static struct slot *
choose_victim(const struct where *w, const char *event_id)
{
    struct slot *lru = NULL, *sl, *free_in[2] = {NULL, NULL};
    size_t nfree[2] = {0, 0};

    for (size_t i = 0; (sl = where_slot(w, i)); i++) {
        if (!sl->event_id) {
            if (!free_in[i / WAYS])
                free_in[i / WAYS] = sl;
            nfree[i / WAYS]++;
        } else if (strcmp(sl->event_id, event_id) == 0) {
            return sl;
        } else if (!lru || sl->used < lru->used) {
            lru = sl;
        }
    }
    if (nfree[0] || nfree[1])
        return nfree[1] > nfree[0] ? free_in[1] : free_in[0];
    return lru;
}

json_t *
evcache_client(struct evcache *c, const struct store_event *e)
{
    struct where w;
    struct slot *victim = NULL, fresh = {0}, *sl;
    uint64_t sum;
    json_t *ev, *out = NULL;

    if (!c || e->redacted_by || !e->event_id || !e->json)
        return NULL;
    /* An event's stored JSON never changes (a redaction only sets redacted_by, and redacted
     * events are not cached); its length is checked anyway, the unsigned text hashed. */
    sum = fnv(FNV_BASIS, e->unsigned_json) ^ (uint64_t)strlen(e->json);
    where_lock(c, e->event_id, &w);
    for (size_t i = 0; (sl = where_slot(&w, i)) && !out; i++)
        if (sl->event_id && sl->sum == sum && strcmp(sl->event_id, e->event_id) == 0) {
            sl->used = atomic_fetch_add(&c->tick, 1);
            out = json_incref(sl->client);
        }
    where_unlock(&w);
    if (out)
        return out;

    /* A miss: format outside the lock. */
    if (!(ev = json_loads(e->json, 0, NULL)))
        return NULL;
    fresh.client = event_client_format(ev, e->event_id);
    json_decref(ev);
    json_object_del(fresh.client, "unsigned");
    fresh.text = json_dumps(fresh.client, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!fresh.text) {
        json_decref(fresh.client);
        return NULL;
    }
    fresh.text_len = strlen(fresh.text);
    fresh.event_id = xstrdup(e->event_id);
    fresh.sum = sum;
    out = json_incref(fresh.client);

    where_lock(c, e->event_id, &w);
    victim = choose_victim(&w, e->event_id);
    slot_clear(victim);
    *victim = fresh;
    victim->used = atomic_fetch_add(&c->tick, 1);
    where_unlock(&w);
    return out;
}

/* Is ev the cached object plus only "unsigned", value for value? */
static bool
same_as_cached(const json_t *cached, const json_t *ev)
{
    const char *key;
    json_t *value;
    void *ic, *ie;

    if (!json_is_object(ev) || json_object_size(ev) != json_object_size(cached) + 1)
        return false;
    /* sync speed (issue 4): a shallow copy keeps the keys in the cached object's order
     * (jansson iterates in insertion order) with "unsigned" added last; checked in step,
     * without hashing every key. Anything else takes the lookups below. */
    ic = json_object_iter((json_t *)cached);
    ie = json_object_iter((json_t *)ev);
    while (ic && ie && json_object_iter_value(ic) == json_object_iter_value(ie) &&
           strcmp(json_object_iter_key(ic), json_object_iter_key(ie)) == 0) {
        ic = json_object_iter_next((json_t *)cached, ic);
        ie = json_object_iter_next((json_t *)ev, ie);
    }
    if (!ic && ie && strcmp(json_object_iter_key(ie), "unsigned") == 0 &&
        !json_object_iter_next((json_t *)ev, ie))
        return true;
    if (!json_object_get(ev, "unsigned"))
        return false;
    json_object_foreach((json_t *)cached, key, value)
    {
        if (json_object_get(ev, key) != value)
            return false;
    }
    return true;
}

bool
evcache_append_text(struct evcache *c, const char *event_id, const json_t *ev, char **buf,
                    size_t *len, size_t *cap)
{
    struct where w;
    struct slot *sl;
    bool done = false;

    if (!c || !event_id)
        return false;
    where_lock(c, event_id, &w);
    for (size_t i = 0; (sl = where_slot(&w, i)) && !done; i++) {
        size_t n;
        if (!sl->event_id || sl->text_len < 3 || strcmp(sl->event_id, event_id) != 0 ||
            !same_as_cached(sl->client, ev))
            continue;
        /* the text ends with the object's closing brace, which the caller writes */
        n = sl->text_len - 1;
        if (*len + n + 1 > *cap) {
            /* room for the caller's few more bytes (unsigned), not a page per event */
            *cap = *len + n + 64;
            *buf = xrealloc(*buf, *cap);
        }
        memcpy(*buf + *len, sl->text, n);
        *len += n;
        (*buf)[*len] = '\0';
        done = true;
    }
    where_unlock(&w);
    return done;
}
