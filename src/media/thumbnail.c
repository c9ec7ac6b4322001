/* Thumbnails (content_repo.rst "Thumbnails") with libvips. Only JPEG, PNG, GIF and WebP are
 * read, recognised by their first bytes; every other libvips loader is blocked (no SVG, PDF or
 * ImageMagick behind a thumbnail URL). An image is refused before decoding when it has more
 * than max_image_pixels, decoding fails on truncated or corrupt data, and a thumbnail that
 * takes longer than THUMB_TIME_LIMIT_S is killed. Thumbnails are cached under the content's
 * hash: thumbnails/ab/cd/<sha256>/<w>x<h>-<crop|scale>, a JPEG, or a PNG when the image has
 * transparency. The libvips calls live in the module hearth-vips.so (thumb_vips.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pthread.h>

#include "core/log.h"
#include "core/module.h"
#include "core/util.h"
#include "media/media_internal.h"
#include "media/thumb_vips.h"
#include "store/store.h"

enum img_format { FMT_NONE, FMT_JPEG, FMT_PNG, FMT_GIF, FMT_WEBP };

/* The libvips module (hearth-vips.so), loaded and initialised at the first image read
 * (issue 12, memory). */
static pthread_mutex_t vips_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct media_vips *vips;
static char *vips_argv0;

int
media_thumb_global_init(const char *argv0)
{
    vips_argv0 = xstrdup(argv0 ? argv0 : "hearth");
    return 0;
}

void
media_thumb_global_shutdown(void)
{
    if (vips)
        vips->shutdown();
    vips = NULL;
    free(vips_argv0);
    vips_argv0 = NULL;
}

/* The module, loaded on first use; NULL (logged) when it cannot be loaded or initialised. */
static const struct media_vips *
get_vips(void)
{
    const struct media_vips *v;

    pthread_mutex_lock(&vips_lock);
    if (!vips) {
        v = module_table("vips", "media_vips_module");
        if (v && v->init(vips_argv0 ? vips_argv0 : "hearth") == 0)
            vips = v;
    }
    v = vips;
    pthread_mutex_unlock(&vips_lock);
    return v;
}

/* ---- choosing the size ---- */

static int
round_div(int64_t a, int64_t b)
{
    int64_t q = (a + b / 2) / b;
    return q < 1 ? 1 : (int)q;
}

/* "scale": the image shrunk to fit in w x h keeping its aspect, never enlarged. */
static void
fit_scale(int img_w, int img_h, int w, int h, int *out_w, int *out_h)
{
    if (img_w <= w && img_h <= h) {
        *out_w = img_w;
        *out_h = img_h;
    } else if ((int64_t)img_w * h >= (int64_t)img_h * w) {
        *out_w = w;
        *out_h = round_div((int64_t)img_h * w, img_w);
    } else {
        *out_h = h;
        *out_w = round_div((int64_t)img_w * h, img_h);
    }
}

/* "crop": w x h, or the largest rectangle of that aspect the image holds when it is smaller
 * (never enlarged). */
static void
fit_crop(int img_w, int img_h, int w, int h, int *out_w, int *out_h)
{
    if (img_w >= w && img_h >= h) {
        *out_w = w;
        *out_h = h;
    } else if ((int64_t)img_w * h < (int64_t)img_h * w) {
        *out_w = img_w;
        *out_h = round_div((int64_t)h * img_w, w);
        if (*out_h > img_h)
            *out_h = img_h;
    } else {
        *out_h = img_h;
        *out_w = round_div((int64_t)w * img_h, h);
        if (*out_w > img_w)
            *out_w = img_w;
    }
}

static void
fit(enum media_thumb_method method, int img_w, int img_h, int w, int h, int *out_w, int *out_h)
{
    if (method == MEDIA_CROP)
        fit_crop(img_w, img_h, w, h, out_w, out_h);
    else
        fit_scale(img_w, img_h, w, h, out_w, out_h);
}

/* SPEC: content_repo.rst "Thumbnails": "Servers must never return thumbnails smaller than the
 * client's requested dimensions, unless the content being thumbnailed is smaller than the
 * dimensions. When the content is smaller than the requested dimensions, servers should
 * return the original content rather than thumbnail it." and "Servers MUST NOT upscale".
 * So: the original when it is no larger than asked; else the smallest configured size of the
 * method that is at least the ideal answer (for crop, the closest aspect first, as Synapse);
 * else, or with dynamic_thumbnails, the ideal answer itself. */
struct media_thumb_choice
media_thumb_choose(int img_w, int img_h, int req_w, int req_h, enum media_thumb_method method,
                   const struct config_thumbnail_size *sizes, size_t n_sizes, bool dynamic)
{
    struct media_thumb_choice c = {false, 0, 0};
    int ideal_w, ideal_h;
    double best_aspect = 0;
    int64_t best_area = 0;
    bool found = false;

    if (req_w < 1)
        req_w = 1;
    if (req_h < 1)
        req_h = 1;
    if (img_w <= req_w && img_h <= req_h) {
        c.original = true;
        c.out_w = img_w;
        c.out_h = img_h;
        return c;
    }
    fit(method, img_w, img_h, req_w, req_h, &ideal_w, &ideal_h);
    for (size_t i = 0; !dynamic && i < n_sizes; i++) {
        int w, h;
        double aspect;
        int64_t area;

        if ((enum media_thumb_method)sizes[i].method != method)
            continue;
        fit(method, img_w, img_h, sizes[i].width, sizes[i].height, &w, &h);
        if (w < ideal_w || h < ideal_h)
            continue;
        aspect = method == MEDIA_CROP ? (double)llabs((int64_t)ideal_w * h - (int64_t)ideal_h * w) /
                                            ((double)ideal_h * h)
                                      : 0;
        area = (int64_t)w * h;
        if (!found || aspect < best_aspect || (aspect == best_aspect && area < best_area)) {
            found = true;
            best_aspect = aspect;
            best_area = area;
            c.out_w = w;
            c.out_h = h;
        }
    }
    if (!found) {
        c.out_w = ideal_w;
        c.out_h = ideal_h;
    }
    c.original = c.out_w == img_w && c.out_h == img_h;
    return c;
}

/* ---- reading images ---- */

static enum img_format
sniff(int fd)
{
    unsigned char b[12];
    ssize_t n = pread(fd, b, sizeof(b), 0);

    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return FMT_JPEG;
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
        return FMT_PNG;
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return FMT_GIF;
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return FMT_WEBP;
    return FMT_NONE;
}

static enum img_format
sniff_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    enum img_format f;

    if (fd < 0)
        return FMT_NONE;
    f = sniff(fd);
    close(fd);
    return f;
}

/* The upright size of an image from its header alone; refuses non-images and images with
 * more than max_pixels (a decompression bomb is a few bytes declaring a huge size). */
static enum media_rc
probe(const char *path, int64_t max_pixels, enum img_format *fmt, int *w, int *h)
{
    const struct media_vips *v;

    *fmt = sniff_path(path);
    if (*fmt == FMT_NONE)
        return MEDIA_UNSUPPORTED;
    v = get_vips();
    if (!v)
        return MEDIA_UNAVAILABLE;
    if (!v->size(path, w, h))
        return MEDIA_UNSUPPORTED;
    if (*w < 1 || *h < 1)
        return MEDIA_UNSUPPORTED;
    if ((int64_t)*w * *h > max_pixels)
        return MEDIA_TOO_LARGE;
    return MEDIA_OK;
}

bool
media_image_size(struct media *m, const char *sha256, int *w, int *h)
{
    char *path = media_content_path(m, sha256);
    enum img_format fmt;
    enum media_rc rc = probe(path, INT64_MAX, &fmt, w, h);

    free(path);
    return rc == MEDIA_OK;
}

/* Opens a cached thumbnail; false if there is none (or it is empty). */
static bool
open_cached(const char *path, int *fd, int64_t *length, const char **content_type)
{
    struct stat sb;

    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return false;
    if (fstat(*fd, &sb) != 0 || sb.st_size == 0) {
        close(*fd);
        *fd = -1;
        return false;
    }
    *length = sb.st_size;
    *content_type = sniff(*fd) == FMT_JPEG ? "image/jpeg" : "image/png";
    return true;
}

/* Makes the thumbnail in a temporary file and moves it into the cache. */
static enum media_rc
make_cached(struct media *m, const char *src, const char *dir, const char *path, int img_w,
            int img_h, int w, int h, enum media_thumb_method method)
{
    char *tmp = xasprintf("%s/thumb-XXXXXX", m->tmp);
    int fd = mkostemp(tmp, O_CLOEXEC);
    enum media_rc rc = MEDIA_ERR;

    if (fd < 0) {
        log_error("thumbnail: cannot create a file in %s: %s", m->tmp, strerror(errno));
        free(tmp);
        return MEDIA_ERR;
    }
    close(fd);
    rc = vips->generate(src, tmp, img_w, img_h, w, h, method);
    if (rc != MEDIA_OK)
        goto out;
    rc = MEDIA_ERR;
    /* A cache, but a crash must not leave an empty file under the final name. */
    fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0 || media_make_dirs(dir) != 0 || rename(tmp, path) != 0) {
        log_error("thumbnail: cannot store %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto out;
    }
    close(fd);
    rc = MEDIA_OK;
out:
    unlink(tmp);
    free(tmp);
    return rc;
}

enum media_rc
media_thumbnail(struct media *m, const struct store_media *md, int req_w, int req_h,
                enum media_thumb_method method, int *fd, int64_t *length, const char **content_type)
{
    const struct config *cfg = m->cfg;
    char *src = media_content_path(m, md->sha256), *dir = NULL, *path = NULL;
    struct media_thumb_choice c;
    enum img_format fmt;
    enum media_rc rc;
    int img_w, img_h;

    *fd = -1;
    rc = probe(src, cfg->max_image_pixels, &fmt, &img_w, &img_h);
    if (rc != MEDIA_OK)
        goto out;
    c = media_thumb_choose(img_w, img_h, req_w, req_h, method, cfg->thumbnail_sizes,
                           cfg->n_thumbnail_sizes, cfg->dynamic_thumbnails);
    if (c.original && (fmt == FMT_JPEG || fmt == FMT_PNG)) {
        /* The thumbnail API answers JPEG or PNG, so only those go out as they are. */
        if (!open_cached(src, fd, length, content_type)) {
            rc = MEDIA_NOT_FOUND;
            goto out;
        }
        goto out;
    }
    if (c.original)
        method = MEDIA_SCALE; /* a GIF or WebP re-encoded at its own size */
    dir = media_thumb_dir(m, md->sha256);
    path = xasprintf("%s/%dx%d-%s", dir, c.out_w, c.out_h, method == MEDIA_CROP ? "crop" : "scale");
    if (open_cached(path, fd, length, content_type))
        goto out;
    rc = make_cached(m, src, dir, path, img_w, img_h, c.out_w, c.out_h, method);
    if (rc == MEDIA_OK && !open_cached(path, fd, length, content_type))
        rc = MEDIA_ERR;
out:
    free(src);
    free(dir);
    free(path);
    return rc;
}
