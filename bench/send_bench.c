/* send_bench: message-send load generator for a Matrix homeserver.
 *
 * One thread, one libcurl multi handle, one easy handle per simulated client; finished
 * transfers give their connection back to the multi handle's cache, so every client keeps
 * its keep-alive connection for the whole run. Setup (register, createRoom, join) runs on the
 * same engine; then each phase sends PUT /rooms/{roomId}/send/m.room.message/{txnId} until it
 * reaches its request cap or its time limit, and prints one `RESULT` line.
 *
 * Build: cc -O2 -std=c17 -Wall -Wextra bench/send_bench.c bench/benchlib.c -lcurl \
 *            -o bench/build/send_bench
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

#define RESP_MAX (256 * 1024) /* bytes of a response body kept; the rest is dropped */

struct pslot {
    CURL *easy;
    struct curl_slist *hdrs;
    const char *hdrs_token; /* the token `hdrs` was built for */
    struct buf resp;
    struct req req;
    double t0;
    long tag;
    bool busy;
};

struct pengine {
    CURLM *multi;
    struct pslot *slots;
    int nslots;
};

/* Fills `rq` for the next request of `slot` and sets `tag`; false when there is no more work. */
typedef bool (*pnext_fn)(void *ctx, int slot, struct req *rq, long *tag);
/* One finished request: HTTP status (0 on a transport error), body, latency in ms. */
typedef void (*pdone_fn)(void *ctx, int slot, long tag, long status, const struct buf *body,
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
    struct pengine eng;
};

const char *bench_prog = "send_bench";

/* ---- the engine: one multi handle, curl_multi_perform/curl_multi_poll ---- */

static size_t
on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    return buf_append(userdata, data, size * nmemb);
}

static void
pengine_init(struct pengine *e, int nslots)
{
    e->multi = curl_multi_init();
    if (!e->multi)
        die("curl_multi_init failed");
    /* Enough cached connections that no client loses its keep-alive connection. */
    curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, (long)nslots + 8);
    e->slots = xcalloc((size_t)nslots, sizeof(*e->slots));
    e->nslots = nslots;
    for (int i = 0; i < nslots; i++) {
        struct pslot *s = &e->slots[i];
        s->easy = curl_easy_init();
        if (!s->easy)
            die("curl_easy_init failed");
        s->resp.max = RESP_MAX;
    }
}

static void
pengine_free(struct pengine *e)
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
pslot_start(struct pengine *e, int i)
{
    struct pslot *s = &e->slots[i];
    CURL *h = s->easy;
    CURLMcode mc;

    s->resp.len = 0;
    if (s->resp.p)
        s->resp.p[0] = '\0';
    req_apply(h, &s->hdrs, &s->hdrs_token, &s->req);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s->resp);
    curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)s);
    s->t0 = now_s();
    s->busy = true;
    mc = curl_multi_add_handle(e->multi, h);
    if (mc != CURLM_OK)
        die("curl_multi_add_handle: %s", curl_multi_strerror(mc));
}

/* Runs requests on `nslots` clients until `next` has no more work and all have finished.
 * Returns the number of connections opened. */
static long
pengine_run(struct pengine *e, int nslots, pnext_fn next, pdone_fn done, void *ctx)
{
    int active = 0, still;
    long conns = 0;

    if (nslots > e->nslots)
        nslots = e->nslots;
    for (int i = 0; i < nslots; i++) {
        if (!next(ctx, i, &e->slots[i].req, &e->slots[i].tag))
            break;
        pslot_start(e, i);
        active++;
    }
    while (active > 0) {
        CURLMsg *msg;
        int left;
        CURLMcode mc = curl_multi_perform(e->multi, &still);

        if (mc != CURLM_OK)
            die("curl_multi_perform: %s", curl_multi_strerror(mc));
        while ((msg = curl_multi_info_read(e->multi, &left)) != NULL) {
            struct pslot *s = NULL;
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
                pslot_start(e, i);
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
    pengine_run(&b->eng, concurrency, batch_next, batch_done, bt);
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
make_register1(struct batch *bt, int i, struct req *rq)
{
    register_req(rq, bt->b->base, "bench", bt->b->nonce, i, "send_bench", NULL);
}

static bool
take_register1(struct batch *bt, int i, long status, const char *body)
{
    return register_take_session(status, body, bt->sessions[i], ID_MAX);
}

static void
make_register2(struct batch *bt, int i, struct req *rq)
{
    register_req(rq, bt->b->base, "bench", bt->b->nonce, i, "send_bench", bt->sessions[i]);
}

static bool
take_register2(struct batch *bt, int i, long status, const char *body)
{
    return (bt->b->tokens[i] = register_take_token(status, body)) != NULL;
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
    conns = pengine_run(&b->eng, clients, phase_next, phase_done, &ph);
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
    pengine_init(&b.eng, (int)(clients > 10 ? clients : 10));

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

    pengine_free(&b.eng);
    curl_global_cleanup();
    for (int i = 0; i < b.nusers; i++)
        free(b.tokens[i]);
    free(b.tokens);
    free(b.rooms);
    free((char *)b.base);
    return 0;
}
