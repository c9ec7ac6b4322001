/* visibility_ranges (api/visibility.c): the ranges must say exactly what visibility_allows
 * says for an ordinary event at every position. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "api/visibility.h"

#define MAX_POS 60

static const char *const memberships[] = {"join", "leave", "invite", "ban"};
static const char *const visibilities[] = {"world_readable", "shared", "invited", "joined"};

/* Intervals for state events at the given positions with the given values. */
static struct store_state_interval *
intervals(const int64_t *pos, const char *const *values, size_t n)
{
    struct store_state_interval *list = calloc(n ? n : 1, sizeof(*list));
    for (size_t i = 0; i < n; i++) {
        list[i].event_id = strdup("$e");
        list[i].membership = strdup(values[i]);
        list[i].from_pos = pos[i];
        list[i].to_pos = i + 1 < n ? pos[i + 1] : INT64_MAX;
    }
    return list;
}

static bool
in_ranges(const struct visibility_range *r, size_t n, int64_t pos)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].after < pos && pos <= r[i].upto)
            return true;
    return false;
}

static void
check(const struct visibility *vis)
{
    struct visibility_range *r = NULL;
    size_t n = visibility_ranges(vis, &r);

    for (size_t i = 0; i < n; i++) {
        assert_true(r[i].after < r[i].upto);
        if (i > 0)
            assert_true(r[i - 1].upto < r[i].after); /* sorted, disjoint, merged */
    }
    for (int64_t pos = 1; pos <= MAX_POS; pos++) {
        struct store_event e = {.type = (char *)"m.room.message", .pos = pos};
        if (visibility_allows(vis, &e) != in_ranges(r, n, pos))
            fail_msg("position %lld: allows %d, ranges %d", (long long)pos,
                     visibility_allows(vis, &e), in_ranges(r, n, pos));
    }
    if (n > 0 && r[n - 1].upto != INT64_MAX) {
        struct store_event e = {.type = (char *)"m.room.message", .pos = INT64_MAX - 1};
        assert_false(visibility_allows(vis, &e));
    }
    free(r);
}

static void
build(struct visibility *vis, const int64_t *mpos, const char *const *mval, size_t nm,
      const int64_t *hpos, const char *const *hval, size_t nh)
{
    memset(vis, 0, sizeof(*vis));
    vis->membership = intervals(mpos, mval, nm);
    vis->n_membership = nm;
    vis->history = intervals(hpos, hval, nh);
    vis->n_history = nh;
    vis->visibility_now = strdup(nh ? hval[nh - 1] : "shared");
}

static void
test_left_shared(void **state)
{
    /* Joined at 10, left at 20, history shared from 3: everything before the leave. */
    int64_t mpos[] = {10, 20}, hpos[] = {3};
    const char *mval[] = {"join", "leave"}, *hval[] = {"shared"};
    struct visibility vis;
    struct visibility_range *r = NULL;
    size_t n;
    (void)state;

    build(&vis, mpos, mval, 2, hpos, hval, 1);
    n = visibility_ranges(&vis, &r);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].after, 0);
    assert_int_equal(r[0].upto, 20);
    free(r);
    check(&vis);
    visibility_clear(&vis);
}

static void
test_joined_visibility(void **state)
{
    /* history "joined" set at 2; invited at 5, joined at 8: from the join on, and what came
     * before the history_visibility event (shared until then). */
    int64_t mpos[] = {5, 8}, hpos[] = {2};
    const char *mval[] = {"invite", "join"}, *hval[] = {"joined"};
    struct visibility vis;
    struct visibility_range *r = NULL;
    size_t n;
    (void)state;

    build(&vis, mpos, mval, 2, hpos, hval, 1);
    n = visibility_ranges(&vis, &r);
    assert_int_equal(n, 2);
    assert_int_equal(r[0].after, 0);
    assert_int_equal(r[0].upto, 2);
    assert_int_equal(r[1].after, 8);
    assert_int_equal(r[1].upto, INT64_MAX);
    free(r);
    check(&vis);
    visibility_clear(&vis);
}

static void
test_never_member(void **state)
{
    int64_t hpos[] = {2};
    const char *hval[] = {"shared"};
    struct visibility vis;
    struct visibility_range *r = NULL;
    (void)state;

    build(&vis, NULL, NULL, 0, hpos, hval, 1);
    assert_int_equal(visibility_ranges(&vis, &r), 0);
    assert_null(r);
    visibility_clear(&vis);
}

/* Random histories: the ranges agree with visibility_allows everywhere. */
static void
test_random_histories(void **state)
{
    (void)state;
    srand(12345);
    for (int round = 0; round < 3000; round++) {
        int64_t mpos[8], hpos[8];
        const char *mval[8], *hval[8];
        size_t nm = 0, nh = 0;
        struct visibility vis;
        /* State events at distinct increasing positions, each either kind. */
        for (int64_t pos = 1; pos <= MAX_POS - 5; pos += 1 + rand() % 6) {
            if (rand() % 2 && nm < 8) {
                mpos[nm] = pos;
                mval[nm++] = memberships[rand() % 4];
            } else if (nh < 8) {
                hpos[nh] = pos;
                hval[nh++] = visibilities[rand() % 4];
            }
        }
        build(&vis, mpos, mval, nm, hpos, hval, nh);
        check(&vis);
        visibility_clear(&vis);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_left_shared),
        cmocka_unit_test(test_joined_visibility),
        cmocka_unit_test(test_never_member),
        cmocka_unit_test(test_random_histories),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
