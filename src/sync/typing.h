/* Typing notifications (modules/typing_notifications.rst): memory only, as Synapse keeps
 * them. Each room has the set of users typing, each with an expiry, and the position of the
 * typing stream at its last change. Expiry runs on a timer, which reports the rooms whose set
 * changed so their members' syncs can be woken. */
#ifndef HEARTH_SYNC_TYPING_H
#define HEARTH_SYNC_TYPING_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct typing;

/* `expired` is called (from the timer thread, no lock held) with each room whose set lost a
 * user to expiry. */
struct typing *typing_new(void (*expired)(void *arg, const char *room_id), void *arg);
void typing_free(struct typing *t);

/* Marks the user typing in the room for timeout_ms, or no longer typing. Returns true if the
 * room's set changed (a new typing position); extending a timeout changes nothing. */
bool typing_set(struct typing *t, const char *room_id, const char *user_id, bool typing,
                int64_t timeout_ms);
/* The stream position: it starts at the clock's milliseconds, so positions from before a
 * restart are older than any given after it. */
int64_t typing_position(struct typing *t);
/* The room's typing users (a new array of strings) if its set changed after position
 * `since`, or for since < 0 if it is not empty; NULL otherwise. */
json_t *typing_room(struct typing *t, const char *room_id, int64_t since);

#endif
