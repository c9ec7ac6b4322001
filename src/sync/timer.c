#include "sync/timer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "core/util.h"

struct timer {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    timer_fn fn;
    void *arg;
    int64_t next; /* INT64_MAX: nothing scheduled */
    bool stopping;
};

static void *
timer_main(void *arg)
{
    struct timer *t = arg;

    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        int64_t now = util_now_ms();
        if (t->next <= now) {
            int64_t next;
            t->next = INT64_MAX;
            pthread_mutex_unlock(&t->lock);
            next = t->fn(t->arg, now);
            pthread_mutex_lock(&t->lock);
            if (next < t->next)
                t->next = next;
        } else if (t->next == INT64_MAX) {
            pthread_cond_wait(&t->cond, &t->lock);
        } else {
            struct timespec ts = {t->next / 1000, (t->next % 1000) * 1000000};
            pthread_cond_timedwait(&t->cond, &t->lock, &ts);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

struct timer *
timer_new(timer_fn fn, void *arg)
{
    struct timer *t = xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    t->fn = fn;
    t->arg = arg;
    t->next = INT64_MAX;
    if (pthread_create(&t->thread, NULL, timer_main, t) != 0)
        abort();
    return t;
}

void
timer_at(struct timer *t, int64_t when_ms)
{
    pthread_mutex_lock(&t->lock);
    if (when_ms < t->next) {
        t->next = when_ms;
        pthread_cond_signal(&t->cond);
    }
    pthread_mutex_unlock(&t->lock);
}

void
timer_free(struct timer *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
