/* What the files of src/appservice/ share; not for callers of appservice.h. */
#ifndef HEARTH_APPSERVICE_APPSERVICE_INTERNAL_H
#define HEARTH_APPSERVICE_APPSERVICE_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "appservice/appservice.h"

struct as_namespace {
    char *regex;
    pcre2_code *re;
    bool exclusive;
};

struct appservice {
    char *id;
    char *url; /* NULL: the service wants no traffic */
    char as_token_hash[65];
    char *hs_token;
    char *sender; /* full user ID */
    struct as_namespace *ns[3];
    size_t n_ns[3];
    bool rate_limited;
    char **protocols;
    size_t n_protocols;
    /* Until when (ms) to use the legacy routes only: mutable state behind a const handle. */
    _Atomic int64_t *legacy_until;
};

struct as_sender;

struct appservices {
    char *server_name;
    struct appservice **list;
    size_t n;
    atomic_bool stopping; /* aborts calls to the services */
    pthread_mutex_t lock; /* guards gen and the senders' wake-ups */
    pthread_cond_t cond;
    uint64_t gen;   /* bumped by appservices_notify */
    size_t running; /* threads of appservices_run */
    struct as_sender *senders;
    size_t n_senders;
};

#endif
