/* store_media.c: local media records, quarantine by content, cached URL previews. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/config.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

struct fixture {
    char dir[64];
    char path[128];
    struct config cfg;
    struct store *st;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-test-media-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/homeserver.db", f->dir);
    f->cfg.server_name = "example.org";
    f->cfg.database_name = "sqlite3";
    f->cfg.database_path = f->path;
    if (store_open(&f->cfg, &f->st) != STORE_OK) {
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
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void
add(struct store *st, const char *id, const char *hash, const char *name, const char *user)
{
    struct store_media m = {(char *)id,   "image/png", (char *)name, 42,   (char *)hash,
                            (char *)user, 1000,        NULL,         false};
    assert_int_equal(store_media_add(st, &m), STORE_OK);
}

static void
test_media_records(void **state)
{
    struct fixture *f = *state;
    struct store_media m;

    add(f->st, "one", HASH_A, "a.png", "@alice:example.org");
    add(f->st, "two", HASH_A, NULL, NULL);
    add(f->st, "three", HASH_B, "b.png", "@bob:example.org");
    struct store_media dup = {"one", "text/plain", NULL, 1, HASH_B, NULL, 1, NULL, false};
    assert_int_equal(store_media_add(f->st, &dup), STORE_EXISTS);

    assert_int_equal(store_media_get(f->st, "one", &m), STORE_OK);
    assert_string_equal(m.media_id, "one");
    assert_string_equal(m.media_type, "image/png");
    assert_string_equal(m.upload_name, "a.png");
    assert_int_equal(m.length, 42);
    assert_string_equal(m.sha256, HASH_A);
    assert_string_equal(m.user_id, "@alice:example.org");
    assert_int_equal(m.created_ts, 1000);
    assert_null(m.quarantined_by);
    store_media_clear(&m);
    assert_int_equal(store_media_get(f->st, "two", &m), STORE_OK);
    assert_null(m.upload_name);
    assert_null(m.user_id);
    store_media_clear(&m);
    assert_int_equal(store_media_get(f->st, "nope", &m), STORE_NOT_FOUND);

    /* Quarantine reaches every media with the same content, and only those. */
    assert_int_equal(store_media_quarantine(f->st, "two", "@admin:example.org"), STORE_OK);
    assert_int_equal(store_media_get(f->st, "one", &m), STORE_OK);
    assert_string_equal(m.quarantined_by, "@admin:example.org");
    store_media_clear(&m);
    assert_int_equal(store_media_get(f->st, "three", &m), STORE_OK);
    assert_null(m.quarantined_by);
    store_media_clear(&m);
    assert_int_equal(store_media_quarantine(f->st, "one", NULL), STORE_OK);
    assert_int_equal(store_media_get(f->st, "two", &m), STORE_OK);
    assert_null(m.quarantined_by);
    store_media_clear(&m);
    assert_int_equal(store_media_quarantine(f->st, "nope", "@admin:example.org"), STORE_NOT_FOUND);
}

static void
test_url_previews(void **state)
{
    struct fixture *f = *state;
    char *og = NULL;

    assert_int_equal(store_url_preview_get(f->st, "http://a/", 100, &og), STORE_NOT_FOUND);
    assert_null(og);
    assert_int_equal(store_url_preview_put(f->st, "http://a/", "{\"og:title\":\"A\"}", 100, 200),
                     STORE_OK);
    assert_int_equal(store_url_preview_get(f->st, "http://a/", 199, &og), STORE_OK);
    assert_string_equal(og, "{\"og:title\":\"A\"}");
    free(og);
    /* Expired. */
    assert_int_equal(store_url_preview_get(f->st, "http://a/", 200, &og), STORE_NOT_FOUND);
    /* A new fetch replaces it. */
    assert_int_equal(store_url_preview_put(f->st, "http://a/", "{}", 300, 400), STORE_OK);
    assert_int_equal(store_url_preview_get(f->st, "http://a/", 301, &og), STORE_OK);
    assert_string_equal(og, "{}");
    free(og);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_media_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_previews, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
