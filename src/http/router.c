/* One route table for both client prefixes. Paths are matched still %-encoded, segment by
 * segment, so an encoded '/' inside an ID never splits it. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "http/http.h"

static const char *const client_prefixes[] = {"/_matrix/client/r0", "/_matrix/client/v3"};
static const char *const media_prefixes[] = {"/_matrix/media/r0", "/_matrix/media/v3"};

/* Returns the rest of path after one of the prefixes, or NULL. */
static const char *
strip_prefix(const char *path, const char *const *prefixes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(prefixes[i]);
        if (strncmp(path, prefixes[i], len) == 0 && (path[len] == '/' || path[len] == '\0'))
            return path + len;
    }
    return NULL;
}

/* Matches rest against pattern; decodes parameters into r when `fill`. */
static bool
match(const char *pattern, const char *rest, struct req *r, bool fill)
{
    const char *p = pattern, *s = rest;
    int nparam = 0;

    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return false;
        p++;
        s++;
        const char *pend = strchr(p, '/');
        const char *send = strchr(s, '/');
        size_t plen = pend ? (size_t)(pend - p) : strlen(p);
        size_t slen = send ? (size_t)(send - s) : strlen(s);
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            if (nparam >= ROUTE_MAX_PARAMS)
                return false;
            if (fill) {
                char *dec = util_url_decode(s, slen, false);
                if (!dec || !util_valid_utf8(dec, strlen(dec))) {
                    free(dec);
                    return false;
                }
                r->params[nparam] = arena_strdup(&r->arena, dec);
                free(dec);
            }
            nparam++;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return false;
        }
        p += plen;
        s += slen;
    }
    return *p == '\0' && *s == '\0';
}

enum route_match
router_match(const struct route *routes, size_t n, struct req *r)
{
    const char *client = strip_prefix(r->path, client_prefixes, 2);
    const char *media = client ? NULL : strip_prefix(r->path, media_prefixes, 2);
    bool path_found = false;

    for (size_t i = 0; i < n; i++) {
        const struct route *rt = &routes[i];
        const char *rest;
        switch (rt->prefix) {
        case PFX_CLIENT:
            rest = client;
            break;
        case PFX_MEDIA:
            rest = media;
            break;
        default:
            rest = r->path;
            break;
        }
        if (!rest || !match(rt->pattern, rest, r, false))
            continue;
        path_found = true;
        if (rt->method != r->method && !(r->method == HTTP_HEAD && rt->method == HTTP_GET))
            continue;
        if (!match(rt->pattern, rest, r, true))
            return ROUTE_NO_PATH; /* a parameter did not decode */
        r->route = rt;
        return ROUTE_FOUND;
    }
    return path_found ? ROUTE_BAD_METHOD : ROUTE_NO_PATH;
}
