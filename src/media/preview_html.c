/* The HTML part of URL previews (module hearth-xml.so; preview_html.h): a page's OpenGraph
 * tags read with libxml2's HTML parser (issue 12, memory: libxml2 and ICU are mapped only
 * once a page is previewed). */
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "media/preview_html.h"

#define MAX_TEXT 500   /* og:title and og:description are cut to this many bytes, as Synapse */
#define MAX_VALUE 2000 /* any other og: value longer than this is dropped */

static int
html_init(void)
{
    xmlInitParser();
    return 0;
}

static void
html_shutdown(void)
{
    xmlCleanupParser();
}

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

const struct media_html media_html_module = {
    .init = html_init,
    .shutdown = html_shutdown,
    .parse = parse_html,
};
