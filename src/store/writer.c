/* Group commit: see store_internal.h. */
#include <pthread.h>
#include <stdio.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "store/store_internal.h"

/* Database transaction metrics (issue 14): the handles, registered once per process. */
static struct metric *m_txn_seconds, *m_txn_jobs, *m_commits;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void
register_metrics(void)
{
    static const double jobs[] = {1, 2, 4, 8, 16, 32, 64, 128};
    m_txn_seconds = metrics_histogram("hearth_db_transaction_duration_seconds",
                                      "Time a write transaction (a group commit) takes, from "
                                      "BEGIN to a durable COMMIT.",
                                      NULL, NULL, 0);
    m_txn_jobs =
        metrics_histogram("hearth_db_transaction_jobs", "Writes grouped into one transaction.",
                          NULL, jobs, sizeof(jobs) / sizeof(jobs[0]));
    m_commits = metrics_counter(
        "hearth_db_transactions_total",
        "Write transactions, by result (ok: committed; error: rolled back).", "result");
}

void
st_job_submit(struct store *st, struct st_job *job)
{
    job->done = false;
    job->rc = STORE_ERR;
    job->next = NULL;
    pthread_cond_init(&job->cv, NULL);
    pthread_mutex_lock(&st->qlock);
    if (st->qtail)
        st->qtail->next = job;
    else
        st->qhead = job;
    st->qtail = job;
    pthread_mutex_unlock(&st->qlock);
}

/* A held job's owner is finishing it (signing, outside its room's lock); the wait is short
 * and the owner takes no store lock before releasing. False if the owner gave it up. */
static bool
wait_released(struct store *st, struct st_job *j)
{
    bool ok;
    pthread_mutex_lock(&st->qlock);
    while (j->held)
        pthread_cond_wait(&st->qcond, &st->qlock);
    ok = !j->aborted;
    pthread_mutex_unlock(&st->qlock);
    return ok;
}

/* With qlock held: the job may be written (or, !ok, given up); wakes a leader waiting for it. */
static void
release_locked(struct store *st, struct st_job *job, bool ok)
{
    job->held = false;
    job->aborted = !ok;
    pthread_cond_broadcast(&st->qcond);
}

void
st_job_release(struct store *st, struct st_job *job, bool ok)
{
    pthread_mutex_lock(&st->qlock);
    release_locked(st, job, ok);
    pthread_mutex_unlock(&st->qlock);
}

/* Runs a batch in one transaction. Called by the leader only, without qlock. A batch of one
 * job needs no savepoint (its failure rolls back the whole transaction), and between jobs the
 * release and the next savepoint go as one statement: on PostgreSQL each is a round trip.
 * With a pipelining driver (db.h: defer, sync; PostgreSQL) a job's deferred statements are
 * waited for at its end, so a failure among them rolls back that job only; a single job's
 * go out with the COMMIT, whose failure is then the job's. */
static void
run_batch(struct st_job *batch, struct store *st)
{
    uint64_t t0 = util_mono_ns();
    bool began = st->drv->exec(st->writer, "BEGIN") == DB_OK;
    bool single = batch && !batch->next, ok = began, committed = false;
    bool open = false; /* a savepoint "job" is active */
    size_t njobs = 0;
    enum db_rc crc;

    for (struct st_job *j = batch; j; j = j->next) {
        if (!began) {
            j->rc = STORE_ERR;
            continue;
        }
        if (!single) {
            const char *sql = open ? "RELEASE job; SAVEPOINT job" : "SAVEPOINT job";
            open = st->drv->exec(st->writer, sql) == DB_OK;
            if (!open) {
                j->rc = STORE_ERR;
                continue;
            }
        }
        j->rc = wait_released(st, j) ? j->fn(st, j->ctx) : STORE_ERR;
        if (j->rc == STORE_OK && !single && st->drv->sync)
            j->rc = st_rc(st->drv->sync(st->writer));
        if (j->rc != STORE_OK && !single) {
            st->drv->exec(st->writer, "ROLLBACK TO job");
            st_search_forget_nids(st);
        }
        if (j->rc != STORE_OK && single)
            ok = false;
    }
    if (open)
        st->drv->exec(st->writer, "RELEASE job");
    if (began && !ok) {
        st->drv->exec(st->writer, "ROLLBACK");
        st_search_forget_nids(st);
    } else if (began && (crc = st->drv->exec(st->writer, "COMMIT")) != DB_OK) {
        bool deferred = single && st->drv->sync; /* the failure may be the job's own */
        if (!deferred)
            log_error("store: commit failed; the batch is lost");
        st->drv->exec(st->writer, "ROLLBACK");
        st_search_forget_nids(st);
        for (struct st_job *j = batch; j; j = j->next)
            if (j->rc == STORE_OK)
                j->rc = deferred ? st_rc(crc) : STORE_ERR;
    } else if (began) {
        committed = true;
    }
    /* Readers may now see every position handed out (rolled-back ones are gaps). */
    atomic_store(&st->stream_committed, st->stream_next);
    if (!committed)
        st->pos_used = st->pos_n; /* store_internal.h: not safe to hand out any more */
    for (struct st_job *j = batch; j; j = j->next)
        njobs++;
    pthread_once(&metrics_once, register_metrics);
    metrics_observe(m_txn_seconds, NULL, (double)(util_mono_ns() - t0) / 1e9);
    metrics_observe(m_txn_jobs, NULL, (double)njobs);
    metrics_inc(m_commits, (const char *[]){committed ? "ok" : "error"}, 1);
}

/* Runs the queue's batch as leader; called and returns with qlock held. self: the calling
 * owner's job (not signalled), or NULL for the writer thread. */
static void
lead(struct store *st, struct st_job *self)
{
    struct st_job *batch = st->qhead, *j, *next;
    st->qhead = st->qtail = NULL;
    st->leading = true;
    pthread_mutex_unlock(&st->qlock);
    run_batch(batch, st);
    pthread_mutex_lock(&st->qlock);
    for (j = batch; j; j = next) {
        next = j->next; /* j may be gone as soon as its owner sees done */
        void (*cb)(void *) = j->on_done;
        void *arg = j->on_done_arg;
        j->done = true;
        if (cb) {
            pthread_mutex_unlock(&st->qlock);
            cb(arg);
            pthread_mutex_lock(&st->qlock);
        } else if (j != self) {
            pthread_cond_signal(&j->cv);
        }
    }
    st->leading = false;
    /* Jobs queued meanwhile: the owner of the first leads the next batch (or the writer
     * thread, for one nobody waits for). */
    if (st->qhead) {
        pthread_cond_signal(&st->qhead->cv);
        pthread_cond_signal(&st->wcond);
    }
}

/* Until the job is done, leading a batch if nobody is; with qlock held. */
static void
wait_done(struct store *st, struct st_job *job)
{
    while (!job->done) {
        if (!st->leading && st->qhead)
            lead(st, job);
        else
            pthread_cond_wait(&job->cv, &st->qlock);
    }
}

enum store_rc
st_job_wait(struct store *st, struct st_job *job)
{
    enum store_rc rc;

    pthread_mutex_lock(&st->qlock);
    wait_done(st, job);
    rc = job->rc;
    pthread_mutex_unlock(&st->qlock);
    pthread_cond_destroy(&job->cv);
    return rc;
}

static void *
writer_main(void *arg)
{
    struct store *st = arg;
    pthread_mutex_lock(&st->qlock);
    for (;;) {
        if (!st->leading && st->qhead)
            lead(st, NULL);
        else if (st->wstop && !st->qhead) /* jobs queued behind another leader still go */
            break;
        else
            pthread_cond_wait(&st->wcond, &st->qlock);
    }
    pthread_mutex_unlock(&st->qlock);
    return NULL;
}

bool
st_job_release_or_lead(struct store *st, struct st_job *job, bool ok, void (*suspend)(void *),
                       void (*done)(void *), void *arg)
{
    pthread_mutex_lock(&st->qlock);
    release_locked(st, job, ok);
    if (job->done) {
        /* Nobody will call done for it: a job not held may be done before its owner comes
         * here, and a held one's batch may have failed before its release (a BEGIN or
         * SAVEPOINT that failed does not wait for held jobs). */
        pthread_mutex_unlock(&st->qlock);
        return true;
    }
    if (!st->leading && st->qhead == job) {
        /* Nobody writing: lead now, as a waiting owner would (no hand-off). */
        lead(st, job);
        pthread_mutex_unlock(&st->qlock);
        return true;
    }
    if (!st->wstarted && !st->wstop && pthread_create(&st->wthread, NULL, writer_main, st) == 0) {
        st->wstarted = true;
        pthread_setname_np(st->wthread, "hearth-writer"); /* for top -H and perf */
    }
    if (!st->wstarted) { /* no thread to lead it: wait here, as before */
        wait_done(st, job);
        pthread_mutex_unlock(&st->qlock);
        return true;
    }
    job->on_done = done;
    job->on_done_arg = arg;
    suspend(arg); /* before any leader can run done */
    pthread_cond_signal(&st->wcond);
    pthread_mutex_unlock(&st->qlock);
    return false;
}

void
st_writer_stop(struct store *st)
{
    pthread_mutex_lock(&st->qlock);
    bool started = st->wstarted;
    st->wstop = true;
    if (started)
        pthread_cond_signal(&st->wcond);
    pthread_mutex_unlock(&st->qlock);
    if (!started)
        return;
    pthread_join(st->wthread, NULL);
    pthread_mutex_lock(&st->qlock);
    st->wstarted = false; /* stopped for good (wstop): a later job waits in place */
    pthread_mutex_unlock(&st->qlock);
}

enum store_rc
st_write(struct store *st, st_write_fn fn, void *ctx)
{
    struct st_job job = {.fn = fn, .ctx = ctx, .rc = STORE_ERR};
    st_job_submit(st, &job);
    return st_job_wait(st, &job);
}

struct steps {
    const struct st_step *steps;
    size_t n;
};

static enum store_rc
steps_job(struct store *st, void *ctx)
{
    const struct steps *s = ctx;
    for (size_t i = 0; i < s->n; i++) {
        const struct st_step *step = &s->steps[i];
        enum store_rc rc = st_rc(st_run(st, st->writer, step->sql, step->args, step->nargs));
        if (rc == STORE_OK && (step->flags & ST_NEED_CHANGE) && st->drv->changes(st->writer) == 0)
            rc = STORE_NOT_FOUND;
        if (rc != STORE_OK)
            return rc;
    }
    return STORE_OK;
}

enum store_rc
st_write_steps(struct store *st, const struct st_step *steps, size_t n)
{
    struct steps s = {steps, n};
    return st_write(st, steps_job, &s);
}
