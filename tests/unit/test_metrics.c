/* The metrics registry and its exposition text (src/core/metrics.c; issue 14). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"

static char *
render(void)
{
    size_t len;
    char *text = metrics_render(&len);
    assert_int_equal(strlen(text), len);
    return text;
}

static void
assert_contains(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("missing: %s\nin:\n%s", want, text);
}

static void
test_counter_and_gauge(void **state)
{
    (void)state;
    struct metric *c = metrics_counter("t_requests_total", "Requests.", "method,route");
    struct metric *g = metrics_gauge("t_queue", "Queue length.", NULL);
    char *text;

    assert_ptr_equal(c, metrics_counter("t_requests_total", "other help", NULL));
    metrics_inc(c, (const char *[]){"GET", "/a"}, 1);
    metrics_inc(c, (const char *[]){"GET", "/a"}, 2);
    metrics_inc(c, (const char *[]){"PUT", "/b \"q\" \\ \n"}, 1);
    metrics_set(g, NULL, 7);
    metrics_set(g, NULL, 5);
    text = render();
    assert_contains(text, "# HELP t_requests_total Requests.\n# TYPE t_requests_total counter\n");
    assert_contains(text, "t_requests_total{method=\"GET\",route=\"/a\"} 3\n");
    /* Label values escape the backslash, the double quote and the newline. */
    assert_contains(text, "t_requests_total{method=\"PUT\",route=\"/b \\\"q\\\" \\\\ \\n\"} 1\n");
    assert_contains(text, "# TYPE t_queue gauge\nt_queue 5\n");
    assert_contains(text, "# TYPE process_resident_memory_bytes gauge\n");
    assert_contains(text, "# TYPE process_open_fds gauge\n");
    free(text);
    metrics_free_all();
}

static void
test_histogram_is_cumulative(void **state)
{
    (void)state;
    static const double b[] = {0.1, 1, 10};
    struct metric *h = metrics_histogram("t_seconds", "Latency.", "route", b, 3);
    char *text;

    metrics_observe(h, (const char *[]){"/x"}, 0.05);
    metrics_observe(h, (const char *[]){"/x"}, 0.1); /* le is inclusive */
    metrics_observe(h, (const char *[]){"/x"}, 5);
    metrics_observe(h, (const char *[]){"/x"}, 100);
    text = render();
    assert_contains(text, "# TYPE t_seconds histogram\n"
                          "t_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n"
                          "t_seconds_bucket{route=\"/x\",le=\"1\"} 2\n"
                          "t_seconds_bucket{route=\"/x\",le=\"10\"} 3\n"
                          "t_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
                          "t_seconds_sum{route=\"/x\"} 105.15000000000001\n"
                          "t_seconds_count{route=\"/x\"} 4\n");
    free(text);
    metrics_free_all();
}

static void
collect(void *arg, struct metrics_sink *sink)
{
    int *calls = arg;
    (*calls)++;
    metrics_sink_add(sink, (const char *[]){"bridge"}, 12);
}

static void
test_collectors(void **state)
{
    (void)state;
    int calls = 0;
    char *text;

    metrics_register_collector("t_appservice_queue_length", "Events waiting.", METRIC_GAUGE,
                               "appservice", collect, &calls);
    text = render();
    assert_int_equal(calls, 1);
    assert_contains(text, "# TYPE t_appservice_queue_length gauge\n"
                          "t_appservice_queue_length{appservice=\"bridge\"} 12\n");
    free(text);
    metrics_unregister_collectors(&calls);
    text = render();
    assert_int_equal(calls, 1);
    assert_null(strstr(text, "t_appservice_queue_length"));
    free(text);
    metrics_free_all();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge),
        cmocka_unit_test(test_histogram_is_cumulative),
        cmocka_unit_test(test_collectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
