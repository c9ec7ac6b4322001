#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "sync/token.h"

static void
test_round_trip(void **state)
{
    struct sync_token t = {{12, 3, 4, 5, 6, 7, 8}}, u;
    char buf[160];
    (void)state;

    sync_token_format(&t, buf, sizeof(buf));
    assert_string_equal(buf, "s12_3_4_5_6_7_8");
    assert_int_equal(sync_token_parse(buf, &u), 0);
    assert_memory_equal(&t, &u, sizeof(t));
}

static void
test_short_tokens(void **state)
{
    struct sync_token u;
    (void)state;

    /* A /messages token is a sync token with only the events position. */
    assert_int_equal(sync_token_parse("s42", &u), 0);
    assert_int_equal(u.pos[STREAM_EVENTS], 42);
    assert_int_equal(u.pos[STREAM_TYPING], 0);
    /* Tokens of a later version with more streams still parse. */
    assert_int_equal(sync_token_parse("s1_2_3_4_5_6_7_8_9", &u), 0);
    assert_int_equal(u.pos[STREAM_DEVICE_LISTS], 7);
}

static void
test_garbage(void **state)
{
    static const char *const bad[] = {"",
                                      "s",
                                      "x12",
                                      "s-1",
                                      "s1__2",
                                      "s1_",
                                      "s1_a",
                                      "12",
                                      "s 1",
                                      "s1 ",
                                      "s+1",
                                      "s1.5",
                                      "s99999999999999999999999",
                                      "{}",
                                      "s1_-2"};
    struct sync_token u;
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sync_token_parse(bad[i], &u) == 0)
            fail_msg("accepted '%s'", bad[i]);
    }
    assert_int_not_equal(sync_token_parse(NULL, &u), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_short_tokens),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
