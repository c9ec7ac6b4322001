/* media_bench: the content repository's figures (issue 7, "Speed and safety"): upload and
 * download throughput for 1 MB and 50 MB files, thumbnail generation time, and how much the
 * server's resident memory grows during a 50 MB upload (the body is streamed to disk, so
 * the target is a few MB at most).
 *
 * Build: cc -O2 -std=c17 -Wall -Wextra bench/media_bench.c bench/benchlib.c -lcurl
 * Usage: media_bench [-n SMALL_FILES] [-N LARGE_FILES] [-k VARIANTS] [-i IMAGE]... [-P PID]
 * BASE_URL One client, one keep-alive connection, one request at a time: these are per-request
 * figures (how fast one transfer goes), not a concurrency test.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchlib.h"

const char *bench_prog = "media_bench";

#define MB (1024L * 1024L)
#define MAX_IMAGES 4
#define MXC_MAX 256

static const char *base;
static long server_pid;
static char token[ID_MAX];
static CURL *h;
static struct curl_slist *json_hdrs;
static const char *json_hdrs_token;

static size_t
write_buf(char *p, size_t size, size_t n, void *ud)
{
    return buf_append(ud, p, size * n);
}

static size_t
write_count(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    *(size_t *)ud += size * n;
    return size * n;
}

/* A JSON request through benchlib's setup; the status, the body in *resp. */
static long
perform_json(struct req *rq, struct buf *resp)
{
    long status = 0;

    resp->len = 0;
    req_apply(h, &json_hdrs, &json_hdrs_token, rq);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_buf);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    if (curl_easy_perform(h) != CURLE_OK)
        return 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (resp->len < resp->cap)
        resp->p[resp->len] = '\0';
    return status;
}

static void
register_user(void)
{
    struct req rq = {0};
    struct buf resp = {.max = 1 << 20};
    char session[ID_MAX], nonce[32];
    char *tok;
    long status;

    fmt(nonce, sizeof(nonce), "%lx", (unsigned long)time(NULL) ^ (unsigned long)getpid());
    register_req(&rq, base, "media", nonce, 0, "BENCH", NULL);
    status = perform_json(&rq, &resp);
    if (!register_take_session(status, resp.p ? resp.p : "", session, sizeof(session)))
        die("registration did not start (HTTP %ld): %s", status, resp.p ? resp.p : "");
    register_req(&rq, base, "media", nonce, 0, "BENCH", session);
    status = perform_json(&rq, &resp);
    tok = register_take_token(status, resp.p ? resp.p : "");
    if (!tok)
        die("registration failed (HTTP %ld): %s", status, resp.p ? resp.p : "");
    fmt(token, sizeof(token), "%s", tok);
    free(tok);
    free(resp.p);
}

/* Uploads len bytes; writes "server/mediaId" into sid. Returns seconds. */
static double
upload(const char *data, size_t len, const char *ctype, char *sid, size_t sid_size)
{
    struct curl_slist *hdrs = NULL;
    struct buf resp = {.max = 1 << 16};
    char url[URL_MAX], hdr[URL_MAX], mxc[MXC_MAX];
    long status = 0;
    double t0;

    fmt(url, sizeof(url), "%s/_matrix/media/v3/upload?filename=bench.bin", base);
    fmt(hdr, sizeof(hdr), "Authorization: Bearer %s", token);
    hdrs = curl_slist_append(hdrs, hdr);
    fmt(hdr, sizeof(hdr), "Content-Type: %s", ctype);
    hdrs = curl_slist_append(hdrs, hdr);
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_buf);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 300000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    t0 = now_s();
    CURLcode cc = curl_easy_perform(h);
    double dt = now_s() - t0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    if (resp.p)
        resp.p[resp.len < resp.cap ? resp.len : resp.cap - 1] = '\0';
    if (cc != CURLE_OK || status != 200 || !resp.p ||
        !json_str(resp.p, "content_uri", mxc, sizeof(mxc)) || strncmp(mxc, "mxc://", 6) != 0)
        die("upload failed: %s, HTTP %ld: %s", curl_easy_strerror(cc), status,
            resp.p ? resp.p : "");
    fmt(sid, sid_size, "%s", mxc + 6);
    free(resp.p);
    curl_easy_reset(h);
    json_hdrs_token = NULL; /* the reset dropped the JSON headers from the handle */
    return dt;
}

/* GET of a media path; the bytes received in *bytes. Returns seconds. */
static double
get_media(const char *path, long want_status, size_t *bytes)
{
    char url[URL_MAX];
    long status = 0;
    double t0;

    *bytes = 0;
    fmt(url, sizeof(url), "%s/_matrix/media/v3/%s", base, path);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_count);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, bytes);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 300000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    t0 = now_s();
    CURLcode cc = curl_easy_perform(h);
    double dt = now_s() - t0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK || status != want_status)
        die("GET %s: %s, HTTP %ld", path, curl_easy_strerror(cc), status);
    return dt;
}

static void
fill_random(char *p, size_t n)
{
    uint64_t x = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    for (size_t i = 0; i + 8 <= n; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(p + i, &x, 8);
    }
}

/* Upload then download `files` files of size_mb MB each; prints UPLOAD and DOWNLOAD lines. */
static void
transfer_phase(long size_mb, int files)
{
    size_t len = (size_t)(size_mb * MB);
    char *data = malloc(len);
    char(*sids)[MXC_MAX] = calloc((size_t)files, MXC_MAX);
    struct lat up_ms, down_ms;
    double up_total = 0, down_total = 0;
    long rss_delta_max = -1, down_delta_max = -1;

    if (!data || !sids)
        die("out of memory");
    fill_random(data, len);
    lat_init(&up_ms, files);
    lat_init(&down_ms, files);
    for (int i = 0; i < files; i++) {
        long before = server_pid ? proc_status_kb(server_pid, "VmRSS") : -1;
        double dt;

        memcpy(data, &i, sizeof(i)); /* distinct content: no sharing of stored files */
        if (server_pid)
            proc_reset_hwm(server_pid);
        dt = upload(data, len, "application/octet-stream", sids[i], MXC_MAX);
        if (server_pid && before >= 0) {
            long hwm = proc_status_kb(server_pid, "VmHWM");
            if (hwm - before > rss_delta_max)
                rss_delta_max = hwm - before;
        }
        up_total += dt;
        lat_add(&up_ms, dt * 1000);
    }
    for (int i = 0; i < files; i++) {
        char path[URL_MAX];
        long before = server_pid ? proc_status_kb(server_pid, "VmRSS") : -1;
        size_t got;
        double dt;

        fmt(path, sizeof(path), "download/%s", sids[i]);
        if (server_pid)
            proc_reset_hwm(server_pid);
        dt = get_media(path, 200, &got);
        if (got != len)
            die("download of %s: %zu bytes, want %zu", sids[i], got, len);
        if (server_pid && before >= 0) {
            long hwm = proc_status_kb(server_pid, "VmHWM");
            if (hwm - before > down_delta_max)
                down_delta_max = hwm - before;
        }
        down_total += dt;
        lat_add(&down_ms, dt * 1000);
    }
    lat_sort(&up_ms);
    lat_sort(&down_ms);
    printf("UPLOAD size_mb=%ld files=%d mb_per_s=%.1f p50_ms=%.1f max_ms=%.1f "
           "server_rss_growth_kb_max=%ld\n",
           size_mb, files, (double)size_mb * files / up_total, percentile(up_ms.v, up_ms.n, 500),
           lat_max(&up_ms), rss_delta_max);
    printf("DOWNLOAD size_mb=%ld files=%d mb_per_s=%.1f p50_ms=%.1f max_ms=%.1f "
           "server_rss_growth_kb_max=%ld\n",
           size_mb, files, (double)size_mb * files / down_total,
           percentile(down_ms.v, down_ms.n, 500), lat_max(&down_ms), down_delta_max);
    fflush(stdout);
    free(up_ms.v);
    free(down_ms.v);
    free(sids);
    free(data);
}

static char *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p;
    long n;

    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        die("cannot read %s", path);
    p = malloc((size_t)n + 16);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n)
        die("cannot read %s", path);
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* For `variants` copies of the image (a counter appended: decoders ignore trailing bytes, the
 * store sees new content), the first request of each thumbnail size makes it; a second one
 * reads the cache. */
static void
thumbnail_phase(const char *path, int variants)
{
    static const struct {
        int w, h;
        const char *method;
    } sizes[] = {{96, 96, "crop"}, {800, 600, "scale"}};
    const char *ext = strrchr(path, '.');
    const char *ctype = ext && strcmp(ext, ".png") == 0 ? "image/png" : "image/jpeg";
    size_t len;
    char *img = read_file(path, &len);
    char(*sids)[MXC_MAX] = calloc((size_t)variants, MXC_MAX);

    if (!sids)
        die("out of memory");
    for (int v = 0; v < variants; v++) {
        memcpy(img + len, &v, sizeof(v));
        upload(img, len + sizeof(v), ctype, sids[v], MXC_MAX);
    }
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        struct lat first, cached;
        double cpu0 = server_pid ? proc_cpu_s(server_pid) : 0;
        size_t bytes = 0;

        lat_init(&first, variants);
        lat_init(&cached, variants);
        for (int v = 0; v < variants; v++) {
            char q[URL_MAX];
            fmt(q, sizeof(q), "thumbnail/%s?width=%d&height=%d&method=%s", sids[v], sizes[s].w,
                sizes[s].h, sizes[s].method);
            lat_add(&first, get_media(q, 200, &bytes) * 1000);
        }
        double cpu = server_pid ? proc_cpu_s(server_pid) - cpu0 : 0;
        for (int v = 0; v < variants; v++) {
            char q[URL_MAX];
            size_t b2;
            fmt(q, sizeof(q), "thumbnail/%s?width=%d&height=%d&method=%s", sids[v], sizes[s].w,
                sizes[s].h, sizes[s].method);
            lat_add(&cached, get_media(q, 200, &b2) * 1000);
        }
        lat_sort(&first);
        lat_sort(&cached);
        printf("THUMBNAIL file=%s bytes=%zu size=%dx%d method=%s made=%d first_p50_ms=%.1f "
               "first_max_ms=%.1f server_cpu_ms_per_thumb=%.1f cached_p50_ms=%.2f "
               "thumb_bytes=%zu\n",
               strrchr(path, '/') ? strrchr(path, '/') + 1 : path, len, sizes[s].w, sizes[s].h,
               sizes[s].method, variants, percentile(first.v, first.n, 500), lat_max(&first),
               cpu * 1000 / variants, percentile(cached.v, cached.n, 500), bytes);
        fflush(stdout);
        free(first.v);
        free(cached.v);
    }
    free(sids);
    free(img);
}

int
main(int argc, char **argv)
{
    const char *images[MAX_IMAGES];
    int n_images = 0, opt;
    long small = 20, large = 3, variants = 5, v;

    while ((opt = getopt(argc, argv, "n:N:k:i:P:")) != -1) {
        switch (opt) {
        case 'n':
            if (!parse_long(optarg, 1, 10000, &small))
                die("-n: 1..10000");
            break;
        case 'N':
            if (!parse_long(optarg, 1, 100, &large))
                die("-N: 1..100");
            break;
        case 'k':
            if (!parse_long(optarg, 1, 1000, &variants))
                die("-k: 1..1000");
            break;
        case 'i':
            if (n_images == MAX_IMAGES)
                die("at most %d images", MAX_IMAGES);
            images[n_images++] = optarg;
            break;
        case 'P':
            if (!parse_long(optarg, 1, 1L << 30, &v))
                die("-P: a process ID");
            server_pid = v;
            break;
        default:
            die("usage: media_bench [-n SMALL_FILES] [-N LARGE_FILES] [-k VARIANTS] [-i IMAGE]... "
                "[-P PID] BASE_URL");
        }
    }
    if (optind != argc - 1)
        die("usage: media_bench [options] BASE_URL");
    base = argv[optind];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    h = curl_easy_init();
    if (!h)
        die("curl_easy_init");
    register_user();
    transfer_phase(1, (int)small);
    transfer_phase(50, (int)large);
    for (int i = 0; i < n_images; i++)
        thumbnail_phase(images[i], (int)variants);
    curl_slist_free_all(json_hdrs);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    return 0;
}
