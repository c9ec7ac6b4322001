/* PostgreSQL driver over libpq. The store's SQL uses `?` placeholders; they become `$n` here.
 * Statements are prepared once per connection and cached, as in the SQLite driver. A broken
 * connection is reset at the next safe point (outside a transaction), so a restarted server
 * costs the requests that were running, never a half-applied transaction. */
#include "store/db.h"

#include <libpq-fe.h>
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

static enum db_rc
pg_exec(struct db *db, const char *sql)
{
    PGresult *res;
    enum db_rc rc;
    bool begin = strcmp(sql, "BEGIN") == 0;
    bool end = strcmp(sql, "COMMIT") == 0 || strcmp(sql, "ROLLBACK") == 0;

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
    for (size_t i = 0; i < db->ncache; i++)
        free(db->cache[i].sql);
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
    int n = 0;
    char *pgsql = convert_placeholders(slot->sql, &n);
    PGresult *res = PQprepare(db->c, slot->name, pgsql, n, NULL);
    enum db_rc rc = result_rc(db, res, "prepare");

    lost(db, res);
    PQclear(res);
    free(pgsql);
    if (rc == DB_OK) {
        slot->nparams = n;
        slot->session = db->session;
    }
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
        snprintf(slot->name, sizeof(slot->name), "h%zu", db->ncache);
        slot->session = db->session - 1; /* not prepared yet */
        db->ncache++;
    }
    s = xcalloc(1, sizeof(*s));
    s->db = db;
    if (slot) {
        if (slot->session != db->session && prepare_slot(db, slot) != DB_OK &&
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
        s->res = run(s);
        if (retry_after_reset(db, s->res) && (!s->slot || prepare_slot(db, s->slot) == DB_OK)) {
            PQclear(s->res);
            s->res = run(s);
        }
        rc = result_rc(db, s->res, "step");
        if (rc != DB_OK)
            return rc;
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
    .next_stream_pos_expr = "nextval('events_stream_pos')",
};
