#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/util.h"
#include "store/migrations.h"
#include "store/store.h"
#include "store/store_internal.h" /* the writer's jobs (pipelined writes, issue 11) */

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <libpq-fe.h>

#define ALICE "@alice:example.org"
#define BOB "@bob:example.org"

struct fixture {
    char dir[64];
    char path[128];
    char schema[32];
    char *conninfo;
    struct config cfg;
    struct store *st;
};

/* HEARTH_TEST_PG (make test's second pass, scripts/with-pg): the same tests on PostgreSQL,
 * each in a schema of its own. */
static void
quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static int
pg_sql(const char *sql)
{
    PGconn *c = PQconnectdb(getenv("HEARTH_TEST_PG"));
    PGresult *r;

    PQsetNoticeProcessor(c, quiet, NULL); /* "drop cascades to ..." */
    r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "test_store: %s: %s\n", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

static int
pg_setup(struct fixture *f)
{
    static unsigned n;
    char sql[96];

    snprintf(f->schema, sizeof(f->schema), "ts_%d_%u", (int)getpid(), n++);
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", f->schema);
    if (pg_sql(sql) != 0)
        return -1;
    f->conninfo = xasprintf("%s options='-c search_path=%s'", getenv("HEARTH_TEST_PG"), f->schema);
    f->cfg.database_name = "psycopg2";
    f->cfg.database_conninfo = f->conninfo;
    f->cfg.database_cp_min = 1;
    f->cfg.database_cp_max = 8;
    return 0;
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-test-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/homeserver.db", f->dir);
    f->cfg.server_name = "example.org";
    f->cfg.database_name = "sqlite3";
    f->cfg.database_path = f->path;
    if ((getenv("HEARTH_TEST_PG") && pg_setup(f) != 0) || store_open(&f->cfg, &f->st) != STORE_OK) {
        rmdir(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[160];

    store_close(f->st);
    if (f->conninfo) {
        snprintf(p, sizeof(p), "DROP SCHEMA %s CASCADE", f->schema);
        pg_sql(p);
        free(f->conninfo);
    }
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void
reopen(struct fixture *f)
{
    store_close(f->st);
    f->st = NULL;
    assert_int_equal(store_open(&f->cfg, &f->st), STORE_OK);
}

/* Asserts that the token resolves to user/device, or is unknown when user is NULL. */
static void
expect_token(struct store *st, const char *hash, const char *user, const char *device)
{
    struct store_auth a;
    enum store_rc rc = store_token_lookup(st, hash, &a);

    if (!user) {
        if (rc != STORE_NOT_FOUND)
            fail_msg("token %s: rc %d, want NOT_FOUND", hash, rc);
        assert_null(a.user_id);
        return;
    }
    if (rc != STORE_OK)
        fail_msg("token %s: rc %d, want OK", hash, rc);
    assert_string_equal(a.user_id, user);
    assert_string_equal(a.device_id, device);
    store_auth_clear(&a);
}

static void
login(struct store *st, const char *user, const char *device, const char *token, int64_t now)
{
    assert_int_equal(store_device_login(st, user, device, NULL, token, "10.0.0.1", NULL, now),
                     STORE_OK);
}

/* ---- accounts ----------------------------------------------------------------------------- */

static void
test_user_create_get(void **state)
{
    struct fixture *f = *state;
    struct store_user u;

    assert_int_equal(store_user_get(f->st, ALICE, &u), STORE_NOT_FOUND);
    assert_null(u.user_id);
    assert_int_equal(store_user_create(f->st, ALICE, "hash-a", false, false, 1000), STORE_OK);
    assert_int_equal(store_user_create(f->st, "@guest1:example.org", NULL, true, false, 2000),
                     STORE_OK);
    assert_int_equal(store_user_create(f->st, "@root:example.org", "hash-r", false, true, 3000),
                     STORE_OK);

    assert_int_equal(store_user_get(f->st, ALICE, &u), STORE_OK);
    assert_string_equal(u.user_id, ALICE);
    assert_string_equal(u.password_hash, "hash-a");
    assert_false(u.is_guest);
    assert_false(u.is_admin);
    assert_false(u.deactivated);
    assert_int_equal(u.created_ts, 1000);
    store_user_clear(&u);
    assert_null(u.user_id);

    assert_int_equal(store_user_get(f->st, "@guest1:example.org", &u), STORE_OK);
    assert_null(u.password_hash);
    assert_true(u.is_guest);
    assert_false(u.is_admin);
    store_user_clear(&u);

    assert_int_equal(store_user_get(f->st, "@root:example.org", &u), STORE_OK);
    assert_true(u.is_admin);
    assert_int_equal(u.created_ts, 3000);
    store_user_clear(&u);

    /* User IDs are case-sensitive. */
    assert_int_equal(store_user_get(f->st, "@ALICE:example.org", &u), STORE_NOT_FOUND);
    assert_int_equal(store_user_get(f->st, "@alice:example.or", &u), STORE_NOT_FOUND);
}

static void
test_user_exists(void **state)
{
    struct fixture *f = *state;
    struct store_user u;

    assert_int_equal(store_user_create(f->st, ALICE, "first", false, false, 1000), STORE_OK);
    assert_int_equal(store_user_create(f->st, ALICE, "second", false, true, 2000), STORE_EXISTS);
    assert_int_equal(store_user_create(f->st, ALICE, NULL, true, false, 3000), STORE_EXISTS);
    /* The first account is untouched. */
    assert_int_equal(store_user_get(f->st, ALICE, &u), STORE_OK);
    assert_string_equal(u.password_hash, "first");
    assert_false(u.is_admin);
    assert_int_equal(u.created_ts, 1000);
    store_user_clear(&u);
    /* The writer is usable after the failed transaction. */
    assert_int_equal(store_user_create(f->st, BOB, "b", false, false, 4000), STORE_OK);
}

static void
test_user_set_password(void **state)
{
    struct fixture *f = *state;
    struct store_user u;

    assert_int_equal(store_user_create(f->st, ALICE, "old", false, false, 1), STORE_OK);
    assert_int_equal(store_user_set_password(f->st, ALICE, "new"), STORE_OK);
    assert_int_equal(store_user_set_password(f->st, ALICE, "new"), STORE_OK); /* same value */
    assert_int_equal(store_user_get(f->st, ALICE, &u), STORE_OK);
    assert_string_equal(u.password_hash, "new");
    store_user_clear(&u);
    assert_int_equal(store_user_set_password(f->st, BOB, "x"), STORE_NOT_FOUND);
}

static void
test_user_deactivate(void **state)
{
    struct fixture *f = *state;
    struct store_user u;
    struct store_device *list;
    size_t n;

    assert_int_equal(store_user_create(f->st, ALICE, "pw", false, false, 1), STORE_OK);
    assert_int_equal(store_user_create(f->st, BOB, "pw", false, false, 1), STORE_OK);
    login(f->st, ALICE, "A1", "ta1", 10);
    login(f->st, ALICE, "A2", "ta2", 10);
    login(f->st, BOB, "B1", "tb1", 10);
    assert_int_equal(store_login_token_add(f->st, "lt", ALICE, 1000), STORE_OK);

    assert_int_equal(store_user_deactivate(f->st, ALICE), STORE_OK);

    assert_int_equal(store_user_get(f->st, ALICE, &u), STORE_OK);
    assert_true(u.deactivated);
    /* The hash stays so that the right password can be told M_USER_DEACTIVATED. */
    assert_non_null(u.password_hash);
    store_user_clear(&u);
    assert_int_equal(store_device_list(f->st, ALICE, &list, &n), STORE_OK);
    assert_int_equal(n, 0);
    store_device_list_free(list, n);
    expect_token(f->st, "ta1", NULL, NULL);
    expect_token(f->st, "ta2", NULL, NULL);

    /* Bob is untouched. */
    expect_token(f->st, "tb1", BOB, "B1");
    assert_int_equal(store_device_list(f->st, BOB, &list, &n), STORE_OK);
    assert_int_equal(n, 1);
    store_device_list_free(list, n);

    /* A deactivated account keeps its user ID. */
    assert_int_equal(store_user_create(f->st, ALICE, "pw", false, false, 2), STORE_EXISTS);
    assert_int_equal(store_user_deactivate(f->st, "@nobody:example.org"), STORE_NOT_FOUND);
    /* Deactivating twice is not an error: the account exists. */
    assert_int_equal(store_user_deactivate(f->st, ALICE), STORE_OK);
}

/* A token that survived in the table (written before deactivation completed, say) still does
 * not authenticate a deactivated account. */
static void
test_token_of_deactivated_user(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(store_user_create(f->st, ALICE, "pw", false, false, 1), STORE_OK);
    assert_int_equal(store_user_deactivate(f->st, ALICE), STORE_OK);
    login(f->st, ALICE, "LATE", "late-token", 10);
    expect_token(f->st, "late-token", NULL, NULL);
}

static void
test_next_localpart_number(void **state)
{
    struct fixture *f = *state;
    int64_t prev = 0, v = 0;

    for (int i = 0; i < 20; i++) {
        assert_int_equal(store_next_localpart_number(f->st, &v), STORE_OK);
        assert_true(v > prev);
        prev = v;
    }
    reopen(f);
    assert_int_equal(store_next_localpart_number(f->st, &v), STORE_OK);
    assert_true(v > prev);
}

struct counter_arg {
    struct store *st;
    int64_t got[100];
    int ok;
};

static void *
counter_thread(void *p)
{
    struct counter_arg *a = p;
    struct store_user u;

    a->ok = 1;
    for (size_t i = 0; i < 100; i++) {
        if (store_next_localpart_number(a->st, &a->got[i]) != STORE_OK)
            a->ok = 0;
        /* Readers run alongside the writer. */
        if (store_user_get(a->st, ALICE, &u) != STORE_OK)
            a->ok = 0;
        store_user_clear(&u);
    }
    return NULL;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Numbers handed to concurrent callers are all distinct. */
static void
test_next_localpart_number_threads(void **state)
{
    struct fixture *f = *state;
    enum { T = 4 };
    static struct counter_arg args[T];
    pthread_t th[T];
    int64_t all[T * 100];

    assert_int_equal(store_user_create(f->st, ALICE, "pw", false, false, 1), STORE_OK);
    for (int i = 0; i < T; i++) {
        args[i].st = f->st;
        assert_int_equal(pthread_create(&th[i], NULL, counter_thread, &args[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_true(args[i].ok);
        memcpy(all + i * 100, args[i].got, sizeof(args[i].got));
    }
    qsort(all, T * 100, sizeof(all[0]), cmp_i64);
    for (int i = 1; i < T * 100; i++)
        if (all[i] == all[i - 1])
            fail_msg("number %lld handed out twice", (long long)all[i]);
}

/* ---- devices and tokens ------------------------------------------------------------------- */

static void
test_device_login(void **state)
{
    struct fixture *f = *state;
    struct store_device d;
    struct store_auth a;

    assert_int_equal(store_user_create(f->st, ALICE, "pw", false, false, 1), STORE_OK);
    assert_int_equal(
        store_device_login(f->st, ALICE, "DEV", "Phone", "t1", "1.2.3.4", "UA/1", 1000), STORE_OK);
    assert_int_equal(store_device_get(f->st, ALICE, "DEV", &d), STORE_OK);
    assert_string_equal(d.device_id, "DEV");
    assert_string_equal(d.display_name, "Phone");
    assert_string_equal(d.last_seen_ip, "1.2.3.4");
    assert_string_equal(d.last_seen_user_agent, "UA/1");
    assert_int_equal(d.last_seen_ts, 1000);
    store_device_clear(&d);

    assert_int_equal(store_token_lookup(f->st, "t1", &a), STORE_OK);
    assert_string_equal(a.user_id, ALICE);
    assert_string_equal(a.device_id, "DEV");
    assert_false(a.is_guest);
    assert_string_equal(a.last_seen_ip, "1.2.3.4");
    assert_int_equal(a.last_seen_ts, 1000);
    store_auth_clear(&a);

    /* Logging in again with the same device: the token is replaced, the display name kept,
     * the last-seen data updated. */
    assert_int_equal(
        store_device_login(f->st, ALICE, "DEV", "Ignored", "t2", "5.6.7.8", NULL, 2000), STORE_OK);
    expect_token(f->st, "t1", NULL, NULL);
    expect_token(f->st, "t2", ALICE, "DEV");
    assert_int_equal(store_device_get(f->st, ALICE, "DEV", &d), STORE_OK);
    assert_string_equal(d.display_name, "Phone");
    assert_string_equal(d.last_seen_ip, "5.6.7.8");
    assert_null(d.last_seen_user_agent);
    assert_int_equal(d.last_seen_ts, 2000);
    store_device_clear(&d);

    /* Another device keeps its own token. */
    login(f->st, ALICE, "OTHER", "t3", 3000);
    login(f->st, ALICE, "DEV", "t4", 4000);
    expect_token(f->st, "t2", NULL, NULL);
    expect_token(f->st, "t3", ALICE, "OTHER");
    expect_token(f->st, "t4", ALICE, "DEV");

    /* Without a display name. */
    assert_int_equal(store_device_get(f->st, ALICE, "OTHER", &d), STORE_OK);
    assert_null(d.display_name);
    store_device_clear(&d);

    /* Device IDs belong to one user: Bob's "DEV" is another device. */
    assert_int_equal(store_user_create(f->st, BOB, "pw", false, false, 1), STORE_OK);
    assert_int_equal(store_device_login(f->st, BOB, "DEV", "Bob's", "t5", NULL, NULL, 5000),
                     STORE_OK);
    expect_token(f->st, "t4", ALICE, "DEV");
    expect_token(f->st, "t5", BOB, "DEV");
    assert_int_equal(store_device_get(f->st, BOB, "DEV", &d), STORE_OK);
    assert_string_equal(d.display_name, "Bob's");
    assert_null(d.last_seen_ip);
    store_device_clear(&d);
}

/* A token hash already in use fails the whole login: no device is left behind. */
static void
test_device_login_atomic(void **state)
{
    struct fixture *f = *state;
    struct store_device d;

    assert_int_equal(store_user_create(f->st, ALICE, "pw", false, false, 1), STORE_OK);
    login(f->st, ALICE, "A", "same", 10);
    assert_int_equal(store_device_login(f->st, ALICE, "B", "B", "same", "1.1.1.1", NULL, 20),
                     STORE_EXISTS);
    assert_int_equal(store_device_get(f->st, ALICE, "B", &d), STORE_NOT_FOUND);
    expect_token(f->st, "same", ALICE, "A");

    /* Re-login of A with a token of another device: A keeps its old token. */
    login(f->st, ALICE, "C", "c-token", 30);
    assert_int_equal(store_device_login(f->st, ALICE, "A", NULL, "c-token", "9.9.9.9", NULL, 40),
                     STORE_EXISTS);
    expect_token(f->st, "same", ALICE, "A");
    expect_token(f->st, "c-token", ALICE, "C");
    assert_int_equal(store_device_get(f->st, ALICE, "A", &d), STORE_OK);
    assert_int_equal(d.last_seen_ts, 10);
    store_device_clear(&d);
}

static void
test_guest_token(void **state)
{
    struct fixture *f = *state;
    struct store_auth a;

    assert_int_equal(store_user_create(f->st, "@123:example.org", NULL, true, false, 1), STORE_OK);
    login(f->st, "@123:example.org", "G", "guest-token", 5);
    assert_int_equal(store_token_lookup(f->st, "guest-token", &a), STORE_OK);
    assert_true(a.is_guest);
    store_auth_clear(&a);
    expect_token(f->st, "unknown", NULL, NULL);
    expect_token(f->st, "", NULL, NULL);
}

static void
test_device_list(void **state)
{
    struct fixture *f = *state;
    struct store_device *list = (struct store_device *)0x1;
    size_t n = 99;
    static const char *const ids[] = {"ZZZ", "AAA", "MMM", "aaa", "0"};

    assert_int_equal(store_device_list(f->st, ALICE, &list, &n), STORE_OK);
    assert_int_equal(n, 0);
    store_device_list_free(list, n);

    assert_int_equal(store_user_create(f->st, ALICE, "pw", false, false, 1), STORE_OK);
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char tok[16], name[16];
        snprintf(tok, sizeof(tok), "tok%zu", i);
        snprintf(name, sizeof(name), "name%zu", i);
        assert_int_equal(
            store_device_login(f->st, ALICE, ids[i], name, tok, "ip", NULL, (int64_t)i), STORE_OK);
    }
    assert_int_equal(store_user_create(f->st, BOB, "pw", false, false, 1), STORE_OK);
    login(f->st, BOB, "BOBDEV", "bobtok", 1);

    assert_int_equal(store_device_list(f->st, ALICE, &list, &n), STORE_OK);
    assert_int_equal(n, 5);
    static const char *const sorted[] = {"0", "AAA", "MMM", "ZZZ", "aaa"};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(list[i].device_id, sorted[i]);
        assert_non_null(list[i].display_name);
        assert_string_equal(list[i].last_seen_ip, "ip");
    }
    assert_string_equal(list[3].display_name, "name0"); /* ZZZ was first */
    assert_int_equal(list[3].last_seen_ts, 0);
    assert_int_equal(list[4].last_seen_ts, 3);
    store_device_list_free(list, n);
}

static void
test_device_get_set_display_name(void **state)
{
    struct fixture *f = *state;
    struct store_device d;

    assert_int_equal(store_user_create(f->st, ALICE, "pw", false, false, 1), STORE_OK);
    assert_int_equal(store_device_get(f->st, ALICE, "DEV", &d), STORE_NOT_FOUND);
    login(f->st, ALICE, "DEV", "t", 1);

    assert_int_equal(store_device_set_display_name(f->st, ALICE, "DEV", "Laptop"), STORE_OK);
    assert_int_equal(store_device_get(f->st, ALICE, "DEV", &d), STORE_OK);
    assert_string_equal(d.display_name, "Laptop");
    store_device_clear(&d);
    /* Setting the same name again finds the device all the same. */
    assert_int_equal(store_device_set_display_name(f->st, ALICE, "DEV", "Laptop"), STORE_OK);
    assert_int_equal(store_device_set_display_name(f->st, ALICE, "DEV", NULL), STORE_OK);
    assert_int_equal(store_device_get(f->st, ALICE, "DEV", &d), STORE_OK);
    assert_null(d.display_name);
    store_device_clear(&d);

    assert_int_equal(store_device_set_display_name(f->st, ALICE, "NOPE", "x"), STORE_NOT_FOUND);
    assert_int_equal(store_device_set_display_name(f->st, BOB, "DEV", "x"), STORE_NOT_FOUND);
    assert_int_equal(store_device_get(f->st, BOB, "DEV", &d), STORE_NOT_FOUND);
}

static void
test_device_delete(void **state)
{
    struct fixture *f = *state;
    struct store_device d;

    assert_int_equal(store_user_create(f->st, ALICE, "pw", false, false, 1), STORE_OK);
    login(f->st, ALICE, "A", "ta", 1);
    login(f->st, ALICE, "B", "tb", 1);

    assert_int_equal(store_device_delete(f->st, ALICE, "A"), STORE_OK);
    assert_int_equal(store_device_get(f->st, ALICE, "A", &d), STORE_NOT_FOUND);
    expect_token(f->st, "ta", NULL, NULL);
    expect_token(f->st, "tb", ALICE, "B");
    assert_int_equal(store_device_delete(f->st, ALICE, "A"), STORE_NOT_FOUND);
    assert_int_equal(store_device_delete(f->st, BOB, "B"), STORE_NOT_FOUND);
    expect_token(f->st, "tb", ALICE, "B");

    /* A deleted device can log in again as new. */
    assert_int_equal(store_device_login(f->st, ALICE, "A", "New", "ta2", NULL, NULL, 5), STORE_OK);
    assert_int_equal(store_device_get(f->st, ALICE, "A", &d), STORE_OK);
    assert_string_equal(d.display_name, "New");
    store_device_clear(&d);
}

static void
test_device_delete_all_except(void **state)
{
    struct fixture *f = *state;
    struct store_device *list;
    size_t n;

    assert_int_equal(store_user_create(f->st, ALICE, "pw", false, false, 1), STORE_OK);
    assert_int_equal(store_user_create(f->st, BOB, "pw", false, false, 1), STORE_OK);
    login(f->st, ALICE, "A", "ta", 1);
    login(f->st, ALICE, "B", "tb", 1);
    login(f->st, ALICE, "C", "tc", 1);
    login(f->st, BOB, "A", "bob-a", 1);

    assert_int_equal(store_device_delete_all_except(f->st, ALICE, "B"), STORE_OK);
    assert_int_equal(store_device_list(f->st, ALICE, &list, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].device_id, "B");
    store_device_list_free(list, n);
    expect_token(f->st, "ta", NULL, NULL);
    expect_token(f->st, "tb", ALICE, "B");
    expect_token(f->st, "tc", NULL, NULL);
    expect_token(f->st, "bob-a", BOB, "A");

    /* Keeping a device that does not exist deletes all. */
    login(f->st, ALICE, "D", "td", 1);
    assert_int_equal(store_device_delete_all_except(f->st, ALICE, "NOPE"), STORE_OK);
    assert_int_equal(store_device_list(f->st, ALICE, &list, &n), STORE_OK);
    assert_int_equal(n, 0);
    store_device_list_free(list, n);

    /* NULL keeps nothing. */
    login(f->st, ALICE, "E", "te", 1);
    login(f->st, ALICE, "F", "tf", 1);
    assert_int_equal(store_device_delete_all_except(f->st, ALICE, NULL), STORE_OK);
    assert_int_equal(store_device_list(f->st, ALICE, &list, &n), STORE_OK);
    assert_int_equal(n, 0);
    store_device_list_free(list, n);
    expect_token(f->st, "te", NULL, NULL);
    expect_token(f->st, "tf", NULL, NULL);

    /* Bob's devices survive all of it. */
    assert_int_equal(store_device_list(f->st, BOB, &list, &n), STORE_OK);
    assert_int_equal(n, 1);
    store_device_list_free(list, n);
    expect_token(f->st, "bob-a", BOB, "A");
}

static void
test_device_touch(void **state)
{
    struct fixture *f = *state;
    struct store_device d;
    struct store_auth a;

    assert_int_equal(store_user_create(f->st, ALICE, "pw", false, false, 1), STORE_OK);
    login(f->st, ALICE, "A", "ta", 1);
    assert_int_equal(store_device_touch(f->st, ALICE, "A", "192.0.2.7", "Agent/2", 777), STORE_OK);
    assert_int_equal(store_device_get(f->st, ALICE, "A", &d), STORE_OK);
    assert_string_equal(d.last_seen_ip, "192.0.2.7");
    assert_string_equal(d.last_seen_user_agent, "Agent/2");
    assert_int_equal(d.last_seen_ts, 777);
    store_device_clear(&d);
    assert_int_equal(store_token_lookup(f->st, "ta", &a), STORE_OK);
    assert_string_equal(a.last_seen_ip, "192.0.2.7");
    assert_string_equal(a.last_seen_user_agent, "Agent/2");
    assert_int_equal(a.last_seen_ts, 777);
    store_auth_clear(&a);
}

/* ---- login tokens ------------------------------------------------------------------------- */

static void
test_login_token(void **state)
{
    struct fixture *f = *state;
    char *user = (char *)0x1;

    assert_int_equal(store_user_create(f->st, ALICE, "pw", false, false, 1), STORE_OK);
    assert_int_equal(store_login_token_consume(f->st, "none", 0, &user), STORE_NOT_FOUND);
    assert_null(user);

    /* Single use. */
    assert_int_equal(store_login_token_add(f->st, "lt1", ALICE, 5000), STORE_OK);
    assert_int_equal(store_login_token_consume(f->st, "lt1", 4000, &user), STORE_OK);
    assert_string_equal(user, ALICE);
    free(user);
    assert_int_equal(store_login_token_consume(f->st, "lt1", 4000, &user), STORE_NOT_FOUND);
    assert_null(user);

    /* Expired, and gone after the attempt even if the clock were to go back. */
    assert_int_equal(store_login_token_add(f->st, "lt2", ALICE, 5000), STORE_OK);
    assert_int_equal(store_login_token_consume(f->st, "lt2", 5001, &user), STORE_NOT_FOUND);
    assert_null(user);
    assert_int_equal(store_login_token_consume(f->st, "lt2", 1, &user), STORE_NOT_FOUND);
    assert_null(user);

    /* Just before expiry. */
    assert_int_equal(store_login_token_add(f->st, "lt3", ALICE, 5000), STORE_OK);
    assert_int_equal(store_login_token_consume(f->st, "lt3", 4999, &user), STORE_OK);
    assert_string_equal(user, ALICE);
    free(user);

    /* The same hash twice while the first is live. */
    assert_int_equal(store_login_token_add(f->st, "lt4", ALICE, 5000), STORE_OK);
    assert_int_equal(store_login_token_add(f->st, "lt4", BOB, 6000), STORE_EXISTS);
    assert_int_equal(store_login_token_consume(f->st, "lt4", 0, &user), STORE_OK);
    assert_string_equal(user, ALICE);
    free(user);

    /* Tokens are independent. */
    assert_int_equal(store_login_token_add(f->st, "x1", ALICE, 100), STORE_OK);
    assert_int_equal(store_login_token_add(f->st, "x2", BOB, 100), STORE_OK);
    assert_int_equal(store_login_token_consume(f->st, "x2", 50, &user), STORE_OK);
    assert_string_equal(user, BOB);
    free(user);
    assert_int_equal(store_login_token_consume(f->st, "x1", 50, &user), STORE_OK);
    assert_string_equal(user, ALICE);
    free(user);
}

/* ---- open, reopen, migrations ------------------------------------------------------------- */

/* COUNT(*) and MAX(version) of schema_version in the fixture's PostgreSQL schema. */
static int64_t
schema_rows_pg(struct fixture *f)
{
    PGconn *c = PQconnectdb(f->conninfo);
    PGresult *r = PQexec(c, "SELECT COUNT(*), MAX(version) FROM schema_version");
    int64_t n;

    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    assert_int_equal(strtoll(PQgetvalue(r, 0, 1), NULL, 10),
                     store_migrations[store_n_migrations - 1].version);
    PQclear(r);
    PQfinish(c);
    return n;
}

static int64_t
schema_rows(struct fixture *f)
{
    const char *path = f->path;
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t n = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT COUNT(*), MAX(version) FROM schema_version", -1, &s, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    n = sqlite3_column_int64(s, 0);
    assert_int_equal(sqlite3_column_int64(s, 1), store_migrations[store_n_migrations - 1].version);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

static int64_t
schema_rows_any(struct fixture *f)
{
    return f->conninfo ? schema_rows_pg(f) : schema_rows(f);
}

static void
test_reopen_persists(void **state)
{
    struct fixture *f = *state;
    struct store_user u;
    struct store_device d;
    char *user = NULL;

    assert_int_equal(schema_rows_any(f), (int64_t)store_n_migrations);
    assert_int_equal(store_user_create(f->st, ALICE, "pw", false, true, 42), STORE_OK);
    assert_int_equal(store_device_login(f->st, ALICE, "DEV", "Phone", "tok", "1.2.3.4", NULL, 100),
                     STORE_OK);
    assert_int_equal(store_login_token_add(f->st, "lt", ALICE, 9999), STORE_OK);

    for (int i = 0; i < 3; i++) {
        reopen(f);
        /* Migrations are applied once, whatever the number of opens. */
        assert_int_equal(schema_rows_any(f), (int64_t)store_n_migrations);
    }

    assert_int_equal(store_user_get(f->st, ALICE, &u), STORE_OK);
    assert_string_equal(u.password_hash, "pw");
    assert_true(u.is_admin);
    assert_int_equal(u.created_ts, 42);
    store_user_clear(&u);
    assert_int_equal(store_device_get(f->st, ALICE, "DEV", &d), STORE_OK);
    assert_string_equal(d.display_name, "Phone");
    store_device_clear(&d);
    expect_token(f->st, "tok", ALICE, "DEV");
    assert_int_equal(store_login_token_consume(f->st, "lt", 0, &user), STORE_OK);
    assert_string_equal(user, ALICE);
    free(user);
    assert_int_equal(store_user_create(f->st, ALICE, "pw", false, false, 1), STORE_EXISTS);
}

static void
test_open_errors(void **state)
{
    struct fixture *f = *state;
    struct config cfg = f->cfg;
    struct store *st = NULL;
    char path[160];

    /* No PostgreSQL there. */
    cfg.database_name = "psycopg2";
    cfg.database_conninfo = "host=/nonexistent port=1 connect_timeout=2";
    cfg.database_cp_max = 1;
    assert_int_equal(store_open(&cfg, &st), STORE_ERR);
    assert_null(st);

    cfg.database_name = "sqlite3";
    snprintf(path, sizeof(path), "%s/no-such-dir/x.db", f->dir);
    cfg.database_path = path;
    assert_int_equal(store_open(&cfg, &st), STORE_ERR);
    assert_null(st);

    /* Not a database. */
    snprintf(path, sizeof(path), "%s/not-a-db", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database file\n", fp);
    fclose(fp);
    cfg.database_path = path;
    assert_int_equal(store_open(&cfg, &st), STORE_ERR);
    assert_null(st);
    unlink(path);

    /* The default driver is SQLite. */
    cfg.database_name = NULL;
    snprintf(path, sizeof(path), "%s/default.db", f->dir);
    cfg.database_path = path;
    assert_int_equal(store_open(&cfg, &st), STORE_OK);
    store_close(st);
    unlink(path);
    snprintf(path, sizeof(path), "%s/default.db-wal", f->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/default.db-shm", f->dir);
    unlink(path);
}

/* ---- 3PIDs, binds, SSO subjects, token expiry (issue 10) ---- */

static void
test_threepids(void **state)
{
    struct fixture *f = *state;
    struct store_threepid *list = NULL;
    char *owner = NULL;
    size_t n = 0;

    assert_int_equal(store_threepid_add(f->st, ALICE, "email", "a@example.org", 10, 20), STORE_OK);
    assert_int_equal(store_threepid_add(f->st, ALICE, "email", "a2@example.org", 11, 21), STORE_OK);
    /* One account per address. */
    assert_int_equal(store_threepid_add(f->st, BOB, "email", "a@example.org", 12, 22),
                     STORE_EXISTS);
    assert_int_equal(store_threepid_owner(f->st, "email", "a@example.org", &owner), STORE_OK);
    assert_string_equal(owner, ALICE);
    free(owner);
    assert_int_equal(store_threepid_owner(f->st, "email", "b@example.org", &owner),
                     STORE_NOT_FOUND);
    assert_null(owner);
    assert_int_equal(store_threepid_list(f->st, ALICE, &list, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].address, "a@example.org");
    assert_int_equal(list[0].validated_ts, 10);
    assert_int_equal(list[0].added_ts, 20);
    store_threepids_free(list, n);
    assert_int_equal(store_threepid_remove(f->st, BOB, "email", "a@example.org"), STORE_NOT_FOUND);
    assert_int_equal(store_threepid_remove(f->st, ALICE, "email", "a@example.org"), STORE_OK);
    assert_int_equal(store_threepid_add(f->st, BOB, "email", "a@example.org", 12, 22), STORE_OK);
    assert_int_equal(store_threepid_remove_all(f->st, ALICE), STORE_OK);
    assert_int_equal(store_threepid_list(f->st, ALICE, &list, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_threepid_list(f->st, BOB, &list, &n), STORE_OK);
    assert_int_equal(n, 1);
    store_threepids_free(list, n);
}

static void
test_threepid_binds(void **state)
{
    struct fixture *f = *state;
    struct store_threepid_bind *b = NULL;
    size_t n = 0;

    assert_int_equal(store_threepid_bind_add(f->st, ALICE, "email", "a@x.org", "is1"), STORE_OK);
    assert_int_equal(store_threepid_bind_add(f->st, ALICE, "email", "a@x.org", "is1"), STORE_OK);
    assert_int_equal(store_threepid_bind_add(f->st, ALICE, "email", "a@x.org", "is2"), STORE_OK);
    assert_int_equal(store_threepid_bind_add(f->st, ALICE, "email", "b@x.org", "is1"), STORE_OK);
    assert_int_equal(store_threepid_binds(f->st, ALICE, "email", "a@x.org", &b, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(b[0].id_server, "is1");
    assert_string_equal(b[1].id_server, "is2");
    store_threepid_binds_free(b, n);
    assert_int_equal(store_threepid_binds(f->st, ALICE, NULL, NULL, &b, &n), STORE_OK);
    assert_int_equal(n, 3);
    store_threepid_binds_free(b, n);
    assert_int_equal(store_threepid_bind_remove(f->st, ALICE, "email", "a@x.org", "is1"), STORE_OK);
    assert_int_equal(store_threepid_binds(f->st, ALICE, "email", "a@x.org", &b, &n), STORE_OK);
    assert_int_equal(n, 1);
    store_threepid_binds_free(b, n);
    assert_int_equal(store_threepid_binds(f->st, BOB, NULL, NULL, &b, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_null(b);
}

static void
test_threepid_sessions(void **state)
{
    struct fixture *f = *state;
    int64_t now = util_now_ms();
    struct store_3pid_session s = {"sid1", "email", "a@x.org",  "secret", "register", "h1",
                                   NULL,   1,       now + 1000, 0,        now};
    struct store_3pid_session got;

    assert_int_equal(store_3pid_session_put(f->st, &s), STORE_OK);
    assert_int_equal(store_3pid_session_find_open(f->st, "email", "a@x.org", "secret", &got),
                     STORE_OK);
    assert_string_equal(got.session_id, "sid1");
    assert_string_equal(got.kind, "register");
    assert_null(got.next_link);
    assert_int_equal(got.validated_ts, 0);
    store_3pid_session_clear(&got);
    assert_int_equal(store_3pid_session_find_open(f->st, "email", "a@x.org", "other", &got),
                     STORE_NOT_FOUND);
    /* An update keeps the identity, changes the token. */
    s.token_hash = "h2";
    s.last_send_attempt = 2;
    s.next_link = "https://n.example/";
    assert_int_equal(store_3pid_session_put(f->st, &s), STORE_OK);
    assert_int_equal(store_3pid_session_get(f->st, "sid1", &got), STORE_OK);
    assert_string_equal(got.token_hash, "h2");
    assert_int_equal(got.last_send_attempt, 2);
    assert_string_equal(got.next_link, "https://n.example/");
    store_3pid_session_clear(&got);
    /* Validated once; a second validation keeps the first time. */
    assert_int_equal(store_3pid_session_validate(f->st, "sid1", 500), STORE_OK);
    assert_int_equal(store_3pid_session_validate(f->st, "sid1", 900), STORE_OK);
    assert_int_equal(store_3pid_session_get(f->st, "sid1", &got), STORE_OK);
    assert_int_equal(got.validated_ts, 500);
    store_3pid_session_clear(&got);
    assert_int_equal(store_3pid_session_find_open(f->st, "email", "a@x.org", "secret", &got),
                     STORE_NOT_FOUND);
    assert_int_equal(store_3pid_session_validate(f->st, "nope", 1), STORE_NOT_FOUND);
    assert_int_equal(store_3pid_session_delete(f->st, "sid1"), STORE_OK);
    assert_int_equal(store_3pid_session_get(f->st, "sid1", &got), STORE_NOT_FOUND);
}

static void
test_external_ids(void **state)
{
    struct fixture *f = *state;
    char *user = NULL, **providers = NULL;
    size_t n = 0;

    assert_int_equal(store_external_id_add(f->st, "oidc-a", "sub1", ALICE), STORE_OK);
    assert_int_equal(store_external_id_add(f->st, "oidc-a", "sub1", BOB), STORE_EXISTS);
    assert_int_equal(store_external_id_add(f->st, "oidc-b", "sub1", BOB), STORE_OK);
    assert_int_equal(store_external_id_add(f->st, "oidc-b", "sub2", ALICE), STORE_OK);
    assert_int_equal(store_external_id_get(f->st, "oidc-a", "sub1", &user), STORE_OK);
    assert_string_equal(user, ALICE);
    free(user);
    assert_int_equal(store_external_id_get(f->st, "oidc-a", "sub2", &user), STORE_NOT_FOUND);
    assert_int_equal(store_external_id_providers(f->st, ALICE, &providers, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(providers[0], "oidc-a");
    assert_string_equal(providers[1], "oidc-b");
    store_strings_free(providers, n);
}

static void
test_token_expiry(void **state)
{
    struct fixture *f = *state;
    struct store_auth a;

    assert_int_equal(store_user_create(f->st, ALICE, "pw", false, false, 1), STORE_OK);
    assert_int_equal(
        store_device_login_until(f->st, ALICE, "D1", NULL, "th1", "1.2.3.4", NULL, 10, 12345),
        STORE_OK);
    assert_int_equal(store_device_login(f->st, ALICE, "D2", NULL, "th2", "1.2.3.4", NULL, 10),
                     STORE_OK);
    assert_int_equal(store_token_lookup(f->st, "th1", &a), STORE_OK);
    assert_int_equal(a.valid_until_ts, 12345);
    store_auth_clear(&a);
    /* From the cache, the same. */
    assert_int_equal(store_token_lookup(f->st, "th1", &a), STORE_OK);
    assert_int_equal(a.valid_until_ts, 12345);
    store_auth_clear(&a);
    assert_int_equal(store_token_lookup(f->st, "th2", &a), STORE_OK);
    assert_int_equal(a.valid_until_ts, 0);
    store_auth_clear(&a);
    /* A new login on the device replaces the expired token; the device stays. */
    assert_int_equal(store_device_login(f->st, ALICE, "D1", NULL, "th3", "1.2.3.4", NULL, 20),
                     STORE_OK);
    assert_int_equal(store_token_lookup(f->st, "th1", &a), STORE_NOT_FOUND);
    assert_int_equal(store_token_lookup(f->st, "th3", &a), STORE_OK);
    assert_string_equal(a.device_id, "D1");
    store_auth_clear(&a);
}

/* ---- the group-commit writer's jobs with deferred statements (issue 11: PostgreSQL's
 * pipeline; on SQLite st_defer runs each statement at once, and the same must hold) ---- */

struct put_ctx {
    const char *names[3];
    bool read_after; /* then read a row back (a statement whose result is needed) */
};

/* Inserts counters rows; a name already there fails the job with STORE_EXISTS. */
static enum store_rc
put_counters(struct store *st, void *arg)
{
    const struct put_ctx *c = arg;
    enum db_rc r = DB_OK;

    for (size_t i = 0; i < 3 && c->names[i] && r == DB_OK; i++)
        r = st_defer(st, "INSERT INTO counters (name, value) VALUES (?, 7)",
                     ST_ARGS(ST_S(c->names[i])));
    if (r == DB_OK && c->read_after) {
        struct db_stmt *s = NULL;
        r = st_prep(st, st->writer, &s, "SELECT value FROM counters WHERE name = ?",
                    ST_ARGS(ST_S(c->names[0])));
        if (r == DB_OK)
            r = st->drv->step(s);
        if (r == DB_ROW && st->drv->col_int64(s, 0) != 7)
            r = DB_ERR;
        st->drv->finalize(s);
    }
    return r == DB_ROW || r == DB_DONE ? STORE_OK : st_rc(r);
}

/* A statement that fails on every engine with an error other than a constraint. */
static enum store_rc
bad_statement(struct store *st, void *arg)
{
    (void)arg;
    return st_rc(st_defer(st, "INSERT INTO no_such_table (x) VALUES (?)", ST_ARGS(ST_S("x"))));
}

static void
expect_counter(struct store *st, const char *name, bool present)
{
    int64_t v = 0;
    assert_int_equal(store_counter(st, name, &v), present ? STORE_OK : STORE_NOT_FOUND);
    if (present)
        assert_int_equal(v, 7);
}

/* Jobs queued together run in one transaction; a deferred statement's failure undoes its own
 * job only (its earlier statements too), whether it shows at the job's end or at a later
 * statement of the job that needs a result, and the jobs after it still run and commit. */
static void
test_writer_job_failure_is_its_own(void **state)
{
    struct fixture *f = *state;
    struct put_ctx a = {{"a1", "a2", NULL}, false}, b = {{"b1", "a1", "b2"}, false},
                   c = {{"c1", NULL, NULL}, true}, d = {{"d1", "a2", NULL}, true},
                   e = {{"e1", NULL, NULL}, false};
    struct st_job ja = {.fn = put_counters, .ctx = &a}, jb = {.fn = put_counters, .ctx = &b},
                  jc = {.fn = put_counters, .ctx = &c}, jd = {.fn = put_counters, .ctx = &d},
                  jbad = {.fn = bad_statement}, je = {.fn = put_counters, .ctx = &e};

    st_job_submit(f->st, &ja);
    st_job_submit(f->st, &jb);
    st_job_submit(f->st, &jc);
    st_job_submit(f->st, &jd);
    st_job_submit(f->st, &jbad);
    st_job_submit(f->st, &je);
    assert_int_equal(st_job_wait(f->st, &ja), STORE_OK);
    assert_int_equal(st_job_wait(f->st, &jb), STORE_EXISTS);
    assert_int_equal(st_job_wait(f->st, &jc), STORE_OK);
    assert_int_equal(st_job_wait(f->st, &jd), STORE_EXISTS);
    assert_int_equal(st_job_wait(f->st, &jbad), STORE_ERR);
    assert_int_equal(st_job_wait(f->st, &je), STORE_OK);
    expect_counter(f->st, "a1", true);
    expect_counter(f->st, "a2", true);
    expect_counter(f->st, "b1", false);
    expect_counter(f->st, "b2", false);
    expect_counter(f->st, "c1", true);
    expect_counter(f->st, "d1", false);
    expect_counter(f->st, "e1", true);
}

/* A job alone in its transaction: its deferred failure shows at the COMMIT, which rolls
 * everything back and gives the job the failure's code; the writer works on afterwards. */
static void
test_writer_single_job_failure(void **state)
{
    struct fixture *f = *state;
    struct put_ctx a = {{"s1", NULL, NULL}, false}, b = {{"s2", "s1", NULL}, false},
                   c = {{"s3", NULL, NULL}, true};

    assert_int_equal(st_write(f->st, put_counters, &a), STORE_OK);
    assert_int_equal(st_write(f->st, put_counters, &b), STORE_EXISTS);
    expect_counter(f->st, "s2", false);
    assert_int_equal(st_write(f->st, bad_statement, NULL), STORE_ERR);
    assert_int_equal(st_write(f->st, put_counters, &c), STORE_OK);
    expect_counter(f->st, "s1", true);
    expect_counter(f->st, "s3", true);
}

static enum store_rc
persist_test_event(struct store *st, const char *event_id, int64_t *pos)
{
    struct store_event_row row = {.event_id = event_id,
                                  .type = "org.example.test",
                                  .sender = ALICE,
                                  .json = "{}",
                                  .depth = 1,
                                  .origin_server_ts = 1};
    return store_events_persist(st, "!r:example.org", NULL, &row, 1, pos);
}

/* Room !r's create event, the first of a fresh room (version 10). */
static void
create_test_room(struct store *st, int64_t *pos)
{
    struct store_event_row room = {.event_id = "$create",
                                   .type = "m.room.create",
                                   .state_key = "",
                                   .sender = ALICE,
                                   .json = "{\"content\":{}}",
                                   .depth = 1,
                                   .origin_server_ts = 1};
    assert_int_equal(store_events_persist(st, "!r:example.org", "10", &room, 1, pos), STORE_OK);
}

/* Event positions grow; a failed transaction's position is a gap. On PostgreSQL the writer
 * takes positions from the sequence in blocks, and drops the rest of its block when a
 * transaction fails: the sequence's advance is durable only with a commit. */
static void
test_writer_positions_after_failure(void **state)
{
    struct fixture *f = *state;
    const int64_t block = (int64_t)(sizeof(f->st->pos_block) / sizeof(f->st->pos_block[0]));
    int64_t p0 = 0, p1 = 0, p2 = 0, p3 = 0;

    create_test_room(f->st, &p0);
    assert_int_equal(persist_test_event(f->st, "$one", &p1), STORE_OK);
    assert_true(p1 > p0);
    assert_int_equal(persist_test_event(f->st, "$one", &p2), STORE_EXISTS);
    assert_int_equal(persist_test_event(f->st, "$two", &p3), STORE_OK);
    if (f->st->drv->stream_pos_block_sql)
        assert_true(p3 >= p0 + block); /* p0 began the first block: a fresh database */
    else
        assert_int_equal(p3, p1 + 2);
}

/* ---- durability of the group commit (issue 3) ---- */

/* Every fdatasync of the process, SQLite's included (this definition comes first in the
 * lookup order): those of a WAL file are numbered as they start, and the highest number of
 * one that finished is kept. */
static atomic_long wal_sync_started, wal_sync_done;

int
fdatasync(int fd)
{
    char link[64], target[PATH_MAX];
    ssize_t n;
    long me = 0, seen;
    int rc;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof(target) - 1);
    if (n > 4 && memcmp(target + n - 4, "-wal", 4) == 0)
        me = atomic_fetch_add(&wal_sync_started, 1) + 1;
    rc = (int)syscall(SYS_fdatasync, fd);
    seen = atomic_load(&wal_sync_done);
    while (me > seen && !atomic_compare_exchange_weak(&wal_sync_done, &seen, me))
        ;
    return rc;
}

struct durable_arg {
    struct store *st;
    int id;
    bool ok;
};

/* Each write returns only after a WAL sync that started after the write was asked for. */
static void *
durable_writer(void *arg)
{
    struct durable_arg *a = arg;
    char id[32];

    a->ok = true;
    for (int i = 0; i < 25; i++) {
        long before = atomic_load(&wal_sync_started);
        snprintf(id, sizeof(id), "$d%d_%d", a->id, i);
        if (persist_test_event(a->st, id, NULL) != STORE_OK ||
            atomic_load(&wal_sync_done) <= before)
            a->ok = false;
    }
    return NULL;
}

/* Four threads running fn (durable_writer or durable_async_writer), ids from first_id on;
 * each must report every one of its writes durable. */
static void
run_durable_writers(struct store *st, void *(*fn)(void *), int first_id)
{
    struct durable_arg args[4];
    pthread_t th[4];

    for (int i = 0; i < 4; i++) {
        args[i] = (struct durable_arg){st, first_id + i, false};
        assert_int_equal(pthread_create(&th[i], NULL, fn, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_true(args[i].ok);
    }
}

/* A write is done once its commit is on disk, for a caller alone and for callers whose jobs
 * share commits. One writer, then four. */
static void
test_writer_done_when_durable(void **state)
{
    struct fixture *f = *state;
    struct durable_arg arg;

    if (getenv("HEARTH_TEST_PG"))
        skip(); /* PostgreSQL's COMMIT is durable when it returns */
    create_test_room(f->st, NULL);
    arg = (struct durable_arg){f->st, 0, false};
    durable_writer(&arg);
    assert_true(arg.ok);
    run_durable_writers(f->st, durable_writer, 1);
}

/* ---- jobs whose owners do not wait in their thread (a message send's connection is
 * suspended while its commit runs) ---- */

struct async_owner {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    int suspended, done;
    bool done_before_suspend;
};

static void
owner_suspend(void *arg)
{
    struct async_owner *o = arg;
    pthread_mutex_lock(&o->lock);
    o->suspended++;
    pthread_mutex_unlock(&o->lock);
}

static void
owner_done(void *arg)
{
    struct async_owner *o = arg;
    pthread_mutex_lock(&o->lock);
    if (!o->suspended)
        o->done_before_suspend = true;
    o->done++;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->lock);
}

/* Waits up to 10 s for done; its count. */
static int
owner_wait_done(struct async_owner *o)
{
    struct timespec until;
    int done;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&o->lock);
    while (!o->done && pthread_cond_timedwait(&o->cv, &o->lock, &until) == 0)
        ;
    done = o->done;
    pthread_mutex_unlock(&o->lock);
    return done;
}

static bool
writer_leading(struct store *st)
{
    bool leading;
    pthread_mutex_lock(&st->qlock);
    leading = st->leading;
    pthread_mutex_unlock(&st->qlock);
    return leading;
}

struct waiting_owner {
    struct store *st;
    struct st_job *job;
};

static void *
wait_job(void *arg)
{
    struct waiting_owner *w = arg;
    (void)st_job_wait(w->st, w->job);
    return NULL;
}

/* Nobody writing: the releasing owner leads its own batch at once. Somebody writing: the
 * owner is suspended, and done comes (once, after the suspension) from the writer's side when
 * the commit has ended; the job is then committed. */
static void
test_writer_async_release(void **state)
{
    struct fixture *f = *state;
    struct put_ctx a = {{"x1", NULL, NULL}, false}, b = {{"x2", NULL, NULL}, false},
                   c = {{"x3", NULL, NULL}, false};
    struct st_job ja = {.fn = put_counters, .ctx = &a, .held = true},
                  jb = {.fn = put_counters, .ctx = &b, .held = true},
                  jc = {.fn = put_counters, .ctx = &c, .held = true};
    struct async_owner o = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false};
    struct waiting_owner w = {f->st, &jb};
    pthread_t th;

    st_job_submit(f->st, &ja);
    assert_true(st_job_release_or_lead(f->st, &ja, true, owner_suspend, owner_done, &o));
    assert_int_equal(o.suspended + o.done, 0);
    assert_int_equal(ja.rc, STORE_OK);
    pthread_cond_destroy(&ja.cv);
    expect_counter(f->st, "x1", true);

    /* A leader busy with jb (held: it waits for jb's release) while jc is released. */
    st_job_submit(f->st, &jb);
    assert_int_equal(pthread_create(&th, NULL, wait_job, &w), 0);
    while (!writer_leading(f->st))
        usleep(1000);
    st_job_submit(f->st, &jc);
    assert_false(st_job_release_or_lead(f->st, &jc, true, owner_suspend, owner_done, &o));
    assert_int_equal(o.suspended, 1);
    st_job_release(f->st, &jb, true);
    assert_int_equal(owner_wait_done(&o), 1);
    assert_false(o.done_before_suspend);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(jb.rc, STORE_OK);
    assert_int_equal(jc.rc, STORE_OK);
    pthread_cond_destroy(&jc.cv);
    expect_counter(f->st, "x2", true);
    expect_counter(f->st, "x3", true);
}

/* As durable_writer, with jobs whose owners do not wait: done comes only after a WAL sync
 * that started after the job was released. */
struct durable_owner {
    struct async_owner o;
    long before;
    bool durable;
};

static void
durable_done(void *arg)
{
    struct durable_owner *d = arg;
    d->durable = atomic_load(&wal_sync_done) > d->before;
    owner_done(&d->o);
}

static void *
durable_async_writer(void *arg)
{
    struct durable_arg *a = arg;
    char id[32];

    a->ok = true;
    for (int i = 0; i < 25; i++) {
        struct durable_owner d = {
            {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false},
            atomic_load(&wal_sync_started),
            false};
        struct store_event_row row = {.event_id = id,
                                      .type = "org.example.test",
                                      .sender = ALICE,
                                      .json = "{}",
                                      .depth = 1,
                                      .origin_server_ts = 1};
        struct store_pending *p;

        snprintf(id, sizeof(id), "$a%d_%d", a->id, i);
        p = store_events_submit_held(a->st, "!r:example.org", &row, 1, NULL);
        if (store_pending_release_async(a->st, p, true, owner_suspend, durable_done, &d))
            d.durable = atomic_load(&wal_sync_done) > d.before;
        else if (owner_wait_done(&d.o) != 1)
            a->ok = false;
        if (store_pending_finish(a->st, p, NULL) != STORE_OK || !d.durable)
            a->ok = false;
    }
    return NULL;
}

/* Four threads releasing jobs without waiting: each is done once its commit is on disk. */
static void
test_writer_async_done_when_durable(void **state)
{
    struct fixture *f = *state;

    if (getenv("HEARTH_TEST_PG"))
        skip(); /* PostgreSQL's COMMIT is durable when it returns */
    create_test_room(f->st, NULL);
    run_durable_writers(f->st, durable_async_writer, 0);
}

/* BEGIN fails once (the database went away; PostgreSQL restarting). */
static const struct db_driver *real_driver;
static atomic_int begins_to_fail;

static enum db_rc
exec_failing_begin(struct db *db, const char *sql)
{
    if (strcmp(sql, "BEGIN") == 0 && atomic_fetch_sub(&begins_to_fail, 1) > 0)
        return DB_ERR;
    return real_driver->exec(db, sql);
}

/* A batch whose BEGIN fails ends its jobs without waiting for held ones to be released. The
 * owner of such a job, releasing it afterwards, learns its failure: at once, or through done
 * (never neither, which would leave a send's connection suspended for good). */
static void
test_writer_async_release_after_failed_batch(void **state)
{
    struct fixture *f = *state;
    struct put_ctx a = {{"y1", NULL, NULL}, false}, b = {{"y2", NULL, NULL}, false};
    struct st_job held = {.fn = put_counters, .ctx = &a, .held = true},
                  other = {.fn = put_counters, .ctx = &b};
    struct async_owner o = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false};
    struct db_driver failing;
    bool here;

    real_driver = f->st->drv;
    failing = *real_driver;
    failing.exec = exec_failing_begin;
    atomic_store(&begins_to_fail, 1);
    f->st->drv = &failing;
    st_job_submit(f->st, &held);
    st_job_submit(f->st, &other);
    assert_int_equal(st_job_wait(f->st, &other), STORE_ERR); /* leads both; BEGIN fails */
    f->st->drv = real_driver;

    here = st_job_release_or_lead(f->st, &held, true, owner_suspend, owner_done, &o);
    if (!here) {
        assert_int_equal(o.suspended, 1);
        assert_int_equal(owner_wait_done(&o), 1);
    }
    assert_int_equal(held.rc, STORE_ERR);
    pthread_cond_destroy(&held.cv);
    expect_counter(f->st, "y1", false);
    assert_int_equal(st_write(f->st, put_counters, &a), STORE_OK); /* the writer works on */
    expect_counter(f->st, "y1", true);
}

/* ---- deferred search indexing (issue 3) ---- */

/* Hits for term in room !r over all positions. */
static int64_t
search_count(struct store *st, const char *term)
{
    struct store_search_range range = {"!r:example.org", 0, INT64_MAX};
    struct store_search_query q = {term, STORE_SEARCH_ALL_KEYS, &range, 1, false, 0, INT64_MAX,
                                   1000};
    struct store_search_hit *hits = NULL;
    size_t n = 0;
    int64_t count = -1;

    assert_int_equal(store_search_events(st, &q, &hits, &n, &count), STORE_OK);
    free(hits);
    return count;
}

static void
persist_typed(struct store *st, const char *event_id, const char *type, const char *json,
              int64_t *pos)
{
    struct store_event_row row = {.event_id = event_id,
                                  .type = type,
                                  .sender = ALICE,
                                  .json = json,
                                  .depth = 2,
                                  .origin_server_ts = 2};
    assert_int_equal(store_events_persist(st, "!r:example.org", NULL, &row, 1, pos), STORE_OK);
}

static void
persist_message(struct store *st, const char *event_id, const char *body, int64_t *pos)
{
    char *json = xasprintf("{\"content\":{\"msgtype\":\"m.text\",\"body\":\"%s\"}}", body);
    persist_typed(st, event_id, "m.room.message", json, pos);
    free(json);
}

static void
persist_redaction(struct store *st, const char *event_id, const char *redacts)
{
    struct store_event_row row = {.event_id = event_id,
                                  .type = "m.room.redaction",
                                  .sender = ALICE,
                                  .redacts = redacts,
                                  .json = "{\"content\":{}}",
                                  .depth = 3,
                                  .origin_server_ts = 3};
    int64_t pos = 0;
    assert_int_equal(store_events_persist(st, "!r:example.org", NULL, &row, 1, &pos), STORE_OK);
}

static int64_t
stored_mark(struct store *st)
{
    int64_t v = -1;
    assert_int_equal(store_counter(st, "search_indexed", &v), STORE_OK);
    return v;
}

/* A send does not index its event; the catch-up does, and moves the stored mark with it; a
 * redaction before or after the indexing keeps the event out of the results; what a closed
 * store left unindexed is indexed after it is opened again. */
static void
test_search_deferred_indexing(void **state)
{
    struct fixture *f = *state;
    int64_t p0 = 0, p1 = 0, p2 = 0, p3 = 0;
    bool current = false;

    create_test_room(f->st, &p0);
    persist_message(f->st, "$one", "alpha one", &p1);
    assert_int_equal(search_count(f->st, "alpha"), 0); /* not in the send's transaction */
    assert_true(atomic_load(&f->st->search_indexed) < p1);
    assert_int_equal(store_search_catch_up(f->st, 0, &current), STORE_OK);
    assert_true(current);
    assert_int_equal(search_count(f->st, "alpha"), 1);
    assert_true(stored_mark(f->st) >= p1);
    assert_true(atomic_load(&f->st->search_indexed) >= p1);
    /* Current: a no-op. */
    assert_int_equal(store_search_catch_up(f->st, 0, NULL), STORE_OK);
    assert_int_equal(search_count(f->st, "alpha"), 1);

    /* Redacted before it was indexed: never indexed. */
    persist_message(f->st, "$two", "alpha two", &p2);
    persist_redaction(f->st, "$r2", "$two");
    assert_int_equal(store_search_catch_up(f->st, 0, NULL), STORE_OK);
    assert_int_equal(search_count(f->st, "alpha"), 1);
    assert_int_equal(search_count(f->st, "two"), 0);
    /* Redacted after: out of the index at once, and the catch-up does not bring it back. */
    persist_redaction(f->st, "$r1", "$one");
    assert_int_equal(search_count(f->st, "alpha"), 0);
    assert_int_equal(store_search_catch_up(f->st, 0, NULL), STORE_OK);
    assert_int_equal(search_count(f->st, "alpha"), 0);

    /* What is indexed: the three keys' text when it is a string, in their own columns. */
    persist_typed(f->st, "$name", "m.room.name", "{\"content\":{\"name\":\"delta\"}}", &p2);
    persist_typed(f->st, "$topic", "m.room.topic", "{\"content\":{\"topic\":\"epsilon\"}}", &p2);
    persist_typed(f->st, "$num", "m.room.message", "{\"content\":{\"body\":12345}}", &p2);
    persist_typed(f->st, "$other", "org.example", "{\"content\":{\"body\":\"zeta\"}}", &p2);
    persist_typed(f->st, "$enc", "m.room.encrypted", "{\"content\":{\"body\":\"zeta\"}}", &p2);
    assert_int_equal(store_search_catch_up(f->st, 0, NULL), STORE_OK);
    assert_int_equal(search_count(f->st, "delta"), 1);
    assert_int_equal(search_count(f->st, "epsilon"), 1);
    assert_int_equal(search_count(f->st, "12345"), 0);
    assert_int_equal(search_count(f->st, "zeta"), 0);
    {
        struct store_search_range range = {"!r:example.org", 0, INT64_MAX};
        struct store_search_query q = {"delta", STORE_SEARCH_BODY, &range, 1, false,
                                       0,       INT64_MAX,         10};
        struct store_search_hit *hits = NULL;
        size_t n = 0;
        int64_t count = -1;
        assert_int_equal(store_search_events(f->st, &q, &hits, &n, &count), STORE_OK);
        assert_int_equal(count, 0); /* a name is not a body */
        free(hits);
    }

    /* A backlog left by the previous run. */
    persist_message(f->st, "$three", "beta three", &p3);
    reopen(f);
    assert_true(stored_mark(f->st) < p3);
    assert_int_equal(search_count(f->st, "beta"), 0);
    assert_int_equal(store_search_catch_up(f->st, 0, NULL), STORE_OK);
    assert_int_equal(search_count(f->st, "beta"), 1);
    assert_true(stored_mark(f->st) >= p3);
}

/* A long backlog goes in batches: max_jobs stops early and says so, and nothing is indexed
 * twice or skipped at the batches' seams. */
static void
test_search_catch_up_batches(void **state)
{
    struct fixture *f = *state;
    enum { N = 1300 };
    struct store_event_row *rows = calloc(N + 1, sizeof(*rows));
    char **ids = calloc(N + 1, sizeof(char *));
    int64_t first = 0;
    bool current = true;
    size_t jobs = 0;

    assert_non_null(rows);
    assert_non_null(ids);
    rows[0] = (struct store_event_row){.event_id = "$create",
                                       .type = "m.room.create",
                                       .state_key = "",
                                       .sender = ALICE,
                                       .json = "{\"content\":{}}",
                                       .depth = 1,
                                       .origin_server_ts = 1};
    for (size_t i = 1; i <= N; i++) {
        ids[i] = xasprintf("$m%zu", i);
        /* Every third is not searchable, so the batches' limits fall between positions. */
        rows[i] = (struct store_event_row){
            .event_id = ids[i],
            .type = i % 3 ? "m.room.message" : "org.example.other",
            .sender = ALICE,
            .json = "{\"content\":{\"msgtype\":\"m.text\",\"body\":\"gamma\"}}",
            .depth = (int64_t)i + 1,
            .origin_server_ts = 2};
    }
    assert_int_equal(store_events_persist(f->st, "!r:example.org", "10", rows, N + 1, &first),
                     STORE_OK);
    while (!current || jobs == 0) {
        assert_int_equal(store_search_catch_up(f->st, 1, &current), STORE_OK);
        jobs++;
        assert_true(jobs < 10);
    }
    assert_int_equal(jobs, 2); /* 867 searchable events: 512 and 355 */
    assert_int_equal(search_count(f->st, "gamma"), N - N / 3);
    for (size_t i = 1; i <= N; i++)
        free(ids[i]);
    free(ids);
    free(rows);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_user_create_get),
        T(test_user_exists),
        T(test_user_set_password),
        T(test_user_deactivate),
        T(test_token_of_deactivated_user),
        T(test_next_localpart_number),
        T(test_next_localpart_number_threads),
        T(test_device_login),
        T(test_device_login_atomic),
        T(test_guest_token),
        T(test_device_list),
        T(test_device_get_set_display_name),
        T(test_device_delete),
        T(test_device_delete_all_except),
        T(test_device_touch),
        T(test_login_token),
        T(test_reopen_persists),
        T(test_open_errors),
        T(test_threepids),
        T(test_threepid_binds),
        T(test_threepid_sessions),
        T(test_external_ids),
        T(test_token_expiry),
        T(test_writer_job_failure_is_its_own),
        T(test_writer_single_job_failure),
        T(test_writer_positions_after_failure),
        T(test_writer_done_when_durable),
        T(test_writer_async_release),
        T(test_writer_async_release_after_failed_batch),
        T(test_writer_async_done_when_durable),
        T(test_search_deferred_indexing),
        T(test_search_catch_up_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
