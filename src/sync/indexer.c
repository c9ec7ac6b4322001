#include "sync/indexer.h"

#include <stdint.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store.h"
#include "sync/timer.h"

/* Why 100 ms: a sequential send takes about a millisecond, so a catch-up serves dozens of
 * them with one FTS5 segment, and a search arriving meanwhile has at most this much traffic to
 * index itself before it answers. After a failure, the next try is a second later. */
#define SEARCH_INDEXER_DELAY_MS 100
#define SEARCH_INDEXER_RETRY_MS 1000

struct search_indexer {
    struct store *st;
    struct timer *timer;
};

/* One batch per run, so that stopping waits for one batch at most; a long backlog (after a
 * restart) goes on at once. */
static int64_t
run(void *arg, int64_t now_ms)
{
    struct search_indexer *si = arg;
    bool current = false;

    if (store_search_catch_up(si->st, 1, &current) != STORE_OK) {
        log_warn("search: indexing new events failed; trying again");
        return now_ms + SEARCH_INDEXER_RETRY_MS;
    }
    return current ? INT64_MAX : now_ms;
}

struct search_indexer *
search_indexer_new(struct store *st)
{
    struct search_indexer *si = xcalloc(1, sizeof(*si));

    si->st = st;
    si->timer = timer_new(run, si);
    timer_at(si->timer, util_now_ms());
    return si;
}

void
search_indexer_kick(struct search_indexer *si)
{
    if (si)
        timer_at(si->timer, util_now_ms() + SEARCH_INDEXER_DELAY_MS);
}

void
search_indexer_free(struct search_indexer *si)
{
    if (!si)
        return;
    timer_free(si->timer);
    free(si);
}
