#include "rooms/rooms.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "json/canonical.h"
#include "json/json.h"
#include "room/auth.h"
#include "room/event.h"
#include "room/redact.h"
#include "store/store.h"
#include "sync/notifier.h"

#define NBUCKETS 1024
#define MAX_AUTH_KEYS 8

/* Who a room's events wake (issue 3): the room's ID (peekers of a world-readable room wait
 * under it) and its joined and invited members, with their notifier hashes. Built once per
 * membership of the room and shared read-only: the room holds a reference, and so does each
 * send while it notifies. */
struct concerned {
    atomic_int refs;
    size_t n;
    char **ids;
    size_t *hashes;
};

struct room {
    struct room *next;
    char *room_id;
    const struct room_version *v;
    pthread_mutex_t lock;
    json_t *state;   /* {type: {state_key: {"event_id", "event"}}} */
    char *last_id;   /* latest event: the next event's prev_events */
    json_t *last_ev; /* its full event (v1/v2 need its hashes) */
    int64_t last_depth;
    int64_t last_pos;            /* stream position of the latest committed event */
    struct concerned *concerned; /* NULL until needed; dropped when membership changes */
    /* Guarded by the table lock: holders, and whether the table still has it. A room dropped
     * from the table is freed by its last holder. */
    int refs;
    bool dropped;
};

struct rooms {
    struct store *st;
    char *server_name;
    const struct signing_key *key;
    pthread_mutex_t lock; /* guards the table, not the rooms */
    struct room *buckets[NBUCKETS];
    void (*listener)(void *arg, const char *const *users, const size_t *hashes, size_t n);
    void *listener_arg;
    struct rooms_push_hook push; /* push (issue 8) */
};

void
rooms_set_listener(struct rooms *rs,
                   void (*fn)(void *arg, const char *const *users, const size_t *hashes, size_t n),
                   void *arg)
{
    rs->listener = fn;
    rs->listener_arg = arg;
}

void
rooms_set_push_hook(struct rooms *rs, const struct rooms_push_hook *hook)
{
    rs->push = *hook;
}

static size_t
hash(const char *s)
{
    size_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h % NBUCKETS;
}

struct rooms *
rooms_new(struct store *st, const char *server_name, const struct signing_key *key)
{
    struct rooms *rs = xcalloc(1, sizeof(*rs));
    rs->st = st;
    rs->server_name = xstrdup(server_name);
    rs->key = key;
    pthread_mutex_init(&rs->lock, NULL);
    return rs;
}

static void
concerned_unref(struct concerned *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    rooms_ids_free(c->ids, c->n);
    free(c->hashes);
    free(c);
}

static void
room_free(struct room *r)
{
    if (!r)
        return;
    concerned_unref(r->concerned);
    free(r->room_id);
    json_decref(r->state);
    free(r->last_id);
    json_decref(r->last_ev);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

void
rooms_free(struct rooms *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct room *r = rs->buckets[i], *next;
        for (; r; r = next) {
            next = r->next;
            room_free(r);
        }
    }
    pthread_mutex_destroy(&rs->lock);
    free(rs->server_name);
    free(rs);
}

void
rooms_ids_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

static void
state_put(json_t *state, const char *type, const char *state_key, const char *event_id, json_t *ev)
{
    json_t *by_type = json_object_get(state, type);
    if (!by_type) {
        by_type = json_object();
        json_object_set_new(state, type, by_type);
    }
    json_object_set_new(by_type, state_key,
                        json_pack("{s:s, s:O}", "event_id", event_id, "event", ev));
}

static const json_t *
state_lookup(void *ctx, const char *type, const char *state_key)
{
    json_t *entry = json_object_get(json_object_get(ctx, type), state_key);
    return entry ? json_object_get(entry, "event") : NULL;
}

/* Loads a room's cache from storage; NULL if the room does not exist (*why: STORE_NOT_FOUND)
 * or storage failed (*why: STORE_ERR). */
static struct room *
room_load(struct rooms *rs, const char *room_id, enum store_rc *why)
{
    struct store_event *list = NULL, last = {0};
    size_t n = 0;
    char *version = NULL;
    struct room *r = NULL;
    const struct room_version *v;

    *why = store_room_get(rs->st, room_id, &version, NULL);
    if (*why != STORE_OK)
        goto out;
    *why = STORE_ERR;
    v = room_version_get(version);
    if (!v) {
        log_error("room %s has unknown version %s", room_id, version);
        goto out;
    }
    if (store_room_state_at(rs->st, room_id, INT64_MAX, &list, &n) != STORE_OK ||
        store_room_last_event(rs->st, room_id, &last) != STORE_OK)
        goto out;
    r = xcalloc(1, sizeof(*r));
    r->room_id = xstrdup(room_id);
    r->v = v;
    pthread_mutex_init(&r->lock, NULL);
    r->state = json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_loads(list[i].json, 0, NULL);
        if (!ev || !list[i].state_key) {
            json_decref(ev);
            continue;
        }
        /* Auth rules see a redacted state event as redacted. */
        if (list[i].redacted_by) {
            json_t *red = redact_event(ev, v);
            json_decref(ev);
            ev = red;
        }
        state_put(r->state, list[i].type, list[i].state_key, list[i].event_id, ev);
        json_decref(ev);
    }
    r->last_id = xstrdup(last.event_id);
    r->last_ev = json_loads(last.json, 0, NULL);
    r->last_depth = last.depth;
    r->last_pos = last.pos;
    *why = STORE_OK;
out:
    store_event_list_free(list, n);
    store_event_clear(&last);
    free(version);
    return r;
}

/* Finds (loading if needed) and locks the room. NULL if unknown or unreadable; *why (when
 * not NULL) tells which, as room_load. */
static struct room *
room_acquire_why(struct rooms *rs, const char *room_id, enum store_rc *why)
{
    size_t b = hash(room_id);
    struct room *r, *loaded;
    enum store_rc rc = STORE_OK;

    pthread_mutex_lock(&rs->lock);
    for (r = rs->buckets[b]; r; r = r->next)
        if (strcmp(r->room_id, room_id) == 0)
            break;
    if (r)
        r->refs++;
    pthread_mutex_unlock(&rs->lock);
    if (why)
        *why = STORE_OK;
    if (!r) {
        loaded = room_load(rs, room_id, &rc);
        if (!loaded) {
            if (why)
                *why = rc;
            return NULL;
        }
        pthread_mutex_lock(&rs->lock);
        for (r = rs->buckets[b]; r; r = r->next)
            if (strcmp(r->room_id, room_id) == 0)
                break;
        if (!r) { /* nobody loaded it meanwhile */
            loaded->next = rs->buckets[b];
            rs->buckets[b] = loaded;
            r = loaded;
            loaded = NULL;
        }
        r->refs++;
        pthread_mutex_unlock(&rs->lock);
        if (loaded)
            room_free(loaded);
    }
    pthread_mutex_lock(&r->lock);
    return r;
}

static struct room *
room_acquire(struct rooms *rs, const char *room_id)
{
    return room_acquire_why(rs, room_id, NULL);
}

static void
room_release(struct rooms *rs, struct room *r)
{
    bool free_it;

    pthread_mutex_unlock(&r->lock);
    pthread_mutex_lock(&rs->lock);
    free_it = --r->refs == 0 && r->dropped;
    pthread_mutex_unlock(&rs->lock);
    if (free_it)
        room_free(r);
}

void
rooms_forget_cache(struct rooms *rs, const char *room_id)
{
    size_t b = hash(room_id);
    struct room **pp, *dead = NULL;

    pthread_mutex_lock(&rs->lock);
    for (pp = &rs->buckets[b]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->room_id, room_id) == 0) {
            dead = *pp;
            *pp = dead->next;
            dead->dropped = true;
            if (dead->refs > 0)
                dead = NULL; /* its last holder frees it */
            break;
        }
    }
    pthread_mutex_unlock(&rs->lock);
    room_free(dead);
}

/* A room being written: a working copy of the cache the batch builds on. */
struct batch {
    const struct room_version *v;
    /* One-level copy of the room's state: its per-type maps stay shared with the room's
     * (base, borrowed while building) until an event changes one, which state_own copies
     * first. A message copies no member map, whatever the room's size (issue 3). */
    json_t *state;
    const json_t *base;
    char *last_id;
    json_t *last_ev;
    int64_t last_depth;
    struct store_event_row *rows;
    char **ids;
    char **texts;
    char **unsigned_texts;
    void **notes; /* push (issue 8): per event, its notifications until committed */
    const struct rooms_push_hook *push;
    size_t n;
    /* Sealed later (defer_seal): per event, a shallow copy of it to sign and what to sign. */
    bool defer_seal;
    json_t *push_state; /* defer_seal: the room's state for push rules (no event changes it) */
    json_t **seal_evs;
    char **signing;
    size_t *signing_lens;
};

static void
batch_clear(struct batch *b)
{
    json_decref(b->state);
    free(b->last_id);
    json_decref(b->last_ev);
    for (size_t i = 0; i < b->n; i++) {
        free(b->texts[i]);
        free(b->unsigned_texts[i]);
        if (b->notes[i])
            b->push->discard(b->push->arg, b->notes[i]);
        if (b->seal_evs)
            json_decref(b->seal_evs[i]);
        if (b->signing)
            free(b->signing[i]);
    }
    json_decref(b->push_state);
    free(b->seal_evs);
    free(b->signing);
    free(b->signing_lens);
    free(b->notes);
    free(b->rows);
    free(b->texts);
    free(b->unsigned_texts);
    if (b->ids)
        rooms_ids_free(b->ids, b->n);
    memset(b, 0, sizeof(*b));
}

/* The batch's own map of a state type, copied from the room's on first change. */
static json_t *
state_own(struct batch *b, const char *type)
{
    json_t *by_type = json_object_get(b->state, type);

    if (!by_type || by_type == json_object_get(b->base, type)) {
        by_type = by_type ? json_copy(by_type) : json_object();
        json_object_set_new(b->state, type, by_type);
    }
    return by_type;
}

/* Copies the two levels of the state map so replacing an entry leaves the cache alone. */
static json_t *
state_copy(const json_t *state)
{
    json_t *out = json_object(), *by_type;
    const char *type;

    json_object_foreach((json_t *)state, type, by_type)
        json_object_set_new(out, type, json_copy(by_type));
    return out;
}

static void
redact_in_state(struct batch *b, const char *event_id)
{
    const char *type, *sk;
    json_t *by_type, *entry, *found_in = NULL;
    char *found_type = NULL, *found_key = NULL;

    json_object_foreach(b->state, type, by_type)
    {
        json_object_foreach(by_type, sk, entry)
        {
            if (!found_in &&
                strcmp(json_string_value(json_object_get(entry, "event_id")), event_id) == 0) {
                found_in = by_type;
                found_type = xstrdup(type);
                found_key = xstrdup(sk);
            }
        }
    }
    if (found_in) {
        json_t *red =
            redact_event(json_object_get(json_object_get(found_in, found_key), "event"), b->v);
        json_object_set_new(state_own(b, found_type), found_key,
                            json_pack("{s:s, s:o}", "event_id", event_id, "event", red));
    }
    free(found_type);
    free(found_key);
}

/* Builds, authorizes and stages one event on top of the batch. */
static enum rooms_rc
build_one(struct rooms *rs, const char *room_id, struct batch *b, const struct rooms_proto *p,
          int64_t now, char *reason, size_t reasonlen)
{
    struct auth_key keys[MAX_AUTH_KEYS];
    const char *auth_ids[MAX_AUTH_KEYS];
    const json_t *auth_hashes[MAX_AUTH_KEYS];
    size_t nkeys, nauth = 0, idx = b->n;
    struct auth_state astate = {state_lookup, b->state, NULL};
    json_t *ev = NULL, *replaced = NULL, *uns = NULL;
    char *id = NULL, *text = NULL, *signing = NULL;
    size_t signing_len = 0;
    enum rooms_rc rc = ROOMS_INVALID;
    enum event_error err = EVENT_OK;

    ev = json_pack("{s:s, s:s, s:s, s:O, s:I, s:I}", "room_id", room_id, "sender", p->sender,
                   "type", p->type, "content", p->content, "origin_server_ts", (json_int_t)now,
                   "depth", (json_int_t)(b->last_depth + 1));
    if (!ev) {
        snprintf(reason, reasonlen, "Invalid event fields");
        goto out;
    }
    if (p->state_key)
        json_object_set_new(ev, "state_key", json_string(p->state_key));
    if (p->redacts)
        json_object_set_new(ev, "redacts", json_string(p->redacts));
    if (b->last_id) {
        const char *prev[1] = {b->last_id};
        const json_t *prev_hashes[1] = {json_object_get(b->last_ev, "hashes")};
        json_object_set_new(ev, "prev_events", event_refs_for_version(b->v, prev, prev_hashes, 1));
    } else {
        json_object_set_new(ev, "prev_events", json_array());
    }
    nkeys = auth_events_keys(ev, keys, MAX_AUTH_KEYS);
    for (size_t i = 0; i < nkeys; i++) {
        json_t *entry = json_object_get(json_object_get(b->state, keys[i].type), keys[i].state_key);
        bool dup = false;
        if (!entry)
            continue;
        for (size_t k = 0; k < nauth; k++)
            dup = dup ||
                  strcmp(auth_ids[k], json_string_value(json_object_get(entry, "event_id"))) == 0;
        if (dup)
            continue;
        auth_ids[nauth] = json_string_value(json_object_get(entry, "event_id"));
        auth_hashes[nauth] = json_object_get(json_object_get(entry, "event"), "hashes");
        nauth++;
    }
    json_object_set_new(ev, "auth_events",
                        event_refs_for_version(b->v, auth_ids, auth_hashes, nauth));
    if (b->defer_seal)
        id = event_prepare(ev, b->v, rs->server_name, rs->key, &err, reason, reasonlen, &signing,
                           &signing_len);
    else
        id = event_finish_text(ev, b->v, rs->server_name, rs->key, &err, reason, reasonlen, &text);
    if (!id) {
        if (err == EVENT_TOO_LARGE)
            rc = ROOMS_TOO_LARGE;
        goto out;
    }
    if (!auth_check(b->v, ev, &astate, reason, reasonlen)) {
        rc = ROOMS_FORBIDDEN;
        goto out;
    }
    /* What a client sees in unsigned that is fixed at write time: the state replaced. */
    if (p->state_key) {
        json_t *entry = json_object_get(json_object_get(b->state, p->type), p->state_key);
        if (entry) {
            replaced = json_object_get(entry, "event");
            uns = json_pack("{s:O, s:O, s:O}", "prev_content", json_object_get(replaced, "content"),
                            "replaces_state", json_object_get(entry, "event_id"), "prev_sender",
                            json_object_get(replaced, "sender"));
        }
    }
    b->rows = xrealloc(b->rows, (idx + 1) * sizeof(*b->rows));
    b->ids = xrealloc(b->ids, (idx + 1) * sizeof(*b->ids));
    b->texts = xrealloc(b->texts, (idx + 1) * sizeof(*b->texts));
    b->unsigned_texts = xrealloc(b->unsigned_texts, (idx + 1) * sizeof(*b->unsigned_texts));
    b->notes = xrealloc(b->notes, (idx + 1) * sizeof(*b->notes));
    b->notes[idx] = NULL;
    if (b->defer_seal) {
        b->seal_evs = xrealloc(b->seal_evs, (idx + 1) * sizeof(*b->seal_evs));
        b->signing = xrealloc(b->signing, (idx + 1) * sizeof(*b->signing));
        b->signing_lens = xrealloc(b->signing_lens, (idx + 1) * sizeof(*b->signing_lens));
        /* The copy gets the signature; ev itself is shared with the room's cache. */
        b->seal_evs[idx] = json_copy(ev);
        b->signing[idx] = signing;
        b->signing_lens[idx] = signing_len;
        signing = NULL;
    }
    b->ids[idx] = id;
    b->texts[idx] = text;
    b->unsigned_texts[idx] = uns ? json_dump_compact(uns) : NULL;
    id = NULL;
    text = NULL;
    b->n++;
    b->rows[idx] = (struct store_event_row){
        .event_id = b->ids[idx],
        .type = p->type,
        .state_key = p->state_key,
        .sender = p->sender,
        .membership = strcmp(p->type, "m.room.member") == 0
                          ? json_string_value(json_object_get(p->content, "membership"))
                          : NULL,
        .redacts = p->redacts,
        .json = b->texts[idx],
        .unsigned_json = b->unsigned_texts[idx],
        .depth = b->last_depth + 1,
        .origin_server_ts = now,
    };
    if (p->state_key)
        json_object_set_new(state_own(b, p->type), p->state_key,
                            json_pack("{s:s, s:O}", "event_id", b->ids[idx], "event", ev));
    /* A redacted state event is seen redacted by the auth rules from now on. */
    if (p->redacts)
        redact_in_state(b, p->redacts);
    /* Push (issue 8): who this event notifies, stored with it (with defer_seal: in
     * seal_all, outside the lock; evaluation grows with the room's members). */
    if (rs->push.evaluate && !b->defer_seal) {
        const struct store_push_event *push = NULL;
        b->push = &rs->push;
        b->notes[idx] = rs->push.evaluate(rs->push.arg, room_id, b->ids[idx], ev, b->state, &push);
        b->rows[idx].push = push;
    }
    free(b->last_id);
    b->last_id = xstrdup(b->ids[idx]);
    json_decref(b->last_ev);
    b->last_ev = json_incref(ev);
    b->last_depth++;
    rc = ROOMS_OK;
out:
    json_decref(uns);
    json_decref(ev);
    free(id);
    free(text);
    free(signing);
    return rc;
}

/* Signs the events of a batch built with defer_seal and fills in their stored text. False if
 * one cannot be encoded (allocation failure: the checks were made when they were built). */
static bool
seal_all(struct rooms *rs, const char *room_id, struct batch *b)
{
    bool ok = true;

    for (size_t i = 0; i < b->n; i++) {
        if (rs->push.evaluate) {
            const struct store_push_event *push = NULL;
            b->push = &rs->push;
            b->notes[i] = rs->push.evaluate(rs->push.arg, room_id, b->ids[i], b->seal_evs[i],
                                            b->push_state, &push);
            b->rows[i].push = push;
        }
        size_t len = 0;
        b->texts[i] = event_seal(b->seal_evs[i], b->v, rs->server_name, rs->key, b->signing[i],
                                 b->signing_lens[i], &len);
        b->rows[i].json = b->texts[i];
        ok = ok && b->texts[i] && len <= EVENT_MAX_BYTES;
    }
    return ok;
}

/* Makes the batch the room's cache. Called with the room locked, before the commit: the next
 * event must build on this one at once, so concurrent sends can share a commit. If the commit
 * then fails, the cache is dropped and reloaded from storage. */
static void
apply(struct room *r, struct batch *b)
{
    /* Who the room's events wake changes with its membership only (redaction keeps an
     * m.room.member event's membership, and the create event cannot change). */
    for (size_t i = 0; i < b->n && r->concerned; i++) {
        if (b->rows[i].state_key && strcmp(b->rows[i].type, "m.room.member") == 0) {
            concerned_unref(r->concerned);
            r->concerned = NULL;
        }
    }
    json_decref(r->state);
    r->state = b->state;
    b->state = NULL;
    free(r->last_id);
    r->last_id = b->last_id;
    b->last_id = NULL;
    json_decref(r->last_ev);
    r->last_ev = b->last_ev;
    b->last_ev = NULL;
    r->last_depth = b->last_depth;
}

static enum rooms_rc
build_all(struct rooms *rs, struct room *r, const struct rooms_proto *protos, size_t n,
          bool may_defer, struct batch *b, char *reason, size_t reasonlen)
{
    enum rooms_rc rc = ROOMS_OK;
    int64_t now = util_now_ms();

    b->v = r->v;
    /* Signing is the costliest step of a send. Events that change no state are signed after
     * the room's lock is released (their place in the commit order is already taken), so
     * concurrent sends to one room sign in parallel. A state event stays in the state cache,
     * which other threads read, so it is signed in place under the lock. */
    b->defer_seal = may_defer;
    for (size_t i = 0; i < n; i++)
        if (protos[i].state_key)
            b->defer_seal = false;
    b->state = json_copy(r->state);
    b->base = r->state;
    b->last_id = r->last_id ? xstrdup(r->last_id) : NULL;
    b->last_ev = json_incref(r->last_ev);
    b->last_depth = r->last_depth;
    for (size_t i = 0; i < n && rc == ROOMS_OK; i++)
        rc = build_one(rs, r->room_id, b, &protos[i], now, reason, reasonlen);
    b->base = NULL;
    /* The state stays as it is: later sends copy it before changing it. */
    if (rc == ROOMS_OK && b->defer_seal)
        b->push_state = json_incref(b->state);
    return rc;
}

/* The room's concerned users (built from its state when its membership changed since the
 * last time), a new reference. Called with the room locked. */
static struct concerned *
concerned_get(struct room *r)
{
    struct concerned *c = r->concerned;

    if (!c) {
        json_t *members = json_object_get(r->state, "m.room.member"), *entry;
        const char *user;
        size_t cap = json_object_size(members) + 1;
        const char *room_id = json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(r->state, "m.room.create"), ""),
                            "event"),
            "room_id"));

        c = xcalloc(1, sizeof(*c));
        c->ids = xcalloc(cap, sizeof(*c->ids));
        c->hashes = xcalloc(cap, sizeof(*c->hashes));
        /* Peekers of a world-readable room wait under the room's ID. */
        if (room_id)
            c->ids[c->n++] = xstrdup(room_id);
        json_object_foreach(members, user, entry)
        {
            const char *m = json_string_value(json_object_get(
                json_object_get(json_object_get(entry, "event"), "content"), "membership"));
            if (m && (strcmp(m, "join") == 0 || strcmp(m, "invite") == 0))
                c->ids[c->n++] = xstrdup(user);
        }
        for (size_t i = 0; i < c->n; i++)
            c->hashes[i] = notifier_user_hash(c->ids[i]);
        atomic_init(&c->refs, 1);
        r->concerned = c;
    }
    atomic_fetch_add(&c->refs, 1);
    return c;
}

/* Push (issue 8): hands each event's notifications over once it is stored. */
static void
push_committed(struct batch *b, int64_t first_pos)
{
    for (size_t i = 0; i < b->n; i++) {
        if (b->notes[i])
            b->push->committed(b->push->arg, b->notes[i], first_pos + (int64_t)i);
        b->notes[i] = NULL;
    }
}

/* Wakes the users a batch concerns: the room's joined and invited members after it (c, whose
 * reference this drops) and the targets of its membership events (who may just have left). */
static void
notify(struct rooms *rs, struct concerned *c, const struct rooms_proto *protos, size_t n)
{
    size_t extra = 0, k;
    const char **ids;
    size_t *hashes;

    for (size_t i = 0; i < n; i++)
        extra += protos[i].state_key && strcmp(protos[i].type, "m.room.member") == 0;
    if (!rs->listener || c->n + extra == 0) {
        concerned_unref(c);
        return;
    }
    if (!extra) {
        rs->listener(rs->listener_arg, (const char *const *)c->ids, c->hashes, c->n);
        concerned_unref(c);
        return;
    }
    ids = xcalloc(c->n + extra, sizeof(*ids));
    hashes = xcalloc(c->n + extra, sizeof(*hashes));
    memcpy(ids, c->ids, c->n * sizeof(*ids));
    memcpy(hashes, c->hashes, c->n * sizeof(*hashes));
    k = c->n;
    for (size_t i = 0; i < n; i++) {
        if (protos[i].state_key && strcmp(protos[i].type, "m.room.member") == 0) {
            ids[k] = protos[i].state_key;
            hashes[k++] = notifier_user_hash(protos[i].state_key);
        }
    }
    rs->listener(rs->listener_arg, ids, hashes, k);
    free(ids);
    free(hashes);
    concerned_unref(c);
}

static void
note_position(struct rooms *rs, const char *room_id, int64_t pos)
{
    struct room *r = room_acquire(rs, room_id);
    if (!r)
        return;
    if (pos > r->last_pos)
        r->last_pos = pos;
    room_release(rs, r);
}

int64_t
rooms_last_pos(struct rooms *rs, const char *room_id)
{
    struct room *r = room_acquire(rs, room_id);
    int64_t pos;
    if (!r)
        return 0;
    pos = r->last_pos;
    room_release(rs, r);
    return pos;
}

/* After a send's commit has ended (stored: committed, first_pos its first position): the
 * room's position, push and the notifier, or the failure; the event IDs go to the caller. */
static enum rooms_rc
send_ended(struct rooms *rs, const char *room_id, struct batch *b, struct concerned *users,
           const struct rooms_proto *protos, size_t n, bool stored, int64_t first_pos,
           char ***event_ids, char *reason, size_t reasonlen)
{
    if (!stored) {
        snprintf(reason, reasonlen, "storage failed");
        rooms_forget_cache(rs, room_id);
        concerned_unref(users);
        batch_clear(b);
        return ROOMS_ERR;
    }
    note_position(rs, room_id, first_pos + (int64_t)n - 1);
    push_committed(b, first_pos);
    notify(rs, users, protos, n);
    if (event_ids) {
        *event_ids = b->ids;
        b->ids = NULL;
    }
    batch_clear(b);
    return ROOMS_OK;
}

enum rooms_rc
rooms_send(struct rooms *rs, const char *room_id, const struct rooms_proto *protos, size_t n,
           const struct store_txn_ref *txn, char ***event_ids, char *reason, size_t reasonlen)
{
    enum store_rc why;
    struct room *r = room_acquire_why(rs, room_id, &why);
    struct store_pending *pending = NULL;
    struct batch b = {0};
    enum rooms_rc rc;
    struct concerned *users = NULL;
    int64_t first_pos = 0;
    bool stored;

    if (event_ids)
        *event_ids = NULL;
    if (!r && why == STORE_ERR) {
        snprintf(reason, reasonlen, "storage failed");
        return ROOMS_ERR;
    }
    if (!r) {
        snprintf(reason, reasonlen, "Unknown room");
        return ROOMS_UNKNOWN_ROOM;
    }
    rc = build_all(rs, r, protos, n, true, &b, reason, reasonlen);
    if (rc == ROOMS_OK) {
        apply(r, &b);
        users = concerned_get(r);
        /* Submitted under the room lock, so the store keeps this room's events in order. */
        pending = b.defer_seal ? store_events_submit_held(rs->st, room_id, b.rows, b.n, txn)
                               : store_events_submit(rs->st, room_id, NULL, b.rows, b.n, txn);
    }
    room_release(rs, r);
    if (rc != ROOMS_OK) {
        batch_clear(&b);
        return rc;
    }
    if (b.defer_seal)
        store_pending_release(rs->st, pending, seal_all(rs, room_id, &b));
    stored = store_pending_wait(rs->st, pending, &first_pos) == STORE_OK;
    return send_ended(rs, room_id, &b, users, protos, n, stored, first_pos, event_ids, reason,
                      reasonlen);
}

/* An event being sent whose caller does not wait in its thread for the commit (rooms.h). */
struct rooms_sending {
    struct rooms *rs;
    char *room_id;
    struct rooms_proto proto;
    struct batch b;
    struct store_pending *pending;
    struct concerned *users;
};

static void
sending_free(struct rooms_sending *s)
{
    free(s->room_id);
    free(s);
}

enum rooms_rc
rooms_send_start(struct rooms *rs, const char *room_id, const struct rooms_proto *proto,
                 const struct store_txn_ref *txn, void (*suspend)(void *), void (*done)(void *),
                 void *arg, struct rooms_sending **out, char *reason, size_t reasonlen)
{
    enum store_rc why;
    struct room *r;
    struct rooms_sending *s;
    enum rooms_rc rc;

    *out = NULL;
    r = room_acquire_why(rs, room_id, &why);
    if (!r && why == STORE_ERR) {
        snprintf(reason, reasonlen, "storage failed");
        return ROOMS_ERR;
    }
    if (!r) {
        snprintf(reason, reasonlen, "Unknown room");
        return ROOMS_UNKNOWN_ROOM;
    }
    s = xcalloc(1, sizeof(*s));
    s->rs = rs;
    s->room_id = xstrdup(room_id);
    s->proto = *proto;
    rc = build_all(rs, r, &s->proto, 1, true, &s->b, reason, reasonlen);
    if (rc == ROOMS_OK) {
        apply(r, &s->b);
        s->users = concerned_get(r);
        /* Under the room lock, as in rooms_send. A message is held until it is signed
         * (defer_seal); a state event was signed under the lock and may be written at once. */
        s->pending = s->b.defer_seal
                         ? store_events_submit_held(rs->st, room_id, s->b.rows, s->b.n, txn)
                         : store_events_submit(rs->st, room_id, NULL, s->b.rows, s->b.n, txn);
    }
    room_release(rs, r);
    if (rc != ROOMS_OK) {
        batch_clear(&s->b);
        sending_free(s);
        return rc;
    }
    *out = s;
    if (store_pending_release_async(rs->st, s->pending,
                                    s->b.defer_seal ? seal_all(rs, room_id, &s->b) : true, suspend,
                                    done, arg))
        return ROOMS_DONE_NOW; /* committed (or failed) in this thread */
    return ROOMS_OK;
}

enum rooms_rc
rooms_send_finish(struct rooms_sending *s, char ***event_ids, char *reason, size_t reasonlen)
{
    int64_t first_pos = 0;
    bool stored = store_pending_finish(s->rs->st, s->pending, &first_pos) == STORE_OK;
    enum rooms_rc rc = send_ended(s->rs, s->room_id, &s->b, s->users, &s->proto, 1, stored,
                                  first_pos, event_ids, reason, reasonlen);
    sending_free(s);
    return rc;
}

enum rooms_rc
rooms_create(struct rooms *rs, const char *room_id, const struct room_version *v,
             const struct rooms_proto *protos, size_t n, char ***event_ids, char *reason,
             size_t reasonlen)
{
    struct room *r = xcalloc(1, sizeof(*r));
    struct batch b = {0};
    enum rooms_rc rc;

    if (event_ids)
        *event_ids = NULL;
    r->room_id = xstrdup(room_id);
    r->v = v;
    r->state = json_object();
    pthread_mutex_init(&r->lock, NULL);
    int64_t first_pos = 0;
    struct concerned *users = NULL;

    rc = build_all(rs, r, protos, n, false, &b, reason, reasonlen);
    if (rc == ROOMS_OK &&
        store_pending_wait(rs->st, store_events_submit(rs->st, room_id, v->id, b.rows, b.n, NULL),
                           &first_pos) != STORE_OK)
        rc = ROOMS_ERR;
    if (rc != ROOMS_OK) {
        batch_clear(&b);
        room_free(r);
        return rc;
    }
    apply(r, &b);
    r->last_pos = first_pos + (int64_t)n - 1;
    push_committed(&b, first_pos);
    users = concerned_get(r);
    if (event_ids) {
        *event_ids = b.ids;
        b.ids = NULL;
    }
    batch_clear(&b);
    /* The room is new, so nobody else can have cached it. */
    pthread_mutex_lock(&rs->lock);
    r->next = rs->buckets[hash(room_id)];
    rs->buckets[hash(room_id)] = r;
    pthread_mutex_unlock(&rs->lock);
    notify(rs, users, protos, n);
    return ROOMS_OK;
}

const struct room_version *
rooms_version(struct rooms *rs, const char *room_id)
{
    const struct room_version *v = NULL;
    rooms_lookup(rs, room_id, &v);
    return v;
}

enum rooms_rc
rooms_lookup(struct rooms *rs, const char *room_id, const struct room_version **v)
{
    enum store_rc why;
    struct room *r = room_acquire_why(rs, room_id, &why);

    *v = NULL;
    if (!r)
        return why == STORE_ERR ? ROOMS_ERR : ROOMS_UNKNOWN_ROOM;
    *v = r->v;
    room_release(rs, r);
    return ROOMS_OK;
}

json_t *
rooms_state_get(struct rooms *rs, const char *room_id, const char *type, const char *state_key)
{
    struct room *r = room_acquire(rs, room_id);
    json_t *ev;

    if (!r)
        return NULL;
    ev = json_incref((json_t *)state_lookup(r->state, type, state_key));
    room_release(rs, r);
    return ev;
}

json_t *
rooms_state_content(struct rooms *rs, const char *room_id, const char *type, const char *state_key)
{
    json_t *ev = rooms_state_get(rs, room_id, type, state_key);
    json_t *content = json_incref(json_object_get(ev, "content"));
    json_decref(ev);
    return content;
}

char *
rooms_membership(struct rooms *rs, const char *room_id, const char *user_id)
{
    json_t *content = rooms_state_content(rs, room_id, "m.room.member", user_id);
    const char *m = json_string_value(json_object_get(content, "membership"));
    char *out = m ? xstrdup(m) : NULL;
    json_decref(content);
    return out;
}

json_t *
rooms_current_state(struct rooms *rs, const char *room_id)
{
    struct room *r = room_acquire(rs, room_id);
    json_t *copy;

    if (!r)
        return NULL;
    /* Entries are never modified in place (a new entry replaces an old one), so a two-level
     * copy is a stable snapshot. */
    copy = state_copy(r->state);
    room_release(rs, r);
    return copy;
}

struct member_row {
    const char *user;
    const char *membership;
    json_int_t depth;
};

static int
by_depth(const void *a, const void *b)
{
    const struct member_row *x = a, *y = b;
    return x->depth < y->depth ? -1 : x->depth > y->depth;
}

json_t *
rooms_member_summary(struct rooms *rs, const char *room_id, const char *user_id, size_t max_heroes)
{
    struct room *r = room_acquire(rs, room_id);
    json_t *members, *entry, *heroes, *gone, *out;
    struct member_row *rows;
    const char *user;
    json_int_t joined = 0, invited = 0;
    size_t n = 0;

    if (!r)
        return NULL;
    members = json_object_get(r->state, "m.room.member");
    rows = xcalloc(json_object_size(members) + 1, sizeof(*rows));
    heroes = json_array();
    gone = json_array();
    json_object_foreach(members, user, entry)
    {
        json_t *ev = json_object_get(entry, "event");
        const char *m =
            json_string_value(json_object_get(json_object_get(ev, "content"), "membership"));
        if (m)
            rows[n++] =
                (struct member_row){user, m, json_integer_value(json_object_get(ev, "depth"))};
    }
    /* Heroes in the order members arrived (the depth of their membership events), so the list
     * is stable from one sync to the next. */
    qsort(rows, n, sizeof(*rows), by_depth);
    for (size_t i = 0; i < n; i++) {
        bool other = strcmp(rows[i].user, user_id) != 0;
        json_t *list;
        if (strcmp(rows[i].membership, "join") == 0) {
            joined++;
            list = heroes;
        } else if (strcmp(rows[i].membership, "invite") == 0) {
            invited++;
            list = heroes;
        } else {
            list = gone;
        }
        if (other && json_array_size(list) < max_heroes)
            json_array_append_new(list, json_string(rows[i].user));
    }
    room_release(rs, r);
    free(rows);
    /* SPEC: "When no joined or invited members are available, this should consist of the
     * banned and left users." */
    out = json_pack("{s:O, s:I, s:I}", "m.heroes", json_array_size(heroes) ? heroes : gone,
                    "m.joined_member_count", joined, "m.invited_member_count", invited);
    json_decref(heroes);
    json_decref(gone);
    return out;
}
