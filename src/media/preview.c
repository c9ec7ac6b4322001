/* URL previews (GET /preview_url): the page is fetched with libcurl and its OpenGraph tags read
 * with libxml2's HTML parser; og:image is downloaded into the media store and answered as an
 * mxc:// URI. Like Synapse, every connection (redirects included) is checked against
 * url_preview_ip_range_blacklist/whitelist on the address actually connected to, so a name
 * that resolves to an internal host is refused too. Results are cached for an hour. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/fetch.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "media/media_internal.h"
#include "store/store.h"

#define PREVIEW_CACHE_MS (60 * 60 * 1000)
#define CONNECT_TIMEOUT_MS 10000L
#define FETCH_TIMEOUT_MS 30000L
#define MAX_REDIRECTS 5L
#define MAX_TEXT 500   /* og:title and og:description are cut to this many bytes, as Synapse */
#define MAX_VALUE 2000 /* any other og: value longer than this is dropped */
#define USER_AGENT "Hearth (bot; URL preview)"

int
media_preview_global_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("libcurl failed to initialise");
        return -1;
    }
    xmlInitParser();
    return 0;
}

void
media_preview_global_shutdown(void)
{
    xmlCleanupParser();
    curl_global_cleanup();
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
    h = curl_easy_init();
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

/* ---- HTML ---- */

/* Trimmed, whitespace runs collapsed, cut to max bytes on a character boundary (new
 * string), or NULL when empty or not UTF-8. */
static char *
clean_text(const char *s, size_t max)
{
    size_t n = strlen(s), o = 0;
    char *out = xmalloc(n + 1);
    bool space = false;

    for (size_t i = 0; i < n; i++) {
        if (strchr(" \t\r\n\f\v", s[i])) {
            space = o > 0;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        out[o++] = s[i];
    }
    out[o] = '\0';
    if (o > max) {
        o = max;
        while (o > 0 && ((unsigned char)out[o] & 0xC0) == 0x80)
            o--;
        out[o] = '\0';
    }
    if (o == 0 || !util_valid_utf8(out, o)) {
        free(out);
        return NULL;
    }
    return out;
}

static void
set_if_absent(json_t *og, const char *key, const char *value, size_t max)
{
    char *v;

    if (json_object_get(og, key) || !value)
        return;
    v = clean_text(value, max);
    if (v)
        json_object_set_new(og, key, json_string(v));
    free(v);
}

static bool
name_is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcasecmp((const char *)n->name, name) == 0;
}

static char *
attr(const xmlNode *n, const char *name)
{
    return (char *)xmlGetProp(n, (const xmlChar *)name);
}

/* Reads the og: tags of a page (first one of each wins), then the fallbacks Synapse uses:
 * <title> (or the first <h1>) for og:title, <meta name="description"> for og:description. */
static json_t *
parse_html(const char *html, size_t len, const char *url, const char *type)
{
    const char *charset = type ? strcasestr(type, "charset=") : NULL;
    char enc[64] = "";
    json_t *og = json_object();
    char *title = NULL, *h1 = NULL, *description = NULL;
    htmlDocPtr doc;
    xmlNode *n;

    if (charset) {
        charset += 8;
        size_t k = strcspn(charset, "; \t\"'");
        if (k < sizeof(enc)) {
            memcpy(enc, charset, k);
            enc[k] = '\0';
        }
    }
    doc = htmlReadMemory(html, (int)len, url, enc[0] ? enc : NULL,
                         HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                             HTML_PARSE_NONET | HTML_PARSE_COMPACT);
    if (!doc)
        return og;
    /* An iterative walk: a page's nesting depth is the page's business, not our stack's. */
    n = xmlDocGetRootElement(doc);
    while (n) {
        if (name_is(n, "meta")) {
            char *prop = attr(n, "property"), *name = attr(n, "name"),
                 *content = attr(n, "content");
            const char *key = prop && strncmp(prop, "og:", 3) == 0   ? prop
                              : name && strncmp(name, "og:", 3) == 0 ? name
                                                                     : NULL;
            if (key && content)
                set_if_absent(og, key, content,
                              strcmp(key, "og:title") == 0 || strcmp(key, "og:description") == 0
                                  ? MAX_TEXT
                                  : MAX_VALUE);
            if (!description && name && strcasecmp(name, "description") == 0 && content &&
                content[0]) {
                description = content;
                content = NULL;
            }
            xmlFree(prop);
            xmlFree(name);
            xmlFree(content);
        } else if (!title && name_is(n, "title")) {
            title = (char *)xmlNodeGetContent(n);
        } else if (!h1 && name_is(n, "h1")) {
            h1 = (char *)xmlNodeGetContent(n);
        }
        if (n->children && n->type == XML_ELEMENT_NODE) {
            n = n->children;
            continue;
        }
        while (n && !n->next)
            n = n->parent && n->parent->type == XML_ELEMENT_NODE ? n->parent : NULL;
        if (n)
            n = n->next;
    }
    set_if_absent(og, "og:title", title, MAX_TEXT);
    set_if_absent(og, "og:title", h1, MAX_TEXT);
    set_if_absent(og, "og:description", description, MAX_TEXT);
    xmlFree(title);
    xmlFree(h1);
    xmlFree(description);
    xmlFreeDoc(doc);
    return og;
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
        og = parse_html(html, len, final, type);
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
