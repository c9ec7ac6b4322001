/* Replies, and the one table from Matrix error code to HTTP status. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "http/http.h"
#include "json/json.h"

static const struct {
    const char *code;
    int status;
} merr_table[] = {
    [MERR_FORBIDDEN] = {"M_FORBIDDEN", 403},
    [MERR_UNKNOWN_TOKEN] = {"M_UNKNOWN_TOKEN", 401},
    [MERR_MISSING_TOKEN] = {"M_MISSING_TOKEN", 401},
    [MERR_BAD_JSON] = {"M_BAD_JSON", 400},
    [MERR_NOT_JSON] = {"M_NOT_JSON", 400},
    [MERR_NOT_FOUND] = {"M_NOT_FOUND", 404},
    [MERR_LIMIT_EXCEEDED] = {"M_LIMIT_EXCEEDED", 429},
    [MERR_UNKNOWN] = {"M_UNKNOWN", 400},
    [MERR_UNRECOGNIZED] = {"M_UNRECOGNIZED", 404},
    [MERR_UNAUTHORIZED] = {"M_UNAUTHORIZED", 401},
    [MERR_USER_DEACTIVATED] = {"M_USER_DEACTIVATED", 403},
    [MERR_USER_IN_USE] = {"M_USER_IN_USE", 400},
    [MERR_INVALID_USERNAME] = {"M_INVALID_USERNAME", 400},
    [MERR_ROOM_IN_USE] = {"M_ROOM_IN_USE", 400},
    [MERR_INVALID_ROOM_STATE] = {"M_INVALID_ROOM_STATE", 400},
    [MERR_THREEPID_IN_USE] = {"M_THREEPID_IN_USE", 400},
    [MERR_THREEPID_NOT_FOUND] = {"M_THREEPID_NOT_FOUND", 400},
    [MERR_THREEPID_AUTH_FAILED] = {"M_THREEPID_AUTH_FAILED", 400},
    [MERR_THREEPID_DENIED] = {"M_THREEPID_DENIED", 400},
    [MERR_SERVER_NOT_TRUSTED] = {"M_SERVER_NOT_TRUSTED", 400},
    [MERR_UNSUPPORTED_ROOM_VERSION] = {"M_UNSUPPORTED_ROOM_VERSION", 400},
    [MERR_INCOMPATIBLE_ROOM_VERSION] = {"M_INCOMPATIBLE_ROOM_VERSION", 400},
    [MERR_BAD_STATE] = {"M_BAD_STATE", 400},
    [MERR_GUEST_ACCESS_FORBIDDEN] = {"M_GUEST_ACCESS_FORBIDDEN", 403},
    [MERR_MISSING_PARAM] = {"M_MISSING_PARAM", 400},
    [MERR_INVALID_PARAM] = {"M_INVALID_PARAM", 400},
    [MERR_TOO_LARGE] = {"M_TOO_LARGE", 413},
    [MERR_EXCLUSIVE] = {"M_EXCLUSIVE", 400},
    [MERR_WEAK_PASSWORD] = {"M_WEAK_PASSWORD", 400},
    [MERR_BAD_ALIAS] = {"M_BAD_ALIAS", 400},
    [MERR_CANNOT_LEAVE_SERVER_NOTICE_ROOM] = {"M_CANNOT_LEAVE_SERVER_NOTICE_ROOM", 403},
    [MERR_INVALID_SIGNATURE] = {"M_INVALID_SIGNATURE", 400},
    [MERR_WRONG_ROOM_KEYS_VERSION] = {"M_WRONG_ROOM_KEYS_VERSION", 403},
    [MERR_INTERNAL] = {"M_UNKNOWN", 500},
};

const char *
merr_code(enum merr e)
{
    return merr_table[e].code;
}

int
merr_status(enum merr e)
{
    return merr_table[e].status;
}

/* A new answer replaces an unsent file answer too. */
static void
drop_file(struct req *r)
{
    if (r->resp_fd >= 0)
        close(r->resp_fd);
    r->resp_fd = -1;
}

void
reply_raw(struct req *r, int status, const char *content_type, char *body, size_t len)
{
    drop_file(r);
    free(r->resp);
    r->status = status;
    r->resp = body;
    r->resp_len = len;
    r->content_type = content_type;
}

void
reply_json(struct req *r, int status, json_t *body)
{
    char *s = json_dump_compact(body);
    json_decref(body);
    reply_raw(r, status, "application/json", s, strlen(s));
}

void
reply_empty(struct req *r)
{
    reply_json(r, 200, json_object());
}

void
reply_error_extra(struct req *r, int status, enum merr e, const char *msg, const json_t *extra)
{
    json_t *body = extra ? json_deep_copy(extra) : json_object();
    json_object_set_new(body, "errcode", json_string(merr_code(e)));
    json_object_set_new(body, "error", json_string(msg));
    reply_json(r, status, body);
}

static void verror(struct req *r, int status, enum merr e, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void
verror(struct req *r, int status, enum merr e, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* A message that quotes client input could be cut mid-character; keep it valid. */
    while (!util_valid_utf8(msg, strlen(msg)))
        msg[strlen(msg) - 1] = '\0';
    reply_error_extra(r, status, e, msg, NULL);
}

void
reply_error(struct req *r, enum merr e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(r, merr_status(e), e, fmt, ap);
    va_end(ap);
}

void
reply_error_status(struct req *r, int status, enum merr e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(r, status, e, fmt, ap);
    va_end(ap);
}

void
reply_limit_exceeded(struct req *r, int64_t retry_after_ms)
{
    json_t *extra = json_pack("{s:I}", "retry_after_ms", (json_int_t)retry_after_ms);
    reply_error_extra(r, 429, MERR_LIMIT_EXCEEDED, "Too many requests", extra);
    json_decref(extra);
}

void
reply_internal(struct req *r, const char *what)
{
    log_error("%s %s: internal error: %s", r->method_str, r->path, what);
    reply_error(r, MERR_INTERNAL, "Internal server error");
}

void
reply_file(struct req *r, int status, const char *content_type, int fd, uint64_t offset,
           uint64_t len)
{
    drop_file(r);
    free(r->resp);
    /* resp stays non-NULL (empty) so "has the handler replied" reads the same everywhere. */
    r->resp = xstrdup("");
    r->resp_len = (size_t)len;
    r->resp_fd = fd;
    r->resp_fd_offset = offset;
    r->status = status;
    r->content_type = arena_strdup(&r->arena, content_type);
}

void
req_add_header(struct req *r, const char *name, const char *value)
{
    if (r->n_resp_hdrs == REQ_MAX_HEADERS) {
        log_error("%s %s: too many response headers; %s dropped", r->method_str, r->path, name);
        return;
    }
    r->resp_hdr_names[r->n_resp_hdrs] = arena_strdup(&r->arena, name);
    r->resp_hdr_values[r->n_resp_hdrs] = arena_strdup(&r->arena, value);
    r->n_resp_hdrs++;
}

void
reply_html(struct req *r, int status, char *html)
{
    reply_raw(r, status, "text/html; charset=utf-8", html, strlen(html));
}

void
reply_redirect(struct req *r, const char *url)
{
    req_add_header(r, "Location", url);
    reply_raw(r, 302, "text/plain; charset=utf-8", xstrdup(""), 0);
}
