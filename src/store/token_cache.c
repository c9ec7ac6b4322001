/* Access tokens resolved recently, so an authenticated request costs no query. Any write that
 * deletes tokens (logout, device deletion, login replacing a device's token, deactivation)
 * empties the cache and bumps its generation; a lookup that raced with it is not cached. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "core/util.h"
#include "store/store_internal.h"

#define TC_BUCKETS 1024
#define TC_MAX 20000

struct tc_entry {
    struct tc_entry *next;
    char hash[65];
    struct store_auth auth;
};

struct token_cache {
    pthread_mutex_t lock;
    uint64_t gen;
    size_t count;
    struct tc_entry *buckets[TC_BUCKETS];
};

static size_t
bucket(const char *hash)
{
    /* The key is already a SHA-256 in hex: a few of its characters spread well enough. */
    size_t h = 0;
    for (int i = 0; i < 8 && hash[i]; i++)
        h = h * 16 + (size_t)(hash[i] & 0x0f);
    return h % TC_BUCKETS;
}

static void
copy_auth(struct store_auth *dst, const struct store_auth *src)
{
    dst->user_id = src->user_id ? xstrdup(src->user_id) : NULL;
    dst->device_id = src->device_id ? xstrdup(src->device_id) : NULL;
    dst->is_guest = src->is_guest;
    dst->last_seen_ip = src->last_seen_ip ? xstrdup(src->last_seen_ip) : NULL;
    dst->last_seen_ts = src->last_seen_ts;
    dst->valid_until_ts = src->valid_until_ts;
    dst->last_seen_user_agent =
        src->last_seen_user_agent ? xstrdup(src->last_seen_user_agent) : NULL;
}

static void
clear_locked(struct token_cache *c)
{
    for (size_t i = 0; i < TC_BUCKETS; i++) {
        struct tc_entry *e = c->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            store_auth_clear(&e->auth);
            free(e);
        }
        c->buckets[i] = NULL;
    }
    c->count = 0;
}

struct token_cache *
st_tokens_new(void)
{
    struct token_cache *c = xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void
st_tokens_free(struct token_cache *c)
{
    if (!c)
        return;
    clear_locked(c);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

uint64_t
st_tokens_gen(struct token_cache *c)
{
    uint64_t g;
    pthread_mutex_lock(&c->lock);
    g = c->gen;
    pthread_mutex_unlock(&c->lock);
    return g;
}

/* Cache effectiveness (issue 14). */
static struct metric *m_lookups;
static pthread_once_t lookups_once = PTHREAD_ONCE_INIT;

static void
register_lookups_metric(void)
{
    m_lookups =
        metrics_counter("hearth_cache_lookups_total",
                        "Cache lookups, by cache and result (hit or miss).", "cache,result");
}

bool
st_tokens_get(struct token_cache *c, const char *hash, struct store_auth *out)
{
    bool found = false;
    pthread_mutex_lock(&c->lock);
    for (struct tc_entry *e = c->buckets[bucket(hash)]; e && !found; e = e->next) {
        if (strcmp(e->hash, hash) == 0) {
            copy_auth(out, &e->auth);
            found = true;
        }
    }
    pthread_mutex_unlock(&c->lock);
    pthread_once(&lookups_once, register_lookups_metric);
    metrics_inc(m_lookups, (const char *[]){"access_token", found ? "hit" : "miss"}, 1);
    return found;
}

void
st_tokens_put(struct token_cache *c, const char *hash, const struct store_auth *a, uint64_t gen)
{
    struct tc_entry *e;

    if (strlen(hash) >= sizeof(((struct tc_entry *)0)->hash))
        return;
    pthread_mutex_lock(&c->lock);
    if (gen != c->gen) { /* a deletion happened meanwhile: the answer may be stale */
        pthread_mutex_unlock(&c->lock);
        return;
    }
    if (c->count >= TC_MAX)
        clear_locked(c);
    e = xcalloc(1, sizeof(*e));
    snprintf(e->hash, sizeof(e->hash), "%s", hash);
    copy_auth(&e->auth, a);
    e->next = c->buckets[bucket(hash)];
    c->buckets[bucket(hash)] = e;
    c->count++;
    pthread_mutex_unlock(&c->lock);
}

void
st_tokens_invalidate(struct token_cache *c)
{
    pthread_mutex_lock(&c->lock);
    c->gen++;
    clear_locked(c);
    pthread_mutex_unlock(&c->lock);
}

void
st_tokens_touch(struct token_cache *c, const char *user_id, const char *device_id, const char *ip,
                const char *user_agent, int64_t now)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < TC_BUCKETS; i++) {
        for (struct tc_entry *e = c->buckets[i]; e; e = e->next) {
            if (!e->auth.user_id || !e->auth.device_id || strcmp(e->auth.user_id, user_id) != 0 ||
                strcmp(e->auth.device_id, device_id) != 0)
                continue;
            free(e->auth.last_seen_ip);
            free(e->auth.last_seen_user_agent);
            e->auth.last_seen_ip = ip ? xstrdup(ip) : NULL;
            e->auth.last_seen_user_agent = user_agent ? xstrdup(user_agent) : NULL;
            e->auth.last_seen_ts = now;
        }
    }
    pthread_mutex_unlock(&c->lock);
}
