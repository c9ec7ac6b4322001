/* The homeserver's process-wide context, handed to every request as r->hs. */
#ifndef HEARTH_API_HS_H
#define HEARTH_API_HS_H

#include <stdint.h>

#include "core/signing_key.h"

struct config;
struct store;
struct ratelimit;
struct uia;
struct nonces;
struct rooms;
struct notifier;
struct lazy_cache;
struct typing;
struct presence;
struct mailer;
struct oidc;
struct media;
struct appservices;
struct push;
struct http_server;
struct evcache;

struct hs {
    const struct config *cfg;
    struct store *store;
    struct rooms *rooms; /* the room service (src/rooms) */
    struct notifier *notifier;
    /* searchdefer (issue 3): background search indexing (src/sync/indexer.h) */
    struct search_indexer *search_indexer;
    struct lazy_cache *lazy;   /* lazy-loaded members already sent, per device */
    struct typing *typing;     /* who is typing where (src/sync/typing.h) */
    struct presence *presence; /* users' presence (src/sync/presence.h) */
    struct push *push;         /* push rules and delivery (src/push/push.h; issue 8) */
    struct signing_key key;
    struct ratelimit *rl_message;
    struct ratelimit *rl_registration;
    struct ratelimit *rl_login_address;
    struct ratelimit *rl_login_account;
    struct ratelimit *rl_login_failed;
    struct uia *uia;
    struct nonces *admin_nonces;
    char *dummy_password_hash; /* verified against for unknown users, so timing says nothing */
    /* 3PID, SSO (issue 10) */
    struct mailer *mailer;            /* NULL unless the email section is configured */
    struct ratelimit *rl_3pid_ip;     /* rc_3pid_validation, per client address */
    struct ratelimit *rl_3pid_target; /* rc_3pid_validation, per email address */
    struct oidc *oidc;                /* OpenID Connect providers and login sessions */
    struct media *media;              /* the content repository (src/media; issue 7) */
    struct appservices *appservices;  /* application services (issue 13); main owns it */
    struct http_server *http;         /* the client API's server, for its metrics (issue 14) */
    struct evcache *evcache;          /* sync speed (issue 4): events in client format (src/sync) */
};

/* Builds everything but the store and key, which main opens. */
void hs_init(struct hs *hs, const struct config *cfg);
void hs_cleanup(struct hs *hs);

#endif
