/* What the evaluation (push.c) hands to delivery (delivery.c). Not for other callers. */
#ifndef HEARTH_PUSH_PUSH_INTERNAL_H
#define HEARTH_PUSH_PUSH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* A user an event notifies, with what the matching rule said. */
struct push_target {
    const char *user_id;
    const char *actions; /* JSON array text */
    bool highlight;
};

/* One event and the users it notifies. Every string is owned by the note. */
struct push_note {
    struct push_note *next;
    char *room_id, *event_id, *type, *sender;
    char *state_key;             /* state events only */
    char *membership;            /* m.room.member only */
    char *sender_name;           /* the sender's display name in the room, or NULL */
    char *room_name;             /* m.room.name, or NULL */
    char *room_alias;            /* m.room.canonical_alias, or NULL */
    char *content;               /* the event's content as JSON text */
    int64_t pos;                 /* stream position, once committed */
    struct push_target *targets; /* the users notified */
    size_t n;
    struct store_push_event stored; /* what the store keeps */
    struct store_push_exception *exceptions;
    char *exceptions_json;
    char **users; /* every user string above */
    size_t nusers;
    char **actions; /* the distinct action texts */
    size_t nactions;
};

void push_note_free(struct push_note *note);

struct push_delivery;
struct push_delivery *push_delivery_new(struct store *st);
/* Takes the note (committed). Never blocks on the network. */
void push_delivery_enqueue(struct push_delivery *d, struct push_note *note);
/* Stops the thread, aborting transfers in flight, and frees everything. */
void push_delivery_free(struct push_delivery *d);

#endif
