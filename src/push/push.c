/* The push service: the cache of compiled rules and the evaluation of each event for the
 * room's members. See push.h. */
#include "push/push.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "push/eval.h"
#include "push/push_internal.h"
#include "push/rules.h"
#include "store/store.h"

#define NBUCKETS 4096
#define MAX_CACHED 50000

/* One user's compiled rules and ignored users, immutable once made; the cache holds one
 * reference, every evaluation using it another. */
struct user_rules {
    struct user_rules *next;
    atomic_int refs;
    char *user_id;
    struct push_compiled *rules;
    json_t *ignored; /* {user_id: ...}, or NULL when nobody is ignored */
};

/* A room's members as its state last had them, so that an event in a room whose members did
 * not change costs one pointer comparison per member instead of reading each member's state
 * event and looking up their rules (issue 3). The state's member entries are immutable (an
 * event replaces an entry, never changes it) and each is held by a reference, so an entry at
 * the same place with the same address is the same member event. Used by one evaluation at a
 * time: taken out of the cache while in use. */
#define ROOM_BUCKETS 1024
#define MAX_ROOMS 4096
/* Members of the rooms cached, all told: about 200 bytes each, and the state entries held (an
 * entry replaced in the room's state lives on here until the room's next event). */
#define MAX_ROOM_MEMBERS 50000

/* A member to evaluate: borrowed from the room's members (struct room_members). */
struct candidate {
    const char *user_id;
    const struct push_member *pm; /* the member prepared for evaluation */
    bool joined;                  /* else the invitee */
    struct user_rules *rules;     /* a reference, unless borrowed */
    bool borrowed;                /* rules belong to the room's cached members */
    size_t aidx;                  /* the note's copy of the result's actions, when notified */
};

struct member {
    char *user_id;
    uint64_t hash;         /* str_hash(user_id) */
    struct push_member pm; /* user_id and the display name in the entry, prepared */
    bool joined;
    struct user_rules *rules; /* joined members: a reference */
};

struct room_members {
    struct room_members *next;
    char *room_id;
    uint64_t gen;     /* the rules cache's generation when the rules were taken */
    json_t **entries; /* the state's m.room.member entries in order, a reference each */
    size_t nentries;
    size_t joined;        /* joined members, local or not */
    struct member *local; /* the local members, in the state's order */
    size_t nlocal;
    /* Room for one evaluation's candidates and results (nlocal each). */
    struct candidate *cand;
    const struct push_result **res;
};

/* Evaluation times per event, in buckets of STAT_STEP_US, by the room's joined members (1-9,
 * 10-99, 100-999, 1000 and more). Logged when the server stops (bench/run-push). */
#define STAT_CLASSES 4
#define STAT_BUCKETS 10000
#define STAT_STEP_US 2

/* The users who have an http pusher, so that evaluation copies the notified users for
 * delivery only when there is someone to deliver to. Immutable once made, open addressing. */
struct pusher_users {
    atomic_int refs;
    uint64_t gen; /* store_pushers_generation when read */
    size_t cap;   /* a power of two */
    size_t n;
    char **slots;
};

struct push {
    struct store *st;
    pthread_mutex_t pu_lock;
    struct pusher_users *pusher_users;
    char *server_suffix;            /* ":server_name" */
    struct push_compiled *defaults; /* shared by every user without changes */
    pthread_mutex_t lock;
    struct user_rules *buckets[NBUCKETS];
    size_t cached;
    uint64_t gen; /* bumped by every invalidation, under lock */
    struct push_delivery *delivery;
    /* The rooms' members as last evaluated (struct room_members), under lock. */
    struct room_members *rooms[ROOM_BUCKETS];
    size_t rooms_cached, rooms_members;
    pthread_mutex_t stat_lock;
    /* Wall time and the thread's CPU time (which leaves out waiting for a CPU: on a loaded
     * machine the two differ a lot). */
    uint32_t stat[STAT_CLASSES][STAT_BUCKETS + 1], stat_cpu[STAT_CLASSES][STAT_BUCKETS + 1];
    uint64_t stat_events[STAT_CLASSES], stat_members[STAT_CLASSES], stat_ns[STAT_CLASSES];
    uint64_t stat_max_ns[STAT_CLASSES], stat_cpu_ns[STAT_CLASSES];
};

static uint64_t
str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void
pusher_users_unref(struct pusher_users *pu)
{
    if (!pu || atomic_fetch_sub(&pu->refs, 1) != 1)
        return;
    for (size_t i = 0; i < pu->cap; i++)
        free(pu->slots[i]);
    free(pu->slots);
    free(pu);
}

static bool
has_pusher(const struct pusher_users *pu, const char *user_id)
{
    if (!pu->cap)
        return false;
    for (size_t i = str_hash(user_id) & (pu->cap - 1);; i = (i + 1) & (pu->cap - 1)) {
        if (!pu->slots[i])
            return false;
        if (strcmp(pu->slots[i], user_id) == 0)
            return true;
    }
}

/* The current set (a new reference), reread when the store says pushers changed. */
static struct pusher_users *
pusher_users_get(struct push *p)
{
    uint64_t gen = store_pushers_generation(p->st);
    struct pusher_users *pu;
    struct store_pusher *list = NULL;
    size_t n = 0;

    pthread_mutex_lock(&p->pu_lock);
    pu = p->pusher_users;
    if (pu && pu->gen == gen) {
        atomic_fetch_add(&pu->refs, 1);
        pthread_mutex_unlock(&p->pu_lock);
        return pu;
    }
    pthread_mutex_unlock(&p->pu_lock);
    pu = xcalloc(1, sizeof(*pu));
    atomic_init(&pu->refs, 2); /* the caller's and the cache's */
    pu->gen = gen;
    if (store_pushers_list(p->st, NULL, &list, &n) != STORE_OK)
        log_error("push: cannot read the pushers");
    for (pu->cap = 16; pu->cap < 2 * n; pu->cap *= 2)
        ;
    pu->slots = xcalloc(pu->cap, sizeof(*pu->slots));
    for (size_t k = 0; k < n; k++) {
        size_t i;
        if (strcmp(list[k].kind, "http") != 0 || has_pusher(pu, list[k].user_id))
            continue;
        for (i = str_hash(list[k].user_id) & (pu->cap - 1); pu->slots[i];
             i = (i + 1) & (pu->cap - 1))
            ;
        pu->slots[i] = xstrdup(list[k].user_id);
        pu->n++;
    }
    store_pushers_free(list, n);
    pthread_mutex_lock(&p->pu_lock);
    if (!p->pusher_users || p->pusher_users->gen < gen) {
        pusher_users_unref(p->pusher_users);
        p->pusher_users = pu;
    } else {
        atomic_fetch_sub(&pu->refs, 1); /* a newer one is cached; ours is only the caller's */
    }
    pthread_mutex_unlock(&p->pu_lock);
    return pu;
}

static size_t
bucket_of(const char *s)
{
    size_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h % NBUCKETS;
}

static void
rules_unref(struct user_rules *u)
{
    if (!u || atomic_fetch_sub(&u->refs, 1) != 1)
        return;
    free(u->user_id);
    push_compiled_unref(u->rules);
    json_decref(u->ignored);
    free(u);
}

struct push *
push_new(struct store *st, const char *server_name)
{
    struct push *p = xcalloc(1, sizeof(*p));
    json_t *rs = push_rules_ruleset(NULL, NULL);

    p->st = st;
    p->server_suffix = xasprintf(":%s", server_name);
    p->defaults = push_compile(rs);
    json_decref(rs);
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->stat_lock, NULL);
    pthread_mutex_init(&p->pu_lock, NULL);
    p->delivery = push_delivery_new(st);
    return p;
}

static void
clear_cache_locked(struct push *p)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct user_rules *u = p->buckets[i], *next;
        for (; u; u = next) {
            next = u->next;
            rules_unref(u);
        }
        p->buckets[i] = NULL;
    }
    p->cached = 0;
}

static size_t
room_bucket(const char *room_id)
{
    return (size_t)(str_hash(room_id) % ROOM_BUCKETS);
}

static void
room_members_free(struct room_members *rm)
{
    if (!rm)
        return;
    for (size_t i = 0; i < rm->nentries; i++)
        json_decref(rm->entries[i]);
    for (size_t i = 0; i < rm->nlocal; i++) {
        free(rm->local[i].user_id);
        rules_unref(rm->local[i].rules);
    }
    free(rm->entries);
    free(rm->local);
    free(rm->cand);
    free(rm->res);
    free(rm->room_id);
    free(rm);
}

static void
clear_rooms_locked(struct push *p)
{
    for (size_t i = 0; i < ROOM_BUCKETS; i++) {
        struct room_members *rm = p->rooms[i], *next;
        for (; rm; rm = next) {
            next = rm->next;
            room_members_free(rm);
        }
        p->rooms[i] = NULL;
    }
    p->rooms_cached = 0;
    p->rooms_members = 0;
}

/* Nearest-rank percentile of a histogram, in microseconds. */
static double
percentile(const uint32_t *hist, uint64_t total, double q)
{
    uint64_t rank = (uint64_t)(q * (double)total + 0.999999), seen = 0;
    for (size_t i = 0; i <= STAT_BUCKETS; i++) {
        seen += hist[i];
        if (seen >= rank && rank > 0)
            return (double)(i * STAT_STEP_US) + STAT_STEP_US / 2.0;
    }
    return 0;
}

static void
log_stats(struct push *p)
{
    static const char *const names[STAT_CLASSES] = {"1-9", "10-99", "100-999", "1000+"};
    for (int c = 0; c < STAT_CLASSES; c++) {
        if (!p->stat_events[c])
            continue;
        log_info("push stats: room_members=%s events=%llu member_evaluations=%llu eval_p50_us=%.0f "
                 "eval_p99_us=%.0f eval_max_us=%.0f eval_mean_us=%.1f cpu_p50_us=%.0f "
                 "cpu_p99_us=%.0f cpu_mean_us=%.1f cpu_ns_per_member=%.0f",
                 names[c], (unsigned long long)p->stat_events[c],
                 (unsigned long long)p->stat_members[c],
                 percentile(p->stat[c], p->stat_events[c], 0.5),
                 percentile(p->stat[c], p->stat_events[c], 0.99), p->stat_max_ns[c] / 1000.0,
                 (double)p->stat_ns[c] / 1000.0 / (double)p->stat_events[c],
                 percentile(p->stat_cpu[c], p->stat_events[c], 0.5),
                 percentile(p->stat_cpu[c], p->stat_events[c], 0.99),
                 (double)p->stat_cpu_ns[c] / 1000.0 / (double)p->stat_events[c],
                 (double)p->stat_cpu_ns[c] / (double)p->stat_members[c]);
    }
}

void
push_free(struct push *p)
{
    if (!p)
        return;
    push_delivery_free(p->delivery);
    log_stats(p);
    pthread_mutex_lock(&p->lock);
    clear_rooms_locked(p);
    clear_cache_locked(p);
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->stat_lock);
    pusher_users_unref(p->pusher_users);
    pthread_mutex_destroy(&p->pu_lock);
    push_compiled_unref(p->defaults);
    free(p->server_suffix);
    free(p);
}

void
push_user_changed(struct push *p, const char *user_id)
{
    size_t b = bucket_of(user_id);
    struct user_rules **pp, *dead = NULL;

    pthread_mutex_lock(&p->lock);
    p->gen++;
    for (pp = &p->buckets[b]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->user_id, user_id) == 0) {
            dead = *pp;
            *pp = dead->next;
            p->cached--;
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    rules_unref(dead);
}

/* Reads and compiles a user's rules. Storage failures fall back to the defaults (logged). */
static struct user_rules *
load(struct push *p, const char *user_id)
{
    struct user_rules *u = xcalloc(1, sizeof(*u));
    char *text = NULL;
    json_t *doc = NULL, *ignored;
    enum store_rc rc = store_push_rules_get(p->st, user_id, &text);

    atomic_init(&u->refs, 1);
    u->user_id = xstrdup(user_id);
    if (rc == STORE_OK && (doc = json_loads(text, 0, NULL))) {
        json_t *rs = push_rules_ruleset(doc, user_id);
        u->rules = push_compile(rs);
        json_decref(rs);
    } else {
        if (rc != STORE_NOT_FOUND)
            log_error("push: cannot read the push rules of %s", user_id);
        u->rules = push_compiled_ref(p->defaults);
    }
    json_decref(doc);
    free(text);
    text = NULL;
    /* modules/ignore_users.rst; Synapse sends no notification for an ignored sender. */
    if (store_account_data_get(p->st, user_id, "", "m.ignored_user_list", &text) == STORE_OK &&
        (doc = json_loads(text, 0, NULL))) {
        ignored = json_object_get(doc, "ignored_users");
        if (json_is_object(ignored) && json_object_size(ignored) > 0)
            u->ignored = json_incref(ignored);
        json_decref(doc);
    }
    free(text);
    return u;
}

static struct user_rules *
find_locked(struct push *p, const char *user_id)
{
    for (struct user_rules *u = p->buckets[bucket_of(user_id)]; u; u = u->next)
        if (strcmp(u->user_id, user_id) == 0)
            return u;
    return NULL;
}

/* Finds (loading what is missing) the rules of every candidate that has none yet. Returns
 * the cache's generation before: rules taken are at least that recent. */
static uint64_t
take_rules(struct push *p, struct candidate *c, size_t n)
{
    size_t missing = 0;
    uint64_t gen;

    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < n; i++) {
        struct user_rules *u;
        if (c[i].rules)
            continue;
        u = find_locked(p, c[i].user_id);
        if (u)
            atomic_fetch_add(&u->refs, 1);
        else
            missing++;
        c[i].rules = u;
    }
    gen = p->gen;
    pthread_mutex_unlock(&p->lock);
    if (!missing)
        return gen;
    for (size_t i = 0; i < n; i++) {
        struct user_rules *u, *other;
        if (c[i].rules)
            continue;
        u = load(p, c[i].user_id);
        c[i].rules = u;
        pthread_mutex_lock(&p->lock);
        /* Cached only if no rule changed meanwhile (it could be this user's). */
        other = find_locked(p, c[i].user_id);
        if (!other && p->gen == gen) {
            if (p->cached >= MAX_CACHED)
                clear_cache_locked(p);
            atomic_fetch_add(&u->refs, 1);
            u->next = p->buckets[bucket_of(u->user_id)];
            p->buckets[bucket_of(u->user_id)] = u;
            p->cached++;
        }
        pthread_mutex_unlock(&p->lock);
    }
    return gen;
}

void
push_note_free(struct push_note *note)
{
    if (!note)
        return;
    free(note->room_id);
    free(note->event_id);
    free(note->type);
    free(note->sender);
    free(note->state_key);
    free(note->membership);
    free(note->sender_name);
    free(note->room_name);
    free(note->room_alias);
    free(note->content);
    free(note->targets);
    free(note->exceptions);
    free(note->exceptions_json);
    for (size_t i = 0; i < note->nusers; i++)
        free(note->users[i]);
    for (size_t i = 0; i < note->nactions; i++)
        free(note->actions[i]);
    free(note->users);
    free(note->actions);
    free(note);
}

static const json_t *
state_content(const json_t *state, const char *type, const char *key)
{
    return json_object_get(
        json_object_get(json_object_get(json_object_get(state, type), key), "event"), "content");
}

static char *
dup_or_null(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

static uint64_t
thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One event's evaluation: the room's joined members (its size class) and those evaluated. */
static void
record(struct push *p, size_t joined, size_t members, uint64_t ns, uint64_t cpu_ns)
{
    int c = joined < 10 ? 0 : joined < 100 ? 1 : joined < 1000 ? 2 : 3;
    uint64_t b = ns / 1000 / STAT_STEP_US, bc = cpu_ns / 1000 / STAT_STEP_US;

    pthread_mutex_lock(&p->stat_lock);
    p->stat[c][b < STAT_BUCKETS ? b : STAT_BUCKETS]++;
    p->stat_cpu[c][bc < STAT_BUCKETS ? bc : STAT_BUCKETS]++;
    p->stat_cpu_ns[c] += cpu_ns;
    p->stat_events[c]++;
    p->stat_members[c] += members;
    p->stat_ns[c] += ns;
    if (ns > p->stat_max_ns[c])
        p->stat_max_ns[c] = ns;
    pthread_mutex_unlock(&p->stat_lock);
}

static bool
is_local(struct push *p, const char *user_id)
{
    size_t n = strlen(user_id), k = strlen(p->server_suffix);
    return n > k && strcmp(user_id + n - k, p->server_suffix) == 0;
}

/* The index of the note's copy of an action text: each distinct text is kept once (users with
 * their own rules have their own compiled copies of the same actions). */
static size_t
note_actions(struct push_note *note, const char ***seen, const struct push_result *res)
{
    size_t a;

    for (a = 0; a < note->nactions; a++)
        if ((*seen)[a] == res->actions || strcmp(note->actions[a], res->actions) == 0)
            return a;
    *seen = xrealloc(*seen, (a + 1) * sizeof(**seen));
    note->actions = xrealloc(note->actions, (a + 1) * sizeof(*note->actions));
    (*seen)[a] = res->actions;
    note->actions[a] = xstrdup(res->actions);
    note->nactions++;
    return a;
}

/* Is the member stored apart from the default actions best (SIZE_MAX: none)? */
static bool
is_exception(const struct candidate *c, const struct push_result *res, size_t best)
{
    bool as_default = best != SIZE_MAX && c->joined && res && c->aidx == best;
    return !as_default && (res || (best != SIZE_MAX && c->joined));
}

/* What the store keeps of the results (see struct store_push_event): the notifying actions
 * most joined members got, if that beats listing each notified member, and everyone else as
 * an exception. Members not joined (an invitee) are exceptions whenever notified. */
static void
compress(struct push_note *note, struct candidate *cand, const struct push_result **res,
         size_t ncand)
{
    size_t *count = xcalloc(note->nactions + 1, sizeof(*count));
    size_t best = SIZE_MAX, best_n = 0, notified = 0, nexc = 0;
    bool best_hl = false;
    json_t *exc = json_object();

    for (size_t i = 0; i < ncand; i++) {
        if (!res[i])
            continue;
        notified++;
        if (cand[i].joined && ++count[cand[i].aidx] > best_n) {
            best_n = count[cand[i].aidx];
            best = cand[i].aidx;
            best_hl = res[i]->highlight;
        }
    }
    free(count);
    /* With a default, the members outside its group are exceptions; without, the notified. */
    if (best != SIZE_MAX && ncand - best_n >= notified)
        best = SIZE_MAX;
    for (size_t i = 0; i < ncand; i++)
        nexc += is_exception(&cand[i], res[i], best);
    note->exceptions = xcalloc(nexc + 1, sizeof(*note->exceptions));
    nexc = 0;
    for (size_t i = 0; i < ncand; i++) {
        const char *user;
        if (!is_exception(&cand[i], res[i], best))
            continue;
        user = note->users[note->nusers++] = xstrdup(cand[i].user_id);
        note->exceptions[nexc].user_id = user;
        note->exceptions[nexc].actions = res[i] ? note->actions[cand[i].aidx] : NULL;
        note->exceptions[nexc].highlight = res[i] && res[i]->highlight;
        json_object_set_new(exc, user,
                            json_pack("[o, i]",
                                      res[i] ? json_loads(res[i]->actions, 0, NULL) : json_null(),
                                      res[i] && res[i]->highlight ? 1 : 0));
        nexc++;
    }
    note->exceptions_json = json_dump_compact(exc);
    json_decref(exc);
    note->stored = (struct store_push_event){
        .actions = best != SIZE_MAX ? note->actions[best] : NULL,
        .highlight = best != SIZE_MAX && best_hl,
        .exceptions = note->exceptions,
        .nexceptions = nexc,
        .exceptions_json = note->exceptions_json,
    };
}

/* ---- the rooms' members (issue 3) ---- */

/* The room's cached members, taken out of the cache, if they are still the state's members
 * (the same entries in the same order) and no user's rules changed since; else NULL. */
static struct room_members *
room_members_take(struct push *p, const char *room_id, const json_t *members)
{
    struct room_members **pp, *rm = NULL;
    size_t i = 0;
    uint64_t gen;

    pthread_mutex_lock(&p->lock);
    gen = p->gen;
    for (pp = &p->rooms[room_bucket(room_id)]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->room_id, room_id) == 0) {
            rm = *pp;
            *pp = rm->next;
            p->rooms_cached--;
            p->rooms_members -= rm->nentries;
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (!rm)
        return NULL;
    if (rm->gen == gen && rm->nentries == json_object_size(members)) {
        void *it = json_object_iter((json_t *)members);
        for (; it && json_object_iter_value(it) == rm->entries[i];
             it = json_object_iter_next((json_t *)members, it))
            i++;
        if (!it && i == rm->nentries)
            return rm;
    }
    room_members_free(rm);
    return NULL;
}

/* Reads the room's members from its state and takes the rules of those joined and local. */
static struct room_members *
room_members_build(struct push *p, const char *room_id, const json_t *members)
{
    struct room_members *rm = xcalloc(1, sizeof(*rm));
    size_t size = json_object_size(members), n = 0;
    struct candidate *c;
    const char *user;
    json_t *entry;

    rm->room_id = xstrdup(room_id);
    rm->entries = xcalloc(size + 1, sizeof(*rm->entries));
    rm->local = xcalloc(size + 1, sizeof(*rm->local));
    json_object_foreach((json_t *)members, user, entry)
    {
        const json_t *mc = json_object_get(json_object_get(entry, "event"), "content");
        const char *m = json_string_value(json_object_get(mc, "membership"));
        bool joined = m && strcmp(m, "join") == 0;
        rm->entries[rm->nentries++] = json_incref(entry);
        rm->joined += joined;
        if (!is_local(p, user))
            continue;
        rm->local[rm->nlocal].user_id = xstrdup(user);
        rm->local[rm->nlocal].hash = str_hash(user);
        rm->local[rm->nlocal].joined = joined;
        push_member_init(&rm->local[rm->nlocal].pm, rm->local[rm->nlocal].user_id,
                         json_string_value(json_object_get(mc, "displayname")));
        rm->nlocal++;
    }
    rm->cand = c = xcalloc(rm->nlocal + 1, sizeof(*c));
    rm->res = xcalloc(rm->nlocal + 1, sizeof(*rm->res));
    for (size_t i = 0; i < rm->nlocal; i++)
        if (rm->local[i].joined)
            c[n++].user_id = rm->local[i].user_id;
    rm->gen = take_rules(p, c, n);
    n = 0;
    for (size_t i = 0; i < rm->nlocal; i++)
        if (rm->local[i].joined)
            rm->local[i].rules = c[n++].rules;
    return rm;
}

/* Puts the room's members back in the cache (unless another evaluation of the room did). */
static void
room_members_put(struct push *p, struct room_members *rm)
{
    size_t b = room_bucket(rm->room_id);

    pthread_mutex_lock(&p->lock);
    for (struct room_members *o = p->rooms[b]; o; o = o->next) {
        if (strcmp(o->room_id, rm->room_id) == 0) {
            pthread_mutex_unlock(&p->lock);
            room_members_free(rm);
            return;
        }
    }
    if (rm->nentries > MAX_ROOM_MEMBERS) {
        pthread_mutex_unlock(&p->lock);
        room_members_free(rm);
        return;
    }
    if (p->rooms_cached >= MAX_ROOMS || p->rooms_members + rm->nentries > MAX_ROOM_MEMBERS)
        clear_rooms_locked(p);
    rm->next = p->rooms[b];
    p->rooms[b] = rm;
    p->rooms_cached++;
    p->rooms_members += rm->nentries;
    pthread_mutex_unlock(&p->lock);
}

void *
push_evaluate_event(void *arg, const char *room_id, const char *event_id, const json_t *event,
                    const json_t *state, const struct store_push_event **push)
{
    struct push *p = arg;
    uint64_t t0 = util_mono_ns(), c0 = thread_cpu_ns();
    json_t *members = json_object_get(state, "m.room.member");
    const char *sender = json_string_value(json_object_get(event, "sender"));
    const char *type = json_string_value(json_object_get(event, "type"));
    const char *state_key = json_string_value(json_object_get(event, "state_key"));
    const json_t *content = json_object_get(event, "content");
    const json_t *create = json_object_get(json_object_get(state, "m.room.create"), "");
    /* The creator (room versions 1-10 name it in the content), for rooms without power
     * levels. */
    const char *creator =
        json_string_value(json_object_get(state_content(state, "m.room.create", ""), "creator"));
    const char *invitee = NULL, *membership;
    struct room_members *rm = NULL;
    const struct push_result **res = NULL;
    const char **seen_actions = NULL;
    struct candidate *cand;
    struct push_event *pe;
    struct push_note *note = NULL;
    struct pusher_users *pu = NULL;
    size_t ncand = 0, joined = 0, notified = 0;
    uint64_t sender_hash;

    *push = NULL;
    if (!sender || !type || !members)
        return NULL;
    /* Synapse also evaluates for the target of an invite, who is not joined yet (so the
     * invitee's phone rings: .m.rule.invite_for_me). */
    membership = json_string_value(json_object_get(content, "membership"));
    if (strcmp(type, "m.room.member") == 0 && state_key && membership &&
        strcmp(membership, "invite") == 0)
        invitee = state_key;
    rm = room_members_take(p, room_id, members);
    if (!rm)
        rm = room_members_build(p, room_id, members);
    joined = rm->joined;
    sender_hash = str_hash(sender);
    cand = rm->cand;
    for (size_t i = 0; i < rm->nlocal; i++) {
        const struct member *m = &rm->local[i];
        /* SPEC: "Homeservers MUST NOT notify the Push Gateway for events that the user has
         * sent themselves." */
        if ((!m->joined && !(invitee && strcmp(m->user_id, invitee) == 0)) ||
            (m->hash == sender_hash && strcmp(m->user_id, sender) == 0))
            continue;
        cand[ncand++] = (struct candidate){
            .user_id = m->user_id,
            .pm = &m->pm,
            .joined = m->joined,
            .rules = m->rules, /* NULL for the invitee: taken below */
            .borrowed = m->rules != NULL,
        };
    }
    if (ncand == 0)
        goto out;
    take_rules(p, cand, ncand);
    if (!creator)
        creator = json_string_value(json_object_get(json_object_get(create, "event"), "sender"));
    pe = push_event_new(event, (int64_t)joined, state_content(state, "m.room.power_levels", ""),
                        creator);
    res = rm->res;
    memset(res, 0, ncand * sizeof(*res));
    note = xcalloc(1, sizeof(*note));
    note->users = xcalloc(2 * ncand, sizeof(*note->users));
    pu = pusher_users_get(p);
    if (pu->n > 0)
        note->targets = xcalloc(ncand, sizeof(*note->targets));
    for (size_t i = 0; i < ncand; i++) {
        const struct push_result *r;
        /* Synapse sends no notification of an ignored user's (non-state) events. */
        if (!state_key && cand[i].rules->ignored && json_object_get(cand[i].rules->ignored, sender))
            continue;
        r = push_evaluate_member(cand[i].rules->rules, pe, cand[i].pm);
        if (!r || !r->notify)
            continue;
        res[i] = r;
        notified++;
        cand[i].aidx = note_actions(note, &seen_actions, r);
        /* Delivery needs the users with a pusher only. */
        if (!note->targets || !has_pusher(pu, cand[i].user_id))
            continue;
        note->users[note->nusers] = xstrdup(cand[i].user_id);
        note->targets[note->n++] = (struct push_target){note->users[note->nusers++],
                                                        note->actions[cand[i].aidx], r->highlight};
    }
    push_event_free(pe);
    pusher_users_unref(pu);
    if (notified == 0) {
        push_note_free(note);
        note = NULL;
    } else {
        compress(note, cand, res, ncand);
    }
    for (size_t i = 0; i < ncand; i++)
        if (!cand[i].borrowed)
            rules_unref(cand[i].rules);
    if (!note)
        goto out;
    /* What the push gateway hears about the event (push_gateway.rst). */
    note->room_id = xstrdup(room_id);
    note->event_id = xstrdup(event_id);
    note->type = xstrdup(type);
    note->sender = xstrdup(sender);
    note->state_key = state_key ? xstrdup(state_key) : NULL;
    if (strcmp(type, "m.room.member") == 0)
        note->membership = dup_or_null(membership);
    note->sender_name = dup_or_null(json_string_value(
        json_object_get(state_content(state, "m.room.member", sender), "displayname")));
    note->room_name = dup_or_null(
        json_string_value(json_object_get(state_content(state, "m.room.name", ""), "name")));
    note->room_alias = dup_or_null(json_string_value(
        json_object_get(state_content(state, "m.room.canonical_alias", ""), "alias")));
    note->content = content ? json_dump_compact(content) : xstrdup("{}");
    *push = &note->stored;
out:
    if (rm)
        room_members_put(p, rm);
    if (ncand > 0)
        record(p, joined, ncand, util_mono_ns() - t0, thread_cpu_ns() - c0);
    free(seen_actions);
    return note;
}

void
push_event_committed(void *arg, void *note, int64_t pos)
{
    struct push *p = arg;
    struct push_note *pn = note;
    pn->pos = pos;
    if (pn->n > 0)
        push_delivery_enqueue(p->delivery, pn);
    else
        push_note_free(pn);
}

void
push_event_discard(void *arg, void *note)
{
    (void)arg;
    push_note_free(note);
}
