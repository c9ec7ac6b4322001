/* The SQLite driver's statement cache: more distinct statements than it keeps, statements in
 * use while others are evicted, and the same text at a new address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/db.h"

static const struct db_driver *drv = &db_sqlite_driver;

static struct db *
open_db(void)
{
    struct db *db = NULL;
    assert_int_equal(drv->open(":memory:", true, &db), DB_OK);
    assert_int_equal(drv->exec(db, "CREATE TABLE t (k BIGINT PRIMARY KEY, v TEXT);"
                                   "INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three');"),
                     DB_OK);
    return db;
}

/* SELECT k + n FROM t WHERE k = 1, stepped and checked. */
static void
check_plus(struct db *db, const char *sql, int64_t want)
{
    struct db_stmt *s = NULL;
    assert_int_equal(drv->prepare(db, sql, &s), DB_OK);
    assert_int_equal(drv->step(s), DB_ROW);
    assert_int_equal(drv->col_int64(s, 0), want);
    assert_int_equal(drv->step(s), DB_DONE);
    drv->finalize(s);
}

/* Far more distinct statements than the cache holds, each run twice, interleaved with a hot
 * one: every answer is right (an evicted statement is compiled again, a kept one reused). */
static void
test_many_statements(void **state)
{
    (void)state;
    struct db *db = open_db();
    char sql[128];

    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 1000; i++) {
            snprintf(sql, sizeof(sql), "SELECT k + %d FROM t WHERE k = 1", i);
            check_plus(db, sql, 1 + i);
            check_plus(db, "SELECT k + 1000000 FROM t WHERE k = 1", 1000001);
        }
    drv->close(db);
}

/* A statement first used after the cache is full is kept (the least recently used one
 * makes room), and one in steady use is never the one evicted. */
static void
test_late_statement_cached(void **state)
{
    (void)state;
    struct db *db = open_db();
    const char *hot = "SELECT k + 1000000 FROM t WHERE k = 1";
    char sql[128];
    uint64_t before;

    for (int i = 0; i < 500; i++) {
        snprintf(sql, sizeof(sql), "SELECT k + %d FROM t WHERE k = 1", i);
        check_plus(db, sql, 1 + i);
    }
    before = db_sqlite_compiled(db);
    for (int i = 0; i < 10; i++)
        check_plus(db, "SELECT k + 2000000 FROM t WHERE k = 1", 2000001);
    assert_int_equal(db_sqlite_compiled(db) - before, 1);
    /* The hot statement survives a stream of one-off ones. */
    check_plus(db, hot, 1000001);
    for (int i = 0; i < 500; i++) {
        snprintf(sql, sizeof(sql), "SELECT k + %d FROM t WHERE k = 3", i);
        check_plus(db, sql, 3 + i);
        check_plus(db, hot, 1000001);
    }
    before = db_sqlite_compiled(db);
    check_plus(db, hot, 1000001);
    assert_int_equal(db_sqlite_compiled(db), before);
    drv->close(db);
}

/* A statement being stepped is never evicted, however many others pass meanwhile; and a
 * second use of the same text while the first is open gets a statement of its own. */
static void
test_in_use_kept(void **state)
{
    (void)state;
    struct db *db = open_db();
    const char *outer_sql = "SELECT k, v FROM t ORDER BY k";
    struct db_stmt *outer = NULL, *inner = NULL;
    char sql[128];

    assert_int_equal(drv->prepare(db, outer_sql, &outer), DB_OK);
    assert_int_equal(drv->step(outer), DB_ROW);
    assert_int_equal(drv->col_int64(outer, 0), 1);
    for (int i = 0; i < 500; i++) {
        snprintf(sql, sizeof(sql), "SELECT k + %d FROM t WHERE k = 1", i);
        check_plus(db, sql, 1 + i);
    }
    /* The same SQL, nested, at another address. */
    char *copy = strdup(outer_sql);
    assert_non_null(copy);
    assert_int_equal(drv->prepare(db, copy, &inner), DB_OK);
    assert_int_equal(drv->step(inner), DB_ROW);
    assert_int_equal(drv->col_int64(inner, 0), 1);
    drv->finalize(inner);
    free(copy);
    assert_int_equal(drv->step(outer), DB_ROW);
    assert_int_equal(drv->col_int64(outer, 0), 2);
    assert_string_equal(drv->col_text(outer, 1), "two");
    assert_int_equal(drv->step(outer), DB_ROW);
    assert_int_equal(drv->step(outer), DB_DONE);
    drv->finalize(outer);
    /* Reused afterwards from the start, with fresh bindings. */
    assert_int_equal(drv->prepare(db, "SELECT v FROM t WHERE k = ?", &outer), DB_OK);
    assert_int_equal(drv->bind_int64(outer, 1, 3), DB_OK);
    assert_int_equal(drv->step(outer), DB_ROW);
    assert_string_equal(drv->col_text(outer, 0), "three");
    drv->finalize(outer);
    drv->close(db);
}

/* A caller's buffer reused for other SQL at the same address is not mistaken for the old
 * statement. */
static void
test_same_address_other_sql(void **state)
{
    (void)state;
    struct db *db = open_db();
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT k + 5 FROM t WHERE k = 1");
    check_plus(db, sql, 6);
    snprintf(sql, sizeof(sql), "SELECT k + 7 FROM t WHERE k = 1");
    check_plus(db, sql, 8);
    drv->close(db);
}

/* More statements open at once than the cache holds: the ones beyond it are not kept but
 * work, and are finalized for real. */
static void
test_all_in_use(void **state)
{
    (void)state;
    struct db *db = open_db();
    enum { N = 300 };
    struct db_stmt **open = calloc(N, sizeof(*open));
    char sql[128];

    assert_non_null(open);
    for (int i = 0; i < N; i++) {
        snprintf(sql, sizeof(sql), "SELECT k + %d FROM t WHERE k = 2", i);
        assert_int_equal(drv->prepare(db, sql, &open[i]), DB_OK);
        assert_int_equal(drv->step(open[i]), DB_ROW);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(drv->col_int64(open[i], 0), 2 + i);
        drv->finalize(open[i]);
    }
    free(open);
    check_plus(db, "SELECT k + 1 FROM t WHERE k = 1", 2);
    drv->close(db);
}

/* ---- checkpoints on the writer's own thread ---- */

static char ckdir[64];

static struct db *
open_file_writer(const char *name, char *path, size_t size)
{
    struct db *db = NULL;
    snprintf(ckdir, sizeof(ckdir), "/tmp/hearth-ckpt-XXXXXX");
    assert_non_null(mkdtemp(ckdir));
    snprintf(path, size, "%s/%s", ckdir, name);
    assert_int_equal(drv->open(path, true, &db), DB_OK);
    assert_int_equal(drv->exec(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"), DB_OK);
    return db;
}

static void
insert_rows(struct db *db, int from, int n)
{
    char sql[160];
    for (int i = from; i < from + n; i++) {
        /* About one page each: one or two WAL frames per commit. */
        snprintf(sql, sizeof(sql), "INSERT INTO t VALUES (%d, printf('%%.3000c', 'x'))", i);
        assert_int_equal(drv->exec(db, sql), DB_OK);
    }
}

static long
file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static void
cleanup_dir(const char *path)
{
    char p[128];
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
    rmdir(ckdir);
}

/* Crossing the threshold with pauses between writes: the thread checkpoints, the commits
 * never do, and the WAL starts over instead of growing. */
static void
test_checkpoint_in_background(void **state)
{
    (void)state;
    char path[128], wal[140];
    struct db *db = open_file_writer("bg.db", path, sizeof(path));
    uint64_t bg = 0, in = 0;

    snprintf(wal, sizeof(wal), "%s-wal", path);
    /* Bursts with a pause after each: long enough for a checkpoint (and its retry) to reach
     * the WAL's end, so the next commit starts the WAL over. */
    for (int round = 0; round < 6; round++) {
        insert_rows(db, round * 400, 400);
        nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL);
    }
    db_sqlite_checkpoints(db, &bg, &in);
    assert_true(bg >= 1);
    assert_int_equal(in, 0);
    /* 2,400 pages written; restarted after background checkpoints, the WAL stays near the
     * threshold (one frame is a page and 24 bytes). */
    assert_true(file_size(wal) < (long)(1600 * (4096 + 24)));
    drv->close(db);
    cleanup_dir(path);
}

/* Writes without a pause: whatever the thread manages, the WAL stays bounded (the writer
 * checkpoints itself at the hard limit). */
static void
test_checkpoint_bounded_under_load(void **state)
{
    (void)state;
    char path[128], wal[140];
    struct db *db = open_file_writer("load.db", path, sizeof(path));
    struct db *reader = NULL;
    struct db_stmt *s = NULL;

    snprintf(wal, sizeof(wal), "%s-wal", path);
    insert_rows(db, 0, 12000);
    assert_true(file_size(wal) < (long)(5000 * (4096 + 24)));
    /* Everything is there for a new reader. */
    assert_int_equal(drv->open(path, false, &reader), DB_OK);
    assert_int_equal(drv->prepare(reader, "SELECT COUNT(*), MAX(length(v)) FROM t", &s), DB_OK);
    assert_int_equal(drv->step(s), DB_ROW);
    assert_int_equal(drv->col_int64(s, 0), 12000);
    assert_int_equal(drv->col_int64(s, 1), 3000);
    drv->finalize(s);
    drv->close(reader);
    drv->close(db);
    cleanup_dir(path);
}

/* ---- the writer's WAL writes gathered (sqlite_walbuf.c) ---- */

static int64_t
count_rows(const char *path, const char *sql)
{
    struct db *reader = NULL;
    struct db_stmt *s = NULL;
    int64_t n;

    assert_int_equal(drv->open(path, false, &reader), DB_OK);
    assert_int_equal(drv->prepare(reader, sql, &s), DB_OK);
    assert_int_equal(drv->step(s), DB_ROW);
    n = drv->col_int64(s, 0);
    drv->finalize(s);
    drv->close(reader);
    return n;
}

static bool
file_mapped(const char *path)
{
    char line[512];
    bool found = false;
    FILE *f = fopen("/proc/self/maps", "r");

    assert_non_null(f);
    while (!found && fgets(line, sizeof(line), f)) {
        size_t n, m = strlen(path);
        line[strcspn(line, "\n")] = '\0';
        n = strlen(line);
        found = n >= m && strcmp(line + n - m, path) == 0;
    }
    fclose(f);
    return found;
}

/* Readers read pages into their own cache, not through a map of the file (issue 12: the
 * kernel maps 16 neighbouring pages per fault, all counted in the resident size). */
static void
test_reader_not_mapped(void **state)
{
    (void)state;
    char path[128];
    struct db *db = open_file_writer("nomap.db", path, sizeof(path));
    struct db *reader = NULL;
    struct db_stmt *s = NULL;

    insert_rows(db, 0, 300);
    /* into the database file: pages still in the WAL are read with pread either way */
    assert_int_equal(drv->exec(db, "PRAGMA wal_checkpoint(TRUNCATE)"), DB_OK);
    assert_true(file_size(path) > 300 * 3000);
    assert_int_equal(drv->open(path, false, &reader), DB_OK);
    assert_int_equal(drv->prepare(reader, "SELECT SUM(LENGTH(v)) FROM t", &s), DB_OK);
    assert_int_equal(drv->step(s), DB_ROW);
    assert_int_equal(drv->col_int64(s, 0), 300 * 3000);
    assert_false(file_mapped(path));
    drv->finalize(s);
    assert_int_equal(drv->prepare(reader, "PRAGMA cache_size", &s), DB_OK);
    assert_int_equal(drv->step(s), DB_ROW);
    assert_int_equal(drv->col_int64(s, 0), -16384);
    drv->finalize(s);
    drv->close(reader);
    drv->close(db);
    cleanup_dir(path);
}

/* Each commit is visible to another connection as soon as it returns. */
static void
test_walbuf_commits_visible(void **state)
{
    (void)state;
    char path[128];
    struct db *db = open_file_writer("vis.db", path, sizeof(path));

    for (int i = 0; i < 50; i++) {
        insert_rows(db, i, 1);
        assert_int_equal(count_rows(path, "SELECT COUNT(*) FROM t"), i + 1);
    }
    drv->close(db);
    cleanup_dir(path);
}

/* A transaction several times the buffer's size, with a page cache so small that pages go
 * to the WAL before the commit and are read back from it inside the transaction. */
static void
test_walbuf_big_transaction(void **state)
{
    (void)state;
    char path[128];
    struct db *db = open_file_writer("big.db", path, sizeof(path));
    struct db_stmt *s = NULL;

    assert_int_equal(drv->exec(db, "PRAGMA cache_size=5; BEGIN"), DB_OK);
    insert_rows(db, 0, 400);
    assert_int_equal(drv->prepare(db, "SELECT COUNT(*), SUM(length(v)) FROM t", &s), DB_OK);
    assert_int_equal(drv->step(s), DB_ROW);
    assert_int_equal(drv->col_int64(s, 0), 400);
    assert_int_equal(drv->col_int64(s, 1), 400 * 3000);
    drv->finalize(s);
    assert_int_equal(drv->exec(db, "COMMIT"), DB_OK);
    assert_int_equal(count_rows(path, "SELECT COUNT(*) FROM t WHERE length(v) = 3000"), 400);
    assert_int_equal(count_rows(path, "SELECT COUNT(*) FROM pragma_integrity_check "
                                      "WHERE integrity_check = 'ok'"),
                     1);
    drv->close(db);
    cleanup_dir(path);
}

/* A process that dies right after its commit returned (no close, nothing flushed at exit)
 * leaves the commit on disk: the buffer goes out before the commit's sync. */
static void
test_walbuf_commit_survives_exit(void **state)
{
    (void)state;
    char path[128];
    struct db *db = open_file_writer("exit.db", path, sizeof(path));
    pid_t pid;
    int status = 0;

    drv->close(db);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct db *w = NULL;
        if (drv->open(path, true, &w) != DB_OK ||
            drv->exec(w, "INSERT INTO t VALUES (7, 'kept')") != DB_OK)
            _exit(1);
        _exit(0); /* as SIGKILL would: no close, no flush */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(count_rows(path, "SELECT COUNT(*) FROM t WHERE v = 'kept'"), 1);
    cleanup_dir(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_statements),
        cmocka_unit_test(test_late_statement_cached),
        cmocka_unit_test(test_in_use_kept),
        cmocka_unit_test(test_same_address_other_sql),
        cmocka_unit_test(test_all_in_use),
        cmocka_unit_test(test_checkpoint_in_background),
        cmocka_unit_test(test_checkpoint_bounded_under_load),
        cmocka_unit_test(test_reader_not_mapped),
        cmocka_unit_test(test_walbuf_commits_visible),
        cmocka_unit_test(test_walbuf_big_transaction),
        cmocka_unit_test(test_walbuf_commit_survives_exit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
