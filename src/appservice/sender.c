/* The transaction senders: one thread per application service with a url, off the request
 * path. Each thread reads the event stream from its service's position, queues the events the
 * service is interested in as a transaction (the queue row and the new position are one
 * database transaction), and pushes the oldest queued transaction until the service accepts
 * it, backing off exponentially meanwhile. So events go out in stream order, a transaction is
 * resent unchanged with the same ID until accepted, and a restart loses nothing. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "appservice/appservice_internal.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "room/event.h"
#include "room/redact.h"
#include "room/version.h"
#include "store/store.h"

/* Synapse's limit too: a transaction holds at most this many events. */
#define SCAN_BATCH 100
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 60000
/* A notification can only be missed by a bug, but a look now and then costs nothing. */
#define IDLE_WAIT_MS 5000
#define TXN_TIMEOUT_MS 60000L
/* Positions passed over without anything of interest are written down this often (in events,
 * or ms): a restart only re-reads what came after. */
#define PERSIST_EVERY_EVENTS 1000
#define PERSIST_EVERY_MS 30000

struct as_sender {
    struct appservices *as;
    const struct appservice *a;
    struct store *st;
    pthread_t thread;
    bool started;
};

static bool
stopping(struct appservices *as)
{
    return atomic_load(&as->stopping);
}

/* Waits up to ms, or until the senders are woken (wake_on_notify) or stopped. Returns false
 * when stopping. */
static bool
nap(struct appservices *as, uint64_t *gen, int64_t ms, bool wake_on_notify)
{
    struct timespec deadline;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&as->lock);
    while (!stopping(as) && !(wake_on_notify && as->gen != *gen))
        if (pthread_cond_timedwait(&as->cond, &as->lock, &deadline) == ETIMEDOUT)
            break;
    *gen = as->gen;
    pthread_mutex_unlock(&as->lock);
    return !stopping(as);
}

/* A room's aliases, read once per batch (cache: room -> array). NULL when storage failed. */
static json_t *
room_aliases(struct store *st, json_t *cache, const char *room_id)
{
    json_t *v = json_object_get(cache, room_id);
    char **list = NULL;
    size_t n = 0;
    enum store_rc rc;

    if (v)
        return v;
    rc = store_room_aliases(st, room_id, &list, &n);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND)
        return NULL;
    v = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(v, json_string(list[i]));
    store_strings_free(list, n);
    json_object_set_new(cache, room_id, v);
    return v;
}

/* The room's joined members just before the event at pos ({user: true}): read at the room's
 * first event in the batch, then kept up to date by the batch's membership events, so a
 * member's interest is judged as of each event, not as of the (later) scan. NULL when storage
 * failed. */
static json_t *
room_members(struct store *st, json_t *cache, const char *room_id, int64_t pos)
{
    json_t *v = json_object_get(cache, room_id);
    char **list = NULL;
    size_t n = 0;

    if (v)
        return v;
    if (store_appservice_joined_at(st, room_id, pos - 1, &list, &n) != STORE_OK)
        return NULL;
    v = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(v, list[i], json_true());
    store_strings_free(list, n);
    json_object_set_new(cache, room_id, v);
    return v;
}

static void
track_membership(json_t *members, const json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *sk = json_string_value(json_object_get(ev, "state_key"));
    const char *m =
        json_string_value(json_object_get(json_object_get(ev, "content"), "membership"));

    if (!type || !sk || strcmp(type, "m.room.member") != 0)
        return;
    if (m && strcmp(m, "join") == 0)
        json_object_set_new(members, sk, json_true());
    else
        json_object_del(members, sk);
}

/* The event as clients see it (SPEC: "A list of events, formatted as per the Client-Server
 * API"), with unsigned.age as of now. New reference. */
static json_t *
render(struct store *st, const struct store_event *e, const json_t *full, int64_t now)
{
    json_t *ev = json_incref((json_t *)full), *out, *uns;
    json_int_t ts;

    if (e->redacted_by) {
        char *version = NULL;
        const struct room_version *v;
        if (store_room_get(st, e->room_id, &version, NULL) == STORE_OK &&
            (v = room_version_get(version))) {
            json_t *red = redact_event(ev, v);
            json_decref(ev);
            ev = red;
        }
        free(version);
    }
    out = event_client_format(ev, e->event_id);
    uns = json_object_get(out, "unsigned");
    if (!uns) {
        uns = json_object();
        json_object_set_new(out, "unsigned", uns);
    }
    if (e->unsigned_json && !e->redacted_by) {
        json_t *extra = json_loads(e->unsigned_json, 0, NULL);
        if (json_is_object(extra))
            json_object_update(uns, extra);
        json_decref(extra);
    }
    ts = json_integer_value(json_object_get(ev, "origin_server_ts"));
    json_object_set_new(uns, "age", json_integer(now > ts ? now - ts : 0));
    json_decref(ev);
    return out;
}

/* The transaction body for the events of interest among list[0..n), or NULL when storage
 * failed; *count says how many went in. */
static char *
build_body(struct as_sender *s, const struct store_event *list, size_t n, size_t *count)
{
    json_t *events = json_array(), *aliases = json_object(), *members = json_object(), *body;
    int64_t now = util_now_ms();
    char *text = NULL;
    bool failed = false;

    for (size_t i = 0; i < n && !failed; i++) {
        json_t *full = json_loads(list[i].json, 0, NULL), *al, *mem;
        if (!full) {
            log_error("event %s: stored JSON unreadable; not sent to application services",
                      list[i].event_id);
            continue;
        }
        al = room_aliases(s->st, aliases, list[i].room_id);
        mem = room_members(s->st, members, list[i].room_id, list[i].pos);
        if (!al || !mem) {
            failed = true;
        } else {
            if (appservice_interested(s->a, full, al, mem))
                json_array_append_new(events, render(s->st, &list[i], full, now));
            track_membership(mem, full);
        }
        json_decref(full);
    }
    *count = json_array_size(events);
    body = json_pack("{s:o}", "events", events);
    if (!failed)
        text = json_dump_compact(body);
    json_decref(body);
    json_decref(aliases);
    json_decref(members);
    return text;
}

/* Pushes the oldest queued transaction: 1 accepted (or none queued: 0), -1 failed. */
static int
push_one(struct as_sender *s, unsigned *failures, int64_t *backoff, uint64_t *gen)
{
    int64_t txn_id = 0;
    char *body = NULL, path[64];
    long status;
    enum store_rc rc = store_appservice_txn_first(s->st, s->a->id, &txn_id, &body);

    if (rc == STORE_NOT_FOUND)
        return 0;
    if (rc != STORE_OK) {
        nap(s->as, gen, 1000, false);
        return -1;
    }
    snprintf(path, sizeof(path), "/transactions/%" PRId64, txn_id);
    status = appservice_call(s->as, s->a, "PUT", path, NULL, NULL, body, TXN_TIMEOUT_MS, NULL);
    free(body);
    if (status >= 200 && status < 300) {
        if (store_appservice_txn_delete(s->st, s->a->id, txn_id) != STORE_OK) {
            /* Sent again later with the same ID: the service will see a duplicate. */
            log_error("application service %s: could not dequeue transaction %" PRId64, s->a->id,
                      txn_id);
            nap(s->as, gen, 1000, false);
            return -1;
        }
        if (*failures)
            log_info("application service %s accepts transactions again", s->a->id);
        *failures = 0;
        *backoff = 0;
        return 1;
    }
    if (stopping(s->as))
        return -1;
    *backoff =
        *backoff ? (*backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : *backoff * 2) : BACKOFF_MIN_MS;
    /* The first failure is worth a warning; a service down for hours is not worth thousands. */
    log_msg(*failures == 0 || *backoff == BACKOFF_MAX_MS ? LOG_WARN : LOG_DEBUG,
            "application service %s: transaction %" PRId64 " %s%ld; retrying in %" PRId64 " ms",
            s->a->id, txn_id, status ? "refused with HTTP " : "failed: unreachable", status,
            *backoff);
    (*failures)++;
    nap(s->as, gen, *backoff, false);
    return -1;
}

static void *
sender_main(void *arg)
{
    struct as_sender *s = arg;
    const char *id = s->a->id;
    int64_t scanned = 0, persisted = 0, last_txn = 0, backoff = 0, persisted_at;
    unsigned failures = 0;
    uint64_t gen = 0;
    enum store_rc rc;

    /* A service seen for the first time starts at the present, not at the beginning. */
    while ((rc = store_appservice_state_get(s->st, id, &scanned, &last_txn)) != STORE_OK) {
        if (rc == STORE_NOT_FOUND) {
            store_stream_position(s->st, &scanned);
            last_txn = 0;
            if (store_appservice_state_put(s->st, id, scanned, last_txn) == STORE_OK)
                break;
        }
        log_error("application service %s: cannot read its stream position", id);
        if (!nap(s->as, &gen, 1000, false))
            return NULL;
    }
    persisted = scanned;
    persisted_at = util_now_ms();
    log_info("application service %s: sending from position %" PRId64, id, scanned);
    while (!stopping(s->as)) {
        struct store_event *list = NULL;
        size_t n = 0, count = 0;
        int64_t committed = 0, upto;
        char *body;
        int pushed = push_one(s, &failures, &backoff, &gen);

        if (pushed != 0)
            continue;
        store_stream_position(s->st, &committed);
        if (scanned >= committed) {
            if (scanned != persisted &&
                (scanned - persisted >= PERSIST_EVERY_EVENTS ||
                 util_now_ms() - persisted_at >= PERSIST_EVERY_MS) &&
                store_appservice_state_put(s->st, id, scanned, last_txn) == STORE_OK) {
                persisted = scanned;
                persisted_at = util_now_ms();
            }
            nap(s->as, &gen, IDLE_WAIT_MS, true);
            continue;
        }
        if (store_appservice_events(s->st, scanned, committed, SCAN_BATCH, &list, &n) != STORE_OK) {
            nap(s->as, &gen, 1000, false);
            continue;
        }
        upto = n == SCAN_BATCH ? list[n - 1].pos : committed;
        body = build_body(s, list, n, &count);
        store_event_list_free(list, n);
        if (!body) {
            nap(s->as, &gen, 1000, false);
            continue;
        }
        if (count == 0) {
            scanned = upto;
        } else if (store_appservice_txn_enqueue(s->st, id, last_txn + 1, body, upto) == STORE_OK) {
            last_txn++;
            scanned = persisted = upto;
            persisted_at = util_now_ms();
            log_debug("application service %s: transaction %" PRId64 " queued (%zu events)", id,
                      last_txn, count);
        } else {
            log_error("application service %s: could not queue a transaction", id);
            nap(s->as, &gen, 1000, false);
        }
        free(body);
    }
    if (scanned != persisted)
        store_appservice_state_put(s->st, id, scanned, last_txn);
    return NULL;
}

int
appservices_ensure_senders(struct appservices *as, struct store *st)
{
    for (size_t i = 0; i < appservices_count(as); i++) {
        const char *sender = as->list[i]->sender;
        struct store_user u = {0};
        enum store_rc rc = store_user_get(st, sender, &u);

        store_user_clear(&u);
        if (rc == STORE_NOT_FOUND) {
            rc = store_user_create(st, sender, NULL, false, false, util_now_ms());
            if (rc == STORE_OK) {
                store_profile_init(st, sender);
                log_info("created %s, the sender of application service %s", sender,
                         as->list[i]->id);
            }
        }
        if (rc != STORE_OK && rc != STORE_EXISTS) {
            log_error("cannot create %s, the sender of application service %s", sender,
                      as->list[i]->id);
            return -1;
        }
    }
    return 0;
}

int
appservices_start(struct appservices *as, struct store *st)
{
    if (appservices_count(as) == 0)
        return 0;
    /* Once, before any thread: the request path queries services too. */
    if (fetch_curl_ready() != 0)
        return -1;
    as->senders = xcalloc(as->n, sizeof(*as->senders));
    for (size_t i = 0; i < as->n; i++) {
        struct as_sender *s = &as->senders[as->n_senders];
        if (!as->list[i]->url)
            continue;
        s->as = as;
        s->a = as->list[i];
        s->st = st;
        if (pthread_create(&s->thread, NULL, sender_main, s) != 0) {
            log_error("cannot start the sender of application service %s", s->a->id);
            return -1;
        }
        s->started = true;
        as->n_senders++;
    }
    return 0;
}

void
appservices_notify(struct appservices *as)
{
    if (!as || as->n_senders == 0)
        return;
    pthread_mutex_lock(&as->lock);
    as->gen++;
    pthread_cond_broadcast(&as->cond);
    pthread_mutex_unlock(&as->lock);
}

struct run {
    struct appservices *as;
    void (*fn)(void *arg);
    void *arg;
};

static void *
run_main(void *p)
{
    struct run *run = p;
    struct appservices *as = run->as;

    run->fn(run->arg);
    free(run);
    pthread_mutex_lock(&as->lock);
    as->running--;
    pthread_cond_broadcast(&as->cond);
    pthread_mutex_unlock(&as->lock);
    return NULL;
}

int
appservices_run(struct appservices *as, void (*fn)(void *arg), void *arg)
{
    struct run *run;
    pthread_attr_t attr;
    pthread_t t;
    int rc = -1;

    if (!as)
        return -1;
    run = xcalloc(1, sizeof(*run));
    *run = (struct run){as, fn, arg};
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&as->lock);
    if (!stopping(as) && pthread_create(&t, &attr, run_main, run) == 0) {
        as->running++;
        rc = 0;
    }
    pthread_mutex_unlock(&as->lock);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        free(run);
    return rc;
}

void
appservices_stop(struct appservices *as)
{
    if (!as)
        return;
    pthread_mutex_lock(&as->lock);
    atomic_store(&as->stopping, true);
    pthread_cond_broadcast(&as->cond);
    /* Their calls fail now; they end by resuming their requests. */
    while (as->running > 0)
        pthread_cond_wait(&as->cond, &as->lock);
    pthread_mutex_unlock(&as->lock);
    /* n_senders stays: request threads still read it in appservices_notify (unlocked, as it
     * is fixed from start-up on) until the HTTP server stops after this. */
    for (size_t i = 0; i < as->n_senders && as->senders; i++)
        if (as->senders[i].started)
            pthread_join(as->senders[i].thread, NULL);
    free(as->senders);
    as->senders = NULL;
}
