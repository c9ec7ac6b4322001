/* Authorization rules (rooms/v1.rst .. v6.rst "Authorization rules"), one small function per
 * rule step, each tagged with the sentence it implements. Pure: state comes in through a
 * lookup callback, nothing is read from storage. */
#ifndef HEARTH_ROOM_AUTH_H
#define HEARTH_ROOM_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "room/version.h"

/* Current state as the auth rules see it: returns the full event (borrowed) for (type,
 * state_key), or NULL. */
struct auth_state {
    const json_t *(*get)(void *ctx, const char *type, const char *state_key);
    void *ctx;
    /* Optional: the event (borrowed) with this ID, or NULL. Given, auth rules 2 and 3 check
     * ev's auth_events themselves (no duplicate (type, state_key), only keys the selection
     * picks, an m.room.create among them); NULL, the caller vouches that auth_events came
     * from auth_events_keys over the same state, and rule 3 needs m.room.create in it. */
    const json_t *(*get_event)(void *ctx, const char *event_id);
};

/* Checks `ev` (the full event, its auth state given by `state`) against the rules of `v`.
 * Returns true if allowed; otherwise false with a human-readable reason naming the rule
 * (for the M_FORBIDDEN message). Third-party invites: the signed token check is done here
 * too (rule 5.c.ii of v1: the public keys in m.room.third_party_invite). */
bool auth_check(const struct room_version *v, const json_t *ev, const struct auth_state *state,
                char *reason, size_t reasonlen);

/* Rooms v3+ accept every redaction the power levels let through and leave the rest to the
 * server: true if `redaction` may be applied to `original` (same sender domain, or the
 * redaction's sender has the redact level in `state`). For clients, the API layer still
 * requires the same sender (not merely the same domain) below the redact level. */
bool auth_redaction_may_apply(const struct room_version *v, const json_t *redaction,
                              const json_t *original, const struct auth_state *state);

/* The state keys the auth events of `ev` are chosen from (server_server_api.rst "Auth events
 * selection"): m.room.create, m.room.power_levels, the sender's m.room.member, and for
 * membership events the target's member, m.room.join_rules (join/invite), and the
 * third-party invite by token. Fills up to `cap` (type, state_key) pairs (borrowed strings
 * into ev or static); returns the count. */
struct auth_key {
    const char *type;
    const char *state_key;
};
size_t auth_events_keys(const json_t *ev, struct auth_key *out, size_t cap);

/* True if some ed25519 signature in `signed_obj` (a third-party invite's signed block)
 * verifies with `b64key`, a public key of m.room.third_party_invite (unpadded base64, either
 * alphabet; NULL: false). */
bool auth_signed_by(const json_t *signed_obj, const char *b64key);

/* ---- power levels (client_server_api.rst "m.room.power_levels" defaults) ---- */

/* The effective power level of `user_id` given the room's power levels event content
 * (may be NULL: then the creator has 100 and everyone else 0, per the spec's defaults). */
int64_t pl_user_level(const json_t *pl_content, const json_t *create_event, const char *user_id);
/* The level needed to send an event of `type` (state or not). */
int64_t pl_event_level(const json_t *pl_content, const char *type, bool is_state);
/* The level for an action key: "invite" (0: Synapse's default, which the spec later adopted;
 * r0.6.1 says 50), "kick", "ban", "redact" (50), "state_default" (50, or 0 without a PL
 * event), "events_default" (0), "users_default" (0); and "notifications.room" (50).
 * Values may be integers or, as Synapse reads v1-5 rooms, integer strings ("50"); an
 * unreadable value gives the default. */
int64_t pl_action_level(const json_t *pl_content, const char *action);

#endif
