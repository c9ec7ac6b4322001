/* benchlib: helpers shared by the load generators send_bench, sync_bench and storm_bench.
 *
 * Plain helpers (allocation, formatting, JSON string lookup, percentiles), the server's
 * figures from /proc, the libcurl request setup (headers, method, body, timeouts), the
 * registration requests (the m.login.dummy UIA flow), and the epoll-driven engine that
 * sync_bench and storm_bench run their clients on (libcurl's socket interface: parked
 * long-polls cost nothing per event). See benchlib.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "benchlib.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void
die(const char *f, ...)
{
    va_list ap;

    va_start(ap, f);
    fprintf(stderr, "%s: ", bench_prog);
    vfprintf(stderr, f, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p)
        die("out of memory");
    return p;
}

char *
xstrdup(const char *s)
{
    char *p = strdup(s);

    if (!p)
        die("out of memory");
    return p;
}

double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- the server's figures from /proc, when it runs on this machine (-P) ---- */

/* The value of a "Key:  123 kB" line of /proc/PID/status, or -1. */
long
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
double
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

/* Open sockets of a process (its listening socket included), or -1. */
long
proc_sockets(long pid)
{
    char path[64], link[320], target[64];
    struct dirent *de;
    long n = 0;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
    d = opendir(path);
    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL) {
        ssize_t len;
        if (de->d_name[0] == '.')
            continue;
        snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
        len = readlink(link, target, sizeof(target) - 1);
        if (len > 0) {
            target[len] = '\0';
            if (strncmp(target, "socket:", 7) == 0)
                n++;
        }
    }
    closedir(d);
    return n;
}

/* snprintf that dies on truncation: every URL and body here has a fixed bound. */
void
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

bool
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

/* Percent-encodes a path segment or query value (room IDs hold '!' and ':'). */
void
path_escape(char *out, size_t size, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        if (o + 4 > size)
            die("value too long to escape: %s", s);
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
bool
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

/* Occurrences of `needle` in `hay`. */
long
count_str(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    long n = 0;

    if (!hay)
        return 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += nl)
        n++;
    return n;
}

int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values; `permille` 500 is the median. */
double
percentile(const double *v, long n, long permille)
{
    long k;

    if (n == 0)
        return 0;
    k = (n * permille + 999) / 1000 - 1;
    return v[k < 0 ? 0 : k];
}

/* A growing list of latencies (ms), bounded by `cap`. */
void
lat_init(struct lat *l, long cap)
{
    l->v = xcalloc((size_t)cap, sizeof(*l->v));
    l->n = 0;
    l->cap = cap;
}

void
lat_add(struct lat *l, double ms)
{
    if (l->n < l->cap)
        l->v[l->n++] = ms;
}

void
lat_sort(struct lat *l)
{
    qsort(l->v, (size_t)l->n, sizeof(*l->v), cmp_double);
}

double
lat_max(const struct lat *l)
{
    return l->n ? l->v[l->n - 1] : 0.0;
}

/* Resets the process's peak RSS (VmHWM) to its current RSS; needs the right to write there. */
void
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

/* ---- HTTP requests ---- */

/* Appends to a response buffer up to its cap; the bytes beyond are dropped. Returns n, what
 * libcurl's write callback must answer to keep the transfer going. */
size_t
buf_append(struct buf *b, const char *data, size_t n)
{
    size_t room, take;

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

void
req_apply(CURL *h, struct curl_slist **hdrs, const char **hdrs_token, const struct req *rq)
{
    if (!*hdrs || *hdrs_token != rq->token) {
        char auth[URL_MAX];
        curl_slist_free_all(*hdrs);
        *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        *hdrs = curl_slist_append(*hdrs, "Expect:");
        if (rq->token) {
            fmt(auth, sizeof(auth), "Authorization: Bearer %s", rq->token);
            *hdrs = curl_slist_append(*hdrs, auth);
        }
        if (!*hdrs)
            die("out of memory");
        *hdrs_token = rq->token;
    }
    curl_easy_setopt(h, CURLOPT_URL, rq->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, rq->timeout_ms ? rq->timeout_ms : REQ_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, rq->fresh ? 1L : 0L);
    if (strcmp(rq->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(rq->body));
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
                         strcmp(rq->method, "POST") == 0 ? NULL : rq->method);
    }
}

/* ---- registration: POST /register, then again with m.login.dummy and the session ---- */

void
register_req(struct req *rq, const char *base, const char *user_prefix, const char *nonce, int i,
             const char *device, const char *session)
{
    char auth[ID_MAX + 64] = "";

    if (session)
        fmt(auth, sizeof(auth), ", \"auth\": {\"type\": \"m.login.dummy\", \"session\": \"%s\"}",
            session);
    rq->method = "POST";
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/register", base);
    fmt(rq->body, sizeof(rq->body),
        "{\"username\": \"%s%su%d\", \"password\": \"bench-password-%s\", "
        "\"initial_device_display_name\": \"%s\"%s}",
        user_prefix, nonce, i, nonce, device, auth);
}

bool
register_take_session(long status, const char *body, char *session, size_t size)
{
    return status == 401 && json_str(body, "session", session, size);
}

char *
register_take_token(long status, const char *body)
{
    char token[ID_MAX];

    if (status != 200 || !json_str(body, "access_token", token, sizeof(token)))
        return NULL;
    return xstrdup(token);
}

/* ---- the engine: easy handles on multi handles, driven by epoll ---- */

static size_t
on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct slot *s = userdata;

    s->t_data = now_s();
    return buf_append(&s->resp, data, size * nmemb);
}

/* libcurl tells which sockets to watch: epoll, keyed by group and descriptor (no pointer, so
 * an event for a socket removed earlier in the same batch is harmless). */
static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct group *g = userp;
    struct epoll_event ev = {0};

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(g->e->epfd, EPOLL_CTL_DEL, fd, NULL); /* may already be closed */
        curl_multi_assign(g->multi, fd, NULL);
        return 0;
    }
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    ev.data.u64 = ((uint64_t)(g - g->e->g) << 32) | (uint32_t)fd;
    if (socketp) {
        if (epoll_ctl(g->e->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
            die("epoll_ctl MOD: %s", strerror(errno));
    } else {
        if (epoll_ctl(g->e->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 &&
            (errno != EEXIST || epoll_ctl(g->e->epfd, EPOLL_CTL_MOD, fd, &ev) != 0))
            die("epoll_ctl ADD: %s", strerror(errno));
        curl_multi_assign(g->multi, fd, (void *)1);
    }
    return 0;
}

static int
on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct group *g = userp;

    (void)multi;
    g->timer_at = timeout_ms < 0 ? -1.0 : now_s() + (double)timeout_ms / 1000.0;
    return 0;
}

static void
group_init(struct engine *e, int k)
{
    struct group *g = &e->g[k];

    g->e = e;
    g->timer_at = -1;
    g->multi = curl_multi_init();
    if (!g->multi)
        die("curl_multi_init failed");
    /* Enough cached connections that no client loses its keep-alive connection. */
    curl_multi_setopt(g->multi, CURLMOPT_MAXCONNECTS, (long)e->nslots + 8);
    curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, (void *)g);
    curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, (void *)g);
}

/* Cancels the group's transfers and closes its cached connections. */
void
group_reset(struct engine *e, int k)
{
    for (int i = 0; i < e->nslots; i++) {
        if (e->slots[i].group == k && e->slots[i].busy) {
            curl_multi_remove_handle(e->g[k].multi, e->slots[i].easy);
            e->slots[i].busy = false;
            e->active--;
        }
    }
    curl_multi_cleanup(e->g[k].multi);
    group_init(e, k);
}

void
engine_init(struct engine *e, int nslots)
{
    memset(e, 0, sizeof(*e));
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epfd < 0)
        die("epoll_create1: %s", strerror(errno));
    e->slots = xcalloc((size_t)nslots, sizeof(*e->slots));
    e->nslots = nslots;
    for (int k = 0; k < NGROUPS; k++)
        group_init(e, k);
    for (int i = 0; i < nslots; i++) {
        struct slot *s = &e->slots[i];
        s->easy = curl_easy_init();
        if (!s->easy)
            die("curl_easy_init failed");
        s->resp.max = ENGINE_RESP_MAX;
    }
}

/* Closes every connection: the server sees them all go. */
void
engine_free(struct engine *e)
{
    for (int i = 0; i < e->nslots; i++) {
        if (e->slots[i].busy)
            curl_multi_remove_handle(e->g[e->slots[i].group].multi, e->slots[i].easy);
        curl_easy_cleanup(e->slots[i].easy);
        curl_slist_free_all(e->slots[i].hdrs);
        free(e->slots[i].resp.p);
    }
    free(e->slots);
    for (int k = 0; k < NGROUPS; k++)
        curl_multi_cleanup(e->g[k].multi);
    close(e->epfd);
    memset(e, 0, sizeof(*e));
}

void
slot_start(struct engine *e, int i)
{
    struct slot *s = &e->slots[i];
    CURL *h = s->easy;
    CURLMcode mc;

    if (s->busy)
        die("internal: slot %d started twice", i);
    s->resp.len = 0;
    if (s->resp.p)
        s->resp.p[0] = '\0';
    req_apply(h, &s->hdrs, &s->hdrs_token, &s->req);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, (void *)s);
    curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)s);
    s->t0 = now_s();
    s->t_data = 0;
    s->busy = true;
    e->active++;
    mc = curl_multi_add_handle(e->g[s->group].multi, h);
    if (mc != CURLM_OK)
        die("curl_multi_add_handle: %s", curl_multi_strerror(mc));
}

static void
socket_action(struct group *g, curl_socket_t fd, int flags)
{
    int running;
    CURLMcode mc = curl_multi_socket_action(g->multi, fd, flags, &running);

    if (mc != CURLM_OK)
        die("curl_multi_socket_action: %s", curl_multi_strerror(mc));
}

/* Waits up to wait_ms for network activity or a libcurl timer, does the ready transfers' work,
 * and calls `done` for each finished one (which may start the slot again). */
void
engine_step(struct engine *e, int wait_ms, done_fn done, void *ctx)
{
    struct epoll_event evs[256];
    double now = now_s();
    int timeout = wait_ms < 0 ? 0 : wait_ms, n;

    for (int k = 0; k < NGROUPS; k++) {
        if (e->g[k].timer_at >= 0) {
            double ms = (e->g[k].timer_at - now) * 1000.0;
            int t = ms <= 0 ? 0 : (int)ms + 1;
            if (t < timeout)
                timeout = t;
        }
    }
    n = epoll_wait(e->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout);
    if (n < 0 && errno != EINTR)
        die("epoll_wait: %s", strerror(errno));
    for (int j = 0; j < n; j++) {
        int k = (int)(evs[j].data.u64 >> 32), flags = 0;
        curl_socket_t fd = (curl_socket_t)(uint32_t)evs[j].data.u64;
        if (evs[j].events & EPOLLIN)
            flags |= CURL_CSELECT_IN;
        if (evs[j].events & EPOLLOUT)
            flags |= CURL_CSELECT_OUT;
        if (evs[j].events & (EPOLLERR | EPOLLHUP))
            flags |= CURL_CSELECT_ERR;
        socket_action(&e->g[k], fd, flags);
    }
    now = now_s();
    for (int k = 0; k < NGROUPS; k++) {
        if (e->g[k].timer_at >= 0 && e->g[k].timer_at <= now) {
            e->g[k].timer_at = -1; /* socket_action may set it again */
            socket_action(&e->g[k], CURL_SOCKET_TIMEOUT, 0);
        }
    }
    for (int k = 0; k < NGROUPS; k++) {
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(e->g[k].multi, &left)) != NULL) {
            struct slot *s = NULL;
            struct done_info d = {0};
            long nc = 0;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            d.result = msg->data.result;
            if (d.result == CURLE_OK)
                curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &d.status);
            else
                curl_easy_getinfo(s->easy, CURLINFO_OS_ERRNO, &d.os_errno);
            curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &nc);
            e->conns += nc;
            curl_multi_remove_handle(e->g[k].multi, s->easy);
            s->busy = false;
            e->active--;
            d.body = &s->resp;
            d.t0 = s->t0;
            d.t_end = s->t_data > s->t0 ? s->t_data : now_s();
            done(ctx, (int)(s - e->slots), s->tag, &d);
        }
    }
}

/* Keeps `nslots` clients busy until `next` has no more work and all have finished. */
struct runner {
    struct engine *e;
    next_fn next;
    done_fn done;
    void *ctx;
};

static void
runner_done(void *arg, int i, long tag, const struct done_info *d)
{
    struct runner *r = arg;
    struct slot *s = &r->e->slots[i];

    r->done(r->ctx, i, tag, d);
    if (r->next(r->ctx, i, &s->req, &s->tag))
        slot_start(r->e, i);
}

void
engine_run(struct engine *e, int nslots, next_fn next, done_fn done, void *ctx)
{
    struct runner r = {e, next, done, ctx};

    if (nslots > e->nslots)
        nslots = e->nslots;
    for (int i = 0; i < nslots; i++) {
        if (!next(ctx, i, &e->slots[i].req, &e->slots[i].tag))
            break;
        slot_start(e, i);
    }
    while (e->active > 0)
        engine_step(e, POLL_MS, runner_done, &r);
}

void
describe_failure(char *out, size_t size, const struct done_info *d)
{
    if (d->result != CURLE_OK)
        fmt(out, size, "curl %d (%s), errno %ld (%s)", (int)d->result,
            curl_easy_strerror(d->result), d->os_errno,
            d->os_errno ? strerror((int)d->os_errno) : "-");
    else
        fmt(out, size, "HTTP %ld: %.150s", d->status, d->body->p ? d->body->p : "");
}

/* ---- setup batches ---- */

static bool
setup_next(void *ctx, int slot, struct req *rq, long *tag)
{
    struct setup_batch *bt = ctx;

    (void)slot;
    if (bt->next >= bt->n)
        return false;
    *tag = bt->next++;
    memset(rq, 0, sizeof(*rq));
    bt->make(bt, (int)*tag, rq);
    return true;
}

static void
setup_done(void *ctx, int slot, long tag, const struct done_info *d)
{
    struct setup_batch *bt = ctx;

    (void)slot;
    if (!bt->take(bt, (int)tag, d->status, d->body->p ? d->body->p : "")) {
        if (bt->failed++ < 3) {
            char why[256];
            describe_failure(why, sizeof(why), d);
            fprintf(stderr, "# %s #%ld failed: %s\n", bt->what, tag, why);
        }
    }
}

void
setup_batch_run(struct engine *e, struct setup_batch *bt, int concurrency)
{
    double t0 = now_s();

    bt->next = bt->failed = 0;
    engine_run(e, concurrency, setup_next, setup_done, bt);
    if (bt->failed)
        die("%s: %d of %d requests failed", bt->what, bt->failed, bt->n);
    fprintf(stderr, "# setup: %s: %d requests in %.2f s\n", bt->what, bt->n, now_s() - t0);
}

struct reg {
    const char *base, *prefix, *nonce, *device;
    char **tokens;
    char (*user_ids)[ID_MAX];
    char (*sessions)[ID_MAX];
};

static void
make_reg1(struct setup_batch *bt, int i, struct req *rq)
{
    struct reg *g = bt->ctx;
    register_req(rq, g->base, g->prefix, g->nonce, i, g->device, NULL);
}

static bool
take_reg1(struct setup_batch *bt, int i, long status, const char *body)
{
    struct reg *g = bt->ctx;
    return register_take_session(status, body, g->sessions[i], ID_MAX);
}

static void
make_reg2(struct setup_batch *bt, int i, struct req *rq)
{
    struct reg *g = bt->ctx;
    register_req(rq, g->base, g->prefix, g->nonce, i, g->device, g->sessions[i]);
}

static bool
take_reg2(struct setup_batch *bt, int i, long status, const char *body)
{
    struct reg *g = bt->ctx;
    return (g->tokens[i] = register_take_token(status, body)) != NULL &&
           (!g->user_ids || json_str(body, "user_id", g->user_ids[i], ID_MAX));
}

void
setup_register_users(struct engine *e, const char *base, const char *prefix, const char *nonce,
                     const char *device, int n, int concurrency, char **tokens,
                     char (*user_ids)[ID_MAX])
{
    struct reg g = {base, prefix, nonce, device, tokens, user_ids, NULL};
    struct setup_batch bt = {
        .ctx = &g, .what = "register (UIA start)", .n = n, .make = make_reg1, .take = take_reg1};

    g.sessions = xcalloc((size_t)n, sizeof(*g.sessions));
    setup_batch_run(e, &bt, concurrency);
    bt.what = "register (m.login.dummy)";
    bt.make = make_reg2;
    bt.take = take_reg2;
    /* Each registration hashes a password (argon2id); more at once only queue in the server. */
    setup_batch_run(e, &bt, concurrency < 32 ? concurrency : 32);
    free(g.sessions);
}
