#include "core/fetch.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_MAX_RESPONSE (1024 * 1024)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ok, curl_done;

static void
curl_init_once(void)
{
    curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    curl_done = true;
    if (!curl_ok)
        log_error("libcurl failed to initialise");
}

int
fetch_curl_ready(void)
{
    pthread_once(&curl_once, curl_init_once);
    return curl_ok ? 0 : -1;
}

int
fetch_global_init(void)
{
    /* Memory (issue 12): nothing here any more; see fetch.h. Every libcurl handle is made
     * after fetch_curl_ready, whose pthread_once serializes the global set-up, so it is
     * safe even with a libcurl whose own is not thread-safe. */
    return 0;
}

void
fetch_global_cleanup(void)
{
    if (curl_done && curl_ok)
        curl_global_cleanup();
}

struct sink {
    char *buf;
    size_t len, max;
    bool too_large;
};

static size_t
on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    size_t n = size * nmemb;

    if (s->len + n > s->max) {
        s->too_large = true;
        return 0; /* aborts the transfer */
    }
    s->buf = xrealloc(s->buf, s->len + n + 1);
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

static bool
in_range(const struct config_ip_range *r, int family, const unsigned char *addr)
{
    int full = r->prefix / 8, rest = r->prefix % 8;
    unsigned char mask;

    if (r->family != family || memcmp(r->addr, addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    mask = (unsigned char)(0xFF << (8 - rest));
    return (r->addr[full] & mask) == (addr[full] & mask);
}

static bool
listed(const struct config_ip_range *list, size_t n, int family, const unsigned char *addr)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

    for (size_t i = 0; i < n; i++)
        if (in_range(&list[i], family, addr))
            return true;
    return family == AF_INET6 && memcmp(addr, mapped, 12) == 0 &&
           listed(list, n, AF_INET, addr + 12);
}

bool
fetch_ip_refused(const struct config_ip_range *black, size_t n_black,
                 const struct config_ip_range *white, size_t n_white, int family,
                 const unsigned char *addr)
{
    return !listed(white, n_white, family, addr) && listed(black, n_black, family, addr);
}

struct sock_ctx {
    const struct fetch_req *req;
    bool refused;
};

curl_socket_t
fetch_open_socket(curlsocktype purpose, struct curl_sockaddr *a, fetch_refuse_fn refuse, void *arg,
                  const char *who, const char *list, bool *refused)
{
    const unsigned char *addr = NULL;
    char text[INET6_ADDRSTRLEN] = "?";

    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    if (a->family == AF_INET && a->addrlen >= sizeof(struct sockaddr_in))
        addr = (const unsigned char *)&((const struct sockaddr_in *)&a->addr)->sin_addr;
    else if (a->family == AF_INET6 && a->addrlen >= sizeof(struct sockaddr_in6))
        addr = (const unsigned char *)&((const struct sockaddr_in6 *)&a->addr)->sin6_addr;
    if (!addr || refuse(arg, a->family, addr)) {
        if (addr)
            inet_ntop(a->family, addr, text, sizeof(text));
        log_info("%s: connection to %s refused by %s", who, text, list);
        *refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static curl_socket_t
open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct sock_ctx *c = clientp;

    return fetch_open_socket(purpose, a, c->req->refuse, c->req->refuse_arg, "fetch",
                             "ip_range_blacklist", &c->refused);
}

int
fetch(const struct fetch_req *req, struct fetch_resp *resp)
{
    struct sink s = {.max = req->max_response ? req->max_response : DEFAULT_MAX_RESPONSE};
    struct sock_ctx sc = {req, false};
    struct curl_slist *hdrs = NULL;
    char ctype[128];
    CURL *c = NULL;
    CURLcode cc;
    int rc = -1;

    memset(resp, 0, sizeof(*resp));
    if (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0) {
        snprintf(resp->error, sizeof(resp->error), "not an http(s) URL");
        return -1;
    }
    c = fetch_curl_ready() == 0 ? curl_easy_init() : NULL;
    if (!c) {
        snprintf(resp->error, sizeof(resp->error), "curl_easy_init failed");
        return -1;
    }
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms ? req->timeout_ms : DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "Hearth");
    if (req->refuse) {
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &sc);
    }
    for (size_t i = 0; i < FETCH_MAX_HEADERS && req->headers[i]; i++)
        hdrs = curl_slist_append(hdrs, req->headers[i]);
    if (req->body) {
        snprintf(ctype, sizeof(ctype), "Content-Type: %s",
                 req->content_type ? req->content_type : "application/json");
        hdrs = curl_slist_append(hdrs, ctype);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
    } else if (strcmp(req->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(resp->error, sizeof(resp->error), "%s",
                 s.too_large  ? "response too large"
                 : sc.refused ? "address refused by ip_range_blacklist"
                              : curl_easy_strerror(cc));
        free(s.buf);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->body = s.buf ? s.buf : xstrdup("");
    resp->len = s.len;
    rc = 0;
out:
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}

void
fetch_resp_clear(struct fetch_resp *resp)
{
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

char *
fetch_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s), o = 0;
    char *out = xmalloc(n * 3 + 1);

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
    return out;
}
