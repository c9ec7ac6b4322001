/* PostgreSQL driver over libpq. The store's SQL uses `?` placeholders; they become `$n` here.
 * Statements are prepared once per connection and cached, as in the SQLite driver. A broken
 * connection is reset at the next safe point (outside a transaction), so a restarted server
 * costs the requests that were running, never a half-applied transaction.
 *
 * Inside a transaction the connection works in libpq's pipeline mode (db.h: defer, sync):
 * BEGIN, SAVEPOINT, RELEASE and deferred statements are sent without waiting for their
 * results, and go out with the next statement whose result is needed, the next sync, or the
 * COMMIT: one round trip instead of one each. */
#include "store/db.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

#define STMT_CACHE 256

struct cached_stmt {
    const char *key;  /* the caller's pointer, compared first */
    char *sql;        /* the caller's text */
    char *pgsql;      /* the same with $n placeholders */
    char name[16];    /* server-side statement name */
    uint64_t session; /* the connection session it was prepared in */
    int nparams;
    bool in_use;
};

struct db {
    PGconn *c;
    uint64_t session; /* bumped by every reset: prepared statements die with a session */
    bool in_txn;      /* between our BEGIN and COMMIT/ROLLBACK: never reset there */
    bool broken;      /* a failure showed the connection is gone (lost()) */
    int64_t changes;
    struct cached_stmt cache[STMT_CACHE];
    size_t ncache;
    /* The pipeline: commands sent whose results are not read yet, oldest first. Each entry is
     * the statement a PQsendPrepare was for (marked unprepared again if that failed or was
     * skipped), or NULL for a statement run. */
    struct cached_stmt **pending;
    size_t npending, cappending;
};

struct db_stmt {
    struct db *db;
    struct cached_stmt *slot; /* NULL: run unnamed with `pgsql` */
    char *pgsql;
    int nparams;
    char **vals; /* owned copies; NULL binds SQL NULL */
    PGresult *res;
    int row, nrows;
    bool ran;
};

/* `?` -> `$n`, outside string literals, quoted identifiers and comments. New string. */
static char *
convert_placeholders(const char *sql, int *nparams)
{
    size_t len = strlen(sql);
    char *out = xmalloc(len * 4 + 1), *o = out;
    int n = 0;
    char quote = 0;

    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (p[0] == '-' && p[1] == '-') {
            while (p[1] && p[1] != '\n')
                *o++ = *p++;
        } else if (*p == '?') {
            o += snprintf(o, 12, "$%d", ++n);
            continue;
        }
        *o++ = *p;
    }
    *o = '\0';
    *nparams = n;
    return out;
}

/* The SQLSTATE classes the store cares about: a unique violation is an answer, the rest are
 * errors (logged). */
static enum db_rc
result_rc(struct db *db, PGresult *res, const char *what)
{
    ExecStatusType t = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    const char *state;

    if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK || t == PGRES_EMPTY_QUERY)
        return DB_OK;
    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && strcmp(state, "23505") == 0)
        return DB_CONSTRAINT;
    log_error("postgresql %s: %s", what, res ? PQresultErrorMessage(res) : PQerrorMessage(db->c));
    return DB_ERR;
}

/* Makes the connection usable if it broke, unless a transaction of ours is open on it (its
 * statements must fail until the caller rolls back). */
static bool
usable(struct db *db)
{
    if (PQstatus(db->c) == CONNECTION_OK && !db->broken)
        return true;
    if (db->in_txn)
        return false;
    PQreset(db->c);
    db->session++;
    db->npending = 0; /* a reset drops the pipeline too */
    db->broken = false;
    if (PQstatus(db->c) != CONNECTION_OK) {
        log_error("postgresql: reconnect failed: %s", PQerrorMessage(db->c));
        return false;
    }
    log_info("postgresql: reconnected");
    return true;
}

/* Whether a failure means the connection is gone. libpq does not always say so in PQstatus
 * (after an immediate shutdown the first failure leaves it CONNECTION_OK), so a failure with
 * no SQLSTATE, or of class 08 (connection exception) or 57P (operator intervention), counts
 * too, and marks the connection for a reset. */
static bool
lost(struct db *db, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (PQresultStatus(res) != PGRES_FATAL_ERROR)
        return false;
    if (PQstatus(db->c) == CONNECTION_BAD || !state || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0)
        db->broken = true;
    return db->broken;
}

/* A connection looks fine until it is used after its server went away. When a statement
 * fails that way outside a transaction, nothing was applied (autocommit reads, or BEGIN), so
 * the driver reconnects and tries once more: a PostgreSQL restart then costs nothing but the
 * transactions that were open at that moment. */
static bool
retry_after_reset(struct db *db, const PGresult *res)
{
    if (!lost(db, res) || db->in_txn)
        return false;
    return usable(db);
}

static void
quiet_notices(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* ---- the pipeline ---- */

/* The statements transactions are made of, which the pipeline treats apart. */
enum txn_cmd {
    CMD_OTHER,
    CMD_BEGIN,
    CMD_SAVEPOINT, /* SAVEPOINT or RELEASE, possibly several separated by ';' */
    CMD_COMMIT,
    CMD_ROLLBACK, /* ROLLBACK, ROLLBACK TO */
};

static enum txn_cmd
classify(const char *sql)
{
    if (strcmp(sql, "BEGIN") == 0)
        return CMD_BEGIN;
    if (strcmp(sql, "COMMIT") == 0)
        return CMD_COMMIT;
    if (strncmp(sql, "ROLLBACK", 8) == 0)
        return CMD_ROLLBACK;
    if (strncmp(sql, "SAVEPOINT ", 10) == 0 || strncmp(sql, "RELEASE ", 8) == 0)
        return CMD_SAVEPOINT;
    return CMD_OTHER;
}

static bool
piped(const struct db *db)
{
    return PQpipelineStatus(db->c) != PQ_PIPELINE_OFF;
}

static void
pipe_push(struct db *db, struct cached_stmt *prepared)
{
    if (db->npending == db->cappending) {
        db->cappending = db->cappending ? db->cappending * 2 : 16;
        db->pending = xrealloc(db->pending, db->cappending * sizeof(*db->pending));
    }
    db->pending[db->npending++] = prepared;
}

/* Queues a statement without parameters. */
static bool
pipe_send_text(struct db *db, const char *sql)
{
    if (db->broken || (!piped(db) && PQenterPipelineMode(db->c) != 1) ||
        PQsendQueryParams(db->c, sql, 0, NULL, NULL, NULL, NULL, 0) != 1)
        return false;
    pipe_push(db, NULL);
    return true;
}

/* Queues a bound statement, and its preparation first if this session has not seen it. */
static bool
pipe_send(struct db *db, struct db_stmt *s)
{
    const char *const *vals = (const char *const *)s->vals;
    struct cached_stmt *slot = s->slot;

    if (db->broken || (!piped(db) && PQenterPipelineMode(db->c) != 1))
        return false;
    if (!slot)
        return PQsendQueryParams(db->c, s->pgsql, s->nparams, NULL, vals, NULL, NULL, 0) == 1 &&
               (pipe_push(db, NULL), true);
    if (slot->session != db->session) {
        if (PQsendPrepare(db->c, slot->name, slot->pgsql, slot->nparams, NULL) != 1)
            return false;
        slot->session = db->session; /* undone by pipe_wait if the prepare fails */
        pipe_push(db, slot);
    }
    if (PQsendQueryPrepared(db->c, slot->name, s->nparams, vals, NULL, NULL, 0) != 1)
        return false;
    pipe_push(db, NULL);
    return true;
}

/* Ends what was queued with a sync point, reads every result and leaves pipeline mode.
 * Returns DB_OK or the first failure (the server skipped everything after it); with `last`,
 * the last command's result when it succeeded (the caller clears it). */
static enum db_rc
pipe_wait(struct db *db, PGresult **last)
{
    enum db_rc first = DB_OK;
    bool ok = !db->broken && PQpipelineSync(db->c) == 1;
    PGresult *res;

    if (last)
        *last = NULL;
    for (size_t i = 0; ok && i < db->npending; i++) {
        struct cached_stmt *prepared = db->pending[i];
        enum db_rc rc = DB_ERR;

        res = PQgetResult(db->c);
        if (!res) { /* the connection ended before this command's result */
            ok = false;
            break;
        }
        if (PQresultStatus(res) != PGRES_PIPELINE_ABORTED) {
            rc = result_rc(db, res, prepared ? "prepare" : "step");
            lost(db, res);
            if (rc != DB_OK && first == DB_OK)
                first = rc;
        }
        if (rc != DB_OK && prepared)
            prepared->session = db->session - 1; /* not prepared after all */
        if (rc == DB_OK && last && i + 1 == db->npending) {
            *last = res;
            res = NULL;
        }
        PQclear(res);
        /* A command's results end with a NULL. */
        while ((res = PQgetResult(db->c)) != NULL)
            PQclear(res);
    }
    if (ok) {
        res = PQgetResult(db->c);
        ok = res && PQresultStatus(res) == PGRES_PIPELINE_SYNC;
        PQclear(res);
    }
    db->npending = 0;
    if (!ok || PQexitPipelineMode(db->c) != 1) {
        log_error("postgresql: pipeline: %s", PQerrorMessage(db->c));
        db->broken = true;
        if (first == DB_OK)
            first = DB_ERR;
        if (last) {
            PQclear(*last);
            *last = NULL;
        }
    }
    return first;
}

/* Whether something came on this idle connection. Usually that is the server's farewell (it
 * restarted: a FATAL message, then the end of the stream); rarely a notice. */
static bool
input_waiting(struct db *db)
{
    struct pollfd p = {.fd = PQsocket(db->c), .events = POLLIN};
    return p.fd < 0 || poll(&p, 1, 0) != 0;
}

/* BEGIN waits for the transaction's first statement. False: not queued, run it at once; so
 * it is when the idle connection has input waiting, where a BEGIN sent at once fails (and is
 * retried after a reset) if the server is gone. */
static bool
pipe_begin(struct db *db)
{
    if (!usable(db) || input_waiting(db))
        return false;
    if (!pipe_send_text(db, "BEGIN")) {
        if (db->npending == 0 && piped(db))
            PQexitPipelineMode(db->c);
        return false;
    }
    db->in_txn = true;
    return true;
}

/* SAVEPOINT and RELEASE statements ("RELEASE job; SAVEPOINT job"), queued one by one. */
static enum db_rc
pipe_savepoints(struct db *db, const char *sql)
{
    char one[64];

    while (*sql) {
        size_t n = strcspn(sql, ";");
        while (n > 0 && sql[n - 1] == ' ')
            n--;
        if (n >= sizeof(one))
            return DB_ERR;
        memcpy(one, sql, n);
        one[n] = '\0';
        if (n > 0 && !pipe_send_text(db, one)) {
            db->broken = true;
            return DB_ERR;
        }
        sql += strcspn(sql, ";");
        sql += strspn(sql, "; ");
    }
    return DB_OK;
}

/* COMMIT goes out with what is still queued. If something ahead of it failed, the server
 * skipped it: the transaction is rolled back here and the failure returned. */
static enum db_rc
pipe_commit(struct db *db)
{
    PGresult *res = NULL;
    enum db_rc rc;

    if (pipe_send_text(db, "COMMIT")) {
        rc = pipe_wait(db, &res);
    } else {
        db->broken = true;
        rc = pipe_wait(db, NULL);
    }
    if (rc == DB_OK && (!res || strcmp(PQcmdStatus(res), "COMMIT") != 0)) {
        log_error("postgresql: COMMIT of a failed transaction (rolled back)");
        rc = DB_ERR;
    }
    PQclear(res);
    if (rc != DB_OK && !db->broken && PQtransactionStatus(db->c) == PQTRANS_INERROR)
        PQclear(PQexec(db->c, "ROLLBACK"));
    db->in_txn = false;
    return rc;
}

static enum db_rc
pg_exec(struct db *db, const char *sql)
{
    PGresult *res;
    enum db_rc rc;
    enum txn_cmd cmd = classify(sql);
    bool begin = cmd == CMD_BEGIN;
    bool end = strcmp(sql, "COMMIT") == 0 || strcmp(sql, "ROLLBACK") == 0;

    if (begin && !db->in_txn && pipe_begin(db))
        return DB_OK;
    if (cmd == CMD_SAVEPOINT && db->in_txn)
        return pipe_savepoints(db, sql);
    if (cmd == CMD_COMMIT && db->in_txn && piped(db))
        return pipe_commit(db);
    /* Anything else waits for what went ahead; after a failure there, the transaction can
     * only be rolled back. */
    if (piped(db)) {
        rc = pipe_wait(db, NULL);
        if (rc != DB_OK && cmd != CMD_ROLLBACK)
            return rc;
    }
    if (end)
        db->in_txn = false;
    if (!usable(db))
        return DB_ERR;
    res = PQexec(db->c, sql);
    if ((begin || !end) && retry_after_reset(db, res)) {
        PQclear(res);
        res = PQexec(db->c, sql);
    }
    rc = result_rc(db, res, "exec");
    /* PostgreSQL answers a COMMIT of a failed transaction by rolling it back, without error. */
    if (rc == DB_OK && cmd == CMD_COMMIT && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        log_error("postgresql: COMMIT of a failed transaction (rolled back)");
        rc = DB_ERR;
    }
    PQclear(res);
    if (begin && rc == DB_OK)
        db->in_txn = true;
    return rc;
}

static enum db_rc
pg_open(const char *target, bool writer, struct db **out)
{
    struct db *db = xcalloc(1, sizeof(*db));

    db->c = PQconnectdb(target);
    if (PQstatus(db->c) != CONNECTION_OK) {
        log_error("postgresql: cannot connect: %s", PQerrorMessage(db->c));
        PQfinish(db->c);
        free(db);
        return DB_ERR;
    }
    /* Migrations' "already exists" notices and the like are not worth a log line. */
    PQsetNoticeProcessor(db->c, quiet_notices, NULL);
    if (writer) {
        /* Text search folds case with the database's character type: C folds only ASCII. */
        PGresult *res = PQexec(db->c, "SHOW lc_ctype");
        const char *ctype = PQresultStatus(res) == PGRES_TUPLES_OK ? PQgetvalue(res, 0, 0) : "";
        if (strcmp(ctype, "C") == 0 || strcmp(ctype, "POSIX") == 0)
            log_warn("postgresql: the database's LC_CTYPE is %s: search will not fold the case "
                     "of non-ASCII letters (create it with LC_CTYPE 'C.UTF-8')",
                     ctype);
        PQclear(res);
    }
    *out = db;
    return DB_OK;
}

static void
pg_close(struct db *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->ncache; i++) {
        free(db->cache[i].sql);
        free(db->cache[i].pgsql);
    }
    free(db->pending);
    PQfinish(db->c);
    free(db);
}

static struct cached_stmt *
cache_find(struct db *db, const char *sql)
{
    for (size_t i = 0; i < db->ncache; i++)
        if (db->cache[i].key == sql && !db->cache[i].in_use && strcmp(db->cache[i].sql, sql) == 0)
            return &db->cache[i];
    for (size_t i = 0; i < db->ncache; i++)
        if (!db->cache[i].in_use && strcmp(db->cache[i].sql, sql) == 0)
            return &db->cache[i];
    return NULL;
}

static enum db_rc
prepare_slot(struct db *db, struct cached_stmt *slot)
{
    PGresult *res = PQprepare(db->c, slot->name, slot->pgsql, slot->nparams, NULL);
    enum db_rc rc = result_rc(db, res, "prepare");

    lost(db, res);
    PQclear(res);
    if (rc == DB_OK)
        slot->session = db->session;
    return rc;
}

static enum db_rc
pg_prepare(struct db *db, const char *sql, struct db_stmt **out)
{
    struct cached_stmt *slot = cache_find(db, sql);
    struct db_stmt *s;

    if (!usable(db))
        return DB_ERR;
    if (!slot && db->ncache < STMT_CACHE) {
        slot = &db->cache[db->ncache];
        memset(slot, 0, sizeof(*slot));
        slot->key = sql;
        slot->sql = xstrdup(sql);
        slot->pgsql = convert_placeholders(sql, &slot->nparams);
        snprintf(slot->name, sizeof(slot->name), "h%zu", db->ncache);
        slot->session = db->session - 1; /* not prepared yet */
        db->ncache++;
    }
    s = xcalloc(1, sizeof(*s));
    s->db = db;
    if (slot) {
        /* In the pipeline, the statement is prepared when it is sent. */
        if (slot->session != db->session && !piped(db) && prepare_slot(db, slot) != DB_OK &&
            (!db->broken || db->in_txn || !usable(db) || prepare_slot(db, slot) != DB_OK)) {
            free(s);
            return DB_ERR;
        }
        slot->in_use = true;
        s->slot = slot;
        s->nparams = slot->nparams;
    } else {
        s->pgsql = convert_placeholders(sql, &s->nparams);
    }
    s->vals = xcalloc((size_t)s->nparams + 1, sizeof(*s->vals));
    *out = s;
    return DB_OK;
}

static enum db_rc
bind(struct db_stmt *s, int idx, char *v)
{
    if (idx < 1 || idx > s->nparams) {
        free(v);
        log_error("postgresql: parameter %d out of range", idx);
        return DB_ERR;
    }
    free(s->vals[idx - 1]);
    s->vals[idx - 1] = v;
    return DB_OK;
}

static enum db_rc
pg_bind_text(struct db_stmt *s, int idx, const char *v)
{
    return bind(s, idx, v ? xstrdup(v) : NULL);
}

static enum db_rc
pg_bind_int64(struct db_stmt *s, int idx, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return bind(s, idx, xstrdup(buf));
}

static enum db_rc
pg_bind_null(struct db_stmt *s, int idx)
{
    return bind(s, idx, NULL);
}

static PGresult *
run(struct db_stmt *s)
{
    const char *const *vals = (const char *const *)s->vals;
    if (s->slot)
        return PQexecPrepared(s->db->c, s->slot->name, s->nparams, vals, NULL, NULL, 0);
    return PQexecParams(s->db->c, s->pgsql, s->nparams, NULL, vals, NULL, NULL, 0);
}

static enum db_rc
pg_step(struct db_stmt *s)
{
    struct db *db = s->db;
    enum db_rc rc;

    if (!s->ran) {
        s->ran = true;
        if (piped(db)) {
            /* Goes out with what was queued; fails if any of that did. */
            if (!pipe_send(db, s))
                db->broken = true;
            rc = pipe_wait(db, &s->res);
            if (rc != DB_OK)
                return rc;
        } else {
            /* Prepared in a pipeline since left (pg_prepare skips it there). */
            if (s->slot && s->slot->session != db->session && prepare_slot(db, s->slot) != DB_OK)
                return DB_ERR;
            s->res = run(s);
            if (retry_after_reset(db, s->res) && (!s->slot || prepare_slot(db, s->slot) == DB_OK)) {
                PQclear(s->res);
                s->res = run(s);
            }
            rc = result_rc(db, s->res, "step");
            if (rc != DB_OK)
                return rc;
        }
        /* As sqlite3_changes: rows written by the last INSERT, UPDATE or DELETE. */
        if (strncmp(PQcmdStatus(s->res), "SELECT", 6) != 0) {
            const char *n = PQcmdTuples(s->res);
            db->changes = 0;
            if (n && *n)
                util_parse_int64(n, &db->changes);
        }
        s->nrows = PQresultStatus(s->res) == PGRES_TUPLES_OK ? PQntuples(s->res) : 0;
        s->row = -1;
    }
    if (s->row + 1 < s->nrows) {
        s->row++;
        return DB_ROW;
    }
    s->row = s->nrows;
    return DB_DONE;
}

/* Inside a transaction: queued (db.h). Outside: run at once, as step. */
static enum db_rc
pg_defer(struct db_stmt *s)
{
    struct db *db = s->db;
    enum db_rc rc;

    if (!db->in_txn) {
        rc = pg_step(s);
        return rc == DB_ROW || rc == DB_DONE ? DB_OK : rc;
    }
    s->ran = true;
    if (!pipe_send(db, s)) {
        db->broken = true;
        return DB_ERR;
    }
    return DB_OK;
}

static enum db_rc
pg_sync(struct db *db)
{
    return piped(db) ? pipe_wait(db, NULL) : DB_OK;
}

static const char *
pg_col_text(struct db_stmt *s, int col)
{
    if (!s->res || s->row < 0 || s->row >= s->nrows || PQgetisnull(s->res, s->row, col))
        return NULL;
    return PQgetvalue(s->res, s->row, col);
}

static int64_t
pg_col_int64(struct db_stmt *s, int col)
{
    const char *t = pg_col_text(s, col);
    int64_t v = 0;

    if (!t)
        return 0;
    /* Booleans come back as t/f; numeric aggregates (SUM) may carry a fraction. */
    if (strcmp(t, "t") == 0)
        return 1;
    if (strcmp(t, "f") == 0)
        return 0;
    if (util_parse_int64(t, &v) != 0)
        v = (int64_t)strtod(t, NULL);
    return v;
}

static bool
pg_col_is_null(struct db_stmt *s, int col)
{
    return !s->res || s->row < 0 || s->row >= s->nrows || PQgetisnull(s->res, s->row, col);
}

static void
pg_finalize(struct db_stmt *s)
{
    if (!s)
        return;
    if (s->slot)
        s->slot->in_use = false;
    for (int i = 0; i < s->nparams; i++)
        free(s->vals[i]);
    free(s->vals);
    free(s->pgsql);
    PQclear(s->res);
    free(s);
}

static int64_t
pg_changes(struct db *db)
{
    return db->changes;
}

const struct db_driver db_pg_driver = {
    .name = "psycopg2",
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .bind_text = pg_bind_text,
    .bind_int64 = pg_bind_int64,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .col_text = pg_col_text,
    .col_int64 = pg_col_int64,
    .col_is_null = pg_col_is_null,
    .finalize = pg_finalize,
    .changes = pg_changes,
    .defer = pg_defer,
    .sync = pg_sync,
    .stream_pos_block_sql =
        "SELECT nextval('events_stream_pos') FROM generate_series(1, ?) ORDER BY 1",
};
