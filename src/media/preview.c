/* URL previews (GET /preview_url): the page is fetched with libcurl and its OpenGraph tags read
 * with libxml2's HTML parser (in the module hearth-xml.so: preview_html.c); og:image is downloaded
 * into the media store and answered as an mxc:// URI. Like Synapse, every connection (redirects
 * included) is checked against url_preview_ip_range_blacklist/whitelist on the address actually
 * connected to, so a name that resolves to an internal host is refused too. Results are cached for
 * an hour. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/fetch.h"
#include "core/log.h"
#include "core/module.h"
#include "core/util.h"
#include "json/json.h"
#include "media/media_internal.h"
#include "media/preview_html.h"
#include "store/store.h"

#define PREVIEW_CACHE_MS (60 * 60 * 1000)
#define CONNECT_TIMEOUT_MS 10000L
#define FETCH_TIMEOUT_MS 30000L
#define MAX_REDIRECTS 5L
#define USER_AGENT "Hearth (bot; URL preview)"

/* The HTML parser module (hearth-xml.so), loaded at the first page previewed. */
static pthread_mutex_t html_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct media_html *html_mod;

int
media_preview_global_init(void)
{
    return 0; /* issue 12: libcurl is set up at the first fetch (fetch_curl_ready) */
}

void
media_preview_global_shutdown(void)
{
    if (html_mod)
        html_mod->shutdown();
    html_mod = NULL;
}

/* ---- address filter ---- */

bool
media_ip_blocked(const struct config *cfg, int family, const unsigned char *addr)
{
    return fetch_ip_refused(
        cfg->url_preview_ip_range_blacklist, cfg->n_url_preview_ip_range_blacklist,
        cfg->url_preview_ip_range_whitelist, cfg->n_url_preview_ip_range_whitelist, family, addr);
}

static bool
refuse_preview(void *arg, int family, const unsigned char *addr)
{
    const struct media *m = arg;
    return media_ip_blocked(m->cfg, family, addr);
}

/* ---- fetching ---- */

struct preview_fetch {
    struct media *m;
    struct media_upload *up;
    enum media_rc write_rc;
    bool blocked;
};

static curl_socket_t
open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct preview_fetch *f = clientp;

    return fetch_open_socket(purpose, a, refuse_preview, f->m, "preview",
                             "url_preview_ip_range_blacklist", &f->blocked);
}

static size_t
on_data(char *data, size_t size, size_t n, void *userdata)
{
    struct preview_fetch *f = userdata;

    f->write_rc = media_upload_write(f->up, data, size * n);
    return f->write_rc == MEDIA_OK ? size * n : 0;
}

/* Downloads url into a new upload (*up, not finished) with its Content-Type (*type, new
 * string, may be NULL) and the URL it ended at after redirects (*final, new string). */
static enum media_rc
preview_download(struct media *m, const char *url, struct media_upload **up, char **type,
                 char **final)
{
    struct preview_fetch f = {m, NULL, MEDIA_OK, false};
    struct curl_slist *hdrs = NULL;
    CURL *h = NULL;
    CURLcode cc;
    char *s = NULL;
    long status = 0;
    enum media_rc rc;

    *up = NULL;
    *type = *final = NULL;
    rc = media_upload_begin(m, m->cfg->max_spider_size, &f.up);
    if (rc != MEDIA_OK)
        return rc;
    h = fetch_curl_ready() == 0 ? curl_easy_init() : NULL;
    if (!h) {
        rc = MEDIA_ERR;
        goto out;
    }
    hdrs = curl_slist_append(hdrs, "Accept-Language: en");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, FETCH_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    /* No proxy from the environment: the filter must see the real destination. */
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &f);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)m->cfg->max_spider_size);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* decoded bytes count against the cap */
    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    cc = curl_easy_perform(h);
    if (f.blocked) {
        rc = MEDIA_BLOCKED;
        goto out;
    }
    if (f.write_rc == MEDIA_TOO_LARGE || cc == CURLE_FILESIZE_EXCEEDED) {
        rc = MEDIA_TOO_LARGE;
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK || status < 200 || status > 299) {
        log_info("preview: fetching %s failed: %s (HTTP %ld)", url, curl_easy_strerror(cc), status);
        rc = f.write_rc == MEDIA_ERR ? MEDIA_ERR : MEDIA_FETCH_FAILED;
        goto out;
    }
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &s) == CURLE_OK && s)
        *type = xstrdup(s);
    s = NULL;
    *final = xstrdup(curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &s) == CURLE_OK && s ? s : url);
    *up = f.up;
    f.up = NULL;
    rc = MEDIA_OK;
out:
    media_upload_abort(f.up);
    curl_slist_free_all(hdrs);
    if (h)
        curl_easy_cleanup(h);
    return rc;
}

/* The media type without parameters, lower-cased (new string). */
static char *
base_type(const char *type)
{
    size_t n = type ? strcspn(type, "; \t") : 0;
    char *s = xstrndup(type ? type : "", n);

    for (char *p = s; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return s;
}

static bool
is_image(const char *base)
{
    return strncmp(base, "image/", 6) == 0;
}

/* Stores a fetched image as local media and describes it the preview's way. */
static enum media_rc
keep_image(struct media *m, struct media_upload *up, const char *base, json_t *og)
{
    char *media_id = NULL;
    int64_t len = 0;
    struct store_media md = {0};
    int fd = -1, w, h;
    enum media_rc rc = media_upload_finish(up, base, NULL, NULL, &media_id, &len);

    if (rc != MEDIA_OK)
        return rc;
    json_object_set_new(og, "og:image", json_sprintf("mxc://%s/%s", m->cfg->server_name, media_id));
    json_object_set_new(og, "og:image:type", json_string(base));
    json_object_set_new(og, "matrix:image:size", json_integer(len));
    if (media_open(m, media_id, &md, &fd) == MEDIA_OK && media_image_size(m, md.sha256, &w, &h)) {
        json_object_set_new(og, "og:image:width", json_integer(w));
        json_object_set_new(og, "og:image:height", json_integer(h));
    }
    if (fd >= 0)
        close(fd);
    store_media_clear(&md);
    free(media_id);
    return MEDIA_OK;
}

/* ---- HTML (module hearth-xml.so, loaded at the first page previewed) ---- */

static const struct media_html *
get_html(void)
{
    const struct media_html *h;

    pthread_mutex_lock(&html_lock);
    if (!html_mod) {
        h = module_table("xml", "media_html_module");
        if (h && h->init() == 0)
            html_mod = h;
    }
    h = html_mod;
    pthread_mutex_unlock(&html_lock);
    return h;
}

/* og:image as an absolute URL against the page's own (new string), or NULL. */
static char *
resolve(const char *base, const char *ref)
{
    CURLU *u = curl_url();
    char *out = NULL, *s = NULL;

    if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
        out = xstrdup(s);
    curl_free(s);
    curl_url_cleanup(u);
    return out;
}

/* Replaces og:image (a page's URL) with the image downloaded into the media store; drops it
 * (and what describes it) when that fails, as Synapse does. */
static void
fetch_og_image(struct media *m, const char *page_url, json_t *og)
{
    const char *ref = json_string_value(json_object_get(og, "og:image"));
    char *abs = ref ? resolve(page_url, ref) : NULL, *type = NULL, *final = NULL, *base = NULL;
    struct media_upload *up = NULL;
    bool kept = false;

    if (abs && preview_download(m, abs, &up, &type, &final) == MEDIA_OK) {
        base = base_type(type);
        if (is_image(base)) {
            kept = keep_image(m, up, base, og) == MEDIA_OK;
            up = NULL;
        }
    }
    if (!kept) {
        if (ref)
            log_info("preview: og:image %s of %s not stored", ref, page_url);
        json_object_del(og, "og:image");
        json_object_del(og, "og:image:type");
        json_object_del(og, "og:image:width");
        json_object_del(og, "og:image:height");
    }
    media_upload_abort(up);
    free(abs);
    free(type);
    free(final);
    free(base);
}

/* Only http and https URLs with a host are previewed. */
static bool
url_ok(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) && host[0];

    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

enum media_rc
media_preview_url(struct media *m, const char *url, int64_t now_ms, char **og_json)
{
    struct media_upload *up = NULL;
    char *type = NULL, *final = NULL, *base = NULL, *html = NULL;
    json_t *og = NULL;
    size_t len = 0;
    enum media_rc rc;
    enum store_rc src;

    *og_json = NULL;
    if (fetch_curl_ready() != 0) /* issue 12: hearth-curl.so cannot be loaded (logged) */
        return MEDIA_UNAVAILABLE;
    if (!url_ok(url))
        return MEDIA_UNSUPPORTED;
    src = store_url_preview_get(m->st, url, now_ms, og_json);
    if (src == STORE_OK)
        return MEDIA_OK;
    if (src != STORE_NOT_FOUND)
        return MEDIA_ERR;
    rc = preview_download(m, url, &up, &type, &final);
    if (rc != MEDIA_OK)
        goto out;
    base = base_type(type);
    if (is_image(base)) {
        og = json_object();
        rc = keep_image(m, up, base, og);
        up = NULL;
        if (rc != MEDIA_OK)
            goto out;
    } else if (strcmp(base, "text/html") == 0 || strcmp(base, "application/xhtml+xml") == 0) {
        if (media_upload_read(up, &html, &len) != 0) {
            rc = MEDIA_ERR;
            goto out;
        }
        const struct media_html *h = get_html();
        if (!h) {
            rc = MEDIA_UNAVAILABLE;
            goto out;
        }
        og = h->parse(html, len, final, type);
        if (json_object_get(og, "og:image"))
            fetch_og_image(m, final, og);
    } else {
        og = json_object(); /* nothing to preview, as Synapse */
    }
    *og_json = json_dump_compact(og);
    if (store_url_preview_put(m->st, url, *og_json, now_ms, now_ms + PREVIEW_CACHE_MS) != STORE_OK)
        log_warn("preview: could not cache the preview of %s", url);
    rc = MEDIA_OK;
out:
    media_upload_abort(up);
    json_decref(og);
    free(type);
    free(final);
    free(base);
    free(html);
    return rc;
}
