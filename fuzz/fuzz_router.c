/* libFuzzer driver: the HTTP request path up to the handler, without libmicrohttpd. A fake
 * request (method, raw path, body) goes through router_match over the real route table,
 * then what dispatch does before calling a handler: the body of a JSON route through
 * json_parse_object and the error replies. Input: "<METHOD> <path>\n<body>". No crash;
 * matched parameters are valid UTF-8; a route found is one whose method matches; every
 * reply is JSON with an errcode. (Handlers need a database and are covered by
 * tests/api/test_hostile.py.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/util.h"
#include "http/http.h"
#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum http_method
method_of(const char *m, size_t len)
{
    static const char *const names[] = {"GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == len && memcmp(m, names[i], len) == 0)
            return (enum http_method)i;
    return HTTP_OTHER;
}

static void
check_reply(struct req *r)
{
    json_t *v;
    if (!r->resp)
        return;
    v = json_loadb(r->resp, r->resp_len, 0, NULL);
    if (!v || !json_is_string(json_object_get(v, "errcode")) ||
        !json_is_string(json_object_get(v, "error")))
        abort();
    json_decref(v);
    free(r->resp);
    r->resp = NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    const char *sp = memchr(d, ' ', size);
    const char *nl = sp ? memchr(sp, '\n', size - (size_t)(sp - d)) : NULL;
    struct req r;
    char *path;
    const char *body;
    size_t body_len;

    if (!sp || !nl)
        return 0;
    memset(&r, 0, sizeof(r));
    r.resp_fd = -1;
    r.method = method_of(d, (size_t)(sp - d));
    path = strndup(sp + 1, (size_t)(nl - sp - 1));
    if (!path)
        return 0;
    if (strlen(path) != (size_t)(nl - sp - 1)) { /* MHD never hands over a NUL in a path */
        free(path);
        return 0;
    }
    r.path = path;
    body = nl + 1;
    body_len = size - (size_t)(body - d);

    switch (router_match(api_routes, api_n_routes, &r)) {
    case ROUTE_NO_PATH:
        reply_error(&r, MERR_UNRECOGNIZED, "Unrecognized request %s", path);
        break;
    case ROUTE_BAD_METHOD:
        reply_error_status(&r, 405, MERR_UNRECOGNIZED, "Unrecognized request");
        break;
    case ROUTE_FOUND: {
        const struct route *rt = r.route;
        size_t nparam = 0;
        if (!rt || (rt->method != r.method && !(r.method == HTTP_HEAD && rt->method == HTTP_GET)))
            abort();
        for (const char *p = rt->pattern; (p = strchr(p, '{')) != NULL; p++)
            nparam++;
        for (size_t i = 0; i < nparam; i++)
            if (!r.params[i] || !util_valid_utf8(r.params[i], strlen(r.params[i])))
                abort();
        if (rt->flags & (ROUTE_JSON | ROUTE_JSON_OPTIONAL)) {
            char msg[256];
            enum json_status js;
            if (body_len == 0 && (rt->flags & ROUTE_JSON_OPTIONAL))
                break;
            js = json_parse_object(body, body_len, &r.json, msg, sizeof(msg));
            if (js == JSONS_NOT_JSON)
                reply_error(&r, MERR_NOT_JSON, "%s", msg);
            else if (js == JSONS_BAD_JSON)
                reply_error(&r, MERR_BAD_JSON, "%s", msg);
            else if (!json_is_object(r.json))
                abort();
            json_decref(r.json);
        }
        break;
    }
    }
    check_reply(&r);
    arena_free(&r.arena);
    free(path);
    return 0;
}
