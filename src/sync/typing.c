#include "sync/typing.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "sync/timer.h"

#define ROOM_BUCKETS 256

struct typist {
    char *user_id;
    int64_t expires_ms;
};

struct typing_room {
    struct typing_room *next;
    char *room_id;
    int64_t pos; /* the typing position of the last change */
    struct typist *users;
    size_t n, cap;
};

struct typing {
    pthread_mutex_t lock;
    int64_t pos;
    struct typing_room *buckets[ROOM_BUCKETS];
    struct timer *timer;
    void (*expired)(void *arg, const char *room_id);
    void *arg;
};

static size_t
room_hash(const char *s)
{
    size_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h % ROOM_BUCKETS;
}

static struct typing_room *
find_room(struct typing *t, const char *room_id, bool create)
{
    size_t b = room_hash(room_id);
    struct typing_room *room;

    for (room = t->buckets[b]; room; room = room->next)
        if (strcmp(room->room_id, room_id) == 0)
            return room;
    if (!create)
        return NULL;
    room = xcalloc(1, sizeof(*room));
    room->room_id = xstrdup(room_id);
    room->next = t->buckets[b];
    t->buckets[b] = room;
    return room;
}

static void
drop_user(struct typing_room *room, size_t i)
{
    free(room->users[i].user_id);
    room->users[i] = room->users[--room->n];
}

/* Timer: drops expired typists; reports their rooms once the lock is released. */
static int64_t
expire(void *arg, int64_t now)
{
    struct typing *t = arg;
    int64_t next = INT64_MAX;
    char **changed = NULL;
    size_t nchanged = 0;

    pthread_mutex_lock(&t->lock);
    for (size_t b = 0; b < ROOM_BUCKETS; b++) {
        for (struct typing_room *room = t->buckets[b]; room; room = room->next) {
            bool gone = false;
            for (size_t i = room->n; i-- > 0;) {
                if (room->users[i].expires_ms <= now) {
                    drop_user(room, i);
                    gone = true;
                } else if (room->users[i].expires_ms < next) {
                    next = room->users[i].expires_ms;
                }
            }
            if (gone) {
                room->pos = ++t->pos;
                changed = xrealloc(changed, (nchanged + 1) * sizeof(*changed));
                changed[nchanged++] = xstrdup(room->room_id);
            }
        }
    }
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; i < nchanged; i++) {
        t->expired(t->arg, changed[i]);
        free(changed[i]);
    }
    free(changed);
    return next;
}

struct typing *
typing_new(void (*expired)(void *arg, const char *room_id), void *arg)
{
    struct typing *t = xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    t->pos = util_now_ms();
    t->expired = expired;
    t->arg = arg;
    t->timer = timer_new(expire, t);
    return t;
}

void
typing_free(struct typing *t)
{
    if (!t)
        return;
    timer_free(t->timer);
    for (size_t b = 0; b < ROOM_BUCKETS; b++) {
        struct typing_room *room = t->buckets[b], *next;
        for (; room; room = next) {
            next = room->next;
            for (size_t i = 0; i < room->n; i++)
                free(room->users[i].user_id);
            free(room->users);
            free(room->room_id);
            free(room);
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

bool
typing_set(struct typing *t, const char *room_id, const char *user_id, bool typing,
           int64_t timeout_ms)
{
    int64_t expires = util_now_ms() + timeout_ms;
    struct typing_room *room;
    bool changed = false;
    size_t i;

    pthread_mutex_lock(&t->lock);
    room = find_room(t, room_id, typing);
    if (!room)
        goto out;
    for (i = 0; i < room->n; i++)
        if (strcmp(room->users[i].user_id, user_id) == 0)
            break;
    if (typing && i < room->n) {
        room->users[i].expires_ms = expires;
    } else if (typing) {
        if (room->n == room->cap) {
            room->cap = room->cap ? room->cap * 2 : 4;
            room->users = xrealloc(room->users, room->cap * sizeof(*room->users));
        }
        room->users[room->n++] = (struct typist){xstrdup(user_id), expires};
        changed = true;
    } else if (i < room->n) {
        drop_user(room, i);
        changed = true;
    }
    if (changed)
        room->pos = ++t->pos;
out:
    pthread_mutex_unlock(&t->lock);
    if (typing)
        timer_at(t->timer, expires);
    return changed;
}

int64_t
typing_position(struct typing *t)
{
    int64_t pos;
    pthread_mutex_lock(&t->lock);
    pos = t->pos;
    pthread_mutex_unlock(&t->lock);
    return pos;
}

json_t *
typing_room(struct typing *t, const char *room_id, int64_t since)
{
    struct typing_room *room;
    json_t *users = NULL;

    pthread_mutex_lock(&t->lock);
    room = find_room(t, room_id, false);
    if (room && (since < 0 ? room->n > 0 : room->pos > since)) {
        users = json_array();
        for (size_t i = 0; i < room->n; i++)
            json_array_append_new(users, json_string(room->users[i].user_id));
    }
    pthread_mutex_unlock(&t->lock);
    return users;
}
