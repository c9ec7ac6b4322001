/* libmicrohttpd server: a thread pool on epoll; one struct req per request, freed when MHD
 * reports the request completed. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/hs.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "http/auth.h"
#include "http/http.h"
#include "http/ratelimit.h"
#include "json/json.h"

struct http_server {
    struct hs *hs;
    const struct route *routes;
    size_t n_routes;
    struct MHD_Daemon *daemons[CONFIG_MAX_BIND];
    size_t n_daemons;
    atomic_int inflight;
    /* Set at stop. A request may still come in on a kept-alive connection after the drain
     * has found none in flight, and libmicrohttpd aborts at stop on a suspended connection:
     * so once this is set, a request that suspends waits in its own thread instead
     * (req_suspend). Paired with inflight: each side writes its own, then reads the other's. */
    atomic_bool stopping;
    pthread_mutex_t wait_lock;
    pthread_cond_t wait_cv;
    /* Request IDs: a random prefix per start, then a count (issue 14). */
    char id_prefix[8];
    atomic_ulong next_id;
    struct metric *m_requests, *m_duration;
    /* Slow clients (issue 12, soak): every open connection, watched by the reaper. */
    pthread_mutex_t watch_lock;
    pthread_cond_t reaper_cv;
    struct conn_watch *watch_head;
    int64_t timeout_ms;
    pthread_t reaper;
    bool reaper_started, reaper_stop;
};

/* ---- slow clients (issue 12, soak) ----
 * libmicrohttpd's connection timeout counts inactivity: a client sending a byte every few
 * seconds keeps its connection, and the memory behind it, for ever. So each connection also
 * has a deadline by which its whole request (headers and body) must have arrived: set when
 * it opens or its previous answer was sent, pushed back for a long body (at least
 * MIN_UPLOAD_BPS), cleared once the request is complete, so a parked long-poll waits as long
 * as its own timeout says. The reaper shuts down the sockets of connections past their
 * deadline; libmicrohttpd then reads the end of the stream and closes them itself. The entry
 * leaves the list (under watch_lock) before libmicrohttpd closes the descriptor, so the
 * reaper never touches a descriptor number reused by another connection. */
#define MIN_UPLOAD_BPS 16384

struct conn_watch {
    struct conn_watch *prev, *next;
    int fd;
    _Atomic int64_t deadline_ms; /* on mono_ms()'s clock; 0: none */
};

static int64_t
mono_ms(void)
{
    return (int64_t)(util_mono_ns() / 1000000);
}

static struct conn_watch *
conn_watch_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The connection waits for a request (delay_ms from now), or has it all (delay_ms < 0). */
static void
conn_watch_set(struct http_server *srv, struct MHD_Connection *conn, int64_t delay_ms)
{
    struct conn_watch *w = srv && conn ? conn_watch_of(conn) : NULL;

    if (w)
        atomic_store(&w->deadline_ms, delay_ms < 0 ? 0 : mono_ms() + srv->timeout_ms + delay_ms);
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
    struct http_server *srv = cls;
    struct conn_watch *w;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        w = xcalloc(1, sizeof(*w));
        w->fd = ci ? ci->connect_fd : -1;
        atomic_init(&w->deadline_ms, mono_ms() + srv->timeout_ms);
        pthread_mutex_lock(&srv->watch_lock);
        w->next = srv->watch_head;
        if (w->next)
            w->next->prev = w;
        srv->watch_head = w;
        pthread_mutex_unlock(&srv->watch_lock);
        *socket_context = w;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && (w = *socket_context) != NULL) {
        pthread_mutex_lock(&srv->watch_lock);
        if (w->prev)
            w->prev->next = w->next;
        else
            srv->watch_head = w->next;
        if (w->next)
            w->next->prev = w->prev;
        pthread_mutex_unlock(&srv->watch_lock);
        *socket_context = NULL;
        free(w);
    }
}

static void *
reaper_main(void *arg)
{
    struct http_server *srv = arg;
    int64_t tick = srv->timeout_ms / 4 < 50     ? 50
                   : srv->timeout_ms / 4 > 1000 ? 1000
                                                : srv->timeout_ms / 4;

    pthread_mutex_lock(&srv->watch_lock);
    while (!srv->reaper_stop) {
        struct timespec ts;
        int64_t now = mono_ms();
        long n = 0;

        for (struct conn_watch *w = srv->watch_head; w; w = w->next) {
            int64_t d = atomic_load(&w->deadline_ms);
            if (d && now >= d && w->fd >= 0) {
                atomic_store(&w->deadline_ms, 0);
                shutdown(w->fd, SHUT_RDWR);
                n++;
            }
        }
        if (n)
            log_debug("http: closed %ld connections that sent no whole request in %lld ms", n,
                      (long long)srv->timeout_ms);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(tick / 1000);
        ts.tv_nsec += (long)(tick % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->reaper_cv, &srv->watch_lock, &ts);
    }
    pthread_mutex_unlock(&srv->watch_lock);
    return NULL;
}

static int
reaper_start(struct http_server *srv)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->reaper_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&srv->reaper, NULL, reaper_main, srv) != 0) {
        pthread_cond_destroy(&srv->reaper_cv);
        return -1;
    }
    srv->reaper_started = true;
    return 0;
}

static void
reaper_stop(struct http_server *srv)
{
    if (!srv->reaper_started)
        return;
    pthread_mutex_lock(&srv->watch_lock);
    srv->reaper_stop = true;
    pthread_cond_signal(&srv->reaper_cv);
    pthread_mutex_unlock(&srv->watch_lock);
    pthread_join(srv->reaper, NULL);
    pthread_cond_destroy(&srv->reaper_cv);
    srv->reaper_started = false;
}

/* ---- (end of slow clients) ---- */

static enum http_method
parse_method(const char *m)
{
    static const struct {
        const char *name;
        enum http_method method;
    } methods[] = {{"GET", HTTP_GET},       {"POST", HTTP_POST},       {"PUT", HTTP_PUT},
                   {"DELETE", HTTP_DELETE}, {"OPTIONS", HTTP_OPTIONS}, {"HEAD", HTTP_HEAD}};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(m, methods[i].name) == 0)
            return methods[i].method;
    return HTTP_OTHER;
}

/* MHD must not decode: paths are split before decoding, and query values are decoded on
 * demand by req_query. */
static size_t
unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

const char *
req_header(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

bool
req_has_query(struct req *r, const char *name)
{
    return MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), NULL,
                                         NULL) == MHD_YES;
}

const char *
req_query(struct req *r, const char *name)
{
    const char *raw = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    char *dec;

    if (!raw) {
        /* "?name" without "=" counts as an empty value. */
        return req_has_query(r, name) ? "" : NULL;
    }
    dec = util_url_decode(raw, strlen(raw), true);
    if (!dec)
        return NULL;
    return arena_adopt(&r->arena, dec);
}

struct forward {
    const char *const *skip;
    char *out;
    size_t len, cap;
};

static void
forward_put(struct forward *f, const char *s, bool escape)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = !escape || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
        if (f->len + 4 > f->cap) {
            f->cap = f->cap ? f->cap * 2 : 128;
            f->out = xrealloc(f->out, f->cap);
        }
        if (plain) {
            f->out[f->len++] = (char)c;
        } else {
            f->out[f->len++] = '%';
            f->out[f->len++] = hex[c >> 4];
            f->out[f->len++] = hex[c & 15];
        }
    }
}

static enum MHD_Result
forward_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct forward *f = cls;
    char *k = util_url_decode(key, strlen(key), true);
    char *v = value ? util_url_decode(value, strlen(value), true) : xstrdup("");
    bool skip = !k || !v || strcmp(k, "access_token") == 0;
    (void)kind;

    for (size_t i = 0; f->skip && f->skip[i] && !skip; i++)
        skip = strcmp(k, f->skip[i]) == 0;
    if (!skip) {
        if (f->len)
            forward_put(f, "&", false);
        forward_put(f, k, true);
        forward_put(f, "=", false);
        forward_put(f, v, true);
    }
    free(k);
    free(v);
    return MHD_YES;
}

const char *
req_query_forward(struct req *r, const char *const *skip)
{
    struct forward f = {skip, NULL, 0, 0};

    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, forward_arg, &f);
    if (!f.out)
        return "";
    f.out[f.len] = '\0';
    return arena_adopt(&r->arena, f.out);
}

static void
client_ip(struct req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    snprintf(r->ip, sizeof(r->ip), "unknown");
    if (!sa)
        return;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->ip, sizeof(r->ip));
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->ip, sizeof(r->ip));
        if (strncmp(r->ip, "::ffff:", 7) == 0 && strchr(r->ip, '.'))
            memmove(r->ip, r->ip + 7, strlen(r->ip + 7) + 1);
    }
}

/* Behind a reverse proxy (listener x_forwarded: true), the client is the first address of
 * X-Forwarded-For, as Synapse takes it; a value that is not an IP address is ignored. */
static void
forwarded_ip(struct req *r)
{
    const char *h = req_header(r, "X-Forwarded-For");
    unsigned char addr[16];
    char first[64];
    size_t len;

    if (!h)
        return;
    h += strspn(h, " ");
    len = strcspn(h, ", ");
    if (len == 0 || len >= sizeof(first))
        return;
    memcpy(first, h, len);
    first[len] = '\0';
    if (inet_pton(AF_INET, first, addr) == 1 || inet_pton(AF_INET6, first, addr) == 1)
        snprintf(r->ip, sizeof(r->ip), "%s", first);
}

static enum MHD_Result
check_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    bool *bad = cls;
    char *dec;
    (void)kind;

    for (const char *part = key; part; part = part == key ? value : NULL) {
        dec = util_url_decode(part, strlen(part), true);
        if (!dec || !util_valid_utf8(dec, strlen(dec))) {
            *bad = true;
            free(dec);
            return MHD_NO;
        }
        free(dec);
    }
    return MHD_YES;
}

/* True if every query parameter decodes to valid UTF-8. */
static bool
query_valid(struct req *r)
{
    bool bad = false;
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_arg, &bad);
    return !bad;
}

static void
parse_body(struct req *r)
{
    char msg[256];
    enum json_status js;

    if (r->body_len == 0 && (r->route->flags & ROUTE_JSON_OPTIONAL)) {
        r->json = json_object();
        return;
    }
    js = json_parse_object(r->body ? r->body : "", r->body_len, &r->json, msg, sizeof(msg));
    if (js == JSONS_NOT_JSON)
        reply_error(r, MERR_NOT_JSON, "%s", msg);
    else if (js == JSONS_BAD_JSON)
        reply_error(r, MERR_BAD_JSON, "%s", msg);
}

static void
dispatch(struct http_server *srv, struct req *r)
{
    const struct route *rt;
    int64_t retry;

    /* CORS preflight: any path, the answer carries the CORS headers added to every reply. */
    if (r->method == HTTP_OPTIONS) {
        reply_empty(r);
        return;
    }
    /* (A streamed route was matched when its headers came in.) */
    switch (r->route ? ROUTE_FOUND : router_match(srv->routes, srv->n_routes, r)) {
    case ROUTE_NO_PATH:
        reply_error(r, MERR_UNRECOGNIZED, "Unrecognized request");
        return;
    case ROUTE_BAD_METHOD:
        reply_error_status(r, 405, MERR_UNRECOGNIZED, "Unrecognized request");
        return;
    case ROUTE_FOUND:
        break;
    }
    rt = r->route;
    if (!query_valid(r)) {
        reply_error(r, MERR_INVALID_PARAM, "Malformed query string");
        return;
    }
    if (r->too_large) {
        reply_error(r, MERR_TOO_LARGE, "Request body too large");
        return;
    }
    if (rt->auth != AUTH_NONE && !auth_request_or_reply(r))
        return;
    if (r->is_guest && !(rt->flags & ROUTE_GUEST_OK)) {
        reply_error(r, MERR_GUEST_ACCESS_FORBIDDEN, "Guest access not allowed");
        return;
    }
    if ((rt->flags & ROUTE_RATELIMIT) && r->user_id && auth_rate_limited(r) &&
        !ratelimit_check(r->hs->rl_message, r->user_id, util_now_ms(), true, &retry)) {
        reply_limit_exceeded(r, retry);
        return;
    }
    if (rt->flags & (ROUTE_JSON | ROUTE_JSON_OPTIONAL)) {
        parse_body(r);
        if (!r->json)
            return;
    }
    rt->fn(r);
    if (!r->resp && !r->suspended && !r->body_sink)
        reply_internal(r, "handler wrote no response");
}

/* ROUTE_STREAM: routed, authenticated and handed to its handler before the body is read.
 * True if the request is such a route. */
static bool
dispatch_stream(struct http_server *srv, struct req *r)
{
    if (r->method == HTTP_OPTIONS || router_match(srv->routes, srv->n_routes, r) != ROUTE_FOUND)
        return false;
    if (!(r->route->flags & ROUTE_STREAM))
        return false;
    dispatch(srv, r);
    return true;
}

void
req_suspend(struct req *r)
{
    struct http_server *srv = r->hs->http;

    r->suspended = true;
    /* The request was counted in flight before this load (http_server_stop). */
    if (srv && atomic_load(&srv->stopping)) {
        r->waits_here = true;
        return;
    }
    MHD_suspend_connection(r->conn);
}

/* Resumed: the handler looks again (it replies or suspends again). */
static void
run_resumed(struct req *r)
{
    r->suspended = false;
    r->resumed = true;
    r->route->fn(r);
}

/* A request suspended while the server stops: its thread waits for req_resume, then runs the
 * handler again as libmicrohttpd would after a resume, until it has replied. */
static void
wait_here(struct http_server *srv, struct req *r)
{
    while (r->suspended && r->waits_here) {
        pthread_mutex_lock(&srv->wait_lock);
        while (!r->woken)
            pthread_cond_wait(&srv->wait_cv, &srv->wait_lock);
        r->woken = false;
        pthread_mutex_unlock(&srv->wait_lock);
        run_resumed(r);
    }
}

void
req_resume(struct req *r)
{
    struct http_server *srv = r->hs->http;

    if (r->waits_here) {
        pthread_mutex_lock(&srv->wait_lock);
        r->woken = true;
        pthread_cond_broadcast(&srv->wait_cv);
        pthread_mutex_unlock(&srv->wait_lock);
        return;
    }
    MHD_resume_connection(r->conn);
}

/* ---- access log and metrics (issue 14) ---- */

/* Query parameters whose values are secrets: never logged. */
static bool
secret_param(const char *key)
{
    return strstr(key, "token") || strstr(key, "password") || strstr(key, "secret") ||
           strstr(key, "mac") || strstr(key, "nonce");
}

struct query_buf {
    char text[512];
    size_t len;
};

static enum MHD_Result
add_query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct query_buf *q = cls;
    int n;
    (void)kind;

    n = snprintf(q->text + q->len, sizeof(q->text) - q->len, "%s%s%s%s", q->len ? "&" : "?", key,
                 value ? "=" : "",
                 !value              ? ""
                 : secret_param(key) ? "<redacted>"
                                     : value);
    if (n < 0 || (size_t)n >= sizeof(q->text) - q->len) {
        q->len = sizeof(q->text) - 1;
        return MHD_NO; /* the rest is cut */
    }
    q->len += (size_t)n;
    return MHD_YES;
}

/* The route a request matched, as its template ("/_matrix/client/{version}/sync"): metrics get one
 * series per endpoint, not per room or user. */
static void
route_label(const struct req *r, char *buf, size_t len)
{
    if (!r->route) {
        snprintf(buf, len, "%s", r->method == HTTP_OPTIONS ? "(preflight)" : "(unmatched)");
        return;
    }
    snprintf(buf, len, "%s%s",
             r->route->prefix == PFX_CLIENT  ? "/_matrix/client/{version}"
             : r->route->prefix == PFX_MEDIA ? "/_matrix/media/{version}"
                                             : "",
             r->route->pattern);
}

static void
account(struct req *r)
{
    struct http_server *srv = r->hs->http;
    double secs = (double)(util_mono_ns() - r->start_ns) / 1e9;
    struct query_buf q = {.len = 0};
    char route[256], code[8];
    const char *method = r->method == HTTP_OTHER ? "OTHER" : r->method_str;

    q.text[0] = '\0';
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_query_arg, &q);
    log_info("%s %s %s%s %d %.1fms", r->ip, r->method_str, r->path, q.text, r->status, secs * 1000);
    if (!srv)
        return;
    route_label(r, route, sizeof(route));
    snprintf(code, sizeof(code), "%d", r->status);
    metrics_inc(srv->m_requests, (const char *[]){method, route, code}, 1);
    metrics_observe(srv->m_duration, (const char *[]){method, route}, secs);
}

static enum MHD_Result
send_reply(struct req *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    bool cache_control = false;

    if (r->resp_fd >= 0) {
        resp = MHD_create_response_from_fd_at_offset64(r->resp_len, r->resp_fd, r->resp_fd_offset);
        if (!resp)
            return MHD_NO;
        r->resp_fd = -1; /* MHD closes it */
    } else {
        resp = MHD_create_response_from_buffer(r->resp_len, r->resp, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            return MHD_NO;
        r->resp = NULL; /* MHD owns it now */
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    for (size_t i = 0; i < r->n_resp_hdrs; i++) {
        MHD_add_response_header(resp, r->resp_hdr_names[i], r->resp_hdr_values[i]);
        if (strcasecmp(r->resp_hdr_names[i], "Cache-Control") == 0)
            cache_control = true;
    }
    /* Stopping: the client takes its next request elsewhere (or to the restarted server). */
    if (r->hs->http && atomic_load(&r->hs->http->stopping))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    /* SPEC: client_server_api "Web Browser Clients": these CORS headers on every response. */
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                            "GET, POST, PUT, DELETE, OPTIONS");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                            "Origin, X-Requested-With, Content-Type, Accept, Authorization");
    if (!cache_control)
        MHD_add_response_header(resp, "Cache-Control", "no-cache, no-store, must-revalidate");
    conn_watch_set(r->hs->http, r->conn, -1); /* answered: no deadline while it is sent */
    ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    account(r);
    return ret;
}

static enum MHD_Result
handle(struct http_server *srv, struct MHD_Connection *conn, const char *url, const char *method,
       const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    struct req *r = *con_cls;

    if (r)
        log_set_request(r->id);
    if (!r) {
        const char *cl;
        int64_t clen;

        r = xcalloc(1, sizeof(*r));
        r->start_ns = util_mono_ns();
        r->hs = srv->hs;
        r->conn = conn;
        r->method_str = method;
        r->method = parse_method(method);
        r->path = xstrdup(url);
        r->status = 500;
        r->resp_fd = -1;
        r->body_max = (size_t)srv->hs->cfg->max_request_size;
        snprintf(r->id, sizeof(r->id), "%s-%lu", srv->id_prefix,
                 (unsigned long)atomic_fetch_add(&srv->next_id, 1) + 1);
        log_set_request(r->id);
        client_ip(r);
        if (srv->hs->cfg->listener.x_forwarded)
            forwarded_ip(r);
        *con_cls = r;
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        /* Slow clients (issue 12, soak): a long body has time to arrive at MIN_UPLOAD_BPS. */
        if (cl && util_parse_int64(cl, &clen) == 0 && clen > 0) {
            struct conn_watch *w = conn_watch_of(conn);
            int64_t extra = clen / MIN_UPLOAD_BPS * 1000;
            if (w && atomic_load(&w->deadline_ms))
                atomic_fetch_add(&w->deadline_ms, extra);
        }
        if (dispatch_stream(srv, r))
            return r->resp ? send_reply(r) : MHD_YES; /* an error answers before the body */
        if (cl && util_parse_int64(cl, &clen) == 0 && clen > (int64_t)r->body_max) {
            /* Answer before reading the body; MHD closes the connection after it. */
            reply_error(r, MERR_TOO_LARGE, "Request body too large");
            return send_reply(r);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->body_sink) {
            if (!r->resp)
                r->body_sink(r, upload_data, n);
            return MHD_YES;
        }
        if (r->too_large)
            return MHD_YES;
        if (r->body_len + n > r->body_max) {
            r->too_large = true;
            free(r->body);
            r->body = NULL;
            r->body_len = r->body_cap = 0;
            return MHD_YES;
        }
        if (r->body_len + n + 1 > r->body_cap) {
            r->body_cap = (r->body_len + n + 1) * 2;
            if (r->body_cap > r->body_max + 1)
                r->body_cap = r->body_max + 1;
            r->body = xrealloc(r->body, r->body_cap);
        }
        memcpy(r->body + r->body_len, upload_data, n);
        r->body_len += n;
        r->body[r->body_len] = '\0';
        return MHD_YES;
    }
    if (r->suspended) {
        run_resumed(r);
        wait_here(srv, r);
        if (r->suspended)
            return MHD_YES;
        if (!r->resp)
            reply_internal(r, "handler wrote no response");
        return send_reply(r);
    }
    if (!r->inflight) {
        conn_watch_set(srv, conn, -1); /* the whole request is in (issue 12, soak) */
        r->inflight = true;
        atomic_fetch_add(&srv->inflight, 1);
    }
    if (r->body_sink) { /* a streamed body is complete, or its sink replied */
        if (!r->resp) {
            r->body_done = true;
            r->route->fn(r);
            if (!r->resp)
                reply_internal(r, "handler wrote no response");
        }
        return send_reply(r);
    }
    if (r->resp) /* already answered (early 413) */
        return MHD_YES;
    dispatch(srv, r);
    wait_here(srv, r);
    if (r->suspended)
        return MHD_YES;
    return send_reply(r);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    enum MHD_Result ret;
    (void)version;

    ret = handle(cls, conn, url, method, upload_data, upload_data_size, con_cls);
    log_set_request(NULL);
    return ret;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct req *r = *con_cls;
    (void)toe;

    conn_watch_set(srv, conn, 0); /* keep-alive: the next request is due (issue 12, soak) */
    if (!r)
        return;
    *con_cls = NULL;
    if (r->ctx_free)
        r->ctx_free(r->ctx);
    json_decref(r->json);
    if (r->resp_fd >= 0)
        close(r->resp_fd);
    arena_free(&r->arena);
    free(r->body);
    free(r->resp);
    free(r->path);
    if (r->inflight)
        atomic_fetch_sub(&srv->inflight, 1);
    free(r);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    /* Clients hanging up is routine, not a warning. */
    log_msg(strstr(msg, "closed by remote") ? LOG_DEBUG : LOG_WARN, "http: %s", msg);
}

/* Long-polls keep a connection each, so the limit is the process's file limit (raised to its
 * hard maximum), not libmicrohttpd's select-era default of FD_SETSIZE. Each connection's
 * memory pool is small (headers and the read buffer; bodies and replies are ours).
 * sync memory (issue 4): libmicrohttpd zeroes the whole pool between keep-alive requests, so
 * every connection that has served a request keeps all of it resident; it was most of what
 * a parked /sync costs. 12 KiB still takes a request line and headers of about 11 KB. */
#define HTTP_CONN_POOL (12 * 1024)
static unsigned
connection_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1000;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Leave room for the database, the log and the listening sockets. */
    return rl.rlim_cur > 200 ? (unsigned)(rl.rlim_cur - 100) : 100;
}

static void
collect_inflight(void *arg, struct metrics_sink *sink)
{
    struct http_server *srv = arg;
    metrics_sink_add(sink, NULL, (double)atomic_load(&srv->inflight));
}

bool
http_listen_addr(const char *what, const char *addr, int port, struct sockaddr_storage *ss,
                 bool *ipv6)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    *ipv6 = false;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        return true;
    }
    if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *ipv6 = true;
        return true;
    }
    log_error("%s '%s' is not an IP address", what, addr);
    return false;
}

int
http_server_start(struct hs *hs, const struct route *routes, size_t n_routes,
                  struct http_server **out)
{
    const struct config_listener *l = &hs->cfg->listener;
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    unsigned pool = hs->cfg->thread_pool_size > 0 ? (unsigned)hs->cfg->thread_pool_size
                                                  : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);

    /* More threads than cores: a thread waiting for a shared commit is not using its core,
     * and waiting threads are what group commit batches. */
    if (hs->cfg->thread_pool_size <= 0)
        pool = pool * 8 < 16 ? 16 : pool * 8;
    unsigned max_conns = connection_limit();
    /* libmicrohttpd's own (inactivity) timeout, in whole seconds (issue 12, soak). */
    int64_t tsecs = (l->connection_timeout_ms > 0 ? l->connection_timeout_ms + 999 : 90000) / 1000;
    unsigned timeout_s = tsecs > 86400 ? 86400u : (unsigned)tsecs;
    srv->hs = hs;
    hs->http = srv;
    /* slow clients (issue 12, soak) */
    pthread_mutex_init(&srv->watch_lock, NULL);
    pthread_mutex_init(&srv->wait_lock, NULL);
    pthread_cond_init(&srv->wait_cv, NULL);
    srv->timeout_ms = l->connection_timeout_ms > 0 ? l->connection_timeout_ms : 90000;
    if (reaper_start(srv) < 0) {
        log_error("cannot start the connection reaper thread");
        goto fail;
    }
    {
        char *rnd = util_random_string("abcdefghijklmnopqrstuvwxyz0123456789", 6);
        snprintf(srv->id_prefix, sizeof(srv->id_prefix), "%s", rnd);
        free(rnd);
    }
    srv->m_requests = metrics_counter("hearth_http_requests_total",
                                      "HTTP requests answered, by method, route template and "
                                      "status code.",
                                      "method,route,code");
    srv->m_duration = metrics_histogram("hearth_http_request_duration_seconds",
                                        "Time from a request's arrival to its answer (long-polls "
                                        "included), by method and route template.",
                                        "method,route", NULL, 0);
    metrics_register_collector("hearth_http_requests_in_flight",
                               "HTTP requests being handled or waiting (long-polls) now.",
                               METRIC_GAUGE, NULL, collect_inflight, srv);
    srv->routes = routes;
    srv->n_routes = n_routes;
    for (size_t i = 0; i < l->n_bind; i++) {
        struct sockaddr_storage ss;
        /* poll, not epoll: libmicrohttpd 0.9.75's edge-triggered epoll misses a FIN that
         * arrives with the last data of an incomplete upload and leaks the connection. */
        unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                         MHD_USE_ERROR_LOG | MHD_USE_ITC;
        bool ipv6;
        if (!http_listen_addr("listeners: bind address", l->bind_addresses[i], l->port, &ss, &ipv6))
            goto fail;
        if (ipv6)
            flags |= MHD_USE_IPv6;
        srv->daemons[srv->n_daemons] = MHD_start_daemon(
            flags, (uint16_t)l->port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
            mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
            MHD_OPTION_THREAD_POOL_SIZE, pool, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
            MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
            timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_POOL,
            MHD_OPTION_CONNECTION_LIMIT, max_conns, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
            srv, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)l->max_connections_per_ip,
            MHD_OPTION_END);
        if (!srv->daemons[srv->n_daemons]) {
            log_error("cannot listen on %s port %d", l->bind_addresses[i], l->port);
            goto fail;
        }
        srv->n_daemons++;
        log_info("listening on %s port %d (%u threads)", l->bind_addresses[i], l->port, pool);
    }
    *out = srv;
    return 0;
fail:
    http_server_stop(srv, 0);
    return -1;
}

void
http_server_stop(struct http_server *srv, int timeout_ms)
{
    if (!srv)
        return;
    atomic_store(&srv->stopping, true);
    for (size_t i = 0; i < srv->n_daemons; i++)
        MHD_quiesce_daemon(srv->daemons[i]);
    /* Drain: requests already being handled finish and are answered. */
    for (int waited = 0; waited < timeout_ms && atomic_load(&srv->inflight) > 0; waited += 10)
        usleep(10000);
    /* libmicrohttpd aborts on a connection still suspended (a long-poll, or a send waiting
     * for its commit): say so first. */
    if (timeout_ms > 0 && atomic_load(&srv->inflight) > 0)
        log_error("%d requests still in flight after %d ms; stopping anyway",
                  atomic_load(&srv->inflight), timeout_ms);
    for (size_t i = 0; i < srv->n_daemons; i++)
        MHD_stop_daemon(srv->daemons[i]);
    reaper_stop(srv); /* after the daemons: every connection is gone (issue 12, soak) */
    pthread_mutex_destroy(&srv->watch_lock);
    pthread_mutex_destroy(&srv->wait_lock);
    pthread_cond_destroy(&srv->wait_cv);
    metrics_unregister_collectors(srv);
    if (srv->hs->http == srv)
        srv->hs->http = NULL;
    free(srv);
}
