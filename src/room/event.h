/* Building and checking room events: content hashes, reference hashes, event IDs, ed25519
 * signatures (server_server_api.rst "Signing Events", appendices/signing_json.rst). Pure. */
#ifndef HEARTH_ROOM_EVENT_H
#define HEARTH_ROOM_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/signing_key.h"
#include "room/version.h"

/* SPEC: client_server_api "Size limits": the whole PDU as canonical JSON. r0.6.1 writes 65535;
 * Synapse and the later spec text allow 65536, as here. */
#define EVENT_MAX_BYTES 65536
/* SPEC: sender, room_id, state_key, type, event_id are at most 255 bytes each. */
#define EVENT_MAX_FIELD 255

/* Completes `ev` in place for a room of version `v` and returns its event ID (new string), or
 * NULL with a reason if it cannot be an event (too large, non-canonical values, a field over
 * its limit). `ev` must already hold room_id, sender, type, content, origin_server_ts, depth,
 * prev_events, auth_events (and state_key for state events), in the format of `v`:
 * v1/v2 use [["$id", {"sha256": "..."}], ...] pairs, v3+ plain ID lists; the caller converts
 * with event_refs_for_version. This adds `hashes` (content hash), `signatures` (server_name,
 * key) and, for v1/v2, `event_id` (a random opaque part). */
char *event_finish(json_t *ev, const struct room_version *v, const char *server_name,
                   const struct signing_key *key, char *reason, size_t reasonlen);

/* Why event_finish_checked refused, so the API edge can choose the errcode. */
enum event_error {
    EVENT_OK,
    EVENT_INVALID,   /* a required field missing or of the wrong type: M_BAD_JSON / 500 */
    EVENT_BAD_JSON,  /* not expressible as canonical JSON for v (floats in v6, int range) */
    EVENT_TOO_LARGE, /* over EVENT_MAX_BYTES or a field over EVENT_MAX_FIELD: M_TOO_LARGE */
};

/* event_finish, also telling which kind of failure (`err` may be NULL). It also adds `origin`
 * (server_name) when absent, replaces any existing hashes/signatures, and refuses a v3+
 * event that carries an `event_id` key (it would change the reference hash). */
char *event_finish_checked(json_t *ev, const struct room_version *v, const char *server_name,
                           const struct signing_key *key, enum event_error *err, char *reason,
                           size_t reasonlen);

/* event_finish_checked, also giving the event's canonical JSON text (new string) in *text
 * (`text` may be NULL). */
char *event_finish_text(json_t *ev, const struct room_version *v, const char *server_name,
                        const struct signing_key *key, enum event_error *err, char *reason,
                        size_t reasonlen, char **text);

/* event_finish_text in two halves, so the signature (the costly part) can be made outside a
 * room's lock: event_prepare does every check (the final size counts the signature's fixed
 * length), adds hashes (and a v1/v2 event_id), returns the event ID and gives the bytes to
 * sign (new string) in *signing. event_seal signs them into `ev` and returns the canonical
 * JSON text (new string, NULL only on allocation failure). */
char *event_prepare(json_t *ev, const struct room_version *v, const char *server_name,
                    const struct signing_key *key, enum event_error *err, char *reason,
                    size_t reasonlen, char **signing, size_t *signing_len);
char *event_seal(json_t *ev, const struct room_version *v, const char *server_name,
                 const struct signing_key *key, const char *signing, size_t signing_len,
                 size_t *text_len);

/* The spec's hash_and_sign_event alone: sets `hashes` to the content hash and adds
 * signatures.<server_name>.<key_id> over the redacted event; checks and adds nothing else.
 * 0, or -1 if ev cannot be written as canonical JSON for v. */
int event_hash_and_sign(json_t *ev, const struct room_version *v, const char *server_name,
                        const struct signing_key *key);

/* The content hash (SHA-256 of the event without unsigned, signatures, hashes) as unpadded
 * standard base64. New string, or NULL if not canonical-JSON expressible. */
char *event_content_hash(const json_t *ev, const struct room_version *v);

/* The event ID of a complete event: v1/v2 its `event_id` field, v3+ computed from the
 * reference hash. Returns a new string, or NULL if it cannot be computed. */
char *event_id_of(const json_t *ev, const struct room_version *v);

/* The reference hash (SHA-256 of the redacted event without signatures, unsigned, age_ts),
 * as unpadded URL-safe base64 if urlsafe, else standard. New string. */
char *event_reference_hash(const json_t *ev, const struct room_version *v, bool urlsafe);

/* Builds the prev_events / auth_events value for version v from event IDs and their content
 * hashes (`hashes[i]` is the event's "hashes" object; may be NULL for v3+). New reference. */
json_t *event_refs_for_version(const struct room_version *v, const char *const *ids,
                               const json_t *const *hashes, size_t n);

/* Verifies the content hash and the signature of `server_name` with public key `pk`.
 * Returns true if both hold. */
bool event_verify(const json_t *ev, const struct room_version *v, const char *server_name,
                  const char *key_id, const unsigned char pk[32]);

/* Signs any JSON object in place (appendices/signing_json.rst "Signing JSON"): adds
 * signatures.<server_name>.<key_id>; ignores existing signatures and unsigned. 0 on success. */
int json_sign(json_t *obj, const char *server_name, const struct signing_key *key);

/* Checks signatures.<server_name>.<key_id> of obj with public key pk (appendices/signing_json
 * "Checking for a Signature"; base64 of either alphabet accepted). Borrows obj. */
bool json_verify(const json_t *obj, const char *server_name, const char *key_id,
                 const unsigned char pk[32]);

/* The client format of a stored event (client_server_api.rst "Room Events"): the keys a client
 * sees: content, event_id, origin_server_ts, room_id, sender, type, state_key, unsigned
 * (and redacts for m.room.redaction). New reference; `unsigned` is a copy, the other values
 * are shared with ev (copy before changing them). event_id NULL: ev's own `event_id`. */
json_t *event_client_format(const json_t *ev, const char *event_id);

#endif
