/* The libvips part of thumbnails, built as the module hearth-vips.so (issue 12, memory: libvips
 * and the ~70 libraries it needs are mapped only once a thumbnail is made; core/module.h).
 * thumbnail.c loads it on first use. */
#ifndef HEARTH_MEDIA_THUMB_VIPS_H
#define HEARTH_MEDIA_THUMB_VIPS_H

#include <stdbool.h>

#include "media/media.h"

struct media_vips {
    /* Once, before the other calls (thumbnail.c serializes it); 0 on success (logged). */
    int (*init)(const char *argv0);
    void (*shutdown)(void);
    /* The upright size of the image at path from its header alone; false if it cannot be
     * read (logged). */
    bool (*size)(const char *path, int *w, int *h);
    /* Writes a thumbnail of the image at src (img_w x img_h upright), w x h, to dst: a JPEG,
     * or a PNG when it has transparency. MEDIA_UNSUPPORTED when it does not decode. */
    enum media_rc (*generate)(const char *src, const char *dst, int img_w, int img_h, int w, int h,
                              enum media_thumb_method method);
};

/* The module's table (module_table("vips", "media_vips_module")). */
extern const struct media_vips media_vips_module;

#endif
