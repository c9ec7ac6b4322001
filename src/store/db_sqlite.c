/* SQLite driver: WAL mode, synchronous=FULL so a committed write is on disk before the
 * caller answers 200. */
#include "store/db.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

/* Prepared statements are kept per connection and reused: compiling SQL costs more than
 * running most of our queries. The SQL text is a string literal, so its address is a cheap
 * first check. The store has more distinct statements than a connection keeps, so the least
 * recently used one makes room: a fixed set filled at start-up would leave every statement
 * first used later compiled on each use for the rest of the server's life. */
#define STMT_CACHE 96

struct cached_stmt {
    const char *key; /* the caller's pointer, compared first */
    char *sql;       /* our copy of the text */
    uint64_t hash;   /* of the text */
    uint64_t used;   /* db->tick when last handed out */
    sqlite3_stmt *st;
    bool in_use;
};

struct db {
    sqlite3 *h;
    struct cached_stmt cache[STMT_CACHE];
    size_t ncache;
    uint64_t tick;
    uint64_t compiled; /* statements compiled so far (db_sqlite_compiled) */
};

struct db_stmt {
    sqlite3_stmt *st;
    struct db *db;
    struct cached_stmt *slot; /* NULL: not cached, finalize for real */
};

static enum db_rc
map_rc(struct db *db, int rc, const char *what)
{
    switch (rc) {
    case SQLITE_OK:
        return DB_OK;
    case SQLITE_ROW:
        return DB_ROW;
    case SQLITE_DONE:
        return DB_DONE;
    default:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return DB_CONSTRAINT;
        log_error("sqlite %s: %s", what, db ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
        return DB_ERR;
    }
}

static enum db_rc
sq_exec(struct db *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db->h, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
            sqlite3_free(err);
            return DB_CONSTRAINT;
        }
        log_error("sqlite exec: %s", err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        return DB_ERR;
    }
    return DB_OK;
}

static enum db_rc
sq_open(const char *target, bool writer, struct db **out)
{
    struct db *db = xcalloc(1, sizeof(*db));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    int rc;

    if (writer)
        flags |= SQLITE_OPEN_CREATE;
    rc = sqlite3_open_v2(target, &db->h, flags, NULL);
    if (rc != SQLITE_OK) {
        log_error("sqlite: cannot open %s: %s", target, db->h ? sqlite3_errmsg(db->h) : "");
        goto fail;
    }
    /* Readers and the writer share WAL; a reader never waits, the writer rarely. */
    sqlite3_busy_timeout(db->h, 10000);
    sqlite3_extended_result_codes(db->h, 1);
    /* Reads through a memory map: a sync touches hundreds of pages, and pread's system call
     * and copy per page were a tenth of its time. */
    if (sq_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                    "PRAGMA temp_store=MEMORY; PRAGMA mmap_size=268435456;") != DB_OK)
        goto fail;
    *out = db;
    return DB_OK;
fail:
    sqlite3_close(db->h);
    free(db);
    return DB_ERR;
}

uint64_t
db_sqlite_compiled(const struct db *db)
{
    return db->compiled;
}

static void
sq_close(struct db *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->ncache; i++) {
        sqlite3_finalize(db->cache[i].st);
        free(db->cache[i].sql);
    }
    sqlite3_close(db->h);
    free(db);
}

static uint64_t
sql_hash(const char *sql)
{
    uint64_t h = UINT64_C(14695981039346656037); /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
        h = (h ^ *p) * UINT64_C(1099511628211);
    return h;
}

static struct cached_stmt *
cache_find(struct db *db, const char *sql, uint64_t *hash)
{
    uint64_t h;

    /* Same address first (the usual case), confirmed by the text in case a caller's buffer
     * was reused for other SQL. */
    for (size_t i = 0; i < db->ncache; i++)
        if (db->cache[i].key == sql && !db->cache[i].in_use && strcmp(db->cache[i].sql, sql) == 0)
            return &db->cache[i];
    *hash = h = sql_hash(sql);
    for (size_t i = 0; i < db->ncache; i++)
        if (db->cache[i].hash == h && !db->cache[i].in_use && strcmp(db->cache[i].sql, sql) == 0)
            return &db->cache[i];
    return NULL;
}

/* A slot for a new statement: a free one, else the least recently used one not in use
 * (its statement finalized), else NULL (every one is in use: the new one is not kept). */
static struct cached_stmt *
cache_slot(struct db *db)
{
    struct cached_stmt *lru = NULL;

    if (db->ncache < STMT_CACHE)
        return &db->cache[db->ncache++];
    for (size_t i = 0; i < db->ncache; i++)
        if (!db->cache[i].in_use && (!lru || db->cache[i].used < lru->used))
            lru = &db->cache[i];
    if (lru) {
        sqlite3_finalize(lru->st);
        free(lru->sql);
        memset(lru, 0, sizeof(*lru));
    }
    return lru;
}

static enum db_rc
sq_prepare(struct db *db, const char *sql, struct db_stmt **out)
{
    uint64_t hash = 0;
    struct cached_stmt *slot = cache_find(db, sql, &hash);
    sqlite3_stmt *st = NULL;
    int rc;

    if (!slot) {
        rc = sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        db->compiled++;
        if (rc != SQLITE_OK)
            return map_rc(db, rc, "prepare");
        if ((slot = cache_slot(db))) {
            /* Cached by its own copy of the text: the caller's need not outlive us. */
            slot->key = sql;
            slot->sql = xstrdup(sql);
            slot->hash = hash;
            slot->st = st;
        }
    }
    *out = xmalloc(sizeof(**out));
    (*out)->st = slot ? slot->st : st;
    (*out)->db = db;
    (*out)->slot = slot;
    if (slot) {
        slot->in_use = true;
        slot->used = ++db->tick;
    }
    return DB_OK;
}

static enum db_rc
sq_bind_text(struct db_stmt *s, int idx, const char *v)
{
    int rc =
        v ? sqlite3_bind_text(s->st, idx, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s->st, idx);
    return map_rc(s->db, rc, "bind");
}

static enum db_rc
sq_bind_int64(struct db_stmt *s, int idx, int64_t v)
{
    return map_rc(s->db, sqlite3_bind_int64(s->st, idx, v), "bind");
}

static enum db_rc
sq_bind_null(struct db_stmt *s, int idx)
{
    return map_rc(s->db, sqlite3_bind_null(s->st, idx), "bind");
}

static enum db_rc
sq_step(struct db_stmt *s)
{
    return map_rc(s->db, sqlite3_step(s->st), "step");
}

static const char *
sq_col_text(struct db_stmt *s, int col)
{
    return (const char *)sqlite3_column_text(s->st, col);
}

static int64_t
sq_col_int64(struct db_stmt *s, int col)
{
    return sqlite3_column_int64(s->st, col);
}

static bool
sq_col_is_null(struct db_stmt *s, int col)
{
    return sqlite3_column_type(s->st, col) == SQLITE_NULL;
}

static void
sq_finalize(struct db_stmt *s)
{
    if (!s)
        return;
    if (s->slot) {
        sqlite3_reset(s->st);
        sqlite3_clear_bindings(s->st);
        s->slot->in_use = false;
    } else {
        sqlite3_finalize(s->st);
    }
    free(s);
}

static int64_t
sq_changes(struct db *db)
{
    return sqlite3_changes64(db->h);
}

const struct db_driver db_sqlite_driver = {
    .name = "sqlite3",
    .open = sq_open,
    .close = sq_close,
    .exec = sq_exec,
    .prepare = sq_prepare,
    .bind_text = sq_bind_text,
    .bind_int64 = sq_bind_int64,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .col_text = sq_col_text,
    .col_int64 = sq_col_int64,
    .col_is_null = sq_col_is_null,
    .finalize = sq_finalize,
    .changes = sq_changes,
};

/* ---- hearth backup (issue 14) ---- */

/* One step of -1 pages copies the whole database under one read transaction: in WAL mode
 * that is a consistent snapshot, and the server's writer goes on meanwhile. (Copying in
 * chunks would restart every time the server commits, and a busy server would starve it.) */
int
store_backup_sqlite(const char *src_path, const char *dest_path)
{
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *b = NULL;
    int rc = -1, step;

    if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "hearth: cannot open %s: %s\n", src_path, sqlite3_errmsg(src));
        goto out;
    }
    sqlite3_busy_timeout(src, 10000);
    if (sqlite3_open_v2(dest_path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        fprintf(stderr, "hearth: cannot create %s: %s\n", dest_path, sqlite3_errmsg(dst));
        goto out;
    }
    b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        fprintf(stderr, "hearth: backup: %s\n", sqlite3_errmsg(dst));
        goto out;
    }
    for (int tries = 0; tries < 100; tries++) {
        step = sqlite3_backup_step(b, -1);
        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_BUSY && step != SQLITE_LOCKED) {
            fprintf(stderr, "hearth: backup: %s\n", sqlite3_errstr(step));
            goto out;
        }
        sqlite3_sleep(100);
    }
    if (sqlite3_backup_finish(b) != SQLITE_OK) {
        b = NULL;
        fprintf(stderr, "hearth: backup: %s\n", sqlite3_errmsg(dst));
        goto out;
    }
    b = NULL;
    /* The copy is a standalone file: no -wal beside it to forget when it is moved. */
    if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(dst, "PRAGMA integrity_check", NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "hearth: backup: %s\n", sqlite3_errmsg(dst));
        goto out;
    }
    rc = 0;
out:
    if (b)
        sqlite3_backup_finish(b);
    sqlite3_close(dst);
    sqlite3_close(src);
    return rc;
}
