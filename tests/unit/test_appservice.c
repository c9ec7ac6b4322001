#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appservice/appservice.h"

#define SN "example.org"

#define IRC                                                                                        \
    "id: irc\n"                                                                                    \
    "url: \"http://127.0.0.1:9000/\"\n"                                                            \
    "as_token: as-irc\n"                                                                           \
    "hs_token: hs-irc\n"                                                                           \
    "sender_localpart: _irc_bot\n"                                                                 \
    "namespaces:\n"                                                                                \
    "  users:\n"                                                                                   \
    "    - exclusive: true\n"                                                                      \
    "      regex: \"@_irc_.*\"\n"                                                                  \
    "    - exclusive: no\n"                                                                        \
    "      regex: '(?i)@shared\\d+:example\\.org$'\n"                                              \
    "  aliases:\n"                                                                                 \
    "    - {exclusive: true, regex: \"#_irc_.*?\"}\n"                                              \
    "  rooms:\n"                                                                                   \
    "    - exclusive: false\n"                                                                     \
    "      regex: \"!bridged:example.org\"\n"                                                      \
    "protocols: [irc]\n"

static struct appservices *
load(const char *yaml)
{
    struct appservices *as = appservices_new(SN);
    char err[256] = "";

    if (appservices_add_yaml(as, yaml, strlen(yaml), "test.yaml", err, sizeof(err)) != 0)
        fail_msg("unexpected error for\n%s\n-> %s", yaml, err);
    return as;
}

static void
test_fields(void **state)
{
    struct appservices *as = load(IRC);
    const struct appservice *a = appservices_at(as, 0);
    (void)state;

    assert_int_equal(appservices_count(as), 1);
    assert_string_equal(appservice_id(a), "irc");
    assert_string_equal(appservice_sender(a), "@_irc_bot:example.org");
    assert_string_equal(appservice_url(a), "http://127.0.0.1:9000"); /* no trailing slash */
    assert_false(appservice_rate_limited(a));
    assert_int_equal(appservice_n_protocols(a), 1);
    assert_string_equal(appservice_protocol(a, 0), "irc");
    assert_true(appservice_has_protocol(a, "irc"));
    assert_false(appservice_has_protocol(a, "xmpp"));
    assert_ptr_equal(appservices_by_token(as, "as-irc"), a);
    assert_null(appservices_by_token(as, "hs-irc"));
    assert_null(appservices_by_token(as, "as-irc "));
    assert_null(appservices_by_token(as, NULL));
    assert_ptr_equal(appservices_by_id(as, "irc"), a);
    assert_null(appservices_by_id(as, "IRC"));
    appservices_free(as);
}

static void
test_null_url_and_rate_limited(void **state)
{
    struct appservices *as = load("id: quiet\nurl: ~\nas_token: a\nhs_token: h\n"
                                  "sender_localpart: quiet\nnamespaces: {}\nrate_limited: true\n"
                                  "protocols: null\nreceive_ephemeral: true\n");
    const struct appservice *a = appservices_at(as, 0);
    (void)state;

    assert_null(appservice_url(a));
    assert_true(appservice_rate_limited(a));
    assert_int_equal(appservice_n_protocols(a), 0);
    /* The sender is the service's user even without a users namespace. */
    assert_true(appservice_is_user(a, "@quiet:example.org"));
    assert_false(appservice_is_user(a, "@quiet2:example.org"));
    appservices_free(as);
}

/* Python's re.match: anchored at the start only; Python syntax. */
static void
test_namespaces(void **state)
{
    static const struct {
        enum as_ns kind;
        const char *s;
        bool any, exclusive;
    } cases[] = {
        {AS_NS_USERS, "@_irc_bob:example.org", true, true},
        {AS_NS_USERS, "@_irc_:example.org", true, true},
        {AS_NS_USERS, "x@_irc_bob:example.org", false, false},
        {AS_NS_USERS, "@_IRC_bob:example.org", false, false},
        {AS_NS_USERS, "@shared12:example.org", true, false},
        {AS_NS_USERS, "@SHARED12:example.org", true, false}, /* (?i) */
        {AS_NS_USERS, "@shared12:example.org.evil", false, false},
        {AS_NS_USERS, "@sharedx:example.org", false, false}, /* \d */
        {AS_NS_USERS, "@bob:example.org", false, false},
        {AS_NS_ALIASES, "#_irc_chan:example.org", true, true},
        {AS_NS_ALIASES, "#_ir:example.org", false, false},
        {AS_NS_ROOMS, "!bridged:example.org", true, false},
        {AS_NS_ROOMS, "!bridgedX:example.org", false, false},
        {AS_NS_ROOMS, "!other:example.org", false, false},
        {AS_NS_USERS, "@_irc_\xff:example.org", false, false}, /* not UTF-8: no match */
    };
    struct appservices *as = load(IRC);
    const struct appservice *a = appservices_at(as, 0);
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (appservice_matches(a, cases[i].kind, cases[i].s, false) != cases[i].any ||
            appservice_matches(a, cases[i].kind, cases[i].s, true) != cases[i].exclusive)
            fail_msg("case %zu: %s", i, cases[i].s);
    }
    assert_false(appservice_matches(a, AS_NS_USERS, NULL, false));
    assert_true(appservice_is_user(a, "@_irc_bot:example.org"));
    assert_true(appservice_is_user(a, "@shared1:example.org"));
    assert_false(appservice_is_user(a, NULL));
    appservices_free(as);
}

static void
test_exclusive_lookup(void **state)
{
    struct appservices *as = load(IRC);
    char err[256];
    const char *other = "id: other\nurl: null\nas_token: as-other\nhs_token: h\n"
                        "sender_localpart: other\nnamespaces:\n  users:\n"
                        "    - {exclusive: true, regex: '@_other_.*'}\n"
                        "    - {exclusive: false, regex: '@_irc_.*'}\n";
    const struct appservice *irc, *oth;
    (void)state;

    assert_int_equal(appservices_add_yaml(as, other, strlen(other), "o.yaml", err, sizeof(err)), 0);
    irc = appservices_by_id(as, "irc");
    oth = appservices_by_id(as, "other");
    assert_ptr_equal(appservices_exclusive(as, AS_NS_USERS, "@_irc_x:example.org", NULL), irc);
    assert_null(appservices_exclusive(as, AS_NS_USERS, "@_irc_x:example.org", irc));
    assert_ptr_equal(appservices_exclusive(as, AS_NS_USERS, "@_other_x:example.org", irc), oth);
    assert_null(appservices_exclusive(as, AS_NS_USERS, "@shared1:example.org", NULL));
    assert_null(appservices_exclusive(as, AS_NS_ROOMS, "!bridged:example.org", NULL));
    assert_null(appservices_exclusive(NULL, AS_NS_USERS, "@_irc_x:example.org", NULL));
    appservices_free(as);
}

static void
test_errors(void **state)
{
    static const struct {
        const char *yaml, *needle;
    } cases[] = {
        {"", "test.yaml: empty file"},
        {"[1, 2]", "must be a YAML mapping"},
        {"id: [unclosed\n", "YAML syntax error"},
        {"id: a\nid: b\n", "id: duplicate key"},
        {"url: null\nas_token: a\nhs_token: h\nsender_localpart: s\nnamespaces: {}\n",
         "id: required"},
        {"id: ''\n", "id: must be a non-empty string"},
        {"id: 12\n", "id: must be a non-empty string"}, /* PyYAML: an int */
        {"id: a\nas_token: a\nhs_token: h\nsender_localpart: s\nnamespaces: {}\n", "url: required"},
        {"id: a\nurl: ftp://x\nas_token: a\nhs_token: h\nsender_localpart: s\nnamespaces: {}\n",
         "url: must be an http"},
        {"id: a\nurl: http://x?y=1\nas_token: a\nhs_token: h\nsender_localpart: s\n"
         "namespaces: {}\n",
         "url: must be an http"},
        {"id: a\nurl: null\nhs_token: h\nsender_localpart: s\nnamespaces: {}\n",
         "as_token: required"},
        {"id: a\nurl: null\nas_token: a\nhs_token: [h]\nsender_localpart: s\nnamespaces: {}\n",
         "hs_token: must be a non-empty string"},
        {"id: a\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: 'Bad Bot'\n"
         "namespaces: {}\n",
         "sender_localpart: 'Bad Bot' is not a valid localpart"},
        {"id: a\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: s\n",
         "namespaces: required"},
        {"id: a\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: s\nnamespaces: [x]\n",
         "namespaces: must be a mapping"},
        {"id: a\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: s\n"
         "namespaces: {users: {regex: x}}\n",
         "namespaces.users: must be a list"},
        {"id: a\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: s\n"
         "namespaces: {users: [x]}\n",
         "namespaces.users[0]: must be a mapping"},
        {"id: a\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: s\n"
         "namespaces: {users: [{regex: '@a'}]}\n",
         "namespaces.users[0]: exclusive is required"},
        {"id: a\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: s\n"
         "namespaces: {users: [{regex: '@a', exclusive: 'true'}]}\n",
         "exclusive is required and must be true or false"},
        {"id: a\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: s\n"
         "namespaces: {aliases: [{exclusive: true}]}\n",
         "namespaces.aliases[0]: regex is required"},
        {"id: a\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: s\n"
         "namespaces: {rooms: [{exclusive: true, regex: '!(x'}]}\n",
         "namespaces.rooms[0].regex: invalid regex at offset 3"},
        {"id: a\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: s\nnamespaces: {}\n"
         "rate_limited: maybe\n",
         "rate_limited: must be true or false"},
        {"id: a\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: s\nnamespaces: {}\n"
         "protocols: irc\n",
         "protocols: must be a list"},
        {"id: a\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: s\nnamespaces: {}\n"
         "protocols: [irc, '']\n",
         "protocols[1]: must be a non-empty string"},
        {"a: &x [*x]\n", ""}, /* an alias to itself: refused, not a loop */
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct appservices *as = appservices_new(SN);
        char err[256] = "";
        int rc = appservices_add_yaml(as, cases[i].yaml, strlen(cases[i].yaml), "test.yaml", err,
                                      sizeof(err));
        if (rc == 0 || !strstr(err, cases[i].needle) || strncmp(err, "test.yaml: ", 11) != 0)
            fail_msg("case %zu: rc %d, error '%s', wanted '%s'", i, rc, err, cases[i].needle);
        assert_int_equal(appservices_count(as), 0);
        appservices_free(as);
    }
}

static void
test_unique_id_and_token(void **state)
{
    struct appservices *as = load(IRC);
    char err[256];
    const char *same_id = "id: irc\nurl: null\nas_token: other\nhs_token: h\n"
                          "sender_localpart: s\nnamespaces: {}\n";
    const char *same_token = "id: two\nurl: null\nas_token: as-irc\nhs_token: h\n"
                             "sender_localpart: s\nnamespaces: {}\n";
    (void)state;

    assert_int_equal(appservices_add_yaml(as, same_id, strlen(same_id), "b.yaml", err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "b.yaml: id: 'irc' is also the id"));
    assert_int_equal(
        appservices_add_yaml(as, same_token, strlen(same_token), "c.yaml", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "c.yaml: as_token: is also the as_token of application service"));
    assert_int_equal(appservices_count(as), 1);
    appservices_free(as);
}

static void
test_load_files(void **state)
{
    char dir[] = "/tmp/test_appservice_XXXXXX", path[256], missing[256];
    const char *paths[2];
    struct appservices *as = NULL;
    char err[512];
    FILE *f;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/irc.yaml", dir);
    snprintf(missing, sizeof(missing), "%s/missing.yaml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(IRC, f);
    fclose(f);
    paths[0] = path;
    assert_int_equal(appservices_load(paths, 1, SN, &as, err, sizeof(err)), 0);
    assert_int_equal(appservices_count(as), 1);
    appservices_free(as);
    paths[1] = missing;
    assert_int_equal(appservices_load(paths, 2, SN, &as, err, sizeof(err)), -1);
    assert_null(as);
    assert_non_null(strstr(err, "missing.yaml: cannot open"));
    /* No files: an empty set. */
    assert_int_equal(appservices_load(NULL, 0, SN, &as, err, sizeof(err)), 0);
    assert_int_equal(appservices_count(as), 0);
    assert_null(appservices_by_token(as, "as-irc"));
    appservices_free(as);
    remove(path);
    remove(dir);
}

static void
test_interest(void **state)
{
    static const struct {
        const char *event;
        const char *aliases; /* JSON array */
        const char *members; /* JSON object */
        bool want;
    } cases[] = {
        /* sent by one of its users, or its sender */
        {"{\"type\":\"m.room.message\",\"sender\":\"@_irc_a:example.org\",\"room_id\":\"!r:x\"}",
         "[]", "{}", true},
        {"{\"type\":\"m.room.message\",\"sender\":\"@_irc_bot:example.org\",\"room_id\":\"!r:x\"}",
         "[]", "{}", true},
        /* nothing to do with it */
        {"{\"type\":\"m.room.message\",\"sender\":\"@bob:example.org\",\"room_id\":\"!r:x\"}", "[]",
         "{\"@bob:example.org\":true}", false},
        /* its user is the membership's target */
        {"{\"type\":\"m.room.member\",\"state_key\":\"@_irc_a:example.org\","
         "\"sender\":\"@bob:example.org\",\"room_id\":\"!r:x\"}",
         "[]", "{}", true},
        /* a state event keyed by its user is not a membership */
        {"{\"type\":\"m.room.other\",\"state_key\":\"@_irc_a:example.org\","
         "\"sender\":\"@bob:example.org\",\"room_id\":\"!r:x\"}",
         "[]", "{}", false},
        /* a joined member (non-exclusive namespaces count) */
        {"{\"type\":\"m.room.message\",\"sender\":\"@bob:example.org\",\"room_id\":\"!r:x\"}", "[]",
         "{\"@shared7:example.org\":true}", true},
        /* its room */
        {"{\"type\":\"m.room.message\",\"sender\":\"@bob:example.org\","
         "\"room_id\":\"!bridged:example.org\"}",
         "[]", "{}", true},
        /* a room with one of its aliases */
        {"{\"type\":\"m.room.message\",\"sender\":\"@bob:example.org\",\"room_id\":\"!r:x\"}",
         "[\"#other:example.org\", \"#_irc_c:example.org\"]", "{}", true},
        {"{\"type\":\"m.room.message\",\"sender\":\"@bob:example.org\",\"room_id\":\"!r:x\"}",
         "[\"#other:example.org\"]", "{}", false},
        /* malformed events interest nobody */
        {"{\"type\":5,\"sender\":[],\"room_id\":null}", "[]", "{}", false},
    };
    struct appservices *as = load(IRC);
    const struct appservice *a = appservices_at(as, 0);
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *ev = json_loads(cases[i].event, 0, NULL);
        json_t *al = json_loads(cases[i].aliases, 0, NULL);
        json_t *mem = json_loads(cases[i].members, 0, NULL);
        assert_non_null(ev);
        if (appservice_interested(a, ev, al, mem) != cases[i].want)
            fail_msg("case %zu: %s", i, cases[i].event);
        json_decref(ev);
        json_decref(al);
        json_decref(mem);
    }
    appservices_free(as);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),     cmocka_unit_test(test_null_url_and_rate_limited),
        cmocka_unit_test(test_namespaces), cmocka_unit_test(test_exclusive_lookup),
        cmocka_unit_test(test_errors),     cmocka_unit_test(test_unique_id_and_token),
        cmocka_unit_test(test_load_files), cmocka_unit_test(test_interest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
