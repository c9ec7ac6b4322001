/* Application services (application_service_api.rst): the registrations read at start from
 * the files in app_service_config_files (Synapse's YAML format), their namespaces, the
 * homeserver -> application service HTTP client (transactions, user and alias queries,
 * third-party lookups; libcurl) and the transaction senders, one thread per service.
 *
 * Namespace regexes are PCRE2, anchored at the start of the subject: registration files are
 * written for Synapse, which matches them with Python's re.match, and PCRE2 reads Python's
 * syntax (\d, non-greedy *?, (?i), (?P<name>...)) where POSIX ERE does not. */
#ifndef HEARTH_APPSERVICE_APPSERVICE_H
#define HEARTH_APPSERVICE_APPSERVICE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct appservice;  /* one registration; lives as long as its struct appservices */
struct appservices; /* all of them, and their senders */
struct store;

/* ---- registrations (registration.c) ---- */

/* An empty set for server_name (the domain of sender_localpart). Free with
 * appservices_free. */
struct appservices *appservices_new(const char *server_name);
/* Reads and validates each file of paths into a new set. 0 and *out, or -1 with a one-line
 * message naming the file and the key in err. */
int appservices_load(const char *const *paths, size_t n, const char *server_name,
                     struct appservices **out, char *err, size_t errlen);
/* Adds one registration from YAML text; source names it in messages. 0, or -1 with err. The
 * id and as_token must be unique in the set (application_service_api.rst: "The homeserver
 * MUST enforce this"). */
int appservices_add_yaml(struct appservices *as, const char *yaml, size_t len, const char *source,
                         char *err, size_t errlen);
/* Stops the senders if running, then frees everything. NULL is fine. */
void appservices_free(struct appservices *as);

size_t appservices_count(const struct appservices *as);
const struct appservice *appservices_at(const struct appservices *as, size_t i);
/* The registration with this as_token, or NULL. The token is compared by its SHA-256 in
 * constant time, so the comparison says nothing about the tokens. */
const struct appservice *appservices_by_token(const struct appservices *as, const char *token);
/* The registration with this id, or NULL. */
const struct appservice *appservices_by_id(const struct appservices *as, const char *id);

/* Borrowed strings, valid as long as the set. */
const char *appservice_id(const struct appservice *a);
const char *appservice_sender(const struct appservice *a); /* "@sender_localpart:server" */
const char *appservice_url(const struct appservice *a);    /* no trailing '/'; NULL: none */
/* rate_limited: masqueraded users are rate limited (the sender never is). Default false. */
bool appservice_rate_limited(const struct appservice *a);
size_t appservice_n_protocols(const struct appservice *a);
const char *appservice_protocol(const struct appservice *a, size_t i);
bool appservice_has_protocol(const struct appservice *a, const char *protocol);

enum as_ns { AS_NS_USERS, AS_NS_ALIASES, AS_NS_ROOMS };
/* Does one of the registration's namespaces of that kind match s (only exclusive ones with
 * exclusive_only)? */
bool appservice_matches(const struct appservice *a, enum as_ns kind, const char *s,
                        bool exclusive_only);
/* A user the service may act as: its sender, or one in its users namespaces. */
bool appservice_is_user(const struct appservice *a, const char *user_id);
/* The first registration but `except` (may be NULL) with an exclusive namespace of that kind
 * matching s, or NULL. */
const struct appservice *appservices_exclusive(const struct appservices *as, enum as_ns kind,
                                               const char *s, const struct appservice *except);

/* ---- the HTTP client (client.c) ---- */

/* Calls the service: method on {url}/_matrix/app/v1{path}[?query], with the hs_token as the
 * access_token parameter and as a Bearer header. When the answer is not a success and does not
 * look like the service's own Matrix error (a route it does not have), it tries the legacy
 * route ({url}{legacy_path}; NULL: path), and when that works it uses the legacy routes first
 * for a while, trying the versioned ones again later (SPEC: "Legacy routes"). query is encoded
 * already (or NULL); body is JSON text (or NULL). Returns the HTTP status, 0 when the service
 * could not be reached or we are stopping; *out (may be NULL) receives the JSON answer (new
 * reference, NULL when there is none). */
long appservice_call(struct appservices *as, const struct appservice *a, const char *method,
                     const char *path, const char *legacy_path, const char *query, const char *body,
                     long timeout_ms, json_t **out);
/* A %-encoded copy of s for a URL path segment or query value (new string). */
char *appservice_escape(const char *s);

/* ---- queries and third-party networks (query.c) ---- */

/* user_id (local) has no account here: asks the services with an exclusive users namespace
 * covering it (GET /users/{userId}). When one answers 200 and the account still does not
 * exist, it is created without a password (the service said the user exists). True when the
 * account exists afterwards. */
bool appservices_query_user(struct appservices *as, struct store *st, const char *user_id);
/* alias (local) is unknown here: asks the services with an exclusive aliases namespace
 * covering it (GET /rooms/{roomAlias}). True when one answered 200 (it should have created the
 * alias through the Client-Server API meanwhile). */
bool appservices_query_alias(struct appservices *as, const char *alias);
/* The protocol's metadata from one service (GET /thirdparty/protocol/{protocol}), with each
 * instance's instance_id set to "<service id>|<network_id>" (Synapse's third_party_instance_id
 * form). New reference, or NULL when unreachable or not a valid answer. */
json_t *appservice_protocol_get(struct appservices *as, const struct appservice *a,
                                const char *protocol);
/* A third-party lookup at one service: GET /thirdparty/{kind}[/{protocol}]?query (kind
 * "location" or "user"). New array (empty when the service had nothing or failed). */
json_t *appservice_thirdparty_lookup(struct appservices *as, const struct appservice *a,
                                     const char *kind, const char *protocol, const char *query);

/* ---- the transaction senders (sender.c) ---- */

/* Creates each registration's sender account that does not exist yet. 0, or -1 (logged). */
int appservices_ensure_senders(struct appservices *as, struct store *st);
/* Starts one sender thread per registration with a url: each pushes the events the service is
 * interested in, in stream order, as transactions queued in the database (so nothing is lost
 * across restarts), retried with exponential backoff until the service accepts them. */
int appservices_start(struct appservices *as, struct store *st);
/* New events were committed: wakes the senders. Safe from any thread. */
void appservices_notify(struct appservices *as);
/* Runs fn(arg) in a thread of its own, for a client request that waits on a service without
 * holding an HTTP thread (a service answering a query calls the homeserver back, maybe on a
 * connection that HTTP thread serves). -1 when stopping or no thread could start: the caller
 * runs fn itself then (calls to services fail at once when stopping). */
int appservices_run(struct appservices *as, void (*fn)(void *arg), void *arg);
/* Aborts requests in flight to the services (queries included), stops the senders and waits
 * for them and for the threads of appservices_run. The set stays usable for lookups; calls to
 * the services fail from now on. */
void appservices_stop(struct appservices *as);

/* Is the event (full event JSON) of interest to the service? aliases are the room's aliases
 * (borrowed array of strings), members its joined members when the event happened (borrowed
 * object whose keys are the user IDs); both may be NULL.
 * SPEC: application_service_api.rst "Registration": its users send it or are its target, or
 * are joined to the room, or the room's ID or one of its aliases is in its namespaces. */
bool appservice_interested(const struct appservice *a, const json_t *ev, const json_t *aliases,
                           const json_t *members);

#endif
