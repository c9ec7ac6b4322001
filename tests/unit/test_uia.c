#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "api/uia.h"

#include <stdio.h>
#include <string.h>

#define DUMMY "m.login.dummy"
#define PASSWORD "m.login.password"
#define RECAPTCHA "m.login.recaptcha"
#define TERMS "m.login.terms"
#define EMAIL "m.login.email.identity"
#define MSISDN "m.login.msisdn"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct uia_flow one_dummy[] = {{{DUMMY, NULL}}};
static const struct uia_flow registration[] = {
    {{RECAPTCHA, TERMS, NULL}},
    {{EMAIL, TERMS, NULL}},
    {{MSISDN, EMAIL, TERMS, RECAPTCHA, NULL}},
};
static const struct uia_flow disjoint[] = {{{"a", "b", NULL}}, {{"c", "d", NULL}}};
static const struct uia_flow with_empty[] = {{{"a", NULL}}, {{NULL}}};

struct done_case {
    const char *name;
    const struct uia_flow *flows;
    size_t n;
    const char *completed[6];
    size_t n_completed;
    bool want;
};

static void
test_flows_done(void **state)
{
    (void)state;
    static const struct done_case cases[] = {
        {"no flows", one_dummy, 0, {DUMMY}, 1, false},
        {"nothing completed", one_dummy, N(one_dummy), {NULL}, 0, false},
        {"single stage", one_dummy, N(one_dummy), {DUMMY}, 1, true},
        {"other stage", one_dummy, N(one_dummy), {PASSWORD}, 1, false},
        {"extra stages", one_dummy, N(one_dummy), {PASSWORD, DUMMY, TERMS}, 3, true},
        {"prefix is not a match", one_dummy, N(one_dummy), {"m.login"}, 1, false},
        {"longer is not a match", one_dummy, N(one_dummy), {DUMMY ".x"}, 1, false},
        {"case matters", one_dummy, N(one_dummy), {"M.LOGIN.DUMMY"}, 1, false},
        {"n_completed bounds the list", one_dummy, N(one_dummy), {PASSWORD, DUMMY}, 1, false},
        {"first flow half", registration, N(registration), {RECAPTCHA}, 1, false},
        {"first flow", registration, N(registration), {RECAPTCHA, TERMS}, 2, true},
        {"first flow, other order", registration, N(registration), {TERMS, RECAPTCHA}, 2, true},
        {"second flow", registration, N(registration), {TERMS, EMAIL}, 2, true},
        {"terms alone", registration, N(registration), {TERMS}, 1, false},
        {"third flow", registration, N(registration), {MSISDN, RECAPTCHA, TERMS, EMAIL}, 4, true},
        {"third flow partial", registration, N(registration), {MSISDN}, 1, false},
        {"n bounds the flows", registration, 1, {EMAIL, TERMS}, 2, false},
        {"union of flows is not a flow", disjoint, N(disjoint), {"a", "d"}, 2, false},
        {"union, other pair", disjoint, N(disjoint), {"b", "c"}, 2, false},
        {"second disjoint flow", disjoint, N(disjoint), {"d", "c"}, 2, true},
        {"repeated stage", disjoint, N(disjoint), {"a", "a", "a"}, 3, false},
        {"repeated and complete", disjoint, N(disjoint), {"a", "a", "b"}, 3, true},
        /* A flow of no stages asks for nothing, so it is complete at once. */
        {"empty flow", with_empty, N(with_empty), {NULL}, 0, true},
        {"empty flow skipped by n", with_empty, 1, {NULL}, 0, false},
    };
    int failures = 0;

    for (size_t i = 0; i < N(cases); i++) {
        const struct done_case *c = &cases[i];
        bool got = uia_flows_done(c->flows, c->n, c->completed, c->n_completed);
        if (got != c->want) {
            print_error("%s: got %d, want %d\n", c->name, got, c->want);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* Every subset of the stages of a four-stage flow: done exactly when all four are in it. */
static void
test_flows_done_subsets(void **state)
{
    (void)state;
    static const struct uia_flow four[] = {{{"s0", "s1", "s2", "s3", NULL}}};
    static const char *const stages[] = {"s0", "s1", "s2", "s3"};

    for (unsigned mask = 0; mask < 16; mask++) {
        const char *completed[4];
        size_t n = 0;
        for (unsigned b = 0; b < 4; b++)
            if (mask & (1u << b))
                completed[n++] = stages[b];
        bool got = uia_flows_done(four, 1, completed, n);
        if (got != (mask == 15))
            fail_msg("mask %x: got %d", mask, got);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flows_done),
        cmocka_unit_test(test_flows_done_subsets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
