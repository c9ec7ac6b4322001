#include "http/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* Open hashing; a bucket back at full capacity is worth nothing and is dropped when the table
 * is swept, so memory follows the number of recently active keys. */
struct bucket {
    struct bucket *next;
    double tokens;
    int64_t updated_ms;
    char key[];
};

#define NSLOTS 4096

struct ratelimit {
    double per_second, burst;
    pthread_mutex_t lock;
    size_t count, sweep_at;
    struct bucket *slots[NSLOTS];
};

struct ratelimit *
ratelimit_new(double per_second, double burst)
{
    struct ratelimit *rl = xcalloc(1, sizeof(*rl));
    rl->per_second = per_second;
    rl->burst = burst;
    rl->sweep_at = 1024;
    pthread_mutex_init(&rl->lock, NULL);
    return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < NSLOTS; i++) {
        struct bucket *b = rl->slots[i], *next;
        for (; b; b = next) {
            next = b->next;
            free(b);
        }
    }
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

static size_t
hash(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h % NSLOTS;
}

static void
refill(struct ratelimit *rl, struct bucket *b, int64_t now)
{
    if (now > b->updated_ms) {
        b->tokens += (double)(now - b->updated_ms) / 1000.0 * rl->per_second;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
        b->updated_ms = now;
    }
}

static void
sweep(struct ratelimit *rl, int64_t now)
{
    for (size_t i = 0; i < NSLOTS; i++) {
        struct bucket **pp = &rl->slots[i];
        while (*pp) {
            struct bucket *b = *pp;
            refill(rl, b, now);
            if (b->tokens >= rl->burst) {
                *pp = b->next;
                free(b);
                rl->count--;
            } else {
                pp = &b->next;
            }
        }
    }
    rl->sweep_at = rl->count * 2 > 1024 ? rl->count * 2 : 1024;
}

static struct bucket *
lookup(struct ratelimit *rl, const char *key, int64_t now)
{
    size_t slot = hash(key);
    struct bucket *b;

    for (b = rl->slots[slot]; b; b = b->next) {
        if (strcmp(b->key, key) == 0) {
            refill(rl, b, now);
            return b;
        }
    }
    if (rl->count >= rl->sweep_at)
        sweep(rl, now);
    size_t klen = strlen(key);
    b = xmalloc(sizeof(*b) + klen + 1);
    memcpy(b->key, key, klen + 1);
    b->tokens = rl->burst;
    b->updated_ms = now;
    b->next = rl->slots[slot];
    rl->slots[slot] = b;
    rl->count++;
    return b;
}

static bool
unlimited(const struct ratelimit *rl)
{
    return rl->per_second <= 0 && rl->burst <= 0;
}

bool
ratelimit_check(struct ratelimit *rl, const char *key, int64_t now_ms, bool take,
                int64_t *retry_after_ms)
{
    bool ok;

    *retry_after_ms = 0;
    if (unlimited(rl))
        return true;
    pthread_mutex_lock(&rl->lock);
    struct bucket *b = lookup(rl, key, now_ms);
    /* The epsilon absorbs the rounding of many small refills. */
    ok = b->tokens >= 1.0 - 1e-9;
    if (ok && take)
        b->tokens -= 1.0;
    if (!ok) {
        double wait = rl->per_second > 0 ? (1.0 - b->tokens) / rl->per_second * 1000.0 : 1e9;
        *retry_after_ms = (int64_t)ceil(wait);
    }
    pthread_mutex_unlock(&rl->lock);
    return ok;
}

void
ratelimit_record(struct ratelimit *rl, const char *key, int64_t now_ms)
{
    if (unlimited(rl))
        return;
    pthread_mutex_lock(&rl->lock);
    struct bucket *b = lookup(rl, key, now_ms);
    b->tokens -= 1.0;
    if (b->tokens < 0)
        b->tokens = 0;
    pthread_mutex_unlock(&rl->lock);
}
