/* Shared plumbing of the store's implementation files; not for callers of store.h. */
#ifndef HEARTH_STORE_STORE_INTERNAL_H
#define HEARTH_STORE_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/db.h"
#include "store/store.h"

struct store {
    const struct db_driver *drv;
    char *target;
    struct db *writer; /* used only by the leader of a write batch */
    pthread_mutex_t qlock;
    pthread_cond_t qcond; /* the leader waits here for a held job's release */
    struct st_job *qhead, *qtail;
    bool leading;
    /* Jobs whose owners do not wait (on_done) are led by this thread, started at the first. */
    pthread_t wthread;
    pthread_cond_t wcond;
    bool wstarted, wstop;
    /* Search (issue 9): rooms' index numbers, writer-side only (the leader's), emptied by
     * any rollback since a number made in a rolled-back job is not stored. */
    struct st_nid_slot {
        char *room_id;
        int64_t nid;
    } nids[8192];  /* direct-mapped: PostgreSQL pays a writer round trip per miss */
    bool nid_made; /* a number was made since the last forgetting (only those can be undone) */
    /* Deferred search indexing (issue 3): every event at or below this position is indexed
     * (as committed; the stored mark is counters 'search_indexed', which may lag it over
     * positions with nothing to index). */
    _Atomic int64_t search_indexed;
    /* Event stream positions live in memory: the leader hands them out (stream_next), and
     * readers see only committed ones (stream_committed). At start both are the highest
     * position stored, so a crash can leave gaps but never reuse a position. */
    int64_t stream_next;
    /* With drv->stream_pos_block_sql: positions taken and not handed out yet. A transaction
     * that does not commit drops them: the sequence's advance is durable only with a commit,
     * and after a crash of PostgreSQL it could hand them out again. */
    int64_t pos_block[64];
    size_t pos_used, pos_n;
    _Atomic int64_t stream_committed;
    struct token_cache *tokens;   /* token_cache.c */
    _Atomic uint64_t pushers_gen; /* push (issue 8): bumped when pushers may have changed */
    pthread_mutex_t plock;
    pthread_cond_t pcond;
    struct db **pool;
    size_t npool, cappool;
    size_t nopen;    /* reader connections open (pooled or lent out) */
    size_t pool_max; /* 0: unbounded (SQLite); PostgreSQL: cp_max */
    /* Admin API erasure (issue 14): the count of erased accounts (-1: unknown) at generation
     * erased_gen (bumped after each change), under elock; lets store_user_is_erased skip the
     * lookup on servers where nobody was ever erased. */
    pthread_mutex_t elock;
    uint64_t erased_gen;
    int64_t erased_count;
};

/* A typed query argument. Build lists with ST_ARGS(ST_S(text), ST_I(number), ST_B(flag)):
 * the compiler then checks each value's type, which a format string could not. */
struct st_arg {
    char kind; /* 's', 'i' */
    const char *s;
    int64_t i;
};

static inline struct st_arg
st_arg_s(const char *s)
{
    return (struct st_arg){'s', s, 0};
}

static inline struct st_arg
st_arg_i(int64_t i)
{
    return (struct st_arg){'i', NULL, i};
}

#define ST_S(x) st_arg_s(x)
#define ST_I(x) st_arg_i(x)
#define ST_B(x) st_arg_i((x) ? 1 : 0)
#define ST_ARGS(...)                                                                               \
    (const struct st_arg[]){__VA_ARGS__},                                                          \
        sizeof((const struct st_arg[]){__VA_ARGS__}) / sizeof(struct st_arg)
#define ST_NOARGS NULL, 0

/* A reader connection from the pool (opened on demand); NULL on failure. */
struct db *st_reader_get(struct store *st);
void st_reader_put(struct store *st, struct db *db);
/* Prepares sql and binds the n arguments (ST_ARGS(...) gives both). */
enum db_rc st_prep(struct store *st, struct db *db, struct db_stmt **out, const char *sql,
                   const struct st_arg *args, size_t n);
/* Runs a statement that returns no rows. */
enum db_rc st_run(struct store *st, struct db *db, const char *sql, const struct st_arg *args,
                  size_t n);
/* In a write job, a statement whose outcome matters only as the job's (no rows, no changes
 * count, a failure fails the job): with a pipelining driver it is sent without waiting, and
 * its failure shows when the writer waits at the job's end (db.h: defer); otherwise st_run. */
enum db_rc st_defer(struct store *st, const char *sql, const struct st_arg *args, size_t n);
enum store_rc st_rc(enum db_rc rc);
/* ---- writes: group commit ----
 * Every write runs as a job inside the writer's transaction. Jobs that arrive while a commit
 * is in progress wait, and the next leader (one of the waiting callers) runs them all in one
 * transaction with one fsync: concurrent requests share the cost of durability. Each job runs
 * in its own SAVEPOINT, so one job's failure does not undo the others. */
/* A job runs in the batch leader's thread on st->writer; it must not call st_write itself
 * (the leader would wait for its own batch). */
typedef enum store_rc (*st_write_fn)(struct store *st, void *ctx);

struct st_job {
    st_write_fn fn;
    void *ctx;
    enum store_rc rc;
    bool done;
    struct st_job *next;
    /* Held: queued (its place in the commit order is kept) but not ready to run; the leader
     * waits for st_job_release. Set before st_job_submit. */
    bool held, aborted;
    /* Its owner sleeps here until the job is done or the owner is asked to lead: one wake-up
     * per job, not one for every waiting thread per commit. */
    pthread_cond_t cv;
    /* An owner that does not wait: called by the leader once the job is done, instead. */
    void (*on_done)(void *arg);
    void *on_done_arg;
};
/* Releases a held job (or, for one not held, waits for it without waiting in this thread).
 * If it is done already, or nobody is writing (then it leads its batch at once, as a waiting
 * owner would), returns true. Otherwise calls suspend(arg), has done(arg) called (by the writer
 * thread or another leader) once the job is done, and returns false. */
bool st_job_release_or_lead(struct store *st, struct st_job *job, bool ok, void (*suspend)(void *),
                            void (*done)(void *), void *arg);
/* Stops the writer thread (store_close), once the jobs queued are done. */
void st_writer_stop(struct store *st);

/* Queues a job (owned by the caller, alive until st_job_wait returns). */
void st_job_submit(struct store *st, struct st_job *job);
/* Returns once the job's transaction is committed (or failed), leading a batch if nobody is. */
enum store_rc st_job_wait(struct store *st, struct st_job *job);
/* Makes a held job ready (ok) or failed (!ok, it returns STORE_ERR without running). The
 * owner must release it before waiting on it, and must not write in between. */
void st_job_release(struct store *st, struct st_job *job, bool ok);
/* Forgets the search index numbers cached on the writer (after a rollback; at close). */
void st_search_forget_nids(struct store *st);
/* Reads the stored search mark into st->search_indexed (at open). */
enum store_rc st_search_load_mark(struct store *st);
/* Submit and wait. */
enum store_rc st_write(struct store *st, st_write_fn fn, void *ctx);

/* A write made of plain statements run in order; the first failure stops it. */
enum st_step_flags {
    ST_NEED_CHANGE = 1, /* no row changed: STORE_NOT_FOUND */
};
struct st_step {
    const char *sql;
    const struct st_arg *args;
    size_t nargs;
    unsigned flags;
};
#define ST_STEP(sql, ...)                                                                          \
    {                                                                                              \
        (sql), ST_ARGS(__VA_ARGS__), 0                                                             \
    }
#define ST_STEP_CHANGED(sql, ...)                                                                  \
    {                                                                                              \
        (sql), ST_ARGS(__VA_ARGS__), ST_NEED_CHANGE                                                \
    }
enum store_rc st_write_steps(struct store *st, const struct st_step *steps, size_t n);
#define ST_WRITE(st, ...)                                                                          \
    st_write_steps((st), (const struct st_step[]){__VA_ARGS__},                                    \
                   sizeof((const struct st_step[]){__VA_ARGS__}) / sizeof(struct st_step))
/* Reads every row of a query into a new array of `elem`-byte items, each filled from the row
 * by `fill` (the array starts zeroed). On failure the items read so far are given to `clear`
 * and freed. *out is NULL when there are no rows. */
typedef void (*st_fill_fn)(struct store *st, struct db_stmt *s, void *item);
typedef void (*st_clear_fn)(void *item);
enum store_rc st_read_list(struct store *st, const char *sql, const struct st_arg *args,
                           size_t nargs, size_t elem, st_fill_fn fill, st_clear_fn clear,
                           void **out, size_t *n);
/* The access-token cache (token_cache.c). */
struct token_cache *st_tokens_new(void);
void st_tokens_free(struct token_cache *c);
uint64_t st_tokens_gen(struct token_cache *c);
/* Copies a cached entry into out (free with store_auth_clear); false when absent. */
bool st_tokens_get(struct token_cache *c, const char *hash, struct store_auth *out);
/* Caches a lookup made at generation gen, unless tokens were deleted since. */
void st_tokens_put(struct token_cache *c, const char *hash, const struct store_auth *a,
                   uint64_t gen);
/* After a write that deleted tokens: forget everything. */
void st_tokens_invalidate(struct token_cache *c);
void st_tokens_touch(struct token_cache *c, const char *user_id, const char *device_id,
                     const char *ip, const char *user_agent, int64_t now);
/* Reads the first row of a query into item with fill: STORE_OK, STORE_NOT_FOUND when there is
 * no row, STORE_ERR. */
enum store_rc st_read_one(struct store *st, const char *sql, const struct st_arg *args,
                          size_t nargs, st_fill_fn fill, void *item);
/* A copy of a text column, or NULL. */
char *st_dup_col(struct store *st, struct db_stmt *s, int col);
/* Shared row plumbing for st_read_list / st_read_one (store.c):
 * st_fill_text / st_clear_text: an item that is one char *, from text column 0.
 * st_read_texts: one text column per row into a new array of strings (store_strings_free).
 * st_dup_cols: text columns 0..n-1 into *cols[0..n-1] (a row of strings).
 * st_list_free: gives each of the n elem-byte items of list to clear, then frees list. */
void st_fill_text(struct store *st, struct db_stmt *s, void *item);
void st_clear_text(void *item);
enum store_rc st_read_texts(struct store *st, const char *sql, const struct st_arg *args,
                            size_t nargs, char ***out, size_t *n);
void st_dup_cols(struct store *st, struct db_stmt *s, char **const *cols, size_t n);
void st_list_free(void *list, size_t n, size_t elem, st_clear_fn clear);
/* The local_media row (store_media.c) from media_id, media_type, upload_name, media_length,
 * sha256, user_id, created_ts, quarantined_by, safe_from_quarantine. */
void st_fill_media(struct store *st, struct db_stmt *s, void *item);
/* Push (issue 8, store_push.c): in the event's write job, keeps the joined members' unread
 * counts (a member event adds or drops the member's row), stores and counts the event's
 * notifications (e->push) at position pos, and marks what the sender had unread as read. */
enum store_rc st_push_persist(struct store *st, const char *room_id,
                              const struct store_event_row *e, int64_t pos);
/* In an m.read receipt's write job: the user has read the room up to event_pos. */
enum store_rc st_push_mark_read(struct store *st, const char *room_id, const char *user_id,
                                int64_t event_pos);

/* ---- end-to-end encryption (issue 6; store_keys.c) ----
 * A change to a user's device list: the counter 'device_lists' moves on and the log gets a
 * row at its new value. ST_DL_LOG_STEPS(user) are those two as ST_WRITE steps. */
#define ST_SQL_DL_BUMP "UPDATE counters SET value = value + 1 WHERE name = ?"
#define ST_SQL_DL_LOG                                                                              \
    "INSERT INTO device_list_changes (stream_pos, user_id) SELECT value, CAST(? AS TEXT) FROM "    \
    "counters WHERE name = 'device_lists'"
#define ST_DL_LOG_STEPS(user)                                                                      \
    ST_STEP(ST_SQL_DL_BUMP, ST_S("device_lists")), ST_STEP(ST_SQL_DL_LOG, ST_S(user))
/* What goes with deleted devices: their keys and to-device inboxes. `where` is the condition
 * that picks the devices ("user_id = ? AND device_id = ?", ...), args its arguments. */
#define ST_E2E_DEVICES_GONE_STEPS(where, ...)                                                      \
    ST_STEP("DELETE FROM e2e_device_keys WHERE " where, __VA_ARGS__),                              \
        ST_STEP("DELETE FROM e2e_one_time_keys WHERE " where, __VA_ARGS__),                        \
        ST_STEP("DELETE FROM to_device_inbox WHERE " where, __VA_ARGS__)
/* ---- (end of end-to-end encryption) ---- */

#endif
