/* User-Interactive Authentication (client_server_api "User-Interactive Authentication API").
 * Sessions live in memory: they are short-lived and a restart only costs a client one retry. */
#ifndef HEARTH_API_UIA_H
#define HEARTH_API_UIA_H

#include <stdbool.h>
#include <stddef.h>

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
 * user_id: whose password m.login.password checks (NULL when no user is known). */
bool uia_check_or_reply(struct req *r, const char *op, const struct uia_flow *flows, size_t n,
                        const char *user_id);

#endif
