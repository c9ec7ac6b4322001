#include "sync/presence.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "sync/timer.h"

#define USER_BUCKETS 1024

struct presence_user {
    struct presence_user *next;
    char *user_id;
    const char *state; /* a static string: "online", "unavailable", "offline" */
    char *status_msg;
    int64_t last_active_ms;
    int64_t sync_until_ms; /* a sync may be in flight until then */
    int64_t pos;
};

struct presence {
    pthread_mutex_t lock;
    int64_t pos;
    struct presence_user *buckets[USER_BUCKETS];
    struct timer *timer;
    void (*changed)(void *arg, const char *user_id);
    void *arg;
};

static size_t
user_hash(const char *s)
{
    size_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h % USER_BUCKETS;
}

static const char *
canonical_state(const char *s)
{
    if (s && strcmp(s, "online") == 0)
        return "online";
    if (s && strcmp(s, "unavailable") == 0)
        return "unavailable";
    return "offline";
}

static struct presence_user *
find_user(struct presence *p, const char *user_id, bool create)
{
    size_t b = user_hash(user_id);
    struct presence_user *u;

    for (u = p->buckets[b]; u; u = u->next)
        if (strcmp(u->user_id, user_id) == 0)
            return u;
    if (!create)
        return NULL;
    u = xcalloc(1, sizeof(*u));
    u->user_id = xstrdup(user_id);
    u->state = "offline";
    u->next = p->buckets[b];
    p->buckets[b] = u;
    return u;
}

/* The next moment the timer must look at u, or INT64_MAX. */
static int64_t
deadline(const struct presence_user *u)
{
    int64_t d = INT64_MAX;
    if (strcmp(u->state, "online") == 0)
        d = u->last_active_ms + PRESENCE_IDLE_MS;
    if (strcmp(u->state, "offline") != 0 && u->sync_until_ms + PRESENCE_OFFLINE_GRACE_MS < d)
        d = u->sync_until_ms + PRESENCE_OFFLINE_GRACE_MS;
    return d;
}

/* After a change under the lock: schedules the timer and reports it. */
static void
after_change(struct presence *p, const char *user_id, bool changed, int64_t next)
{
    if (next < INT64_MAX)
        timer_at(p->timer, next);
    if (changed)
        p->changed(p->arg, user_id);
}

static int64_t
sweep(void *arg, int64_t now)
{
    struct presence *p = arg;
    int64_t next = INT64_MAX;
    char **changed = NULL;
    size_t nchanged = 0;

    pthread_mutex_lock(&p->lock);
    for (size_t b = 0; b < USER_BUCKETS; b++) {
        for (struct presence_user *u = p->buckets[b]; u; u = u->next) {
            const char *was = u->state;
            if (strcmp(u->state, "offline") != 0 &&
                u->sync_until_ms + PRESENCE_OFFLINE_GRACE_MS <= now)
                u->state = "offline";
            else if (strcmp(u->state, "online") == 0 && u->last_active_ms + PRESENCE_IDLE_MS <= now)
                u->state = "unavailable";
            if (u->state != was) {
                u->pos = ++p->pos;
                changed = xrealloc(changed, (nchanged + 1) * sizeof(*changed));
                changed[nchanged++] = xstrdup(u->user_id);
            }
            if (deadline(u) < next)
                next = deadline(u);
        }
    }
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < nchanged; i++) {
        p->changed(p->arg, changed[i]);
        free(changed[i]);
    }
    free(changed);
    return next;
}

struct presence *
presence_new(void (*changed)(void *arg, const char *user_id), void *arg)
{
    struct presence *p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    /* As typing: positions from before a restart are older than any given after it. */
    p->pos = util_now_ms();
    p->changed = changed;
    p->arg = arg;
    p->timer = timer_new(sweep, p);
    return p;
}

void
presence_free(struct presence *p)
{
    if (!p)
        return;
    timer_free(p->timer);
    for (size_t b = 0; b < USER_BUCKETS; b++) {
        struct presence_user *u = p->buckets[b], *next;
        for (; u; u = next) {
            next = u->next;
            free(u->user_id);
            free(u->status_msg);
            free(u);
        }
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void
presence_set(struct presence *p, const char *user_id, const char *state, const char *status_msg)
{
    int64_t now = util_now_ms(), next;
    struct presence_user *u;
    bool changed;

    pthread_mutex_lock(&p->lock);
    u = find_user(p, user_id, true);
    state = canonical_state(state);
    changed = strcmp(u->state, state) != 0 || (u->status_msg == NULL) != (status_msg == NULL) ||
              (status_msg && strcmp(u->status_msg, status_msg) != 0);
    u->state = state;
    free(u->status_msg);
    u->status_msg = status_msg ? xstrdup(status_msg) : NULL;
    u->last_active_ms = now;
    /* A client that sets presence without syncing keeps it for the grace period. */
    if (u->sync_until_ms < now)
        u->sync_until_ms = now;
    if (changed)
        u->pos = ++p->pos;
    next = deadline(u);
    pthread_mutex_unlock(&p->lock);
    after_change(p, user_id, changed, next);
}

void
presence_synced(struct presence *p, const char *user_id, const char *set_presence, int64_t until_ms)
{
    int64_t now = util_now_ms(), next;
    struct presence_user *u;
    bool changed = false;

    /* SPEC: set_presence=offline: "the client is not marked as being online". */
    if (set_presence && strcmp(set_presence, "offline") == 0)
        return;
    pthread_mutex_lock(&p->lock);
    u = find_user(p, user_id, true);
    if (u->sync_until_ms < until_ms)
        u->sync_until_ms = until_ms;
    if (set_presence && strcmp(set_presence, "unavailable") == 0) {
        changed = strcmp(u->state, "unavailable") != 0;
        u->state = "unavailable";
    } else if (strcmp(u->state, "offline") == 0) {
        /* Syncing brings an offline user online; an idle one stays idle until it acts
         * (Synapse does the same). */
        u->state = "online";
        u->last_active_ms = now;
        changed = true;
    }
    if (changed)
        u->pos = ++p->pos;
    next = deadline(u);
    pthread_mutex_unlock(&p->lock);
    after_change(p, user_id, changed, next);
}

void
presence_active(struct presence *p, const char *user_id)
{
    int64_t now = util_now_ms(), next;
    struct presence_user *u;
    bool changed;

    pthread_mutex_lock(&p->lock);
    u = find_user(p, user_id, true);
    /* As Synapse's activity bump: an idle user is back online; an offline one (not syncing,
     * or a client syncing with set_presence=offline, such as a bot) stays offline, so its
     * every message does not flip it online and wake everyone sharing a room with it. */
    changed = strcmp(u->state, "unavailable") == 0;
    if (changed)
        u->state = "online";
    u->last_active_ms = now;
    if (u->sync_until_ms < now)
        u->sync_until_ms = now;
    if (changed)
        u->pos = ++p->pos;
    next = deadline(u);
    pthread_mutex_unlock(&p->lock);
    after_change(p, user_id, changed, next);
}

int64_t
presence_position(struct presence *p)
{
    int64_t pos;
    pthread_mutex_lock(&p->lock);
    pos = p->pos;
    pthread_mutex_unlock(&p->lock);
    return pos;
}

static json_t *
content_of(const struct presence_user *u, int64_t now)
{
    json_t *c = json_pack("{s:s}", "presence", u->state);
    if (u->last_active_ms > 0) {
        json_object_set_new(c, "last_active_ago", json_integer(now - u->last_active_ms));
        json_object_set_new(c, "currently_active",
                            json_boolean(strcmp(u->state, "online") == 0 &&
                                         now - u->last_active_ms < PRESENCE_ACTIVE_MS));
    }
    if (u->status_msg)
        json_object_set_new(c, "status_msg", json_string(u->status_msg));
    return c;
}

json_t *
presence_get(struct presence *p, const char *user_id)
{
    struct presence_user *u;
    json_t *c = NULL;

    pthread_mutex_lock(&p->lock);
    u = find_user(p, user_id, false);
    if (u)
        c = content_of(u, util_now_ms());
    pthread_mutex_unlock(&p->lock);
    return c;
}

json_t *
presence_changed_since(struct presence *p, int64_t since)
{
    json_t *out = json_object();
    int64_t now = util_now_ms();

    pthread_mutex_lock(&p->lock);
    for (size_t b = 0; b < USER_BUCKETS; b++)
        for (struct presence_user *u = p->buckets[b]; u; u = u->next)
            if (u->pos > since || since < 0)
                json_object_set_new(out, u->user_id, content_of(u, now));
    pthread_mutex_unlock(&p->lock);
    return out;
}
