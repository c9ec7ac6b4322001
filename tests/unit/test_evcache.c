#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sync/evcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_A                                                                                     \
    "{\"auth_events\":[],\"content\":{\"body\":\"hi\",\"msgtype\":\"m.text\"},\"depth\":3,"        \
    "\"hashes\":{\"sha256\":\"x\"},\"origin\":\"hs\",\"origin_server_ts\":1000,"                   \
    "\"prev_events\":[],\"room_id\":\"!r:hs\",\"sender\":\"@a:hs\",\"signatures\":{},"             \
    "\"type\":\"m.room.message\",\"unsigned\":{\"leak\":1}}"

static struct store_event
event(const char *id, const char *json, const char *redacted_by, const char *uns)
{
    return (struct store_event){.event_id = (char *)id,
                                .room_id = "!r:hs",
                                .type = "m.room.message",
                                .sender = "@a:hs",
                                .json = (char *)json,
                                .redacted_by = (char *)redacted_by,
                                .unsigned_json = (char *)uns};
}

/* The client format: the ClientEvent fields only, no federation fields, no stored unsigned. */
static void
test_client_format(void **state)
{
    (void)state;
    struct evcache *c = evcache_new(64);
    struct store_event e = event("$a", JSON_A, NULL, NULL);
    json_t *ev = evcache_client(c, &e);

    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "event_id")), "$a");
    assert_string_equal(json_string_value(json_object_get(ev, "sender")), "@a:hs");
    assert_int_equal(json_integer_value(json_object_get(ev, "origin_server_ts")), 1000);
    assert_non_null(json_object_get(ev, "content"));
    assert_null(json_object_get(ev, "hashes"));
    assert_null(json_object_get(ev, "signatures"));
    assert_null(json_object_get(ev, "auth_events"));
    assert_null(json_object_get(ev, "depth"));
    assert_null(json_object_get(ev, "unsigned"));
    json_decref(ev);
    evcache_free(c);
}

/* A second lookup of the same row shares the object; a changed unsigned text does not. */
static void
test_hit_and_revalidation(void **state)
{
    (void)state;
    struct evcache *c = evcache_new(64);
    struct store_event e = event("$a", JSON_A, NULL, NULL);
    json_t *one = evcache_client(c, &e), *two = evcache_client(c, &e), *three;

    assert_ptr_equal(one, two);
    e.unsigned_json = "{\"prev_content\":{}}";
    three = evcache_client(c, &e);
    assert_non_null(three);
    assert_ptr_not_equal(one, three);
    json_decref(one);
    json_decref(two);
    json_decref(three);
    evcache_free(c);
}

/* Redacted events and unreadable JSON are left to the caller. */
static void
test_redacted_and_broken(void **state)
{
    (void)state;
    struct evcache *c = evcache_new(64);
    struct store_event red = event("$a", JSON_A, "$redaction", NULL);
    struct store_event bad = event("$b", "{not json", NULL, NULL);

    assert_null(evcache_client(c, &red));
    assert_null(evcache_client(c, &bad));
    assert_null(evcache_client(NULL, &bad));
    evcache_free(c);
}

/* The text is spliced only for an unchanged shallow copy plus unsigned, and then is the
 * object's dump without its closing brace. */
static void
test_append_text(void **state)
{
    (void)state;
    struct evcache *c = evcache_new(64);
    struct store_event e = event("$a", JSON_A, NULL, NULL);
    json_t *shared = evcache_client(c, &e), *copy = json_copy(shared), *changed;
    char *buf = NULL, *dump = json_dumps(shared, JSON_COMPACT);
    size_t len = 0, cap = 0;

    /* without unsigned: not the expected shape */
    assert_false(evcache_append_text(c, "$a", copy, &buf, &len, &cap));
    json_object_set_new(copy, "unsigned", json_pack("{s:i}", "age", 5));
    assert_true(evcache_append_text(c, "$a", copy, &buf, &len, &cap));
    assert_int_equal(len, strlen(dump) - 1);
    assert_memory_equal(buf, dump, len);
    /* a value replaced (as event_fields or a redaction would) is not the cached text */
    changed = json_copy(copy);
    json_object_set_new(changed, "content", json_object());
    len = 0;
    assert_false(evcache_append_text(c, "$a", changed, &buf, &len, &cap));
    assert_int_equal(len, 0);
    /* an event ID the memo does not hold */
    assert_false(evcache_append_text(c, "$zz", copy, &buf, &len, &cap));
    /* the same values in another key order (unsigned first) are still the cached event */
    {
        json_t *reordered = json_pack("{s:{s:i}}", "unsigned", "age", 5), *value;
        const char *key;
        json_object_foreach(shared, key, value) json_object_set(reordered, key, value);
        len = 0;
        assert_true(evcache_append_text(c, "$a", reordered, &buf, &len, &cap));
        assert_int_equal(len, strlen(dump) - 1);
        /* one key more but no unsigned: not the expected shape */
        json_object_del(reordered, "unsigned");
        json_object_set_new(reordered, "x", json_true());
        len = 0;
        assert_false(evcache_append_text(c, "$a", reordered, &buf, &len, &cap));
        json_decref(reordered);
    }
    free(buf);
    free(dump);
    json_decref(changed);
    json_decref(copy);
    json_decref(shared);
    evcache_free(c);
}

/* Bounded: many more events than entries, each still formatted correctly. */
static void
test_bounded(void **state)
{
    (void)state;
    struct evcache *c = evcache_new(8);
    char id[32];

    for (int i = 0; i < 1000; i++) {
        struct store_event e;
        json_t *ev;
        snprintf(id, sizeof(id), "$e%d", i);
        e = event(id, JSON_A, NULL, NULL);
        ev = evcache_client(c, &e);
        assert_non_null(ev);
        assert_string_equal(json_string_value(json_object_get(ev, "event_id")), id);
        json_decref(ev);
    }
    evcache_free(c);
}

/* A working set of three quarters of the entries, read over and over, is formatted once:
 * every later read is a hit (the same shared object). With one 4-way set per event, sets
 * overflowed at this fill and their events were formatted on every pass (issue 12). */
static void
test_working_set_fits(void **state)
{
    (void)state;
    enum { N = 3072 };
    struct evcache *c = evcache_new(4096);
    json_t **first = calloc(N, sizeof(*first));
    char id[32];
    int misses = 0;

    assert_non_null(first);
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < N; i++) {
            struct store_event e;
            json_t *ev;
            snprintf(id, sizeof(id), "$w%d:example.org", i);
            e = event(id, JSON_A, NULL, NULL);
            ev = evcache_client(c, &e);
            assert_non_null(ev);
            if (pass == 0)
                first[i] = ev;
            else {
                misses += ev != first[i];
                json_decref(ev);
            }
        }
    assert_int_equal(misses, 0);
    for (int i = 0; i < N; i++)
        json_decref(first[i]);
    free(first);
    evcache_free(c);
}

/* No entries asked for: one set, which still caches. */
static void
test_one_set(void **state)
{
    (void)state;
    struct evcache *c = evcache_new(0);
    struct store_event e = event("$one", JSON_A, NULL, NULL);
    json_t *a = evcache_client(c, &e), *b = evcache_client(c, &e);

    assert_non_null(a);
    assert_ptr_equal(a, b);
    json_decref(a);
    json_decref(b);
    evcache_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_format),
        cmocka_unit_test(test_hit_and_revalidation),
        cmocka_unit_test(test_redacted_and_broken),
        cmocka_unit_test(test_append_text),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_working_set_fits),
        cmocka_unit_test(test_one_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
