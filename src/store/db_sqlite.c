/* SQLite driver: WAL mode, synchronous=FULL so a committed write is on disk before the
 * caller answers 200. */
#include "store/db.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "store/sqlite_walbuf.h"
#include "store/store.h"

/* Prepared statements are kept per connection and reused: compiling SQL costs more than
 * running most of our queries. The SQL text is a string literal, so its address is a cheap
 * first check. The store has more distinct statements than a connection keeps, so the least
 * recently used one makes room: a fixed set filled at start-up would leave every statement
 * first used later compiled on each use for the rest of the server's life. */
#define STMT_CACHE 96

struct db_stmt {
    sqlite3_stmt *st;
    struct db *db;
    struct cached_stmt *slot; /* NULL: not cached, finalize for real */
};

struct cached_stmt {
    const char *key; /* the caller's pointer, compared first */
    char *sql;       /* our copy of the text */
    uint64_t hash;   /* of the text */
    uint64_t used;   /* db->tick when last handed out */
    sqlite3_stmt *st;
    bool in_use;
    struct db_stmt handle; /* handed out while in use: no allocation per statement run */
};

/* Checkpoints (the WAL's pages copied back into the database file) run on a thread of their
 * own, not inside the COMMIT that crosses SQLite's threshold: there they held up that
 * request and every request batched behind it for a copy and two fsyncs (the p99 of a send,
 * and so of a wake-up). The writer's WAL hook wakes the thread every CKPT_STEP frames from
 * CKPT_FRAMES on. A passive checkpoint cannot finish while writes keep coming, and the WAL
 * only starts over after one that did, so at CKPT_HARD frames the writer checkpoints itself,
 * as SQLite would have (cheap by then: the thread copied most pages already). */
#define CKPT_FRAMES 1000
#define CKPT_STEP 500
#define CKPT_HARD 4096

struct checkpointer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sqlite3 *h; /* its own connection */
    bool started, pending, stop;
    int next_kick; /* WAL frames at which the hook wakes the thread next */
    int last_frames;
    _Atomic uint64_t background, inline_; /* checkpoints run (db_sqlite_checkpoints) */
};

struct db {
    sqlite3 *h;
    char *target;
    struct checkpointer *ckpt; /* the writer's, once started */
    struct cached_stmt cache[STMT_CACHE];
    size_t ncache;
    uint64_t tick;
    uint64_t compiled; /* statements compiled so far (db_sqlite_compiled) */
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

static bool exec_cached(struct db *db, const char *sql, enum db_rc *rc);

static enum db_rc
sq_exec(struct db *db, const char *sql)
{
    enum db_rc cached;
    if (exec_cached(db, sql, &cached))
        return cached;
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

/* Milliseconds between attempts while each finds new frames (writes came in meanwhile): once
 * writes pause, one reaches the WAL's end and the next commit starts the WAL over. */
#define CKPT_RETRY_MS 50

static void *
ckpt_main(void *arg)
{
    struct checkpointer *ck = arg;
    bool retry = false;
    int last_log = -1;

    pthread_mutex_lock(&ck->mu);
    while (!ck->stop) {
        int log = 0, done = 0, rc;
        if (!ck->pending && retry) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += CKPT_RETRY_MS * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            if (pthread_cond_timedwait(&ck->cv, &ck->mu, &until) != ETIMEDOUT)
                continue;
        } else if (!ck->pending) {
            pthread_cond_wait(&ck->cv, &ck->mu);
            continue;
        }
        ck->pending = false;
        pthread_mutex_unlock(&ck->mu);
        rc = sqlite3_wal_checkpoint_v2(ck->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_error("sqlite: checkpoint: %s", sqlite3_errmsg(ck->h));
        /* Again shortly while each attempt finds frames the last did not see. */
        retry = rc == SQLITE_BUSY || (rc == SQLITE_OK && (done < log || log != last_log));
        last_log = log;
        atomic_fetch_add(&ck->background, 1);
        pthread_mutex_lock(&ck->mu);
    }
    pthread_mutex_unlock(&ck->mu);
    return NULL;
}

/* The thread and its connection, at the first checkpoint due (so a database that never
 * reaches the threshold, or is in memory, has neither). False: checkpoint inline instead. */
static bool
ckpt_start(struct db *db)
{
    struct checkpointer *ck = db->ckpt;

    if (ck->started)
        return true;
    if (sqlite3_open_v2(db->target, &ck->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(ck->h, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK) {
        log_error("sqlite: cannot open the checkpoint connection: %s",
                  ck->h ? sqlite3_errmsg(ck->h) : "");
        sqlite3_close(ck->h);
        ck->h = NULL;
        return false;
    }
    sqlite3_busy_timeout(ck->h, 10000);
    if (pthread_create(&ck->thread, NULL, ckpt_main, ck) != 0) {
        log_error("sqlite: cannot start the checkpoint thread");
        sqlite3_close(ck->h);
        ck->h = NULL;
        return false;
    }
    ck->started = true;
    return true;
}

/* Called on the writer's thread after each commit, with the WAL's size in frames. */
static int
wal_hook(void *arg, sqlite3 *h, const char *name, int frames)
{
    struct db *db = arg;
    struct checkpointer *ck = db->ckpt;

    if (frames < ck->last_frames || ck->next_kick == 0)
        ck->next_kick = CKPT_FRAMES; /* the WAL started over */
    ck->last_frames = frames;
    if (frames >= CKPT_HARD) {
        sqlite3_wal_checkpoint_v2(h, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        atomic_fetch_add(&ck->inline_, 1);
    } else if (frames >= ck->next_kick) {
        ck->next_kick = frames + CKPT_STEP;
        if (ckpt_start(db)) {
            pthread_mutex_lock(&ck->mu);
            ck->pending = true;
            pthread_cond_signal(&ck->cv);
            pthread_mutex_unlock(&ck->mu);
        } else {
            sqlite3_wal_checkpoint_v2(h, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
            atomic_fetch_add(&ck->inline_, 1);
        }
    }
    return SQLITE_OK;
}

static void
ckpt_stop(struct db *db)
{
    struct checkpointer *ck = db->ckpt;

    if (!ck)
        return;
    if (ck->started) {
        pthread_mutex_lock(&ck->mu);
        ck->stop = true;
        pthread_cond_signal(&ck->cv);
        pthread_mutex_unlock(&ck->mu);
        pthread_join(ck->thread, NULL);
        sqlite3_close(ck->h);
    }
    pthread_cond_destroy(&ck->cv);
    pthread_mutex_destroy(&ck->mu);
    free(ck);
    db->ckpt = NULL;
}

/* SQLite's memory statistics (on by default) put one process-wide mutex around every
 * allocation it makes: contended by all connections under load, and we never read them.
 * Must precede SQLite's initialisation (the first open). */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void
sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static enum db_rc
sq_open(const char *target, bool writer, struct db **out)
{
    struct db *db = xcalloc(1, sizeof(*db));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    int rc;

    pthread_once(&sqlite_once, sqlite_setup);
    if (writer)
        flags |= SQLITE_OPEN_CREATE;
    db->target = xstrdup(target);
    /* The writer's WAL writes go out in one call per commit (sqlite_walbuf.c). */
    rc = sqlite3_open_v2(target, &db->h, flags, writer ? sqlite_walbuf_vfs() : NULL);
    if (rc != SQLITE_OK) {
        log_error("sqlite: cannot open %s: %s", target, db->h ? sqlite3_errmsg(db->h) : "");
        goto fail;
    }
    /* Readers and the writer share WAL; a reader never waits, the writer rarely. */
    sqlite3_busy_timeout(db->h, 10000);
    sqlite3_extended_result_codes(db->h, 1);
    /* No memory map, for readers either (issue 12, soak): the kernel maps the 16 pages around
     * each page faulted in, so a reader's map counted up to 19 MB of the file in the resident
     * size with 500 users (peak 53-55 MB; 43 MB without), and SQLite drops a reader's map at
     * every commit made meanwhile anyway. Each reader's page cache holds 16 MiB instead: an
     * initial sync of 100 rooms then reads no page twice while nothing is written (with 8 MiB,
     * 1,400 pages a sync again). A commit elsewhere empties it, so under load it holds what
     * one read touched. Cost: about 2 ms (4 %) more CPU for that initial sync. */
    if (sq_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                    "PRAGMA temp_store=MEMORY;") != DB_OK ||
        (!writer && sq_exec(db, "PRAGMA cache_size=-16384;") != DB_OK))
        goto fail;
    if (writer) {
        db->ckpt = xcalloc(1, sizeof(*db->ckpt));
        pthread_mutex_init(&db->ckpt->mu, NULL);
        pthread_cond_init(&db->ckpt->cv, NULL);
        /* Replaces SQLite's automatic checkpoint (which is itself a WAL hook). */
        sqlite3_wal_hook(db->h, wal_hook, db);
    }
    *out = db;
    return DB_OK;
fail:
    sqlite3_close(db->h);
    ckpt_stop(db);
    free(db->target);
    free(db);
    return DB_ERR;
}

void
db_sqlite_checkpoints(const struct db *db, uint64_t *background, uint64_t *inline_)
{
    *background = db->ckpt ? atomic_load(&db->ckpt->background) : 0;
    *inline_ = db->ckpt ? atomic_load(&db->ckpt->inline_) : 0;
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
    /* The thread first: its checkpoint must not run on after the last connection closed
     * (which checkpoints and removes the WAL itself). */
    ckpt_stop(db);
    for (size_t i = 0; i < db->ncache; i++) {
        sqlite3_finalize(db->cache[i].st);
        free(db->cache[i].sql);
    }
    sqlite3_close(db->h);
    free(db->target);
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
    *out = slot ? &slot->handle : xmalloc(sizeof(**out));
    **out = (struct db_stmt){slot ? slot->st : st, db, slot};
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

/* Not copied (db.h): an event's text is bound to several statements per send. */
static enum db_rc
sq_bind_text_borrowed(struct db_stmt *s, int idx, const char *v)
{
    int rc =
        v ? sqlite3_bind_text(s->st, idx, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s->st, idx);
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
        s->slot->in_use = false; /* s is the slot's handle */
        return;
    }
    sqlite3_finalize(s->st);
    free(s);
}

/* One statement from the cache, run to its end. */
static enum db_rc
run_cached(struct db *db, const char *sql)
{
    struct db_stmt *s = NULL;
    enum db_rc rc = sq_prepare(db, sql, &s);

    if (rc == DB_OK && (rc = sq_step(s)) == DB_DONE)
        rc = DB_OK;
    else if (rc == DB_ROW)
        rc = DB_ERR; /* not a statement for exec */
    sq_finalize(s);
    return rc;
}

/* Transaction control (BEGIN, COMMIT, SAVEPOINT job...) runs at least twice per write: from
 * the statement cache, not compiled at each call as sqlite3_exec would. Only short texts of
 * words (no literal, no parameter); false when sql is not one, for sqlite3_exec. A single
 * statement is cached under the caller's text (found by its address); several ("RELEASE
 * job; SAVEPOINT job") are run one by one from a copy. */
static bool
exec_cached(struct db *db, const char *sql, enum db_rc *rc)
{
    char part[48];
    size_t len = strlen(sql);

    if (len >= sizeof(part) ||
        strspn(sql, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_ ;") != len)
        return false;
    if (!strchr(sql, ';')) {
        *rc = run_cached(db, sql);
        return true;
    }
    *rc = DB_OK;
    for (const char *p = sql; *p && *rc == DB_OK;) {
        size_t n = strcspn(p, ";");

        memcpy(part, p, n);
        part[n] = '\0';
        p += n;
        p += strspn(p, "; ");
        if (strspn(part, " ") != n)
            *rc = run_cached(db, part);
    }
    return true;
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
    .bind_text_borrowed = sq_bind_text_borrowed,
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
