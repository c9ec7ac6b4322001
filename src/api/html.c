#include "api/html.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "http/http.h"

char *
html_escape(const char *s)
{
    size_t n = 0, o = 0;
    char *out;

    for (const char *p = s; *p; p++)
        n += strchr("&<>\"'", *p) ? 6 : 1;
    out = xmalloc(n + 1);
    for (const char *p = s; *p; p++) {
        const char *rep = NULL;
        switch (*p) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            out[o++] = *p;
            continue;
        }
        memcpy(out + o, rep, strlen(rep));
        o += strlen(rep);
    }
    out[o] = '\0';
    return out;
}

char *
html_page(const char *title, const char *body_html)
{
    char *t = html_escape(title);
    char *page = xasprintf(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>%s</title><style>body{font-family:sans-serif;max-width:36em;margin:3em auto;"
        "padding:0 1em;line-height:1.5}button,a.button{font-size:1em;padding:.5em 1em}"
        "</style></head><body><h1>%s</h1>\n%s\n</body></html>\n",
        t, t, body_html);
    free(t);
    return page;
}

void
html_reply_message(struct req *r, int status, const char *title, const char *text)
{
    char *t = html_escape(text), *body = xasprintf("<p>%s</p>", t);
    reply_html(r, status, html_page(title, body));
    free(body);
    free(t);
}

const char *
html_form_get(struct req *r, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = r->body, *end;

    if (!p)
        return NULL;
    end = p + r->body_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (eq && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
            char *v = util_url_decode(eq + 1, (size_t)(stop - eq - 1), true);
            if (!v || !util_valid_utf8(v, strlen(v))) {
                free(v);
                return NULL;
            }
            return arena_adopt(&r->arena, v);
        }
        p = stop + 1;
    }
    return NULL;
}

char *
html_auth_done_page(void)
{
    return html_page("Authentication complete",
                     "<script>\n"
                     "if (window.onAuthDone) {\n"
                     "    window.onAuthDone();\n"
                     "} else if (window.opener && window.opener.postMessage) {\n"
                     "    window.opener.postMessage(\"authDone\", \"*\");\n"
                     "}\n"
                     "</script>\n"
                     "<p>Thank you. You may now close this window and return to the "
                     "application.</p>");
}
