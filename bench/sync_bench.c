/* sync_bench: /sync benchmark for a Matrix homeserver (issue 4, "Speed").
 *
 * One thread, one easy handle per simulated client, keep-alive connections throughout (the
 * style of send_bench.c; the helpers and the engine are in benchlib.c). Unlike send_bench, the
 * transfers run on libcurl's socket interface (curl_multi_socket_action) over epoll, so a
 * thousand parked long-polls cost the generator nothing per event: curl_multi_perform and
 * curl_multi_poll walk every transfer on each call, which made the client, not the server, the
 * bottleneck. The waiters, the measuring clients (sender, incremental syncer) and the capacity
 * probe each have their own multi handle, so they never take each other's cached connections.
 * Setup (not measured): registers ROOM_USERS + WAITERS users, user 0 creates ROOMS public rooms
 * that the other room users join, EVENTS messages per room spread over the members; one shared
 * room that every waiter joins, and one room per waiter shared with the sender (user 1). Then:
 *
 *   INITIAL_SYNC      user 0's initial /sync (timeline limit 10, lazy-loaded members), repeated
 *   INCREMENTAL_SYNC  user 0's /sync?since=...&timeout=0 in a closed loop, with 0 and with
 *                     WAITERS long-polls parked
 *   WAKE              parked long-polls (/sync?since=...&timeout=30000) woken by a message:
 *                     shared_room (one send wakes all N) and pair_rooms (one send wakes one)
 *   MEMORY            server VmRSS with the waiters parked minus before they connected
 *   CAPACITY          extra connections attempted while the waiters are parked
 *
 * Every loop is bounded: request caps, phase deadlines, per-request timeouts.
 *
 * Build: cc -O2 -std=c17 -Wall -Wextra bench/sync_bench.c bench/benchlib.c -lcurl \
 *            -o bench/build/sync_bench
 */
#define _POSIX_C_SOURCE 200809L

#include "benchlib.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LP_TIMEOUT_MS 30000L /* the long-polls' timeout= */
#define LP_CURL_TIMEOUT_MS 60000L
#define PROBE_TIMEOUT_MS 3000L
#define ROUND_LIMIT_S 10.0 /* a wake round gives up on missing wakes after this */
#define FILTER "{\"room\":{\"timeline\":{\"limit\":10},\"state\":{\"lazy_load_members\":true}}}"

struct bench {
    const char *base; /* base URL, no trailing slash */
    char nonce[32];
    int room_users, waiters, nusers; /* users 0..room_users-1, then the waiters */
    char **tokens;
    int nrooms, events;
    char (*rooms)[ID_MAX];
    char shared_room[ID_MAX];
    char (*pair_rooms)[ID_MAX]; /* per waiter, shared with the sender */
    char (*wtokens)[ID_MAX];    /* per waiter: its latest next_batch */
    char big_token[ID_MAX];     /* user 0's next_batch */
    char filter_q[512];         /* FILTER, percent-encoded */
    long server_pid;            /* 0: not watched */
    int conc;                   /* setup concurrency */
};

#define SENDER 1 /* user index of the sender of the wake-up phases */

const char *bench_prog = "sync_bench";

/* ---- setup: batches of independent requests, each checked by a `take` function ---- */

/* The bench a setup batch works for. */
#define B(bt) ((struct bench *)(bt)->ctx)

static void
batch_run(struct bench *b, struct engine *e, struct setup_batch *bt, int concurrency)
{
    bt->ctx = b;
    setup_batch_run(e, bt, concurrency);
}

static void
make_versions(struct setup_batch *bt, int i, struct req *rq)
{
    (void)i;
    rq->method = "GET";
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/versions", B(bt)->base);
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
create_room_req(struct setup_batch *bt, struct req *rq, int user, const char *name, int i)
{
    rq->method = "POST";
    rq->token = B(bt)->tokens[user];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/createRoom", B(bt)->base);
    fmt(rq->body, sizeof(rq->body), "{\"preset\": \"public_chat\", \"name\": \"%s %d\"}", name, i);
}

static void
join_req(struct setup_batch *bt, struct req *rq, int user, const char *room_id)
{
    char esc[3 * ID_MAX];

    path_escape(esc, sizeof(esc), room_id);
    rq->method = "POST";
    rq->token = B(bt)->tokens[user];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/join/%s", B(bt)->base, esc);
    fmt(rq->body, sizeof(rq->body), "{}");
}

/* The 100 rooms of the initial-sync account: user 0 creates them all. */
static void
make_big_room(struct setup_batch *bt, int i, struct req *rq)
{
    create_room_req(bt, rq, 0, "sync bench", i);
}

static bool
take_big_room(struct setup_batch *bt, int i, long status, const char *body)
{
    return status == 200 && json_str(body, "room_id", B(bt)->rooms[i], ID_MAX);
}

/* Join k: room k % rooms, user 1 + k / rooms (concurrent joins go to different rooms). */
static void
make_big_join(struct setup_batch *bt, int k, struct req *rq)
{
    join_req(bt, rq, 1 + k / B(bt)->nrooms, B(bt)->rooms[k % B(bt)->nrooms]);
}

/* Event k: room r = k % rooms, the room's j-th message, sent by member (j + r) % room_users. */
static void
make_big_send(struct setup_batch *bt, int k, struct req *rq)
{
    struct bench *b = B(bt);
    int r = k % b->nrooms, j = k / b->nrooms;
    char esc[3 * ID_MAX];

    path_escape(esc, sizeof(esc), b->rooms[r]);
    rq->method = "PUT";
    rq->token = b->tokens[(j + r) % b->room_users];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/rooms/%s/send/m.room.message/%s.s%d",
        b->base, esc, b->nonce, k);
    fmt(rq->body, sizeof(rq->body),
        "{\"msgtype\": \"m.text\", \"body\": \"setup message %d of room %d, a line of chat "
        "about as long as a typical one\"}",
        j, r);
}

static void
make_shared_room(struct setup_batch *bt, int i, struct req *rq)
{
    create_room_req(bt, rq, SENDER, "sync bench shared", i);
}

static bool
take_shared_room(struct setup_batch *bt, int i, long status, const char *body)
{
    (void)i;
    return status == 200 && json_str(body, "room_id", B(bt)->shared_room, ID_MAX);
}

static void
make_shared_join(struct setup_batch *bt, int w, struct req *rq)
{
    join_req(bt, rq, B(bt)->room_users + w, B(bt)->shared_room);
}

static void
make_pair_room(struct setup_batch *bt, int w, struct req *rq)
{
    create_room_req(bt, rq, SENDER, "sync bench pair", w);
}

static bool
take_pair_room(struct setup_batch *bt, int w, long status, const char *body)
{
    return status == 200 && json_str(body, "room_id", B(bt)->pair_rooms[w], ID_MAX);
}

static void
make_pair_join(struct setup_batch *bt, int w, struct req *rq)
{
    join_req(bt, rq, B(bt)->room_users + w, B(bt)->pair_rooms[w]);
}

/* A waiter's first sync (timeout=0): its starting next_batch. */
static void
make_wtoken(struct setup_batch *bt, int w, struct req *rq)
{
    rq->method = "GET";
    rq->token = B(bt)->tokens[B(bt)->room_users + w];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/sync?filter=%s&timeout=0", B(bt)->base,
        B(bt)->filter_q);
}

static bool
take_wtoken(struct setup_batch *bt, int w, long status, const char *body)
{
    return status == 200 && json_str(body, "next_batch", B(bt)->wtokens[w], ID_MAX);
}

static void
setup(struct bench *b, struct engine *e)
{
    double t0 = now_s();
    int c = b->conc;
    struct setup_batch bt;

    bt = (struct setup_batch){
        .what = "GET /versions", .n = 1, .make = make_versions, .take = take_200};
    batch_run(b, e, &bt, 1);

    b->tokens = xcalloc((size_t)b->nusers, sizeof(*b->tokens));
    setup_register_users(e, b->base, "sb", b->nonce, "sync_bench", b->nusers, c, b->tokens, NULL);

    b->rooms = xcalloc((size_t)b->nrooms, sizeof(*b->rooms));
    bt = (struct setup_batch){.what = "createRoom (user 0's rooms)",
                              .n = b->nrooms,
                              .make = make_big_room,
                              .take = take_big_room};
    batch_run(b, e, &bt, c);
    bt = (struct setup_batch){.what = "join (user 0's rooms)",
                              .n = b->nrooms * (b->room_users - 1),
                              .make = make_big_join,
                              .take = take_200};
    batch_run(b, e, &bt, c);
    bt = (struct setup_batch){.what = "send (user 0's rooms)",
                              .n = b->nrooms * b->events,
                              .make = make_big_send,
                              .take = take_200};
    batch_run(b, e, &bt, c);

    bt = (struct setup_batch){.what = "createRoom (shared room)",
                              .n = 1,
                              .make = make_shared_room,
                              .take = take_shared_room};
    batch_run(b, e, &bt, 1);
    bt = (struct setup_batch){
        .what = "join (shared room)", .n = b->waiters, .make = make_shared_join, .take = take_200};
    batch_run(b, e, &bt, c);
    b->pair_rooms = xcalloc((size_t)b->waiters, sizeof(*b->pair_rooms));
    bt = (struct setup_batch){.what = "createRoom (pair rooms)",
                              .n = b->waiters,
                              .make = make_pair_room,
                              .take = take_pair_room};
    batch_run(b, e, &bt, c);
    bt = (struct setup_batch){
        .what = "join (pair rooms)", .n = b->waiters, .make = make_pair_join, .take = take_200};
    batch_run(b, e, &bt, c);
    b->wtokens = xcalloc((size_t)b->waiters, sizeof(*b->wtokens));
    bt = (struct setup_batch){.what = "sync (waiters' first next_batch)",
                              .n = b->waiters,
                              .make = make_wtoken,
                              .take = take_wtoken};
    batch_run(b, e, &bt, c);

    printf("SETUP users=%d rooms=%d members=%d events_per_room=%d waiters=%d seconds=%.1f",
           b->nusers, b->nrooms, b->room_users, b->events, b->waiters, now_s() - t0);
    if (b->server_pid)
        printf(" server_rss_mb=%ld server_peak_rss_mb=%ld",
               proc_status_kb(b->server_pid, "VmRSS") / 1024,
               proc_status_kb(b->server_pid, "VmHWM") / 1024);
    printf("\n");
    fflush(stdout);
}

/* ---- 1. initial sync of user 0 ---- */

struct isync {
    struct bench *b;
    int n, issued;
    double cold_ms;
    struct lat lat;
    long errors, bytes, rooms, messages, members;
    char first_error[256];
};

static bool
isync_next(void *ctx, int slot, struct req *rq, long *tag)
{
    struct isync *is = ctx;

    (void)slot;
    if (is->issued > is->n) /* the first one is the cold run, then n measured */
        return false;
    *tag = is->issued++;
    memset(rq, 0, sizeof(*rq));
    rq->method = "GET";
    rq->token = is->b->tokens[0];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/sync?filter=%s", is->b->base,
        is->b->filter_q);
    return true;
}

static void
isync_done(void *ctx, int slot, long tag, const struct done_info *d)
{
    struct isync *is = ctx;
    double ms = (d->t_end - d->t0) * 1000.0;
    const char *body = d->body->p ? d->body->p : "";

    (void)slot;
    if (tag == 0)
        is->cold_ms = ms;
    else
        lat_add(&is->lat, ms);
    if (d->status != 200 || !json_str(body, "next_batch", is->b->big_token, ID_MAX)) {
        if (is->errors++ == 0)
            describe_failure(is->first_error, sizeof(is->first_error), d);
        return;
    }
    /* Every joined room has a timeline with "limited"; nothing else does. */
    is->bytes = (long)d->body->len;
    is->rooms = count_str(body, "\"limited\"");
    is->messages = count_str(body, "\"m.room.message\"");
    is->members = count_str(body, "\"m.room.member\"");
}

static void
initial_sync(struct bench *b, struct engine *e, int n)
{
    struct isync is = {.b = b, .n = n};
    double s0 = b->server_pid ? proc_cpu_s(b->server_pid) : -1, t0 = now_s(), elapsed;
    char server[64] = "";

    lat_init(&is.lat, n);
    engine_run(e, 1, isync_next, isync_done, &is);
    elapsed = now_s() - t0;
    if (b->server_pid && s0 >= 0)
        fmt(server, sizeof(server), " server_cpu_ms_per_sync=%.1f",
            (proc_cpu_s(b->server_pid) - s0) * 1000.0 / (n + 1));
    lat_sort(&is.lat);
    if (is.errors)
        fprintf(stderr, "# initial sync: %ld errors, first: %s\n", is.errors, is.first_error);
    printf("INITIAL_SYNC rooms=%d members=%d events_per_room=%d timeline_limit=10 lazy_members=1 "
           "syncs=%ld errors=%ld cold_ms=%.2f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f bytes=%ld "
           "joined_rooms=%ld timeline_messages=%ld member_events=%ld seconds=%.2f%s\n",
           b->nrooms, b->room_users, b->events, is.lat.n, is.errors, is.cold_ms,
           percentile(is.lat.v, is.lat.n, 500), percentile(is.lat.v, is.lat.n, 990),
           lat_max(&is.lat), is.bytes, is.rooms, is.messages, is.members, elapsed, server);
    fflush(stdout);
    if (is.rooms != b->nrooms)
        fprintf(stderr, "# initial sync: expected %d joined rooms, counted %ld\n", b->nrooms,
                is.rooms);
    free(is.lat.v);
}

/* ---- 2-4: parked long-polls ---- */

struct wait {
    struct bench *b;
    struct engine e;
    int nw;             /* waiter slots 0..nw-1 */
    int sender, syncer; /* slots nw, nw + 1 */
    int probe0, nprobe; /* slots nw + 2 ... */
    bool *want;         /* per waiter: keep it parked */
    bool *first;        /* per waiter: its first long-poll since park() */
    int *woke;          /* per waiter: last round whose marker it received */
    int woke_count;     /* waiters that received the current round's marker */
    double *wake_t;     /* per waiter: when that response arrived */
    /* the current wake round */
    int round;
    char marker[128]; /* `<body>"`: found in a sync response carrying the round's message */
    double t_put, t_200;
    bool send_done;
    long send_status;
    char send_error[256];
    /* waiter answers that carried no marker */
    long early, expired, catchup, presence, errors;
    char first_error[256];
    /* the incremental-sync client */
    bool inc_on;
    double inc_deadline;
    struct lat inc;
    long inc_errors, inc_nonempty;
    char inc_token[ID_MAX], inc_error[256];
    /* the capacity probe */
    long probe_ok, probe_fail;
    char probe_error[256];
};

static void
waiter_start(struct wait *w, int i)
{
    struct bench *b = w->b;
    struct req *rq = &w->e.slots[i].req;
    char since[3 * ID_MAX];

    memset(rq, 0, sizeof(*rq));
    path_escape(since, sizeof(since), b->wtokens[i]);
    rq->method = "GET";
    rq->token = b->tokens[b->room_users + i];
    rq->timeout_ms = LP_CURL_TIMEOUT_MS;
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/sync?filter=%s&timeout=%ld&since=%s",
        b->base, b->filter_q, LP_TIMEOUT_MS, since);
    slot_start(&w->e, i);
}

static void
syncer_start(struct wait *w)
{
    struct bench *b = w->b;
    struct req *rq = &w->e.slots[w->syncer].req;
    char since[3 * ID_MAX];

    memset(rq, 0, sizeof(*rq));
    path_escape(since, sizeof(since), w->inc_token);
    rq->method = "GET";
    rq->token = b->tokens[0];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/sync?filter=%s&timeout=0&since=%s", b->base,
        b->filter_q, since);
    slot_start(&w->e, w->syncer);
}

static void
wait_done(void *ctx, int i, long tag, const struct done_info *d)
{
    struct wait *w = ctx;
    const char *body = d->body->p ? d->body->p : "";
    bool ok = d->status == 200;

    (void)tag;
    if (i < w->nw && !w->want[i]) {
        /* a connection being opened (GET /versions) for the idle-connection figure */
        if (!ok && w->errors++ == 0)
            describe_failure(w->first_error, sizeof(w->first_error), d);
    } else if (i < w->nw) {
        if (ok && !json_str(body, "next_batch", w->b->wtokens[i], ID_MAX))
            ok = false;
        if (!ok) {
            if (w->errors++ == 0)
                describe_failure(w->first_error, sizeof(w->first_error), d);
        } else if (w->round > 0 && strstr(body, w->marker)) {
            w->woke[i] = w->round;
            w->wake_t[i] = d->t_end;
            w->woke_count++;
        } else if (d->t_end - d->t0 >= LP_TIMEOUT_MS / 1000.0 - 0.5) {
            w->expired++;
        } else if (w->first[i]) {
            w->catchup++; /* its token predates earlier rounds: it catches up at once */
        } else if (strstr(body, "\"m.presence\"")) {
            w->presence++; /* woken by another user's presence change */
        } else {
            w->early++; /* answered without the message it waits for: a spurious wake */
        }
        w->first[i] = false;
        if (!ok && w->errors > 1000) /* do not spin on a failing server */
            die("waiters: %ld failed long-polls, first: %s", w->errors, w->first_error);
        if (w->want[i])
            waiter_start(w, i);
    } else if (i == w->sender) {
        w->send_done = true;
        w->send_status = d->status;
        w->t_200 = d->t_end;
        if (d->status != 200)
            describe_failure(w->send_error, sizeof(w->send_error), d);
    } else if (i == w->syncer) {
        if (!w->inc_on)
            return; /* the connection warm-up */
        lat_add(&w->inc, (d->t_end - d->t0) * 1000.0);
        if (!ok || !json_str(body, "next_batch", w->inc_token, ID_MAX)) {
            if (w->inc_errors++ == 0)
                describe_failure(w->inc_error, sizeof(w->inc_error), d);
        } else if (strstr(body, "\"timeline\"")) {
            w->inc_nonempty++;
        }
        if (now_s() < w->inc_deadline && w->inc.n < w->inc.cap)
            syncer_start(w);
    } else {
        if (ok) {
            w->probe_ok++;
        } else if (w->probe_fail++ == 0) {
            describe_failure(w->probe_error, sizeof(w->probe_error), d);
        }
    }
}

static void
wait_step(struct wait *w, int ms)
{
    engine_step(&w->e, ms, wait_done, w);
}

static void
pump_for(struct wait *w, double seconds)
{
    double end = now_s() + seconds;

    while (now_s() < end) {
        int ms = (int)((end - now_s()) * 1000.0);
        wait_step(w, ms < 1 ? 1 : ms > POLL_MS ? POLL_MS : ms);
    }
}

/* Waits until the server has stopped working: its CPU time unchanged over 100 ms (two
 * samples 50 ms apart, clock ticks of 10 ms), at least min_s, at most 10 s. Without -P, a
 * fixed pause. */
static void
settle(struct wait *w, double min_s)
{
    double t0 = now_s(), c_prev = -2, c_prev2 = -3;
    long pid = w->b->server_pid;

    if (!pid) {
        pump_for(w, min_s + 0.3 + w->nw * 0.0005);
        return;
    }
    while (now_s() - t0 < 10.0) {
        double c = proc_cpu_s(pid);
        if (now_s() - t0 >= min_s && c == c_prev && c_prev == c_prev2)
            return;
        c_prev2 = c_prev;
        c_prev = c;
        pump_for(w, 0.05);
    }
    fprintf(stderr, "# settle: the server was still busy after 10 s\n");
}

/* Waits until waiters [0, n) all have a long-poll in flight that will not expire within
 * `horizon_s`, then for the server to settle (min_settle_s < 0: only if it had to wait). */
static void
ready(struct wait *w, int n, double horizon_s, double min_settle_s)
{
    double deadline = now_s() + LP_TIMEOUT_MS / 1000.0 + 15.0;
    bool waited = false;

    for (;;) {
        double now = now_s();
        bool ok = true;
        for (int i = 0; i < n && ok; i++) {
            struct slot *s = &w->e.slots[i];
            ok = s->busy && now - s->t0 < LP_TIMEOUT_MS / 1000.0 - horizon_s;
        }
        if (ok)
            break;
        if (now > deadline)
            die("waiters not parked after %.0f s", LP_TIMEOUT_MS / 1000.0 + 15.0);
        wait_step(w, 10);
        waited = true;
    }
    if (min_settle_s >= 0)
        settle(w, min_settle_s);
    else if (waited)
        settle(w, 0.05);
}

static void
park(struct wait *w, int from, int to)
{
    for (int i = from; i < to; i++) {
        w->want[i] = true;
        w->first[i] = true;
        waiter_start(w, i);
    }
}

static void
send_marker(struct wait *w, const char *room_id, const char *what, int round)
{
    struct bench *b = w->b;
    struct req *rq = &w->e.slots[w->sender].req;
    char esc[3 * ID_MAX], text[96];

    fmt(text, sizeof(text), "syncbench %s %s %d", b->nonce, what, round);
    fmt(w->marker, sizeof(w->marker), "%s\"", text);
    memset(rq, 0, sizeof(*rq));
    path_escape(esc, sizeof(esc), room_id);
    rq->method = "PUT";
    rq->token = b->tokens[SENDER];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/rooms/%s/send/m.room.message/%s.%s%d",
        b->base, esc, b->nonce, what, round);
    fmt(rq->body, sizeof(rq->body), "{\"msgtype\": \"m.text\", \"body\": \"%s\"}", text);
    w->round = round;
    w->woke_count = 0;
    w->send_done = false;
    w->send_status = 0;
    w->t_put = now_s();
    slot_start(&w->e, w->sender);
}

struct wake_stats {
    struct lat lat, from200, slowest, send;
    long missed, send_errors;
    int over5;      /* rounds whose slowest wake took more than 5 ms (the target) */
    double t_start; /* when the phase began, for the slow rounds' report */
    long early0, presence0, expired0, errors0; /* the waiters' counters at the start */
    double client_cpu, server_cpu;
    int rounds;
};

static void
wake_stats_init(struct wake_stats *ws, const struct wait *w, long samples, int rounds)
{
    memset(ws, 0, sizeof(*ws));
    ws->early0 = w->early;
    ws->presence0 = w->presence;
    ws->expired0 = w->expired;
    ws->errors0 = w->errors;
    ws->t_start = now_s();
    lat_init(&ws->lat, samples);
    lat_init(&ws->from200, samples);
    lat_init(&ws->slowest, rounds);
    lat_init(&ws->send, rounds);
}

static void
wake_stats_print(struct wait *w, struct wake_stats *ws, const char *mode, int n)
{
    char cpu[96] = "";

    lat_sort(&ws->lat);
    lat_sort(&ws->from200);
    lat_sort(&ws->slowest);
    lat_sort(&ws->send);
    if (w->b->server_pid && ws->rounds)
        fmt(cpu, sizeof(cpu), " server_cpu_ms_per_round=%.1f",
            ws->server_cpu * 1000.0 / ws->rounds);
    printf("WAKE mode=%s waiters=%d rounds=%d wakes=%ld missed=%ld p50_ms=%.2f p99_ms=%.2f "
           "max_ms=%.2f after200_p50_ms=%.2f after200_p99_ms=%.2f round_last_p50_ms=%.2f "
           "round_last_max_ms=%.2f send_p50_ms=%.2f send_p99_ms=%.2f send_max_ms=%.2f "
           "rounds_over_5ms=%d send_errors=%ld early=%ld "
           "presence=%ld expired=%ld errors=%ld client_cpu_ms_per_round=%.1f%s\n",
           mode, n, ws->rounds, ws->lat.n, ws->missed, percentile(ws->lat.v, ws->lat.n, 500),
           percentile(ws->lat.v, ws->lat.n, 990), lat_max(&ws->lat),
           percentile(ws->from200.v, ws->from200.n, 500),
           percentile(ws->from200.v, ws->from200.n, 990),
           percentile(ws->slowest.v, ws->slowest.n, 500), lat_max(&ws->slowest),
           percentile(ws->send.v, ws->send.n, 500), percentile(ws->send.v, ws->send.n, 990),
           lat_max(&ws->send), ws->over5, ws->send_errors, w->early - ws->early0,
           w->presence - ws->presence0, w->expired - ws->expired0, w->errors - ws->errors0,
           ws->rounds ? ws->client_cpu * 1000.0 / ws->rounds : 0.0, cpu);
    fflush(stdout);
    free(ws->lat.v);
    free(ws->from200.v);
    free(ws->slowest.v);
    free(ws->send.v);
}

/* One message, waiters [from, to) expected to wake; records the round's figures. */
static void
wake_round(struct wait *w, struct wake_stats *ws, const char *room_id, const char *what, int round,
           int from, int to)
{
    double c0 = cpu_s(), s0 = w->b->server_pid ? proc_cpu_s(w->b->server_pid) : 0, end, last = 0;
    int missing;
    struct lat r;

    send_marker(w, room_id, what, round);
    end = w->t_put + ROUND_LIMIT_S;
    while (!(w->send_done && w->woke_count >= to - from) && now_s() <= end)
        wait_step(w, 5);
    while (!w->send_done) /* its own timeout bounds this */
        wait_step(w, 5);
    ws->client_cpu += cpu_s() - c0;
    if (w->b->server_pid)
        ws->server_cpu += proc_cpu_s(w->b->server_pid) - s0;
    ws->rounds++;
    lat_add(&ws->send, (w->t_200 - w->t_put) * 1000.0);
    if (w->send_status != 200 && ws->send_errors++ == 0)
        fprintf(stderr, "# wake %s %d: send failed: %s\n", what, round, w->send_error);
    lat_init(&r, to - from);
    for (int i = from; i < to; i++) {
        if (w->woke[i] != round)
            continue;
        lat_add(&ws->lat, (w->wake_t[i] - w->t_put) * 1000.0);
        lat_add(&ws->from200, (w->wake_t[i] - w->t_200) * 1000.0);
        lat_add(&r, (w->wake_t[i] - w->t_put) * 1000.0);
        if (w->wake_t[i] - w->t_put > last)
            last = w->wake_t[i] - w->t_put;
    }
    missing = (to - from) - (int)r.n;
    ws->missed += missing;
    if (r.n)
        lat_add(&ws->slowest, last * 1000.0);
    if (last * 1000.0 > 5.0)
        ws->over5++;
    lat_sort(&r);
    if (to - from > 1 || missing)
        fprintf(stderr, "# wake %s %d: %ld/%d woke, p50 %.2f max %.2f ms, send %.2f ms%s\n", what,
                round, r.n, to - from, percentile(r.v, r.n, 500), lat_max(&r),
                (w->t_200 - w->t_put) * 1000.0, missing ? " (MISSED SOME)" : "");
    else if (last * 1000.0 > 5.0) /* which rounds miss the target, and when in the phase */
        fprintf(stderr, "# wake %s %d: %.2f ms (send %.2f ms) at %.2f s into the phase\n", what,
                round, last * 1000.0, (w->t_200 - w->t_put) * 1000.0, w->t_put - ws->t_start);
    free(r.v);
    w->round = 0;
}

/* All n waiters in the shared room: one message wakes them all. */
static void
wake_shared(struct wait *w, int n, int rounds, int *round_no)
{
    struct wake_stats ws;

    wake_stats_init(&ws, w, (long)n * rounds, rounds);
    for (int r = 0; r < rounds; r++) {
        ready(w, n, ROUND_LIMIT_S, 0.05);
        wake_round(w, &ws, w->b->shared_room, "shared", ++*round_no, 0, n);
    }
    wake_stats_print(w, &ws, "shared_room", n);
}

/* One room per waiter, shared with the sender: each message wakes one waiter, the others stay
 * parked. Targets are spread over the waiters, none twice. */
static void
wake_pairs(struct wait *w, int n, int rounds, int *round_no)
{
    struct wake_stats ws;

    if (rounds > n)
        rounds = n;
    wake_stats_init(&ws, w, rounds, rounds);
    ready(w, n, 5.0, 0.05);
    for (int q = 0; q < rounds; q++) {
        int i = (int)((long)q * n / rounds);
        /* The previous target re-parks; long-polls close to expiry are let expire first
         * (all waiters: 1,000 expiring at once are a burst of work for the server). */
        pump_for(w, 0.02);
        ready(w, n, 1.0, -1);
        wake_round(w, &ws, w->b->pair_rooms[i], "pair", ++*round_no, i, i + 1);
    }
    wake_stats_print(w, &ws, "pair_rooms", n);
}

static void
incremental(struct wait *w, int waiting, double seconds)
{
    double t0, elapsed, s0 = w->b->server_pid ? proc_cpu_s(w->b->server_pid) : -1;
    char server[64] = "";
    long e0 = w->early + w->presence, r0 = w->errors;

    w->inc_on = true;
    w->inc.n = 0;
    w->inc_errors = w->inc_nonempty = 0;
    t0 = now_s();
    w->inc_deadline = t0 + seconds;
    syncer_start(w);
    while (w->e.slots[w->syncer].busy)
        wait_step(w, POLL_MS);
    elapsed = now_s() - t0;
    w->inc_on = false;
    if (s0 >= 0 && elapsed > 0)
        fmt(server, sizeof(server), " server_cpu=%.0f%%",
            100.0 * (proc_cpu_s(w->b->server_pid) - s0) / elapsed);
    lat_sort(&w->inc);
    if (w->inc_errors)
        fprintf(stderr, "# incremental sync: %ld errors, first: %s\n", w->inc_errors, w->inc_error);
    printf("INCREMENTAL_SYNC waiting=%d rooms=%d requests=%ld errors=%ld nonempty=%ld seconds=%.2f "
           "rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f waiter_wakes=%ld waiter_errors=%ld%s\n",
           waiting, w->b->nrooms, w->inc.n, w->inc_errors, w->inc_nonempty, elapsed,
           elapsed > 0 ? (double)w->inc.n / elapsed : 0.0, percentile(w->inc.v, w->inc.n, 500),
           percentile(w->inc.v, w->inc.n, 990), lat_max(&w->inc), w->early + w->presence - e0,
           w->errors - r0, server);
    fflush(stdout);
}

/* New connections while the waiters are parked: does the server still take them? Each probe
 * opens its own connection and keeps it (idle, keep-alive) until all have answered or timed
 * out, so they add up; then they are all closed. */
static void
capacity_probe(struct wait *w, int parked)
{
    struct bench *b = w->b;
    long socks_before = b->server_pid ? proc_sockets(b->server_pid) : -1, socks_max = socks_before;
    long socks_after = -1;
    double t0 = now_s();

    w->probe_ok = w->probe_fail = 0;
    for (int k = 0; k < w->nprobe; k++) {
        struct req *rq = &w->e.slots[w->probe0 + k].req;
        memset(rq, 0, sizeof(*rq));
        rq->method = "GET";
        rq->fresh = true;
        rq->timeout_ms = PROBE_TIMEOUT_MS;
        fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/versions", b->base);
        slot_start(&w->e, w->probe0 + k);
    }
    for (;;) {
        bool busy = false;
        for (int k = 0; k < w->nprobe; k++)
            busy |= w->e.slots[w->probe0 + k].busy;
        if (b->server_pid) {
            long s = proc_sockets(b->server_pid);
            if (s > socks_max)
                socks_max = s;
        }
        if (!busy || now_s() - t0 > PROBE_TIMEOUT_MS / 1000.0 + 5)
            break;
        wait_step(w, 20);
    }
    group_reset(&w->e, G_PROBE);
    pump_for(w, 0.5);
    if (b->server_pid)
        socks_after = proc_sockets(b->server_pid);
    if (w->probe_fail)
        fprintf(stderr, "# capacity probe: %ld of %d new connections failed, first: %s\n",
                w->probe_fail, w->nprobe, w->probe_error);
    printf("CAPACITY parked=%d measuring_conns=2 extra_tried=%d extra_answered=%ld "
           "extra_failed=%ld server_sockets_before=%ld server_sockets_max=%ld "
           "server_sockets_after_close=%ld first_failure=\"%s\"\n",
           parked, w->nprobe, w->probe_ok, w->probe_fail, socks_before, socks_max, socks_after,
           w->probe_fail ? w->probe_error : "");
    fflush(stdout);
}

static long
rss_kb(struct wait *w)
{
    return w->b->server_pid ? proc_status_kb(w->b->server_pid, "VmRSS") : -1;
}

/* The server hands freed heap back to the kernel every 10 s (malloc_trim in src/main.c);
 * until then RSS holds whatever the last burst freed (the registrations' password hashing,
 * the catch-up polls), which made the difference of two readings meaningless. A settled
 * reading waits until the server is idle (settle), then long enough for one trim to have run. */
#define TRIM_WAIT_S 10.5

static long
rss_settled_kb(struct wait *w, long *anon_kb)
{
    *anon_kb = -1;
    if (!w->b->server_pid)
        return -1;
    settle(w, 0.1); /* what is still being computed is not yet freed */
    pump_for(w, TRIM_WAIT_S);
    /* VmRSS also counts file pages (the libraries); the heap is RssAnon. */
    *anon_kb = proc_status_kb(w->b->server_pid, "RssAnon");
    return rss_kb(w);
}

static void
waiting_phases(struct bench *b, int small, int rounds, int big_rounds, int pair_rounds,
               double inc_seconds, int nprobe)
{
    struct wait w = {.b = b, .nw = b->waiters, .nprobe = nprobe};
    long pid = b->server_pid;
    long rss0, rss0_raw, rss_small, rss_small_after, rss_idle, rss_all, rss_all_raw;
    long anon0 = -1, anon_all = -1;
    long socks0 = -1, socks_idle = -1, socks_all = -1;
    int round_no = 0;

    w.sender = w.nw;
    w.syncer = w.nw + 1;
    w.probe0 = w.nw + 2;
    engine_init(&w.e, w.nw + 2 + nprobe);
    w.e.slots[w.sender].group = w.e.slots[w.syncer].group = G_MEASURE;
    for (int k = 0; k < nprobe; k++)
        w.e.slots[w.probe0 + k].group = G_PROBE;
    w.want = xcalloc((size_t)w.nw, sizeof(*w.want));
    w.first = xcalloc((size_t)w.nw, sizeof(*w.first));
    w.woke = xcalloc((size_t)w.nw, sizeof(*w.woke));
    w.wake_t = xcalloc((size_t)w.nw, sizeof(*w.wake_t));
    lat_init(&w.inc, 200000);
    fmt(w.inc_token, sizeof(w.inc_token), "%s", b->big_token);
    if (small > w.nw)
        small = w.nw;

    /* The sender's and the syncer's connections first. */
    for (int i = w.sender; i <= w.syncer; i++) {
        struct req *rq = &w.e.slots[i].req;
        memset(rq, 0, sizeof(*rq));
        rq->method = "GET";
        fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/versions", b->base);
        slot_start(&w.e, i);
    }
    while (w.e.active > 0)
        wait_step(&w, POLL_MS);

    /* 4a. incremental sync, nobody waiting */
    incremental(&w, 0, inc_seconds);

    /* Baseline: the setup connections are closed (MHD frees them), nothing parked; read
     * after a trim (rss_settled_kb), as is the reading with all parked that it is taken from. */
    pump_for(&w, 1.0);
    rss0_raw = rss_kb(&w);
    rss0 = rss_settled_kb(&w, &anon0);
    if (pid)
        socks0 = proc_sockets(pid);

    /* 2a. wake-up, `small` waiters parked */
    park(&w, 0, small);
    ready(&w, small, 5.0, 0.2);
    rss_small = rss_kb(&w);
    wake_shared(&w, small, rounds, &round_no);
    settle(&w, 0.2);
    rss_small_after = rss_kb(&w);

    /* 3. memory: the other waiters connect (idle keep-alive connections), then park */
    for (int i = small; i < w.nw; i++) {
        struct req *rq = &w.e.slots[i].req;
        memset(rq, 0, sizeof(*rq));
        rq->method = "GET";
        fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/versions", b->base);
        slot_start(&w.e, i);
    }
    for (double t0 = now_s(); now_s() - t0 < REQ_TIMEOUT_MS / 1000.0 + 5;) {
        bool busy = false;
        for (int i = small; i < w.nw && !busy; i++)
            busy = w.e.slots[i].busy;
        if (!busy)
            break;
        wait_step(&w, 10);
    }
    settle(&w, 0.3);
    rss_idle = rss_kb(&w);
    if (pid)
        socks_idle = proc_sockets(pid);
    park(&w, small, w.nw);
    /* none may expire (and re-poll) during the settled reading */
    ready(&w, w.nw, TRIM_WAIT_S + 1.0, 0.5);
    rss_all_raw = rss_kb(&w);
    rss_all = rss_settled_kb(&w, &anon_all);
    if (pid) {
        double c0, t0 = now_s(), idle_cpu;
        int more = w.nw - small;
        socks_all = proc_sockets(pid);
        c0 = proc_cpu_s(pid);
        pump_for(&w, 2.0);
        idle_cpu = 100.0 * (proc_cpu_s(pid) - c0) / (now_s() - t0);
        printf("MEMORY waiters=%d rss_before_mb=%.1f rss_before_untrimmed_mb=%.1f "
               "rss_%d_parked_mb=%.1f "
               "rss_%d_parked_after_rounds_mb=%.1f rss_plus_%d_idle_conns_mb=%.1f "
               "rss_%d_parked_mb=%.1f rss_%d_parked_untrimmed_mb=%.1f extra_mb=%.1f "
               "per_waiter_kb=%.1f idle_conn_kb=%.1f "
               "parked_over_idle_kb=%.1f server_sockets_before=%ld server_sockets_idle=%ld "
               "server_sockets_parked=%ld threads=%ld idle_cpu_parked=%.1f%% "
               "anon_before_mb=%.1f anon_%d_parked_mb=%.1f extra_anon_mb=%.1f "
               "per_waiter_anon_kb=%.1f\n",
               w.nw, rss0 / 1024.0, rss0_raw / 1024.0, small, rss_small / 1024.0, small,
               rss_small_after / 1024.0, more, rss_idle / 1024.0, w.nw, rss_all / 1024.0, w.nw,
               rss_all_raw / 1024.0, (rss_all - rss0) / 1024.0, (double)(rss_all - rss0) / w.nw,
               more ? (double)(rss_idle - rss_small_after) / more : 0.0,
               more ? (double)(rss_all - rss_idle) / more : 0.0, socks0, socks_idle, socks_all,
               proc_status_kb(pid, "Threads"), idle_cpu, anon0 / 1024.0, w.nw, anon_all / 1024.0,
               (anon_all - anon0) / 1024.0, (double)(anon_all - anon0) / w.nw);
        fflush(stdout);
    } else {
        printf("MEMORY skipped (no -P)\n");
    }

    /* 5. connections beyond the parked ones */
    if (nprobe > 0)
        capacity_probe(&w, w.nw);

    /* 4b. incremental sync under all waiters */
    ready(&w, w.nw, inc_seconds + 2.0, 0.2);
    incremental(&w, w.nw, inc_seconds);

    /* 2b. wake-up, all waiters: fan-out, then one at a time */
    if (big_rounds > 0)
        wake_shared(&w, w.nw, big_rounds, &round_no);
    if (pair_rounds > 0)
        wake_pairs(&w, w.nw, pair_rounds, &round_no);

    if (w.errors)
        fprintf(stderr, "# waiters: %ld failed requests, first: %s\n", w.errors, w.first_error);
    printf("WAITERS total_early=%ld total_presence=%ld total_expired=%ld total_catchup=%ld "
           "total_errors=%ld client_conns_opened=%ld\n",
           w.early, w.presence, w.expired, w.catchup, w.errors, w.e.conns);
    fflush(stdout);
    engine_free(&w.e);
    free(w.want);
    free(w.first);
    free(w.woke);
    free(w.wake_t);
    free(w.inc.v);
}

/* ---- main ---- */

static void
usage(void)
{
    fputs("usage: sync_bench [-u ROOM_USERS] [-r ROOMS] [-e EVENTS] [-i SYNCS] [-w WAITERS]\n"
          "                  [-s SMALL] [-R ROUNDS] [-B ROUNDS] [-Q PAIR_ROUNDS] [-d SECONDS]\n"
          "                  [-x PROBES] [-c CONCURRENCY] [-P SERVER_PID] BASE_URL\n"
          "  -u N  users in user 0's rooms (default 50)\n"
          "  -r N  rooms of user 0 (default 100)\n"
          "  -e N  messages per room (default 200)\n"
          "  -i N  measured initial syncs (default 20, after one cold one)\n"
          "  -w N  waiting clients, one user each (default 1000)\n"
          "  -s N  waiting clients of the small wake-up run (default 100)\n"
          "  -R N  rounds of the small shared-room wake-up run (default 20)\n"
          "  -B N  rounds of the shared-room wake-up run with all waiters (default 5)\n"
          "  -Q N  rounds of the pair-room wake-up run (default 200)\n"
          "  -d S  seconds of each incremental-sync run (default 5)\n"
          "  -x N  extra connections tried while all waiters are parked (default 100)\n"
          "  -c N  setup concurrency (default 100)\n"
          "  -P PID  the server process on this machine: CPU, RSS, sockets from /proc\n",
          stderr);
    exit(2);
}

int
main(int argc, char **argv)
{
    struct bench b = {0};
    struct engine setup_eng;
    long room_users = 50, rooms = 100, events = 200, syncs = 20, waiters = 1000, small = 100;
    long rounds = 20, big_rounds = 5, pair_rounds = 200, seconds = 5, probes = 100, conc = 100;
    size_t len;
    int opt;

    while ((opt = getopt(argc, argv, "u:r:e:i:w:s:R:B:Q:d:x:c:P:h")) != -1) {
        long *dst = NULL, min = 1, max = 1000000;
        switch (opt) {
        case 'u':
            dst = &room_users;
            min = 2;
            max = 10000;
            break;
        case 'r':
            dst = &rooms;
            max = 100000;
            break;
        case 'e':
            dst = &events;
            min = 0;
            break;
        case 'i':
            dst = &syncs;
            max = 100000;
            break;
        case 'w':
            dst = &waiters;
            max = 100000;
            break;
        case 's':
            dst = &small;
            max = 100000;
            break;
        case 'R':
            dst = &rounds;
            max = 100000;
            break;
        case 'B':
            dst = &big_rounds;
            min = 0;
            max = 100000;
            break;
        case 'Q':
            dst = &pair_rounds;
            min = 0;
            max = 100000;
            break;
        case 'd':
            dst = &seconds;
            max = 3600;
            break;
        case 'x':
            dst = &probes;
            min = 0;
            max = 100000;
            break;
        case 'c':
            dst = &conc;
            max = 10000;
            break;
        case 'P':
            dst = &b.server_pid;
            max = LONG_MAX;
            break;
        default:
            usage();
        }
        if (!parse_long(optarg, min, max, dst))
            usage();
    }
    if (optind != argc - 1)
        usage();
    b.base = xstrdup(argv[optind]);
    len = strlen(b.base);
    while (len > 0 && b.base[len - 1] == '/')
        ((char *)b.base)[--len] = '\0';
    fmt(b.nonce, sizeof(b.nonce), "%lx%lx", (unsigned long)getpid(), (unsigned long)time(NULL));
    path_escape(b.filter_q, sizeof(b.filter_q), FILTER);
    b.room_users = (int)room_users;
    b.waiters = (int)waiters;
    b.nusers = b.room_users + b.waiters;
    b.nrooms = (int)rooms;
    b.events = (int)events;
    b.conc = (int)conc;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        die("curl_global_init failed");

    engine_init(&setup_eng, (int)conc);
    setup(&b, &setup_eng);
    initial_sync(&b, &setup_eng, (int)syncs);
    engine_free(&setup_eng); /* the server sees every setup connection close */

    waiting_phases(&b, (int)small, (int)rounds, (int)big_rounds, (int)pair_rounds, (double)seconds,
                   (int)probes);

    curl_global_cleanup();
    for (int i = 0; i < b.nusers; i++)
        free(b.tokens[i]);
    free(b.tokens);
    free(b.rooms);
    free(b.pair_rooms);
    free(b.wtokens);
    free((char *)b.base);
    return 0;
}
