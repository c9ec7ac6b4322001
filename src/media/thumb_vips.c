/* The libvips part of thumbnails (module hearth-vips.so; thumb_vips.h). Only JPEG, PNG, GIF
 * and WebP are read (thumbnail.c checks the first bytes before calling here); every other
 * libvips loader is blocked (no SVG, PDF or ImageMagick behind a thumbnail URL). Decoding
 * fails on truncated or corrupt data, and a thumbnail that takes longer than
 * THUMB_TIME_LIMIT_S is killed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "core/log.h"
#include "core/util.h"
#include "media/thumb_vips.h"

#define THUMB_TIME_LIMIT_S 10
#define JPEG_QUALITY 80
/* Above this many pixels a thumbnail with an alpha channel is not checked for actual
 * transparency (that needs it in memory); it is kept as PNG. */
#define ALPHA_CHECK_MAX_PIXELS (4 * 1024 * 1024)

static void
log_from_vips(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
    (void)domain;
    (void)level;
    (void)data;
    /* Warnings about a client's broken image are the client's business. */
    log_debug("libvips: %s", message);
}

static int
vips_init_once(const char *argv0)
{
    static const char *const allowed[] = {"VipsForeignLoadJpeg", "VipsForeignLoadPng",
                                          "VipsForeignLoadNsgif", "VipsForeignLoadWebp"};

    /* Memory (issue 12, soak): libvips loads its optional loader modules (HEIF, JPEG XL,
     * ImageMagick, OpenSlide, PDF and their libraries, about 5 MB resident) from its prefix's
     * lib directory at start, for loaders the block list below refuses anyway (JPEG, PNG,
     * GIF and WebP are built in). A prefix without modules skips them. */
    if (!getenv("VIPSHOME"))
        setenv("VIPSHOME", "/nonexistent/hearth-no-vips-modules", 0);
    if (VIPS_INIT(argv0) != 0) {
        log_error("libvips failed to initialise: %s", vips_error_buffer());
        return -1;
    }
    g_log_set_handler("VIPS", G_LOG_LEVEL_MASK, log_from_vips, NULL);
    /* One thread per thumbnail (requests give the parallelism), and no operation cache: it
     * would keep decoded images and open files of one request for the next. */
    vips_concurrency_set(1);
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    vips_operation_block_set("VipsForeignLoad", TRUE);
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        vips_operation_block_set(allowed[i], FALSE);
    return 0;
}

static void
vips_shutdown_once(void)
{
    vips_shutdown();
}

static void
log_vips_error(const char *what, const char *path)
{
    char msg[256];

    snprintf(msg, sizeof(msg), "%s", vips_error_buffer());
    vips_error_clear();
    msg[strcspn(msg, "\n")] = '\0';
    log_info("thumbnail: %s %s: %s", what, path, msg);
}

static bool
vips_size(const char *path, int *w, int *h)
{
    VipsImage *img = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                              VIPS_FAIL_ON_ERROR, NULL);

    if (!img) {
        log_vips_error("cannot read", path);
        return false;
    }
    *w = vips_image_get_width(img);
    *h = vips_image_get_height(img);
    if (vips_image_get_orientation_swap(img)) {
        int t = *w;
        *w = *h;
        *h = t;
    }
    g_object_unref(img);
    return true;
}

static void
on_eval(VipsImage *image, VipsProgress *progress, void *data)
{
    (void)progress;
    if (util_mono_ns() > *(uint64_t *)data) {
        log_info("thumbnail: over %d s, stopped", THUMB_TIME_LIMIT_S);
        vips_image_set_kill(image, TRUE);
    }
}

/* Does the image (with an alpha band) have a pixel that is not opaque? */
static bool
has_transparency(VipsImage *img)
{
    VipsImage *alpha = NULL;
    double min = 0, opaque = 255;
    bool transparent = true;

    if (img->Type == VIPS_INTERPRETATION_RGB16 || img->Type == VIPS_INTERPRETATION_GREY16)
        opaque = 65535;
    else if (img->Type == VIPS_INTERPRETATION_scRGB)
        opaque = 1.0;
    if (vips_extract_band(img, &alpha, img->Bands - 1, NULL) == 0 &&
        vips_min(alpha, &min, NULL) == 0)
        transparent = min < opaque;
    else
        vips_error_clear();
    if (alpha)
        g_object_unref(alpha);
    return transparent;
}

static enum media_rc
vips_generate(const char *src, const char *dst, int img_w, int img_h, int w, int h,
              enum media_thumb_method method)
{
    VipsImage *thumb = NULL, *mem = NULL, *flat = NULL, *out;
    uint64_t deadline = util_mono_ns() + (uint64_t)THUMB_TIME_LIMIT_S * 1000000000ull;
    enum media_rc rc = MEDIA_UNSUPPORTED;
    bool png = false;
    int r;

    if (method == MEDIA_CROP)
        r = vips_thumbnail(src, &thumb, w, "height", h, "crop", VIPS_INTERESTING_CENTRE, "size",
                           VIPS_SIZE_DOWN, "fail_on", VIPS_FAIL_ON_ERROR, NULL);
    else if ((int64_t)w * img_h >= (int64_t)h * img_w)
        /* Only the side scaled the least is given, so rounding cannot take a pixel off the
         * size chosen. */
        r = vips_thumbnail(src, &thumb, w, "height", VIPS_MAX_COORD, "size", VIPS_SIZE_DOWN,
                           "fail_on", VIPS_FAIL_ON_ERROR, NULL);
    else
        r = vips_thumbnail(src, &thumb, VIPS_MAX_COORD, "height", h, "size", VIPS_SIZE_DOWN,
                           "fail_on", VIPS_FAIL_ON_ERROR, NULL);
    if (r != 0) {
        log_vips_error("cannot thumbnail", src);
        goto out;
    }
    out = thumb;
    if (vips_image_hasalpha(out)) {
        if ((int64_t)w * h <= ALPHA_CHECK_MAX_PIXELS) {
            vips_image_set_progress(out, TRUE);
            g_signal_connect(out, "eval", G_CALLBACK(on_eval), &deadline);
            mem = vips_image_copy_memory(out);
            if (!mem) {
                log_vips_error("cannot decode", src);
                goto out;
            }
            out = mem;
            png = has_transparency(mem);
        } else {
            png = true;
        }
        if (!png) {
            if (vips_flatten(out, &flat, NULL) != 0) {
                log_vips_error("cannot flatten", src);
                goto out;
            }
            out = flat;
        }
    }
    vips_image_set_progress(out, TRUE);
    g_signal_connect(out, "eval", G_CALLBACK(on_eval), &deadline);
    if (png)
        r = vips_pngsave(out, dst, "strip", TRUE, "compression", 6, NULL);
    else
        r = vips_jpegsave(out, dst, "strip", TRUE, "Q", JPEG_QUALITY, "optimize_coding", TRUE,
                          NULL);
    if (r != 0) {
        log_vips_error("cannot encode a thumbnail of", src);
        goto out;
    }
    rc = MEDIA_OK;
out:
    if (flat)
        g_object_unref(flat);
    if (mem)
        g_object_unref(mem);
    if (thumb)
        g_object_unref(thumb);
    return rc;
}

const struct media_vips media_vips_module = {
    .init = vips_init_once,
    .shutdown = vips_shutdown_once,
    .size = vips_size,
    .generate = vips_generate,
};
