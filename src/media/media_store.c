/* The media store on disk: uploads streamed to a temporary file while hashed, then kept under
 * their SHA-256 so identical files share storage; downloads opened by media ID. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "media/media_internal.h"
#include "store/store.h"

#define MEDIA_ID_LEN 24
#define ID_ALPHABET "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

int
media_global_init(const char *argv0)
{
    if (media_thumb_global_init(argv0) != 0)
        return -1;
    if (media_preview_global_init() != 0) {
        media_thumb_global_shutdown();
        return -1;
    }
    return 0;
}

void
media_global_shutdown(void)
{
    media_preview_global_shutdown();
    media_thumb_global_shutdown();
}

int
media_sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int
media_make_dirs(const char *path)
{
    char *p = xstrdup(path);
    int rc = -1;

    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0700) == 0) {
            /* A new directory is durable once its parent's entry is. */
            char *slash = strrchr(p, '/');
            *slash = '\0';
            if (media_sync_dir(slash == p ? "/" : p) != 0) {
                log_error("media: cannot sync %s: %s", p, strerror(errno));
                goto out;
            }
            *slash = '/';
        } else if (errno != EEXIST) {
            log_error("media: cannot create %s: %s", p, strerror(errno));
            goto out;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    rc = 0;
out:
    free(p);
    return rc;
}

struct media *
media_new(const struct config *cfg, struct store *st)
{
    struct media *m = xcalloc(1, sizeof(*m));

    m->cfg = cfg;
    m->st = st;
    m->root = xstrdup(cfg->media_store_path);
    m->tmp = xasprintf("%s/tmp", m->root);
    m->content = xasprintf("%s/content", m->root);
    m->thumbs = xasprintf("%s/thumbnails", m->root);
    if (media_make_dirs(m->tmp) != 0 || media_make_dirs(m->content) != 0 ||
        media_make_dirs(m->thumbs) != 0) {
        media_free(m);
        return NULL;
    }
    return m;
}

void
media_free(struct media *m)
{
    if (!m)
        return;
    free(m->root);
    free(m->tmp);
    free(m->content);
    free(m->thumbs);
    free(m);
}

char *
media_new_id(void)
{
    return util_random_string(ID_ALPHABET, MEDIA_ID_LEN);
}

/* SPEC: content_repo.rst "Security considerations": only A-Za-z0-9, _ and - in media IDs. */
bool
media_id_valid(const char *id)
{
    size_t n = strlen(id);
    return n >= 1 && n <= 255 && strspn(id, ID_ALPHABET "0123456789_-") == n;
}

char *
media_content_path(const struct media *m, const char *sha256)
{
    return xasprintf("%s/%.2s/%.2s/%s", m->content, sha256, sha256 + 2, sha256);
}

char *
media_thumb_dir(const struct media *m, const char *sha256)
{
    return xasprintf("%s/%.2s/%.2s/%s", m->thumbs, sha256, sha256 + 2, sha256);
}

/* ---- uploads ---- */

struct media_upload {
    struct media *m;
    int fd;
    char *tmp_path;
    crypto_hash_sha256_state hash;
    int64_t len, max;
};

enum media_rc
media_upload_begin(struct media *m, int64_t max_size, struct media_upload **out)
{
    struct media_upload *u = xcalloc(1, sizeof(*u));

    u->m = m;
    u->max = max_size;
    u->tmp_path = xasprintf("%s/upload-XXXXXX", m->tmp);
    u->fd = mkostemp(u->tmp_path, O_CLOEXEC);
    if (u->fd < 0) {
        log_error("media: cannot create a file in %s: %s", m->tmp, strerror(errno));
        free(u->tmp_path);
        free(u);
        return MEDIA_ERR;
    }
    crypto_hash_sha256_init(&u->hash);
    *out = u;
    return MEDIA_OK;
}

enum media_rc
media_upload_write(struct media_upload *u, const void *data, size_t len)
{
    const char *p = data;
    size_t left = len;

    if ((int64_t)len > u->max - u->len)
        return MEDIA_TOO_LARGE;
    while (left > 0) {
        ssize_t w = write(u->fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            log_error("media: write to %s failed: %s", u->tmp_path, strerror(errno));
            return MEDIA_ERR;
        }
        p += w;
        left -= (size_t)w;
    }
    crypto_hash_sha256_update(&u->hash, data, len);
    u->len += (int64_t)len;
    return MEDIA_OK;
}

int
media_upload_read(struct media_upload *u, char **buf, size_t *len)
{
    size_t n = (size_t)u->len, off = 0;
    char *b = xmalloc(n + 1);

    while (off < n) {
        ssize_t r = pread(u->fd, b + off, n - off, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(b);
            return -1;
        }
        off += (size_t)r;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

void
media_upload_abort(struct media_upload *u)
{
    if (!u)
        return;
    if (u->fd >= 0)
        close(u->fd);
    if (u->tmp_path)
        unlink(u->tmp_path);
    free(u->tmp_path);
    free(u);
}

/* Makes the temporary file durable as the content file of its hash. */
static int
keep_file(struct media_upload *u, const char *sha256)
{
    char *path = media_content_path(u->m, sha256);
    char *dir = xstrndup(path, (size_t)(strrchr(path, '/') - path));
    struct stat sb;
    int rc = -1;

    if (fsync(u->fd) != 0) {
        log_error("media: fsync %s: %s", u->tmp_path, strerror(errno));
        goto out;
    }
    if (media_make_dirs(dir) != 0)
        goto out;
    if (stat(path, &sb) == 0 && sb.st_size == u->len) {
        /* The same bytes are stored already: keep one copy. */
        unlink(u->tmp_path);
    } else if (rename(u->tmp_path, path) != 0) {
        log_error("media: rename to %s: %s", path, strerror(errno));
        goto out;
    }
    free(u->tmp_path);
    u->tmp_path = NULL;
    /* Also when the copy was there already: its rename may not be durable yet. */
    if (media_sync_dir(dir) != 0) {
        log_error("media: fsync %s: %s", dir, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(path);
    free(dir);
    return rc;
}

enum media_rc
media_upload_finish(struct media_upload *u, const char *media_type, const char *upload_name,
                    const char *user_id, char **media_id, int64_t *length)
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    struct store_media row = {0};
    enum store_rc src = STORE_EXISTS;
    enum media_rc rc = MEDIA_ERR;

    *media_id = NULL;
    crypto_hash_sha256_final(&u->hash, digest);
    sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
    if (keep_file(u, hex) != 0)
        goto out;
    row.media_type = (char *)media_type;
    row.upload_name = (char *)upload_name;
    row.length = u->len;
    row.sha256 = hex;
    row.user_id = (char *)user_id;
    row.created_ts = util_now_ms();
    /* 137 random bits do not collide, but a retry costs nothing. */
    for (int tries = 0; tries < 3 && src == STORE_EXISTS; tries++) {
        free(row.media_id);
        row.media_id = media_new_id();
        src = store_media_add(u->m->st, &row);
    }
    if (src != STORE_OK) {
        log_error("media: cannot record media %s", row.media_id);
        free(row.media_id);
        goto out;
    }
    *media_id = row.media_id;
    *length = u->len;
    rc = MEDIA_OK;
out:
    media_upload_abort(u);
    return rc;
}

enum media_rc
media_open(struct media *m, const char *media_id, struct store_media *out, int *fd)
{
    enum store_rc src = store_media_get(m->st, media_id, out);
    char *path;

    *fd = -1;
    if (src == STORE_NOT_FOUND)
        return MEDIA_NOT_FOUND;
    if (src != STORE_OK)
        return MEDIA_ERR;
    if (out->quarantined_by) {
        store_media_clear(out);
        return MEDIA_NOT_FOUND;
    }
    path = media_content_path(m, out->sha256);
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        log_error("media: %s: the file %s is missing: %s", media_id, path, strerror(errno));
        free(path);
        store_media_clear(out);
        return MEDIA_NOT_FOUND;
    }
    free(path);
    return MEDIA_OK;
}

/* ---- Content-Disposition ---- */

/* Types a browser may show inline without running anything (Synapse's list). */
static const char *const inline_types[] = {
    "text/css",     "text/plain", "text/csv",    "application/json", "application/ld+json",
    "image/jpeg",   "image/gif",  "image/png",   "image/apng",       "image/webp",
    "image/avif",   "video/mp4",  "video/webm",  "video/ogg",        "video/quicktime",
    "audio/mp4",    "audio/webm", "audio/aac",   "audio/mpeg",       "audio/ogg",
    "audio/wave",   "audio/wav",  "audio/x-wav", "audio/x-pn-wav",   "audio/flac",
    "audio/x-flac",
};

static bool
type_is_inline(const char *media_type)
{
    size_t n = strcspn(media_type, ";");

    while (n > 0 && media_type[n - 1] == ' ')
        n--;
    for (size_t i = 0; i < sizeof(inline_types) / sizeof(inline_types[0]); i++)
        if (strlen(inline_types[i]) == n && strncasecmp(media_type, inline_types[i], n) == 0)
            return true;
    return false;
}

/* RFC 2616 token: CHAR except CTLs and separators. */
static bool
is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 32 || c >= 127 || strchr("()<>@,;:\\\"/[]?={}", c))
            return false;
    }
    return true;
}

char *
media_content_disposition(const char *media_type, const char *filename)
{
    const char *kind = type_is_inline(media_type) ? "inline" : "attachment";
    char *out, *o;

    if (!filename || !*filename)
        return xstrdup(kind);
    if (is_token(filename))
        return xasprintf("%s; filename=%s", kind, filename);
    /* RFC 6266 / RFC 5987: filename*=utf-8''<%-encoded>, attr-char left as is. */
    size_t klen = strlen(kind), cap = klen + 32 + 3 * strlen(filename);
    out = xmalloc(cap);
    memcpy(out, kind, klen);
    o = out + klen;
    memcpy(o, "; filename*=utf-8''", 19);
    o += 19;
    for (const unsigned char *c = (const unsigned char *)filename; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("!#$&+-.^_`|~", *c)) {
            *o++ = (char)*c;
        } else {
            static const char hexd[] = "0123456789ABCDEF";
            *o++ = '%';
            *o++ = hexd[*c >> 4];
            *o++ = hexd[*c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* ---- Range ---- */

/* A whole decimal number, no sign; false on overflow or anything else. */
static bool
parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || n > 19)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

int
media_parse_range(const char *header, uint64_t size, uint64_t *start, uint64_t *len)
{
    const char *spec, *dash;
    uint64_t a, b;

    if (!header || strncasecmp(header, "bytes=", 6) != 0)
        return 0;
    spec = header + 6;
    while (*spec == ' ')
        spec++;
    if (strchr(spec, ','))
        return 0; /* several ranges: RFC 7233 lets a server send the whole */
    dash = strchr(spec, '-');
    if (!dash)
        return 0;
    size_t tail = strcspn(dash + 1, " ");
    if (dash[1 + tail] != '\0')
        return 0;
    if (dash == spec) { /* "-N": the last N bytes */
        if (!parse_u64(dash + 1, tail, &b))
            return 0;
        if (b == 0 || size == 0)
            return -1;
        if (b > size)
            b = size;
        *start = size - b;
        *len = b;
        return 1;
    }
    if (!parse_u64(spec, (size_t)(dash - spec), &a))
        return 0;
    if (tail == 0) {
        b = UINT64_MAX;
    } else if (!parse_u64(dash + 1, tail, &b) || b < a) {
        return 0;
    }
    if (a >= size)
        return -1;
    if (b >= size)
        b = size - 1;
    *start = a;
    *len = b - a + 1;
    return 1;
}
