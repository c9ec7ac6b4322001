/* soak: many simulated users against a Matrix homeserver for a set time (issue 12, "Load").
 *
 * USERS users (default 500), each a member of up to three of ROOMS rooms (default 50; user u
 * is in rooms u, u + s, u + 2s mod ROOMS with s = ROOMS / 3 + 1). Each user keeps one /sync
 * long-poll going (timeout=30000, re-issued with the new next_batch as soon as it is answered,
 * as a client does) and, on a connection of its own, acts every INTERVAL seconds on average
 * (uniform in [0.5, 1.5] x INTERVAL; open loop, later only if its previous action is still
 * running): half of the actions send a message to one of its rooms, 30% send a read receipt
 * for the latest message the generator saw sent there, 20% set or clear typing there.
 *
 * Printed: one `OP` line per operation (answers, errors, rate, latency percentiles) over the
 * measured window (after WARMUP seconds), a `DELIVERY` line (from a message's PUT being handed
 * to libcurl to a member's /sync answer holding it being read), the server's RSS every SAMPLE
 * seconds (`RSS` lines, from /proc/PID/status VmRSS and RssAnon, with -P), and a `MEMORY`
 * line: RSS at start (idle), after setup, and over the measured window (first, last, max,
 * least-squares slope), for the whole RSS and for its private (anonymous) part;
 * `verdict=GROWTH` (exit status 3) when the private part grew after warm-up by more than 2 MB
 * and 5% (the file-backed part follows the database's memory map, which grows with the data).
 *
 * One thread, libcurl's socket interface over epoll (benchlib.c). Every loop is bounded.
 *
 * Build: cc -O2 -std=c17 -Wall -Wextra bench/soak.c bench/benchlib.c -lcurl -o bench/build/soak
 */
#define _POSIX_C_SOURCE 200809L

#include "benchlib.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LP_TIMEOUT_MS 30000L
#define LP_CURL_TIMEOUT_MS 60000L
#define ROOMS_PER_USER 3
#define DRAIN_S 30.0
#define LAT_CAP 4000000L
#define MAX_SAMPLES 100000
#define FILTER "{\"room\":{\"timeline\":{\"limit\":10},\"state\":{\"lazy_load_members\":true}}}"

const char *bench_prog = "soak";

enum op { OP_SEND, OP_RECEIPT, OP_TYPING, OP_SYNC, NOPS };
static const char *const op_name[NOPS] = {"send", "receipt", "typing", "sync"};

struct user {
    char *token;
    char user_id[ID_MAX];
    char user_esc[3 * ID_MAX];
    char since[ID_MAX];
    int rooms[ROOMS_PER_USER];
    int nrooms;
    double next_action; /* when its next action is due */
    double sync_retry;  /* > 0: a failed sync is re-issued then */
    bool typing;        /* its next typing request sets typing */
};

struct room {
    char id[ID_MAX];
    char esc[3 * ID_MAX];
    char last_event[ID_MAX]; /* the latest message sent there, as the generator saw it */
};

struct stats {
    long answers, errors;
    struct lat lat;
    char first_error[256];
};

struct soak {
    const char *base;
    char nonce[32];
    char marker[64]; /* "soak <nonce> t": a message body's prefix, then microseconds */
    char filter_q[512];
    long pid;
    int nusers, nrooms, conc;
    double interval, seconds, warmup, sample;
    struct user *u;
    struct room *r;
    struct engine e; /* slots 0..n-1: long-polls, n..2n-1: the users' actions */
    uint64_t rng;
    long txn;
    double t0, measure_from, deadline;
    bool running;
    struct stats st[NOPS];
    long nonempty_syncs, delivered, delivered_all;
    struct lat delivery;
    /* RSS samples: seconds since t0, kB */
    double *sample_t;
    long *sample_kb, *sample_anon_kb; /* VmRSS, RssAnon */
    long nsamples;
    double cpu0;
};

static uint64_t
rnd(struct soak *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

static double
rnd01(struct soak *s)
{
    return (double)(rnd(s) >> 11) / (double)(1ULL << 53);
}

/* ---- setup ---- */

static void
make_room(struct setup_batch *bt, int i, struct req *rq)
{
    struct soak *s = bt->ctx;

    rq->method = "POST";
    rq->token = s->u[i].token; /* room i is created by user i */
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/createRoom", s->base);
    fmt(rq->body, sizeof(rq->body), "{\"preset\": \"public_chat\", \"name\": \"soak %d\"}", i);
}

static bool
take_room(struct setup_batch *bt, int i, long status, const char *body)
{
    struct soak *s = bt->ctx;

    if (status != 200 || !json_str(body, "room_id", s->r[i].id, ID_MAX))
        return false;
    path_escape(s->r[i].esc, sizeof(s->r[i].esc), s->r[i].id);
    return true;
}

/* Join k of the batch: user k / ROOMS_PER_USER, its room k % ROOMS_PER_USER (creators and
 * repeated rooms are answered by a harmless second join). */
static void
make_join(struct setup_batch *bt, int k, struct req *rq)
{
    struct soak *s = bt->ctx;
    struct user *u = &s->u[k / ROOMS_PER_USER];
    int room = u->rooms[(k % ROOMS_PER_USER) % u->nrooms];

    rq->method = "POST";
    rq->token = u->token;
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/join/%s", s->base, s->r[room].esc);
    fmt(rq->body, sizeof(rq->body), "{}");
}

static bool
take_200(struct setup_batch *bt, int i, long status, const char *body)
{
    (void)bt;
    (void)i;
    (void)body;
    return status == 200;
}

static void
make_first_sync(struct setup_batch *bt, int i, struct req *rq)
{
    struct soak *s = bt->ctx;

    rq->method = "GET";
    rq->token = s->u[i].token;
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/sync?filter=%s&timeout=0", s->base,
        s->filter_q);
}

static bool
take_first_sync(struct setup_batch *bt, int i, long status, const char *body)
{
    struct soak *s = bt->ctx;
    return status == 200 && json_str(body, "next_batch", s->u[i].since, ID_MAX);
}

static void
setup(struct soak *s)
{
    struct engine e;
    struct setup_batch bt;
    char **tokens = xcalloc((size_t)s->nusers, sizeof(*tokens));
    char(*ids)[ID_MAX] = xcalloc((size_t)s->nusers, sizeof(*ids));
    int step = s->nrooms / 3 + 1;

    engine_init(&e, s->conc);
    setup_register_users(&e, s->base, "sk", s->nonce, "soak", s->nusers, s->conc, tokens, ids);
    for (int i = 0; i < s->nusers; i++) {
        struct user *u = &s->u[i];
        u->token = tokens[i];
        fmt(u->user_id, sizeof(u->user_id), "%s", ids[i]);
        path_escape(u->user_esc, sizeof(u->user_esc), u->user_id);
        for (int k = 0; k < ROOMS_PER_USER && k < s->nrooms; k++) {
            int room = (i + k * step) % s->nrooms;
            bool dup = false;
            for (int j = 0; j < u->nrooms; j++)
                dup |= u->rooms[j] == room;
            if (!dup)
                u->rooms[u->nrooms++] = room;
        }
    }
    free(tokens);
    free(ids);
    bt = (struct setup_batch){
        .ctx = s, .what = "createRoom", .n = s->nrooms, .make = make_room, .take = take_room};
    setup_batch_run(&e, &bt, s->conc < 16 ? s->conc : 16);
    bt = (struct setup_batch){.ctx = s,
                              .what = "join",
                              .n = s->nusers * ROOMS_PER_USER,
                              .make = make_join,
                              .take = take_200};
    setup_batch_run(&e, &bt, s->conc);
    bt = (struct setup_batch){.ctx = s,
                              .what = "sync (first next_batch)",
                              .n = s->nusers,
                              .make = make_first_sync,
                              .take = take_first_sync};
    setup_batch_run(&e, &bt, s->conc);
    engine_free(&e);
}

/* ---- the run ---- */

static void
sync_start(struct soak *s, int i)
{
    struct req *rq = &s->e.slots[i].req;

    memset(rq, 0, sizeof(*rq));
    rq->method = "GET";
    rq->token = s->u[i].token;
    rq->timeout_ms = LP_CURL_TIMEOUT_MS;
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/sync?filter=%s&timeout=%ld&since=%s",
        s->base, s->filter_q, LP_TIMEOUT_MS, s->u[i].since);
    s->e.slots[i].tag = OP_SYNC;
    s->u[i].sync_retry = 0;
    slot_start(&s->e, i);
}

static void
action_start(struct soak *s, int i)
{
    struct user *u = &s->u[i];
    struct slot *sl = &s->e.slots[s->nusers + i];
    struct req *rq = &sl->req;
    struct room *room = &s->r[u->rooms[rnd(s) % (uint64_t)u->nrooms]];
    double pick = rnd01(s);
    enum op op = pick < 0.5 ? OP_SEND : pick < 0.8 ? OP_RECEIPT : OP_TYPING;

    if (op == OP_RECEIPT && !room->last_event[0])
        op = OP_SEND; /* nothing seen sent there yet */
    memset(rq, 0, sizeof(*rq));
    rq->token = u->token;
    switch (op) {
    case OP_SEND: {
        long long us = (long long)(now_s() * 1e6);
        rq->method = "PUT";
        fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/rooms/%s/send/m.room.message/%s.%ld",
            s->base, room->esc, s->nonce, ++s->txn);
        fmt(rq->body, sizeof(rq->body), "{\"msgtype\": \"m.text\", \"body\": \"%s%lld\"}",
            s->marker, us);
        break;
    }
    case OP_RECEIPT: {
        char ev[3 * ID_MAX];
        path_escape(ev, sizeof(ev), room->last_event);
        rq->method = "POST";
        fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/rooms/%s/receipt/m.read/%s", s->base,
            room->esc, ev);
        fmt(rq->body, sizeof(rq->body), "{}");
        break;
    }
    case OP_TYPING:
        rq->method = "PUT";
        fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/rooms/%s/typing/%s", s->base, room->esc,
            u->user_esc);
        fmt(rq->body, sizeof(rq->body), "%s",
            u->typing ? "{\"typing\": true, \"timeout\": 10000}" : "{\"typing\": false}");
        u->typing = !u->typing;
        break;
    default:
        die("internal: bad op");
    }
    /* the room the action went to, for the send's answer: slot tag = op + 16 * room index */
    sl->tag = (long)op + 16L * (long)(room - s->r);
    slot_start(&s->e, s->nusers + i);
}

static void
record(struct soak *s, enum op op, const struct done_info *d, bool ok)
{
    struct stats *st = &s->st[op];

    if (d->t0 < s->measure_from || d->t0 >= s->deadline)
        return; /* warm-up, or the drain after the end */
    if (!ok) {
        if (st->errors++ == 0)
            describe_failure(st->first_error, sizeof(st->first_error), d);
        return;
    }
    st->answers++;
    lat_add(&st->lat, (d->t_end - d->t0) * 1000.0);
}

/* Messages of this run in a sync answer: their send time is in the body. */
static long
deliveries(struct soak *s, const char *body, double t_read)
{
    size_t ml = strlen(s->marker);
    long n = 0;

    for (const char *p = body; (p = strstr(p, s->marker)) != NULL; p += ml) {
        long long us = strtoll(p + ml, NULL, 10);
        double sent = (double)us / 1e6;
        n++;
        if (sent >= s->measure_from && sent < s->deadline)
            lat_add(&s->delivery, (t_read - sent) * 1000.0);
    }
    return n;
}

static void
soak_done(void *ctx, int slot, long tag, const struct done_info *d)
{
    struct soak *s = ctx;
    const char *body = d->body->p ? d->body->p : "";

    if (slot < s->nusers) { /* a long-poll */
        struct user *u = &s->u[slot];
        bool ok = d->status == 200 && json_str(body, "next_batch", u->since, sizeof(u->since));
        record(s, OP_SYNC, d, ok);
        if (ok) {
            long n = deliveries(s, body, d->t_end);
            s->delivered_all += n;
            if (d->t0 >= s->measure_from && d->t0 < s->deadline) {
                s->delivered += n;
                if (n)
                    s->nonempty_syncs++;
            }
        }
        if (s->running) {
            if (ok)
                sync_start(s, slot);
            else
                u->sync_retry = now_s() + 1.0; /* not a tight loop against a failing server */
        }
        return;
    }
    {
        enum op op = (enum op)(tag % 16);
        struct room *room = &s->r[tag / 16];
        bool ok = d->status == 200;
        if (ok && op == OP_SEND)
            json_str(body, "event_id", room->last_event, sizeof(room->last_event));
        record(s, op, d, ok);
    }
}

static void
rss_sample(struct soak *s)
{
    long kb = proc_status_kb(s->pid, "VmRSS"), anon = proc_status_kb(s->pid, "RssAnon");
    double t = now_s() - s->t0, cpu = proc_cpu_s(s->pid);

    if (s->nsamples < MAX_SAMPLES) {
        s->sample_t[s->nsamples] = t;
        s->sample_kb[s->nsamples] = kb;
        s->sample_anon_kb[s->nsamples] = anon;
        s->nsamples++;
    }
    printf("RSS t=%.0f rss_mb=%.1f anon_mb=%.1f file_mb=%.1f server_cpu_s=%.1f sync=%ld send=%ld "
           "receipt=%ld typing=%ld errors=%ld\n",
           t, kb / 1024.0, anon / 1024.0, (kb - anon) / 1024.0, cpu - s->cpu0,
           s->st[OP_SYNC].answers, s->st[OP_SEND].answers, s->st[OP_RECEIPT].answers,
           s->st[OP_TYPING].answers,
           s->st[OP_SYNC].errors + s->st[OP_SEND].errors + s->st[OP_RECEIPT].errors +
               s->st[OP_TYPING].errors);
    fflush(stdout);
}

static void
run(struct soak *s)
{
    double next_sample, now;
    int n = s->nusers;

    engine_init(&s->e, 2 * n);
    for (int k = 0; k < NOPS; k++)
        lat_init(&s->st[k].lat, LAT_CAP);
    lat_init(&s->delivery, LAT_CAP);
    s->t0 = now_s();
    s->measure_from = s->t0 + s->warmup;
    s->deadline = s->t0 + s->warmup + s->seconds;
    s->running = true;
    for (int i = 0; i < n; i++) {
        sync_start(s, i);
        s->u[i].next_action = s->t0 + rnd01(s) * s->interval; /* spread the first actions */
    }
    next_sample = s->t0;
    while ((now = now_s()) < s->deadline) {
        if (s->pid && now >= next_sample) {
            rss_sample(s);
            next_sample += s->sample;
        }
        for (int i = 0; i < n; i++) {
            struct user *u = &s->u[i];
            if (u->sync_retry > 0 && now >= u->sync_retry && !s->e.slots[i].busy)
                sync_start(s, i);
            if (now >= u->next_action && !s->e.slots[n + i].busy) {
                action_start(s, i);
                u->next_action = now + (0.5 + rnd01(s)) * s->interval;
            }
        }
        engine_step(&s->e, 10, soak_done, s);
    }
    /* The end: no new actions or long-polls; the actions in flight are answered. */
    s->running = false;
    for (double t = now_s(); now_s() - t < DRAIN_S;) {
        bool busy = false;
        for (int i = n; i < 2 * n && !busy; i++)
            busy = s->e.slots[i].busy;
        if (!busy)
            break;
        engine_step(&s->e, 10, soak_done, s);
    }
    if (s->pid)
        rss_sample(s);
    engine_free(&s->e); /* the parked long-polls' clients vanish */
}

/* The samples of the measured window (after warm-up): first, last, max, least-squares slope. */
struct trend {
    long first, last, max, m;
    double slope; /* MB per minute */
};

static struct trend
trend(const struct soak *s, const long *kb)
{
    struct trend t = {-1, -1, -1, 0, 0};
    double sx = 0, sy = 0, sxx = 0, sxy = 0;

    for (long i = 0; i < s->nsamples; i++) {
        double x = s->sample_t[i] / 60.0, y = kb[i] / 1024.0;
        if (s->sample_t[i] < s->warmup || kb[i] < 0)
            continue;
        if (t.first < 0)
            t.first = kb[i];
        t.last = kb[i];
        if (kb[i] > t.max)
            t.max = kb[i];
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
        t.m++;
    }
    if (t.m > 1 && t.m * sxx - sx * sx > 0)
        t.slope = (t.m * sxy - sx * sy) / (t.m * sxx - sx * sx);
    return t;
}

static void
report(struct soak *s, long rss_start, long rss_setup)
{
    double secs = s->seconds;
    int rc = 0;

    for (int k = 0; k < NOPS; k++) {
        struct stats *st = &s->st[k];
        lat_sort(&st->lat);
        if (st->errors)
            fprintf(stderr, "# %s: %ld errors, first: %s\n", op_name[k], st->errors,
                    st->first_error);
        printf("OP name=%s answers=%ld errors=%ld per_s=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f "
               "max_ms=%.2f%s\n",
               op_name[k], st->answers, st->errors, st->answers / secs,
               percentile(st->lat.v, st->lat.n, 500), percentile(st->lat.v, st->lat.n, 900),
               percentile(st->lat.v, st->lat.n, 990), lat_max(&st->lat),
               k == OP_SYNC ? " (long-polls: latency is mostly waiting)" : "");
    }
    lat_sort(&s->delivery);
    printf("DELIVERY messages_to_members=%ld per_s=%.1f nonempty_syncs=%ld p50_ms=%.2f "
           "p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
           s->delivered, s->delivered / secs, s->nonempty_syncs,
           percentile(s->delivery.v, s->delivery.n, 500),
           percentile(s->delivery.v, s->delivery.n, 900),
           percentile(s->delivery.v, s->delivery.n, 990), lat_max(&s->delivery));
    if (s->pid) {
        struct trend all = trend(s, s->sample_kb), anon = trend(s, s->sample_anon_kb);
        /* Private memory is what must stay flat: the file-backed part follows the database's
         * memory map, which grows with the data the run adds. */
        bool growth =
            anon.m > 1 && anon.last - anon.first > 2048 && anon.last - anon.first > anon.first / 20;
        printf("MEMORY rss_start_mb=%.1f rss_after_setup_mb=%.1f rss_warm_mb=%.1f "
               "rss_end_mb=%.1f rss_max_mb=%.1f rss_slope_mb_per_min=%.2f anon_warm_mb=%.1f "
               "anon_end_mb=%.1f anon_max_mb=%.1f anon_growth_mb=%.1f anon_slope_mb_per_min=%.2f "
               "samples=%ld verdict=%s\n",
               rss_start / 1024.0, rss_setup / 1024.0, all.first / 1024.0, all.last / 1024.0,
               all.max / 1024.0, all.slope, anon.first / 1024.0, anon.last / 1024.0,
               anon.max / 1024.0, (anon.last - anon.first) / 1024.0, anon.slope, anon.m,
               growth ? "GROWTH" : "flat");
        if (growth) {
            fprintf(stderr,
                    "# WARNING: the server's private memory grew by %.1f MB after warm-up\n",
                    (anon.last - anon.first) / 1024.0);
            rc = 3;
        }
    }
    fflush(stdout);
    if (rc)
        exit(rc);
}

/* ---- main ---- */

static void
usage(void)
{
    fputs("usage: soak [-u USERS] [-r ROOMS] [-d SECONDS] [-w WARMUP] [-a INTERVAL]\n"
          "            [-s SAMPLE] [-c CONCURRENCY] [-P SERVER_PID] BASE_URL\n"
          "  -u N  simulated users (default 500)\n"
          "  -r N  rooms (default 50, at most USERS); each user is in up to 3\n"
          "  -d S  measured seconds after the warm-up (default 180)\n"
          "  -w S  warm-up seconds, not counted (default 30)\n"
          "  -a S  mean seconds between one user's actions (default 5)\n"
          "  -s S  seconds between RSS samples (default 5)\n"
          "  -c N  setup concurrency (default 100)\n"
          "  -P PID  the server process on this machine: RSS and CPU from /proc\n",
          stderr);
    exit(2);
}

int
main(int argc, char **argv)
{
    struct soak s = {0};
    long users = 500, rooms = 50, seconds = 180, warmup = 30, interval = 5, sample = 5;
    long conc = 100, rss_start = -1, rss_setup = -1;
    size_t len;
    int opt;

    while ((opt = getopt(argc, argv, "u:r:d:w:a:s:c:P:h")) != -1) {
        long *dst = NULL, min = 1, max = 100000;
        switch (opt) {
        case 'u':
            dst = &users;
            break;
        case 'r':
            dst = &rooms;
            break;
        case 'd':
            dst = &seconds;
            max = 86400;
            break;
        case 'w':
            dst = &warmup;
            min = 0;
            max = 86400;
            break;
        case 'a':
            dst = &interval;
            max = 3600;
            break;
        case 's':
            dst = &sample;
            max = 3600;
            break;
        case 'c':
            dst = &conc;
            max = 10000;
            break;
        case 'P':
            dst = &s.pid;
            max = LONG_MAX;
            break;
        default:
            usage();
        }
        if (!parse_long(optarg, min, max, dst))
            usage();
    }
    if (optind != argc - 1 || rooms > users)
        usage();
    s.base = xstrdup(argv[optind]);
    len = strlen(s.base);
    while (len > 0 && s.base[len - 1] == '/')
        ((char *)s.base)[--len] = '\0';
    fmt(s.nonce, sizeof(s.nonce), "%lx%lx", (unsigned long)getpid(), (unsigned long)time(NULL));
    fmt(s.marker, sizeof(s.marker), "soak %s t", s.nonce);
    path_escape(s.filter_q, sizeof(s.filter_q), FILTER);
    s.nusers = (int)users;
    s.nrooms = (int)rooms;
    s.conc = (int)conc;
    s.seconds = (double)seconds;
    s.warmup = (double)warmup;
    s.interval = (double)interval;
    s.sample = (double)sample;
    s.rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
    s.u = xcalloc((size_t)s.nusers, sizeof(*s.u));
    s.r = xcalloc((size_t)s.nrooms, sizeof(*s.r));
    s.sample_t = xcalloc(MAX_SAMPLES, sizeof(*s.sample_t));
    s.sample_kb = xcalloc(MAX_SAMPLES, sizeof(*s.sample_kb));
    s.sample_anon_kb = xcalloc(MAX_SAMPLES, sizeof(*s.sample_anon_kb));

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        die("curl_global_init failed");
    if (s.pid)
        rss_start = proc_status_kb(s.pid, "VmRSS");
    {
        double t0 = now_s();
        setup(&s);
        if (s.pid)
            rss_setup = proc_status_kb(s.pid, "VmRSS");
        printf("SETUP users=%d rooms=%d rooms_per_user<=%d seconds=%.1f server_rss_start_mb=%.1f "
               "server_rss_after_setup_mb=%.1f server_peak_rss_mb=%.1f\n",
               s.nusers, s.nrooms, ROOMS_PER_USER, now_s() - t0, rss_start / 1024.0,
               rss_setup / 1024.0, s.pid ? proc_status_kb(s.pid, "VmHWM") / 1024.0 : -1.0);
        fflush(stdout);
    }
    if (s.pid) {
        proc_reset_hwm(s.pid); /* the peak of the run, not of registration's password hashing */
        s.cpu0 = proc_cpu_s(s.pid);
    }
    printf("SOAK users=%d rooms=%d warmup_s=%ld seconds=%ld action_interval_s=%ld "
           "mix=send:50,receipt:30,typing:20 long_poll_ms=%ld\n",
           s.nusers, s.nrooms, warmup, seconds, interval, LP_TIMEOUT_MS);
    fflush(stdout);
    run(&s);
    if (s.pid)
        printf("SERVER peak_rss_mb_run=%.1f cpu_s_run=%.1f threads=%ld sockets=%ld\n",
               proc_status_kb(s.pid, "VmHWM") / 1024.0, proc_cpu_s(s.pid) - s.cpu0,
               proc_status_kb(s.pid, "Threads"), proc_sockets(s.pid));
    report(&s, rss_start, rss_setup);

    curl_global_cleanup();
    for (int i = 0; i < s.nusers; i++)
        free(s.u[i].token);
    for (int k = 0; k < NOPS; k++)
        free(s.st[k].lat.v);
    free(s.delivery.v);
    free(s.u);
    free(s.r);
    free(s.sample_t);
    free(s.sample_kb);
    free(s.sample_anon_kb);
    free((char *)s.base);
    return 0;
}
