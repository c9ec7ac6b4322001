#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "room/id.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct valid_case {
    const char *in;
    bool valid;
};

/* SPEC: identifier_grammar "Server Name": server_name = hostname [ ":" port ],
 * port = 1*5DIGIT, hostname = IPv4address / "[" IPv6address "]" / dns-name,
 * dns-char = DIGIT / ALPHA / "-" / "." */
static void
test_server_name(void **state)
{
    (void)state;
    static const struct valid_case cases[] = {
        /* the spec's examples */
        {"matrix.org", true},
        {"matrix.org:8888", true},
        {"1.2.3.4", true},
        {"1.2.3.4:1234", true},
        {"[1234:5678::abcd]", true},
        {"[1234:5678::abcd]:5678", true},
        /* hostnames */
        {"localhost", true},
        {"a", true},
        {"MATRIX.ORG", true},
        {"my-server.example.com", true},
        {"xn--bcher-kva.example", true},
        {"0", true},
        /* ports at the edges */
        {"example.org:0", true},
        {"example.org:1", true},
        {"example.org:65535", true},
        {"example.org:08448", true},
        {"example.org:65536", false},
        {"example.org:99999", false},
        {"example.org:100000", false},
        {"example.org:123456", false},
        {"example.org:000001", false},
        {"example.org:", false},
        {"example.org:-1", false},
        {"example.org:+80", false},
        {"example.org: 80", false},
        {"example.org:80a", false},
        {"example.org:0x50", false},
        {"example.org:80:80", false},
        /* IPv6 */
        {"[::1]", true},
        {"[::]", true},
        {"[::1]:8448", true},
        {"[::1]:0", true},
        {"[::1]:65535", true},
        {"[::ffff:1.2.3.4]", true},
        {"[2001:db8:0:0:0:0:2:1]", true},
        {"[FE80::1]", true},
        {"[::1]:", false},
        {"[::1]:65536", false},
        {"[::1]:123456", false},
        {"[::1]:80x", false},
        {"[::1]x", false},
        {"[::1]]", false},
        {"[[::1]]", false},
        {"[::1", false},
        {"::1", false},
        {"[]", false},
        {"[1.2.3.4]", false},
        {"[example.org]", false},
        {"[fe80::1%eth0]", false},
        {"[12345::1]", false},
        {"[::1]::80", false},
        {"x[::1]", false},
        /* not hostnames */
        {"", false},
        {":", false},
        {":8448", false},
        {"ex_ample.org", false},
        {"_matrix.example.org", false},
        {"exa mple.org", false},
        {" example.org", false},
        {"example.org ", false},
        {"ex\xc3\xa4mple.org", false},
        {"example.org/", false},
        {"user@example.org", false},
        {"example.org\n", false},
        {"*.example.org", false},
    };
    int failures = 0;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (id_server_name_valid(cases[i].in) != cases[i].valid) {
            print_error("server name \"%s\": got %d, want %d\n", cases[i].in, !cases[i].valid,
                        cases[i].valid);
            failures++;
        }
    }
    assert_false(id_server_name_valid(NULL));
    assert_int_equal(failures, 0);
}

/* dns-name = 1*255dns-char */
static void
test_server_name_length(void **state)
{
    (void)state;
    char buf[300];

    memset(buf, 'a', 255);
    buf[255] = '\0';
    assert_true(id_server_name_valid(buf));
    snprintf(buf + 255, sizeof(buf) - 255, ":8448");
    assert_true(id_server_name_valid(buf));

    memset(buf, 'a', 256);
    buf[256] = '\0';
    assert_false(id_server_name_valid(buf));
    snprintf(buf + 256, sizeof(buf) - 256, ":8448");
    assert_false(id_server_name_valid(buf));

    /* An over-long bracketed literal must be rejected, not overflow anything. */
    buf[0] = '[';
    memset(buf + 1, ':', 290);
    buf[291] = ']';
    buf[292] = '\0';
    assert_false(id_server_name_valid(buf));
}

/* SPEC: identifier_grammar "User Identifiers": user_id_char = DIGIT / %x61-7A / "-" / "." / "="
 * / "_" / "/" */
static void
test_localpart(void **state)
{
    (void)state;
    static const struct valid_case cases[] = {
        {"alice", true},
        {"a", true},
        {"0", true},
        {"1234", true},
        {"a.b_c=d-e/f", true},
        {"._=-/", true},
        {"", false},
        {"Alice", false},
        {"aLice", false},
        {"al ice", false},
        {"al:ice", false},
        {"@alice", false},
        {"al@ice", false},
        {"a+b", false},
        {"a*", false},
        {"a#b", false},
        {"a!", false},
        {"a~", false},
        {"caf\xc3\xa9", false},
        {"a\tb", false},
    };
    int failures = 0;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (id_localpart_valid(cases[i].in) != cases[i].valid) {
            print_error("localpart \"%s\": got %d, want %d\n", cases[i].in, !cases[i].valid,
                        cases[i].valid);
            failures++;
        }
    }
    assert_false(id_localpart_valid(NULL));
    assert_int_equal(failures, 0);

    /* Exhaustively: exactly the grammar's characters are accepted. */
    for (int c = 1; c < 256; c++) {
        char lp[2] = {(char)c, '\0'};
        bool want = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                    c == '=' || c == '-' || c == '/';
        if (id_localpart_valid(lp) != want)
            fail_msg("localpart byte 0x%02x: got %d, want %d", c, !want, want);
    }
}

/* SPEC: identifier_grammar "Historical User IDs": extended_user_id_char = %x21-39 / %x3B-7E */
static void
test_localpart_historical(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        char lp[1] = {(char)c};
        bool want = (c >= 0x21 && c <= 0x39) || (c >= 0x3b && c <= 0x7e);
        if (id_localpart_valid_historical(lp, 1) != want)
            fail_msg("historical byte 0x%02x: got %d, want %d", c, !want, want);
    }

    static const struct valid_case cases[] = {
        {"Alice", true},        {"!\"#$%&'()*+,-./09;<=>?@AZ[\\]^_`az{|}~", true},
        {"al ice", false},      {"al:ice", false},
        {"caf\xc3\xa9", false}, {"a\x7f", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (id_localpart_valid_historical(cases[i].in, strlen(cases[i].in)) != cases[i].valid)
            fail_msg("historical \"%s\": got %d, want %d", cases[i].in, !cases[i].valid,
                     cases[i].valid);
    }
    assert_false(id_localpart_valid_historical("", 0));
    assert_false(id_localpart_valid_historical("abc", 0));
    /* Only len bytes count. */
    assert_true(id_localpart_valid_historical("ab:cd", 2));
    assert_false(id_localpart_valid_historical("ab:cd", 3));
    assert_false(id_localpart_valid_historical("a\0b", 3));
}

static void
test_user_id(void **state)
{
    (void)state;
    static const struct valid_case cases[] = {
        {"@alice:example.org", true},
        {"@a:b", true},
        {"@alice:example.org:8448", true},
        {"@alice:1.2.3.4", true},
        {"@alice:[::1]", true},
        {"@alice:[::1]:8448", true},
        {"@Alice:example.org", true},  /* historical */
        {"@!\"#$~:example.org", true}, /* historical */
        {"@a.b_c=d-e/f:example.org", true},
        {"", false},
        {"@", false},
        {"@:example.org", false},
        {"alice:example.org", false},
        {"#alice:example.org", false},
        {"!alice:example.org", false},
        {"@alice", false},
        {"@alice:", false},
        {"@alice:ex_ample.org", false},
        {"@alice:example.org:", false},
        {"@alice:example.org:65536", false},
        {"@alice:[::1]:", false},
        {"@alice:[::1", false},
        {"@al ice:example.org", false},
        {"@caf\xc3\xa9:example.org", false},
        {"@alice:example.org/x", false},
        {" @alice:example.org", false},
        {"@@alice:example.org", true}, /* '@' is a historical localpart character */
    };
    int failures = 0;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (id_user_id_valid(cases[i].in) != cases[i].valid) {
            print_error("user id \"%s\": got %d, want %d\n", cases[i].in, !cases[i].valid,
                        cases[i].valid);
            failures++;
        }
    }
    assert_false(id_user_id_valid(NULL));
    assert_int_equal(failures, 0);
}

/* Builds "@" + localpart of lp_len 'a's + ":" + server. */
static char *
make_user_id(size_t lp_len, const char *server)
{
    size_t n = 1 + lp_len + 1 + strlen(server);
    char *s = malloc(n + 1);

    assert_non_null(s);
    s[0] = '@';
    memset(s + 1, 'a', lp_len);
    s[1 + lp_len] = ':';
    memcpy(s + 2 + lp_len, server, strlen(server) + 1);
    assert_int_equal(strlen(s), n);
    return s;
}

/* SPEC: identifier_grammar "The length of a user ID, including the @ sigil and the domain, MUST
 * NOT exceed 255 characters." */
static void
test_user_id_length(void **state)
{
    (void)state;
    const char *server = "example.org"; /* "@" + lp + ":" + 11 */
    char *s;

    s = make_user_id(255 - 13, server);
    assert_int_equal(strlen(s), 255);
    assert_true(id_user_id_valid(s));
    free(s);

    s = make_user_id(256 - 13, server);
    assert_int_equal(strlen(s), 256);
    assert_false(id_user_id_valid(s));
    free(s);

    s = make_user_id(1000, server);
    assert_false(id_user_id_valid(s));
    free(s);

    /* The limit counts the domain too: a short localpart with a long server name. */
    char host[256];
    memset(host, 'h', 253);
    host[253] = '\0';
    s = make_user_id(1, host); /* 1 + 1 + 1 + 253 = 256 */
    assert_int_equal(strlen(s), 256);
    assert_true(id_server_name_valid(host));
    assert_false(id_user_id_valid(s));
    free(s);
    host[252] = '\0';
    s = make_user_id(1, host);
    assert_int_equal(strlen(s), 255);
    assert_true(id_user_id_valid(s));
    free(s);
}

static void
test_user_id_split(void **state)
{
    (void)state;
    static const struct {
        const char *uid;
        bool ok;
        const char *lp; /* expected localpart */
        const char *server;
    } cases[] = {
        {"@alice:example.org", true, "alice", "example.org"},
        {"@alice:example.org:8448", true, "alice", "example.org:8448"},
        {"@a:[::1]:8448", true, "a", "[::1]:8448"},
        {"@:x", true, "", "x"}, /* splitting does not validate */
        {"@a:", true, "a", ""},
        {"alice:example.org", false, NULL, NULL},
        {"@alice", false, NULL, NULL},
        {"", false, NULL, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *lp = NULL, *server = NULL;
        size_t lp_len = 99;
        bool ok = id_user_id_split(cases[i].uid, &lp, &lp_len, &server);
        if (ok != cases[i].ok)
            fail_msg("split \"%s\": got %d, want %d", cases[i].uid, ok, cases[i].ok);
        if (!ok)
            continue;
        assert_ptr_equal(lp, cases[i].uid + 1);
        assert_int_equal(lp_len, strlen(cases[i].lp));
        assert_memory_equal(lp, cases[i].lp, lp_len);
        assert_string_equal(server, cases[i].server);
        assert_true(server >= cases[i].uid && server <= cases[i].uid + strlen(cases[i].uid));
    }

    const char *lp, *server;
    size_t lp_len;
    assert_false(id_user_id_split(NULL, &lp, &lp_len, &server));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_name),   cmocka_unit_test(test_server_name_length),
        cmocka_unit_test(test_localpart),     cmocka_unit_test(test_localpart_historical),
        cmocka_unit_test(test_user_id),       cmocka_unit_test(test_user_id_length),
        cmocka_unit_test(test_user_id_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
