/* The formatted-event memo (evcache.h): set-associative, WAYS entries per set, the least
 * recently used one replaced; sets are locked in stripes. Lookups copy nothing: they hand
 * out a reference to the shared object (jansson's reference counts are atomic here). */
#include "sync/evcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "room/event.h"

#define WAYS 4
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

static size_t
set_of(const struct evcache *c, const char *event_id)
{
    return (size_t)(fnv(FNV_BASIS, event_id) % c->nsets);
}

json_t *
evcache_client(struct evcache *c, const struct store_event *e)
{
    size_t set;
    pthread_mutex_t *lock;
    struct slot *ways, *victim = NULL, fresh = {0};
    uint64_t sum;
    json_t *ev, *out = NULL;

    if (!c || e->redacted_by || !e->event_id || !e->json)
        return NULL;
    /* An event's stored JSON never changes (a redaction only sets redacted_by, and redacted
     * events are not cached); its length is checked anyway, the unsigned text hashed. */
    sum = fnv(FNV_BASIS, e->unsigned_json) ^ (uint64_t)strlen(e->json);
    set = set_of(c, e->event_id);
    lock = &c->locks[set % STRIPES];
    ways = &c->slots[set * WAYS];
    pthread_mutex_lock(lock);
    for (size_t i = 0; i < WAYS && !out; i++)
        if (ways[i].event_id && ways[i].sum == sum && strcmp(ways[i].event_id, e->event_id) == 0) {
            ways[i].used = atomic_fetch_add(&c->tick, 1);
            out = json_incref(ways[i].client);
        }
    pthread_mutex_unlock(lock);
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

    pthread_mutex_lock(lock);
    for (size_t i = 0; i < WAYS; i++) {
        /* Another thread may have made the same entry meanwhile: replace it. */
        if (!ways[i].event_id || strcmp(ways[i].event_id, e->event_id) == 0) {
            victim = &ways[i];
            break;
        }
        if (!victim || ways[i].used < victim->used)
            victim = &ways[i];
    }
    slot_clear(victim);
    *victim = fresh;
    victim->used = atomic_fetch_add(&c->tick, 1);
    pthread_mutex_unlock(lock);
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
    size_t set;
    pthread_mutex_t *lock;
    struct slot *ways;
    bool done = false;

    if (!c || !event_id)
        return false;
    set = set_of(c, event_id);
    lock = &c->locks[set % STRIPES];
    ways = &c->slots[set * WAYS];
    pthread_mutex_lock(lock);
    for (size_t i = 0; i < WAYS && !done; i++) {
        struct slot *s = &ways[i];
        size_t n;
        if (!s->event_id || s->text_len < 3 || strcmp(s->event_id, event_id) != 0 ||
            !same_as_cached(s->client, ev))
            continue;
        /* the text ends with the object's closing brace, which the caller writes */
        n = s->text_len - 1;
        if (*len + n + 1 > *cap) {
            /* room for the caller's few more bytes (unsigned), not a page per event */
            *cap = *len + n + 64;
            *buf = xrealloc(*buf, *cap);
        }
        memcpy(*buf + *len, s->text, n);
        *len += n;
        (*buf)[*len] = '\0';
        done = true;
    }
    pthread_mutex_unlock(lock);
    return done;
}
