/* The HTML part of URL previews, built as the module hearth-xml.so (issue 12, memory: libxml2
 * and ICU are mapped only once a page is previewed; core/module.h). preview.c loads it on
 * first use. */
#ifndef HEARTH_MEDIA_PREVIEW_HTML_H
#define HEARTH_MEDIA_PREVIEW_HTML_H

#include <stddef.h>

#include "json/json.h"

struct media_html {
    /* Once, before parse (preview.c serializes it); 0 on success. */
    int (*init)(void);
    void (*shutdown)(void);
    /* The og: tags of an HTML page of len bytes fetched from url with Content-Type type
     * (may be NULL), with Synapse's fallbacks (<title> or <h1>, <meta name="description">):
     * a new object, empty when the page does not parse. */
    json_t *(*parse)(const char *html, size_t len, const char *url, const char *type);
};

/* The module's table (module_table("xml", "media_html_module")). */
extern const struct media_html media_html_module;

#endif
