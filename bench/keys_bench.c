/* keys_bench: end-to-end encryption key claims and to-device delivery against a Matrix
 * homeserver (issue 6, "Speed").
 *
 * Setup: registers an owner, a receiver and CLAIMERS users (default 100); the owner's device
 * uploads KEYS signed_curve25519 one-time keys (default 20,000, in uploads of 1,000).
 *
 *   CLAIM    the CLAIMERS users claim from the owner's one pool at once, closed loop
 *            (POST /keys/claim, one key per request), until it is empty. Every key handed out
 *            is recorded: `duplicates` counts keys handed out twice, `lost` keys uploaded but
 *            never handed out, `left_on_server` the count the server still reports. All three
 *            must be 0.
 *   WAKE     the receiver keeps one /sync long-poll parked; a sender sends it one to-device
 *            message (PUT /sendToDevice) per round; the latency is from handing the PUT to
 *            libcurl to reading the sync answer that holds the message. ROUNDS (default 200).
 *   LOAD     every claimer sends MESSAGES (default 50) to-device messages to the receiver's
 *            device, closed loop, while the receiver syncs as a client does (long-poll,
 *            next_batch each time). Checks that each message arrives exactly once and each
 *            sender's messages in order, and that no answer holds more than 100.
 *
 * One thread, libcurl's socket interface over epoll (benchlib.c). Every loop is bounded.
 *
 * Build: cc -O2 -std=c17 -Wall -Wextra bench/keys_bench.c bench/benchlib.c -lcurl \
 *            -o bench/build/keys_bench
 */
#define _POSIX_C_SOURCE 200809L

#include "benchlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LP_TIMEOUT_MS 30000L
#define LP_CURL_TIMEOUT_MS 60000L
#define ROUND_MAX_S 10.0
#define UPLOAD_BATCH 1000
#define FILTER "{\"room\":{\"rooms\":[]},\"presence\":{\"types\":[]}}"

const char *bench_prog = "keys_bench";

struct bench {
    const char *base;
    char nonce[32];
    int claimers;
    long keys, rounds, messages;
    long server_pid;
    int nusers; /* 0: owner, 1: receiver, 2..: claimers */
    char **tokens;
    char (*user_ids)[ID_MAX];
    char (*devices)[ID_MAX];
    char filter_q[256];
    char since[ID_MAX]; /* the receiver's latest next_batch */
};

static double
server_cpu(const struct bench *b)
{
    return b->server_pid ? proc_cpu_s(b->server_pid) : -1;
}

/* ---- setup: registration in batches, then plain blocking requests ---- */

struct reg {
    struct bench *b;
    char (*sessions)[ID_MAX];
    int next, failed;
    bool second;
};

static bool
reg_next(void *ctx, int slot, struct req *rq, long *tag)
{
    struct reg *g = ctx;

    (void)slot;
    if (g->next >= g->b->nusers)
        return false;
    *tag = g->next++;
    memset(rq, 0, sizeof(*rq));
    register_req(rq, g->b->base, "kb", g->b->nonce, (int)*tag, "keys_bench",
                 g->second ? g->sessions[*tag] : NULL);
    return true;
}

static void
reg_done(void *ctx, int slot, long tag, const struct done_info *d)
{
    struct reg *g = ctx;
    const char *body = d->body->p ? d->body->p : "";
    bool ok;

    (void)slot;
    if (!g->second)
        ok = register_take_session(d->status, body, g->sessions[tag], ID_MAX);
    else
        ok = (g->b->tokens[tag] = register_take_token(d->status, body)) != NULL &&
             json_str(body, "user_id", g->b->user_ids[tag], ID_MAX) &&
             json_str(body, "device_id", g->b->devices[tag], ID_MAX);
    if (!ok && g->failed++ < 3) {
        char why[256];
        describe_failure(why, sizeof(why), d);
        fprintf(stderr, "# register #%ld failed: %s\n", tag, why);
    }
}

static void
register_all(struct bench *b)
{
    struct engine e;
    struct reg g = {.b = b};
    double t0 = now_s();

    b->tokens = xcalloc((size_t)b->nusers, sizeof(*b->tokens));
    b->user_ids = xcalloc((size_t)b->nusers, sizeof(*b->user_ids));
    b->devices = xcalloc((size_t)b->nusers, sizeof(*b->devices));
    g.sessions = xcalloc((size_t)b->nusers, sizeof(*g.sessions));
    engine_init(&e, 32);
    engine_run(&e, 32, reg_next, reg_done, &g);
    g.next = 0;
    g.second = true;
    engine_run(&e, 32, reg_next, reg_done, &g);
    engine_free(&e);
    free(g.sessions);
    if (g.failed)
        die("registration: %d requests failed", g.failed);
    fprintf(stderr, "# setup: registered %d users in %.1f s\n", b->nusers, now_s() - t0);
}

static size_t
collect(char *data, size_t size, size_t nmemb, void *userdata)
{
    return buf_append(userdata, data, size * nmemb);
}

/* One blocking request with a body of any size; returns the status, the answer in *out. */
static long
blocking(const char *method, const char *url, const char *token, const char *body, struct buf *out)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char auth[URL_MAX];
    long status = 0;
    CURLcode rc;

    if (!h)
        die("curl_easy_init failed");
    out->len = 0;
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    fmt(auth, sizeof(auth), "Authorization: Bearer %s", token);
    hdrs = curl_slist_append(hdrs, auth);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, (void *)out);
    rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    else
        fprintf(stderr, "# %s %s: %s\n", method, url, curl_easy_strerror(rc));
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return status;
}

/* The owner's unclaimed signed_curve25519 count, from an empty upload. */
static long
pool_count(struct bench *b)
{
    char url[URL_MAX], num[32];
    struct buf out = {.max = 1 << 20};
    const char *p;
    long n = -1;

    fmt(url, sizeof(url), "%s/_matrix/client/v3/keys/upload", b->base);
    if (blocking("POST", url, b->tokens[0], "{}", &out) == 200 && out.p &&
        (p = strstr(out.p, "\"signed_curve25519\":"))) {
        fmt(num, sizeof(num), "%.20s", p + strlen("\"signed_curve25519\":"));
        n = strtol(num, NULL, 10);
    }
    free(out.p);
    return n;
}

static void
upload_pool(struct bench *b)
{
    char url[URL_MAX];
    size_t cap = (size_t)UPLOAD_BATCH * 400 + 64;
    char *body = xcalloc(1, cap);
    struct buf out = {.max = 1 << 20};
    double t0 = now_s();
    long n;

    fmt(url, sizeof(url), "%s/_matrix/client/v3/keys/upload", b->base);
    for (long k = 0; k < b->keys; k += UPLOAD_BATCH) {
        size_t len = 0;
        len += (size_t)snprintf(body + len, cap - len, "{\"one_time_keys\":{");
        for (long j = k; j < k + UPLOAD_BATCH && j < b->keys; j++) {
            /* Key material is opaque to the server; only its ID and content matter here. */
            len += (size_t)snprintf(body + len, cap - len,
                                    "%s\"signed_curve25519:K%07ld\":{\"key\":\"%043ld\","
                                    "\"signatures\":{\"%s\":{\"ed25519:%s\":\"%086ld\"}}}",
                                    j > k ? "," : "", j, j, b->user_ids[0], b->devices[0], j);
            if (len >= cap - 2)
                die("internal: upload body too small");
        }
        fmt(body + len, cap - len, "}}");
        if (blocking("POST", url, b->tokens[0], body, &out) != 200)
            die("key upload failed: %.200s", out.p ? out.p : "");
    }
    free(out.p);
    free(body);
    n = pool_count(b);
    if (n != b->keys)
        die("the server holds %ld one-time keys after uploading %ld", n, b->keys);
    fprintf(stderr, "# setup: uploaded %ld one-time keys in %.1f s\n", b->keys, now_s() - t0);
}

static void
receiver_first_sync(struct bench *b)
{
    char url[URL_MAX];
    struct buf out = {.max = 8 << 20};

    fmt(url, sizeof(url), "%s/_matrix/client/v3/sync?filter=%s&timeout=0", b->base, b->filter_q);
    if (blocking("GET", url, b->tokens[1], NULL, &out) != 200 || !out.p ||
        !json_str(out.p, "next_batch", b->since, sizeof(b->since)))
        die("receiver's first sync failed");
    free(out.p);
}

/* ---- CLAIM ---- */

struct claim {
    struct bench *b;
    unsigned char *seen; /* per key: times handed out */
    long requests, handed, duplicates, empty, errors, bad;
    bool exhausted;
    struct lat lat;
    char first_error[256];
};

static bool
claim_next(void *ctx, int slot, struct req *rq, long *tag)
{
    struct claim *c = ctx;
    struct bench *b = c->b;

    if (c->exhausted)
        return false;
    *tag = 0;
    memset(rq, 0, sizeof(*rq));
    rq->method = "POST";
    rq->token = b->tokens[2 + slot];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/keys/claim", b->base);
    fmt(rq->body, sizeof(rq->body),
        "{\"one_time_keys\": {\"%s\": {\"%s\": \"signed_curve25519\"}}}", b->user_ids[0],
        b->devices[0]);
    return true;
}

static void
claim_done(void *ctx, int slot, long tag, const struct done_info *d)
{
    struct claim *c = ctx;
    const char *body = d->body->p ? d->body->p : "", *p;
    static const char mark[] = "\"signed_curve25519:K";

    (void)slot;
    (void)tag;
    c->requests++;
    lat_add(&c->lat, (d->t_end - d->t0) * 1000.0);
    if (d->status != 200) {
        if (c->errors++ == 0)
            describe_failure(c->first_error, sizeof(c->first_error), d);
        return;
    }
    if (!(p = strstr(body, mark))) {
        c->empty++;
        c->exhausted = true;
        return;
    }
    if (strstr(p + 1, mark))
        c->bad++; /* more than one key for one (user, device, algorithm) */
    {
        long k = strtol(p + strlen(mark), NULL, 10);
        if (k < 0 || k >= c->b->keys) {
            c->bad++;
            return;
        }
        if (c->seen[k]++)
            c->duplicates++;
        else
            c->handed++;
    }
}

static void
phase_claim(struct bench *b)
{
    struct claim c = {.b = b};
    struct engine e;
    double t0, secs, cpu0, cpu1;
    long lost = 0, left;

    c.seen = xcalloc((size_t)b->keys, 1);
    lat_init(&c.lat, b->keys * 2 + 1000);
    engine_init(&e, b->claimers);
    cpu0 = server_cpu(b);
    t0 = now_s();
    engine_run(&e, b->claimers, claim_next, claim_done, &c);
    secs = now_s() - t0;
    cpu1 = server_cpu(b);
    engine_free(&e);
    for (long k = 0; k < b->keys; k++)
        lost += c.seen[k] == 0;
    left = pool_count(b);
    lat_sort(&c.lat);
    printf("CLAIM claimers=%d keys=%ld requests=%ld seconds=%.2f claims_per_s=%.1f p50_ms=%.2f "
           "p99_ms=%.2f max_ms=%.2f handed_out=%ld duplicates=%ld lost=%ld left_on_server=%ld "
           "empty_answers=%ld malformed=%ld errors=%ld server_cpu_ms_per_claim=%.3f\n",
           b->claimers, b->keys, c.requests, secs, c.requests / secs,
           percentile(c.lat.v, c.lat.n, 500), percentile(c.lat.v, c.lat.n, 990), lat_max(&c.lat),
           c.handed, c.duplicates, lost, left, c.empty, c.bad, c.errors,
           cpu0 >= 0 ? (cpu1 - cpu0) * 1000.0 / (double)(c.requests ? c.requests : 1) : -1.0);
    if (c.errors)
        printf("# first claim error: %s\n", c.first_error);
    fflush(stdout);
    free(c.seen);
    free(c.lat.v);
}

/* ---- to-device: a receiver's long-poll and senders ---- */

struct td {
    struct bench *b;
    struct engine e; /* slots 0..claimers-1: senders, claimers: the waiter, +1: the probe */
    int waiter, probe;
    /* WAKE */
    long round;
    double t_send;
    bool got, sent_ok;
    struct lat wake, send;
    long missed, early, redelivered, sync_errors, send_errors;
    /* LOAD */
    long *next_seq;  /* per sender: its next message */
    long *last_seen; /* per sender: the last sequence number received, -1 */
    unsigned char *count;
    long delivered, duplicates, out_of_order, answers, max_per_answer, sends, load_errors;
    struct lat load_lat;
    bool load;
    char first_error[256];
};

static void
waiter_start(struct td *t)
{
    struct bench *b = t->b;
    struct req *rq = &t->e.slots[t->waiter].req;
    char since[3 * ID_MAX];

    memset(rq, 0, sizeof(*rq));
    path_escape(since, sizeof(since), b->since);
    rq->method = "GET";
    rq->token = b->tokens[1];
    rq->timeout_ms = LP_CURL_TIMEOUT_MS;
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/sync?filter=%s&timeout=%ld&since=%s",
        b->base, b->filter_q, LP_TIMEOUT_MS, since);
    slot_start(&t->e, t->waiter);
}

/* Counts the LOAD messages of one sync answer ("bench":"S.<sender>.<seq>"). */
static void
take_load_messages(struct td *t, const char *body)
{
    static const char mark[] = "\"bench\":\"S.";
    long in_answer = 0;

    for (const char *p = strstr(body, mark); p; p = strstr(p + 1, mark)) {
        char *end;
        long s = strtol(p + strlen(mark), &end, 10), q;
        if (*end != '.' || s < 0 || s >= t->b->claimers)
            continue;
        q = strtol(end + 1, NULL, 10);
        if (q < 0 || q >= t->b->messages)
            continue;
        in_answer++;
        if (t->count[s * t->b->messages + q]++)
            t->duplicates++;
        else
            t->delivered++;
        if (q <= t->last_seen[s])
            t->out_of_order++;
        else
            t->last_seen[s] = q;
    }
    if (in_answer > t->max_per_answer)
        t->max_per_answer = in_answer;
}

static void
waiter_done(struct td *t, const struct done_info *d)
{
    struct bench *b = t->b;
    const char *body = d->body->p ? d->body->p : "";
    char want[64];

    if (d->status != 200 || !json_str(body, "next_batch", b->since, sizeof(b->since))) {
        if (t->sync_errors++ == 0)
            describe_failure(t->first_error, sizeof(t->first_error), d);
        if (t->sync_errors > 100)
            die("receiver's syncs keep failing: %s", t->first_error);
        waiter_start(t);
        return;
    }
    if (t->load) {
        t->answers++;
        take_load_messages(t, body);
    } else {
        fmt(want, sizeof(want), "\"bench\":\"L.%ld\"", t->round);
        if (t->round > 0) {
            char old[64];
            fmt(old, sizeof(old), "\"bench\":\"L.%ld\"", t->round - 1);
            if (strstr(body, old))
                t->redelivered++;
        }
        if (t->t_send > 0 && !t->got && strstr(body, want)) {
            t->got = true;
            lat_add(&t->wake, (d->t_end - t->t_send) * 1000.0);
        } else if (d->t_end - d->t0 < LP_TIMEOUT_MS / 1000.0 - 0.5) {
            t->early++;
        }
    }
    waiter_start(t);
}

/* Sender i's next LOAD message, if it has one left. */
static void
load_send_next(struct td *t, int i)
{
    struct bench *b = t->b;
    struct req *rq = &t->e.slots[i].req;
    long q;

    if (t->next_seq[i] >= b->messages)
        return;
    q = t->next_seq[i]++;
    memset(rq, 0, sizeof(*rq));
    rq->method = "PUT";
    rq->token = b->tokens[2 + i];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/sendToDevice/m.bench.load/%s.%d.%ld",
        b->base, b->nonce, i, q);
    fmt(rq->body, sizeof(rq->body), "{\"messages\": {\"%s\": {\"%s\": {\"bench\": \"S.%d.%ld\"}}}}",
        b->user_ids[1], b->devices[1], i, q);
    slot_start(&t->e, i);
}

static void
td_done(void *ctx, int i, long tag, const struct done_info *d)
{
    struct td *t = ctx;

    (void)tag;
    if (i == t->waiter) {
        waiter_done(t, d);
        return;
    }
    if (i == t->probe) {
        lat_add(&t->send, (d->t_end - d->t0) * 1000.0);
        t->sent_ok = d->status == 200;
        if (!t->sent_ok && t->send_errors++ == 0)
            describe_failure(t->first_error, sizeof(t->first_error), d);
        return;
    }
    /* a LOAD sender */
    t->sends++;
    lat_add(&t->load_lat, (d->t_end - d->t0) * 1000.0);
    if (d->status != 200 && t->load_errors++ == 0)
        describe_failure(t->first_error, sizeof(t->first_error), d);
    load_send_next(t, i);
}

static void
td_pump(struct td *t, double seconds)
{
    double end = now_s() + seconds;
    while (now_s() < end) {
        int ms = (int)((end - now_s()) * 1000.0);
        engine_step(&t->e, ms < 1 ? 1 : ms > POLL_MS ? POLL_MS : ms, td_done, t);
    }
}

static void
phase_wake(struct td *t)
{
    struct bench *b = t->b;
    double cpu0 = server_cpu(b), cpu1;

    lat_init(&t->wake, b->rounds + 1);
    lat_init(&t->send, b->rounds + 1);
    waiter_start(t);
    for (t->round = 0; t->round < b->rounds; t->round++) {
        struct req *rq = &t->e.slots[t->probe].req;
        double deadline;
        /* The receiver's long-poll is in flight and has had time to park. */
        td_pump(t, 0.03);
        while (!t->e.slots[t->waiter].busy || now_s() - t->e.slots[t->waiter].t0 < 0.02)
            td_pump(t, 0.005);
        memset(rq, 0, sizeof(*rq));
        rq->method = "PUT";
        rq->token = b->tokens[2];
        fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/sendToDevice/m.bench.wake/%s.w%ld",
            b->base, b->nonce, t->round);
        fmt(rq->body, sizeof(rq->body),
            "{\"messages\": {\"%s\": {\"%s\": {\"bench\": \"L.%ld\"}}}}", b->user_ids[1],
            b->devices[1], t->round);
        t->got = false;
        t->t_send = now_s();
        slot_start(&t->e, t->probe);
        deadline = t->t_send + ROUND_MAX_S;
        while ((!t->got || t->e.slots[t->probe].busy) && now_s() < deadline)
            engine_step(&t->e, 5, td_done, t);
        if (!t->got)
            t->missed++;
        t->t_send = 0;
    }
    cpu1 = server_cpu(b);
    lat_sort(&t->wake);
    lat_sort(&t->send);
    printf("WAKE rounds=%ld p50_ms=%.2f p99_ms=%.2f max_ms=%.2f send_p50_ms=%.2f send_p99_ms=%.2f "
           "missed=%ld early=%ld redelivered=%ld sync_errors=%ld send_errors=%ld "
           "server_cpu_ms_per_round=%.3f\n",
           b->rounds, percentile(t->wake.v, t->wake.n, 500), percentile(t->wake.v, t->wake.n, 990),
           lat_max(&t->wake), percentile(t->send.v, t->send.n, 500),
           percentile(t->send.v, t->send.n, 990), t->missed, t->early, t->redelivered,
           t->sync_errors, t->send_errors,
           cpu0 >= 0 ? (cpu1 - cpu0) * 1000.0 / (double)b->rounds : -1.0);
    fflush(stdout);
}

static void
phase_load(struct td *t)
{
    struct bench *b = t->b;
    long total = (long)b->claimers * b->messages, stalled_at = -1;
    double t0, t_sent = 0, last_progress, cpu0 = server_cpu(b), cpu1;

    t->load = true;
    t->next_seq = xcalloc((size_t)b->claimers, sizeof(long));
    t->last_seen = xcalloc((size_t)b->claimers, sizeof(long));
    t->count = xcalloc((size_t)total, 1);
    lat_init(&t->load_lat, total + 1);
    for (int i = 0; i < b->claimers; i++)
        t->last_seen[i] = -1;
    t0 = now_s();
    /* Each sender's first message; td_done sends the next one as each is answered. */
    for (int i = 0; i < b->claimers; i++)
        load_send_next(t, i);
    last_progress = now_s();
    for (;;) {
        long before = t->delivered;
        bool sending = false;
        engine_step(&t->e, POLL_MS, td_done, t);
        for (int i = 0; i < b->claimers && !sending; i++)
            sending = t->e.slots[i].busy;
        if (!sending && t_sent == 0)
            t_sent = now_s();
        if (t->delivered != before)
            last_progress = now_s();
        if (!sending && t->delivered == total)
            break;
        if (!sending && now_s() - last_progress > ROUND_MAX_S) {
            stalled_at = t->delivered;
            break;
        }
        if (now_s() - t0 > 600)
            die("LOAD did not finish within 600 s");
    }
    cpu1 = server_cpu(b);
    lat_sort(&t->load_lat);
    printf("LOAD senders=%d messages=%ld send_seconds=%.2f sends_per_s=%.1f send_p50_ms=%.2f "
           "send_p99_ms=%.2f delivered=%ld seconds_to_deliver_all=%.2f lost=%ld duplicates=%ld "
           "out_of_order=%ld sync_answers=%ld max_per_answer=%ld send_errors=%ld sync_errors=%ld "
           "server_cpu_ms_per_message=%.3f\n",
           b->claimers, total, t_sent - t0, t->sends / (t_sent - t0),
           percentile(t->load_lat.v, t->load_lat.n, 500),
           percentile(t->load_lat.v, t->load_lat.n, 990), t->delivered, now_s() - t0,
           total - t->delivered, t->duplicates, t->out_of_order, t->answers, t->max_per_answer,
           t->load_errors, t->sync_errors,
           cpu0 >= 0 ? (cpu1 - cpu0) * 1000.0 / (double)total : -1.0);
    if (stalled_at >= 0)
        printf("# LOAD: no progress for %.0f s with %ld of %ld delivered\n", ROUND_MAX_S,
               stalled_at, total);
    if (t->load_errors || t->sync_errors || t->send_errors)
        printf("# first to-device error: %s\n", t->first_error);
    fflush(stdout);
}

static void
usage(void)
{
    fprintf(stderr, "usage: keys_bench [-c CLAIMERS] [-k KEYS] [-r ROUNDS] [-m MESSAGES] "
                    "[-P SERVER_PID] BASE_URL\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    struct bench b = {.claimers = 100, .keys = 20000, .rounds = 200, .messages = 50};
    struct td t = {0};
    long v;
    int opt;

    while ((opt = getopt(argc, argv, "c:k:r:m:P:")) != -1) {
        switch (opt) {
        case 'c':
            if (!parse_long(optarg, 1, 1000, &v))
                usage();
            b.claimers = (int)v;
            break;
        case 'k':
            if (!parse_long(optarg, 1, 10000000, &b.keys))
                usage();
            break;
        case 'r':
            if (!parse_long(optarg, 1, 100000, &b.rounds))
                usage();
            break;
        case 'm':
            if (!parse_long(optarg, 1, 100000, &b.messages))
                usage();
            break;
        case 'P':
            if (!parse_long(optarg, 1, 1L << 30, &b.server_pid))
                usage();
            break;
        default:
            usage();
        }
    }
    if (optind != argc - 1)
        usage();
    b.base = argv[optind];
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        die("curl_global_init failed");
    fmt(b.nonce, sizeof(b.nonce), "%lx%lx", (long)getpid(), (long)(now_s() * 1000) & 0xffffff);
    path_escape(b.filter_q, sizeof(b.filter_q), FILTER);
    b.nusers = 2 + b.claimers;
    register_all(&b);
    upload_pool(&b);
    receiver_first_sync(&b);
    printf("SETUP users=%d keys=%ld server_rss_mb=%ld\n", b.nusers, b.keys,
           b.server_pid ? proc_status_kb(b.server_pid, "VmRSS") / 1024 : -1);
    fflush(stdout);

    phase_claim(&b);

    t.b = &b;
    engine_init(&t.e, b.claimers + 2);
    t.waiter = b.claimers;
    t.probe = b.claimers + 1;
    t.e.slots[t.waiter].group = G_MEASURE;
    t.e.slots[t.probe].group = G_PROBE;
    phase_wake(&t);
    phase_load(&t);
    engine_free(&t.e);
    curl_global_cleanup();
    return 0;
}
