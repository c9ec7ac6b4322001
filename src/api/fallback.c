/* client_server_api "Fallback": GET /_matrix/client/r0/auth/{authType}/fallback/web?session=
 * returns an HTML page that performs one UIA stage in a browser and then tells the client
 * (window.onAuthDone or postMessage "authDone"). Pages exist for the stages Hearth offers:
 * m.login.dummy, m.login.password, m.login.email.identity and m.login.sso; their forms post
 * back to the same URL (issue 10). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/html.h"
#include "api/threepid.h"
#include "api/uia.h"
#include "core/config.h"
#include "core/password.h"
#include "core/util.h"
#include "store/store.h"

/* A form posting `fields_html` (trusted) and the session back to this page. */
static void
form_page(struct req *r, int status, const char *title, const char *session, const char *text,
          const char *fields_html, const char *button)
{
    char *s = html_escape(session), *t = html_escape(text);
    char *body = xasprintf("<p>%s</p><form method=\"post\"><input type=\"hidden\" "
                           "name=\"session\" value=\"%s\">%s<p><button type=\"submit\">%s"
                           "</button></p></form>",
                           t, s, fields_html, button);
    reply_html(r, status, html_page(title, body));
    free(body);
    free(s);
    free(t);
}

static void
done(struct req *r)
{
    reply_html(r, 200, html_auth_done_page());
}

static void
password_stage(struct req *r, const char *session, const char *user_id)
{
    const char *pw = html_form_get(r, "password");
    struct store_user u;
    bool ok = false;

    if (!user_id) {
        html_reply_message(r, 400, "Authentication failed",
                           "This request is not for an account, so no password applies.");
        return;
    }
    if (r->method == HTTP_POST && pw) {
        if (store_user_get(r->hs->store, user_id, &u) == STORE_OK)
            ok = !u.deactivated && password_verify(u.password_hash, pw);
        store_user_clear(&u);
        if (ok && uia_mark_done(r->hs->uia, session, "m.login.password", NULL, NULL, 0)) {
            done(r);
            return;
        }
    }
    form_page(r, r->method == HTTP_POST ? 403 : 200, "Confirm your password", session,
              r->method == HTTP_POST ? "The password is not right. Try again."
                                     : "Enter your password to confirm this request.",
              "<p><input type=\"password\" name=\"password\" autocomplete=\"current-password\" "
              "autofocus></p>",
              "Confirm");
}

static enum threepid_kind
kind_of_op(const char *op)
{
    if (strcmp(op, "register") == 0)
        return TP_REGISTER;
    if (strcmp(op, "password") == 0)
        return TP_PASSWORD;
    return TP_ADD;
}

/* Step 1 asks for the address and mails the link; step 2 (sid and client_secret in the form)
 * checks the session was validated. */
static void
email_stage(struct req *r, const char *session, const char *op)
{
    const char *email_in = html_form_get(r, "email");
    const char *sid = html_form_get(r, "sid"), *secret = html_form_get(r, "client_secret");
    struct threepid_error err;
    char *email = NULL, *address = NULL, *new_sid = NULL, *new_secret = NULL, *fields = NULL;
    int64_t vts = 0;

    if (!r->hs->cfg->email_enabled) {
        html_reply_message(r, 400, "Authentication failed",
                           "This server does not validate email addresses.");
        return;
    }
    if (r->method == HTTP_POST && sid && secret) {
        if (threepid_session_validated(r->hs, sid, secret, &address, &vts) == 0 &&
            uia_mark_done(r->hs->uia, session, "m.login.email.identity", address, sid, vts)) {
            done(r);
            goto out;
        }
        {
            char *es = html_escape(sid), *ec = html_escape(secret);
            fields = xasprintf("<input type=\"hidden\" name=\"sid\" value=\"%s\">"
                               "<input type=\"hidden\" name=\"client_secret\" value=\"%s\">",
                               es, ec);
            free(es);
            free(ec);
        }
        form_page(r, 401, "Check your email", session,
                  "The address has not been validated yet. Open the link in the email we "
                  "sent, then press Continue.",
                  fields, "Continue");
        goto out;
    }
    if (r->method == HTTP_POST && email_in) {
        email = threepid_canonical_email(email_in);
        new_secret = util_random_token(24);
        if (!email) {
            form_page(r, 400, "Confirm your email address", session,
                      "That is not an email address. Try again.",
                      "<p><input type=\"email\" name=\"email\" autofocus></p>", "Send");
            goto out;
        }
        if (threepid_email_request(r->hs, r->ip, kind_of_op(op), email, new_secret, 1, NULL,
                                   &new_sid, &err) != 0) {
            form_page(r, err.status == 500 ? 500 : 400, "Confirm your email address", session,
                      err.msg, "<p><input type=\"email\" name=\"email\" autofocus></p>", "Send");
            goto out;
        }
        fields = xasprintf("<input type=\"hidden\" name=\"sid\" value=\"%s\">"
                           "<input type=\"hidden\" name=\"client_secret\" value=\"%s\">",
                           new_sid, new_secret); /* both from [A-Za-z0-9_-] */
        form_page(r, 200, "Check your email", session,
                  "We sent you an email. Open the link in it, then press Continue.", fields,
                  "Continue");
        goto out;
    }
    form_page(r, 200, "Confirm your email address", session,
              "Enter your email address; we will send you a link to confirm it.",
              "<p><input type=\"email\" name=\"email\" autocomplete=\"email\" autofocus></p>",
              "Send");
out:
    free(email);
    free(address);
    free(new_sid);
    free(new_secret);
    free(fields);
}

/* GET and POST /_matrix/client/r0/auth/{authType}/fallback/web */
void
fallback_web(struct req *r)
{
    const char *type = r->params[0];
    const char *session = req_query(r, "session");
    char *op = NULL, *user_id = NULL;

    if (!session && r->method == HTTP_POST)
        session = html_form_get(r, "session");
    if (!uia_stage_known(type)) {
        reply_error(r, MERR_UNRECOGNIZED, "No fallback page for %s", type);
        return;
    }
    if (!session || !*session) {
        reply_error(r, MERR_MISSING_PARAM, "Missing session");
        return;
    }
    if (uia_session_info(r->hs->uia, session, &op, &user_id) != 0) {
        html_reply_message(r, 400, "Authentication failed",
                           "Unknown or expired session. Start again from your application.");
        return;
    }
    if (strcmp(type, "m.login.dummy") == 0) {
        if (r->method == HTTP_POST && uia_mark_done(r->hs->uia, session, type, NULL, NULL, 0))
            done(r);
        else
            form_page(r, 200, "Continue", session, "Press Continue to go on.", "", "Continue");
    } else if (strcmp(type, "m.login.password") == 0) {
        password_stage(r, session, user_id);
    } else if (strcmp(type, "m.login.email.identity") == 0) {
        email_stage(r, session, op);
    } else if (r->hs->cfg->n_oidc_providers == 0) {
        html_reply_message(r, 400, "Authentication failed",
                           "Single sign-on is not configured on this server.");
    } else {
        sso_fallback_page(r, session);
    }
    free(op);
    free(user_id);
}
