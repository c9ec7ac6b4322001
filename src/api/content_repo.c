/* content-repo.yaml, modules/content_repo.rst: upload (the body streamed to disk), download
 * (streamed from disk, with ranges), thumbnails, URL previews, the repository's config; and
 * Synapse's admin API to quarantine media. Remote media needs federation, which Hearth does
 * not speak yet: other servers' media is 404 M_NOT_FOUND. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/api.h"
#include "api/hs.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "media/media.h"
#include "store/store.h"

#define MAX_MEDIA_TYPE 255
#define MAX_FILENAME 1024
#define MAX_THUMB_DIM 10000000 /* libvips' largest coordinate */

/* SPEC: content_repo.rst: "the server SHOULD provide a Content-Security-Policy header. The
 * recommended policy is ..." */
#define MEDIA_CSP                                                                                  \
    "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src "     \
    "'unsafe-inline'; object-src 'self';"
/* Media never changes under its ID (Synapse answers the same). */
#define MEDIA_CACHE_CONTROL "public,max-age=86400,s-maxage=86400"

static void
add_media_headers(struct req *r)
{
    req_add_header(r, "Content-Security-Policy", MEDIA_CSP);
    req_add_header(r, "X-Content-Type-Options", "nosniff");
    /* Web clients on other origins show media (Synapse sends this too). */
    req_add_header(r, "Cross-Origin-Resource-Policy", "cross-origin");
    req_add_header(r, "Cache-Control", MEDIA_CACHE_CONTROL);
}

/* ---- POST /upload ---- */

struct upload_ctx {
    struct media_upload *up;
};

static void
upload_ctx_free(void *p)
{
    struct upload_ctx *c = p;
    media_upload_abort(c->up);
    free(c);
}

static void
reply_too_large(struct req *r)
{
    reply_error(r, MERR_TOO_LARGE, "Cannot upload files larger than %" PRId64 " bytes",
                r->hs->cfg->max_upload_size);
}

static bool
upload_sink(struct req *r, const char *data, size_t len)
{
    struct upload_ctx *c = r->ctx;

    switch (media_upload_write(c->up, data, len)) {
    case MEDIA_OK:
        return true;
    case MEDIA_TOO_LARGE:
        reply_too_large(r);
        break;
    default:
        reply_internal(r, "cannot write an upload");
        break;
    }
    /* The rest of the body is read and dropped; the partial file goes now. */
    media_upload_abort(c->up);
    c->up = NULL;
    return false;
}

/* The upload's media type: Content-Type, application/octet-stream without one (as Synapse).
 * NULL after replying when it cannot be echoed back safely in a header. */
static const char *
upload_type_or_reply(struct req *r)
{
    const char *type = req_header(r, "Content-Type");
    size_t n;

    if (!type || !type[0])
        return "application/octet-stream";
    n = strlen(type);
    if (n > MAX_MEDIA_TYPE) {
        reply_error(r, MERR_INVALID_PARAM, "Content-Type is too long");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)type[i] < 0x20 || (unsigned char)type[i] > 0x7e) {
            reply_error(r, MERR_INVALID_PARAM, "Content-Type must be printable ASCII");
            return NULL;
        }
    return type;
}

/* filename: NULL when absent or empty; false after replying. */
static bool
upload_name_ok_or_reply(struct req *r, const char **name)
{
    *name = req_query(r, "filename");
    if (*name && !(*name)[0])
        *name = NULL;
    if (*name && strlen(*name) > MAX_FILENAME) {
        reply_error(r, MERR_INVALID_PARAM, "filename is longer than %d bytes", MAX_FILENAME);
        return false;
    }
    return true;
}

/* First call, headers in: refuse what can be refused before reading the body. */
static void
upload_begin(struct req *r)
{
    const char *cl = req_header(r, "Content-Length"), *name;
    int64_t clen;
    struct upload_ctx *c;

    if (!upload_type_or_reply(r) || !upload_name_ok_or_reply(r, &name))
        return;
    /* SPEC: content_repo.rst: "Homeservers should not store files that are too large ...
     * returning a HTTP 413 error with the M_TOO_LARGE code." */
    if (cl && util_parse_int64(cl, &clen) == 0 && clen > r->hs->cfg->max_upload_size) {
        reply_too_large(r);
        return;
    }
    c = xcalloc(1, sizeof(*c));
    if (media_upload_begin(r->hs->media, r->hs->cfg->max_upload_size, &c->up) != MEDIA_OK) {
        free(c);
        reply_internal(r, "cannot start an upload");
        return;
    }
    r->ctx = c;
    r->ctx_free = upload_ctx_free;
    r->body_sink = upload_sink;
}

/* POST /_matrix/media/r0/upload */
void
content_upload(struct req *r)
{
    struct upload_ctx *c = r->ctx;
    const char *type, *name;
    char *media_id = NULL;
    int64_t len = 0;

    if (!r->body_done) {
        upload_begin(r);
        return;
    }
    type = upload_type_or_reply(r);
    if (!type || !upload_name_ok_or_reply(r, &name))
        return;
    /* A 200 means the file and its record are durable (both fsynced first). */
    enum media_rc rc = media_upload_finish(c->up, type, name, r->user_id, &media_id, &len);
    c->up = NULL;
    if (rc != MEDIA_OK) {
        reply_internal(r, "cannot store an upload");
        return;
    }
    log_info("%s uploaded mxc://%s/%s (%" PRId64 " bytes, %s)", r->user_id, r->hs->cfg->server_name,
             media_id, len, type);
    reply_json(r, 200,
               json_pack("{s:o}", "content_uri",
                         json_sprintf("mxc://%s/%s", r->hs->cfg->server_name, media_id)));
    free(media_id);
}

/* ---- GET /download, /thumbnail ---- */

/* allow_remote is accepted (there is no remote media to fetch yet); false after replying when
 * it is not a boolean. */
static bool
allow_remote_ok_or_reply(struct req *r)
{
    const char *v = req_query(r, "allow_remote");

    if (v && strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
        reply_error(r, MERR_INVALID_PARAM, "allow_remote must be true or false");
        return false;
    }
    return true;
}

/* The local media named by the path, opened; false after replying 404 (other servers' media,
 * malformed, unknown or quarantined IDs) or 500. */
static bool
open_media_or_reply(struct req *r, struct store_media *md, int *fd)
{
    const char *server = r->params[0], *id = r->params[1];

    *fd = -1;
    memset(md, 0, sizeof(*md));
    if (!allow_remote_ok_or_reply(r))
        return false;
    /* SPEC: content_repo.rst "Security considerations": IDs are sanitised to A-Za-z0-9_-;
     * one with anything else cannot exist here. */
    if (strcmp(server, r->hs->cfg->server_name) != 0 || !media_id_valid(id)) {
        reply_error(r, MERR_NOT_FOUND, "Media not found");
        return false;
    }
    switch (media_open(r->hs->media, id, md, fd)) {
    case MEDIA_OK:
        return true;
    case MEDIA_NOT_FOUND:
        reply_error(r, MERR_NOT_FOUND, "Media not found");
        return false;
    default:
        reply_internal(r, "cannot open media");
        return false;
    }
}

/* A text type without a charset is served as UTF-8 (as Synapse), so a browser does not guess. */
static char *
served_type(const char *type)
{
    if (strncasecmp(type, "text/", 5) == 0 && !strcasestr(type, "charset="))
        return xasprintf("%s; charset=UTF-8", type);
    return xstrdup(type);
}

/* GET /_matrix/media/r0/download/{serverName}/{mediaId}[/{fileName}] */
void
content_download(struct req *r)
{
    struct store_media md;
    const char *name;
    char *disposition = NULL, *type = NULL, range[96];
    uint64_t start = 0, len;
    int fd = -1, ranged;

    if (!open_media_or_reply(r, &md, &fd))
        return;
    name = r->params[2] ? r->params[2] : md.upload_name;
    len = (uint64_t)md.length;
    ranged = media_parse_range(req_header(r, "Range"), len, &start, &len);
    if (ranged < 0) {
        snprintf(range, sizeof(range), "bytes */%" PRId64, md.length);
        req_add_header(r, "Content-Range", range);
        reply_error_status(r, 416, MERR_UNKNOWN, "Requested range not satisfiable");
        goto out;
    }
    disposition = media_content_disposition(md.media_type, name);
    type = served_type(md.media_type);
    add_media_headers(r);
    req_add_header(r, "Content-Disposition", disposition);
    req_add_header(r, "Accept-Ranges", "bytes");
    if (ranged) {
        snprintf(range, sizeof(range), "bytes %" PRIu64 "-%" PRIu64 "/%" PRId64, start,
                 start + len - 1, md.length);
        req_add_header(r, "Content-Range", range);
    }
    reply_file(r, ranged ? 206 : 200, type, fd, start, len);
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    free(disposition);
    free(type);
    store_media_clear(&md);
}

/* A required positive integer query parameter; false after replying. */
static bool
dimension_or_reply(struct req *r, const char *key, int *out)
{
    const char *v = req_query(r, key);
    int64_t n;

    if (!v) {
        reply_error(r, MERR_MISSING_PARAM, "Missing integer query parameter '%s'", key);
        return false;
    }
    if (util_parse_int64(v, &n) != 0 || n < 1) {
        reply_error(r, MERR_INVALID_PARAM, "Query parameter '%s' must be a positive integer", key);
        return false;
    }
    *out = n > MAX_THUMB_DIM ? MAX_THUMB_DIM : (int)n;
    return true;
}

/* GET /_matrix/media/r0/thumbnail/{serverName}/{mediaId} */
void
content_thumbnail(struct req *r)
{
    const char *method_s = req_query(r, "method");
    enum media_thumb_method method = MEDIA_SCALE;
    struct store_media md;
    const char *type = NULL;
    int64_t len = 0;
    int w, h, fd = -1, tfd = -1;

    memset(&md, 0, sizeof(md));
    if (!dimension_or_reply(r, "width", &w) || !dimension_or_reply(r, "height", &h))
        return;
    /* Synapse's default method is scale. */
    if (method_s && strcmp(method_s, "crop") == 0) {
        method = MEDIA_CROP;
    } else if (method_s && strcmp(method_s, "scale") != 0) {
        reply_error(r, MERR_INVALID_PARAM, "method must be crop or scale");
        return;
    }
    if (!open_media_or_reply(r, &md, &fd))
        return;
    close(fd); /* the thumbnail code opens what it needs */
    switch (media_thumbnail(r->hs->media, &md, w, h, method, &tfd, &len, &type)) {
    case MEDIA_OK:
        add_media_headers(r);
        reply_file(r, 200, type, tfd, 0, (uint64_t)len);
        break;
    case MEDIA_TOO_LARGE:
        /* SPEC: content_repo.rst: "Homeservers should not attempt to generate thumbnails for
         * images that are too large, returning a HTTP 413 error with the M_TOO_LARGE code." */
        reply_error(r, MERR_TOO_LARGE, "Content is too large to thumbnail");
        break;
    case MEDIA_UNSUPPORTED:
        /* As Synapse: 400 M_UNKNOWN for content without thumbnails (not an image we read,
         * or one that does not decode). */
        reply_error(r, MERR_UNKNOWN, "Cannot generate thumbnails for the requested content");
        break;
    case MEDIA_NOT_FOUND:
        reply_error(r, MERR_NOT_FOUND, "Media not found");
        break;
    case MEDIA_UNAVAILABLE: /* modules (issue 12): logged by the loader */
        reply_error(r, MERR_INTERNAL,
                    "Thumbnails are unavailable: the hearth-vips module "
                    "cannot be loaded");
        break;
    default:
        reply_internal(r, "cannot make a thumbnail");
        break;
    }
    store_media_clear(&md);
}

/* ---- GET /preview_url, /config ---- */

/* GET /_matrix/media/r0/preview_url */
void
content_preview_url(struct req *r)
{
    const char *url = req_query(r, "url"), *ts = req_query(r, "ts");
    char *og = NULL;
    int64_t t;

    /* Synapse does not serve the endpoint at all when previews are off. */
    if (!r->hs->cfg->url_preview_enabled) {
        reply_error(r, MERR_UNRECOGNIZED, "URL previews are disabled");
        return;
    }
    if (!url || !url[0]) {
        reply_error(r, MERR_MISSING_PARAM, "Missing string query parameter 'url'");
        return;
    }
    /* ts only picks among cached versions, and only the latest is kept. */
    if (ts && util_parse_int64(ts, &t) != 0) {
        reply_error(r, MERR_INVALID_PARAM, "Query parameter 'ts' must be an integer");
        return;
    }
    switch (media_preview_url(r->hs->media, url, util_now_ms(), &og)) {
    case MEDIA_OK:
        reply_raw(r, 200, "application/json", og, strlen(og));
        return;
    case MEDIA_UNSUPPORTED:
        reply_error(r, MERR_INVALID_PARAM, "Only http and https URLs can be previewed");
        break;
    case MEDIA_BLOCKED:
        /* Synapse says 403 (IP literal) or 502 (a name resolving there), with M_UNKNOWN;
         * one answer that says what happened is kinder. */
        reply_error(r, MERR_FORBIDDEN, "IP address blocked by IP blacklist entry");
        break;
    case MEDIA_TOO_LARGE:
        reply_error_status(r, 502, MERR_TOO_LARGE, "Requested content is too large");
        break;
    case MEDIA_FETCH_FAILED:
        reply_error_status(r, 502, MERR_UNKNOWN, "Failed to fetch the URL");
        break;
    case MEDIA_UNAVAILABLE: /* modules (issue 12): logged by the loader */
        reply_error(r, MERR_INTERNAL,
                    "URL previews are unavailable: a module they need (hearth-curl.so, "
                    "hearth-xml.so) cannot be loaded");
        break;
    default:
        reply_internal(r, "preview failed");
        break;
    }
    free(og);
}

/* GET /_matrix/media/r0/config */
void
content_config(struct req *r)
{
    reply_json(r, 200,
               json_pack("{s:I}", "m.upload.size", (json_int_t)r->hs->cfg->max_upload_size));
}

/* ---- Synapse's admin API ---- */

static void
quarantine(struct req *r, bool on)
{
    struct store_user me;
    enum store_rc src = store_user_get(r->hs->store, r->user_id, &me);
    bool admin = src == STORE_OK && me.is_admin;

    store_user_clear(&me);
    if (src != STORE_OK && src != STORE_NOT_FOUND) {
        reply_internal(r, "user lookup failed");
        return;
    }
    if (!admin) {
        reply_error(r, MERR_FORBIDDEN, "You are not a server admin");
        return;
    }
    /* Synapse answers 200 even for media it does not know; saying so helps the admin. */
    if (strcmp(r->params[0], r->hs->cfg->server_name) != 0 || !media_id_valid(r->params[1])) {
        reply_error(r, MERR_NOT_FOUND, "No such local media");
        return;
    }
    switch (store_media_quarantine(r->hs->store, r->params[1], on ? r->user_id : NULL)) {
    case STORE_OK:
        log_info("%s %s mxc://%s/%s", r->user_id, on ? "quarantined" : "released", r->params[0],
                 r->params[1]);
        reply_empty(r);
        break;
    case STORE_NOT_FOUND:
        reply_error(r, MERR_NOT_FOUND, "No such local media");
        break;
    default:
        reply_internal(r, "quarantine failed");
        break;
    }
}

/* POST /_synapse/admin/v1/media/quarantine/{serverName}/{mediaId} */
void
content_quarantine(struct req *r)
{
    quarantine(r, true);
}

/* POST /_synapse/admin/v1/media/unquarantine/{serverName}/{mediaId} */
void
content_unquarantine(struct req *r)
{
    quarantine(r, false);
}
