/* The homeserver's HTTP client for application services (libcurl, one easy handle per call:
 * calls are rare next to what they wait for). Every call carries the hs_token, both as the
 * access_token parameter r0.1 of the AS API asks for and as the Bearer header later versions
 * prefer, and is aborted as soon as the server stops. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appservice/appservice_internal.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"

/* An answer bigger than this is not one we want (protocol metadata, lookups: kilobytes). */
#define RESP_MAX (4 * 1024 * 1024)
#define CONNECT_TIMEOUT_MS 5000L
/* After a legacy route worked, the versioned ones are tried again this much later (SPEC:
 * "Homeservers should periodically try again for the newer endpoints"). */
#define LEGACY_MEMORY_MS (10 * 60 * 1000)

#define V1_PREFIX "/_matrix/app/v1"

struct resp {
    char *data;
    size_t len;
    bool too_big;
};

static size_t
on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct resp *r = ud;
    size_t n = size * nmemb;

    if (r->too_big || r->len + n > RESP_MAX) {
        r->too_big = true;
        return n; /* read and drop: the status still counts */
    }
    r->data = xrealloc(r->data, r->len + n + 1);
    memcpy(r->data + r->len, p, n);
    r->len += n;
    r->data[r->len] = '\0';
    return n;
}

static int
on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    struct appservices *as = ud;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(&as->stopping) ? 1 : 0;
}

char *
appservice_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *out;

    if (!e) {
        fputs("hearth: out of memory\n", stderr);
        abort();
    }
    out = xstrdup(e);
    curl_free(e);
    return out;
}

/* One request; the answer's body in *body (new string) when wanted. 0 when unreachable. */
static long
perform(struct appservices *as, const struct appservice *a, const char *method, const char *url,
        const char *body, long timeout_ms, char **out)
{
    CURL *c = NULL;
    struct curl_slist *hdrs = NULL;
    struct resp r = {0};
    char *auth = NULL;
    long status = 0;
    CURLcode cc;

    *out = NULL;
    if (atomic_load(&as->stopping))
        return 0;
    c = fetch_curl_ready() == 0 ? curl_easy_init() : NULL;
    if (!c) {
        log_error("application service %s: curl_easy_init failed", a->id);
        return 0;
    }
    auth = xasprintf("Authorization: Bearer %s", a->hs_token);
    hdrs = curl_slist_append(hdrs, auth);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (body)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    /* Threads: no signals for DNS timeouts. */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, as);
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    } else if (cc != CURLE_ABORTED_BY_CALLBACK) {
        /* The URL holds the hs_token: the log names the service and the method only. */
        log_debug("application service %s: %s failed: %s", a->id, method, curl_easy_strerror(cc));
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    memset(auth, 0, strlen(auth));
    free(auth);
    if (status > 0 && !r.too_big) {
        *out = r.data;
        r.data = NULL;
    }
    free(r.data);
    return status;
}

/* {url}{prefix}{path}?access_token=...[&query] (new string). */
static char *
build_url(const struct appservice *a, const char *prefix, const char *path, const char *query)
{
    char *tok = appservice_escape(a->hs_token);
    char *url = xasprintf("%s%s%s?access_token=%s%s%s", a->url, prefix, path, tok,
                          query && *query ? "&" : "", query && *query ? query : "");
    memset(tok, 0, strlen(tok));
    free(tok);
    return url;
}

/* Is this failed answer the service's own (a Matrix error from a route it has), rather than a
 * route it does not know? Only then is the legacy route not worth a try. */
static bool
own_error(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(j, "errcode"));
    bool own = code && strcmp(code, "M_UNRECOGNIZED") != 0;
    json_decref(j);
    return own;
}

static void
wipe_free(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

/* One try on one of the two routes. */
static long
try_route(struct appservices *as, const struct appservice *a, bool legacy, const char *method,
          const char *path, const char *legacy_path, const char *query, const char *body,
          long timeout_ms, char **text)
{
    char *url = legacy ? build_url(a, "", legacy_path ? legacy_path : path, query)
                       : build_url(a, V1_PREFIX, path, query);
    long status = perform(as, a, method, url, body, timeout_ms, text);
    wipe_free(url);
    return status;
}

static bool
success(long status)
{
    return status >= 200 && status < 300;
}

long
appservice_call(struct appservices *as, const struct appservice *a, const char *method,
                const char *path, const char *legacy_path, const char *query, const char *body,
                long timeout_ms, json_t **out)
{
    char *text = NULL, *text2 = NULL;
    long status, status2;
    int64_t now = util_now_ms();
    /* The route that worked last first; the other when that one does not seem to exist. */
    bool legacy = atomic_load(a->legacy_until) > now;

    if (out)
        *out = NULL;
    if (!a->url)
        return 0;
    status = try_route(as, a, legacy, method, path, legacy_path, query, body, timeout_ms, &text);
    if (status == 0 || success(status) || own_error(text))
        goto done;
    status2 = try_route(as, a, !legacy, method, path, legacy_path, query, body, timeout_ms, &text2);
    if (success(status2)) {
        if (!legacy)
            log_info("application service %s answers on legacy routes only", a->id);
        atomic_store(a->legacy_until, legacy ? 0 : now + LEGACY_MEMORY_MS);
    }
    /* The second answer counts when it is a success or the service's own error; otherwise the
     * first one stands. */
    if (success(status2) || (status2 > 0 && own_error(text2))) {
        free(text);
        text = text2;
        text2 = NULL;
        status = status2;
    }
    free(text2);
done:
    if (out && text && status > 0) {
        json_error_t jerr;
        *out = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    }
    free(text);
    return status;
}
