#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "sync/filter.h"

static void
test_type_globs(void **state)
{
    static const struct {
        const char *pattern, *type;
        bool match;
    } cases[] = {
        {"m.room.message", "m.room.message", true},
        {"m.room.message", "m.room.messages", false},
        {"m.room.*", "m.room.message", true},
        {"m.room.*", "m.room.", true},
        {"m.room.*", "m.roo", false},
        {"*", "anything", true},
        {"*.bar", "org.foo.bar", true},
        {"*.bar", "org.foo.baz", false},
        {"org.*.bar", "org.x.y.bar", true},
        {"org.*.bar", "org.bar", false},
        {"a*b*c", "aXbYc", true},
        {"a*b*c", "aXcYb", false},
        {"", "", true},
        {"", "x", false},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (filter_type_matches(cases[i].pattern, cases[i].type) != cases[i].match)
            fail_msg("%s ~ %s should be %d", cases[i].pattern, cases[i].type, cases[i].match);
    }
}

static bool
matches(const char *filter_json, const char *event_json)
{
    struct event_filter f;
    char err[200];
    json_t *fj = json_loads(filter_json, 0, NULL), *ev = json_loads(event_json, 0, NULL);
    bool m;

    assert_int_equal(filter_parse(fj, &f, err, sizeof(err)), 0);
    m = filter_event_matches(&f, "!r:x", ev);
    filter_clear(&f);
    json_decref(fj);
    json_decref(ev);
    return m;
}

static void
test_event_matching(void **state)
{
    const char *msg = "{\"type\":\"m.room.message\",\"sender\":\"@a:x\",\"content\":{}}";
    const char *img =
        "{\"type\":\"m.room.message\",\"sender\":\"@b:x\",\"content\":{\"url\":\"mxc://x/y\"}}";
    (void)state;

    assert_true(matches("{}", msg));
    assert_true(matches("{\"types\":[\"m.room.*\"]}", msg));
    assert_false(matches("{\"types\":[\"m.room.*\"],\"not_types\":[\"m.room.message\"]}", msg));
    assert_false(matches("{\"senders\":[\"@b:x\"]}", msg));
    assert_true(matches("{\"not_senders\":[\"@b:x\"]}", msg));
    assert_false(matches("{\"not_rooms\":[\"!r:x\"]}", msg));
    assert_true(matches("{\"rooms\":[\"!r:x\"]}", msg));
    assert_true(matches("{\"contains_url\":true}", img));
    assert_false(matches("{\"contains_url\":true}", msg));
    assert_true(matches("{\"contains_url\":false}", msg));
    assert_false(matches("{\"types\":[]}", msg));
    /* fields that select nothing (the fast path) next to ones that do */
    assert_true(matches("{\"limit\":10,\"lazy_load_members\":true}", img));
    assert_false(matches("{\"limit\":10,\"not_senders\":[\"@b:x\"]}", img));
    assert_false(matches("{\"lazy_load_members\":true,\"contains_url\":false}", img));
}

static void
test_invalid_filters(void **state)
{
    static const char *const bad[] = {
        "{\"types\":\"m.room.message\"}",
        "{\"types\":[1]}",
        "{\"limit\":-1}",
        "{\"limit\":\"10\"}",
        "{\"contains_url\":1}",
        "{\"lazy_load_members\":\"y\"}",
        "{\"senders\":{}}",
        "{\"not_rooms\":[null]}",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct event_filter f;
        char err[200] = "";
        json_t *j = json_loads(bad[i], 0, NULL);
        assert_non_null(j);
        if (filter_parse(j, &f, err, sizeof(err)) == 0)
            fail_msg("accepted %s", bad[i]);
        assert_true(strlen(err) > 0);
        json_decref(j);
    }
}

static void
test_event_fields(void **state)
{
    struct sync_filter f;
    char err[200];
    json_t *fj = json_loads("{\"event_fields\":[\"type\",\"content.a\\\\.b\",\"content.x.y\","
                            "\"content.none\"]}",
                            0, NULL);
    json_t *ev =
        json_loads("{\"type\":\"t\",\"sender\":\"s\",\"content\":{\"a.b\":1,\"a\":{\"b\":2},"
                   "\"x\":{\"y\":3,\"z\":4}}}",
                   0, NULL);
    json_t *want = json_loads("{\"type\":\"t\",\"content\":{\"a.b\":1,\"x\":{\"y\":3}}}", 0, NULL);
    json_t *got;
    (void)state;

    assert_non_null(fj);
    assert_int_equal(sync_filter_parse(fj, &f, err, sizeof(err)), 0);
    got = sync_filter_apply_fields(&f, ev);
    assert_true(json_equal(got, want));
    json_decref(got);
    sync_filter_clear(&f);
    json_decref(fj);
    json_decref(ev);
    json_decref(want);
}

static void
test_sync_filter_errors(void **state)
{
    static const char *const bad[] = {
        "[]",
        "{\"event_fields\":\"type\"}",
        "{\"event_fields\":[1]}",
        "{\"event_format\":\"xml\"}",
        "{\"room\":[]}",
        "{\"room\":{\"include_leave\":1}}",
        "{\"room\":{\"timeline\":{\"limit\":\"x\"}}}",
        "{\"room\":{\"rooms\":\"!a:b\"}}",
        "{\"presence\":{\"types\":{}}}",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sync_filter f;
        char err[200] = "";
        json_t *j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        if (sync_filter_parse(j, &f, err, sizeof(err)) == 0)
            fail_msg("accepted %s", bad[i]);
        json_decref(j);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_globs),         cmocka_unit_test(test_event_matching),
        cmocka_unit_test(test_invalid_filters),    cmocka_unit_test(test_event_fields),
        cmocka_unit_test(test_sync_filter_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
