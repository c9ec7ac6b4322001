/* The HTTP edge: requests, routes, replies. libmicrohttpd stays inside src/http/. */
#ifndef HEARTH_HTTP_HTTP_H
#define HEARTH_HTTP_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"

struct hs;
struct MHD_Connection;
struct appservice;

enum http_method {
    HTTP_GET,
    HTTP_POST,
    HTTP_PUT,
    HTTP_DELETE,
    HTTP_OPTIONS,
    HTTP_HEAD,
    HTTP_OTHER
};

#define ROUTE_MAX_PARAMS 4
#define REQ_MAX_HEADERS 12

struct req;
typedef void (*route_handler)(struct req *r);

enum route_prefix {
    PFX_CLIENT, /* /_matrix/client/r0 and /_matrix/client/v3 */
    PFX_MEDIA,  /* /_matrix/media/r0 and /_matrix/media/v3 */
    PFX_EXACT,  /* the pattern is the whole path */
};

enum route_auth { AUTH_NONE, AUTH_OPTIONAL, AUTH_REQUIRED };

enum route_flags {
    ROUTE_JSON = 1 << 0,          /* the body must be a JSON object; parsed into r->json */
    ROUTE_JSON_OPTIONAL = 1 << 1, /* like ROUTE_JSON, but an empty body means {} */
    ROUTE_GUEST_OK = 1 << 2,      /* guests may call it (modules/guest_access.rst) */
    ROUTE_RATELIMIT = 1 << 3,     /* counts against rc_message for the user */
    ROUTE_STREAM = 1 << 4,        /* the body goes to the handler's body_sink (uploads) */
};

struct route {
    enum http_method method;
    enum route_prefix prefix;
    const char *pattern; /* "/devices/{deviceId}": {x} matches one path segment */
    route_handler fn;
    enum route_auth auth;
    unsigned flags;
};

struct req {
    struct hs *hs;
    struct MHD_Connection *conn;
    enum http_method method;
    const char *method_str;
    char *path;                           /* as received, without the query */
    const char *params[ROUTE_MAX_PARAMS]; /* path parameters, %-decoded */
    const struct route *route;
    char ip[64];
    struct arena arena;
    uint64_t start_ns;
    char id[32]; /* the request ID in every log line about it (issue 14) */

    char *body;
    size_t body_len, body_cap, body_max;
    bool too_large;
    json_t *json; /* the parsed body (ROUTE_JSON); owned */

    /* ROUTE_STREAM: the body is never collected. The handler is called as soon as the
     * headers are in (body_done false) and either replies (the answer goes out at once and
     * the body is not read) or sets body_sink, which then gets every chunk; a sink that
     * returns false has replied with an error, and the rest of the body is discarded. When
     * the body is complete the handler is called again (body_done true) to reply, unless the
     * sink failed. State lives in ctx/ctx_free. */
    bool (*body_sink)(struct req *r, const char *data, size_t len);
    bool body_done;
    /* Counted in the server's in-flight requests (shutdown drains those): set once the body
     * is complete, so a client trickling a body cannot hold up shutdown (issue 12). */
    bool inflight;

    /* Set by authentication. */
    const char *access_token;
    const char *user_id;
    const char *device_id;
    bool is_guest;
    /* An application service's as_token (issue 13): the service, acting as user_id. */
    const struct appservice *appservice;

    /* Long-polls: a handler may suspend the request instead of replying; after req_resume
     * it is called again (resumed true) and replies or suspends again. ctx survives between
     * the calls and is freed with ctx_free when the request ends. */
    bool suspended;
    bool resumed;
    /* Suspended while the server stops: the request waits in its thread (server.c). */
    bool waits_here, woken;
    void *ctx;
    void (*ctx_free)(void *ctx);

    /* The response, filled by a reply_* function. */
    int status;
    char *resp;
    size_t resp_len;
    const char *content_type;
    /* reply_file: resp_len bytes of resp_fd from resp_fd_offset (-1: no file). */
    int resp_fd;
    uint64_t resp_fd_offset;
    /* req_add_header: extra response headers, in the arena. */
    const char *resp_hdr_names[REQ_MAX_HEADERS];
    const char *resp_hdr_values[REQ_MAX_HEADERS];
    size_t n_resp_hdrs;
};

/* Matrix error codes and their usual HTTP status (the table is in reply.c). */
enum merr {
    MERR_FORBIDDEN,
    MERR_UNKNOWN_TOKEN,
    MERR_MISSING_TOKEN,
    MERR_BAD_JSON,
    MERR_NOT_JSON,
    MERR_NOT_FOUND,
    MERR_LIMIT_EXCEEDED,
    MERR_UNKNOWN,
    MERR_UNRECOGNIZED,
    MERR_UNAUTHORIZED,
    MERR_USER_DEACTIVATED,
    MERR_USER_IN_USE,
    MERR_INVALID_USERNAME,
    MERR_ROOM_IN_USE,
    MERR_INVALID_ROOM_STATE,
    MERR_THREEPID_IN_USE,
    MERR_THREEPID_NOT_FOUND,
    MERR_THREEPID_AUTH_FAILED,
    MERR_THREEPID_DENIED,
    MERR_SERVER_NOT_TRUSTED,
    MERR_UNSUPPORTED_ROOM_VERSION,
    MERR_INCOMPATIBLE_ROOM_VERSION,
    MERR_BAD_STATE,
    MERR_GUEST_ACCESS_FORBIDDEN,
    MERR_MISSING_PARAM,
    MERR_INVALID_PARAM,
    MERR_TOO_LARGE,
    MERR_EXCLUSIVE,
    MERR_WEAK_PASSWORD,
    MERR_BAD_ALIAS,
    MERR_CANNOT_LEAVE_SERVER_NOTICE_ROOM,
    MERR_INVALID_SIGNATURE,       /* Matrix v1.1 cross-signing */
    MERR_WRONG_ROOM_KEYS_VERSION, /* Matrix v1.1 key backup */
    MERR_INTERNAL,                /* M_UNKNOWN with 500: details go to the log only */
};

const char *merr_code(enum merr e);
int merr_status(enum merr e);

/* Takes the reference to body. */
void reply_json(struct req *r, int status, json_t *body);
/* 200 {} */
void reply_empty(struct req *r);
/* Takes ownership of body (malloc'd). */
void reply_raw(struct req *r, int status, const char *content_type, char *body, size_t len);
void reply_error(struct req *r, enum merr e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void reply_error_status(struct req *r, int status, enum merr e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An error with extra fields (borrowed object merged into the error body). */
void reply_error_extra(struct req *r, int status, enum merr e, const char *msg,
                       const json_t *extra);
/* 429 M_LIMIT_EXCEEDED with retry_after_ms. */
void reply_limit_exceeded(struct req *r, int64_t retry_after_ms);
/* Logs `what` with the request path and answers 500 M_UNKNOWN. */
void reply_internal(struct req *r, const char *what);
/* Answers len bytes of the file fd from offset, streamed by the server (fd is taken and
 * closed; content_type is copied). */
void reply_file(struct req *r, int status, const char *content_type, int fd, uint64_t offset,
                uint64_t len);
/* Adds a header to the response (both strings copied). A Cache-Control given here replaces
 * the default no-cache. Headers beyond REQ_MAX_HEADERS are dropped (logged). */
void req_add_header(struct req *r, const char *name, const char *value);
/* An HTML page (text/html; charset=utf-8); takes ownership of html (malloc'd). */
void reply_html(struct req *r, int status, char *html);
/* 302 to url (copied), with an empty body. */
void reply_redirect(struct req *r, const char *url);

/* Suspends the request (from its handler): no reply now. */
void req_suspend(struct req *r);
/* Resumes a suspended request; safe from any thread. */
void req_resume(struct req *r);

/* Query parameter, %-decoded into the request's arena; NULL when absent or malformed. */
const char *req_query(struct req *r, const char *name);
bool req_has_query(struct req *r, const char *name);
const char *req_header(struct req *r, const char *name);
/* The query parameters but access_token and those named in skip (NULL-terminated list),
 * decoded and %-encoded again as "k=v&k=v" for passing on (issue 13: third-party lookups);
 * a string in the request's arena, "" when there are none. */
const char *req_query_forward(struct req *r, const char *const *skip);
/* Client-facing prefix of this request's path ("/_matrix/client/r0"), for messages. */

/* ---- the server ---- */
struct http_server;
/* Starts listening; routes is borrowed for the server's lifetime. */
int http_server_start(struct hs *hs, const struct route *routes, size_t n_routes,
                      struct http_server **out);
/* Stops accepting, waits (up to timeout_ms) for requests in flight, then stops. */
void http_server_stop(struct http_server *srv, int timeout_ms);

/* ---- the metrics listener (metrics_server.c; issue 14) ---- */
struct metrics_server;
struct config_listener;
/* Serves metrics_render's text at /metrics (and /_synapse/metrics) on the listener's
 * addresses. 0, or -1 (logged). */
int http_metrics_start(const struct config_listener *l, struct metrics_server **out);

struct sockaddr_storage;
/* Fills *ss with the IPv4 or IPv6 address `addr` and `port` for a listener; *ipv6 says which.
 * False if addr is neither (logged, naming `what`). */
bool http_listen_addr(const char *what, const char *addr, int port, struct sockaddr_storage *ss,
                      bool *ipv6);
void http_metrics_stop(struct metrics_server *ms);

/* ---- routing (router.c) ---- */
enum route_match { ROUTE_FOUND, ROUTE_NO_PATH, ROUTE_BAD_METHOD };
/* Matches path (raw, %-encoded) against the table; on ROUTE_FOUND fills r->route and
 * r->params (decoded into r->arena). */
enum route_match router_match(const struct route *routes, size_t n, struct req *r);

#endif
