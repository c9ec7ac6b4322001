/* The push service (modules/push.rst): evaluates every event's push rules for the room's
 * members as it is sent (rules compiled once per user and cached), so each notification is
 * stored with its event, then hands the notifications to a delivery thread that posts them to
 * the users' push gateways (push_gateway.rst) through libcurl, off the request path. */
#ifndef HEARTH_PUSH_PUSH_H
#define HEARTH_PUSH_PUSH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store_push_event;
struct push;

/* Starts the delivery thread. server_name: only this server's users are evaluated. */
struct push *push_new(struct store *st, const char *server_name);
/* Stops delivery at once (notifications not yet delivered are dropped: the retry state lives
 * in memory) and frees everything. Logs the evaluation figures. */
void push_free(struct push *p);

/* The user's push rules or ignored users changed: the compiled rules cached for them go. */
void push_user_changed(struct push *p, const char *user_id);

/* The three functions of struct rooms_push_hook (src/rooms/rooms.h), arg being the push. */
void *push_evaluate_event(void *arg, const char *room_id, const char *event_id, const json_t *event,
                          const json_t *state, const struct store_push_event **push);
void push_event_committed(void *arg, void *note, int64_t pos);
void push_event_discard(void *arg, void *note);

#endif
