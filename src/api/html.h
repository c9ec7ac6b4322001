/* Small HTML pages the server shows in a browser (email validation, SSO, UIA fallback), and
 * the form bodies they post back (issue 10). */
#ifndef HEARTH_API_HTML_H
#define HEARTH_API_HTML_H

#include <stdbool.h>

struct req;

/* s with & < > " ' escaped. New string. */
char *html_escape(const char *s);
/* A complete page: the title (escaped here) and body_html (trusted markup). New string. */
char *html_page(const char *title, const char *body_html);
/* Replies `status` with a page whose body is one paragraph of escaped text. */
void html_reply_message(struct req *r, int status, const char *title, const char *text);
/* SPEC: client_server_api "Fallback": the page shown when a UIA stage is complete, which calls
 * window.onAuthDone or posts "authDone" to its opener. New string. */
char *html_auth_done_page(void);
/* A field of an application/x-www-form-urlencoded request body (decoded into the request's
 * arena), or NULL when absent or malformed. */
const char *html_form_get(struct req *r, const char *name);

#endif
