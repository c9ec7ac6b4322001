/* search_bench: server-side search benchmark (issue 9, "Speed"): 1,000,000 messages in 1,000
 * rooms, one user in 100 of them, one-word queries over HTTP.
 *
 *   search_bench fill CONFIG [-m MESSAGES_PER_ROOM] [-r ROOMS] [-j JOINED] [-b BATCH]
 *       Builds the database of a server that is NOT running, through the server's own code
 *       (hearthcore: rooms_create / rooms_send, so every event is a real signed, authorized
 *       event, persisted as a send would be, but in batches of BATCH messages per
 *       transaction instead of one HTTP request each: 1,000,000 sends over HTTP take ~11
 *       minutes at ~1,500/s), then indexed for search as the server's catch-up would (issue
 *       3: indexing comes after the send; prints "INDEX ..."). 100 users; room r is created
 *       by user r % 100 and joined by four more; the searcher joins every room r with
 *       r % (ROOMS / JOINED) == 0. Messages are
 *       sent round by round over all rooms (BATCH per room per round), so positions interleave
 *       as in a live server. Bodies are 5 to 15 words drawn from a 20,000-word vocabulary with
 *       Zipf frequencies (word k has weight 1/k), seeded, so every run builds the same text.
 *       Prints "TOKEN <access token>" for the searcher.
 *
 *   search_bench query BASE_URL TOKEN DB_PATH [-n QUERIES] [-P SERVER_PID]
 *       Sizes from the database file (read-only; SQLite's dbstat), then timed POST /search
 *       requests, one at a time on one keep-alive connection, for one-word terms:
 *         random     words drawn uniformly from the vocabulary (most are rare, as most words
 *                    are), a new one per query
 *         top10 / top100 / top1000 / top10000   the word of that frequency rank, repeated
 *       each with order_by rank and recent, filter.limit 10, no context. With -P, also the
 *       server's CPU time per query (utime + stime from /proc), which a loaded machine
 *       inflates much less than the latency.
 *
 * Build (bench/run-search does it): links build/libhearthcore.a, so it needs the release build.
 */
#define _POSIX_C_SOURCE 200809L

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/signing_key.h"
#include "core/util.h"
#include "room/version.h"
#include "rooms/rooms.h"
#include "store/store.h"

#define VOCAB 20000
#define USERS 100
#define MEMBERS 5 /* per room, the searcher aside */

static void
die(const char *msg)
{
    fprintf(stderr, "search_bench: %s\n", msg);
    exit(1);
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the text: a seeded vocabulary with Zipf frequencies ---- */

static uint64_t rng = 88172645463325252ull;

static uint64_t
next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static char vocab[VOCAB][12];
static double cum[VOCAB];

static void
vocab_init(void)
{
    double total = 0;
    for (int i = 0; i < VOCAB; i++) {
        int len = 3 + (int)(next_rand() % 7);
        for (int k = 0; k < len; k++)
            vocab[i][k] = (char)('a' + next_rand() % 26);
        vocab[i][len] = '\0';
        total += 1.0 / (i + 1);
        cum[i] = total;
    }
    for (int i = 0; i < VOCAB; i++)
        cum[i] /= total;
}

static const char *
zipf_word(void)
{
    double u = (double)(next_rand() >> 11) / 9007199254740992.0;
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cum[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return vocab[lo];
}

/* ---- fill ---- */

struct filler {
    struct store *st;
    struct rooms *rs;
    const char *server;
    char users[USERS][64];
    char searcher[64];
};

static void
send_or_die(struct filler *f, const char *room_id, const struct rooms_proto *p, size_t n)
{
    char reason[256] = "";
    enum rooms_rc rc = rooms_send(f->rs, room_id, p, n, NULL, NULL, reason, sizeof(reason));
    if (rc != ROOMS_OK) {
        fprintf(stderr, "search_bench: send to %s failed (%d): %s\n", room_id, rc, reason);
        exit(1);
    }
}

static void
join_room(struct filler *f, const char *room_id, const char *user)
{
    json_t *c = json_pack("{s:s}", "membership", "join");
    struct rooms_proto p = {user, "m.room.member", user, c, NULL};
    send_or_die(f, room_id, &p, 1);
    json_decref(c);
}

static void
create_room(struct filler *f, int r, const char *room_id, bool searcher)
{
    const char *creator = f->users[r % USERS];
    json_t *c[7];
    struct rooms_proto p[7];
    char name[64], reason[256] = "";

    snprintf(name, sizeof(name), "Bench room %d %s", r, zipf_word());
    c[0] = json_pack("{s:s, s:s}", "creator", creator, "room_version", "5");
    c[1] = json_pack("{s:s}", "membership", "join");
    c[2] = json_pack("{s:{s:i}}", "users", creator, 100);
    c[3] = json_pack("{s:s}", "join_rule", "public");
    c[4] = json_pack("{s:s}", "history_visibility", "shared");
    c[5] = json_pack("{s:s}", "name", name);
    c[6] = json_pack("{s:s}", "topic", zipf_word());
    p[0] = (struct rooms_proto){creator, "m.room.create", "", c[0], NULL};
    p[1] = (struct rooms_proto){creator, "m.room.member", creator, c[1], NULL};
    p[2] = (struct rooms_proto){creator, "m.room.power_levels", "", c[2], NULL};
    p[3] = (struct rooms_proto){creator, "m.room.join_rules", "", c[3], NULL};
    p[4] = (struct rooms_proto){creator, "m.room.history_visibility", "", c[4], NULL};
    p[5] = (struct rooms_proto){creator, "m.room.name", "", c[5], NULL};
    p[6] = (struct rooms_proto){creator, "m.room.topic", "", c[6], NULL};
    if (rooms_create(f->rs, room_id, room_version_get("5"), p, 7, NULL, reason, sizeof(reason)) !=
        ROOMS_OK) {
        fprintf(stderr, "search_bench: create %s: %s\n", room_id, reason);
        exit(1);
    }
    for (int i = 0; i < 7; i++)
        json_decref(c[i]);
    for (int k = 1; k < MEMBERS; k++)
        join_room(f, room_id, f->users[(r + k * 7) % USERS]);
    if (searcher)
        join_room(f, room_id, f->searcher);
}

static int
cmd_fill(int argc, char **argv)
{
    struct filler f = {0};
    struct config *cfg = NULL;
    struct signing_key key;
    long per_room = 1000, nrooms = 1000, joined = 100, batch = 50;
    char err[512], tokhash[65];
    char(*room_ids)[64];
    char *token;
    double t0, t1;
    long sent = 0;

    if (argc < 1)
        die("fill CONFIG [-m PER_ROOM] [-r ROOMS] [-j JOINED] [-b BATCH]");
    for (int i = 1; i + 1 < argc; i += 2) {
        long v = strtol(argv[i + 1], NULL, 10);
        if (v <= 0)
            die("options take positive numbers");
        if (strcmp(argv[i], "-m") == 0)
            per_room = v;
        else if (strcmp(argv[i], "-r") == 0)
            nrooms = v;
        else if (strcmp(argv[i], "-j") == 0)
            joined = v;
        else if (strcmp(argv[i], "-b") == 0)
            batch = v;
        else
            die("unknown option");
    }
    if (joined > nrooms || nrooms % joined != 0)
        die("-j must divide -r");
    log_set_level(LOG_WARN);
    if (config_load(argv[0], &cfg, err, sizeof(err)) != 0)
        die(err);
    if (signing_key_load_or_generate(cfg->signing_key_path, &key, err, sizeof(err)) != 0)
        die(err);
    if (store_open(cfg, &f.st) != STORE_OK)
        die("cannot open the database");
    f.rs = rooms_new(f.st, cfg->server_name, &key);
    vocab_init();

    for (int u = 0; u < USERS; u++) {
        snprintf(f.users[u], sizeof(f.users[u]), "@user%03d:%s", u, cfg->server_name);
        if (store_user_create(f.st, f.users[u], NULL, false, false, util_now_ms()) != STORE_OK)
            die("user create failed (is the database fresh?)");
    }
    snprintf(f.searcher, sizeof(f.searcher), "@searcher:%s", cfg->server_name);
    token = util_random_token(24);
    util_sha256_hex(token, strlen(token), tokhash);
    if (store_user_create(f.st, f.searcher, NULL, false, false, util_now_ms()) != STORE_OK ||
        store_device_login(f.st, f.searcher, "BENCHDEV", "bench", tokhash, "127.0.0.1", NULL,
                           util_now_ms()) != STORE_OK)
        die("searcher create failed");

    t0 = now_s();
    room_ids = calloc((size_t)nrooms, sizeof(*room_ids));
    for (long r = 0; r < nrooms; r++) {
        snprintf(room_ids[r], sizeof(room_ids[r]), "!bench%04ld:%s", r, cfg->server_name);
        create_room(&f, (int)r, room_ids[r], r % (nrooms / joined) == 0);
    }
    t1 = now_s();
    printf("FILL rooms=%ld users=%d searcher_rooms=%ld setup_s=%.1f\n", nrooms, USERS, joined,
           t1 - t0);
    fflush(stdout);

    {
        struct rooms_proto *p = calloc((size_t)batch, sizeof(*p));
        json_t **c = calloc((size_t)batch, sizeof(*c));
        char body[256];
        long rounds = (per_room + batch - 1) / batch, next_report = 1;
        for (long round = 0; round < rounds; round++) {
            long n = per_room - round * batch < batch ? per_room - round * batch : batch;
            for (long r = 0; r < nrooms; r++) {
                for (long i = 0; i < n; i++) {
                    size_t len = 0;
                    int words = 5 + (int)(next_rand() % 11);
                    for (int w = 0; w < words; w++)
                        len += (size_t)snprintf(body + len, sizeof(body) - len, "%s%s",
                                                w ? " " : "", zipf_word());
                    c[i] = json_pack("{s:s, s:s}", "msgtype", "m.text", "body", body);
                    p[i] = (struct rooms_proto){
                        f.users[(r + (long)((round * batch + i) % MEMBERS) * 7) % USERS],
                        "m.room.message", NULL, c[i], NULL};
                }
                send_or_die(&f, room_ids[r], p, (size_t)n);
                for (long i = 0; i < n; i++)
                    json_decref(c[i]);
                sent += n;
            }
            if ((round + 1) * 10 >= next_report * rounds) {
                fprintf(stderr, "# fill: %ld messages, %.0f/s\n", sent, sent / (now_s() - t1));
                next_report++;
            }
        }
        free(p);
        free(c);
    }
    printf("FILL messages=%ld seconds=%.1f per_s=%.0f batch=%ld\n", sent, now_s() - t1,
           sent / (now_s() - t1), batch);
    /* Indexing comes after the send (issue 3): done here, so the server starts current. */
    t1 = now_s();
    if (store_search_catch_up(f.st, 0, NULL) != STORE_OK)
        die("search indexing failed");
    printf("INDEX messages=%ld seconds=%.1f per_s=%.0f\n", sent, now_s() - t1,
           sent / (now_s() - t1));
    printf("TOKEN %s\n", token);
    free(token);
    free(room_ids);
    rooms_free(f.rs);
    store_close(f.st);
    signing_key_wipe(&key);
    config_free(cfg);
    return 0;
}

/* ---- query ---- */

struct buf {
    char *p;
    size_t len;
};

static size_t
on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t n = size * nmemb;
    b->p = realloc(b->p, b->len + n + 1);
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
pct(const double *v, int n, int permille)
{
    int i = (int)ceil(n * permille / 1000.0) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

struct client {
    CURL *h;
    struct curl_slist *hdrs;
    char url[512];
    long server_pid; /* 0: not watched */
};

/* The server's CPU time so far (user + system), in seconds; -1 if unknown. */
static double
server_cpu_s(long pid)
{
    char path[64], buf[1024], *p;
    unsigned long ut = 0, st = 0;
    FILE *f;
    size_t n;

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* After the command name in parentheses: state is field 3, utime 14, stime 15. */
    if (!(p = strrchr(buf, ')')) ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* One search; returns milliseconds, and the count and result count. */
static double
one_search(struct client *c, const char *term, const char *order, long *count, long *results)
{
    json_t *body = json_pack("{s:{s:{s:s, s:s, s:{s:i}}}}", "search_categories", "room_events",
                             "search_term", term, "order_by", order, "filter", "limit", 10);
    char *text = json_dumps(body, JSON_COMPACT);
    struct buf b = {0};
    long status = 0;
    double t0, t1;
    json_t *resp, *re;

    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &b);
    t0 = now_s();
    if (curl_easy_perform(c->h) != CURLE_OK)
        die("request failed");
    t1 = now_s();
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        fprintf(stderr, "search_bench: HTTP %ld: %s\n", status, b.p ? b.p : "");
        exit(1);
    }
    resp = json_loads(b.p, 0, NULL);
    re = json_object_get(json_object_get(resp, "search_categories"), "room_events");
    *count = (long)json_integer_value(json_object_get(re, "count"));
    *results = (long)json_array_size(json_object_get(re, "results"));
    json_decref(resp);
    json_decref(body);
    free(text);
    free(b.p);
    return (t1 - t0) * 1000;
}

static void
run_class(struct client *c, const char *name, int fixed_rank, int n, const char *order)
{
    double *lat = calloc((size_t)n, sizeof(*lat));
    double *counts = calloc((size_t)n, sizeof(*counts));
    long count, results, empty = 0;
    const char *term = fixed_rank >= 0 ? vocab[fixed_rank] : NULL;

    double cpu0;
    char cpu[48] = "";

    /* Warm the connection and the statement caches. */
    one_search(c, term ? term : vocab[0], order, &count, &results);
    cpu0 = server_cpu_s(c->server_pid);
    for (int i = 0; i < n; i++) {
        const char *t = term ? term : vocab[next_rand() % VOCAB];
        lat[i] = one_search(c, t, order, &count, &results);
        counts[i] = (double)count;
        empty += results == 0;
    }
    if (cpu0 >= 0 && server_cpu_s(c->server_pid) >= 0)
        snprintf(cpu, sizeof(cpu), " server_cpu_ms=%.2f",
                 (server_cpu_s(c->server_pid) - cpu0) * 1000 / n);
    qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
    qsort(counts, (size_t)n, sizeof(*counts), cmp_double);
    printf("RESULT words=%s order=%s queries=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
           "median_count=%.0f max_count=%.0f empty=%ld%s%s%s\n",
           name, order, n, pct(lat, n, 500), pct(lat, n, 900), pct(lat, n, 990), lat[n - 1],
           pct(counts, n, 500), counts[n - 1], empty, cpu, term ? " word=" : "", term ? term : "");
    fflush(stdout);
    free(lat);
    free(counts);
}

static int64_t
db_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void
sizes(const char *path)
{
    sqlite3 *db = NULL;
    struct stat sb;
    int64_t msgs, index, events, total;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        die("cannot open the database read-only");
    msgs = db_int(db, "SELECT count(*) FROM events WHERE type = 'm.room.message'");
    index = db_int(db, "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'event_search%'");
    events = db_int(db, "SELECT sum(pgsize) FROM dbstat WHERE name = 'events' OR name IN "
                        "(SELECT name FROM sqlite_schema WHERE tbl_name = 'events')");
    total = stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
    printf("SIZE messages=%lld index_bytes=%lld index_bytes_per_message=%.1f "
           "events_bytes_per_message=%.1f db_bytes=%lld\n",
           (long long)msgs, (long long)index, msgs > 0 ? (double)index / (double)msgs : 0,
           msgs > 0 ? (double)events / (double)msgs : 0, (long long)total);
    fflush(stdout);
    sqlite3_close(db);
}

static int
cmd_query(int argc, char **argv)
{
    struct client c = {0};
    char auth[256];
    int n = 300;
    static const int ranks[] = {10, 100, 1000, 10000};
    static const char *const orders[] = {"rank", "recent"};

    if (argc < 3)
        die("query BASE_URL TOKEN DB_PATH [-n QUERIES] [-P SERVER_PID]");
    for (int i = 3; i + 1 < argc; i += 2) {
        long v = strtol(argv[i + 1], NULL, 10);
        if (v <= 0)
            die("options take positive numbers");
        if (strcmp(argv[i], "-n") == 0)
            n = (int)v;
        else if (strcmp(argv[i], "-P") == 0)
            c.server_pid = v;
        else
            die("unknown option");
    }
    vocab_init();
    sizes(argv[2]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c.h = curl_easy_init();
    snprintf(c.url, sizeof(c.url), "%s/_matrix/client/v3/search", argv[0]);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", argv[1]);
    c.hdrs = curl_slist_append(c.hdrs, auth);
    c.hdrs = curl_slist_append(c.hdrs, "Content-Type: application/json");
    curl_easy_setopt(c.h, CURLOPT_URL, c.url);
    curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, c.hdrs);
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c.h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c.h, CURLOPT_TCP_NODELAY, 1L);
    for (int o = 0; o < 2; o++) {
        char name[32];
        run_class(&c, "random", -1, n, orders[o]);
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof(name), "top%d", ranks[k]);
            run_class(&c, name, ranks[k] - 1, n / 5 > 10 ? n / 5 : 10, orders[o]);
        }
    }
    curl_slist_free_all(c.hdrs);
    curl_easy_cleanup(c.h);
    curl_global_cleanup();
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "fill") == 0)
        return cmd_fill(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "query") == 0)
        return cmd_query(argc - 2, argv + 2);
    fprintf(stderr, "usage: search_bench fill CONFIG [options] | query BASE_URL TOKEN DB_PATH\n");
    return 2;
}
