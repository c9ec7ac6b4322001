#include "sync/notifier.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

#define NBUCKETS 1024

struct notifier {
    pthread_mutex_t lock;
    pthread_cond_t timer_cond;
    pthread_t timer;
    bool stopping;
    uint64_t seq;
    size_t waiting; /* waiters linked in the buckets (the metrics' sync waiters; issue 14) */
    struct waiter *buckets[NBUCKETS];
};

size_t
notifier_user_hash(const char *user_id)
{
    size_t h = 5381;
    for (const char *p = user_id; *p; p++)
        h = h * 33 + (unsigned char)*p;
    return h;
}

static size_t
bucket(const char *user_id)
{
    return notifier_user_hash(user_id) % NBUCKETS;
}

/* Called with the lock held: unlinks w and calls its wake function. */
static void
fire(struct notifier *n, struct waiter **pp)
{
    struct waiter *w = *pp;
    *pp = w->next;
    n->waiting--;
    w->fired = true;
    w->wake(w->arg);
}

static void *
timer_main(void *arg)
{
    struct notifier *n = arg;

    pthread_mutex_lock(&n->lock);
    while (!n->stopping) {
        int64_t now = util_now_ms(), next = now + 60000;
        for (size_t i = 0; i < NBUCKETS; i++) {
            struct waiter **pp = &n->buckets[i];
            while (*pp) {
                if ((*pp)->deadline_ms <= now) {
                    fire(n, pp);
                } else {
                    if ((*pp)->deadline_ms < next)
                        next = (*pp)->deadline_ms;
                    pp = &(*pp)->next;
                }
            }
        }
        struct timespec ts = {next / 1000, (next % 1000) * 1000000};
        pthread_cond_timedwait(&n->timer_cond, &n->lock, &ts);
    }
    pthread_mutex_unlock(&n->lock);
    return NULL;
}

struct notifier *
notifier_new(void)
{
    struct notifier *n = xcalloc(1, sizeof(*n));
    pthread_mutex_init(&n->lock, NULL);
    pthread_cond_init(&n->timer_cond, NULL);
    if (pthread_create(&n->timer, NULL, timer_main, n) != 0)
        abort();
    return n;
}

void
notifier_free(struct notifier *n)
{
    if (!n)
        return;
    notifier_shutdown(n);
    pthread_mutex_lock(&n->lock);
    pthread_cond_signal(&n->timer_cond);
    pthread_mutex_unlock(&n->lock);
    pthread_join(n->timer, NULL);
    pthread_cond_destroy(&n->timer_cond);
    pthread_mutex_destroy(&n->lock);
    free(n);
}

uint64_t
notifier_seq(struct notifier *n)
{
    uint64_t s;
    pthread_mutex_lock(&n->lock);
    s = n->seq;
    pthread_mutex_unlock(&n->lock);
    return s;
}

void
notifier_wait(struct notifier *n, struct waiter *w, uint64_t seen)
{
    pthread_mutex_lock(&n->lock);
    w->fired = false;
    if (n->seq != seen || n->stopping) {
        /* Something happened since the caller looked: no need to wait. */
        w->fired = true;
        w->wake(w->arg);
    } else {
        size_t b = bucket(w->user_id);
        w->next = n->buckets[b];
        n->buckets[b] = w;
        n->waiting++;
        /* The timer may need to wake earlier than it planned. */
        pthread_cond_signal(&n->timer_cond);
    }
    pthread_mutex_unlock(&n->lock);
}

bool
notifier_cancel(struct notifier *n, struct waiter *w)
{
    bool fired;
    pthread_mutex_lock(&n->lock);
    fired = w->fired;
    if (!fired) {
        for (struct waiter **pp = &n->buckets[bucket(w->user_id)]; *pp; pp = &(*pp)->next) {
            if (*pp == w) {
                *pp = w->next;
                n->waiting--;
                break;
            }
        }
        w->fired = true;
    }
    pthread_mutex_unlock(&n->lock);
    return fired;
}

void
notifier_notify(struct notifier *n, const char *const *user_ids, size_t count)
{
    notifier_notify_hashed(n, user_ids, NULL, count);
}

void
notifier_notify_hashed(struct notifier *n, const char *const *user_ids, const size_t *hashes,
                       size_t count)
{
    pthread_mutex_lock(&n->lock);
    n->seq++;
    /* Most users of a big room have no parked /sync: with no waiter at all, or with the
     * hashes known, a user costs a bucket look at most. */
    for (size_t i = 0; i < count && n->waiting; i++) {
        size_t h = hashes ? hashes[i] : notifier_user_hash(user_ids[i]);
        struct waiter **pp = &n->buckets[h % NBUCKETS];
        while (*pp) {
            if (strcmp((*pp)->user_id, user_ids[i]) == 0)
                fire(n, pp);
            else
                pp = &(*pp)->next;
        }
    }
    pthread_mutex_unlock(&n->lock);
}

void
notifier_wake_all(struct notifier *n)
{
    pthread_mutex_lock(&n->lock);
    n->seq++;
    for (size_t i = 0; i < NBUCKETS; i++)
        while (n->buckets[i])
            fire(n, &n->buckets[i]);
    pthread_mutex_unlock(&n->lock);
}

void
notifier_shutdown(struct notifier *n)
{
    pthread_mutex_lock(&n->lock);
    n->stopping = true;
    pthread_mutex_unlock(&n->lock);
    notifier_wake_all(n);
}

size_t
notifier_waiting(struct notifier *n)
{
    size_t w;
    pthread_mutex_lock(&n->lock);
    w = n->waiting;
    pthread_mutex_unlock(&n->lock);
    return w;
}

bool
notifier_stopping(struct notifier *n)
{
    bool s;
    pthread_mutex_lock(&n->lock);
    s = n->stopping;
    pthread_mutex_unlock(&n->lock);
    return s;
}
