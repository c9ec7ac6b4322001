/* Outbound HTTP (libcurl) for the few places the server calls other services itself: identity
 * servers and OpenID Connect providers. Blocking, with a hard timeout and a size cap, so a slow
 * or hostile peer costs one request thread a bounded time and memory. */
#ifndef HEARTH_CORE_FETCH_H
#define HEARTH_CORE_FETCH_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

/* Once, before any thread starts. 0 on success. Memory (issue 12): libcurl (a module,
 * core/curl_api.h) is loaded and set up (which initialises OpenSSL) by fetch_curl_ready at
 * the first outgoing request instead, so this does nothing now. */
int fetch_global_init(void);
/* At exit, after every libcurl user has stopped. */
void fetch_global_cleanup(void);
/* Before any curl_easy_init / curl_multi_init (any thread): libcurl's global set-up, once.
 * 0 on success (logged otherwise). */
int fetch_curl_ready(void);

#define FETCH_MAX_HEADERS 4

/* An address filter: true refuses a connection to addr (4 bytes for AF_INET, 16 for
 * AF_INET6). */
typedef bool (*fetch_refuse_fn)(void *arg, int family, const unsigned char *addr);

struct fetch_req {
    const char *method; /* "GET" or "POST" */
    const char *url;
    const char *headers[FETCH_MAX_HEADERS]; /* "Name: value", NULL-terminated */
    const char *body;                       /* NULL: none */
    const char *content_type;               /* for body; default application/json */
    long timeout_ms;                        /* whole transfer; default 10 s */
    size_t max_response;                    /* default 1 MiB; more fails the fetch */
    /* Optional address filter, checked on the address actually connected to (so a name that
     * resolves to a refused address fails): true refuses the connection. */
    fetch_refuse_fn refuse;
    void *refuse_arg;
};

struct fetch_resp {
    long status; /* HTTP status; 0 when no answer arrived */
    char *body;  /* NUL-terminated, owned (free with fetch_resp_clear) */
    size_t len;
    char error[128]; /* why status is 0 */
};

/* Performs the request. Returns 0 when an HTTP answer arrived (any status), -1 otherwise
 * (resp->error says why). Only http and https URLs are followed; redirects are not. */
int fetch(const struct fetch_req *req, struct fetch_resp *resp);
void fetch_resp_clear(struct fetch_resp *resp);

/* True if addr (4 bytes for AF_INET, 16 for AF_INET6) is in a range of the blacklist and not
 * in one of the whitelist; an IPv4-mapped IPv6 address is checked as IPv4 too. */
struct config_ip_range;
bool fetch_ip_refused(const struct config_ip_range *black, size_t n_black,
                      const struct config_ip_range *white, size_t n_white, int family,
                      const unsigned char *addr);

/* The body of a CURLOPT_OPENSOCKETFUNCTION (fetch() and the URL previews use it): opens the
 * socket for a connection unless its address is not IPv4/IPv6 or refuse says no; then logs
 * "<who>: connection to ADDR refused by <list>", sets *refused and answers CURL_SOCKET_BAD. */
curl_socket_t fetch_open_socket(curlsocktype purpose, struct curl_sockaddr *a,
                                fetch_refuse_fn refuse, void *arg, const char *who,
                                const char *list, bool *refused);

/* %-encodes s for a URL query value (RFC 3986 unreserved kept). New string. */
char *fetch_escape(const char *s);

#endif
