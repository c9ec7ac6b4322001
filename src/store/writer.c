/* Group commit: see store_internal.h. */
#include <pthread.h>
#include <stdio.h>

#include "core/log.h"
#include "store/store_internal.h"

void
st_job_submit(struct store *st, struct st_job *job)
{
    job->done = false;
    job->rc = STORE_ERR;
    job->next = NULL;
    pthread_mutex_lock(&st->qlock);
    if (st->qtail)
        st->qtail->next = job;
    else
        st->qhead = job;
    st->qtail = job;
    pthread_mutex_unlock(&st->qlock);
}

/* Runs a batch in one transaction. Called by the leader only, without qlock. A batch of one
 * job needs no savepoint (its failure rolls back the whole transaction), and between jobs the
 * release and the next savepoint go as one statement: on PostgreSQL each is a round trip. */
static void
run_batch(struct st_job *batch, struct store *st)
{
    bool began = st->drv->exec(st->writer, "BEGIN") == DB_OK;
    bool single = batch && !batch->next, ok = began;
    bool open = false; /* a savepoint "job" is active */

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
        j->rc = j->fn(st, j->ctx);
        if (j->rc != STORE_OK && !single)
            st->drv->exec(st->writer, "ROLLBACK TO job");
        if (j->rc != STORE_OK && single)
            ok = false;
    }
    if (open)
        st->drv->exec(st->writer, "RELEASE job");
    if (began && !ok) {
        st->drv->exec(st->writer, "ROLLBACK");
    } else if (began && st->drv->exec(st->writer, "COMMIT") != DB_OK) {
        log_error("store: commit failed; the batch is lost");
        st->drv->exec(st->writer, "ROLLBACK");
        for (struct st_job *j = batch; j; j = j->next)
            if (j->rc == STORE_OK)
                j->rc = STORE_ERR;
    }
    /* Readers may now see every position handed out (rolled-back ones are gaps). */
    atomic_store(&st->stream_committed, st->stream_next);
}

enum store_rc
st_job_wait(struct store *st, struct st_job *job)
{
    pthread_mutex_lock(&st->qlock);
    while (!job->done) {
        if (!st->leading && st->qhead) {
            struct st_job *batch = st->qhead, *j, *next;
            st->qhead = st->qtail = NULL;
            st->leading = true;
            pthread_mutex_unlock(&st->qlock);
            run_batch(batch, st);
            pthread_mutex_lock(&st->qlock);
            for (j = batch; j; j = next) {
                next = j->next; /* j may be gone as soon as done is seen */
                j->done = true;
            }
            st->leading = false;
            pthread_cond_broadcast(&st->qcond);
        } else {
            pthread_cond_wait(&st->qcond, &st->qlock);
        }
    }
    pthread_mutex_unlock(&st->qlock);
    return job->rc;
}

enum store_rc
st_write(struct store *st, st_write_fn fn, void *ctx)
{
    struct st_job job = {fn, ctx, STORE_ERR, false, NULL};
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
