/* The metrics registry (metrics.h): families in registration order, each with its series in
 * a small hash table keyed by the label values; one mutex for all (an update is a lookup and
 * an addition). */
#include "core/metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

#define SERIES_BUCKETS 64

static const double default_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,      2.5,   5,    10,    30,   60};

struct series {
    char *key; /* the label values joined by '\x1f' */
    char *values[METRICS_MAX_LABELS];
    double value;     /* counter, gauge */
    uint64_t *counts; /* histogram: per bucket (not cumulative), then +Inf */
    double sum;
    uint64_t count;
    struct series *next;
};

struct metric {
    char *name, *help;
    enum metric_type type;
    size_t nlabels;
    char *labels[METRICS_MAX_LABELS];
    double *buckets;
    size_t nbuckets;
    struct series *series[SERIES_BUCKETS];
    metrics_collect_fn collect; /* collectors only */
    void *arg;
    struct metric *next;
};

struct metrics_sink {
    FILE *out;
    const struct metric *m;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric *families, **families_tail = &families;
static int64_t start_time_s;

static void
split_labels(struct metric *m, const char *labels)
{
    const char *p = labels;

    while (p && *p && m->nlabels < METRICS_MAX_LABELS) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n > 0 && *p == ' ') {
            p++;
            n--;
        }
        m->labels[m->nlabels++] = xstrndup(p, n);
        p = comma ? comma + 1 : NULL;
    }
}

/* Called with the lock held. */
static struct metric *
find(const char *name)
{
    for (struct metric *m = families; m; m = m->next)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

static struct metric *
family(const char *name, const char *help, enum metric_type type, const char *labels,
       const double *buckets, size_t nbuckets, metrics_collect_fn fn, void *arg)
{
    struct metric *m;

    pthread_mutex_lock(&lock);
    if (!start_time_s)
        start_time_s = (int64_t)time(NULL);
    m = fn ? NULL : find(name);
    if (!m) {
        m = xcalloc(1, sizeof(*m));
        m->name = xstrdup(name);
        m->help = xstrdup(help);
        m->type = type;
        split_labels(m, labels);
        if (type == METRIC_HISTOGRAM) {
            if (!buckets) {
                buckets = default_buckets;
                nbuckets = sizeof(default_buckets) / sizeof(default_buckets[0]);
            }
            m->buckets = xmalloc(nbuckets * sizeof(double));
            memcpy(m->buckets, buckets, nbuckets * sizeof(double));
            m->nbuckets = nbuckets;
        }
        m->collect = fn;
        m->arg = arg;
        *families_tail = m;
        families_tail = &m->next;
    }
    pthread_mutex_unlock(&lock);
    return m;
}

struct metric *
metrics_counter(const char *name, const char *help, const char *labels)
{
    return family(name, help, METRIC_COUNTER, labels, NULL, 0, NULL, NULL);
}

struct metric *
metrics_gauge(const char *name, const char *help, const char *labels)
{
    return family(name, help, METRIC_GAUGE, labels, NULL, 0, NULL, NULL);
}

struct metric *
metrics_histogram(const char *name, const char *help, const char *labels, const double *buckets,
                  size_t nbuckets)
{
    return family(name, help, METRIC_HISTOGRAM, labels, buckets, nbuckets, NULL, NULL);
}

void
metrics_register_collector(const char *name, const char *help, enum metric_type type,
                           const char *labels, metrics_collect_fn fn, void *arg)
{
    family(name, help, type, labels, NULL, 0, fn, arg);
}

static void
free_family(struct metric *m)
{
    for (size_t b = 0; b < SERIES_BUCKETS; b++) {
        struct series *s = m->series[b], *next;
        for (; s; s = next) {
            next = s->next;
            for (size_t i = 0; i < m->nlabels; i++)
                free(s->values[i]);
            free(s->counts);
            free(s->key);
            free(s);
        }
    }
    for (size_t i = 0; i < m->nlabels; i++)
        free(m->labels[i]);
    free(m->buckets);
    free(m->name);
    free(m->help);
    free(m);
}

void
metrics_unregister_collectors(void *arg)
{
    struct metric **pp, *m;

    pthread_mutex_lock(&lock);
    for (pp = &families; (m = *pp) != NULL;) {
        if (m->collect && m->arg == arg) {
            *pp = m->next;
            free_family(m);
        } else {
            pp = &m->next;
        }
    }
    families_tail = &families;
    while (*families_tail)
        families_tail = &(*families_tail)->next;
    pthread_mutex_unlock(&lock);
}

void
metrics_free_all(void)
{
    struct metric *m, *next;

    pthread_mutex_lock(&lock);
    for (m = families; m; m = next) {
        next = m->next;
        free_family(m);
    }
    families = NULL;
    families_tail = &families;
    pthread_mutex_unlock(&lock);
}

/* Called with the lock held: the series of these label values, made on first use. */
static struct series *
series_of(struct metric *m, const char *const *values)
{
    char key[512];
    size_t off = 0, h = 5381, b;
    struct series *s;

    key[0] = '\0';
    for (size_t i = 0; i < m->nlabels; i++) {
        int n = snprintf(key + off, sizeof(key) - off, "%s%s", i ? "\x1f" : "",
                         values && values[i] ? values[i] : "");
        if (n < 0 || (size_t)n >= sizeof(key) - off)
            break; /* an overlong key is cut: such series share one */
        off += (size_t)n;
    }
    for (const char *p = key; *p; p++)
        h = h * 33 + (unsigned char)*p;
    b = h % SERIES_BUCKETS;
    for (s = m->series[b]; s; s = s->next)
        if (strcmp(s->key, key) == 0)
            return s;
    s = xcalloc(1, sizeof(*s));
    s->key = xstrdup(key);
    for (size_t i = 0; i < m->nlabels; i++)
        s->values[i] = xstrdup(values && values[i] ? values[i] : "");
    if (m->type == METRIC_HISTOGRAM)
        s->counts = xcalloc(m->nbuckets + 1, sizeof(uint64_t));
    s->next = m->series[b];
    m->series[b] = s;
    return s;
}

void
metrics_inc(struct metric *m, const char *const *values, double v)
{
    if (!m)
        return;
    pthread_mutex_lock(&lock);
    series_of(m, values)->value += v;
    pthread_mutex_unlock(&lock);
}

void
metrics_set(struct metric *m, const char *const *values, double v)
{
    if (!m)
        return;
    pthread_mutex_lock(&lock);
    series_of(m, values)->value = v;
    pthread_mutex_unlock(&lock);
}

void
metrics_observe(struct metric *m, const char *const *values, double v)
{
    struct series *s;
    size_t i;

    if (!m || m->type != METRIC_HISTOGRAM)
        return;
    pthread_mutex_lock(&lock);
    s = series_of(m, values);
    for (i = 0; i < m->nbuckets && v > m->buckets[i]; i++)
        ;
    s->counts[i]++;
    s->sum += v;
    s->count++;
    pthread_mutex_unlock(&lock);
}

/* ---- the exposition text ---- */

static const char *
type_name(enum metric_type t)
{
    return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void
put_escaped(FILE *out, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else if (quote && *s == '"')
            fputs("\\\"", out);
        else
            fputc(*s, out);
    }
}

static void
put_value(FILE *out, double v)
{
    fprintf(out, "%.17g\n", v);
}

/* name{a="x",b="y"[,le="..."]} */
static void
put_series_name(FILE *out, const struct metric *m, const char *suffix, char *const *values,
                const char *le)
{
    fprintf(out, "%s%s", m->name, suffix);
    if (m->nlabels == 0 && !le) {
        fputc(' ', out);
        return;
    }
    fputc('{', out);
    for (size_t i = 0; i < m->nlabels; i++) {
        fprintf(out, "%s%s=\"", i ? "," : "", m->labels[i]);
        put_escaped(out, values[i], true);
        fputc('"', out);
    }
    if (le)
        fprintf(out, "%sle=\"%s\"", m->nlabels ? "," : "", le);
    fputs("} ", out);
}

static void
put_header(FILE *out, const struct metric *m)
{
    fprintf(out, "# HELP %s ", m->name);
    put_escaped(out, m->help, false);
    fprintf(out, "\n# TYPE %s %s\n", m->name, type_name(m->type));
}

static void
put_family(FILE *out, const struct metric *m)
{
    put_header(out, m);
    for (size_t b = 0; b < SERIES_BUCKETS; b++) {
        for (const struct series *s = m->series[b]; s; s = s->next) {
            if (m->type != METRIC_HISTOGRAM) {
                put_series_name(out, m, "", s->values, NULL);
                put_value(out, s->value);
                continue;
            }
            uint64_t cum = 0;
            char le[32];
            for (size_t i = 0; i < m->nbuckets; i++) {
                cum += s->counts[i];
                snprintf(le, sizeof(le), "%g", m->buckets[i]);
                put_series_name(out, m, "_bucket", s->values, le);
                fprintf(out, "%llu\n", (unsigned long long)cum);
            }
            cum += s->counts[m->nbuckets];
            put_series_name(out, m, "_bucket", s->values, "+Inf");
            fprintf(out, "%llu\n", (unsigned long long)cum);
            put_series_name(out, m, "_sum", s->values, NULL);
            put_value(out, s->sum);
            put_series_name(out, m, "_count", s->values, NULL);
            fprintf(out, "%llu\n", (unsigned long long)s->count);
        }
    }
}

void
metrics_sink_add(struct metrics_sink *sink, const char *const *values, double v)
{
    char *vals[METRICS_MAX_LABELS] = {0};

    for (size_t i = 0; i < sink->m->nlabels; i++)
        vals[i] = (char *)(values && values[i] ? values[i] : "");
    put_series_name(sink->out, sink->m, "", vals, NULL);
    put_value(sink->out, v);
}

/* ---- the process (from /proc/self, as Prometheus client libraries report it) ---- */

static void
put_process(FILE *out)
{
    long page = sysconf(_SC_PAGESIZE), ticks = sysconf(_SC_CLK_TCK);
    unsigned long long vsize = 0, rss = 0, utime = 0, stime = 0;
    size_t fds = 0;
    struct rlimit rl;
    FILE *f;
    DIR *d;

    f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &vsize, &rss) != 2)
            vsize = rss = 0;
        fclose(f);
    }
    f = fopen("/proc/self/stat", "r");
    if (f) {
        char buf[1024], *p;
        if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) != NULL &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                   &stime) != 2)
            utime = stime = 0;
        fclose(f);
    }
    d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.')
                fds++;
        closedir(d);
        fds--; /* the directory stream's own descriptor */
    }
    fputs("# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
          "# TYPE process_resident_memory_bytes gauge\n",
          out);
    fprintf(out, "process_resident_memory_bytes %llu\n", rss * (unsigned long long)page);
    fputs("# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
          "# TYPE process_virtual_memory_bytes gauge\n",
          out);
    fprintf(out, "process_virtual_memory_bytes %llu\n", vsize * (unsigned long long)page);
    fputs("# HELP process_open_fds Number of open file descriptors.\n"
          "# TYPE process_open_fds gauge\n",
          out);
    fprintf(out, "process_open_fds %zu\n", fds);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        fputs("# HELP process_max_fds Maximum number of open file descriptors.\n"
              "# TYPE process_max_fds gauge\n",
              out);
        fprintf(out, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
    fputs("# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
          "# TYPE process_cpu_seconds_total counter\n",
          out);
    fprintf(out, "process_cpu_seconds_total %.17g\n",
            ticks > 0 ? (double)(utime + stime) / (double)ticks : 0.0);
    fputs("# HELP process_start_time_seconds Start time of the process since unix epoch in "
          "seconds.\n"
          "# TYPE process_start_time_seconds gauge\n",
          out);
    fprintf(out, "process_start_time_seconds %lld\n", (long long)start_time_s);
}

char *
metrics_render(size_t *len)
{
    struct collector {
        struct metric *m;
        metrics_collect_fn fn;
        void *arg;
    } *cols = NULL;
    size_t ncols = 0;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);

    if (!out)
        abort();
    pthread_mutex_lock(&lock);
    if (!start_time_s)
        start_time_s = (int64_t)time(NULL);
    for (struct metric *m = families; m; m = m->next) {
        if (m->collect) {
            cols = xrealloc(cols, (ncols + 1) * sizeof(*cols));
            cols[ncols++] = (struct collector){m, m->collect, m->arg};
        } else {
            put_family(out, m);
        }
    }
    pthread_mutex_unlock(&lock);
    /* Collectors run unlocked. Their families are freed only by unregistering, which their
     * owner does at shutdown after the metrics listener has stopped. */
    for (size_t i = 0; i < ncols; i++) {
        struct metrics_sink sink = {out, cols[i].m};
        put_header(out, cols[i].m);
        cols[i].fn(cols[i].arg, &sink);
    }
    free(cols);
    put_process(out);
    fclose(out);
    *len = size;
    return text;
}
