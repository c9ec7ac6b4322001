/* storm_bench: typing and receipt storms against a Matrix homeserver (issue 5, "Speed").
 *
 * USERS users (default 100) join one room; each keeps one /sync long-poll parked
 * (timeout=60000, re-issued with the new next_batch as soon as it is answered, as a client
 * does), so every ephemeral or timeline event of the room really fans out to USERS syncs. Each
 * user also has its own connection for its actions. Three phases of SECONDS (default 10), each
 * issuing events at the same fixed total RATE (default 50/s, user k % USERS issues event k;
 * open loop: event k is due at k / RATE, later only if that user's previous request is still
 * running):
 *
 *   messages  PUT /rooms/{roomId}/send/m.room.message/{txnId}   (the baseline)
 *   typing    PUT /rooms/{roomId}/typing/{userId}, each user alternating
 *             {"typing": true, "timeout": 30000} and {"typing": false}
 *   receipts  POST /rooms/{roomId}/receipt/m.read/{eventId}, each user for successive events
 *             of the messages phase
 *
 * After the last request of a phase has been answered, the generator waits for the server to
 * settle (its CPU time unchanged for 100 ms) so the fan-out's work and every wake it causes
 * are counted in the phase. One `STORM` line per phase, then a `STORM_COMPARE` line.
 *
 * One thread, libcurl's socket interface over epoll (benchlib.c). Every loop is bounded.
 *
 * Build: cc -O2 -std=c17 -Wall -Wextra bench/storm_bench.c bench/benchlib.c -lcurl \
 *            -o bench/build/storm_bench
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

#define LP_TIMEOUT_MS 60000L /* the long-polls' timeout= */
#define LP_CURL_TIMEOUT_MS 90000L
#define SETTLE_MAX_S 10.0
#define FILTER "{\"room\":{\"timeline\":{\"limit\":10},\"state\":{\"lazy_load_members\":true}}}"

const char *bench_prog = "storm_bench";

enum kind { K_MESSAGES, K_TYPING, K_RECEIPTS, NKINDS };
static const char *const kind_name[NKINDS] = {"messages", "typing", "receipts"};

struct bench {
    const char *base; /* base URL, no trailing slash */
    char nonce[32];
    int nusers;
    char **tokens;
    char (*user_ids)[ID_MAX];
    char (*wtokens)[ID_MAX]; /* per user: its latest next_batch */
    char room[ID_MAX];
    char room_esc[3 * ID_MAX];
    char filter_q[512];
    long server_pid; /* 0: not watched */
    int conc;
    /* event IDs of the messages phase, the receipts' targets */
    char (*events)[ID_MAX];
    long nevents, max_events;
};

/* Answers of the parked long-polls, over the whole run. */
struct wakes {
    long total;                              /* answered before their timeout */
    long message, typing, receipt, presence; /* ... holding such events */
    long empty;                              /* ... holding none of them */
    long expired, errors;
};

struct storm {
    struct bench *b;
    struct engine e; /* slots 0..n-1: long-polls, n..2n-1: the users' actions */
    int n;
    bool parked; /* re-issue long-polls when they are answered */
    struct wakes w;
    char first_error[256];
    /* the current phase */
    enum kind kind;
    double t0, deadline;
    long issued, answered, errors, late;
    struct lat lat;
    bool *typing; /* per user: its next typing request sets typing */
    long *cursor; /* per user: its next receipt's event index */
    char phase_error[256];
};

/* ---- setup ---- */

/* The bench a setup batch works for. */
#define B(bt) ((struct bench *)(bt)->ctx)

static void
make_room(struct setup_batch *bt, int i, struct req *rq)
{
    (void)i;
    rq->method = "POST";
    rq->token = B(bt)->tokens[0];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/createRoom", B(bt)->base);
    fmt(rq->body, sizeof(rq->body), "{\"preset\": \"public_chat\", \"name\": \"storm bench\"}");
}

static bool
take_room(struct setup_batch *bt, int i, long status, const char *body)
{
    (void)i;
    return status == 200 && json_str(body, "room_id", B(bt)->room, ID_MAX);
}

static void
make_join(struct setup_batch *bt, int i, struct req *rq)
{
    rq->method = "POST";
    rq->token = B(bt)->tokens[i + 1];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/join/%s", B(bt)->base, B(bt)->room_esc);
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

/* A user's first sync (timeout=0): its starting next_batch. */
static void
make_wtoken(struct setup_batch *bt, int i, struct req *rq)
{
    rq->method = "GET";
    rq->token = B(bt)->tokens[i];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/sync?filter=%s&timeout=0", B(bt)->base,
        B(bt)->filter_q);
}

static bool
take_wtoken(struct setup_batch *bt, int i, long status, const char *body)
{
    return status == 200 && json_str(body, "next_batch", B(bt)->wtokens[i], ID_MAX);
}

static void
setup(struct bench *b)
{
    struct engine e;
    struct setup_batch bt;
    int c = b->conc;

    engine_init(&e, c);
    b->tokens = xcalloc((size_t)b->nusers, sizeof(*b->tokens));
    b->user_ids = xcalloc((size_t)b->nusers, sizeof(*b->user_ids));
    b->wtokens = xcalloc((size_t)b->nusers, sizeof(*b->wtokens));
    setup_register_users(&e, b->base, "st", b->nonce, "storm_bench", b->nusers, c, b->tokens,
                         b->user_ids);
    bt = (struct setup_batch){
        .ctx = b, .what = "createRoom", .n = 1, .make = make_room, .take = take_room};
    setup_batch_run(&e, &bt, 1);
    path_escape(b->room_esc, sizeof(b->room_esc), b->room);
    bt = (struct setup_batch){
        .ctx = b, .what = "join", .n = b->nusers - 1, .make = make_join, .take = take_200};
    setup_batch_run(&e, &bt, c);
    bt = (struct setup_batch){.ctx = b,
                              .what = "sync (first next_batch)",
                              .n = b->nusers,
                              .make = make_wtoken,
                              .take = take_wtoken};
    setup_batch_run(&e, &bt, c);
    engine_free(&e);
}

/* ---- the storm engine: parked long-polls and the users' actions ---- */

static void
waiter_start(struct storm *st, int i)
{
    struct bench *b = st->b;
    struct req *rq = &st->e.slots[i].req;
    char since[3 * ID_MAX];

    memset(rq, 0, sizeof(*rq));
    path_escape(since, sizeof(since), b->wtokens[i]);
    rq->method = "GET";
    rq->token = b->tokens[i];
    rq->timeout_ms = LP_CURL_TIMEOUT_MS;
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/sync?filter=%s&timeout=%ld&since=%s",
        b->base, b->filter_q, LP_TIMEOUT_MS, since);
    slot_start(&st->e, i);
}

static void
waiter_done(struct storm *st, int i, const struct done_info *d)
{
    const char *body = d->body->p ? d->body->p : "";
    struct wakes *w = &st->w;
    bool any = false;

    if (d->status != 200 || !json_str(body, "next_batch", st->b->wtokens[i], ID_MAX)) {
        if (w->errors++ == 0)
            describe_failure(st->first_error, sizeof(st->first_error), d);
        if (w->errors > 1000)
            die("long-polls: %ld failed, first: %s", w->errors, st->first_error);
    } else if (d->t_end - d->t0 >= LP_TIMEOUT_MS / 1000.0 - 0.5) {
        w->expired++;
    } else {
        w->total++;
        if (strstr(body, "\"m.room.message\""))
            w->message++, any = true;
        if (strstr(body, "\"m.typing\""))
            w->typing++, any = true;
        if (strstr(body, "\"m.receipt\""))
            w->receipt++, any = true;
        if (strstr(body, "\"m.presence\""))
            w->presence++, any = true;
        if (!any)
            w->empty++;
    }
    if (st->parked)
        waiter_start(st, i);
}

static void
action_done(struct storm *st, int u, const struct done_info *d)
{
    struct bench *b = st->b;
    const char *body = d->body->p ? d->body->p : "";

    st->answered++;
    lat_add(&st->lat, (d->t_end - d->t0) * 1000.0);
    if (d->status != 200) {
        if (st->errors++ == 0)
            describe_failure(st->phase_error, sizeof(st->phase_error), d);
        return;
    }
    if (st->kind == K_MESSAGES && b->nevents < b->max_events &&
        json_str(body, "event_id", b->events[b->nevents], ID_MAX))
        b->nevents++;
    (void)u;
}

static void
storm_done(void *ctx, int i, long tag, const struct done_info *d)
{
    struct storm *st = ctx;

    (void)tag;
    if (i < st->n)
        waiter_done(st, i, d);
    else
        action_done(st, i - st->n, d);
}

static void
storm_step(struct storm *st, int ms)
{
    engine_step(&st->e, ms, storm_done, st);
}

static void
pump_for(struct storm *st, double seconds)
{
    double end = now_s() + seconds;

    while (now_s() < end) {
        int ms = (int)((end - now_s()) * 1000.0);
        storm_step(st, ms < 1 ? 1 : ms > POLL_MS ? POLL_MS : ms);
    }
}

/* Waits until the server has stopped working: its CPU time unchanged over 100 ms (three
 * samples 50 ms apart), at most SETTLE_MAX_S; without -P, a fixed second. Returns false if the
 * server was still busy at the end. */
static bool
settle(struct storm *st)
{
    double t0 = now_s(), c_prev = -2, c_prev2 = -3;
    long pid = st->b->server_pid;

    if (!pid) {
        pump_for(st, 1.0);
        return true;
    }
    while (now_s() - t0 < SETTLE_MAX_S) {
        double c = proc_cpu_s(pid);
        if (c == c_prev && c_prev == c_prev2)
            return true;
        c_prev2 = c_prev;
        c_prev = c;
        pump_for(st, 0.05);
    }
    fprintf(stderr, "# settle: the server was still busy after %.0f s\n", SETTLE_MAX_S);
    return false;
}

/* Every long-poll in flight and young enough not to expire within `horizon_s`. */
static void
ready(struct storm *st, double horizon_s)
{
    double deadline = now_s() + LP_TIMEOUT_MS / 1000.0 + 15.0;

    for (;;) {
        double now = now_s();
        bool ok = true;
        for (int i = 0; i < st->n && ok; i++) {
            struct slot *s = &st->e.slots[i];
            ok = s->busy && now - s->t0 < LP_TIMEOUT_MS / 1000.0 - horizon_s;
        }
        if (ok)
            return;
        if (now > deadline)
            die("long-polls not parked after %.0f s", LP_TIMEOUT_MS / 1000.0 + 15.0);
        storm_step(st, 10);
    }
}

/* Fills the request of user u's next event of the phase. */
static void
make_action(struct storm *st, int u, long k)
{
    struct bench *b = st->b;
    struct req *rq = &st->e.slots[st->n + u].req;
    char esc[3 * ID_MAX];

    memset(rq, 0, sizeof(*rq));
    rq->token = b->tokens[u];
    switch (st->kind) {
    case K_MESSAGES:
        rq->method = "PUT";
        fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/rooms/%s/send/m.room.message/%s.%ld",
            b->base, b->room_esc, b->nonce, k);
        fmt(rq->body, sizeof(rq->body),
            "{\"msgtype\": \"m.text\", \"body\": \"storm bench message %ld\"}", k);
        break;
    case K_TYPING:
        path_escape(esc, sizeof(esc), b->user_ids[u]);
        rq->method = "PUT";
        fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/rooms/%s/typing/%s", b->base,
            b->room_esc, esc);
        fmt(rq->body, sizeof(rq->body), "%s",
            st->typing[u] ? "{\"typing\": true, \"timeout\": 30000}" : "{\"typing\": false}");
        st->typing[u] = !st->typing[u];
        break;
    case K_RECEIPTS: {
        long e = st->cursor[u] < b->nevents ? st->cursor[u] : b->nevents - 1;
        st->cursor[u]++;
        path_escape(esc, sizeof(esc), b->events[e]);
        rq->method = "POST";
        fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/rooms/%s/receipt/m.read/%s", b->base,
            b->room_esc, esc);
        fmt(rq->body, sizeof(rq->body), "{}");
        break;
    }
    default:
        die("internal: phase kind %d", (int)st->kind);
    }
}

struct result {
    long ok;
    double server_cpu_ms_per_event;
    bool have;
};

static struct result
phase_run(struct storm *st, enum kind kind, double rate, double seconds)
{
    struct bench *b = st->b;
    struct wakes w0;
    long pid = b->server_pid, cap = (long)(rate * seconds) + 1, ok;
    double c0, s0 = -1, s1 = -1, elapsed, t_end, cpu_ms = -1;
    bool settled;
    int busy;
    char server[160] = "";
    struct result res = {0};

    if (kind == K_RECEIPTS && b->nevents == 0)
        die("receipts: no event IDs (run the messages phase first)");
    ready(st, seconds + SETTLE_MAX_S + 5.0);
    settle(st);
    st->kind = kind;
    st->issued = st->answered = st->errors = st->late = 0;
    st->phase_error[0] = '\0';
    lat_init(&st->lat, cap);
    w0 = st->w;
    c0 = cpu_s();
    if (pid)
        s0 = proc_cpu_s(pid);
    st->t0 = now_s();
    st->deadline = st->t0 + seconds;
    for (;;) {
        double now = now_s(), due = st->t0 + (double)st->issued / rate;
        int wait;
        if (now >= st->deadline || st->issued >= cap)
            break;
        if (due <= now) {
            int u = (int)(st->issued % st->n);
            if (!st->e.slots[st->n + u].busy) {
                if (now - due > 0.1)
                    st->late++;
                make_action(st, u, st->issued++);
                slot_start(&st->e, st->n + u);
                continue;
            }
            wait = 1; /* that user's previous request is still running */
        } else {
            wait = (int)((due - now) * 1000.0);
            if (wait < 1)
                wait = 1;
        }
        storm_step(st, wait);
    }
    /* drain the actions (their own timeouts bound this) */
    do {
        busy = 0;
        for (int u = 0; u < st->n; u++)
            busy += st->e.slots[st->n + u].busy;
        if (busy)
            storm_step(st, 5);
    } while (busy);
    t_end = now_s();
    elapsed = t_end - st->t0;
    settled = settle(st); /* the fan-out finishes: wakes answered, long-polls re-parked */
    if (pid) {
        s1 = proc_cpu_s(pid);
        if (s0 >= 0 && s1 >= 0)
            cpu_ms = (s1 - s0) * 1000.0;
    }
    lat_sort(&st->lat);
    ok = st->answered - st->errors;
    {
        long wakes = st->w.total - w0.total;
        if (cpu_ms >= 0)
            fmt(server, sizeof(server),
                " server_cpu_ms=%.0f server_cpu_ms_per_event=%.3f server_cpu_ms_per_wake=%.3f "
                "server_cpu=%.0f%%",
                cpu_ms, ok ? cpu_ms / (double)ok : 0.0, wakes ? cpu_ms / (double)wakes : 0.0,
                100.0 * cpu_ms / 1000.0 / (now_s() - st->t0));
        if (st->errors)
            fprintf(stderr, "# %s: %ld errors, first: %s\n", kind_name[kind], st->errors,
                    st->phase_error);
        printf("STORM phase=%s users=%d rate=%.0f requests=%ld errors=%ld late=%ld seconds=%.2f "
               "rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f wakes=%ld wakes_per_event=%.2f "
               "wakes_message=%ld wakes_typing=%ld wakes_receipt=%ld wakes_presence=%ld "
               "wakes_empty=%ld expired=%ld sync_errors=%ld settled=%d client_cpu=%.0f%%%s\n",
               kind_name[kind], st->n, rate, st->answered, st->errors, st->late, elapsed,
               elapsed > 0 ? (double)ok / elapsed : 0.0, percentile(st->lat.v, st->lat.n, 500),
               percentile(st->lat.v, st->lat.n, 990), lat_max(&st->lat), wakes,
               ok ? (double)wakes / (double)ok : 0.0, st->w.message - w0.message,
               st->w.typing - w0.typing, st->w.receipt - w0.receipt, st->w.presence - w0.presence,
               st->w.empty - w0.empty, st->w.expired - w0.expired, st->w.errors - w0.errors,
               settled ? 1 : 0, 100.0 * (cpu_s() - c0) / (now_s() - st->t0), server);
        fflush(stdout);
    }
    free(st->lat.v);
    res.ok = ok;
    res.have = cpu_ms >= 0 && ok > 0;
    res.server_cpu_ms_per_event = res.have ? cpu_ms / (double)ok : 0;
    return res;
}

static void
storms(struct bench *b, const char *phases, double rate, double seconds)
{
    struct storm st = {.b = b, .n = b->nusers};
    struct result r[NKINDS] = {0};
    struct wakes w0;
    double t0 = now_s(), s0 = b->server_pid ? proc_cpu_s(b->server_pid) : 0;

    engine_init(&st.e, 2 * st.n);
    for (int u = 0; u < st.n; u++)
        st.e.slots[st.n + u].group = G_MEASURE;
    st.typing = xcalloc((size_t)st.n, sizeof(*st.typing));
    st.cursor = xcalloc((size_t)st.n, sizeof(*st.cursor));
    for (int u = 0; u < st.n; u++)
        st.typing[u] = true;
    b->max_events = (long)(rate * seconds) + 1;
    b->events = xcalloc((size_t)b->max_events, sizeof(*b->events));

    /* Park every long-poll; coming online (presence) wakes the others, so wait for quiet. */
    st.parked = true;
    for (int i = 0; i < st.n; i++)
        waiter_start(&st, i);
    ready(&st, 5.0);
    pump_for(&st, 0.5);
    settle(&st);
    w0 = st.w;
    printf("PARKED users=%d seconds=%.1f wakes=%ld wakes_presence=%ld wakes_empty=%ld "
           "sync_errors=%ld",
           st.n, now_s() - t0, w0.total, w0.presence, w0.empty, w0.errors);
    if (b->server_pid)
        printf(" server_cpu_ms=%.0f server_rss_mb=%ld", (proc_cpu_s(b->server_pid) - s0) * 1000.0,
               proc_status_kb(b->server_pid, "VmRSS") / 1024);
    printf("\n");
    fflush(stdout);

    for (int k = 0; k < NKINDS; k++) {
        static const char letters[NKINDS] = {'m', 't', 'r'};
        if (strchr(phases, letters[k]))
            r[k] = phase_run(&st, (enum kind)k, rate, seconds);
    }
    if (r[K_MESSAGES].have && (r[K_TYPING].have || r[K_RECEIPTS].have)) {
        printf("STORM_COMPARE cpu_per_event_typing_over_messages=%.2f "
               "cpu_per_event_receipts_over_messages=%.2f\n",
               r[K_TYPING].have
                   ? r[K_TYPING].server_cpu_ms_per_event / r[K_MESSAGES].server_cpu_ms_per_event
                   : 0.0,
               r[K_RECEIPTS].have
                   ? r[K_RECEIPTS].server_cpu_ms_per_event / r[K_MESSAGES].server_cpu_ms_per_event
                   : 0.0);
    }
    st.parked = false;
    if (st.w.errors)
        fprintf(stderr, "# long-polls: %ld failed, first: %s\n", st.w.errors, st.first_error);
    printf("WAITERS total_wakes=%ld total_presence=%ld total_empty=%ld total_expired=%ld "
           "total_errors=%ld client_conns_opened=%ld\n",
           st.w.total, st.w.presence, st.w.empty, st.w.expired, st.w.errors, st.e.conns);
    fflush(stdout);
    engine_free(&st.e);
    free(st.typing);
    free(st.cursor);
}

/* ---- main ---- */

static void
usage(void)
{
    fputs("usage: storm_bench [-u USERS] [-r RATE] [-d SECONDS] [-p PHASES] [-c CONCURRENCY]\n"
          "                   [-P SERVER_PID] BASE_URL\n"
          "  -u N  users in the room, each with a parked /sync (default 100)\n"
          "  -r N  events per second, all users together, in every phase (default 50)\n"
          "  -d S  seconds of each phase (default 10)\n"
          "  -p P  phases, a subset of \"mtr\": messages, typing, receipts (default mtr; r\n"
          "        needs m, whose events it acknowledges)\n"
          "  -c N  setup concurrency (default 100)\n"
          "  -P PID  the server process on this machine: its CPU time from /proc\n",
          stderr);
    exit(2);
}

int
main(int argc, char **argv)
{
    struct bench b = {0};
    long users = 100, rate = 50, seconds = 10, conc = 100;
    const char *phases = "mtr";
    size_t len;
    int opt;

    while ((opt = getopt(argc, argv, "u:r:d:p:c:P:h")) != -1) {
        long *dst = NULL, min = 1, max = 100000;
        switch (opt) {
        case 'u':
            dst = &users;
            min = 2;
            max = 10000;
            break;
        case 'r':
            dst = &rate;
            break;
        case 'd':
            dst = &seconds;
            max = 600;
            break;
        case 'c':
            dst = &conc;
            max = 10000;
            break;
        case 'P':
            dst = &b.server_pid;
            max = LONG_MAX;
            break;
        case 'p':
            phases = optarg;
            if (!*phases || strspn(phases, "mtr") != strlen(phases) ||
                (strchr(phases, 'r') && !strchr(phases, 'm')))
                usage();
            continue;
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
    b.nusers = (int)users;
    b.conc = (int)conc;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        die("curl_global_init failed");
    {
        double t0 = now_s();
        setup(&b);
        printf("SETUP users=%d rooms=1 seconds=%.1f", b.nusers, now_s() - t0);
        if (b.server_pid)
            printf(" server_rss_mb=%ld server_peak_rss_mb=%ld",
                   proc_status_kb(b.server_pid, "VmRSS") / 1024,
                   proc_status_kb(b.server_pid, "VmHWM") / 1024);
        printf("\n");
        fflush(stdout);
    }
    storms(&b, phases, (double)rate, (double)seconds);

    curl_global_cleanup();
    for (int i = 0; i < b.nusers; i++)
        free(b.tokens[i]);
    free(b.tokens);
    free(b.user_ids);
    free(b.wtokens);
    free(b.events);
    free((char *)b.base);
    return 0;
}
