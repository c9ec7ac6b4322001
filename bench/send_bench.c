/* send_bench: message-send load generator for a Matrix homeserver.
 *
 * One thread, one libcurl multi handle, one easy handle per simulated client; finished
 * transfers give their connection back to the multi handle's cache, so every client keeps
 * its keep-alive connection for the whole run. Setup (register, createRoom, join) runs on the
 * same engine; then each phase sends PUT /rooms/{roomId}/send/m.room.message/{txnId} until it
 * reaches its request cap or its time limit, and prints one `RESULT` line.
 *
 * Build: cc -O2 -std=c17 -Wall -Wextra bench/send_bench.c -lcurl -o bench/build/send_bench
 */
#define _POSIX_C_SOURCE 200809L

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX (256 * 1024) /* bytes of a response body kept; the rest is dropped */
#define URL_MAX 1024
#define BODY_MAX 1024
#define ID_MAX 256
#define REQ_TIMEOUT_MS 30000L /* bounds the drain at the end of a phase */
#define POLL_MS 100

struct buf {
    char *p;
    size_t len, cap, max;
};

struct req {
    const char *method; /* "GET", "POST" or "PUT" */
    char url[URL_MAX];
    char body[BODY_MAX];
    const char *token; /* borrowed; NULL: no Authorization header */
};

struct slot {
    CURL *easy;
    struct curl_slist *hdrs;
    const char *hdrs_token; /* the token `hdrs` was built for */
    struct buf resp;
    struct req req;
    double t0;
    long tag;
    bool busy;
};

struct engine {
    CURLM *multi;
    struct slot *slots;
    int nslots;
};

/* Fills `rq` for the next request of `slot` and sets `tag`; false when there is no more work. */
typedef bool (*next_fn)(void *ctx, int slot, struct req *rq, long *tag);
/* One finished request: HTTP status (0 on a transport error), body, latency in ms. */
typedef void (*done_fn)(void *ctx, int slot, long tag, long status, const struct buf *body,
                        double ms);

struct bench {
    const char *base; /* base URL, no trailing slash */
    char **tokens;    /* one access token per user */
    int nusers;
    char main_room[ID_MAX];
    char (*rooms)[ID_MAX];
    int nrooms;
    char nonce[32];
    long txn;
    long server_pid; /* 0: not watched */
    struct engine eng;
};

static void die(const char *f, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fmt(char *out, size_t size, const char *f, ...) __attribute__((format(printf, 3, 4)));

static void
die(const char *f, ...)
{
    va_list ap;

    va_start(ap, f);
    fputs("send_bench: ", stderr);
    vfprintf(stderr, f, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p)
        die("out of memory");
    return p;
}

static char *
xstrdup(const char *s)
{
    char *p = strdup(s);

    if (!p)
        die("out of memory");
    return p;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- the server's figures from /proc, when it runs on this machine (-P) ---- */

/* The value of a "Key:  123 kB" line of /proc/PID/status, or -1. */
static long
proc_status_kb(long pid, const char *key)
{
    char path[64], line[256];
    size_t klen = strlen(key);
    long v = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* utime + stime of a process in seconds, or -1. */
static double
proc_cpu_s(long pid)
{
    char path[64], text[1024];
    unsigned long long ut, st;
    const char *p;
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    p = strrchr(text, ')'); /* the command name may hold spaces */
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
     */
    if (!p ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Resets the process's peak RSS (VmHWM) to its current RSS; needs the right to write there. */
static void
proc_reset_hwm(long pid)
{
    char path[64];
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/clear_refs", pid);
    f = fopen(path, "w");
    if (!f)
        return;
    fputs("5", f);
    fclose(f);
}

/* snprintf that dies on truncation: every URL and body here has a fixed bound. */
static void
fmt(char *out, size_t size, const char *f, ...)
{
    va_list ap;
    int n;

    va_start(ap, f);
    n = vsnprintf(out, size, f, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size)
        die("internal buffer too small (%zu bytes)", size);
}

static bool
parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Percent-encodes one path segment (room IDs hold '!' and ':'). */
static void
path_escape(char *out, size_t size, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        if (o + 4 > size)
            die("path segment too long: %s", s);
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

/* Finds the string value of the first `"key": "..."` in a JSON text. Good enough for the
 * IDs, tokens and sessions read here: simple escapes are copied, \u escapes refused. */
static bool
json_str(const char *json, const char *key, char *out, size_t size)
{
    char pat[64];
    const char *p = json;
    size_t o = 0;

    if (!json)
        return false;
    fmt(pat, sizeof(pat), "\"%s\"", key);
    while ((p = strstr(p, pat)) != NULL) {
        p += strlen(pat);
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (*p != ':')
            continue;
        p++;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (*p != '"')
            return false;
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\') {
                p++;
                if (!*p || *p == 'u')
                    return false;
            }
            if (o + 1 >= size)
                return false;
            out[o++] = *p;
        }
        out[o] = '\0';
        return *p == '"';
    }
    return false;
}

static size_t
on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct buf *b = userdata;
    size_t n = size * nmemb, room, take;

    if (b->len + 1 >= b->max)
        return n; /* over the cap: keep the transfer going, drop the bytes */
    room = b->max - 1 - b->len;
    take = n < room ? n : room;
    if (b->len + take + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *p;
        while (cap < b->len + take + 1)
            cap *= 2;
        if (cap > b->max)
            cap = b->max;
        p = realloc(b->p, cap);
        if (!p)
            die("out of memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, take);
    b->len += take;
    b->p[b->len] = '\0';
    return n;
}

static void
engine_init(struct engine *e, int nslots)
{
    e->multi = curl_multi_init();
    if (!e->multi)
        die("curl_multi_init failed");
    /* Enough cached connections that no client loses its keep-alive connection. */
    curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, (long)nslots + 8);
    e->slots = xcalloc((size_t)nslots, sizeof(*e->slots));
    e->nslots = nslots;
    for (int i = 0; i < nslots; i++) {
        struct slot *s = &e->slots[i];
        s->easy = curl_easy_init();
        if (!s->easy)
            die("curl_easy_init failed");
        s->resp.max = RESP_MAX;
    }
}

static void
engine_free(struct engine *e)
{
    for (int i = 0; i < e->nslots; i++) {
        curl_easy_cleanup(e->slots[i].easy);
        curl_slist_free_all(e->slots[i].hdrs);
        free(e->slots[i].resp.p);
    }
    free(e->slots);
    curl_multi_cleanup(e->multi);
}

static void
slot_start(struct engine *e, int i)
{
    struct slot *s = &e->slots[i];
    CURL *h = s->easy;
    CURLMcode mc;

    if (!s->hdrs || s->hdrs_token != s->req.token) {
        char auth[URL_MAX];
        curl_slist_free_all(s->hdrs);
        s->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        s->hdrs = curl_slist_append(s->hdrs, "Expect:");
        if (s->req.token) {
            fmt(auth, sizeof(auth), "Authorization: Bearer %s", s->req.token);
            s->hdrs = curl_slist_append(s->hdrs, auth);
        }
        if (!s->hdrs)
            die("out of memory");
        s->hdrs_token = s->req.token;
    }
    s->resp.len = 0;
    if (s->resp.p)
        s->resp.p[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, s->req.url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s->resp);
    curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, REQ_TIMEOUT_MS);
    if (strcmp(s->req.method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, s->req.body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(s->req.body));
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
                         strcmp(s->req.method, "POST") == 0 ? NULL : s->req.method);
    }
    s->t0 = now_s();
    s->busy = true;
    mc = curl_multi_add_handle(e->multi, h);
    if (mc != CURLM_OK)
        die("curl_multi_add_handle: %s", curl_multi_strerror(mc));
}

/* Runs requests on `nslots` clients until `next` has no more work and all have finished.
 * Returns the number of connections opened. */
static long
engine_run(struct engine *e, int nslots, next_fn next, done_fn done, void *ctx)
{
    int active = 0, still;
    long conns = 0;

    if (nslots > e->nslots)
        nslots = e->nslots;
    for (int i = 0; i < nslots; i++) {
        if (!next(ctx, i, &e->slots[i].req, &e->slots[i].tag))
            break;
        slot_start(e, i);
        active++;
    }
    while (active > 0) {
        CURLMsg *msg;
        int left;
        CURLMcode mc = curl_multi_perform(e->multi, &still);

        if (mc != CURLM_OK)
            die("curl_multi_perform: %s", curl_multi_strerror(mc));
        while ((msg = curl_multi_info_read(e->multi, &left)) != NULL) {
            struct slot *s = NULL;
            long status = 0, nc = 0;
            int i;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            if (msg->data.result == CURLE_OK)
                curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
            else
                fprintf(stderr, "# transport error: %s (%s)\n",
                        curl_easy_strerror(msg->data.result), s->req.url);
            curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &nc);
            conns += nc;
            i = (int)(s - e->slots);
            curl_multi_remove_handle(e->multi, s->easy);
            s->busy = false;
            active--;
            done(ctx, i, s->tag, status, &s->resp, (now_s() - s->t0) * 1000.0);
            if (next(ctx, i, &s->req, &s->tag)) {
                slot_start(e, i);
                active++;
            }
        }
        if (active > 0) {
            mc = curl_multi_poll(e->multi, NULL, 0, POLL_MS, NULL);
            if (mc != CURLM_OK)
                die("curl_multi_poll: %s", curl_multi_strerror(mc));
        }
    }
    return conns;
}

/* ---- setup: batches of independent requests, each checked by a `take` function ---- */

struct batch;
typedef void (*make_fn)(struct batch *bt, int i, struct req *rq);
typedef bool (*take_fn)(struct batch *bt, int i, long status, const char *body);

struct batch {
    struct bench *b;
    const char *what;
    int n, next, failed;
    make_fn make;
    take_fn take;
    char (*sessions)[ID_MAX]; /* registration only */
};

static bool
batch_next(void *ctx, int slot, struct req *rq, long *tag)
{
    struct batch *bt = ctx;

    (void)slot;
    if (bt->next >= bt->n)
        return false;
    *tag = bt->next++;
    rq->token = NULL;
    rq->body[0] = '\0';
    bt->make(bt, (int)*tag, rq);
    return true;
}

static void
batch_done(void *ctx, int slot, long tag, long status, const struct buf *body, double ms)
{
    struct batch *bt = ctx;

    (void)slot;
    (void)ms;
    if (!bt->take(bt, (int)tag, status, body->p ? body->p : "")) {
        if (bt->failed++ < 3)
            fprintf(stderr, "# %s #%ld failed: HTTP %ld: %.300s\n", bt->what, tag, status,
                    body->p ? body->p : "");
    }
}

static void
batch_run(struct bench *b, struct batch *bt, int concurrency)
{
    double t0 = now_s();

    bt->b = b;
    bt->next = bt->failed = 0;
    engine_run(&b->eng, concurrency, batch_next, batch_done, bt);
    if (bt->failed)
        die("%s: %d of %d requests failed", bt->what, bt->failed, bt->n);
    fprintf(stderr, "# setup: %s: %d requests in %.2f s\n", bt->what, bt->n, now_s() - t0);
}

static void
make_versions(struct batch *bt, int i, struct req *rq)
{
    (void)i;
    rq->method = "GET";
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/versions", bt->b->base);
}

static bool
take_200(struct batch *bt, int i, long status, const char *body)
{
    (void)bt;
    (void)i;
    (void)body;
    return status == 200;
}

static void
register_body(struct batch *bt, int i, struct req *rq, const char *session)
{
    char auth[ID_MAX + 64] = "";

    if (session)
        fmt(auth, sizeof(auth), ", \"auth\": {\"type\": \"m.login.dummy\", \"session\": \"%s\"}",
            session);
    rq->method = "POST";
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/register", bt->b->base);
    fmt(rq->body, sizeof(rq->body),
        "{\"username\": \"bench%su%d\", \"password\": \"bench-password-%s\", "
        "\"initial_device_display_name\": \"send_bench\"%s}",
        bt->b->nonce, i, bt->b->nonce, auth);
}

static void
make_register1(struct batch *bt, int i, struct req *rq)
{
    register_body(bt, i, rq, NULL);
}

static bool
take_register1(struct batch *bt, int i, long status, const char *body)
{
    return status == 401 && json_str(body, "session", bt->sessions[i], ID_MAX);
}

static void
make_register2(struct batch *bt, int i, struct req *rq)
{
    register_body(bt, i, rq, bt->sessions[i]);
}

static bool
take_register2(struct batch *bt, int i, long status, const char *body)
{
    char token[ID_MAX];

    if (status != 200 || !json_str(body, "access_token", token, sizeof(token)))
        return false;
    bt->b->tokens[i] = xstrdup(token);
    return true;
}

static void
make_main_room(struct batch *bt, int i, struct req *rq)
{
    (void)i;
    rq->method = "POST";
    rq->token = bt->b->tokens[0];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/createRoom", bt->b->base);
    fmt(rq->body, sizeof(rq->body), "{\"preset\": \"public_chat\", \"name\": \"bench main\"}");
}

static bool
take_main_room(struct batch *bt, int i, long status, const char *body)
{
    (void)i;
    return status == 200 && json_str(body, "room_id", bt->b->main_room, ID_MAX);
}

static void
make_join(struct batch *bt, int i, struct req *rq)
{
    char room[3 * ID_MAX];

    path_escape(room, sizeof(room), bt->b->main_room);
    rq->method = "POST";
    rq->token = bt->b->tokens[i + 1];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/rooms/%s/join", bt->b->base, room);
    fmt(rq->body, sizeof(rq->body), "{}");
}

static void
make_room(struct batch *bt, int i, struct req *rq)
{
    rq->method = "POST";
    rq->token = bt->b->tokens[i % bt->b->nusers];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/createRoom", bt->b->base);
    fmt(rq->body, sizeof(rq->body), "{\"preset\": \"private_chat\", \"name\": \"bench %d\"}", i);
}

static bool
take_room(struct batch *bt, int i, long status, const char *body)
{
    return status == 200 && json_str(body, "room_id", bt->b->rooms[i], ID_MAX);
}

/* ---- phases ---- */

struct phase {
    struct bench *b;
    const char *name;
    int clients;
    bool spread; /* over all rooms (room r belongs to user r % nusers) or the main room */
    long max_requests;
    double deadline;
    long issued, errors;
    long *cursor; /* per client: next room of its own, round-robin */
    double *lat;  /* ms, one per finished request */
    long nlat;
    long first_status;
    char first_error[160];
};

static bool
phase_next(void *ctx, int slot, struct req *rq, long *tag)
{
    struct phase *ph = ctx;
    struct bench *b = ph->b;
    int user = slot % b->nusers;
    const char *room = b->main_room;
    char esc[3 * ID_MAX];
    long txn;

    if (ph->issued >= ph->max_requests || now_s() >= ph->deadline)
        return false;
    if (ph->spread) {
        /* rooms of this user: user, user + nusers, user + 2 * nusers, ... */
        long own = (b->nrooms - user + b->nusers - 1) / b->nusers;
        long r = user + (ph->cursor[slot]++ % own) * b->nusers;
        room = b->rooms[r];
    }
    txn = ++b->txn;
    path_escape(esc, sizeof(esc), room);
    rq->method = "PUT";
    rq->token = b->tokens[user];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/rooms/%s/send/m.room.message/%s.%ld",
        b->base, esc, b->nonce, txn);
    fmt(rq->body, sizeof(rq->body), "{\"msgtype\": \"m.text\", \"body\": \"bench message %ld\"}",
        txn);
    *tag = ph->issued++;
    return true;
}

static void
phase_done(void *ctx, int slot, long tag, long status, const struct buf *body, double ms)
{
    struct phase *ph = ctx;

    (void)slot;
    (void)tag;
    if (ph->nlat < ph->max_requests)
        ph->lat[ph->nlat++] = ms;
    if (status != 200) {
        if (ph->errors++ == 0) {
            ph->first_status = status;
            fmt(ph->first_error, sizeof(ph->first_error), "%.150s", body->p ? body->p : "");
        }
    }
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values; `permille` 500 is the median. */
static double
percentile(const double *v, long n, long permille)
{
    long k;

    if (n == 0)
        return 0;
    k = (n * permille + 999) / 1000 - 1;
    return v[k < 0 ? 0 : k];
}

static void
phase_run(struct bench *b, const char *name, int clients, bool spread, long max_requests,
          double seconds)
{
    struct phase ph = {0};
    double t0, elapsed, c0, cpu, s0 = -1, scpu = -1;
    long conns, hwm = -1;
    char server[96] = "";

    if (clients > b->eng.nslots)
        clients = b->eng.nslots;
    ph.b = b;
    ph.name = name;
    ph.clients = clients;
    ph.spread = spread;
    ph.max_requests = max_requests;
    ph.cursor = xcalloc((size_t)clients, sizeof(*ph.cursor));
    ph.lat = xcalloc((size_t)max_requests, sizeof(*ph.lat));
    if (b->server_pid) {
        proc_reset_hwm(b->server_pid);
        s0 = proc_cpu_s(b->server_pid);
    }
    c0 = cpu_s();
    t0 = now_s();
    ph.deadline = t0 + seconds;
    conns = engine_run(&b->eng, clients, phase_next, phase_done, &ph);
    elapsed = now_s() - t0;
    cpu = cpu_s() - c0;
    if (b->server_pid) {
        scpu = proc_cpu_s(b->server_pid);
        hwm = proc_status_kb(b->server_pid, "VmHWM");
        if (s0 >= 0 && scpu >= 0 && hwm >= 0 && elapsed > 0)
            fmt(server, sizeof(server), " server_cpu=%.0f%% server_rss_mb=%ld",
                100.0 * (scpu - s0) / elapsed, hwm / 1024);
    }
    qsort(ph.lat, (size_t)ph.nlat, sizeof(*ph.lat), cmp_double);
    if (ph.errors)
        fprintf(stderr, "# %s: %ld errors, first: HTTP %ld: %s\n", name, ph.errors, ph.first_status,
                ph.first_error);
    printf("RESULT phase=%s clients=%d rooms=%d requests=%ld errors=%ld seconds=%.2f "
           "rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f new_conns=%ld client_cpu=%.0f%%%s\n",
           name, clients, spread ? b->nrooms : 1, ph.nlat, ph.errors, elapsed,
           elapsed > 0 ? (double)(ph.nlat - ph.errors) / elapsed : 0.0,
           percentile(ph.lat, ph.nlat, 500), percentile(ph.lat, ph.nlat, 990),
           ph.nlat ? ph.lat[ph.nlat - 1] : 0.0, conns, elapsed > 0 ? 100.0 * cpu / elapsed : 0.0,
           server);
    fflush(stdout);
    free(ph.cursor);
    free(ph.lat);
}

/* ---- main ---- */

static void
load_tokens(struct bench *b, const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int max = 0;

    if (!f)
        die("%s: %s", path, strerror(errno));
    while ((n = getline(&line, &cap, f)) > 0) {
        char *s = line, *e = line + n;
        while (*s == ' ' || *s == '\t')
            s++;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *e = '\0';
        if (!*s || *s == '#')
            continue;
        if (b->nusers == max) {
            char **p;
            max = max ? max * 2 : 16;
            p = realloc(b->tokens, (size_t)max * sizeof(*p));
            if (!p)
                die("out of memory");
            b->tokens = p;
        }
        b->tokens[b->nusers++] = xstrdup(s);
    }
    free(line);
    fclose(f);
    if (b->nusers == 0)
        die("%s: no tokens", path);
}

static void
usage(void)
{
    fputs("usage: send_bench [-t TOKEN_FILE] [-u USERS] [-c CLIENTS] [-r ROOMS] [-n REQUESTS]\n"
          "                  [-d SECONDS] [-p PHASES] [-P SERVER_PID] BASE_URL\n"
          "  -t FILE     access tokens, one per line (default: register USERS new users)\n"
          "  -u N        users to register (default: CLIENTS)\n"
          "  -c N        clients of the large phases c and d (default 100)\n"
          "  -r N        rooms of phase d (default 1000)\n"
          "  -n N        request cap per phase (default 200000)\n"
          "  -d SECONDS  time cap per phase (default 10)\n"
          "  -p PHASES   phases to run, a subset of \"abcd\" (default abcd)\n"
          "  -P PID      server process on this machine: report its CPU use and peak RSS\n"
          "              per phase (the peak is reset before each phase when permitted)\n",
          stderr);
    exit(2);
}

int
main(int argc, char **argv)
{
    struct bench b = {0};
    const char *token_file = NULL, *phases = "abcd";
    long users = 0, clients = 100, rooms = 1000, max_requests = 200000, seconds = 10;
    char name[64];
    size_t len;
    int opt;

    while ((opt = getopt(argc, argv, "t:u:c:r:n:d:p:P:h")) != -1) {
        switch (opt) {
        case 't':
            token_file = optarg;
            break;
        case 'u':
            if (!parse_long(optarg, 1, 100000, &users))
                usage();
            break;
        case 'c':
            if (!parse_long(optarg, 1, 10000, &clients))
                usage();
            break;
        case 'r':
            if (!parse_long(optarg, 1, 1000000, &rooms))
                usage();
            break;
        case 'n':
            if (!parse_long(optarg, 1, 100000000, &max_requests))
                usage();
            break;
        case 'd':
            if (!parse_long(optarg, 1, 3600, &seconds))
                usage();
            break;
        case 'p':
            phases = optarg;
            if (strspn(phases, "abcd") != strlen(phases))
                usage();
            break;
        case 'P':
            if (!parse_long(optarg, 1, LONG_MAX, &b.server_pid))
                usage();
            break;
        default:
            usage();
        }
    }
    if (optind != argc - 1)
        usage();
    b.base = xstrdup(argv[optind]);
    len = strlen(b.base);
    while (len > 0 && b.base[len - 1] == '/')
        ((char *)b.base)[--len] = '\0';
    fmt(b.nonce, sizeof(b.nonce), "%lx%lx", (unsigned long)getpid(), (unsigned long)time(NULL));

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        die("curl_global_init failed");
    engine_init(&b.eng, (int)(clients > 10 ? clients : 10));

    {
        struct batch bt = {
            .what = "GET /versions", .n = 1, .make = make_versions, .take = take_200};
        batch_run(&b, &bt, 1);
    }
    if (token_file) {
        load_tokens(&b, token_file);
        fprintf(stderr, "# setup: %d tokens from %s\n", b.nusers, token_file);
    } else {
        struct batch bt = {
            .what = "register (UIA start)", .make = make_register1, .take = take_register1};
        b.nusers = (int)(users ? users : clients);
        b.tokens = xcalloc((size_t)b.nusers, sizeof(*b.tokens));
        bt.n = b.nusers;
        bt.sessions = xcalloc((size_t)b.nusers, sizeof(*bt.sessions));
        batch_run(&b, &bt, b.eng.nslots);
        bt.what = "register (m.login.dummy)";
        bt.make = make_register2;
        bt.take = take_register2;
        batch_run(&b, &bt, b.eng.nslots);
        free(bt.sessions);
    }
    if (strpbrk(phases, "abc")) {
        struct batch bt = {.what = "createRoom (shared room)",
                           .n = 1,
                           .make = make_main_room,
                           .take = take_main_room};
        batch_run(&b, &bt, 1);
        bt = (struct batch){
            .what = "join shared room", .n = b.nusers - 1, .make = make_join, .take = take_200};
        batch_run(&b, &bt, b.eng.nslots);
    }
    if (strchr(phases, 'd')) {
        struct batch bt = {.what = "createRoom (spread rooms)",
                           .n = (int)rooms,
                           .make = make_room,
                           .take = take_room};
        b.nrooms = (int)rooms;
        b.rooms = xcalloc((size_t)rooms, sizeof(*b.rooms));
        if (b.nrooms < b.nusers)
            die("-r must be at least the number of users (%d)", b.nusers);
        batch_run(&b, &bt, b.eng.nslots);
    }

    if (b.server_pid)
        printf("SETUP users=%d rooms=%d server_rss_mb=%ld server_peak_rss_mb=%ld\n", b.nusers,
               b.nrooms, proc_status_kb(b.server_pid, "VmRSS") / 1024,
               proc_status_kb(b.server_pid, "VmHWM") / 1024);
    if (strchr(phases, 'a'))
        phase_run(&b, "a_seq_1room", 1, false, max_requests, (double)seconds);
    if (strchr(phases, 'b'))
        phase_run(&b, "b_c10_1room", 10, false, max_requests, (double)seconds);
    if (strchr(phases, 'c')) {
        fmt(name, sizeof(name), "c_c%ld_1room", clients);
        phase_run(&b, name, (int)clients, false, max_requests, (double)seconds);
    }
    if (strchr(phases, 'd')) {
        fmt(name, sizeof(name), "d_c%ld_%ldrooms", clients, rooms);
        phase_run(&b, name, (int)clients, true, max_requests, (double)seconds);
    }

    engine_free(&b.eng);
    curl_global_cleanup();
    for (int i = 0; i < b.nusers; i++)
        free(b.tokens[i]);
    free(b.tokens);
    free(b.rooms);
    free((char *)b.base);
    return 0;
}
