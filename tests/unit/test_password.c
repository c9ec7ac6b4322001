/* Password hashing (src/core/password.c): argon2id strings that verify, and at most one hash
 * per core at once, since each holds 64 MiB while it runs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/password.h"

static void
test_hash_verifies(void **state)
{
    char *h = password_hash("correct horse");

    (void)state;
    assert_non_null(h);
    assert_memory_equal(h, "$argon2id$", 10);
    assert_true(password_verify(h, "correct horse"));
    assert_false(password_verify(h, "correct horse "));
    assert_false(password_verify(h, ""));
    assert_false(password_verify(NULL, "correct horse"));
    assert_false(password_verify(h, NULL));
    assert_false(password_verify("not a hash", "correct horse"));
    free(h);
}

static void *
hash_and_check(void *arg)
{
    char *h = password_hash(arg);
    bool ok = h && password_verify(h, arg);

    free(h);
    return ok ? arg : NULL;
}

/* Eight threads hash at once, as eight logins on the HTTP threads would. */
static void
test_parallel_bounded(void **state)
{
    static char pw[8][16];
    pthread_t t[8];

    (void)state;
    for (int i = 0; i < 8; i++) {
        snprintf(pw[i], sizeof(pw[i]), "pw-%d", i);
        assert_int_equal(pthread_create(&t[i], NULL, hash_and_check, pw[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        void *r = NULL;
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_ptr_equal(r, pw[i]);
    }
    assert_true(password_parallel_peak() >= 1);
    assert_true(password_parallel_peak() <= (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_verifies),
        cmocka_unit_test(test_parallel_bounded),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
