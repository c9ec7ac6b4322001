#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http/ratelimit.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

#ifdef HAVE_ASAN
/* From <sanitizer/allocator_interface.h>, which not every compiler ships. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* Bytes currently allocated on the heap by this process. */
static size_t
heap_in_use(void)
{
#ifdef HAVE_ASAN
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#endif
}

/* Limiters made by a test, freed by teardown even when an assertion fails. */
static struct ratelimit *limiters[4];
static size_t n_limiters;

static struct ratelimit *
new_limiter(double per_second, double burst)
{
    assert_true(n_limiters < sizeof(limiters) / sizeof(limiters[0]));
    limiters[n_limiters] = ratelimit_new(per_second, burst);
    return limiters[n_limiters++];
}

static int
free_limiters(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_limiters; i++)
        ratelimit_free(limiters[i]);
    n_limiters = 0;
    return 0;
}

/* retry_after_ms is rounded up, and the fraction of a token may add one millisecond. */
static void
assert_retry(int64_t got, int64_t want)
{
    if (got < want || got > want + 1)
        fail_msg("retry_after_ms %lld, want %lld", (long long)got, (long long)want);
}

static bool
allow(struct ratelimit *rl, const char *key, int64_t now)
{
    int64_t retry = -1;
    bool ok = ratelimit_check(rl, key, now, true, &retry);
    if (ok)
        assert_int_equal(retry, 0);
    return ok;
}

/* Returns retry_after_ms of a refused check; fails the test if allowed. */
static int64_t
refused(struct ratelimit *rl, const char *key, int64_t now, bool take)
{
    int64_t retry = -1;
    if (ratelimit_check(rl, key, now, take, &retry))
        fail_msg("%s at %lld: allowed, want refused", key, (long long)now);
    assert_true(retry > 0);
    return retry;
}

static void
test_unlimited(void **state)
{
    (void)state;
    struct ratelimit *rl = new_limiter(0, 0);
    int64_t retry = 123;

    for (int i = 0; i < 10000; i++) {
        assert_true(ratelimit_check(rl, "k", 0, true, &retry));
        assert_int_equal(retry, 0);
        ratelimit_record(rl, "k", 0);
    }

    /* A negative rate with no burst is unlimited too. */
    rl = new_limiter(-1, 0);
    for (int i = 0; i < 100; i++)
        assert_true(allow(rl, "k", 0));
}

static void
test_burst_then_refill(void **state)
{
    (void)state;
    struct ratelimit *rl = new_limiter(1.0, 3.0);
    const int64_t t0 = 1700000000000;

    for (int i = 0; i < 3; i++)
        assert_true(allow(rl, "k", t0));
    assert_retry(refused(rl, "k", t0, true), 1000);
    /* A refused attempt does not cost anything. */
    assert_retry(refused(rl, "k", t0, true), 1000);
    assert_retry(refused(rl, "k", t0 + 400, true), 600);
    assert_retry(refused(rl, "k", t0 + 999, true), 1);
    assert_true(allow(rl, "k", t0 + 1000));
    assert_retry(refused(rl, "k", t0 + 1000, true), 1000);

    /* Refill is capped at the burst, however long the key was idle. */
    const int64_t later = t0 + 3600 * 1000;
    for (int i = 0; i < 3; i++)
        assert_true(allow(rl, "k", later));
    refused(rl, "k", later, true);

    /* Partial refill: 2.5 seconds give 2 actions, and half a token towards the third. */
    assert_true(allow(rl, "k", later + 2500));
    assert_true(allow(rl, "k", later + 2500));
    assert_retry(refused(rl, "k", later + 2500, true), 500);
}

static void
test_take_false_does_not_consume(void **state)
{
    (void)state;
    struct ratelimit *rl = new_limiter(0.5, 2.0);
    int64_t retry = -1;

    for (int i = 0; i < 100; i++) {
        assert_true(ratelimit_check(rl, "k", 0, false, &retry));
        assert_int_equal(retry, 0);
    }
    assert_true(allow(rl, "k", 0));
    assert_true(ratelimit_check(rl, "k", 0, false, &retry));
    assert_true(allow(rl, "k", 0));
    /* Exhausted: take=false is refused with the same retry time, and still costs nothing. */
    assert_retry(refused(rl, "k", 0, false), 2000);
    assert_retry(refused(rl, "k", 1000, false), 1000);
    assert_true(ratelimit_check(rl, "k", 2000, false, &retry));
    assert_true(ratelimit_check(rl, "k", 2000, false, &retry));
    assert_true(allow(rl, "k", 2000));
    refused(rl, "k", 2000, false);
}

static void
test_record(void **state)
{
    (void)state;
    struct ratelimit *rl = new_limiter(1.0, 3.0);

    ratelimit_record(rl, "k", 0);
    ratelimit_record(rl, "k", 0);
    assert_true(allow(rl, "k", 0));
    refused(rl, "k", 0, false);

    /* Recording counts even when the bucket is already empty, but the debt is bounded: after
     * one refill period the key may act again. */
    for (int i = 0; i < 50; i++)
        ratelimit_record(rl, "k", 0);
    assert_retry(refused(rl, "k", 0, false), 1000);
    assert_true(allow(rl, "k", 1000));

    /* Records on one key leave other keys alone. */
    for (int i = 0; i < 3; i++)
        assert_true(allow(rl, "other", 1000));
}

static void
test_keys_independent(void **state)
{
    (void)state;
    struct ratelimit *rl = new_limiter(0.1, 2.0);

    assert_true(allow(rl, "@alice:example.org", 0));
    assert_true(allow(rl, "@alice:example.org", 0));
    refused(rl, "@alice:example.org", 0, true);
    assert_true(allow(rl, "@bob:example.org", 0));
    assert_true(allow(rl, "@alice:example.org2", 0));
    assert_true(allow(rl, "", 0));
    assert_true(allow(rl, "@alice:example.or", 0));
    refused(rl, "@alice:example.org", 0, true);
}

/* No refill: after the burst, the key waits "forever", and retry_after says a long time. */
static void
test_burst_only(void **state)
{
    (void)state;
    struct ratelimit *rl = new_limiter(0, 2.0);

    assert_true(allow(rl, "k", 0));
    assert_true(allow(rl, "k", 0));
    int64_t retry = refused(rl, "k", 0, true);
    assert_true(retry >= 1000 * 1000);
    refused(rl, "k", 1000 * 1000 * 1000, true);
}

/* The key is allowed again exactly when retry_after_ms said, whether the client waits quietly or
 * keeps asking every millisecond in between. */
static void
test_retry_after_is_exact(void **state)
{
    (void)state;
    static const struct {
        double per_second, burst;
    } rates[] = {
        {0.17, 3}, {0.2, 10}, {0.1, 1}, {0.3, 5}, {1, 1}, {3, 4}, {7, 2}, {1000, 1}, {0.001, 1},
    };

    int failures = 0;

    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        for (int poll = 0; poll < 2; poll++) {
            struct ratelimit *rl = new_limiter(rates[i].per_second, rates[i].burst);
            const char *how = poll ? "polling every ms" : "waiting";
            const int64_t t0 = 1000;
            int64_t retry, r2, t;

            while (ratelimit_check(rl, "k", t0, true, &retry))
                ;
            assert_true(retry > 0);
            for (t = poll ? t0 + 1 : t0 + retry - 1; t < t0 + retry; t++) {
                if (ratelimit_check(rl, "k", t, false, &r2)) {
                    print_error("rate %g/s (%s): allowed at +%lld ms, retry_after said %lld\n",
                                rates[i].per_second, how, (long long)(t - t0), (long long)retry);
                    failures++;
                    break;
                }
            }
            if (!ratelimit_check(rl, "k", t0 + retry, true, &r2)) {
                print_error("rate %g/s (%s): refused at the announced retry_after %lld ms, new "
                            "retry_after %lld\n",
                            rates[i].per_second, how, (long long)retry, (long long)r2);
                failures++;
            }
            free_limiters(NULL);
        }
    }
    assert_int_equal(failures, 0);
}

/* A clock that steps back (requests processed out of order) neither refills nor breaks. */
static void
test_time_goes_back(void **state)
{
    (void)state;
    struct ratelimit *rl = new_limiter(1.0, 1.0);

    assert_true(allow(rl, "k", 10000));
    refused(rl, "k", 5000, true);
    refused(rl, "k", 10500, true);
    assert_true(allow(rl, "k", 11000));
}

/* Many keys that are each used once and then go quiet: buckets back at full capacity are
 * dropped, so memory follows the recently active keys, not every key ever seen. */
static void
test_many_keys_bounded(void **state)
{
    (void)state;
    struct ratelimit *rl = new_limiter(1.0, 2.0);
    char key[64];
    size_t warm = 0, after;
    const int total = 100000;

    /* One new key per millisecond: at any time about 1,000 buckets are not yet full again. */
    for (int i = 0; i < total; i++) {
        snprintf(key, sizeof(key), "@user%d:example.org", i);
        if (!allow(rl, key, i))
            fail_msg("fresh key %d refused", i);
        if (i == 10000)
            warm = heap_in_use();
    }
    after = heap_in_use();
    /* Without dropping, the 90,000 extra buckets would need several megabytes. */
    if (after > warm && after - warm > 1024 * 1024)
        fail_msg("heap grew by %zu bytes over 90000 idle keys", after - warm);

    /* Recent keys kept their state across sweeps; old ones start fresh. */
    for (int i = total - 500; i < total; i++) {
        snprintf(key, sizeof(key), "@user%d:example.org", i);
        assert_true(allow(rl, key, total));
        refused(rl, key, total, true);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "@user%d:example.org", i);
        assert_true(allow(rl, key, total));
        assert_true(allow(rl, key, total));
        refused(rl, key, total, true);
    }
}

/* Many keys active at the same moment: sweeps must not drop buckets that are not full. */
static void
test_sweep_keeps_active(void **state)
{
    (void)state;
    struct ratelimit *rl = new_limiter(0.01, 2.0);
    char key[64];
    const int n = 20000;

    assert_true(allow(rl, "hot", 0));
    assert_true(allow(rl, "hot", 0));
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "10.0.%d.%d", i / 256, i % 256);
        assert_true(allow(rl, key, i / 10));
    }
    refused(rl, "hot", n / 10, true);
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "10.0.%d.%d", i / 256, i % 256);
        if (!allow(rl, key, n / 10))
            fail_msg("key %s lost its second token", key);
        refused(rl, key, n / 10, true);
    }
}

/* Memory stays bounded over a long run where the set of active keys keeps changing. */
static void
test_churn_bounded(void **state)
{
    (void)state;
    struct ratelimit *rl = new_limiter(10.0, 5.0);
    char key[64];
    size_t warm = 0, peak = 0;
    int64_t now = 0;

    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 4000; i++) {
            snprintf(key, sizeof(key), "r%d-k%d", round, i);
            assert_true(allow(rl, key, now));
            assert_true(allow(rl, key, now));
        }
        now += 2000; /* every bucket of this round is full again by the next */
        size_t h = heap_in_use();
        if (round == 5)
            warm = h;
        if (round > 5 && h > peak)
            peak = h;
    }
    if (peak > warm && peak - warm > 1024 * 1024)
        fail_msg("heap grew by %zu bytes over 45 rounds of 4000 keys", peak - warm);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_unlimited, free_limiters),
        cmocka_unit_test_teardown(test_burst_then_refill, free_limiters),
        cmocka_unit_test_teardown(test_take_false_does_not_consume, free_limiters),
        cmocka_unit_test_teardown(test_record, free_limiters),
        cmocka_unit_test_teardown(test_keys_independent, free_limiters),
        cmocka_unit_test_teardown(test_burst_only, free_limiters),
        cmocka_unit_test_teardown(test_retry_after_is_exact, free_limiters),
        cmocka_unit_test_teardown(test_time_goes_back, free_limiters),
        cmocka_unit_test_teardown(test_many_keys_bounded, free_limiters),
        cmocka_unit_test_teardown(test_sweep_keeps_active, free_limiters),
        cmocka_unit_test_teardown(test_churn_bounded, free_limiters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
