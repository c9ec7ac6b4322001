/* benchlib: helpers shared by the load generators (send_bench, sync_bench, storm_bench).
 *
 * Build a generator with it: cc -O2 -std=c17 -Wall -Wextra bench/X.c bench/benchlib.c -lcurl
 * Each generator defines `const char *bench_prog` (its name, the prefix of die()'s message).
 */
#ifndef BENCHLIB_H
#define BENCHLIB_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define URL_MAX 2048
#define BODY_MAX 1024
#define ID_MAX 256
#define REQ_TIMEOUT_MS 30000L /* ordinary requests, when struct req says 0 */
#define POLL_MS 100
#define ENGINE_RESP_MAX (64L * 1024 * 1024) /* bytes of an engine response kept; rest dropped */

extern const char *bench_prog;

/* ---- plain helpers ---- */

void die(const char *f, ...) __attribute__((format(printf, 1, 2), noreturn));
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);
double now_s(void); /* CLOCK_MONOTONIC, seconds */
double cpu_s(void); /* this process's user + system CPU, seconds */
/* snprintf that dies on truncation: every URL and body here has a fixed bound. */
void fmt(char *out, size_t size, const char *f, ...) __attribute__((format(printf, 3, 4)));
bool parse_long(const char *s, long min, long max, long *out);
/* Percent-encodes a path segment or query value (room IDs hold '!' and ':'). */
void path_escape(char *out, size_t size, const char *s);
/* The string value of the first `"key": "..."` in a JSON text (simple escapes only). */
bool json_str(const char *json, const char *key, char *out, size_t size);
long count_str(const char *hay, const char *needle); /* occurrences of needle in hay */
int cmp_double(const void *a, const void *b);
/* Nearest-rank percentile of sorted values; `permille` 500 is the median. */
double percentile(const double *v, long n, long permille);

/* A growing list of latencies (ms), bounded by `cap`. */
struct lat {
    double *v;
    long n, cap;
};

void lat_init(struct lat *l, long cap);
void lat_add(struct lat *l, double ms);
void lat_sort(struct lat *l);
double lat_max(const struct lat *l);

/* ---- the server's figures from /proc, when it runs on this machine (-P) ---- */

long proc_status_kb(long pid, const char *key); /* a "Key: 123 kB" line of status, or -1 */
double proc_cpu_s(long pid);                    /* utime + stime in seconds, or -1 */
long proc_sockets(long pid);                    /* open sockets, or -1 */
void proc_reset_hwm(long pid);                  /* VmHWM := VmRSS, when permitted */

/* ---- HTTP requests ---- */

struct buf {
    char *p;
    size_t len, cap, max;
};

struct req {
    const char *method; /* "GET", "POST" or "PUT" */
    char url[URL_MAX];
    char body[BODY_MAX];
    const char *token; /* borrowed; NULL: no Authorization header */
    long timeout_ms;   /* 0: REQ_TIMEOUT_MS */
    bool fresh;        /* a new connection, closed afterwards */
};

size_t buf_append(struct buf *b, const char *data, size_t n);
/* Sets up an easy handle for `rq`: URL, method, body, JSON and bearer headers (rebuilt in
 * *hdrs only when the token changes), TCP_NODELAY, timeout. Not the write callback. */
void req_apply(CURL *h, struct curl_slist **hdrs, const char **hdrs_token, const struct req *rq);

/* Registration of user `<prefix><nonce>u<i>`: without a session, the request that starts the
 * UIA (answered 401 with a session); with one, the m.login.dummy stage that completes it. */
void register_req(struct req *rq, const char *base, const char *user_prefix, const char *nonce,
                  int i, const char *device, const char *session);
bool register_take_session(long status, const char *body, char *session, size_t size);
char *register_take_token(long status, const char *body); /* NULL unless 200 with a token */

/* ---- the epoll engine: one easy handle per client, on NGROUPS multi handles ---- */

struct slot {
    CURL *easy;
    struct curl_slist *hdrs;
    const char *hdrs_token; /* the token `hdrs` was built for */
    struct buf resp;
    struct req req;
    double t0;     /* handed to libcurl */
    double t_data; /* last body bytes read */
    long tag;
    int group; /* which of the engine's multi handles it runs on */
    bool busy;
};

#define NGROUPS 3
enum { G_MAIN, G_MEASURE, G_PROBE }; /* e.g. setup and waiters; measuring clients; probes */

struct engine;
struct group {
    struct engine *e;
    CURLM *multi;
    double timer_at; /* when libcurl wants curl_multi_socket_action(TIMEOUT); < 0: never */
};

struct engine {
    struct group g[NGROUPS];
    int epfd;
    struct slot *slots;
    int nslots;
    int active;
    long conns; /* connections opened so far */
};

/* One finished request. */
struct done_info {
    long status;     /* HTTP status, 0 on a transport error */
    CURLcode result; /* libcurl's result */
    long os_errno;   /* errno of the failed transport call, if any */
    const struct buf *body;
    double t0, t_end; /* t_end: last body bytes read (or completion if no body) */
};

typedef void (*done_fn)(void *ctx, int slot, long tag, const struct done_info *d);
/* Fills `rq` for the next request of `slot` and sets `tag`; false when there is no more work. */
typedef bool (*next_fn)(void *ctx, int slot, struct req *rq, long *tag);

void engine_init(struct engine *e, int nslots);
void engine_free(struct engine *e);        /* closes every connection */
void group_reset(struct engine *e, int k); /* cancels a group's transfers, closes its conns */
void slot_start(struct engine *e, int i);  /* starts slots[i].req */
/* Waits up to wait_ms for network activity or a libcurl timer, does the ready transfers'
 * work, and calls `done` for each finished one (which may start the slot again). */
void engine_step(struct engine *e, int wait_ms, done_fn done, void *ctx);
/* Keeps `nslots` clients busy until `next` has no more work and all have finished. */
void engine_run(struct engine *e, int nslots, next_fn next, done_fn done, void *ctx);
void describe_failure(char *out, size_t size, const struct done_info *d);

/* ---- setup: batches of independent requests, each answer checked by `take` ---- */

struct setup_batch;
typedef void (*setup_make_fn)(struct setup_batch *bt, int i, struct req *rq);
typedef bool (*setup_take_fn)(struct setup_batch *bt, int i, long status, const char *body);

struct setup_batch {
    void *ctx; /* the generator's own state */
    const char *what;
    int n, next, failed;
    setup_make_fn make;
    setup_take_fn take;
};

/* Runs requests 0..n-1 of the batch, `concurrency` at a time; dies if any answer is refused
 * by `take` (the first three are printed). */
void setup_batch_run(struct engine *e, struct setup_batch *bt, int concurrency);

/* Registers users `<prefix><nonce>u<i>`, i < n (the UIA start, then m.login.dummy; at most
 * 32 at a time, as each hashes a password). tokens[i] (new, caller frees) and user_ids[i]
 * (user_ids may be NULL). */
void setup_register_users(struct engine *e, const char *base, const char *prefix, const char *nonce,
                          const char *device, int n, int concurrency, char **tokens,
                          char (*user_ids)[ID_MAX]);

#endif
