/* Deferred search indexing (issue 3, send speed): brings the search index up to date in the
 * background, in batches, so that the backlog a search must index first stays small. Sends
 * kick it; it indexes what was committed SEARCH_INDEXER_DELAY_MS after the first kick, so one
 * catch-up transaction (one FTS5 segment) serves every event sent meanwhile. */
#ifndef HEARTH_SYNC_INDEXER_H
#define HEARTH_SYNC_INDEXER_H

struct store;
struct search_indexer;

/* Starts the indexer's thread (the store is borrowed until search_indexer_free) and has it
 * index what a previous run left behind. */
struct search_indexer *search_indexer_new(struct store *st);
/* New events were committed: index them soon. */
void search_indexer_kick(struct search_indexer *si);
/* Stops the thread (what is not indexed yet is indexed after the next start). */
void search_indexer_free(struct search_indexer *si);

#endif
