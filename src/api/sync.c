/* sync.yaml: GET /sync. The room stream is read from storage per request; typing and
 * presence from memory (src/sync), receipts and account data from storage, each behind its own
 * position in the token; to-device, device lists and key counts come from sync_e2e.c. A
 * request with nothing new is suspended and registered with the notifier; a write concerning
 * the user resumes it. Users in m.ignored_user_list are left out of timelines, invites,
 * ephemeral events and presence (modules/ignore_users.rst). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/longpoll.h"
#include "api/rooms_common.h"
#include "api/sync_e2e.h"
#include "api/visibility.h"
#include "core/config.h"
#include "core/util.h"
#include "json/json.h"
#include "room/redact.h"
#include "rooms/rooms.h"
#include "store/store.h"
#include "sync/evcache.h"
#include "sync/filter.h"
#include "sync/notifier.h"
#include "sync/presence.h"
#include "sync/token.h"
#include "sync/typing.h"

#define DEFAULT_TIMELINE_LIMIT 10
#define MAX_TIMEOUT_MS (5 * 60 * 1000)
#define MAX_HEROES 5

/* ---- lazy-loading memory: which member events each device already has ---- */

/* One (user, device, room): the members whose events that device has. Keyed per room so
 * an initial sync forgets a room in one step (it used to scan every entry of the server). */
struct lazy_entry {
    struct lazy_entry *next;
    char *key; /* user \x1f device \x1f room */
    /* Memory (issue 12, soak): a sorted set of 64-bit hashes of the member IDs, 8 bytes a
     * member where a JSON object took about 100. Two members of one room sharing a hash
     * (odds about n²/2⁶⁵) would cost the second one's event being left out of lazy loading. */
    uint64_t *members;
    size_t n, cap;
};

#define LAZY_BUCKETS 4096
#define LAZY_MAX 200000 /* members remembered in all, before starting afresh */

struct lazy_cache {
    pthread_mutex_t lock;
    size_t count;
    struct lazy_entry *buckets[LAZY_BUCKETS];
};

struct lazy_cache *
lazy_cache_new(void)
{
    struct lazy_cache *c = xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void
lazy_entry_free(struct lazy_entry *e)
{
    free(e->key);
    free(e->members);
    free(e);
}

static void
lazy_clear_locked(struct lazy_cache *c)
{
    for (size_t i = 0; i < LAZY_BUCKETS; i++) {
        struct lazy_entry *e = c->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            lazy_entry_free(e);
        }
        c->buckets[i] = NULL;
    }
    c->count = 0;
}

void
lazy_cache_free(struct lazy_cache *c)
{
    if (!c)
        return;
    lazy_clear_locked(c);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static size_t
lazy_hash(const char *s)
{
    size_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h % LAZY_BUCKETS;
}

/* "user \x1f device \x1f room", without printf (sync speed, issue 4: this runs for every
 * lazily loaded member). Caller frees. */
static char *
lazy_key(const char *user, const char *device, const char *room)
{
    size_t nu = strlen(user), nd = device ? strlen(device) : 0, nr = strlen(room);
    char *key = xmalloc(nu + nd + nr + 3);

    memcpy(key, user, nu);
    key[nu] = '\x1f';
    if (nd)
        memcpy(key + nu + 1, device, nd);
    key[nu + 1 + nd] = '\x1f';
    memcpy(key + nu + nd + 2, room, nr + 1);
    return key;
}

/* The link that points at the room's entry (or at the NULL ending its bucket). Locked. */
static struct lazy_entry **
lazy_find_locked(struct lazy_cache *c, const char *key)
{
    struct lazy_entry **pp = &c->buckets[lazy_hash(key)];
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* FNV-1a, 64 bits. */
static uint64_t
lazy_member_hash(const char *member)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *member; member++)
        h = (h ^ (unsigned char)*member) * 1099511628211ULL;
    return h;
}

/* Marks the member as sent; returns true if it had been sent before. Forgetting everything
 * when full only costs some redundant member events. */
static bool
lazy_seen(struct lazy_cache *c, const char *user, const char *device, const char *room,
          const char *member)
{
    char *key = lazy_key(user, device, room);
    uint64_t h = lazy_member_hash(member);
    struct lazy_entry **pp, *e;
    size_t lo = 0, hi;
    bool seen;

    pthread_mutex_lock(&c->lock);
    if (c->count >= LAZY_MAX)
        lazy_clear_locked(c);
    pp = lazy_find_locked(c, key);
    if (!*pp) {
        *pp = xcalloc(1, sizeof(**pp));
        (*pp)->key = key;
        key = NULL;
    }
    e = *pp;
    /* binary search for the first hash not below h */
    hi = e->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->members[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    seen = lo < e->n && e->members[lo] == h;
    if (!seen) {
        if (e->n == e->cap) {
            e->cap = e->cap ? e->cap * 2 : 8;
            e->members = xrealloc(e->members, e->cap * sizeof(*e->members));
        }
        memmove(&e->members[lo + 1], &e->members[lo], (e->n - lo) * sizeof(*e->members));
        e->members[lo] = h;
        e->n++;
        c->count++;
    }
    pthread_mutex_unlock(&c->lock);
    free(key);
    return seen;
}

/* An initial sync starts the device's memory afresh for the room. */
static void
lazy_forget_room(struct lazy_cache *c, const char *user, const char *device, const char *room)
{
    char *key = lazy_key(user, device, room);
    struct lazy_entry **pp, *dead;

    pthread_mutex_lock(&c->lock);
    pp = lazy_find_locked(c, key);
    if ((dead = *pp)) {
        *pp = dead->next;
        c->count -= dead->n;
        lazy_entry_free(dead);
    }
    pthread_mutex_unlock(&c->lock);
    free(key);
}

/* ---- one sync computation ---- */

struct sync_req {
    struct req *r;
    struct sync_filter filter;
    struct sync_token since;
    bool has_since;
    bool full_state;
    int64_t now; /* the events position this answer is consistent with */
    int64_t account_data_now;
    int64_t typing_now, receipts_now, presence_now;
    json_t *join, *invite, *leave;
    json_t *knock;        /* Matrix v1.1: rooms.knock (issue 15) */
    json_t *ignored;      /* {user_id: {}} from m.ignored_user_list */
    json_t *fresh;        /* {room_id: true}: joined rooms sent in full (initial or joined since) */
    json_t *ephemeral;    /* {room_id: [events]} */
    json_t *presence;     /* presence events */
    json_t *account_data; /* global account data events */
    json_t *room_account_data; /* {room_id: [events]} */
    struct sync_e2e e2e;       /* to-device, device lists, one-time key counts (sync_e2e.c) */
};

/* A stored event in the format the filter asks for, cut to its event_fields. */
static json_t *
format_event(struct sync_req *s, const struct store_event *e, const struct room_version *v)
{
    json_t *ev, *out;

    if (s->filter.federation_format) {
        ev = json_loads(e->json, 0, NULL);
        /* A redacted event is redacted in every format. */
        if (ev && e->redacted_by) {
            json_t *red = redact_event(ev, v);
            json_decref(ev);
            ev = red;
        }
        if (ev && !json_object_get(ev, "event_id"))
            json_object_set_new(ev, "event_id", json_string(e->event_id));
    } else {
        ev = api_event_for_client(s->r, e, v);
    }
    if (!ev)
        return NULL;
    out = sync_filter_apply_fields(&s->filter, ev);
    json_decref(ev);
    return out;
}

static const char *
member_of(const struct store_event *e)
{
    return strcmp(e->type, "m.room.member") == 0 ? e->state_key : NULL;
}

/* Appends the member events (state at `at`) of the users in `who` that this device has not
 * been sent yet, or all of them with `all`. In `who`'s order, fetched together (sync speed,
 * issue 4: a query per member was a sixth of an initial sync). */
static void
lazy_members(struct sync_req *s, const char *room_id, const struct room_version *v, int64_t at,
             const json_t *who, bool all, json_t *events)
{
    const char *user, **want = xcalloc(json_object_size(who) + 1, sizeof(*want));
    struct store_event *list = NULL;
    size_t nwant = 0, n = 0;
    json_t *value;

    json_object_foreach((json_t *)who, user, value)
    {
        bool seen = lazy_seen(s->r->hs->lazy, s->r->user_id, s->r->device_id, room_id, user);
        if (!seen || all)
            want[nwant++] = user;
    }
    if (nwant == 0 ||
        store_state_members_at(s->r->hs->store, room_id, want, nwant, at, &list, &n) != STORE_OK)
        goto out;
    for (size_t i = 0; i < nwant; i++) {
        for (size_t k = 0; k < n; k++) {
            json_t *cev;
            if (!list[k].state_key || strcmp(list[k].state_key, want[i]) != 0)
                continue;
            if ((cev = format_event(s, &list[k], v))) {
                if (filter_event_matches(&s->filter.state, room_id, cev))
                    json_array_append_new(events, cev);
                else
                    json_decref(cev);
            }
            break;
        }
    }
out:
    store_event_list_free(list, n);
    free(want);
}

/* Builds "state": the state at position `at` (only events after `after` when > 0), through
 * the state filter and lazy loading. */
static json_t *
state_section(struct sync_req *s, const char *room_id, const struct room_version *v, int64_t at,
              int64_t after, const json_t *timeline, const json_t *heroes, bool fresh)
{
    struct store_event *list = NULL;
    size_t n = 0, i;
    json_t *events = json_array(), *senders = json_object(), *ev;
    bool lazy = s->filter.state.lazy_load_members;
    bool redundant = s->filter.state.include_redundant_members;

    if (lazy) {
        json_array_foreach(timeline, i, ev)
        {
            const char *sender = json_string_value(json_object_get(ev, "sender"));
            if (sender)
                json_object_set_new(senders, sender, json_true());
        }
        json_object_set_new(senders, s->r->user_id, json_true());
        /* SPEC: "the membership events for the heroes MUST be included in the state". */
        json_array_foreach(heroes, i, ev)
        {
            if (json_is_string(ev))
                json_object_set_new(senders, json_string_value(ev), json_true());
        }
        if (fresh)
            lazy_forget_room(s->r->hs->lazy, s->r->user_id, s->r->device_id, room_id);
    }
    if (after >= at && !fresh) {
        /* Not limited: every state change is in the timeline; only members the device has
         * not seen yet (lazy loading) remain, fetched one by one instead of the whole state. */
        if (lazy)
            lazy_members(s, room_id, v, at, senders, redundant, events);
        goto out;
    }
    if (lazy && fresh) {
        /* The room's state without its members, then just the members needed. */
        if (store_room_state_at_nonmembers(s->r->hs->store, room_id, at, &list, &n) != STORE_OK)
            goto out;
        lazy_members(s, room_id, v, at, senders, true, events);
    } else if (store_room_state_at(s->r->hs->store, room_id, at, &list, &n) != STORE_OK) {
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        const char *member = member_of(&list[k]);
        bool needed = false;
        json_t *cev;
        if (member && lazy) {
            /* SPEC: a limited sync carries the membership changes in the gap, redundant or
             * not. */
            bool in_gap = after > 0 && list[k].pos > after;
            bool seen;
            if (!json_object_get(senders, member) && !in_gap)
                continue;
            /* Members already sent to this device are left out unless asked for; one it
             * has not seen is sent whatever the position. */
            seen = lazy_seen(s->r->hs->lazy, s->r->user_id, s->r->device_id, room_id, member);
            if (!in_gap && seen && !redundant && !fresh && list[k].pos <= after)
                continue;
            needed = in_gap || !seen || redundant;
        }
        if (after > 0 && list[k].pos <= after && !needed)
            continue;
        cev = format_event(s, &list[k], v);
        if (!cev)
            continue;
        if (!filter_event_matches(&s->filter.state, room_id, cev)) {
            json_decref(cev);
            continue;
        }
        json_array_append_new(events, cev);
    }
out:
    store_event_list_free(list, n);
    json_decref(senders);
    return events;
}

/* SPEC: sync.yaml "summary"; computed on the room's cache, without copying its state. */
static json_t *
summary(struct sync_req *s, const char *room_id)
{
    return rooms_member_summary(s->r->hs->rooms, room_id, s->r->user_id, MAX_HEROES);
}

/* The timeline of a room between `since` (exclusive) and `upto` (inclusive), newest `limit`
 * events, oldest first. *prev is the token before the first one; *limited if more events were
 * left out between since and it. */
static json_t *
timeline(struct sync_req *s, const char *room_id, const struct room_version *v,
         const struct visibility *vis, int64_t since, int64_t upto, bool *limited, int64_t *prev)
{
    long limit = s->filter.timeline.limit >= 0 ? s->filter.timeline.limit : DEFAULT_TIMELINE_LIMIT;
    json_t *page = json_array(), *out = json_array(), *more = json_array();
    int64_t last = upto, ignored;

    *limited = false;
    *prev = upto;
    /* sync speed (issue 4): one event more than the limit says whether the timeline is
     * limited without a second query; the token is then just before the oldest one kept. */
    if (limit > 0 && api_room_events_page(s->r, room_id, v, vis, &s->filter.timeline, upto, since,
                                          true, (size_t)limit + 1, page, &last) != 0)
        goto out;
    if (limit > 0 && json_array_size(page) > (size_t)limit) {
        struct store_event e = {0};
        const char *id =
            json_string_value(json_object_get(json_array_get(page, (size_t)limit - 1), "event_id"));
        json_array_remove(page, (size_t)limit);
        *limited = true;
        /* the oldest kept event's position, from the page (not stored in client format) */
        last = -1;
        if (id && store_event_get(s->r->hs->store, id, &e) == STORE_OK)
            last = e.pos - 1;
        store_event_clear(&e);
        if (last < 0)
            goto out;
        *prev = last;
    } else {
        *prev = last;
        /* The page stopped short of the limit: at `since`, or after scanning its most. */
        if (last > since && api_room_events_page(s->r, room_id, v, vis, &s->filter.timeline, last,
                                                 since, true, 1, more, &ignored) == 0)
            *limited = json_array_size(more) > 0;
    }
    for (size_t i = json_array_size(page); i-- > 0;) {
        json_t *ev = json_array_get(page, i);
        json_t *cut = sync_filter_apply_fields(&s->filter, ev);
        json_array_append_new(out, cut);
    }
    /* The page came in client format; federation format rereads the stored events. */
    if (s->filter.federation_format) {
        json_t *fed = json_array(), *ev;
        size_t i;
        json_array_foreach(out, i, ev)
        {
            struct store_event e = {0};
            const char *id = json_string_value(json_object_get(ev, "event_id"));
            if (id && store_event_get(s->r->hs->store, id, &e) == STORE_OK) {
                json_t *f = format_event(s, &e, v);
                if (f)
                    json_array_append_new(fed, f);
            }
            store_event_clear(&e);
        }
        json_decref(out);
        out = fed;
    }
out:
    json_decref(page);
    json_decref(more);
    return out;
}

/* A room the user left shows their leaving even where history visibility would hide it (a
 * rejected or withdrawn invite), so the client knows why the room went away. */
static void
ensure_own_membership(struct sync_req *s, const char *room_id, const struct room_version *v,
                      int64_t pos, json_t *tl)
{
    struct store_state_interval *hist = NULL;
    struct store_event e = {0};
    size_t nh = 0, i;
    json_t *ev;

    if (store_state_history(s->r->hs->store, room_id, "m.room.member", s->r->user_id, &hist, &nh) !=
        STORE_OK)
        return;
    for (i = nh; i-- > 0;)
        if (hist[i].from_pos == pos)
            break;
    if (i < nh && store_event_get(s->r->hs->store, hist[i].event_id, &e) == STORE_OK) {
        bool present = false;
        json_array_foreach(tl, i, ev)
        {
            const char *id = json_string_value(json_object_get(ev, "event_id"));
            present = present || (id && strcmp(id, e.event_id) == 0);
        }
        if (!present && (ev = format_event(s, &e, v)))
            json_array_append_new(tl, ev);
    }
    store_event_clear(&e);
    store_state_intervals_free(hist, nh);
}

static void
token_str(int64_t pos, char buf[32])
{
    snprintf(buf, 32, "s%lld", (long long)pos);
}

/* A joined or left room's entry, or NULL if it has nothing to say. `upto` is the last
 * position the user may see (their leaving, for left rooms); `fresh` sends full state. */
static json_t *
room_entry(struct sync_req *s, const char *room_id, int64_t since, int64_t upto, bool fresh,
           bool joined, bool always)
{
    const struct room_version *v = rooms_version(s->r->hs->rooms, room_id);
    struct visibility vis = {0};
    json_t *tl = NULL, *st = NULL, *entry = NULL, *sum = NULL;
    bool limited = false;
    int64_t prev = upto;
    char tok[32];

    if (!v || visibility_load(s->r, room_id, s->r->user_id, &vis) != 0)
        goto out;
    sum = joined ? summary(s, room_id) : json_object();
    tl = timeline(s, room_id, v, &vis, since, upto, &limited, &prev);
    if (!joined)
        ensure_own_membership(s, room_id, v, upto, tl);
    if (!fresh && !always && !limited && json_array_size(tl) == 0)
        goto out;
    if (fresh || limited)
        st = state_section(s, room_id, v, prev, fresh ? 0 : since, tl,
                           json_object_get(sum, "m.heroes"), fresh);
    else
        st = state_section(s, room_id, v, prev, prev, tl, json_object_get(sum, "m.heroes"), false);
    token_str(prev, tok);
    entry =
        json_pack("{s:{s:o}, s:{s:o, s:b, s:s}, s:{s:[]}}", "state", "events", st, "timeline",
                  "events", tl, "limited", limited, "prev_batch", tok, "account_data", "events");
    st = tl = NULL;
    if (joined) {
        json_object_set_new(entry, "ephemeral", json_pack("{s:[]}", "events"));
        json_object_set_new(entry, "summary", json_incref(sum));
        json_object_set_new(entry, "unread_notifications",
                            json_pack("{s:i, s:i}", "highlight_count", 0, "notification_count", 0));
    }
out:
    json_decref(tl);
    json_decref(sum);
    json_decref(st);
    visibility_clear(&vis);
    return entry;
}

/* SPEC: "stripped state": the invite event and the room's create, join rules, name, avatar,
 * canonical alias and encryption events, as {type, state_key, content, sender}. */
static json_t *
invite_entry(struct sync_req *s, const char *room_id, const char *key_name)
{
    static const char *const types[] = {
        "m.room.create", "m.room.join_rules",      "m.room.name",
        "m.room.avatar", "m.room.canonical_alias", "m.room.encryption"};
    json_t *events = json_array();

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]) + 1; i++) {
        const char *type = i < sizeof(types) / sizeof(types[0]) ? types[i] : "m.room.member";
        const char *key = i < sizeof(types) / sizeof(types[0]) ? "" : s->r->user_id;
        json_t *ev = rooms_state_get(s->r->hs->rooms, room_id, type, key);
        if (!ev)
            continue;
        json_array_append_new(events,
                              json_pack("{s:O, s:O, s:O, s:O}", "type", json_object_get(ev, "type"),
                                        "state_key", json_object_get(ev, "state_key"), "content",
                                        json_object_get(ev, "content"), "sender",
                                        json_object_get(ev, "sender")));
        json_decref(ev);
    }
    return json_pack("{s:{s:o}}", key_name, "events", events);
}

static bool
invited_by_ignored(struct sync_req *s, const char *room_id)
{
    json_t *ev = rooms_state_get(s->r->hs->rooms, room_id, "m.room.member", s->r->user_id);
    const char *sender = json_string_value(json_object_get(ev, "sender"));
    bool ignored = sender && json_object_get(s->ignored, sender);
    json_decref(ev);
    return ignored;
}

static int
build(struct sync_req *s)
{
    struct req *r = s->r;
    struct store_membership *changes = NULL;
    size_t nchanges = 0;
    char **joined = NULL;
    size_t njoined = 0;
    int64_t since = s->has_since ? s->since.pos[STREAM_EVENTS] : 0;
    bool initial = !s->has_since || s->full_state;
    int rc = -1;

    s->join = json_object();
    s->invite = json_object();
    s->leave = json_object();
    s->knock = json_object();
    s->fresh = json_object();
    if (store_user_membership_changes(r->hs->store, r->user_id, !s->has_since ? -1 : since,
                                      &changes, &nchanges) != STORE_OK)
        goto out;
    /* Joined rooms: those joined before `since` send what is new; those joined after send
     * everything (the membership changes below). */
    if (store_user_rooms(r->hs->store, r->user_id, "join", &joined, &njoined) != STORE_OK)
        goto out;
    for (size_t i = 0; i < njoined; i++) {
        bool fresh = initial, joined_since = false;
        json_t *entry;
        if (!sync_filter_room_included(&s->filter, joined[i]))
            continue;
        for (size_t k = 0; k < nchanges; k++)
            if (strcmp(changes[k].room_id, joined[i]) == 0)
                joined_since = fresh = true;
        if (fresh)
            json_object_set_new(s->fresh, joined[i], json_true());
        if (!fresh && rooms_last_pos(r->hs->rooms, joined[i]) <= since)
            continue;
        /* The timeline starts at `since` unless this is the first sync or the user joined
         * meanwhile; full_state only sends all the state. */
        entry = room_entry(s, joined[i], !s->has_since || joined_since ? 0 : since, s->now, fresh,
                           true, fresh);
        if (entry)
            json_object_set_new(s->join, joined[i], entry);
    }
    for (size_t k = 0; k < nchanges; k++) {
        const char *room = changes[k].room_id, *m = changes[k].membership;
        if (!m || !sync_filter_room_included(&s->filter, room))
            continue;
        if (strcmp(m, "invite") == 0) {
            /* SPEC: ignore_users: "Servers must not send room invites from ignored users". */
            if (!invited_by_ignored(s, room))
                json_object_set_new(s->invite, room, invite_entry(s, room, "invite_state"));
        } else if (strcmp(m, "knock") == 0) {
            /* SPEC: v1.1 sync.yaml rooms.knock: "The stripped state of a room that the user
             * has knocked upon", as knock_state. */
            json_object_set_new(s->knock, room, invite_entry(s, room, "knock_state"));
        } else if ((strcmp(m, "leave") == 0 || strcmp(m, "ban") == 0) &&
                   (!initial || s->filter.include_leave)) {
            bool forgotten = false;
            /* A forgotten room is gone from the user's history. */
            if (store_room_is_forgotten(r->hs->store, r->user_id, room, &forgotten) != STORE_OK ||
                forgotten)
                continue;
            /* Left since `since` (or any time, for include_leave): up to the leaving. */
            json_t *entry = room_entry(s, room, !s->has_since ? 0 : since, changes[k].pos, initial,
                                       false, true);
            if (entry)
                json_object_set_new(s->leave, room, entry);
        }
    }
    rc = 0;
out:
    store_strings_free(joined, njoined);
    store_memberships_free(changes, nchanges);
    return rc;
}

/* The account data stream: global events, and per-room ones kept for the room entries. */
static int
account_data(struct sync_req *s)
{
    struct store_account_data *list = NULL;
    size_t n = 0;
    int64_t since = s->has_since && !s->full_state ? s->since.pos[STREAM_ACCOUNT_DATA] : -1;

    s->account_data = json_array();
    s->room_account_data = json_object();
    if (store_counter(s->r->hs->store, "account_data", &s->account_data_now) != STORE_OK ||
        store_account_data_since(s->r->hs->store, s->r->user_id, since, &list, &n) != STORE_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *content = json_loads(list[i].content, 0, NULL);
        json_t *ev;
        if (!content)
            continue;
        ev = json_pack("{s:s, s:o}", "type", list[i].type, "content", content);
        if (!*list[i].room_id) {
            if (filter_event_matches(&s->filter.account_data, NULL, ev))
                json_array_append_new(s->account_data, ev);
            else
                json_decref(ev);
            continue;
        }
        if (!sync_filter_room_included(&s->filter, list[i].room_id) ||
            !filter_event_matches(&s->filter.room_account_data, list[i].room_id, ev)) {
            json_decref(ev);
            continue;
        }
        json_t *arr = json_object_get(s->room_account_data, list[i].room_id);
        if (!arr) {
            arr = json_array();
            json_object_set_new(s->room_account_data, list[i].room_id, arr);
        }
        json_array_append_new(arr, ev);
    }
    store_account_data_free(list, n);
    if (since < 0) /* push (issue 8) */
        api_push_rules_initial_sync(s->r->user_id, &s->filter.account_data, s->account_data);
    return 0;
}

/* ---- ephemeral events: typing and receipts ---- */

/* May this user's part of an ephemeral event reach the syncing user: not ignored, and
 * passing the ephemeral filter's senders as if they had sent it? */
static bool
ephemeral_user_ok(struct sync_req *s, const char *room_id, const char *type, const char *user)
{
    json_t *probe;
    bool ok;

    if (json_object_get(s->ignored, user))
        return false;
    probe = json_pack("{s:s, s:s}", "type", type, "sender", user);
    ok = filter_event_matches(&s->filter.ephemeral, room_id, probe);
    json_decref(probe);
    return ok;
}

/* Takes ev. The filter's senders were applied per user; the event is matched as if sent by
 * one of those that passed (`user`, NULL if none). */
static void
add_ephemeral(struct sync_req *s, const char *room_id, json_t *ev, const char *user)
{
    json_t *arr = json_object_get(s->ephemeral, room_id);
    json_t *probe = json_pack("{s:O}", "type", json_object_get(ev, "type"));
    long limit = s->filter.ephemeral.limit;
    bool ok;

    if (user)
        json_object_set_new(probe, "sender", json_string(user));
    ok = filter_event_matches(&s->filter.ephemeral, room_id, probe);
    json_decref(probe);
    if (!ok || (limit >= 0 && (long)json_array_size(arr) >= limit)) {
        json_decref(ev);
        return;
    }
    if (!arr) {
        arr = json_array();
        json_object_set_new(s->ephemeral, room_id, arr);
    }
    json_array_append_new(arr, ev);
}

/* Adds receipts to {room_id: m.receipt content}: SPEC: receipts.rst, content
 * {event_id: {"m.read": {user_id: {"ts": ...}}}}, one event per room. */
static void
aggregate_receipts(struct sync_req *s, json_t *by_room, const struct store_receipt *list, size_t n,
                   bool skip_fresh)
{
    for (size_t i = 0; i < n; i++) {
        json_t *content, *ev, *type;
        if (skip_fresh && json_object_get(s->fresh, list[i].room_id))
            continue;
        if (!ephemeral_user_ok(s, list[i].room_id, "m.receipt", list[i].user_id))
            continue;
        if (!(content = json_object_get(by_room, list[i].room_id))) {
            content = json_object();
            json_object_set_new(by_room, list[i].room_id, content);
        }
        if (!(ev = json_object_get(content, list[i].event_id))) {
            ev = json_object();
            json_object_set_new(content, list[i].event_id, ev);
        }
        if (!(type = json_object_get(ev, list[i].type))) {
            type = json_object();
            json_object_set_new(ev, list[i].type, type);
        }
        json_object_set_new(type, list[i].user_id,
                            json_pack("{s:I}", "ts", (json_int_t)list[i].ts));
    }
}

/* The ephemeral stream: typing (memory) and receipts (storage) of the joined rooms; rooms
 * sent in full get the whole current state of both. */
static int
ephemeral_stream(struct sync_req *s)
{
    struct req *r = s->r;
    bool incremental = s->has_since && !s->full_state;
    int64_t since_typing = incremental ? s->since.pos[STREAM_TYPING] : -1;
    int64_t since_receipts = incremental ? s->since.pos[STREAM_RECEIPTS] : -1;
    struct store_receipt *list = NULL;
    size_t n = 0, njoined = 0;
    char **joined = NULL;
    json_t *receipts = json_object(), *content;
    const char *room;
    int rc = -1;

    s->ephemeral = json_object();
    /* Positions first: a change after this is sent now and again next time, never lost. */
    s->typing_now = typing_position(r->hs->typing);
    if (store_counter(r->hs->store, "receipts", &s->receipts_now) != STORE_OK)
        goto out;
    if (since_typing > s->typing_now)
        since_typing = s->typing_now;
    if (since_receipts > s->receipts_now)
        since_receipts = s->receipts_now;
    if (store_user_rooms(r->hs->store, r->user_id, "join", &joined, &njoined) != STORE_OK ||
        store_receipts_for_user(r->hs->store, r->user_id, since_receipts, s->receipts_now, &list,
                                &n) != STORE_OK)
        goto out;
    /* Rooms sent in full take all their receipts below instead. */
    aggregate_receipts(s, receipts, list, n, since_receipts >= 0);
    for (size_t i = 0; i < njoined; i++) {
        bool fresh = since_typing < 0 || json_object_get(s->fresh, joined[i]);
        json_t *typing, *users;
        if (!sync_filter_room_included(&s->filter, joined[i]))
            continue;
        if (fresh && since_receipts >= 0) {
            struct store_receipt *all = NULL;
            size_t nall = 0;
            if (store_receipts_in_room(r->hs->store, joined[i], s->receipts_now, &all, &nall) !=
                STORE_OK)
                goto out;
            aggregate_receipts(s, receipts, all, nall, false);
            store_receipts_free(all, nall);
        }
        typing = typing_room(r->hs->typing, joined[i], fresh ? -1 : since_typing);
        if (typing) {
            size_t k;
            json_t *u;
            users = json_array();
            json_array_foreach(typing, k, u)
            {
                if (ephemeral_user_ok(s, joined[i], "m.typing", json_string_value(u)))
                    json_array_append(users, u);
            }
            json_decref(typing);
            /* SPEC: typing_notifications.rst: the event lists everyone typing; an empty list
             * is how a client learns that typing stopped. Initially only non-empty ones. */
            if (!fresh || json_array_size(users) > 0)
                add_ephemeral(
                    s, joined[i],
                    json_pack("{s:s, s:{s:O}}", "type", "m.typing", "content", "user_ids", users),
                    json_string_value(json_array_get(users, 0)));
            if (users)
                json_decref(users);
        }
    }
    json_object_foreach(receipts, room, content)
    {
        if (!sync_filter_room_included(&s->filter, room))
            continue;
        /* Any user of the content passed the filter's senders. */
        json_t *first = json_object_iter_value(json_object_iter(content));
        first = json_object_iter_value(json_object_iter(first));
        add_ephemeral(s, room, json_pack("{s:s, s:O}", "type", "m.receipt", "content", content),
                      json_object_iter_key(json_object_iter(first)));
    }
    rc = 0;
out:
    json_decref(receipts);
    store_receipts_free(list, n);
    store_strings_free(joined, njoined);
    return rc;
}

/* ---- presence ---- */

/* The presence of the users sharing a room with the syncing user (themself included) that
 * changed since the token; everyone's current presence on an initial sync. */
static int
presence_stream(struct sync_req *s)
{
    struct req *r = s->r;
    int64_t since = s->has_since && !s->full_state ? s->since.pos[STREAM_PRESENCE] : -1;
    json_t *changed, *sharers = NULL, *content;
    const char *user;
    long limit = s->filter.presence.limit;

    s->presence = json_array();
    if (!r->hs->cfg->presence_enabled)
        return 0;
    s->presence_now = presence_position(r->hs->presence);
    if (since > s->presence_now)
        since = s->presence_now;
    changed = presence_changed_since(r->hs->presence, since);
    if (json_object_size(changed) > 0 && !(sharers = api_room_sharers(r->hs, r->user_id))) {
        json_decref(changed);
        return -1;
    }
    json_object_foreach(changed, user, content)
    {
        json_t *ev;
        if (!json_object_get(sharers, user) || json_object_get(s->ignored, user))
            continue;
        if (limit >= 0 && (long)json_array_size(s->presence) >= limit)
            break;
        ev = json_pack("{s:s, s:s, s:O}", "type", "m.presence", "sender", user, "content", content);
        if (filter_event_matches(&s->filter.presence, NULL, ev))
            json_array_append_new(s->presence, ev);
        else
            json_decref(ev);
    }
    json_decref(sharers);
    json_decref(changed);
    return 0;
}

/* The joined room's entry, made empty where the room has no other news. */
static json_t *
empty_room_entry(struct sync_req *s, const char *room)
{
    json_t *entry = json_object_get(s->join, room);
    if (!entry) {
        char tok[32];
        snprintf(tok, sizeof(tok), "s%lld", (long long)s->now);
        entry = json_pack("{s:{s:[]}, s:{s:[], s:b, s:s}, s:{s:[]}, s:{s:[]}, s:{s:i, s:i}}",
                          "state", "events", "timeline", "events", "limited", 0, "prev_batch", tok,
                          "ephemeral", "events", "account_data", "events", "unread_notifications",
                          "highlight_count", 0, "notification_count", 0);
        json_object_set_new(s->join, room, entry);
    }
    return entry;
}

/* Ephemeral events go into the joined rooms' entries, making one where needed (they were
 * only gathered for joined rooms). */
static void
merge_ephemeral(struct sync_req *s)
{
    const char *room;
    json_t *events;

    json_object_foreach(s->ephemeral, room, events)
    {
        json_t *entry = empty_room_entry(s, room);
        json_object_set(json_object_get(entry, "ephemeral"), "events", events);
    }
}

/* Room account data goes into the joined rooms' entries, making one where needed. */
static void
merge_room_account_data(struct sync_req *s)
{
    const char *room;
    json_t *events;
    char **joined = NULL;
    size_t n = 0;

    if (json_object_size(s->room_account_data) == 0 ||
        store_user_rooms(s->r->hs->store, s->r->user_id, "join", &joined, &n) != STORE_OK)
        return;
    json_object_foreach(s->room_account_data, room, events)
    {
        json_t *entry = json_object_get(s->join, room);
        bool member = false;
        for (size_t i = 0; i < n && !member; i++)
            member = strcmp(joined[i], room) == 0;
        if (!member)
            continue;
        if (!entry) {
            char tok[32];
            snprintf(tok, sizeof(tok), "s%lld", (long long)s->now);
            entry =
                json_pack("{s:{s:[]}, s:{s:[], s:b, s:s}, s:{s:[]}, s:{s:[]}, s:{s:i, s:i}}",
                          "state", "events", "timeline", "events", "limited", 0, "prev_batch", tok,
                          "ephemeral", "events", "account_data", "events", "unread_notifications",
                          "highlight_count", 0, "notification_count", 0);
            json_object_set_new(s->join, room, entry);
        }
        json_object_set(json_object_get(entry, "account_data"), "events", events);
    }
    store_strings_free(joined, n);
}

static bool
is_empty(const struct sync_req *s)
{
    return json_object_size(s->join) == 0 && json_object_size(s->invite) == 0 &&
           json_object_size(s->leave) == 0 && json_object_size(s->knock) == 0 &&
           json_array_size(s->account_data) == 0 && json_array_size(s->presence) == 0;
}

/* ---- sync speed (issue 4): writing the answer from the formatted events' text ----
 * Dumping a megabyte of events with jansson was a third of an initial sync. Events that are
 * the memo's shared format plus their per-request unsigned (evcache.h) are replaced in the
 * tree by a marker string holding a per-answer random nonce and an index; after the dump
 * each marker is replaced by the memo's text and the unsigned object. The bytes are the
 * same as dumping the tree. A client-chosen string cannot forge a marker: it would need
 * the nonce, which is made for this answer and never sent. */

struct spliced {
    char *text; /* the event's JSON */
    size_t len;
};

struct splicer {
    struct evcache *cache;
    char nonce[32];
    struct spliced *ev;
    size_t n, cap;
};

static void
append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap)
            *cap = *cap ? *cap * 2 : 64;
        *buf = xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* Writes v in decimal (no terminator); returns the number of digits. */
static size_t
decimal(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* Replaces the memo's events of one "events" array by markers. */
static void
splice_mark(struct splicer *sp, json_t *events)
{
    size_t i;
    json_t *ev;

    json_array_foreach(events, i, ev)
    {
        const char *id = json_string_value(json_object_get(ev, "event_id"));
        json_t *uns = json_object_get(ev, "unsigned");
        struct spliced one = {0};
        size_t cap = 0, k;
        char mark[64];
        if (!json_is_object(uns) ||
            !evcache_append_text(sp->cache, id, ev, &one.text, &one.len, &cap))
            continue;
        append(&one.text, &one.len, &cap, ",\"unsigned\":", 12);
        if (json_object_size(uns) == 1 && json_is_integer(json_object_get(uns, "age")) &&
            json_integer_value(json_object_get(uns, "age")) >= 0) {
            char digits[24];
            size_t nd = decimal(digits, (uint64_t)json_integer_value(json_object_get(uns, "age")));
            append(&one.text, &one.len, &cap, "{\"age\":", 7);
            append(&one.text, &one.len, &cap, digits, nd);
            append(&one.text, &one.len, &cap, "}}", 2);
        } else {
            char *u = json_dump_compact(uns);
            append(&one.text, &one.len, &cap, u, strlen(u));
            append(&one.text, &one.len, &cap, "}", 1);
            free(u);
        }
        if (sp->n == sp->cap) {
            sp->cap = sp->cap ? sp->cap * 2 : 256;
            sp->ev = xrealloc(sp->ev, sp->cap * sizeof(*sp->ev));
        }
        /* "<nonce>:<index>", without printf: this runs for every event; nothing in it
         * that jansson escapes (a control character cost a printf per event) */
        k = strlen(sp->nonce);
        memcpy(mark, sp->nonce, k);
        mark[k] = ':';
        mark[1 + k + decimal(mark + 1 + k, sp->n)] = '\0';
        sp->ev[sp->n++] = one;
        json_array_set_new(events, i, json_string(mark));
    }
}

/* The answer's text: body dumped, the marked events spliced in. Takes body. */
static char *
splice_dump(struct sync_req *s, json_t *body, size_t *out_len)
{
    struct splicer sp = {.cache = s->r->hs->evcache};
    const char *section, *room;
    json_t *rooms, *entry;
    char *dumped, *out = NULL, needle[64], *nonce;
    size_t len = 0, cap = 0, nlen;
    const char *p, *hit;

    if (!sp.cache || s->filter.event_fields || s->filter.federation_format) {
        dumped = json_dump_compact(body);
        json_decref(body);
        *out_len = strlen(dumped);
        return dumped;
    }
    nonce = util_random_token(12);
    snprintf(sp.nonce, sizeof(sp.nonce), "%s", nonce);
    free(nonce);
    json_object_foreach(json_object_get(body, "rooms"), section, rooms)
    {
        if (strcmp(section, "join") != 0 && strcmp(section, "leave") != 0)
            continue;
        json_object_foreach(rooms, room, entry)
        {
            splice_mark(&sp, json_object_get(json_object_get(entry, "timeline"), "events"));
            splice_mark(&sp, json_object_get(json_object_get(entry, "state"), "events"));
        }
    }
    dumped = json_dump_compact(body);
    json_decref(body);
    /* a marker is a whole JSON string: its opening quote, the nonce, a colon */
    nlen = (size_t)snprintf(needle, sizeof(needle), "\"%s:", sp.nonce);
    /* one allocation for the answer: the skeleton plus every event's text */
    cap = strlen(dumped) + 1;
    for (size_t i = 0; i < sp.n; i++)
        cap += sp.ev[i].len;
    out = xmalloc(cap);
    p = dumped;
    while (sp.n > 0 && (hit = strstr(p, needle)) != NULL) {
        char *end;
        unsigned long long idx = strtoull(hit + nlen, &end, 10);
        if (*end != '"' || idx >= sp.n) { /* cannot happen: the nonce is ours */
            append(&out, &len, &cap, p, (size_t)(hit + 1 - p));
            p = hit + 1;
            continue;
        }
        append(&out, &len, &cap, p, (size_t)(hit - p));
        append(&out, &len, &cap, sp.ev[idx].text, sp.ev[idx].len);
        p = end + 1;
    }
    append(&out, &len, &cap, p, strlen(p));
    for (size_t i = 0; i < sp.n; i++)
        free(sp.ev[i].text);
    free(sp.ev);
    free(dumped);
    *out_len = len;
    return out;
}

static void
reply_sync(struct sync_req *s)
{
    struct sync_token next = s->since;
    json_t *body;
    char tok[160];

    next.pos[STREAM_EVENTS] = s->now;
    next.pos[STREAM_ACCOUNT_DATA] = s->account_data_now;
    next.pos[STREAM_TYPING] = s->typing_now;
    next.pos[STREAM_RECEIPTS] = s->receipts_now;
    if (s->r->hs->cfg->presence_enabled)
        next.pos[STREAM_PRESENCE] = s->presence_now;
    body = json_object();
    /* to_device, device_lists, device_one_time_keys_count and their token positions */
    sync_e2e_reply(&s->e2e, &next, body);
    sync_token_format(&next, tok, sizeof(tok));
    json_object_update_new(body, json_pack("{s:s, s:{s:o, s:o, s:o}, s:{s:o}, s:{s:o}}",
                                           "next_batch", tok, "rooms", "join", s->join, "invite",
                                           s->invite, "leave", s->leave, "presence", "events",
                                           s->presence, "account_data", "events", s->account_data));
    json_object_set_new(json_object_get(body, "rooms"), "knock", s->knock);
    {
        size_t len = 0;
        char *text = splice_dump(s, body, &len); /* sync speed (issue 4) */
        reply_raw(s->r, 200, "application/json", text, len);
    }
    s->join = s->invite = s->leave = s->knock = s->account_data = s->presence = NULL;
}

/* GET /_matrix/client/r0/sync */
void
sync_get(struct req *r)
{
    const char *since = req_query(r, "since"), *timeout = req_query(r, "timeout");
    const char *full_state = req_query(r, "full_state"), *presence = req_query(r, "set_presence");
    struct sync_req s = {0};
    uint64_t seq = longpoll_begin(r);
    int64_t timeout_ms = 0;
    s.r = r;
    if (presence && strcmp(presence, "online") != 0 && strcmp(presence, "offline") != 0 &&
        strcmp(presence, "unavailable") != 0) {
        reply_error(r, MERR_INVALID_PARAM, "set_presence must be online, offline or unavailable");
        return;
    }
    if (timeout && (util_parse_int64(timeout, &timeout_ms) != 0 || timeout_ms < 0)) {
        reply_error(r, MERR_INVALID_PARAM, "timeout must be a non-negative integer");
        return;
    }
    if (timeout_ms > MAX_TIMEOUT_MS)
        timeout_ms = MAX_TIMEOUT_MS;
    if (full_state && strcmp(full_state, "true") != 0 && strcmp(full_state, "false") != 0) {
        reply_error(r, MERR_INVALID_PARAM, "full_state must be true or false");
        return;
    }
    s.full_state = full_state && strcmp(full_state, "true") == 0;
    if (since && *since) {
        if (sync_token_parse(since, &s.since) != 0) {
            reply_error(r, MERR_INVALID_PARAM, "Invalid since token");
            return;
        }
        s.has_since = true;
    }
    if (api_sync_filter_or_reply(r, &s.filter) != 0)
        return;
    /* SPEC: set_presence: absent marks the user online, "offline" leaves presence alone. The
     * user counts as syncing until this request has answered at the latest. */
    if (!r->resumed && r->hs->cfg->presence_enabled)
        presence_synced(r->hs->presence, r->user_id, presence, util_now_ms() + timeout_ms);
    s.ignored = api_ignored_users(r->hs, r->user_id);
    if (store_stream_position(r->hs->store, &s.now) != STORE_OK || build(&s) != 0 ||
        account_data(&s) != 0 || ephemeral_stream(&s) != 0 || presence_stream(&s) != 0 ||
        sync_e2e_collect(r, s.has_since ? &s.since : NULL, s.now, &s.e2e) != 0) {
        reply_internal(r, "sync failed");
        goto out;
    }
    /* A token from the future (another server's, or a restored backup) is answered as if it
     * were now rather than waiting forever. */
    if (s.has_since && s.since.pos[STREAM_EVENTS] > s.now)
        s.since.pos[STREAM_EVENTS] = s.now;
    merge_room_account_data(&s);
    merge_ephemeral(&s);
    api_push_unread_counts(r->hs, r->user_id, s.join); /* push (issue 8) */
    if (is_empty(&s) && sync_e2e_is_empty(&s.e2e) && s.has_since && !s.full_state &&
        longpoll_suspend(r, r->user_id, timeout_ms, seq))
        goto out;
    reply_sync(&s);
out:
    json_decref(s.join);
    json_decref(s.invite);
    json_decref(s.leave);
    json_decref(s.knock);
    json_decref(s.account_data);
    json_decref(s.room_account_data);
    json_decref(s.ignored);
    json_decref(s.fresh);
    json_decref(s.ephemeral);
    json_decref(s.presence);
    sync_e2e_clear(&s.e2e);
    sync_filter_clear(&s.filter);
}
