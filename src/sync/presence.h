/* Presence (modules/presence.rst): memory only. Each user who has synced or set a presence has
 * a state, a status message, the time of their last activity and the time until which a sync
 * of theirs may still be in flight. A timer moves users along:
 *   online -> unavailable after IDLE_MS without activity (sent events, typing, receipts, a
 *   presence set),
 *   online/unavailable -> offline OFFLINE_GRACE_MS after their last sync could have answered
 *   (a sync of timeout T marks the user syncing until now + T + grace).
 * Changes get a new presence stream position and are reported to `changed`. */
#ifndef HEARTH_SYNC_PRESENCE_H
#define HEARTH_SYNC_PRESENCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define PRESENCE_IDLE_MS (5 * 60 * 1000)
#define PRESENCE_OFFLINE_GRACE_MS (30 * 1000)
/* SPEC: currently_active: Synapse's meaning, active within the last minute. */
#define PRESENCE_ACTIVE_MS (60 * 1000)

struct presence;

/* `changed` is called, without locks held, with the user whose presence changed, from the
 * caller's thread or the timer's. */
struct presence *presence_new(void (*changed)(void *arg, const char *user_id), void *arg);
void presence_free(struct presence *p);

/* PUT /presence: "online", "unavailable" or "offline"; status_msg NULL clears it. An explicit
 * set counts as activity. */
void presence_set(struct presence *p, const char *user_id, const char *state,
                  const char *status_msg);
/* A /sync with set_presence (NULL: online) that will have answered by until_ms. */
void presence_synced(struct presence *p, const char *user_id, const char *set_presence,
                     int64_t until_ms);
/* Activity (sending events, typing, receipts): last_active_ago restarts, and an idle
 * ("unavailable") user is back online; an offline user stays offline. */
void presence_active(struct presence *p, const char *user_id);

int64_t presence_position(struct presence *p);
/* The user's presence content {presence, last_active_ago, currently_active, status_msg} (new
 * reference), or NULL if the user has none. */
json_t *presence_get(struct presence *p, const char *user_id);
/* {user_id: content} of the users whose presence changed after `since` (all, for since < 0).
 * New reference. */
json_t *presence_changed_since(struct presence *p, int64_t since);

#endif
