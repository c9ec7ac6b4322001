#include "core/mailer.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fetch.h"
#include "core/log.h"
#include "core/util.h"

#define MAILER_QUEUE_MAX 1000

struct mail {
    struct mail *next;
    char *from_addr;
    char *to;
    char *message;
};

struct mailer {
    char *host, *user, *pass;
    int port;
    bool require_tls, enable_tls, force_tls;
    int64_t timeout_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct mail *head, *tail;
    size_t queued;
    atomic_bool stop;
};

static void
mail_free(struct mail *m)
{
    if (!m)
        return;
    free(m->from_addr);
    free(m->to);
    free(m->message);
    free(m);
}

/* Header values: no CR/LF (no header injection), tabs and other controls as spaces. */
static char *
header_value(const char *s)
{
    char *out = xstrdup(s);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return out;
}

static bool
is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/* RFC 2047 encoded-word for a non-ASCII header value. New string. */
static char *
encode_word(const char *s)
{
    size_t n = strlen(s), cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = xmalloc(cap), *out;

    if (is_ascii(s)) {
        free(b64);
        return xstrdup(s);
    }
    sodium_bin2base64(b64, cap, (const unsigned char *)s, n, sodium_base64_VARIANT_ORIGINAL);
    out = xasprintf("=?UTF-8?B?%s?=", b64);
    free(b64);
    return out;
}

/* "Name <addr>" -> addr; "addr" -> addr. */
static char *
bare_address(const char *from)
{
    const char *lt = strrchr(from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt)
        return xstrndup(lt + 1, (size_t)(gt - lt - 1));
    return xstrdup(from);
}

/* The display-name part of "Name <addr>", encoded when not ASCII; the whole From value. */
static char *
from_header(const char *from)
{
    const char *lt = strrchr(from, '<');
    char *name, *enc, *out, *addr;

    if (!lt || lt == from)
        return xstrdup(from);
    name = xstrndup(from, (size_t)(lt - from));
    for (size_t l = strlen(name); l > 0 && name[l - 1] == ' '; l--)
        name[l - 1] = '\0';
    enc = encode_word(name);
    addr = bare_address(from);
    out = xasprintf("%s <%s>", enc, addr);
    free(name);
    free(enc);
    free(addr);
    return out;
}

char *
mailer_format(const char *from, const char *to, const char *subject, const char *text,
              int64_t now_ms, char **addr)
{
    char *f = header_value(from), *t = header_value(to), *s = header_value(subject);
    char *fh = from_header(f), *sh = encode_word(s), *id = util_random_token(16);
    char date[64], *body, *out;
    size_t n = strlen(text), o = 0;
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    /* Lines end in CRLF on the wire. */
    body = xmalloc(n * 2 + 1);
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
            body[o++] = '\r';
        body[o++] = text[i];
    }
    body[o] = '\0';
    *addr = bare_address(f);
    out = xasprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\n"
                    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                    "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n",
                    fh, t, sh, date, id, strchr(*addr, '@') ? strchr(*addr, '@') + 1 : "hearth",
                    body);
    free(f);
    free(t);
    free(s);
    free(fh);
    free(sh);
    free(id);
    free(body);
    return out;
}

struct reader {
    const char *p;
    size_t left;
};

static size_t
on_read(char *buf, size_t size, size_t nitems, void *arg)
{
    struct reader *rd = arg;
    size_t n = size * nitems;
    if (n > rd->left)
        n = rd->left;
    memcpy(buf, rd->p, n);
    rd->p += n;
    rd->left -= n;
    return n;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    struct mailer *m = arg;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(&m->stop) ? 1 : 0; /* non-zero aborts the transfer */
}

static void
deliver(struct mailer *m, const struct mail *mail)
{
    struct reader rd = {mail->message, strlen(mail->message)};
    struct curl_slist *rcpt = NULL;
    char url[512], from[512], to[512];
    CURL *c = fetch_curl_ready() == 0 ? curl_easy_init() : NULL;
    CURLcode cc;

    if (!c) {
        log_error("mail: curl_easy_init failed");
        return;
    }
    snprintf(url, sizeof(url), "%s://%s:%d", m->force_tls ? "smtps" : "smtp", m->host, m->port);
    snprintf(from, sizeof(from), "<%s>", mail->from_addr);
    snprintf(to, sizeof(to), "<%s>", mail->to);
    rcpt = curl_slist_append(rcpt, to);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &rd);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)m->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)m->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, m);
    if (!m->force_tls)
        curl_easy_setopt(c, CURLOPT_USE_SSL,
                         m->require_tls  ? (long)CURLUSESSL_ALL
                         : m->enable_tls ? (long)CURLUSESSL_TRY
                                         : (long)CURLUSESSL_NONE);
    if (m->user) {
        curl_easy_setopt(c, CURLOPT_USERNAME, m->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, m->pass ? m->pass : "");
    }
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK)
        log_warn("mail to %s via %s not sent: %s", mail->to, url, curl_easy_strerror(cc));
    else
        log_info("mail sent to %s", mail->to);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
}

static void *
run(void *arg)
{
    struct mailer *m = arg;

    for (;;) {
        struct mail *mail;
        pthread_mutex_lock(&m->lock);
        while (!m->head && !atomic_load(&m->stop))
            pthread_cond_wait(&m->cond, &m->lock);
        if (atomic_load(&m->stop)) {
            pthread_mutex_unlock(&m->lock);
            break;
        }
        mail = m->head;
        m->head = mail->next;
        if (!m->head)
            m->tail = NULL;
        m->queued--;
        pthread_mutex_unlock(&m->lock);
        deliver(m, mail);
        mail_free(mail);
    }
    return NULL;
}

struct mailer *
mailer_new(const struct mailer_config *cfg)
{
    struct mailer *m = xcalloc(1, sizeof(*m));

    m->host = xstrdup(cfg->smtp_host ? cfg->smtp_host : "localhost");
    m->port = cfg->smtp_port ? cfg->smtp_port : 25;
    m->user = cfg->smtp_user ? xstrdup(cfg->smtp_user) : NULL;
    m->pass = cfg->smtp_pass ? xstrdup(cfg->smtp_pass) : NULL;
    m->require_tls = cfg->require_transport_security;
    m->enable_tls = cfg->enable_tls;
    m->force_tls = cfg->force_tls;
    m->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    if (pthread_create(&m->thread, NULL, run, m) != 0) {
        log_error("mail: cannot start the delivery thread");
        abort();
    }
    return m;
}

void
mailer_free(struct mailer *m)
{
    struct mail *mail, *next;

    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    atomic_store(&m->stop, true);
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    if (m->queued)
        log_warn("mail: %zu undelivered message(s) dropped at shutdown", m->queued);
    for (mail = m->head; mail; mail = next) {
        next = mail->next;
        mail_free(mail);
    }
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    free(m->host);
    free(m->user);
    if (m->pass)
        sodium_memzero(m->pass, strlen(m->pass));
    free(m->pass);
    free(m);
}

int
mailer_send(struct mailer *m, const char *from, const char *to, const char *subject,
            const char *text)
{
    struct mail *mail = xcalloc(1, sizeof(*mail));
    int rc = 0;

    mail->to = header_value(to);
    mail->message = mailer_format(from, to, subject, text, util_now_ms(), &mail->from_addr);
    pthread_mutex_lock(&m->lock);
    if (m->queued >= MAILER_QUEUE_MAX) {
        rc = -1;
    } else {
        if (m->tail)
            m->tail->next = mail;
        else
            m->head = mail;
        m->tail = mail;
        m->queued++;
        mail = NULL;
        pthread_cond_signal(&m->cond);
    }
    pthread_mutex_unlock(&m->lock);
    mail_free(mail);
    return rc;
}
