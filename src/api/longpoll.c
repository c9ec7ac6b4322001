#include "api/longpoll.h"

#include <stdlib.h>

#include "api/hs.h"
#include "core/util.h"
#include "http/http.h"
#include "sync/notifier.h"

/* What survives between the calls of a suspended request. */
struct longpoll {
    struct notifier *notifier;
    struct waiter waiter;
    char *key;
    int64_t deadline_ms;
    bool waiting;
};

static void
longpoll_free(void *arg)
{
    struct longpoll *lp = arg;
    if (lp->waiting)
        notifier_cancel(lp->notifier, &lp->waiter);
    free(lp->key);
    free(lp);
}

static void
wake(void *arg)
{
    req_resume(arg);
}

uint64_t
longpoll_begin(struct req *r)
{
    struct longpoll *lp = r->ctx;
    if (lp && lp->waiting) {
        notifier_cancel(lp->notifier, &lp->waiter);
        lp->waiting = false;
    }
    /* sync memory (issue 4): what a parked request keeps is allocated before the handler's
     * short-lived work, not after it, where it would pin that work's freed memory in the
     * heap (1,000 long-polls parking at once held ~2.5 times their own size). */
    if (!lp) {
        lp = xcalloc(1, sizeof(*lp));
        lp->notifier = r->hs->notifier;
        r->ctx = lp;
        r->ctx_free = longpoll_free;
    }
    return notifier_seq(r->hs->notifier);
}

bool
longpoll_suspend(struct req *r, const char *key, int64_t timeout_ms, uint64_t seq)
{
    struct longpoll *lp = r->ctx;

    if (timeout_ms <= 0 || notifier_stopping(r->hs->notifier))
        return false;
    if (!lp) {
        lp = xcalloc(1, sizeof(*lp));
        lp->notifier = r->hs->notifier;
        r->ctx = lp;
        r->ctx_free = longpoll_free;
    }
    if (!lp->key) { /* the first suspension */
        lp->deadline_ms = util_now_ms() + timeout_ms;
        lp->key = xstrdup(key);
    }
    if (util_now_ms() >= lp->deadline_ms)
        return false;
    lp->waiter =
        (struct waiter){.user_id = lp->key, .deadline_ms = lp->deadline_ms, .wake = wake, .arg = r};
    req_suspend(r);
    lp->waiting = true;
    notifier_wait(r->hs->notifier, &lp->waiter, seq);
    return true;
}
