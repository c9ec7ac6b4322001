/* The search term language and its FTS5 rendering (store_search.c): user input must never
 * become FTS5 syntax, and must never make an expression FTS5 rejects. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_search.h"

static char *
render(const char *term, unsigned keys)
{
    struct search_terms t;
    char *q;

    st_search_parse(term, &t);
    q = st_search_fts5_query(&t, keys);
    st_search_terms_clear(&t);
    return q;
}

static void
test_rendering(void **state)
{
    static const struct {
        const char *term;
        const char *fts5; /* NULL: nothing can match */
    } cases[] = {
        {"martians", "{body name topic} : ((\"martians\"))"},
        /* All words must match (as Synapse). */
        {"martians and men", "{body name topic} : ((\"martians\" AND \"men\"))"},
        {"  martians \t\n men  ", "{body name topic} : ((\"martians\" AND \"men\"))"},
        {"\"martians and men\"", "{body name topic} : ((\"martians and men\"))"},
        {"\"unclosed phrase", "{body name topic} : ((\"unclosed phrase\"))"},
        {"a\"b c\"d", "{body name topic} : ((\"a\" AND \"b c\" AND \"d\"))"},
        {"mart*", "{body name topic} : ((\"mart\" *))"},
        {"mart**", "{body name topic} : ((\"mart\" *))"},
        {"cats OR dogs", "{body name topic} : ((\"cats\") OR (\"dogs\"))"},
        {"cats or dogs birds", "{body name topic} : ((\"cats\") OR (\"dogs\" AND \"birds\"))"},
        {"or cats or or dogs or", "{body name topic} : ((\"cats\") OR (\"dogs\"))"},
        {"cats -dogs", "{body name topic} : ((\"cats\" NOT (\"dogs\")))"},
        {"cats -dogs -\"big birds\"",
         "{body name topic} : ((\"cats\" NOT (\"dogs\" OR \"big birds\")))"},
        {"cats - \"big birds\"", "{body name topic} : ((\"cats\" NOT (\"big birds\")))"},
        /* A group with nothing to subtract from matches nothing. */
        {"-dogs", NULL},
        {"-dogs or cats", "{body name topic} : ((\"cats\"))"},
        /* Words hold separators: the tokenizer makes a phrase of them. */
        {"foo-bar", "{body name topic} : ((\"foo-bar\"))"},
        {"don't", "{body name topic} : ((\"don't\"))"},
        /* FTS5 syntax is only text inside a string. */
        {"NEAR(a b)", "{body name topic} : ((\"NEAR(a\" AND \"b)\"))"},
        {"body:secret", "{body name topic} : ((\"body:secret\"))"},
        {"{body} : x", "{body name topic} : ((\"{body}\" AND \"x\"))"},
        {"^start", "{body name topic} : ((\"^start\"))"},
        {"a\"\"b", "{body name topic} : ((\"a\" AND \"b\"))"},
        {"NOT x AND y", "{body name topic} : ((\"NOT\" AND \"x\" AND \"y\"))"},
        /* Nothing searchable. */
        {"", NULL},
        {"   ", NULL},
        {"\"\"", NULL},
        {"*", NULL},
        {"-", NULL},
        {"!!! ??? ...", NULL},
        {"\xF0\x9F\x91\x8D", NULL}, /* thumbs up */
        {"hello \xF0\x9F\x91\x8D", "{body name topic} : ((\"hello\"))"},
        {"\xC2\xAB\xE2\x80\x94\xC2\xBB", NULL}, /* << -- >> */
        {"and", NULL},
        {"or", NULL},
        /* Non-Latin words are words. */
        {"\xD0\xBF\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82",
         "{body name topic} : ((\"\xD0\xBF\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82\"))"},
        {"\xE6\x97\xA5\xE6\x9C\xAC*", "{body name topic} : ((\"\xE6\x97\xA5\xE6\x9C\xAC\" *))"},
        /* Unicode spaces separate words. */
        {"a\xE3\x80\x80"
         "b",
         "{body name topic} : ((\"a\" AND \"b\"))"},
        {"a\xC2\xA0"
         "b",
         "{body name topic} : ((\"a\" AND \"b\"))"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *q = render(cases[i].term, STORE_SEARCH_ALL_KEYS);
        if (!cases[i].fts5) {
            if (q)
                fail_msg("'%s' should match nothing, got %s", cases[i].term, q);
        } else if (!q || strcmp(q, cases[i].fts5) != 0) {
            fail_msg("'%s': expected %s, got %s", cases[i].term, cases[i].fts5, q ? q : "NULL");
        }
        free(q);
    }
}

static void
test_keys(void **state)
{
    char *q;
    (void)state;

    q = render("x", STORE_SEARCH_BODY);
    assert_string_equal(q, "{body} : ((\"x\"))");
    free(q);
    q = render("x", STORE_SEARCH_NAME | STORE_SEARCH_TOPIC);
    assert_string_equal(q, "{name topic} : ((\"x\"))");
    free(q);
    assert_null(render("x", 0));
}

/* Quotes can only reach the renderer inside a word when the parser lets them through; the
 * renderer doubles any it is given. */
static void
test_quote_doubling(void **state)
{
    struct search_item it = {(char *)"say \"hi\"", false, false};
    struct search_group g = {&it, 1};
    struct search_terms t = {&g, 1};
    char *q = st_search_fts5_query(&t, STORE_SEARCH_BODY);
    (void)state;

    assert_string_equal(q, "{body} : ((\"say \"\"hi\"\"\"))");
    free(q);
}

static void
test_parse_structure(void **state)
{
    struct search_terms t;
    (void)state;

    st_search_parse("alpha -beta* \"gamma delta\" OR epsilon", &t);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.groups[0].n, 3);
    assert_string_equal(t.groups[0].items[0].text, "alpha");
    assert_false(t.groups[0].items[0].negated);
    assert_string_equal(t.groups[0].items[1].text, "beta");
    assert_true(t.groups[0].items[1].negated);
    assert_true(t.groups[0].items[1].prefix);
    assert_string_equal(t.groups[0].items[2].text, "gamma delta");
    assert_false(t.groups[0].items[2].prefix);
    assert_int_equal(t.groups[1].n, 1);
    assert_string_equal(t.groups[1].items[0].text, "epsilon");
    st_search_terms_clear(&t);
    assert_int_equal(t.n, 0);
}

static void
test_token_chars(void **state)
{
    static const struct {
        uint32_t cp;
        bool token;
    } cases[] = {
        {'a', true},      {'Z', true},  {'0', true},  {'_', false}, {'-', false},
        {' ', false},     {'"', false}, {'*', false}, {0xE9, true}, /* e acute */
        {0xB2, true},                                               /* superscript two */
        {0xB5, true},                                               /* micro */
        {0xAB, false},                                              /* guillemet */
        {0xD7, false},                                              /* multiplication sign */
        {0x0416, true},                                             /* Cyrillic Zhe */
        {0x03AD, true},                                             /* Greek epsilon with tonos */
        {0x05D0, true},                                             /* Hebrew alef */
        {0x0627, true},                                             /* Arabic alef */
        {0x65E5, true},                                             /* CJK */
        {0x2014, false},                                            /* em dash */
        {0x200D, false},                                            /* zero width joiner */
        {0x3001, false},                                            /* ideographic comma */
        {0x1F44D, false},                                           /* thumbs up */
        {0x1F600, false},                                           /* grinning face */
        {0xFE0F, false},                                            /* variation selector */
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (st_search_token_char(cases[i].cp) != cases[i].token)
            fail_msg("U+%04X should be %s", (unsigned)cases[i].cp,
                     cases[i].token ? "a token character" : "a separator");
}

/* Invalid UTF-8 must not be read past the end of the string. */
static void
test_invalid_utf8(void **state)
{
    char *q;
    (void)state;

    q = render("ok \xC3", STORE_SEARCH_BODY);
    assert_non_null(q);
    assert_non_null(strstr(q, "\"ok\""));
    free(q);
    q = render("\xE2\x82", STORE_SEARCH_BODY);
    free(q);
    q = render("\xFF\xFE x", STORE_SEARCH_BODY);
    assert_non_null(q);
    free(q);
}

/* Whatever the user types, FTS5 accepts the expression (a syntax error would be a 500):
 * random strings over the characters FTS5 gives meaning to, and words it treats as operators,
 * run against a table made as migration 11 makes it. */
static void
test_fts5_accepts_everything(void **state)
{
    static const char *const pieces[] = {
        "\"",       "*",   "-",        "(",
        ")",        "{",   "}",        ":",
        "^",        "+",   " ",        "\t",
        "AND",      "OR",  "NOT",      "NEAR",
        "or",       "and", "body",     "name",
        "a",        "xyz", ",",        ".",
        "'",        "\\",  "\xC3\xA9", "\xF0\x9F\x98\x80",
        "\xD0\xB4", "0",   "NEAR(",    "\xE2\x80\x94",
        "\xC3",
    };
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char term[256];
    (void)state;

    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE VIRTUAL TABLE event_search USING fts5(body, name, topic, "
                                  "tokenize = 'unicode61 remove_diacritics 2');"
                                  "INSERT INTO event_search (rowid, body) VALUES (1, 'a xyz NEAR'),"
                                  " (2, 'body and name');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM event_search WHERE "
                                        "event_search MATCH ?",
                                        -1, &st, NULL),
                     SQLITE_OK);
    srand(4242);
    for (int round = 0; round < 20000; round++) {
        size_t len = 0;
        int n = 1 + rand() % 12;
        for (int i = 0; i < n; i++) {
            const char *p = pieces[rand() % (sizeof(pieces) / sizeof(pieces[0]))];
            if (len + strlen(p) + 1 >= sizeof(term))
                break;
            memcpy(term + len, p, strlen(p));
            len += strlen(p);
        }
        term[len] = '\0';
        for (unsigned keys = 1; keys <= STORE_SEARCH_ALL_KEYS; keys += 3) {
            char *q = render(term, keys);
            if (!q)
                continue;
            sqlite3_reset(st);
            sqlite3_bind_text(st, 1, q, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) != SQLITE_ROW)
                fail_msg("term '%s' made '%s', which FTS5 refuses: %s", term, q,
                         sqlite3_errmsg(db));
            free(q);
        }
    }
    /* Words that FTS5 reads as operators are plain words here. */
    {
        char *q = render("NEAR", STORE_SEARCH_BODY);
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, q, -1, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 1);
        free(q);
        q = render("body AND", STORE_SEARCH_BODY);
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, q, -1, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 1);
        free(q);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rendering),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_quote_doubling),
        cmocka_unit_test(test_parse_structure),
        cmocka_unit_test(test_token_chars),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_fts5_accepts_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
