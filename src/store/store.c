/* Accounts, devices and tokens over the driver interface. All writes go through one writer
 * connection under a mutex; reads take a connection from a pool. */
#include "store/store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "store/db.h"
#include "store/migrations.h"
#include "store/store_internal.h"

/* SQLite reader connections at most: one per CPU core, 2 to 4 (issue 12, soak; store_open).
 * Reads are CPU work on cached pages, so more readers than cores add memory, not speed. */
static size_t
sqlite_max_readers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 2 ? 2 : n > 4 ? 4 : (size_t)n;
}

/* ---- plumbing ---- */

/* The reader this thread holds, if any (see st_reader_get). */
static _Thread_local struct held_reader {
    struct store *st;
    struct db *db;
    unsigned depth;
} held_reader;

struct db *
st_reader_get(struct store *st)
{
    struct db *db = NULL;

    /* A thread asking again while it holds a reader (a read helper called inside another
     * read) gets the same connection: with a bounded pool, threads each holding one and
     * waiting for a second would deadlock. Both drivers allow nested statements (their
     * statement caches skip a statement in use). */
    if (held_reader.db && held_reader.st == st) {
        held_reader.depth++;
        return held_reader.db;
    }
    pthread_mutex_lock(&st->plock);
    /* With a bounded pool (PostgreSQL's cp_max), wait for a connection to come back. */
    while (st->npool == 0 && st->pool_max > 0 && st->nopen >= st->pool_max)
        pthread_cond_wait(&st->pcond, &st->plock);
    if (st->npool > 0)
        db = st->pool[--st->npool];
    else
        st->nopen++;
    pthread_mutex_unlock(&st->plock);
    if (!db && st->drv->open(st->target, false, &db) != DB_OK) {
        pthread_mutex_lock(&st->plock);
        st->nopen--;
        pthread_cond_signal(&st->pcond);
        pthread_mutex_unlock(&st->plock);
        return NULL;
    }
    if (!held_reader.db)
        held_reader = (struct held_reader){st, db, 1};
    return db;
}

void
st_reader_put(struct store *st, struct db *db)
{
    if (!db)
        return;
    if (held_reader.db == db && held_reader.st == st) {
        if (--held_reader.depth > 0)
            return;
        held_reader.db = NULL;
        held_reader.st = NULL;
    }
    pthread_mutex_lock(&st->plock);
    if (st->npool == st->cappool) {
        st->cappool = st->cappool ? st->cappool * 2 : 8;
        st->pool = xrealloc(st->pool, st->cappool * sizeof(*st->pool));
    }
    st->pool[st->npool++] = db;
    pthread_cond_signal(&st->pcond);
    pthread_mutex_unlock(&st->plock);
}

/* borrow: the statement is finalized before the caller's arguments can go (st_run), so
 * their text need not be copied. */
static enum db_rc
prep_args(struct store *st, struct db *db, struct db_stmt **out, const char *sql,
          const struct st_arg *args, size_t n, bool borrow)
{
    struct db_stmt *s = NULL;
    enum db_rc rc = st->drv->prepare(db, sql, &s);
    enum db_rc (*bind_text)(struct db_stmt *, int, const char *) =
        borrow && st->drv->bind_text_borrowed ? st->drv->bind_text_borrowed : st->drv->bind_text;

    if (rc != DB_OK)
        return rc;
    for (size_t i = 0; i < n && rc == DB_OK; i++) {
        if (args[i].kind == 's')
            rc = bind_text(s, (int)i + 1, args[i].s);
        else
            rc = st->drv->bind_int64(s, (int)i + 1, args[i].i);
    }
    if (rc != DB_OK) {
        st->drv->finalize(s);
        return rc;
    }
    *out = s;
    return DB_OK;
}

enum db_rc
st_prep(struct store *st, struct db *db, struct db_stmt **out, const char *sql,
        const struct st_arg *args, size_t n)
{
    return prep_args(st, db, out, sql, args, n, false);
}

enum db_rc
st_run(struct store *st, struct db *db, const char *sql, const struct st_arg *args, size_t n)
{
    struct db_stmt *s = NULL;
    enum db_rc rc = prep_args(st, db, &s, sql, args, n, true);

    if (rc != DB_OK)
        return rc;
    rc = st->drv->step(s);
    st->drv->finalize(s);
    return rc == DB_DONE || rc == DB_ROW ? DB_OK : rc;
}

enum db_rc
st_defer(struct store *st, const char *sql, const struct st_arg *args, size_t n)
{
    struct db_stmt *s = NULL;
    enum db_rc rc;

    if (!st->drv->defer)
        return st_run(st, st->writer, sql, args, n);
    rc = st_prep(st, st->writer, &s, sql, args, n);
    if (rc != DB_OK)
        return rc;
    rc = st->drv->defer(s);
    st->drv->finalize(s);
    return rc;
}

enum store_rc
st_rc(enum db_rc rc)
{
    switch (rc) {
    case DB_OK:
    case DB_DONE:
    case DB_ROW:
        return STORE_OK;
    case DB_CONSTRAINT:
        return STORE_EXISTS;
    default:
        return STORE_ERR;
    }
}

enum store_rc
st_read_list(struct store *st, const char *sql, const struct st_arg *args, size_t nargs,
             size_t elem, st_fill_fn fill, st_clear_fn clear, void **out, size_t *n)
{
    struct db *db = st_reader_get(st);
    struct db_stmt *s = NULL;
    unsigned char *list = NULL;
    size_t len = 0, cap = 0;
    enum store_rc rc = STORE_ERR;
    enum db_rc r = DB_ERR;

    *out = NULL;
    *n = 0;
    if (!db)
        return STORE_ERR;
    if (st_prep(st, db, &s, sql, args, nargs) != DB_OK)
        goto out;
    while ((r = st->drv->step(s)) == DB_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            list = xrealloc(list, cap * elem);
        }
        memset(list + len * elem, 0, elem);
        fill(st, s, list + len * elem);
        len++;
    }
    if (r != DB_DONE)
        goto out;
    *out = list;
    *n = len;
    list = NULL;
    len = 0;
    rc = STORE_OK;
out:
    for (size_t i = 0; i < len; i++)
        clear(list + i * elem);
    free(list);
    st->drv->finalize(s);
    st_reader_put(st, db);
    return rc;
}

enum store_rc
st_read_one(struct store *st, const char *sql, const struct st_arg *args, size_t nargs,
            st_fill_fn fill, void *item)
{
    struct db *db = st_reader_get(st);
    struct db_stmt *s = NULL;
    enum store_rc rc = STORE_ERR;
    enum db_rc r;

    if (!db)
        return STORE_ERR;
    if (st_prep(st, db, &s, sql, args, nargs) != DB_OK)
        goto out;
    r = st->drv->step(s);
    if (r == DB_ROW) {
        fill(st, s, item);
        rc = STORE_OK;
    } else if (r == DB_DONE) {
        rc = STORE_NOT_FOUND;
    }
out:
    st->drv->finalize(s);
    st_reader_put(st, db);
    return rc;
}

char *
st_dup_col(struct store *st, struct db_stmt *s, int col)
{
    const char *t = st->drv->col_text(s, col);
    return t ? xstrdup(t) : NULL;
}

void
st_fill_text(struct store *st, struct db_stmt *s, void *item)
{
    *(char **)item = st_dup_col(st, s, 0);
}

void
st_clear_text(void *item)
{
    free(*(char **)item);
}

enum store_rc
st_read_texts(struct store *st, const char *sql, const struct st_arg *args, size_t nargs,
              char ***out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc =
        st_read_list(st, sql, args, nargs, sizeof(char *), st_fill_text, st_clear_text, &list, n);
    *out = list;
    return rc;
}

void
st_dup_cols(struct store *st, struct db_stmt *s, char **const *cols, size_t n)
{
    for (size_t i = 0; i < n; i++)
        *cols[i] = st_dup_col(st, s, (int)i);
}

void
st_list_free(void *list, size_t n, size_t elem, st_clear_fn clear)
{
    for (size_t i = 0; i < n; i++)
        clear((unsigned char *)list + i * elem);
    free(list);
}

/* ---- open / migrate ---- */

static enum store_rc
migration_job(struct store *st, void *ctx)
{
    const struct migration *m = ctx;
    const char *sql = m->sql;
    enum store_rc rc;

    if (db_is_pg(st->drv))
        for (size_t i = 0; i < store_n_migrations_pg; i++)
            if (store_migrations_pg[i].version == m->version)
                sql = store_migrations_pg[i].sql;
    rc = *sql ? st_rc(st->drv->exec(st->writer, sql)) : STORE_OK;
    if (rc == STORE_OK)
        rc = st_rc(st_run(st, st->writer, "INSERT INTO schema_version (version) VALUES (?)",
                          ST_ARGS(ST_I((int64_t)m->version))));
    return rc;
}

/* Applies every migration not yet recorded. By membership, not by the highest number, so a
 * migration merged with a lower number than one already applied still runs. */
static enum store_rc
migrate(struct store *st)
{
    struct db_stmt *s = NULL;
    int64_t *have = NULL;
    size_t nhave = 0;
    enum store_rc rc = STORE_OK;
    enum db_rc r;

    if (st->drv->exec(st->writer, "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT)") !=
        DB_OK)
        return STORE_ERR;
    if (st_prep(st, st->writer, &s, "SELECT version FROM schema_version", ST_NOARGS) != DB_OK)
        return STORE_ERR;
    while ((r = st->drv->step(s)) == DB_ROW) {
        have = xrealloc(have, (nhave + 1) * sizeof(*have));
        have[nhave++] = st->drv->col_int64(s, 0);
    }
    st->drv->finalize(s);
    if (r != DB_DONE)
        rc = STORE_ERR;

    for (size_t i = 0; i < store_n_migrations && rc == STORE_OK; i++) {
        const struct migration *m = &store_migrations[i];
        bool done = false;
        for (size_t j = 0; j < nhave && !done; j++)
            done = have[j] == m->version;
        if (done)
            continue;
        log_info("store: applying migration %d", m->version);
        rc = st_write(st, migration_job, (void *)m);
    }
    free(have);
    return rc;
}

static enum store_rc
load_positions(struct store *st)
{
    struct db_stmt *s = NULL;
    enum store_rc rc = STORE_ERR;

    /* The old 'stream' counter (before positions moved to memory) also counts. */
    if (st_prep(st, st->writer, &s,
                "SELECT MAX(p) FROM (SELECT COALESCE(MAX(stream_pos), 0) AS p FROM events "
                "UNION ALL SELECT value FROM counters WHERE name = 'stream') AS t",
                ST_NOARGS) == DB_OK &&
        st->drv->step(s) == DB_ROW) {
        st->stream_next = st->drv->col_int64(s, 0);
        atomic_store(&st->stream_committed, st->stream_next);
        rc = STORE_OK;
    }
    st->drv->finalize(s);
    return rc;
}

enum store_rc
store_open(const struct config *cfg, struct store **out)
{
    struct store *st = xcalloc(1, sizeof(*st));

    if (cfg->database_name && strcmp(cfg->database_name, "psycopg2") == 0) {
        st->drv = db_pg_load(); /* modules (issue 12): libpq is mapped only here */
        if (!st->drv) {
            free(st);
            return STORE_ERR;
        }
        st->target = xstrdup(cfg->database_conninfo ? cfg->database_conninfo : "");
        st->pool_max = (size_t)cfg->database_cp_max;
    } else {
        st->drv = &db_sqlite_driver;
        st->target = xstrdup(cfg->database_path);
        /* Memory (issue 12, soak): each SQLite reader has its own page cache (db_sqlite.c), so
         * a page read through N connections is held N times; a bounded pool keeps N small.
         * Reads nest on the thread's own connection (held_reader), so waiting for one cannot
         * deadlock. */
        st->pool_max = sqlite_max_readers();
    }
    st->tokens = st_tokens_new();
    st->erased_count = -1; /* issue 14: counted on first use */
    pthread_mutex_init(&st->elock, NULL);
    pthread_mutex_init(&st->qlock, NULL);
    pthread_cond_init(&st->qcond, NULL);
    pthread_cond_init(&st->wcond, NULL);
    pthread_mutex_init(&st->plock, NULL);
    pthread_cond_init(&st->pcond, NULL);
    if (st->drv->open(st->target, true, &st->writer) != DB_OK || migrate(st) != STORE_OK ||
        load_positions(st) != STORE_OK || st_search_load_mark(st) != STORE_OK) {
        store_close(st);
        return STORE_ERR;
    }
    /* cp_min: connections ready before the first request. */
    if (st->pool_max > 0) {
        struct db *warm[1000];
        size_t n = 0;
        while (n < (size_t)cfg->database_cp_min && n < sizeof(warm) / sizeof(warm[0]) &&
               (warm[n] = st_reader_get(st)) != NULL)
            n++;
        while (n > 0)
            st_reader_put(st, warm[--n]);
    }
    *out = st;
    return STORE_OK;
}

void
store_close(struct store *st)
{
    if (!st)
        return;
    st_writer_stop(st);
    for (size_t i = 0; i < st->npool; i++)
        st->drv->close(st->pool[i]);
    free(st->pool);
    st->drv->close(st->writer);
    st_tokens_free(st->tokens);
    st->nid_made = true; /* so that all are freed */
    st_search_forget_nids(st);
    pthread_mutex_destroy(&st->qlock);
    pthread_cond_destroy(&st->qcond);
    pthread_cond_destroy(&st->wcond);
    pthread_mutex_destroy(&st->plock);
    pthread_mutex_destroy(&st->elock); /* issue 14 */
    pthread_cond_destroy(&st->pcond);
    free(st->target);
    free(st);
}

/* A write that deleted access tokens empties the token cache (whether or not it worked). */
static enum store_rc
tokens_changed(struct store *st, enum store_rc rc)
{
    st_tokens_invalidate(st->tokens);
    return rc;
}

/* push (issue 8): a write that deleted devices deleted their pushers too. */
static enum store_rc
devices_gone(struct store *st, enum store_rc rc)
{
    atomic_fetch_add(&st->pushers_gen, 1);
    return tokens_changed(st, rc);
}

/* ---- accounts ---- */

void
store_user_clear(struct store_user *u)
{
    free(u->user_id);
    free(u->password_hash);
    memset(u, 0, sizeof(*u));
}

enum store_rc
store_user_create(struct store *st, const char *user_id, const char *password_hash, bool is_guest,
                  bool is_admin, int64_t now)
{
    return ST_WRITE(st, ST_STEP("INSERT INTO users (user_id, password_hash, is_guest, is_admin, "
                                "created_ts) VALUES (?, ?, ?, ?, ?)",
                                ST_S(user_id), ST_S(password_hash), ST_B(is_guest), ST_B(is_admin),
                                ST_I(now)));
}

static void
fill_user(struct store *st, struct db_stmt *s, void *item)
{
    struct store_user *u = item;
    u->user_id = st_dup_col(st, s, 0);
    u->password_hash = st_dup_col(st, s, 1);
    u->is_guest = st->drv->col_int64(s, 2) != 0;
    u->is_admin = st->drv->col_int64(s, 3) != 0;
    u->deactivated = st->drv->col_int64(s, 4) != 0;
    u->created_ts = st->drv->col_int64(s, 5);
}

enum store_rc
store_user_get(struct store *st, const char *user_id, struct store_user *out)
{
    memset(out, 0, sizeof(*out));
    return st_read_one(st,
                       "SELECT user_id, password_hash, is_guest, is_admin, deactivated, "
                       "created_ts FROM users WHERE user_id = ?",
                       ST_ARGS(ST_S(user_id)), fill_user, out);
}

enum store_rc
store_user_set_password(struct store *st, const char *user_id, const char *hash)
{
    return ST_WRITE(st, ST_STEP_CHANGED("UPDATE users SET password_hash = ? WHERE user_id = ?",
                                        ST_S(hash), ST_S(user_id)));
}

enum store_rc
store_user_deactivate(struct store *st, const char *user_id)
{
    return devices_gone(
        st,
        ST_WRITE(
            st,
            ST_STEP_CHANGED("UPDATE users SET deactivated = 1 WHERE user_id = ?", ST_S(user_id)),
            ST_STEP("DELETE FROM access_tokens WHERE user_id = ?", ST_S(user_id)),
            ST_STEP("DELETE FROM devices WHERE user_id = ?", ST_S(user_id)),
            ST_STEP("DELETE FROM pushers WHERE user_id = ?", ST_S(user_id)),
            /* e2e: the devices' keys and inboxes go with them */
            ST_E2E_DEVICES_GONE_STEPS("user_id = ?", ST_S(user_id)), ST_DL_LOG_STEPS(user_id)));
}

static enum store_rc
next_number_job(struct store *st, void *ctx)
{
    int64_t *out = ctx;
    struct db_stmt *s = NULL;
    enum store_rc rc;

    rc = st_rc(st_run(st, st->writer,
                      "UPDATE counters SET value = value + 1 WHERE name = 'localpart'", ST_NOARGS));
    if (rc != STORE_OK)
        return rc;
    rc = STORE_ERR;
    if (st_prep(st, st->writer, &s, "SELECT value FROM counters WHERE name = 'localpart'",
                ST_NOARGS) == DB_OK &&
        st->drv->step(s) == DB_ROW) {
        *out = st->drv->col_int64(s, 0);
        rc = STORE_OK;
    }
    st->drv->finalize(s);
    return rc;
}

enum store_rc
store_next_localpart_number(struct store *st, int64_t *out)
{
    return st_write(st, next_number_job, out);
}

/* ---- devices ---- */

void
store_device_clear(struct store_device *d)
{
    free(d->device_id);
    free(d->display_name);
    free(d->last_seen_ip);
    free(d->last_seen_user_agent);
    memset(d, 0, sizeof(*d));
}

enum store_rc
store_device_login(struct store *st, const char *user_id, const char *device_id,
                   const char *display_name, const char *token_hash, const char *ip,
                   const char *user_agent, int64_t now)
{
    return store_device_login_until(st, user_id, device_id, display_name, token_hash, ip,
                                    user_agent, now, 0);
}

enum store_rc
store_device_login_until(struct store *st, const char *user_id, const char *device_id,
                         const char *display_name, const char *token_hash, const char *ip,
                         const char *user_agent, int64_t now, int64_t valid_until_ts)
{
    return tokens_changed(
        st,
        ST_WRITE(
            st,
            /* e2e: a new device is a device-list change (logged before the device exists) */
            ST_STEP("UPDATE counters SET value = value + 1 WHERE name = 'device_lists' AND NOT "
                    "EXISTS (SELECT 1 FROM devices WHERE user_id = ? AND device_id = ?)",
                    ST_S(user_id), ST_S(device_id)),
            ST_STEP(ST_SQL_DL_LOG " AND NOT EXISTS (SELECT 1 FROM devices WHERE user_id = ? AND "
                                  "device_id = ?)",
                    ST_S(user_id), ST_S(user_id), ST_S(device_id)),
            ST_STEP("INSERT INTO devices (user_id, device_id, display_name, last_seen_ip, "
                    "last_seen_user_agent, last_seen_ts, created_ts) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (user_id, device_id) DO UPDATE SET "
                    "last_seen_ip = excluded.last_seen_ip, "
                    "last_seen_user_agent = excluded.last_seen_user_agent, "
                    "last_seen_ts = excluded.last_seen_ts",
                    ST_S(user_id), ST_S(device_id), ST_S(display_name), ST_S(ip), ST_S(user_agent),
                    ST_I(now), ST_I(now)),
            ST_STEP("DELETE FROM access_tokens WHERE user_id = ? AND device_id = ?", ST_S(user_id),
                    ST_S(device_id)),
            ST_STEP("INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, "
                    "valid_until_ts) VALUES (?, ?, ?, ?, ?)",
                    ST_S(token_hash), ST_S(user_id), ST_S(device_id), ST_I(now),
                    ST_I(valid_until_ts))));
}

static void
read_device(struct store *st, struct db_stmt *s, struct store_device *d)
{
    d->device_id = st_dup_col(st, s, 0);
    d->display_name = st_dup_col(st, s, 1);
    d->last_seen_ip = st_dup_col(st, s, 2);
    d->last_seen_ts = st->drv->col_int64(s, 3);
    d->last_seen_user_agent = st_dup_col(st, s, 4);
}

static void
fill_device(struct store *st, struct db_stmt *s, void *item)
{
    read_device(st, s, item);
}

static void
clear_device(void *item)
{
    store_device_clear(item);
}

void
store_device_list_free(struct store_device *list, size_t n)
{
    st_list_free(list, n, sizeof(*list), clear_device);
}

enum store_rc
store_device_list(struct store *st, const char *user_id, struct store_device **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc =
        st_read_list(st,
                     "SELECT device_id, display_name, last_seen_ip, last_seen_ts, "
                     "last_seen_user_agent FROM devices WHERE user_id = ? "
                     "ORDER BY device_id",
                     ST_ARGS(ST_S(user_id)), sizeof(**out), fill_device, clear_device, &list, n);
    *out = list;
    return rc;
}

enum store_rc
store_device_get(struct store *st, const char *user_id, const char *device_id,
                 struct store_device *out)
{
    memset(out, 0, sizeof(*out));
    return st_read_one(st,
                       "SELECT device_id, display_name, last_seen_ip, last_seen_ts, "
                       "last_seen_user_agent FROM devices WHERE user_id = ? AND device_id = ?",
                       ST_ARGS(ST_S(user_id), ST_S(device_id)), fill_device, out);
}

enum store_rc
store_device_set_display_name(struct store *st, const char *user_id, const char *device_id,
                              const char *name)
{
    return ST_WRITE(st, ST_STEP_CHANGED("UPDATE devices SET display_name = ? WHERE user_id = ? "
                                        "AND device_id = ?",
                                        ST_S(name), ST_S(user_id), ST_S(device_id)));
}

enum store_rc
store_device_delete(struct store *st, const char *user_id, const char *device_id)
{
    return devices_gone(
        st, ST_WRITE(st,
                     ST_STEP_CHANGED("DELETE FROM devices WHERE user_id = ? AND device_id = ?",
                                     ST_S(user_id), ST_S(device_id)),
                     ST_STEP("DELETE FROM access_tokens WHERE user_id = ? AND device_id = ?",
                             ST_S(user_id), ST_S(device_id)),
                     ST_STEP("DELETE FROM pushers WHERE user_id = ? AND device_id = ?",
                             ST_S(user_id), ST_S(device_id)),
                     ST_E2E_DEVICES_GONE_STEPS("user_id = ? AND device_id = ?", ST_S(user_id),
                                               ST_S(device_id)),
                     ST_DL_LOG_STEPS(user_id)));
}

enum store_rc
store_device_delete_all_except(struct store *st, const char *user_id, const char *keep)
{
    /* A NULL `keep` binds SQL NULL, and `device_id IS DISTINCT FROM NULL` keeps nothing. */
    return devices_gone(
        st,
        ST_WRITE(
            st,
            ST_STEP("DELETE FROM devices WHERE user_id = ? AND device_id IS DISTINCT FROM ?",
                    ST_S(user_id), ST_S(keep)),
            ST_STEP("DELETE FROM access_tokens WHERE user_id = ? AND device_id IS DISTINCT FROM ?",
                    ST_S(user_id), ST_S(keep)),
            ST_STEP("DELETE FROM pushers WHERE user_id = ? AND device_id IS DISTINCT FROM ?",
                    ST_S(user_id), ST_S(keep)),
            ST_E2E_DEVICES_GONE_STEPS("user_id = ? AND device_id IS DISTINCT FROM ?", ST_S(user_id),
                                      ST_S(keep)),
            ST_DL_LOG_STEPS(user_id)));
}

enum store_rc
store_device_touch(struct store *st, const char *user_id, const char *device_id, const char *ip,
                   const char *user_agent, int64_t now)
{
    enum store_rc rc = ST_WRITE(
        st, ST_STEP("UPDATE devices SET last_seen_ip = ?, last_seen_user_agent = ?, "
                    "last_seen_ts = ? WHERE user_id = ? AND device_id = ?",
                    ST_S(ip), ST_S(user_agent), ST_I(now), ST_S(user_id), ST_S(device_id)));
    if (rc == STORE_OK)
        st_tokens_touch(st->tokens, user_id, device_id, ip, user_agent, now);
    return rc;
}

/* ---- tokens ---- */

void
store_auth_clear(struct store_auth *a)
{
    free(a->user_id);
    free(a->device_id);
    free(a->last_seen_ip);
    free(a->last_seen_user_agent);
    memset(a, 0, sizeof(*a));
}

static void
fill_auth(struct store *st, struct db_stmt *s, void *item)
{
    struct store_auth *a = item;
    a->user_id = st_dup_col(st, s, 0);
    a->device_id = st_dup_col(st, s, 1);
    a->is_guest = st->drv->col_int64(s, 2) != 0;
    a->last_seen_ip = st_dup_col(st, s, 3);
    a->last_seen_ts = st->drv->col_int64(s, 4);
    a->last_seen_user_agent = st_dup_col(st, s, 5);
    a->valid_until_ts = st->drv->col_int64(s, 6);
}

enum store_rc
store_token_lookup(struct store *st, const char *token_hash, struct store_auth *out)
{
    uint64_t gen = st_tokens_gen(st->tokens);
    enum store_rc rc;

    memset(out, 0, sizeof(*out));
    if (st_tokens_get(st->tokens, token_hash, out))
        return STORE_OK;
    rc = st_read_one(st,
                     "SELECT t.user_id, t.device_id, u.is_guest, d.last_seen_ip, d.last_seen_ts, "
                     "d.last_seen_user_agent, COALESCE(t.valid_until_ts, 0) FROM access_tokens t "
                     "JOIN users u ON u.user_id = t.user_id "
                     "LEFT JOIN devices d ON d.user_id = t.user_id AND d.device_id = t.device_id "
                     "WHERE t.token_hash = ? AND u.deactivated = 0",
                     ST_ARGS(ST_S(token_hash)), fill_auth, out);
    if (rc == STORE_OK)
        st_tokens_put(st->tokens, token_hash, out, gen);
    return rc;
}

enum store_rc
store_login_token_add(struct store *st, const char *token_hash, const char *user_id,
                      int64_t expiry_ts)
{
    /* Tokens nobody used are dropped a day after they expired (issue 10); relative to this
     * token's expiry, so the store needs no clock. */
    return ST_WRITE(
        st, ST_STEP("DELETE FROM login_tokens WHERE expiry_ts < ?", ST_I(expiry_ts - 86400000)),
        ST_STEP("INSERT INTO login_tokens (token_hash, user_id, expiry_ts) "
                "VALUES (?, ?, ?)",
                ST_S(token_hash), ST_S(user_id), ST_I(expiry_ts)));
}

struct consume_ctx {
    const char *token_hash;
    int64_t now;
    char *user_id;
    enum store_rc result;
};

static enum store_rc
consume_job(struct store *st, void *arg)
{
    struct consume_ctx *c = arg;
    struct db_stmt *s = NULL;
    enum db_rc r;

    c->result = STORE_ERR;
    if (st_prep(st, st->writer, &s,
                "SELECT user_id, expiry_ts FROM login_tokens WHERE token_hash = ?",
                ST_ARGS(ST_S(c->token_hash))) != DB_OK)
        return STORE_ERR;
    r = st->drv->step(s);
    if (r == DB_DONE) {
        st->drv->finalize(s);
        c->result = STORE_NOT_FOUND;
        return STORE_OK;
    }
    if (r != DB_ROW) {
        st->drv->finalize(s);
        return STORE_ERR;
    }
    c->result = st->drv->col_int64(s, 1) < c->now ? STORE_NOT_FOUND : STORE_OK;
    if (c->result == STORE_OK)
        c->user_id = st_dup_col(st, s, 0);
    st->drv->finalize(s);
    /* Single use: the token goes whether or not it was still valid. */
    return st_rc(st_run(st, st->writer, "DELETE FROM login_tokens WHERE token_hash = ?",
                        ST_ARGS(ST_S(c->token_hash))));
}

enum store_rc
store_login_token_consume(struct store *st, const char *token_hash, int64_t now, char **user_id)
{
    struct consume_ctx c = {token_hash, now, NULL, STORE_ERR};
    enum store_rc rc = st_write(st, consume_job, &c);

    if (rc != STORE_OK)
        c.result = STORE_ERR;
    if (c.result != STORE_OK) {
        free(c.user_id);
        c.user_id = NULL;
    }
    *user_id = c.user_id;
    return c.result;
}
