/* Push gateway delivery (push_gateway.rst, push_notifier.yaml): one thread runs libcurl's
 * multi interface over every http pusher. Each pusher sends one notification at a time, in
 * order; a failure is retried with exponential backoff (1 s doubling to 1 h, given up after a
 * day, as Synapse does). The queues and the retry state live in memory only: a restart drops
 * what was not delivered. Email pushers are stored but not delivered (mail needs 3PID
 * support). The pushers are read from the store again whenever it says they changed. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/fetch.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "push/push_internal.h"
#include "store/store.h"

#define REQUEST_TIMEOUT_MS 10000
#define CONNECT_TIMEOUT_MS 5000
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS (60 * 60 * 1000)
#define GIVE_UP_MS (24 * 60 * 60 * 1000)
#define MAX_QUEUE_PER_PUSHER 200
#define MAX_PENDING_NOTES 10000
#define MAX_RESPONSE 65536

struct item {
    struct item *next;
    char *body;
};

/* A pusher and its delivery state. */
struct pusher {
    struct store_pusher p; /* owned strings */
    char *url;
    json_t *data; /* data minus url */
    bool event_id_only;
    bool http;
    struct item *head, *tail;
    size_t qlen;
    CURL *easy; /* the request in flight for head, or NULL */
    struct curl_slist *headers;
    char *resp;
    size_t resp_len;
    int64_t retry_at, backoff_ms, failing_since;
};

struct push_delivery {
    struct store *st;
    pthread_t thread;
    bool started;
    bool start_tried; /* issue 12: the thread and libcurl start with the first note */
    pthread_mutex_t lock;
    struct push_note *qhead, *qtail; /* committed notes waiting for the thread */
    size_t qlen;
    bool stop;
    CURLM *multi;
    /* The thread's own. Sorted by user, app_id, pushkey. */
    struct pusher **pushers;
    size_t npushers;
    uint64_t gen;
    bool loaded;
};

#define SWAP(type, a, b)                                                                           \
    do {                                                                                           \
        type tmp_ = (a);                                                                           \
        (a) = (b);                                                                                 \
        (b) = tmp_;                                                                                \
    } while (0)

static void
items_free(struct item *it)
{
    while (it) {
        struct item *next = it->next;
        free(it->body);
        free(it);
        it = next;
    }
}

static void
transfer_end(struct push_delivery *d, struct pusher *pu)
{
    if (!pu->easy)
        return;
    curl_multi_remove_handle(d->multi, pu->easy);
    curl_easy_cleanup(pu->easy);
    curl_slist_free_all(pu->headers);
    free(pu->resp);
    pu->easy = NULL;
    pu->headers = NULL;
    pu->resp = NULL;
    pu->resp_len = 0;
}

static void
pusher_free(struct push_delivery *d, struct pusher *pu)
{
    if (!pu)
        return;
    transfer_end(d, pu);
    items_free(pu->head);
    free(pu->url);
    json_decref(pu->data);
    free(pu->p.user_id);
    free(pu->p.device_id);
    free(pu->p.kind);
    free(pu->p.app_id);
    free(pu->p.pushkey);
    free(pu->p.app_display_name);
    free(pu->p.device_display_name);
    free(pu->p.profile_tag);
    free(pu->p.lang);
    free(pu->p.data);
    free(pu);
}

static int
key_cmp(const struct store_pusher *a, const struct store_pusher *b)
{
    int c = strcmp(a->user_id, b->user_id);
    if (!c)
        c = strcmp(a->app_id, b->app_id);
    if (!c)
        c = strcmp(a->pushkey, b->pushkey);
    return c;
}

static int
pusher_order(const void *a, const void *b)
{
    return key_cmp(&(*(struct pusher *const *)a)->p, &(*(struct pusher *const *)b)->p);
}

/* Rereads the pushers when the store says they changed; delivery state carries over. */
static void
reload(struct push_delivery *d)
{
    uint64_t gen = store_pushers_generation(d->st);
    struct store_pusher *list = NULL;
    struct pusher **fresh;
    size_t n = 0;

    if (d->loaded && gen == d->gen)
        return;
    if (store_pushers_list(d->st, NULL, &list, &n) != STORE_OK) {
        log_error("push: cannot read the pushers");
        return;
    }
    d->gen = gen;
    d->loaded = true;
    fresh = xcalloc(n + 1, sizeof(*fresh));
    for (size_t i = 0; i < n; i++) {
        struct pusher *pu = xcalloc(1, sizeof(*pu));
        json_t *data = json_loads(list[i].data, 0, NULL);
        pu->p = list[i];
        memset(&list[i], 0, sizeof(list[i]));
        pu->http = strcmp(pu->p.kind, "http") == 0;
        if (json_is_object(data)) {
            const char *url = json_string_value(json_object_get(data, "url"));
            const char *format = json_string_value(json_object_get(data, "format"));
            pu->url = url ? xstrdup(url) : NULL;
            pu->event_id_only = format && strcmp(format, "event_id_only") == 0;
            /* SPEC: devices.data: "the data dictionary passed in at pusher creation minus the
             * url key". */
            json_object_del(data, "url");
            pu->data = data;
        } else {
            json_decref(data);
            pu->data = json_object();
        }
        fresh[i] = pu;
    }
    free(list);
    qsort(fresh, n, sizeof(*fresh), pusher_order);
    /* A pusher that is still there keeps its queue, transfer and backoff: the old one stays
     * (transfers point at it) with the new settings. */
    for (size_t i = 0, k = 0; i < d->npushers; i++) {
        struct pusher *old = d->pushers[i], *pu;
        int c = 1;
        while (k < n && (c = key_cmp(&fresh[k]->p, &old->p)) < 0)
            k++;
        if (k == n || c != 0) {
            pusher_free(d, old);
            continue;
        }
        pu = fresh[k];
        SWAP(struct store_pusher, old->p, pu->p);
        SWAP(char *, old->url, pu->url);
        SWAP(json_t *, old->data, pu->data);
        old->event_id_only = pu->event_id_only;
        old->http = pu->http;
        fresh[k] = old;
        pusher_free(d, pu);
    }
    free(d->pushers);
    d->pushers = fresh;
    d->npushers = n;
}

/* The index of the user's first pusher, or npushers. */
static size_t
first_of(struct push_delivery *d, const char *user_id)
{
    size_t lo = 0, hi = d->npushers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(d->pushers[mid]->p.user_id, user_id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* SPEC: set_tweak: tweaks "added by push rules"; a highlight without value is true. */
static json_t *
tweaks_of(const char *actions_text, bool *highlight, bool *sound)
{
    json_t *actions = json_loads(actions_text, 0, NULL), *a, *tweaks = json_object();
    size_t i;

    json_array_foreach(actions, i, a)
    {
        const char *name = json_string_value(json_object_get(a, "set_tweak"));
        json_t *v = json_object_get(a, "value");
        if (!name)
            continue;
        if (v)
            json_object_set(tweaks, name, v);
        else if (strcmp(name, "highlight") == 0)
            json_object_set_new(tweaks, name, json_true());
    }
    json_decref(actions);
    *highlight = json_is_true(json_object_get(tweaks, "highlight"));
    *sound = json_object_get(tweaks, "sound") != NULL;
    return tweaks;
}

/* The body of POST /_matrix/push/v1/notify for one event, user and pusher. */
static char *
build_body(const struct push_note *note, const struct push_target *row, const struct pusher *pu,
           int64_t unread)
{
    bool highlight = false, sound = false;
    json_t *tweaks = tweaks_of(row->actions, &highlight, &sound);
    json_t *n, *counts = json_object(), *device;
    char *text;

    /* Synapse's rule: high priority when the notification makes a sound or highlights, or
     * might (encrypted); low otherwise. */
    bool high = highlight || sound || strcmp(note->type, "m.room.encrypted") == 0;

    /* SPEC: "Counts whose value is zero should be omitted." */
    if (unread > 0)
        json_object_set_new(counts, "unread", json_integer(unread));
    device = json_pack("{s:s, s:s, s:I, s:O, s:o}", "app_id", pu->p.app_id, "pushkey",
                       pu->p.pushkey, "pushkey_ts", (json_int_t)(pu->p.pushkey_ts / 1000), "data",
                       pu->data, "tweaks", tweaks);
    n = json_pack("{s:s, s:s, s:s, s:o, s:[o]}", "event_id", note->event_id, "room_id",
                  note->room_id, "prio", high ? "high" : "low", "counts", counts, "devices",
                  device);
    /* SPEC: "When the homeserver is performing a push where the format is "event_id_only",
     * only the event_id, room_id, counts, and devices are required to be populated." */
    if (!pu->event_id_only) {
        json_t *content = json_loads(note->content, 0, NULL);
        json_object_set_new(n, "type", json_string(note->type));
        json_object_set_new(n, "sender", json_string(note->sender));
        if (note->sender_name)
            json_object_set_new(n, "sender_display_name", json_string(note->sender_name));
        if (note->room_name)
            json_object_set_new(n, "room_name", json_string(note->room_name));
        if (note->room_alias)
            json_object_set_new(n, "room_alias", json_string(note->room_alias));
        if (json_object_size(content) > 0)
            json_object_set_new(n, "content", content);
        else
            json_decref(content);
        if (note->membership) {
            json_object_set_new(n, "membership", json_string(note->membership));
            json_object_set_new(
                n, "user_is_target",
                json_boolean(note->state_key && strcmp(note->state_key, row->user_id) == 0));
        }
    }
    n = json_pack("{s:o}", "notification", n);
    text = json_dump_compact(n);
    json_decref(n);
    return text;
}

static void
enqueue(struct pusher *pu, char *body)
{
    struct item *it = xcalloc(1, sizeof(*it));
    it->body = body;
    if (pu->tail)
        pu->tail->next = it;
    else
        pu->head = it;
    pu->tail = it;
    pu->qlen++;
    /* A gateway down for long keeps only the latest notifications; the one in flight (the
     * head, while a transfer runs) stays. */
    while (pu->qlen > MAX_QUEUE_PER_PUSHER) {
        struct item **pp = pu->easy ? &pu->head->next : &pu->head, *drop = *pp;
        if (!drop)
            break;
        *pp = drop->next;
        if (pu->tail == drop)
            pu->tail = pp == &pu->head ? NULL : pu->head;
        drop->next = NULL;
        items_free(drop);
        pu->qlen--;
    }
}

static void
dispatch(struct push_delivery *d, const struct push_note *note)
{
    for (size_t i = 0; i < note->n; i++) {
        const struct push_target *row = &note->targets[i];
        size_t k = first_of(d, row->user_id);
        int64_t unread = -1;
        for (; k < d->npushers && strcmp(d->pushers[k]->p.user_id, row->user_id) == 0; k++) {
            struct pusher *pu = d->pushers[k];
            if (!pu->http || !pu->url)
                continue; /* email: stored, delivered once mail (3PIDs) exists */
            if (unread < 0 && store_push_unread_total(d->st, row->user_id, &unread) != STORE_OK)
                unread = 0;
            enqueue(pu, build_body(note, row, pu, unread));
        }
    }
}

static size_t
on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    struct pusher *pu = arg;
    size_t n = size * nmemb;
    if (pu->resp_len + n > MAX_RESPONSE)
        return n; /* the rest is ignored */
    pu->resp = xrealloc(pu->resp, pu->resp_len + n + 1);
    memcpy(pu->resp + pu->resp_len, data, n);
    pu->resp_len += n;
    pu->resp[pu->resp_len] = '\0';
    return n;
}

static void
start(struct push_delivery *d, struct pusher *pu)
{
    CURL *e = curl_easy_init();
    if (!e)
        return;
    pu->headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_URL, pu->url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, pu->head->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(pu->head->body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, pu->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, pu);
    curl_easy_setopt(e, CURLOPT_PRIVATE, pu);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "Hearth push");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    pu->easy = e;
    curl_multi_add_handle(d->multi, e);
}

static void
pop_head(struct pusher *pu)
{
    struct item *it = pu->head;
    if (!it)
        return;
    pu->head = it->next;
    if (!pu->head)
        pu->tail = NULL;
    it->next = NULL;
    items_free(it);
    pu->qlen--;
}

/* SPEC: rejected: "Homeservers must cease sending notification requests for these pushkeys
 * and remove the associated pushers." (Synapse: only the pushkey it sent.) */
static void
handle_rejected(struct push_delivery *d, struct pusher *pu)
{
    json_t *body = pu->resp ? json_loads(pu->resp, 0, NULL) : NULL, *k;
    size_t i;
    bool rejected = false;

    json_array_foreach(json_object_get(body, "rejected"), i, k)
    {
        const char *key = json_string_value(k);
        if (key && strcmp(key, pu->p.pushkey) == 0)
            rejected = true;
    }
    json_decref(body);
    if (!rejected)
        return;
    log_info("push: gateway rejected pushkey of %s (%s); removing the pusher", pu->p.user_id,
             pu->p.app_id);
    if (store_pusher_delete(d->st, pu->p.user_id, pu->p.app_id, pu->p.pushkey) != STORE_OK)
        log_error("push: cannot remove a rejected pusher of %s", pu->p.user_id);
    items_free(pu->head);
    pu->head = pu->tail = NULL;
    pu->qlen = 0;
}

static void
finished(struct push_delivery *d, CURL *e, CURLcode result)
{
    struct pusher *pu = NULL;
    long status = 0;
    int64_t now = util_now_ms();

    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&pu);
    if (!pu)
        return;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (result == CURLE_OK && status >= 200 && status < 300) {
        pop_head(pu);
        pu->backoff_ms = 0;
        pu->failing_since = 0;
        pu->retry_at = 0;
        handle_rejected(d, pu);
    } else {
        log_warn("push: gateway of %s failed (%s, HTTP %ld)", pu->p.user_id,
                 result == CURLE_OK ? "answered" : curl_easy_strerror(result), status);
        if (!pu->failing_since)
            pu->failing_since = now;
        if (now - pu->failing_since > GIVE_UP_MS) {
            /* Synapse gives up on a notification after a day and moves to the next. */
            pop_head(pu);
            pu->failing_since = 0;
            pu->backoff_ms = 0;
            pu->retry_at = 0;
        } else {
            pu->backoff_ms = pu->backoff_ms ? pu->backoff_ms * 2 : BACKOFF_FIRST_MS;
            if (pu->backoff_ms > BACKOFF_MAX_MS)
                pu->backoff_ms = BACKOFF_MAX_MS;
            pu->retry_at = now + pu->backoff_ms;
        }
    }
    transfer_end(d, pu);
}

/* Starts what is due; returns how long until the next retry is (at most max_ms). */
static long
start_due(struct push_delivery *d, long max_ms)
{
    int64_t now = util_now_ms();
    long wait = max_ms;

    for (size_t i = 0; i < d->npushers; i++) {
        struct pusher *pu = d->pushers[i];
        if (pu->easy || !pu->head)
            continue;
        if (pu->retry_at > now) {
            if (pu->retry_at - now < wait)
                wait = (long)(pu->retry_at - now);
            continue;
        }
        start(d, pu);
    }
    return wait;
}

static void *
run(void *arg)
{
    struct push_delivery *d = arg;

    for (;;) {
        struct push_note *notes, *next;
        struct CURLMsg *msg;
        int running = 0, left = 0;
        long wait;

        pthread_mutex_lock(&d->lock);
        if (d->stop) {
            pthread_mutex_unlock(&d->lock);
            break;
        }
        notes = d->qhead;
        d->qhead = d->qtail = NULL;
        d->qlen = 0;
        pthread_mutex_unlock(&d->lock);
        reload(d);
        for (; notes; notes = next) {
            next = notes->next;
            if (d->npushers)
                dispatch(d, notes);
            push_note_free(notes);
        }
        start_due(d, 1000);
        curl_multi_perform(d->multi, &running);
        while ((msg = curl_multi_info_read(d->multi, &left)))
            if (msg->msg == CURLMSG_DONE)
                finished(d, msg->easy_handle, msg->data.result);
        wait = start_due(d, 1000);
        curl_multi_poll(d->multi, NULL, 0, (int)wait, NULL);
    }
    return NULL;
}

struct push_delivery *
push_delivery_new(struct store *st)
{
    struct push_delivery *d = xcalloc(1, sizeof(*d));

    d->st = st;
    pthread_mutex_init(&d->lock, NULL);
    return d;
}

/* Memory (issue 12): libcurl (and OpenSSL under it, ~2.4 MB resident) and the delivery thread
 * start with the first note to deliver, not with the server. Under d->lock. */
static void
start_locked(struct push_delivery *d)
{
    d->start_tried = true;
    d->multi = fetch_curl_ready() == 0 ? curl_multi_init() : NULL;
    if (!d->multi) {
        log_error("push: libcurl is not usable; notifications will not be delivered");
        return;
    }
    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        log_error("push: cannot start the delivery thread");
        return;
    }
    d->started = true;
}

void
push_delivery_enqueue(struct push_delivery *d, struct push_note *note)
{
    bool dropped = false;

    pthread_mutex_lock(&d->lock);
    if (!d->start_tried && !d->stop)
        start_locked(d);
    if (!d->started || d->stop || d->qlen >= MAX_PENDING_NOTES) {
        dropped = d->started && !d->stop;
    } else {
        note->next = NULL;
        if (d->qtail)
            d->qtail->next = note;
        else
            d->qhead = note;
        d->qtail = note;
        d->qlen++;
        note = NULL;
    }
    pthread_mutex_unlock(&d->lock);
    if (dropped)
        log_warn("push: delivery is %d notes behind; dropping one", MAX_PENDING_NOTES);
    if (note)
        push_note_free(note);
    else
        curl_multi_wakeup(d->multi);
}

void
push_delivery_free(struct push_delivery *d)
{
    struct push_note *notes;

    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stop = true;
    notes = d->qhead;
    d->qhead = d->qtail = NULL;
    pthread_mutex_unlock(&d->lock);
    if (d->started) {
        curl_multi_wakeup(d->multi);
        pthread_join(d->thread, NULL);
    }
    while (notes) {
        struct push_note *next = notes->next;
        push_note_free(notes);
        notes = next;
    }
    for (size_t i = 0; i < d->npushers; i++)
        pusher_free(d, d->pushers[i]);
    free(d->pushers);
    if (d->multi)
        curl_multi_cleanup(d->multi);
    pthread_mutex_destroy(&d->lock);
    free(d);
}
