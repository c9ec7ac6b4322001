/* Outgoing mail through an SMTP server (libcurl), off the request path: requests queue a
 * message and return; one thread delivers the queue in order. A slow or dead SMTP server
 * therefore delays mail, never a request. Delivery failures are logged (the message is then
 * dropped: the user can ask for another with a higher send_attempt). */
#ifndef HEARTH_CORE_MAILER_H
#define HEARTH_CORE_MAILER_H

#include <stdbool.h>
#include <stdint.h>

struct mailer_config {
    const char *smtp_host;
    int smtp_port;
    const char *smtp_user; /* NULL: no AUTH */
    const char *smtp_pass;
    bool require_transport_security; /* STARTTLS or fail */
    bool enable_tls;                 /* STARTTLS when offered */
    bool force_tls;                  /* TLS from the start (smtps://) */
    int64_t timeout_ms;              /* per message */
};

struct mailer;

/* Starts the delivery thread. The strings of cfg are copied. */
struct mailer *mailer_new(const struct mailer_config *cfg);
/* Stops the thread (a delivery in progress is aborted) and drops undelivered messages. */
void mailer_free(struct mailer *m);

/* Queues a text/plain UTF-8 message. from is "Name <addr>" or "addr"; CR and LF in the
 * header values are replaced. Returns 0, or -1 when the queue is full. */
int mailer_send(struct mailer *m, const char *from, const char *to, const char *subject,
                const char *text);

/* The RFC 5322 message mailer_send would deliver (new string), and the bare address of
 * `from` in *addr (new string). Pure; for unit tests. */
char *mailer_format(const char *from, const char *to, const char *subject, const char *text,
                    int64_t now_ms, char **addr);

#endif
