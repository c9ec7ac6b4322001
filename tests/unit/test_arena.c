#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/arena.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct arena arena;

static int
teardown(void **state)
{
    (void)state;
    arena_free(&arena);
    return 0;
}

static void
assert_aligned(const void *p)
{
    if ((uintptr_t)p % 16 != 0)
        fail_msg("%p is not 16-byte aligned", p);
}

/* Many small allocations of varied sizes: each aligned, each writable over its whole size, and
 * none overlapping another (every byte keeps the pattern written to it). */
static void
test_many_allocations(void **state)
{
    (void)state;
    enum { N = 20000 };
    static unsigned char *ptrs[N];
    static size_t sizes[N];

    for (size_t i = 0; i < N; i++) {
        sizes[i] = (i * 7919) % 200; /* 0..199, including 0 and sizes around 16 */
        ptrs[i] = arena_alloc(&arena, sizes[i]);
        assert_non_null(ptrs[i]);
        assert_aligned(ptrs[i]);
        memset(ptrs[i], (int)(i & 0xff), sizes[i]);
    }
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; k < sizes[i]; k++)
            if (ptrs[i][k] != (unsigned char)(i & 0xff))
                fail_msg("allocation %zu (size %zu) overwritten at byte %zu", i, sizes[i], k);
}

/* Alignment holds for a max_align_t-sized object after odd-sized allocations. */
static void
test_alignment(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 3, 15, 16, 17, 31, 33, 4095, 4096, 4097, 1, 8191, 2};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *c = arena_alloc(&arena, sizes[i]);
        assert_aligned(c);
        memset(c, 'x', sizes[i]);
        long double *ld = arena_alloc(&arena, sizeof(*ld));
        assert_aligned(ld);
        *ld = 1.5L;
        max_align_t *m = arena_alloc(&arena, sizeof(*m));
        assert_aligned(m);
        memset(m, 0, sizeof(*m));
    }
    char *s = arena_strdup(&arena, "abc");
    assert_aligned(s);
    assert_aligned(arena_strndup(&arena, "abcdefgh", 5));
}

static void
test_large_allocations(void **state)
{
    (void)state;
    static const size_t sizes[] = {4096, 4097, 5000, 65536, 1 << 20, 3 << 20, 1};
    unsigned char *ptrs[sizeof(sizes) / sizeof(sizes[0])];

    /* Fill the current block partly so large ones cannot fit in it. */
    memset(arena_alloc(&arena, 100), 1, 100);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        ptrs[i] = arena_alloc(&arena, sizes[i]);
        assert_non_null(ptrs[i]);
        assert_aligned(ptrs[i]);
        memset(ptrs[i], (int)i + 1, sizes[i]); /* ASan catches a short block */
    }
    /* A small allocation after a large one still works. */
    char *small = arena_strdup(&arena, "after");
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        assert_int_equal(ptrs[i][0], (int)i + 1);
        assert_int_equal(ptrs[i][sizes[i] - 1], (int)i + 1);
    }
    assert_string_equal(small, "after");
}

static void
test_strdup(void **state)
{
    (void)state;
    char *a = arena_strdup(&arena, "hello");
    char *b = arena_strndup(&arena, "hello, world", 5);
    char *c = arena_strdup(&arena, "");
    char *d = arena_strndup(&arena, "a\0b", 3);
    char big[10000];

    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char *e = arena_strdup(&arena, big);

    assert_string_equal(a, "hello");
    assert_string_equal(b, "hello");
    assert_int_equal(b[5], '\0');
    assert_string_equal(c, "");
    assert_memory_equal(d, "a\0b", 4);
    assert_string_equal(e, big);
    assert_ptr_not_equal(a, b);
}

/* Adopted pointers are freed with the arena (LeakSanitizer would report them otherwise), and
 * allocation goes on normally after an adoption. */
static void
test_adopt(void **state)
{
    (void)state;
    char *p = malloc(64);
    assert_non_null(p);
    memcpy(p, "adopted", sizeof("adopted"));

    char *before = arena_strdup(&arena, "before");
    assert_ptr_equal(arena_adopt(&arena, p), p);
    char *after = arena_strdup(&arena, "after");
    assert_aligned(after);
    assert_null(arena_adopt(&arena, NULL));
    for (int i = 0; i < 100; i++) {
        void *q = malloc((size_t)i + 1);
        assert_non_null(q);
        assert_ptr_equal(arena_adopt(&arena, q), q);
        memset(arena_alloc(&arena, 10), 0, 10);
    }
    assert_string_equal(p, "adopted");
    assert_string_equal(before, "before");
    assert_string_equal(after, "after");
}

/* sync memory (issue 4): small allocations after adopted pointers go on in the same data
 * block (a parked long-poll keeps its arena), and every allocation stays intact. */
static void
test_alloc_after_adopt_shares_block(void **state)
{
    (void)state;
    char *first = arena_strdup(&arena, "first"), *later;

    for (int i = 0; i < 4; i++)
        arena_adopt(&arena, malloc(16));
    later = arena_strdup(&arena, "later");
    /* the next 16-byte slot of the first block */
    assert_ptr_equal(later, first + 16);
    assert_string_equal(first, "first");
    assert_string_equal(later, "later");
    /* a block fills up, and a new one is made */
    for (int i = 0; i < 200; i++)
        assert_string_equal(arena_strdup(&arena, "0123456789abcdef0123456789"),
                            "0123456789abcdef0123456789");
    assert_string_equal(first, "first");
}

static void
test_free_and_reuse(void **state)
{
    (void)state;
    struct arena a = {0};

    arena_free(&a); /* empty arena */
    assert_null(a.head);
    memset(arena_alloc(&a, 5000), 0, 5000);
    arena_adopt(&a, malloc(10));
    arena_free(&a);
    assert_null(a.head);
    arena_free(&a); /* twice */
    char *s = arena_strdup(&a, "again");
    assert_string_equal(s, "again");
    arena_free(&a);
}

/* Runs arena_alloc(n) in a child; true if it returned (it should abort instead when n cannot be
 * satisfied, as xmalloc does). */
static bool
alloc_returns(size_t n)
{
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 2);
        struct arena a = {0};
        arena_alloc(&a, 16); /* a current block with room left */
        void *p = arena_alloc(&a, n);
        _exit(p ? 0 : 3);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* A size so large that rounding it up to 16 wraps around must not yield a pointer: the caller
 * would then write n bytes into a block that has none. */
static void
test_huge_size_does_not_wrap(void **state)
{
    (void)state;
    static const size_t sizes[] = {SIZE_MAX,      SIZE_MAX - 1,  SIZE_MAX - 14,
                                   SIZE_MAX - 16, SIZE_MAX - 40, SIZE_MAX / 2 + 1};
    int failures = 0;

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        if (alloc_returns(sizes[i])) {
            print_error("arena_alloc(SIZE_MAX - %zu) returned a pointer\n", SIZE_MAX - sizes[i]);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_many_allocations, teardown),
        cmocka_unit_test_teardown(test_alignment, teardown),
        cmocka_unit_test_teardown(test_large_allocations, teardown),
        cmocka_unit_test_teardown(test_strdup, teardown),
        cmocka_unit_test_teardown(test_adopt, teardown),
        cmocka_unit_test_teardown(test_alloc_after_adopt_shares_block, teardown),
        cmocka_unit_test(test_free_and_reuse),
        cmocka_unit_test(test_huge_size_does_not_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
