/* push_bench: what push rule evaluation adds to sending into a big room (issue 8, "Speed").
 *
 * Steps, each a separate run so bench/run-push can restart the server between them (the
 * server prints its own evaluation figures when it stops):
 *
 *   setup   registers USERS users (default 1,000), user 0 creates one public_chat room, the
 *           others join; writes the room and the access tokens to STATE.
 *   send    user 0 sends one warm-up message (the server loads and compiles every member's
 *           rules once), then MESSAGES plain m.text messages (default 300) one at a time on a
 *           keep-alive connection; prints their latency (p50/p99/max). Every other member has
 *           the server-default rules, so each message notifies all 999 (.m.rule.message).
 *   master  every member but user 0 enables .m.rule.master (PUT .../enabled): a message then
 *           matches the first rule for everyone and notifies nobody, so a `send` after it
 *           measures the same request with (almost) no push work and nothing to store.
 *
 * One thread, libcurl's socket interface over epoll (benchlib.c). Every loop is bounded.
 *
 * Build: cc -O2 -std=c17 -Wall -Wextra bench/push_bench.c bench/benchlib.c -lcurl \
 *            -o bench/build/push_bench
 */
#define _POSIX_C_SOURCE 200809L

#include "benchlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *bench_prog = "push_bench";

struct bench {
    const char *base;
    const char *state_path;
    const char *label;
    char nonce[32];
    int nusers;
    int conc;
    long messages;
    char **tokens;
    char room[ID_MAX];
    char room_esc[3 * ID_MAX];
};

/* ---- request batches (as storm_bench) ---- */

struct batch;
typedef void (*make_fn)(struct batch *bt, int i, struct req *rq);
typedef bool (*take_fn)(struct batch *bt, int i, long status, const char *body);

struct batch {
    struct bench *b;
    const char *what;
    int n, next, failed;
    make_fn make;
    take_fn take;
    char (*sessions)[ID_MAX];
    struct lat lat;
};

static bool
batch_next(void *ctx, int slot, struct req *rq, long *tag)
{
    struct batch *bt = ctx;

    (void)slot;
    if (bt->next >= bt->n)
        return false;
    *tag = bt->next++;
    memset(rq, 0, sizeof(*rq));
    bt->make(bt, (int)*tag, rq);
    return true;
}

static void
batch_done(void *ctx, int slot, long tag, const struct done_info *d)
{
    struct batch *bt = ctx;

    (void)slot;
    if (bt->lat.v)
        lat_add(&bt->lat, (d->t_end - d->t0) * 1000.0);
    if (!bt->take(bt, (int)tag, d->status, d->body->p ? d->body->p : "")) {
        if (bt->failed++ < 3) {
            char why[256];
            describe_failure(why, sizeof(why), d);
            fprintf(stderr, "# %s #%ld failed: %s\n", bt->what, tag, why);
        }
    }
}

static double
batch_run(struct bench *b, struct engine *e, struct batch *bt, int concurrency)
{
    double t0 = now_s(), took;

    bt->b = b;
    bt->next = bt->failed = 0;
    engine_run(e, concurrency, batch_next, batch_done, bt);
    took = now_s() - t0;
    if (bt->failed)
        die("%s: %d of %d requests failed", bt->what, bt->failed, bt->n);
    fprintf(stderr, "# %s: %d requests in %.2f s\n", bt->what, bt->n, took);
    return took;
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
    register_req(rq, bt->b->base, "pb", bt->b->nonce, i, "push_bench", NULL);
}

static bool
take_register1(struct batch *bt, int i, long status, const char *body)
{
    return register_take_session(status, body, bt->sessions[i], ID_MAX);
}

static void
make_register2(struct batch *bt, int i, struct req *rq)
{
    register_req(rq, bt->b->base, "pb", bt->b->nonce, i, "push_bench", bt->sessions[i]);
}

static bool
take_register2(struct batch *bt, int i, long status, const char *body)
{
    return (bt->b->tokens[i] = register_take_token(status, body)) != NULL;
}

static void
make_room(struct batch *bt, int i, struct req *rq)
{
    (void)i;
    rq->method = "POST";
    rq->token = bt->b->tokens[0];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/createRoom", bt->b->base);
    fmt(rq->body, sizeof(rq->body), "{\"preset\": \"public_chat\", \"name\": \"push bench\"}");
}

static bool
take_room(struct batch *bt, int i, long status, const char *body)
{
    (void)i;
    return status == 200 && json_str(body, "room_id", bt->b->room, ID_MAX);
}

static void
make_join(struct batch *bt, int i, struct req *rq)
{
    rq->method = "POST";
    rq->token = bt->b->tokens[i + 1];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/join/%s", bt->b->base, bt->b->room_esc);
    fmt(rq->body, sizeof(rq->body), "{}");
}

static void
make_master(struct batch *bt, int i, struct req *rq)
{
    rq->method = "PUT";
    rq->token = bt->b->tokens[i + 1];
    fmt(rq->url, sizeof(rq->url),
        "%s/_matrix/client/v3/pushrules/global/override/.m.rule.master/enabled", bt->b->base);
    fmt(rq->body, sizeof(rq->body), "{\"enabled\": true}");
}

static void
make_send(struct batch *bt, int i, struct req *rq)
{
    rq->method = "PUT";
    rq->token = bt->b->tokens[0];
    fmt(rq->url, sizeof(rq->url), "%s/_matrix/client/v3/rooms/%s/send/m.room.message/%s.%s.%d",
        bt->b->base, bt->b->room_esc, bt->b->nonce, bt->b->label, i);
    fmt(rq->body, sizeof(rq->body),
        "{\"msgtype\": \"m.text\", \"body\": \"message %d of the push benchmark, about lunch\"}",
        i);
}

/* ---- the state file: the room, then one access token per line ---- */

static void
state_write(struct bench *b)
{
    FILE *f = fopen(b->state_path, "w");
    if (!f)
        die("cannot write %s", b->state_path);
    fprintf(f, "%s\n", b->room);
    for (int i = 0; i < b->nusers; i++)
        fprintf(f, "%s\n", b->tokens[i]);
    if (fclose(f) != 0)
        die("cannot write %s", b->state_path);
}

static void
state_read(struct bench *b)
{
    FILE *f = fopen(b->state_path, "r");
    char line[ID_MAX];
    int cap = 1024;

    if (!f)
        die("cannot read %s (run setup first)", b->state_path);
    if (!fgets(b->room, sizeof(b->room), f))
        die("%s is empty", b->state_path);
    b->room[strcspn(b->room, "\n")] = '\0';
    b->tokens = xcalloc((size_t)cap, sizeof(*b->tokens));
    b->nusers = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!*line)
            continue;
        if (b->nusers == cap) {
            char **more = xcalloc((size_t)cap * 2, sizeof(*more));
            memcpy(more, b->tokens, (size_t)cap * sizeof(*more));
            free(b->tokens);
            b->tokens = more;
            cap *= 2;
        }
        b->tokens[b->nusers++] = xstrdup(line);
    }
    fclose(f);
    if (b->nusers < 2)
        die("%s holds fewer than 2 users", b->state_path);
    path_escape(b->room_esc, sizeof(b->room_esc), b->room);
}

static void
setup(struct bench *b)
{
    struct engine e;
    struct batch bt;
    int c = b->conc;

    engine_init(&e, c);
    b->tokens = xcalloc((size_t)b->nusers, sizeof(*b->tokens));
    bt = (struct batch){.what = "register (UIA start)",
                        .n = b->nusers,
                        .make = make_register1,
                        .take = take_register1};
    bt.sessions = xcalloc((size_t)b->nusers, sizeof(*bt.sessions));
    batch_run(b, &e, &bt, c);
    bt.what = "register (m.login.dummy)";
    bt.make = make_register2;
    bt.take = take_register2;
    batch_run(b, &e, &bt, c < 32 ? c : 32);
    free(bt.sessions);
    bt = (struct batch){.what = "createRoom", .n = 1, .make = make_room, .take = take_room};
    batch_run(b, &e, &bt, 1);
    path_escape(b->room_esc, sizeof(b->room_esc), b->room);
    bt = (struct batch){.what = "join", .n = b->nusers - 1, .make = make_join, .take = take_200};
    batch_run(b, &e, &bt, c);
    engine_free(&e);
    state_write(b);
    printf("SETUP users=%d room=%s\n", b->nusers, b->room);
}

static void
master(struct bench *b)
{
    struct engine e;
    struct batch bt = {
        .what = "enable .m.rule.master", .n = b->nusers - 1, .make = make_master, .take = take_200};
    engine_init(&e, b->conc);
    batch_run(b, &e, &bt, b->conc);
    engine_free(&e);
    printf("MASTER users=%d\n", b->nusers - 1);
}

static void
send_phase(struct bench *b)
{
    struct engine e;
    struct batch bt = {.what = "warm-up send", .n = 1, .make = make_send, .take = take_200};
    double took;

    engine_init(&e, 1);
    b->label = b->label ? b->label : "send";
    {
        /* The first message loads every member's rules into the server's cache. */
        char saved[64];
        fmt(saved, sizeof(saved), "%s", b->label);
        b->label = "warmup";
        batch_run(b, &e, &bt, 1);
        b->label = xstrdup(saved);
    }
    bt =
        (struct batch){.what = "sends", .n = (int)b->messages, .make = make_send, .take = take_200};
    lat_init(&bt.lat, b->messages);
    took = batch_run(b, &e, &bt, 1);
    lat_sort(&bt.lat);
    printf("SEND label=%s members=%d messages=%ld seconds=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f "
           "max_ms=%.2f\n",
           b->label, b->nusers, b->messages, took, (double)b->messages / took,
           percentile(bt.lat.v, bt.lat.n, 500), percentile(bt.lat.v, bt.lat.n, 990),
           lat_max(&bt.lat));
    engine_free(&e);
}

static void
usage(void)
{
    fprintf(stderr, "usage: push_bench -s STATE [-u USERS] [-m MESSAGES] [-c CONC] [-l LABEL] "
                    "BASE_URL setup|send|master\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    struct bench b = {.nusers = 1000, .conc = 50, .messages = 300};
    const char *step;
    long v;
    int i = 1;

    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "-s") == 0)
            b.state_path = argv[i + 1];
        else if (strcmp(argv[i], "-l") == 0)
            b.label = argv[i + 1];
        else if (strcmp(argv[i], "-u") == 0 && parse_long(argv[i + 1], 2, 100000, &v))
            b.nusers = (int)v;
        else if (strcmp(argv[i], "-m") == 0 && parse_long(argv[i + 1], 1, 1000000, &v))
            b.messages = v;
        else if (strcmp(argv[i], "-c") == 0 && parse_long(argv[i + 1], 1, 1000, &v))
            b.conc = (int)v;
        else
            usage();
    }
    if (argc - i != 2 || !b.state_path)
        usage();
    b.base = argv[i];
    step = argv[i + 1];
    fmt(b.nonce, sizeof(b.nonce), "%lx%lx", (long)time(NULL), (long)(now_s() * 1e6) & 0xffffff);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(step, "setup") == 0) {
        setup(&b);
    } else if (strcmp(step, "send") == 0) {
        state_read(&b);
        send_phase(&b);
    } else if (strcmp(step, "master") == 0) {
        state_read(&b);
        master(&b);
    } else {
        usage();
    }
    curl_global_cleanup();
    return 0;
}
