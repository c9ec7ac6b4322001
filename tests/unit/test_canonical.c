#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "json/canonical.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct canon_case {
    const char *in;   /* JSON text */
    const char *want; /* canonical form; NULL: refused */
};

static void
run_cases(const struct canon_case *cases, size_t n, bool allow_floats)
{
    int failures = 0;

    for (size_t i = 0; i < n; i++) {
        json_error_t err;
        json_t *v = json_loads(cases[i].in, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        size_t len = 0;
        char *got;

        if (!v) {
            print_error("case %zu: fixture not JSON: %s\n", i, err.text);
            failures++;
            continue;
        }
        got = json_canonical(v, allow_floats, &len);
        if (!cases[i].want != !got || (got && strcmp(got, cases[i].want) != 0)) {
            print_error("case %zu: %s\n  got  %s\n  want %s\n", i, cases[i].in,
                        got ? got : "(refused)", cases[i].want ? cases[i].want : "(refused)");
            failures++;
        } else if (got && len != strlen(got)) {
            print_error("case %zu: len_out %zu != %zu\n", i, len, strlen(got));
            failures++;
        }
        free(got);
        json_decref(v);
    }
    assert_int_equal(failures, 0);
}

/* SPEC: appendices/signing_json "Examples": every pair given there. */
static void
test_spec_examples(void **state)
{
    (void)state;
    static const struct canon_case cases[] = {
        {"{}", "{}"},
        {"{\n    \"one\": 1,\n    \"two\": \"Two\"\n}", "{\"one\":1,\"two\":\"Two\"}"},
        {"{\n    \"b\": \"2\",\n    \"a\": \"1\"\n}", "{\"a\":\"1\",\"b\":\"2\"}"},
        {"{\"b\":\"2\",\"a\":\"1\"}", "{\"a\":\"1\",\"b\":\"2\"}"},
        {"{\"auth\": {\"success\": true, \"mxid\": \"@john.doe:example.com\", \"profile\": "
         "{\"display_name\": \"John Doe\", \"three_pids\": [{\"medium\": \"email\", "
         "\"address\": \"john.doe@example.org\"}, {\"medium\": \"msisdn\", \"address\": "
         "\"123456789\"}]}}}",
         "{\"auth\":{\"mxid\":\"@john.doe:example.com\",\"profile\":{\"display_name\":\"John "
         "Doe\",\"three_pids\":[{\"address\":\"john.doe@example.org\",\"medium\":\"email\"},{"
         "\"address\":\"123456789\",\"medium\":\"msisdn\"}]},\"success\":true}}"},
        {"{\"a\": \"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"}",
         "{\"a\":\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"}"},
        /* {"本": 2, "日": 1} -> {"日":1,"本":2} */
        {"{\"\xe6\x9c\xac\": 2, \"\xe6\x97\xa5\": 1}", "{\"\xe6\x97\xa5\":1,\"\xe6\x9c\xac\":2}"},
        {"{\"a\": \"\\u65E5\"}", "{\"a\":\"\xe6\x97\xa5\"}"},
        {"{\"a\": null}", "{\"a\":null}"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), false);
}

/* SPEC: signing_json grammar "escaped": exactly " \ b f n r t, and u00XX (lower-case) for the
 * other controls; what Python's json.dumps(ensure_ascii=False) writes. */
static void
test_escapes(void **state)
{
    (void)state;
    static const struct canon_case cases[] = {
        {"\"\\\"\\\\\"", "\"\\\"\\\\\""},
        {"\"\\b\\f\\n\\r\\t\"", "\"\\b\\f\\n\\r\\t\""},
        {"\"\\u0001\\u0007\\u000b\\u000e\\u001f\"", "\"\\u0001\\u0007\\u000b\\u000e\\u001f\""},
        {"\"\\u001F\\u001A\\u001B\"", "\"\\u001f\\u001a\\u001b\""},
        {"\"\\/\"", "\"/\""},                                   /* no escaped solidus */
        {"\"\\u007f\"", "\"\x7f\""},                            /* DEL goes raw */
        {"\"\\u2028\\u2029\"", "\"\xe2\x80\xa8\xe2\x80\xa9\""}, /* raw, as Python */
        {"\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\""},
        {"\"\\u00e9\"", "\"\xc3\xa9\""},
        {"{\"\\n\":\"\\u0000\"}", "{\"\\n\":\"\\u0000\"}"},
        {"\" \"", "\" \""},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), false);
}

/* SPEC: "dictionary keys lexicographically sorted by unicode codepoint" (UTF-8 byte order). */
static void
test_key_order(void **state)
{
    (void)state;
    static const struct canon_case cases[] = {
        {"{\"b\":1,\"a\":2,\"A\":3,\"_\":4,\"\":5}", "{\"\":5,\"A\":3,\"_\":4,\"a\":2,\"b\":1}"},
        {"{\"ab\":1,\"a\":2,\"abc\":3,\"aa\":4}", "{\"a\":2,\"aa\":4,\"ab\":1,\"abc\":3}"},
        /* U+00E9 (C3 A9) < U+FF21 (EF BC A1) < U+1F600 (F0 9F 98 80); all after "z" */
        {"{\"\\ud83d\\ude00\":1,\"\\uff21\":2,\"\\u00e9\":3,\"z\":4}",
         "{\"z\":4,\"\xc3\xa9\":3,\"\xef\xbc\xa1\":2,\"\xf0\x9f\x98\x80\":1}"},
        {"{\"b\":{\"d\":1,\"c\":[{\"f\":1,\"e\":2}]},\"a\":[]}",
         "{\"a\":[],\"b\":{\"c\":[{\"e\":2,\"f\":1}],\"d\":1}}"},
        {"[3,1,2]", "[3,1,2]"}, /* arrays keep their order */
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), false);
}

/* SPEC: "Numbers in the JSON must be integers in the range [-(2**53)+1, (2**53)-1]" */
static void
test_integers(void **state)
{
    (void)state;
    static const struct canon_case cases[] = {
        {"0", "0"},
        {"-0", "0"},
        {"-1", "-1"},
        {"[9007199254740991,-9007199254740991]", "[9007199254740991,-9007199254740991]"},
        {"9007199254740992", NULL},
        {"-9007199254740992", NULL},
        {"{\"a\":[{\"b\":9223372036854775807}]}", NULL},
        {"true", "true"},
        {"false", "false"},
        {"null", "null"},
        {"\"\"", "\"\""},
        {"[]", "[]"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), false);
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), true);
}

/* Rooms v1-5 carry floats; written as Python's repr (shortest round trip). */
static void
test_floats_allowed(void **state)
{
    (void)state;
    static const struct canon_case cases[] = {
        {"1.0", "1.0"},
        {"-1.0", "-1.0"},
        {"0.0", "0.0"},
        {"-0.0", "-0.0"},
        {"1.5", "1.5"},
        {"0.1", "0.1"},
        {"100.0", "100.0"},
        {"1e2", "100.0"},
        {"123456789.125", "123456789.125"},
        {"0.30000000000000004", "0.30000000000000004"},
        {"1e15", "1000000000000000.0"},
        {"1e16", "1e+16"},
        {"1.5e16", "1.5e+16"},
        {"0.0001", "0.0001"},
        {"0.00001", "1e-05"},
        {"1.25e-7", "1.25e-07"},
        {"1e100", "1e+100"},
        {"5e-324", "5e-324"},
        {"1.7976931348623157e308", "1.7976931348623157e+308"},
        {"9007199254740993.0", "9007199254740992.0"},
        {"{\"a\":[0.5,{\"b\":2.5}]}", "{\"a\":[0.5,{\"b\":2.5}]}"},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), true);
}

/* SPEC: "Float values are not permitted by this encoding." (v6: strictly enforced) */
static void
test_floats_refused(void **state)
{
    (void)state;
    static const struct canon_case cases[] = {
        {"1.0", NULL},
        {"{\"a\":{\"b\":[1,2,0.5]}}", NULL},
        {"[1e2]", NULL},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), false);
}

/* Canonical output parsed again writes the same bytes; NUL inside strings survives. */
static void
test_idempotent(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        "{\"z\":{\"y\":[1,\"\\u0000\",{\"\\u00e9\":null}]},\"a\":\"\\t\\\"\"}",
        "{\"\xf0\x9f\x98\x80\":[true,false,-5,\"\\u001f\"],\"\":{}}",
        "[0.1,-2.5e-9,1e300]",
    };

    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        json_t *v = json_loads(inputs[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        json_t *w;
        char *a, *b;
        size_t alen, blen;

        assert_non_null(v);
        a = json_canonical(v, true, &alen);
        assert_non_null(a);
        w = json_loadb(a, alen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        assert_non_null(w);
        b = json_canonical(w, true, &blen);
        assert_non_null(b);
        assert_int_equal(alen, blen);
        assert_memory_equal(a, b, alen);
        free(a);
        free(b);
        json_decref(v);
        json_decref(w);
    }
}

static void
test_embedded_nul_and_len(void **state)
{
    (void)state;
    json_t *v = json_object();
    char *s;
    size_t len = 0;

    json_object_set_new(v, "k", json_stringn("a\0b", 3));
    s = json_canonical(v, false, &len);
    assert_non_null(s);
    assert_string_equal(s, "{\"k\":\"a\\u0000b\"}");
    assert_int_equal(len, strlen(s));
    free(s);
    s = json_canonical(v, false, NULL); /* len_out optional */
    assert_non_null(s);
    free(s);
    assert_null(json_canonical(NULL, true, NULL));
    json_decref(v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_examples),  cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_key_order),      cmocka_unit_test(test_integers),
        cmocka_unit_test(test_floats_allowed), cmocka_unit_test(test_floats_refused),
        cmocka_unit_test(test_idempotent),     cmocka_unit_test(test_embedded_nul_and_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
