/* Metrics in Prometheus's text exposition format (version 0.0.4): counters, gauges and
 * histograms with labels, and collectors that a subsystem registers to report values it
 * already keeps (queue lengths, waiters) when the metrics are scraped.
 *
 * The registry is process-wide, like a Prometheus client library's default registry: the
 * layers that count (store, http, sync, push, appservices) know nothing of each other, and a
 * metric handle is all they share. Thread-safe. */
#ifndef HEARTH_CORE_METRICS_H
#define HEARTH_CORE_METRICS_H

#include <stdbool.h>
#include <stddef.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

#define METRICS_MAX_LABELS 4

struct metric;
struct metrics_sink;

/* Registers a family, or returns the one already registered under that name (the type, help
 * and labels of the first registration stay). labels: comma-separated label names ("method,
 * route") or NULL. The handle lives until metrics_free_all. */
struct metric *metrics_counter(const char *name, const char *help, const char *labels);
struct metric *metrics_gauge(const char *name, const char *help, const char *labels);
/* buckets: upper bounds, increasing (+Inf is implied); NULL: latency buckets from 1 ms to
 * 60 s. Copied. */
struct metric *metrics_histogram(const char *name, const char *help, const char *labels,
                                 const double *buckets, size_t nbuckets);

/* values: one per label name, in order (NULL when the family has no labels). Copied. */
void metrics_inc(struct metric *m, const char *const *values, double v); /* counter, gauge */
void metrics_set(struct metric *m, const char *const *values, double v); /* gauge */
void metrics_observe(struct metric *m, const char *const *values, double v);

/* A collector reports a family's samples at scrape time by calling metrics_sink_add once per
 * series. It runs without the registry's lock held, so it may take its own locks. */
typedef void (*metrics_collect_fn)(void *arg, struct metrics_sink *sink);
void metrics_register_collector(const char *name, const char *help, enum metric_type type,
                                const char *labels, metrics_collect_fn fn, void *arg);
/* Removes every collector registered with arg (before arg is freed). */
void metrics_unregister_collectors(void *arg);
void metrics_sink_add(struct metrics_sink *sink, const char *const *values, double v);

/* The exposition text (new string, *len its length): every family with # HELP and # TYPE,
 * histogram buckets cumulative with le="+Inf", _sum and _count, and the process's resident
 * memory, open file descriptors, CPU time and start time (from /proc/self). */
char *metrics_render(size_t *len);
/* The Content-Type of metrics_render's text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Frees every family and collector (at exit, so leak checkers stay quiet). */
void metrics_free_all(void);

#endif
