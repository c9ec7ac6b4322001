/* User-Interactive Authentication (client_server_api "User-Interactive Authentication API").
 * Sessions live in memory: they are short-lived and a restart only costs a client one retry. */
#ifndef HEARTH_API_UIA_H
#define HEARTH_API_UIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hs;
struct req;
struct uia;

#define UIA_MAX_STAGES 4

struct uia_flow {
    const char *stages[UIA_MAX_STAGES + 1]; /* NULL-terminated */
};

struct uia *uia_new(void);
void uia_free(struct uia *u);

/* Pure: true if every stage of at least one flow is among `completed`. */
bool uia_flows_done(const struct uia_flow *flows, size_t n, const char *const *completed,
                    size_t n_completed);

/* One step of UIA for a request whose parsed body is r->json. Returns true when a flow is
 * complete (the session is then spent). Otherwise the reply is written: 401 with flows,
 * params, session and completed (plus errcode/error when a stage failed), or another error.
 * `op` names the operation: a session started for one operation cannot complete another.
 * user_id: whose password m.login.password checks (NULL when no user is known); a session
 * started for one user cannot be used by another. */
bool uia_check_or_reply(struct req *r, const char *op, const struct uia_flow *flows, size_t n,
                        const char *user_id);

/* ---- 3PID and SSO stages, fallback pages (issue 10) ---- */

/* What the completed stages established, for the operation to use. */
struct uia_result {
    char *email;                /* m.login.email.identity: the validated address, or NULL */
    char *email_sid;            /* its validation session (spent by the operation) */
    int64_t email_validated_ts; /* when it was validated */
};
void uia_result_clear(struct uia_result *res);
/* uia_check_or_reply, also filling *res (owned by the caller) when it returns true. */
bool uia_check_ex_or_reply(struct req *r, const char *op, const struct uia_flow *flows, size_t n,
                           const char *user_id, struct uia_result *res);

/* The flows a user re-authenticates with (Synapse's rule): m.login.password when the account
 * has a password, m.login.sso when it is linked to an SSO provider; the password flow when
 * neither. Fills flows (at least 2 entries) and returns how many. */
size_t uia_user_flows(struct hs *hs, const char *user_id, struct uia_flow *flows);
/* uia_check_or_reply with the flows of uia_user_flows(user_id). */
bool uia_check_user_or_reply(struct req *r, const char *op, const char *user_id);

/* A session, for the fallback pages: 0 and its operation and user (new strings; user NULL
 * when none), or -1 when there is no such session. */
int uia_session_info(struct uia *u, const char *session, char **op, char **user_id);
/* Marks a stage completed on a session (fallback pages, the SSO callback); email and
 * validated_ts are recorded for m.login.email.identity. False when there is no such session
 * or the stage is unknown. */
bool uia_mark_done(struct uia *u, const char *session, const char *stage, const char *email,
                   const char *email_sid, int64_t email_validated_ts);
/* The stages Hearth can complete (for the fallback pages). */
bool uia_stage_known(const char *stage);

#endif
