#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "core/util.h"
#include "sync/notifier.h"

static void
count_wake(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void
test_notify_wakes_only_that_user(void **state)
{
    struct notifier *n = notifier_new();
    atomic_int woke_a = 0, woke_b = 0;
    struct waiter a = {.user_id = "@a:x",
                       .deadline_ms = util_now_ms() + 60000,
                       .wake = count_wake,
                       .arg = &woke_a};
    struct waiter b = {.user_id = "@b:x",
                       .deadline_ms = util_now_ms() + 60000,
                       .wake = count_wake,
                       .arg = &woke_b};
    const char *users[] = {"@a:x"};
    (void)state;

    notifier_wait(n, &a, notifier_seq(n));
    notifier_wait(n, &b, notifier_seq(n));
    notifier_notify(n, users, 1);
    assert_int_equal(atomic_load(&woke_a), 1);
    assert_int_equal(atomic_load(&woke_b), 0);
    /* Fired waiters are gone: a second notification does not call them again. */
    notifier_notify(n, users, 1);
    assert_int_equal(atomic_load(&woke_a), 1);
    assert_false(notifier_cancel(n, &b));
    notifier_free(n);
    assert_int_equal(atomic_load(&woke_b), 0);
}

static void
test_missed_notification_fires_at_once(void **state)
{
    struct notifier *n = notifier_new();
    atomic_int woke = 0;
    struct waiter w = {
        .user_id = "@a:x", .deadline_ms = util_now_ms() + 60000, .wake = count_wake, .arg = &woke};
    const char *users[] = {"@other:x"};
    uint64_t seen = notifier_seq(n);
    (void)state;

    /* Something happened between looking for news and waiting: no sleeping through it. */
    notifier_notify(n, users, 1);
    notifier_wait(n, &w, seen);
    assert_int_equal(atomic_load(&woke), 1);
    assert_true(notifier_cancel(n, &w));
    notifier_free(n);
}

static void
test_timeout_fires(void **state)
{
    struct notifier *n = notifier_new();
    atomic_int woke = 0;
    struct waiter w = {
        .user_id = "@a:x", .deadline_ms = util_now_ms() + 50, .wake = count_wake, .arg = &woke};
    (void)state;

    notifier_wait(n, &w, notifier_seq(n));
    for (int i = 0; i < 200 && atomic_load(&woke) == 0; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&woke), 1);
    notifier_free(n);
}

static void
test_shutdown_wakes_everyone_and_later_waits(void **state)
{
    struct notifier *n = notifier_new();
    atomic_int woke = 0;
    struct waiter w1 = {
        .user_id = "@a:x", .deadline_ms = util_now_ms() + 60000, .wake = count_wake, .arg = &woke};
    struct waiter w2 = {
        .user_id = "@b:x", .deadline_ms = util_now_ms() + 60000, .wake = count_wake, .arg = &woke};
    (void)state;

    notifier_wait(n, &w1, notifier_seq(n));
    notifier_shutdown(n);
    assert_int_equal(atomic_load(&woke), 1);
    assert_true(notifier_stopping(n));
    notifier_wait(n, &w2, notifier_seq(n));
    assert_int_equal(atomic_load(&woke), 2);
    notifier_free(n);
}

/* Issue 3: a room's members with their hashes computed once. Waiters of two users among 300
 * (one twice, one last in the list) all fire; the others' waiters do not. */
static void
test_notify_hashed_wakes_listed_users(void **state)
{
    enum { N = 300 };
    struct notifier *n = notifier_new();
    atomic_int woke_first = 0, woke_last = 0, woke_out = 0;
    char names[N][32];
    const char *users[N];
    size_t hashes[N];
    struct waiter w[4];
    (void)state;

    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "@member%zu:x", i);
        users[i] = names[i];
        hashes[i] = notifier_user_hash(names[i]);
    }
    w[0] = (struct waiter){.user_id = "@member0:x", .wake = count_wake, .arg = &woke_first};
    w[1] = (struct waiter){.user_id = "@member0:x", .wake = count_wake, .arg = &woke_first};
    w[2] = (struct waiter){.user_id = "@member299:x", .wake = count_wake, .arg = &woke_last};
    w[3] = (struct waiter){.user_id = "@outsider:x", .wake = count_wake, .arg = &woke_out};
    for (size_t i = 0; i < 4; i++) {
        w[i].deadline_ms = util_now_ms() + 60000;
        notifier_wait(n, &w[i], notifier_seq(n));
    }
    assert_int_equal(notifier_waiting(n), 4);
    notifier_notify_hashed(n, users, hashes, N);
    assert_int_equal(atomic_load(&woke_first), 2);
    assert_int_equal(atomic_load(&woke_last), 1);
    assert_int_equal(atomic_load(&woke_out), 0);
    assert_int_equal(notifier_waiting(n), 1);
    assert_false(notifier_cancel(n, &w[3]));
    notifier_free(n);
}

/* With no waiter at all a notification still counts: a request that looked for news before it
 * and waits after it fires at once. */
static void
test_notify_hashed_without_waiters_counts(void **state)
{
    struct notifier *n = notifier_new();
    atomic_int woke = 0;
    const char *users[] = {"@a:x", "@b:x"};
    size_t hashes[] = {notifier_user_hash("@a:x"), notifier_user_hash("@b:x")};
    struct waiter w = {
        .user_id = "@c:x", .deadline_ms = util_now_ms() + 60000, .wake = count_wake, .arg = &woke};
    uint64_t seen = notifier_seq(n);
    (void)state;

    notifier_notify_hashed(n, users, hashes, 2);
    assert_true(notifier_seq(n) == seen + 1);
    notifier_wait(n, &w, seen);
    assert_int_equal(atomic_load(&woke), 1);
    /* NULL hashes: computed here, the same as notifier_notify. */
    notifier_wait(n, &w, notifier_seq(n));
    notifier_notify_hashed(n, (const char *const[]){"@c:x"}, NULL, 1);
    assert_int_equal(atomic_load(&woke), 2);
    notifier_free(n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_wakes_only_that_user),
        cmocka_unit_test(test_missed_notification_fires_at_once),
        cmocka_unit_test(test_timeout_fires),
        cmocka_unit_test(test_shutdown_wakes_everyone_and_later_waits),
        cmocka_unit_test(test_notify_hashed_wakes_listed_users),
        cmocka_unit_test(test_notify_hashed_without_waiters_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
