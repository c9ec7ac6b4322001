#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parse_case {
    const char *in;
    size_t len; /* 0: strlen(in) */
    enum json_status want;
};

static const char *
status_name(enum json_status s)
{
    switch (s) {
    case JSONS_OK:
        return "OK";
    case JSONS_NOT_JSON:
        return "NOT_JSON";
    case JSONS_BAD_JSON:
        return "BAD_JSON";
    }
    return "?";
}

static void
run_parse_cases(const struct parse_case *cases, size_t n)
{
    int failures = 0;

    for (size_t i = 0; i < n; i++) {
        const struct parse_case *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->in);
        json_t *v = (json_t *)0x1;
        char msg[256] = "";
        enum json_status got = json_parse_object(c->in, len, &v, msg, sizeof(msg));

        if (got != c->want) {
            print_error("case %zu: %.80s -> %s (%s), want %s\n", i, c->in, status_name(got), msg,
                        status_name(c->want));
            failures++;
        }
        if (got == JSONS_OK) {
            if (!json_is_object(v)) {
                print_error("case %zu: OK but *out is not an object\n", i);
                failures++;
            }
            json_decref(v);
        } else {
            if (v != NULL) {
                print_error("case %zu: error but *out not NULL\n", i);
                failures++;
            }
            if (msg[0] == '\0') {
                print_error("case %zu: error without a message\n", i);
                failures++;
            }
        }
    }
    assert_int_equal(failures, 0);
}

static void
test_parse_ok(void **state)
{
    (void)state;
    static const struct parse_case cases[] = {
        {"{}", 0, JSONS_OK},
        {" \t\r\n{ } \n", 0, JSONS_OK},
        {"{\"a\":1}", 0, JSONS_OK},
        {"{\"a\":\"b\",\"c\":[1,2,{\"d\":null}],\"e\":true,\"f\":false}", 0, JSONS_OK},
        {"{\"a\":1.5,\"b\":-0.25e3}", 0, JSONS_OK},
        {"{\"a\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}", 0, JSONS_OK},
        {"{\"a\":\"\\ud83d\\ude00\\u00e9\\n\\\"\"}", 0, JSONS_OK},
        {"{\"\xc3\xa9\":1}", 0, JSONS_OK},
        {"{\"a\":{\"a\":1},\"b\":{\"a\":1}}", 0, JSONS_OK}, /* same key, different objects */
        {"{\"a\":0,\"b\":-0}", 0, JSONS_OK},
    };
    run_parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_parse_not_json(void **state)
{
    (void)state;
    static const struct parse_case cases[] = {
        /* syntax */
        {"", 0, JSONS_NOT_JSON},
        {"   ", 0, JSONS_NOT_JSON},
        {"{", 0, JSONS_NOT_JSON},
        {"}", 0, JSONS_NOT_JSON},
        {"{\"a\":}", 0, JSONS_NOT_JSON},
        {"{\"a\"}", 0, JSONS_NOT_JSON},
        {"{'a':1}", 0, JSONS_NOT_JSON},
        {"{a:1}", 0, JSONS_NOT_JSON},
        {"{\"a\":1,}", 0, JSONS_NOT_JSON},
        {"{\"a\":[1,]}", 0, JSONS_NOT_JSON},
        {"{\"a\":01}", 0, JSONS_NOT_JSON},
        {"{\"a\":NaN}", 0, JSONS_NOT_JSON},
        {"{\"a\":Infinity}", 0, JSONS_NOT_JSON},
        {"{\"a\":\"unterminated}", 0, JSONS_NOT_JSON},
        {"{\"a\":\"\\x41\"}", 0, JSONS_NOT_JSON},
        {"{\"a\":\"tab\there\"}", 0, JSONS_NOT_JSON}, /* raw control character */
        {"{} {}", 0, JSONS_NOT_JSON},
        {"{}x", 0, JSONS_NOT_JSON},
        {"{\"a\":1}}", 0, JSONS_NOT_JSON},
        {"nonsense", 0, JSONS_NOT_JSON},
        /* invalid UTF-8 */
        {"{\"a\":\"\xff\"}", 0, JSONS_NOT_JSON},
        {"{\"a\":\"\xc3\x28\"}", 0, JSONS_NOT_JSON},
        {"{\"a\":\"\xc0\xaf\"}", 0, JSONS_NOT_JSON},         /* overlong '/' */
        {"{\"a\":\"\xed\xa0\x80\"}", 0, JSONS_NOT_JSON},     /* encoded surrogate */
        {"{\"a\":\"\xf4\x90\x80\x80\"}", 0, JSONS_NOT_JSON}, /* > U+10FFFF */
        {"{\"a\":\"\xe2\x82\"}", 0, JSONS_NOT_JSON},         /* truncated */
        {"{\"\xff\":1}", 0, JSONS_NOT_JSON},
        {"{\"a\":\"\\ud800\"}", 0, JSONS_NOT_JSON}, /* lone surrogate escape */
        {"{\"a\":\"\\udc00\\ud800\"}", 0, JSONS_NOT_JSON},
        /* duplicate keys, at top level and nested */
        {"{\"a\":1,\"a\":1}", 0, JSONS_NOT_JSON},
        {"{\"a\":1,\"b\":2,\"a\":3}", 0, JSONS_NOT_JSON},
        {"{\"x\":{\"a\":1,\"a\":2}}", 0, JSONS_NOT_JSON},
        {"{\"x\":[{\"a\":1,\"a\":2}]}", 0, JSONS_NOT_JSON},
        {"{\"\\u0061\":1,\"a\":2}", 0, JSONS_NOT_JSON}, /* same key once unescaped */
        /* NUL, raw (an escaped \u0000 is valid JSON: see test_parse_bad_json) */
        {"{\"a\":\"x\0y\"}", sizeof("{\"a\":\"x\0y\"}") - 1, JSONS_NOT_JSON},
        {"{}\0", sizeof("{}\0") - 1, JSONS_NOT_JSON},
    };
    run_parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* SPEC: appendices "Canonical JSON": integers in [-(2**53)+1, (2**53)-1]. Synapse answers
 * M_BAD_JSON "Content must be a JSON object." for any other parseable top-level value. */
static void
test_parse_bad_json(void **state)
{
    (void)state;
    static const struct parse_case cases[] = {
        /* top level not an object */
        {"[]", 0, JSONS_BAD_JSON},
        {"[{}]", 0, JSONS_BAD_JSON},
        /* integer range: just outside */
        {"{\"a\":9007199254740992}", 0, JSONS_BAD_JSON},
        {"{\"a\":-9007199254740992}", 0, JSONS_BAD_JSON},
        {"{\"a\":[1,2,9007199254740992]}", 0, JSONS_BAD_JSON},
        {"{\"a\":{\"b\":{\"c\":-9007199254740992}}}", 0, JSONS_BAD_JSON},
        {"{\"a\":[{\"b\":[9007199254740993]}]}", 0, JSONS_BAD_JSON},
        {"{\"a\":9223372036854775807}", 0, JSONS_BAD_JSON},
        {"{\"a\":-9223372036854775808}", 0, JSONS_BAD_JSON},
        /* integer overflowing int64 */
        {"{\"a\":9223372036854775808}", 0, JSONS_BAD_JSON},
        {"{\"a\":-9223372036854775809}", 0, JSONS_BAD_JSON},
        {"{\"a\":[99999999999999999999999999]}", 0, JSONS_BAD_JSON},
        {"{\"x\":{\"y\":-99999999999999999999999999}}", 0, JSONS_BAD_JSON},
        /* an escaped NUL is valid JSON, but C strings cannot carry it: refused as bad */
        {"{\"a\":\"x\\u0000y\"}", 0, JSONS_BAD_JSON},
        {"{\"\\u0000\":1}", 0, JSONS_BAD_JSON},
    };
    run_parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* A parseable scalar is valid JSON, only not an object: M_BAD_JSON, as for an array. */
static void
test_parse_top_level_scalar(void **state)
{
    (void)state;
    static const struct parse_case cases[] = {
        {"1", 0, JSONS_BAD_JSON},    {"\"string\"", 0, JSONS_BAD_JSON}, {"null", 0, JSONS_BAD_JSON},
        {"true", 0, JSONS_BAD_JSON}, {" 1.5 ", 0, JSONS_BAD_JSON},
    };
    run_parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_parse_int_bounds_inside(void **state)
{
    (void)state;
    static const struct parse_case cases[] = {
        {"{\"a\":9007199254740991}", 0, JSONS_OK},
        {"{\"a\":-9007199254740991}", 0, JSONS_OK},
        {"{\"a\":[9007199254740991,-9007199254740991]}", 0, JSONS_OK},
        {"{\"a\":{\"b\":[{\"c\":9007199254740991}]}}", 0, JSONS_OK},
    };
    run_parse_cases(cases, sizeof(cases) / sizeof(cases[0]));

    json_t *v = NULL;
    char msg[128];
    const char *s = "{\"a\":[9007199254740991],\"b\":-9007199254740991}";
    assert_int_equal(json_parse_object(s, strlen(s), &v, msg, sizeof(msg)), JSONS_OK);
    assert_true(json_integer_value(json_array_get(json_object_get(v, "a"), 0)) ==
                JSON_CANON_INT_MAX);
    assert_true(json_integer_value(json_object_get(v, "b")) == -JSON_CANON_INT_MAX);
    json_decref(v);
}

/* Builds prefix + depth copies of open + inner + depth copies of close + suffix. */
static char *
nested(const char *prefix, const char *open, const char *inner, const char *close,
       const char *suffix, size_t depth)
{
    size_t cap = strlen(prefix) + depth * (strlen(open) + strlen(close)) + strlen(inner) +
                 strlen(suffix) + 1;
    char *buf = malloc(cap);
    size_t o = 0;

    assert_non_null(buf);
    o += (size_t)snprintf(buf + o, cap - o, "%s", prefix);
    for (size_t i = 0; i < depth; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s", open);
    o += (size_t)snprintf(buf + o, cap - o, "%s", inner);
    for (size_t i = 0; i < depth; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s", close);
    snprintf(buf + o, cap - o, "%s", suffix);
    return buf;
}

static void
expect_status(char *s, size_t len, enum json_status want)
{
    json_t *v = NULL;
    char msg[256] = "";
    enum json_status got = json_parse_object(s, len, &v, msg, sizeof(msg));

    if (got != want)
        fail_msg("%.60s... (len %zu) -> %s (%s), want %s", s, len, status_name(got), msg,
                 status_name(want));
    json_decref(v);
    free(s);
}

static void
test_parse_depth(void **state)
{
    (void)state;
    char *s;

    /* Moderate nesting is fine. */
    s = nested("{\"a\":", "[", "1", "]", "}", 100);
    expect_status(s, strlen(s), JSONS_OK);
    s = nested("", "{\"a\":", "1", "}", "", 100);
    expect_status(s, strlen(s), JSONS_OK);

    /* Far beyond jansson's JSON_PARSER_MAX_DEPTH: balanced, unbalanced, objects. */
    s = nested("{\"a\":", "[", "", "]", "}", 5000);
    expect_status(s, strlen(s), JSONS_BAD_JSON);
    s = nested("{\"a\":", "[", "", "", "", 5000);
    expect_status(s, strlen(s), JSONS_BAD_JSON);
    s = nested("", "{\"a\":", "1", "}", "", 5000);
    expect_status(s, strlen(s), JSONS_BAD_JSON);
    s = nested("", "[", "", "]", "", 5000);
    expect_status(s, strlen(s), JSONS_BAD_JSON);
}

static void
test_parse_msg_truncated(void **state)
{
    (void)state;
    char msg[8];
    json_t *v = NULL;

    memset(msg, 'X', sizeof(msg));
    assert_int_equal(json_parse_object("{", 1, &v, msg, sizeof(msg)), JSONS_NOT_JSON);
    assert_null(v);
    assert_non_null(memchr(msg, '\0', sizeof(msg)));
    memset(msg, 'X', sizeof(msg));
    assert_int_equal(json_parse_object("[]", 2, &v, msg, sizeof(msg)), JSONS_BAD_JSON);
    assert_non_null(memchr(msg, '\0', sizeof(msg)));
}

/* Only `len` bytes are read: the buffer need not be NUL-terminated. */
static void
test_parse_respects_len(void **state)
{
    (void)state;
    char buf[16];
    json_t *v = NULL;
    char msg[128];

    memcpy(buf, "{\"a\":1}GARBAGE!", 16);
    assert_int_equal(json_parse_object(buf, 7, &v, msg, sizeof(msg)), JSONS_OK);
    assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
    json_decref(v);
    assert_int_equal(json_parse_object(buf, 6, &v, msg, sizeof(msg)), JSONS_NOT_JSON);
    assert_null(v);
}

static void
test_ints_in_range(void **state)
{
    (void)state;
    static const struct {
        json_int_t n;
        bool ok;
    } cases[] = {
        {0, true},
        {JSON_CANON_INT_MAX, true},
        {-JSON_CANON_INT_MAX, true},
        {JSON_CANON_INT_MAX + 1, false},
        {-JSON_CANON_INT_MAX - 1, false},
        {INT64_MAX, false},
        {INT64_MIN, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *n = json_integer(cases[i].n);
        json_t *arr = json_pack("[s, {s: [O]}]", "x", "k", n);
        assert_int_equal(json_ints_in_range(n), cases[i].ok);
        assert_int_equal(json_ints_in_range(arr), cases[i].ok);
        json_decref(arr);
        json_decref(n);
    }
    json_t *real = json_real(1e300);
    assert_true(json_ints_in_range(real));
    json_decref(real);
}

static void
test_get_str(void **state)
{
    (void)state;
    json_t *obj = json_pack("{s:s, s:i, s:n, s:[], s:{}, s:b, s:s}", "s", "value", "i", 5, "n", "a",
                            "o", "b", 1, "e", "");
    static const struct {
        const char *key;
        const char *want; /* NULL: returns NULL */
        bool wrong_type;
    } cases[] = {
        {"s", "value", false}, {"e", "", false},  {"absent", NULL, false}, {"n", NULL, false},
        {"i", NULL, true},     {"a", NULL, true}, {"o", NULL, true},       {"b", NULL, true},
    };

    assert_non_null(obj);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool wt = false;
        const char *got = json_get_str(obj, cases[i].key, &wt);
        if (cases[i].want)
            assert_string_equal(got, cases[i].want);
        else
            assert_null(got);
        if (wt != cases[i].wrong_type)
            fail_msg("key %s: wrong_type %d, want %d", cases[i].key, wt, cases[i].wrong_type);
        /* wrong_type may be NULL */
        got = json_get_str(obj, cases[i].key, NULL);
        if (cases[i].want)
            assert_string_equal(got, cases[i].want);
        else
            assert_null(got);
    }
    /* The result is borrowed from the object. */
    assert_ptr_equal(json_get_str(obj, "s", NULL), json_string_value(json_object_get(obj, "s")));
    json_decref(obj);
}

static void
test_dump_compact(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:[i,i], s:s}", "a", 1, 2, "b", "c");
    char *s = json_dump_compact(v);
    assert_string_equal(s, "{\"a\":[1,2],\"b\":\"c\"}");
    free(s);
    json_decref(v);

    json_t *str = json_string("x");
    s = json_dump_compact(str); /* any value, not only containers */
    assert_string_equal(s, "\"x\"");
    free(s);
    json_decref(str);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_not_json),
        cmocka_unit_test(test_parse_bad_json),
        cmocka_unit_test(test_parse_top_level_scalar),
        cmocka_unit_test(test_parse_int_bounds_inside),
        cmocka_unit_test(test_parse_depth),
        cmocka_unit_test(test_parse_msg_truncated),
        cmocka_unit_test(test_parse_respects_len),
        cmocka_unit_test(test_ints_in_range),
        cmocka_unit_test(test_get_str),
        cmocka_unit_test(test_dump_compact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
