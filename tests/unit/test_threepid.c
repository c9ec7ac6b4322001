/* Pure helpers of issue 10: email canonical form, client_secret grammar, allowed_local_3pids,
 * the mail as written on the wire, and Synapse's SSO mapping (templates, localparts). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "api/oidc.h"
#include "api/threepid.h"
#include "core/config.h"
#include "core/mailer.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void
test_canonical_email(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"alice@example.org", "alice@example.org"},
        {"  Alice@Example.ORG\t", "alice@example.org"},
        {"a.b+c@sub.example.org", "a.b+c@sub.example.org"},
        {"", NULL},
        {"   ", NULL},
        {"alice", NULL},
        {"@example.org", NULL},
        {"alice@", NULL},
        {"a@b@c", NULL},
        {"a b@example.org", NULL},
        {"a\n@example.org", NULL},
        {"<a@example.org>", NULL},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        char *got = threepid_canonical_email(cases[i].in);
        if (!cases[i].out)
            assert_null(got);
        else
            assert_string_equal(got, cases[i].out);
        free(got);
    }
    /* 254 bytes is the longest address. */
    char long_addr[300];
    memset(long_addr, 'a', sizeof(long_addr));
    memcpy(long_addr + 242, "@example.org", 13); /* 254 bytes */
    char *got = threepid_canonical_email(long_addr);
    assert_non_null(got);
    free(got);
    memcpy(long_addr + 243, "@example.org", 13); /* 255 */
    assert_null(threepid_canonical_email(long_addr));
}

static void
test_client_secret(void **state)
{
    char max[256];
    (void)state;
    memset(max, 'x', 255);
    max[255] = '\0';
    assert_true(threepid_client_secret_ok("monkeys_are_GREAT"));
    assert_true(threepid_client_secret_ok("a.b=c_d-e"));
    assert_true(threepid_client_secret_ok(max));
    assert_false(threepid_client_secret_ok(""));
    assert_false(threepid_client_secret_ok("has space"));
    assert_false(threepid_client_secret_ok("d0n'tT3ll"));
    max[254] = '!';
    assert_false(threepid_client_secret_ok(max));
}

static void
test_allowed(void **state)
{
    struct config_3pid_pattern pats[] = {{"email", ".*@example\\.org"},
                                         {"email", "boss@corp\\.example"}};
    struct config cfg = {0};
    (void)state;

    assert_true(threepid_allowed(&cfg, "email", "anyone@anywhere.example"));
    cfg.allowed_local_3pids = pats;
    cfg.n_allowed_local_3pids = N(pats);
    assert_true(threepid_allowed(&cfg, "email", "a@example.org"));
    assert_true(threepid_allowed(&cfg, "email", "boss@corp.example"));
    assert_false(threepid_allowed(&cfg, "email", "a@example.org.evil"));
    assert_false(threepid_allowed(&cfg, "email", "a@exampleXorg"));
    assert_false(threepid_allowed(&cfg, "email", "worker@corp.example"));
    assert_false(threepid_allowed(&cfg, "msisdn", "447700900001"));
}

static void
test_mail_format(void **state)
{
    char *addr = NULL;
    char *m = mailer_format("Hearth Hömeserver <noreply@hearth.test>", "bob@example.org\r\nBcc: x",
                            "[hearth] Validate\nyour email", "Line 1\nLine 2\r\n.dot line\n",
                            1700000000000LL, &addr);
    (void)state;
    assert_string_equal(addr, "noreply@hearth.test");
    /* Non-ASCII display names are encoded words; no header can be injected. */
    assert_non_null(strstr(m, "From: =?UTF-8?B?"));
    assert_non_null(strstr(m, "<noreply@hearth.test>\r\n"));
    assert_non_null(strstr(m, "To: bob@example.org  Bcc: x\r\n"));
    assert_null(strstr(m, "\r\nBcc:"));
    assert_non_null(strstr(m, "Subject: [hearth] Validate your email\r\n"));
    assert_non_null(strstr(m, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
    assert_non_null(strstr(m, "Content-Type: text/plain; charset=UTF-8\r\n"));
    /* Bare LF becomes CRLF; existing CRLF stays single. */
    assert_non_null(strstr(m, "\r\n\r\nLine 1\r\nLine 2\r\n.dot line\r\n"));
    assert_null(strstr(m, "\r\r\n"));
    free(m);
    free(addr);
}

static void
test_render_template(void **state)
{
    json_t *claims = json_pack("{s:s, s:s, s:i, s:[]}", "preferred_username", "alice", "name",
                               "Alice Liddell", "uid", 42, "groups");
    static const struct {
        const char *tmpl, *out;
    } cases[] = {
        {"{{ user.preferred_username }}", "alice"},
        {"{{user.name}}", "Alice Liddell"},
        {"  x-{{ user.uid }}-y  ", "x-42-y"},
        {"{{ user.missing }}", ""},
        {"{{ user.groups }}", ""},
        {"{{ other.name }}", ""},
        {"plain", "plain"},
        {"{{ user.name", "{{ user.name"},
        {"{{ user.preferred_username }}@{{ user.uid }}", "alice@42"},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        char *got = oidc_render_template(cases[i].tmpl, claims);
        assert_string_equal(got, cases[i].out);
        free(got);
    }
    json_decref(claims);
}

static void
test_localpart_from(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"alice", "alice"}, {"Alice", "alice"},  {"a.b_c-d/e", "a.b_c-d/e"},
        {"_x", "=5fx"},     {"a_b", "a_b"},      {"a=b", "a=3db"},
        {"a b", "a=20b"},   {"zoë", "zo=c3=ab"}, {"", ""},
    };
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        char *got = oidc_localpart_from(cases[i].in);
        assert_string_equal(got, cases[i].out);
        free(got);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_email), cmocka_unit_test(test_client_secret),
        cmocka_unit_test(test_allowed),         cmocka_unit_test(test_mail_format),
        cmocka_unit_test(test_render_template), cmocka_unit_test(test_localpart_from),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
