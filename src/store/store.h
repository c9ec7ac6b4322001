/* Storage: operations per domain. Callers never see SQL or which database is behind. */
#ifndef HEARTH_STORE_STORE_H
#define HEARTH_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct store;

enum store_rc {
    STORE_OK = 0,
    STORE_NOT_FOUND,
    STORE_EXISTS,
    STORE_ERR,
};

/* Opens the database named by the config and applies pending migrations. */
enum store_rc store_open(const struct config *cfg, struct store **out);
void store_close(struct store *st);
/* hearth port-db: copies the SQLite database at sqlite_path into the empty PostgreSQL database
 * named by a libpq conninfo or URI, checks the copy, and prints a summary. 0 on success; on
 * failure the target is left as it was (one transaction) and the reason is on stderr. */
int store_port_db(const char *sqlite_path, const char *pg_conninfo);

/* ---- accounts ---- */
struct store_user {
    char *user_id;
    char *password_hash; /* NULL when the account has no password (guests) */
    bool is_guest, is_admin, deactivated;
    int64_t created_ts;
};
void store_user_clear(struct store_user *u);

/* STORE_EXISTS when the user ID is taken (deactivated accounts keep theirs). */
enum store_rc store_user_create(struct store *st, const char *user_id, const char *password_hash,
                                bool is_guest, bool is_admin, int64_t now);
/* Fills *out (owned by the caller, free with store_user_clear). */
enum store_rc store_user_get(struct store *st, const char *user_id, struct store_user *out);
enum store_rc store_user_set_password(struct store *st, const char *user_id, const char *hash);
/* Marks the account deactivated and deletes its devices and tokens, in one transaction. The
 * password hash stays, so a login with the right password can be told M_USER_DEACTIVATED. */
enum store_rc store_user_deactivate(struct store *st, const char *user_id);
/* Returns a number never returned before, for generated localparts. */
enum store_rc store_next_localpart_number(struct store *st, int64_t *out);

/* ---- devices and access tokens ---- */
struct store_device {
    char *device_id;
    char *display_name;         /* may be NULL */
    char *last_seen_ip;         /* may be NULL */
    char *last_seen_user_agent; /* may be NULL */
    int64_t last_seen_ts;       /* 0 when never seen */
};
void store_device_clear(struct store_device *d);
void store_device_list_free(struct store_device *list, size_t n);

/* Creates the device if missing (display_name only applies then), replaces any access tokens
 * of that device with token_hash, and records ip/user_agent/now as last seen (user_agent may
 * be NULL). One transaction. */
enum store_rc store_device_login(struct store *st, const char *user_id, const char *device_id,
                                 const char *display_name, const char *token_hash, const char *ip,
                                 const char *user_agent, int64_t now);
/* The same with an expiry for the new token (valid_until_ts 0: none); after it the token
 * answers soft_logout (issue 10). */
enum store_rc store_device_login_until(struct store *st, const char *user_id, const char *device_id,
                                       const char *display_name, const char *token_hash,
                                       const char *ip, const char *user_agent, int64_t now,
                                       int64_t valid_until_ts);
enum store_rc store_device_list(struct store *st, const char *user_id, struct store_device **out,
                                size_t *n);
enum store_rc store_device_get(struct store *st, const char *user_id, const char *device_id,
                               struct store_device *out);
/* STORE_NOT_FOUND if the device does not exist. */
enum store_rc store_device_set_display_name(struct store *st, const char *user_id,
                                            const char *device_id, const char *name);
/* Deletes the device and its tokens; STORE_NOT_FOUND if it did not exist. */
enum store_rc store_device_delete(struct store *st, const char *user_id, const char *device_id);
/* Deletes every device (and token) of the user but `keep` (NULL: all). */
enum store_rc store_device_delete_all_except(struct store *st, const char *user_id,
                                             const char *keep);
enum store_rc store_device_touch(struct store *st, const char *user_id, const char *device_id,
                                 const char *ip, const char *user_agent, int64_t now);

struct store_auth {
    char *user_id;
    char *device_id;
    bool is_guest;
    char *last_seen_ip;
    char *last_seen_user_agent;
    int64_t last_seen_ts;
    int64_t valid_until_ts; /* 0: the token does not expire (soft logout, issue 10) */
};
void store_auth_clear(struct store_auth *a);
/* Looks up an access token by the SHA-256 hex of the token. */
enum store_rc store_token_lookup(struct store *st, const char *token_hash, struct store_auth *out);

/* Short-lived single-use login tokens (m.login.token). add also drops those that expired a day
 * before the new one's expiry. */
enum store_rc store_login_token_add(struct store *st, const char *token_hash, const char *user_id,
                                    int64_t expiry_ts);
/* Deletes the token and returns its user (new string) if it had not expired. */
enum store_rc store_login_token_consume(struct store *st, const char *token_hash, int64_t now,
                                        char **user_id);

/* ---- rooms and events (store_rooms.c) ---- */

/* One event to persist. Strings are borrowed. */
struct store_event_row {
    const char *event_id;
    const char *type;
    const char *state_key; /* NULL for non-state events */
    const char *sender;
    const char *membership;    /* content.membership of m.room.member, else NULL */
    const char *redacts;       /* m.room.redaction: the event it redacts, else NULL */
    const char *json;          /* canonical JSON of the full event */
    const char *unsigned_json; /* fixed unsigned data known at write time (prev_content,
                                  replaces_state, prev_sender), or NULL */
    int64_t depth;
    int64_t origin_server_ts;
    /* Push (issue 8): whom this event notifies (NULL: nobody), stored in the same
     * transaction. */
    const struct store_push_event *push;
};

/* A stored event. Strings are owned (free with store_event_clear). */
struct store_event {
    char *event_id;
    char *room_id;
    char *type;
    char *state_key; /* NULL for non-state events */
    char *sender;
    char *json;
    char *redacted_by; /* the redaction's event ID, or NULL */
    char *unsigned_json;
    int64_t pos;
    int64_t depth;
};
void store_event_clear(struct store_event *e);
void store_event_list_free(struct store_event *list, size_t n);

/* Persists events of one room in one transaction: stream positions are assigned in order
 * (the first is returned in *first_pos), state intervals updated, redaction targets marked.
 * With new_room_version non-NULL the room row is created first (creator = first sender). */
enum store_rc store_events_persist(struct store *st, const char *room_id,
                                   const char *new_room_version, const struct store_event_row *rows,
                                   size_t n, int64_t *first_pos);

/* The same, in two halves, so a caller can release its own locks while the commit (shared
 * with other writers) happens. The rows and strings must stay valid until the wait returns.
 * With txn fields non-NULL the client's transaction ID is recorded for the last event in the
 * same transaction. */
struct store_pending;
struct store_txn_ref {
    const char *token_hash;
    const char *txn_key;
    const char *txn_id;
};
struct store_pending *store_events_submit(struct store *st, const char *room_id,
                                          const char *new_room_version,
                                          const struct store_event_row *rows, size_t n,
                                          const struct store_txn_ref *txn);
/* store_events_submit for rows whose json is not written yet: the commit keeps their place
 * in the order but waits for store_pending_release, so the caller can finish them (sign)
 * after releasing its own locks. Release exactly once (ok=false fails the write), before
 * store_pending_wait and without writing to the store in between. */
struct store_pending *store_events_submit_held(struct store *st, const char *room_id,
                                               const struct store_event_row *rows, size_t n,
                                               const struct store_txn_ref *txn);
void store_pending_release(struct store *st, struct store_pending *p, bool ok);
/* Releases a held submission (or waits for one not held) without waiting in this thread:
 * true if it was committed (or failed) already; otherwise suspend(arg) has run, and done(arg)
 * runs on the writer's side once it is. Then store_pending_finish gives its outcome and
 * frees p. */
bool store_pending_release_async(struct store *st, struct store_pending *p, bool ok,
                                 void (*suspend)(void *), void (*done)(void *), void *arg);
enum store_rc store_pending_finish(struct store *st, struct store_pending *p, int64_t *first_pos);
/* Waits for the commit and frees p. */
enum store_rc store_pending_wait(struct store *st, struct store_pending *p, int64_t *first_pos);

/* The room's version and creator (new strings); STORE_NOT_FOUND for an unknown room. */
enum store_rc store_room_get(struct store *st, const char *room_id, char **version, char **creator);
enum store_rc store_event_get(struct store *st, const char *event_id, struct store_event *out);
/* The room's latest event (highest position), for prev_events and depth. */
enum store_rc store_room_last_event(struct store *st, const char *room_id, struct store_event *out);
/* State of the room after position pos (INT64_MAX: current state). */
enum store_rc store_room_state_at(struct store *st, const char *room_id, int64_t pos,
                                  struct store_event **out, size_t *n);
/* The same without m.room.member events (lazy-loading members fetches those one by one). */
enum store_rc store_room_state_at_nonmembers(struct store *st, const char *room_id, int64_t pos,
                                             struct store_event **out, size_t *n);
/* The state event (type, state_key) in force at position pos, in one query. */
enum store_rc store_state_full_event_at(struct store *st, const char *room_id, const char *type,
                                        const char *state_key, int64_t pos,
                                        struct store_event *out);
/* sync speed (issue 4): the m.room.member events of `users` in force at position pos, a
 * query per STORE_MEMBERS_BATCH users; users without one are left out. Free with
 * store_event_list_free. */
#define STORE_MEMBERS_BATCH 16
enum store_rc store_state_members_at(struct store *st, const char *room_id,
                                     const char *const *users, size_t n, int64_t pos,
                                     struct store_event **out, size_t *nout);
/* The event ID of the state (type, state_key) in force at position pos (new string). */
enum store_rc store_state_event_at(struct store *st, const char *room_id, const char *type,
                                   const char *state_key, int64_t pos, char **event_id);
/* Events of a room strictly after `from` up to `to` inclusive going forwards, or strictly
 * before `from` down to `to` exclusive going backwards; at most limit. */
enum store_rc store_room_events(struct store *st, const char *room_id, int64_t from, int64_t to,
                                bool backwards, size_t limit, struct store_event **out, size_t *n);
/* The history of one state key in a room: intervals [from_pos, to_pos) (to_pos INT64_MAX when
 * current) with the event at each; for visibility checks. */
struct store_state_interval {
    char *event_id;
    char *membership; /* for m.room.member */
    int64_t from_pos, to_pos;
};
void store_state_intervals_free(struct store_state_interval *list, size_t n);
enum store_rc store_state_history(struct store *st, const char *room_id, const char *type,
                                  const char *state_key, struct store_state_interval **out,
                                  size_t *n);
/* Rooms where the user's current membership is `membership`. New array of new strings. */
enum store_rc store_user_rooms(struct store *st, const char *user_id, const char *membership,
                               char ***room_ids, size_t *n);
void store_strings_free(char **list, size_t n);
/* The highest stream position so far. */
enum store_rc store_stream_position(struct store *st, int64_t *pos);

/* Transaction IDs, scoped to one access token; txn_key says which request (room, kind) the
 * client's txn_id belongs to. */
enum store_rc store_txn_get(struct store *st, const char *token_hash, const char *txn_key,
                            char **event_id);
enum store_rc store_txn_put(struct store *st, const char *token_hash, const char *txn_key,
                            const char *txn_id, const char *event_id);
/* The client's txn_id for an event sent with this token, for unsigned.transaction_id. */
enum store_rc store_txn_of_event(struct store *st, const char *token_hash, const char *event_id,
                                 char **txn_id);
/* Forgotten rooms: a join clears the mark. */
enum store_rc store_room_is_forgotten(struct store *st, const char *user_id, const char *room_id,
                                      bool *forgotten);

/* Room aliases. */
enum store_rc store_alias_put(struct store *st, const char *alias, const char *room_id,
                              const char *creator);
enum store_rc store_alias_get(struct store *st, const char *alias, char **room_id, char **creator);
enum store_rc store_alias_delete(struct store *st, const char *alias);
enum store_rc store_room_aliases(struct store *st, const char *room_id, char ***aliases, size_t *n);

/* Server notices: the user's notices room (new string), STORE_NOT_FOUND if none yet. */
enum store_rc store_server_notice_room_get(struct store *st, const char *user_id, char **room_id);
/* Records (or replaces) the user's notices room. */
enum store_rc store_server_notice_room_put(struct store *st, const char *user_id,
                                           const char *room_id);

/* Room directory. */
enum store_rc store_room_set_public(struct store *st, const char *room_id, bool is_public);
enum store_rc store_room_is_public(struct store *st, const char *room_id, bool *is_public);
enum store_rc store_public_rooms(struct store *st, char ***room_ids, size_t *n);

/* Account data (room_id "" for global). put stores content at a new account_data stream
 * position (returned in *pos). */
enum store_rc store_account_data_put(struct store *st, const char *user_id, const char *room_id,
                                     const char *type, const char *content, int64_t *pos);
enum store_rc store_account_data_get(struct store *st, const char *user_id, const char *room_id,
                                     const char *type, char **content);
struct store_account_data {
    char *room_id;
    char *type;
    char *content;
};
/* The user's account data changed after position since (all of it for since < 0). */
enum store_rc store_account_data_since(struct store *st, const char *user_id, int64_t since,
                                       struct store_account_data **out, size_t *n);
void store_account_data_free(struct store_account_data *list, size_t n);
/* The current value of a stream counter ("stream", "account_data", ...). */
enum store_rc store_counter(struct store *st, const char *name, int64_t *value);

/* Sync filters: ids are per user, counting from 0. */
enum store_rc store_filter_put(struct store *st, const char *user_id, const char *json,
                               int64_t *filter_id);
enum store_rc store_filter_get(struct store *st, const char *user_id, int64_t filter_id,
                               char **json);
/* The user's current memberships that changed after position `since`: parallel arrays of
 * room IDs, memberships and the positions they took effect. */
struct store_membership {
    char *room_id;
    char *membership;
    int64_t pos;
};
enum store_rc store_user_membership_changes(struct store *st, const char *user_id, int64_t since,
                                            struct store_membership **out, size_t *n);
void store_memberships_free(struct store_membership *list, size_t n);
enum store_rc store_room_forget(struct store *st, const char *user_id, const char *room_id);
enum store_rc store_report_add(struct store *st, const char *room_id, const char *event_id,
                               const char *user_id, const char *reason, int64_t score,
                               bool has_score);
/* Points every alias of from_room at to_room (room upgrades); their creators stay. */
enum store_rc store_aliases_move(struct store *st, const char *from_room, const char *to_room);

/* ---- profiles, user directory (helper A; store_profile.c) ---- */
/* A profile's fields; NULL when not set. Owned (free with store_profile_clear). */
struct store_profile {
    char *displayname;
    char *avatar_url;
};
void store_profile_clear(struct store_profile *p);
/* The profile of a local account; STORE_NOT_FOUND if there is no such account (an account
 * without a profile row has an empty profile). Deactivated accounts keep theirs. */
enum store_rc store_profile_get(struct store *st, const char *user_id, struct store_profile *out);
/* Sets one field (NULL clears it); the account must exist (STORE_NOT_FOUND otherwise). */
enum store_rc store_profile_set_displayname(struct store *st, const char *user_id,
                                            const char *displayname);
enum store_rc store_profile_set_avatar_url(struct store *st, const char *user_id,
                                           const char *avatar_url);
/* A new account's profile: its localpart as display name (Synapse does this, and clients
 * such as matrix-nio expect a name), unless it has a profile already. */
enum store_rc store_profile_init(struct store *st, const char *user_id);

/* User directory: accounts (not deactivated) whose user ID or display name contains term,
 * case-insensitively, among those who share a room with searcher or are joined to a room with
 * join rule "public" (or among all accounts when all_users). Prefix matches first, then
 * accounts with a display name. At most limit entries; *limited says whether there were more.
 * New array (free with store_directory_free). */
struct store_directory_entry {
    char *user_id;
    char *displayname; /* may be NULL */
    char *avatar_url;  /* may be NULL */
};
enum store_rc store_user_directory_search(struct store *st, const char *searcher, const char *term,
                                          bool all_users, size_t limit,
                                          struct store_directory_entry **out, size_t *n,
                                          bool *limited);
void store_directory_free(struct store_directory_entry *list, size_t n);

/* OpenID tokens (SHA-256 hex of the token). add also drops expired tokens. */
enum store_rc store_openid_token_add(struct store *st, const char *token_hash, const char *user_id,
                                     int64_t expiry_ts, int64_t now);
/* The token's user (new string), or STORE_NOT_FOUND when unknown or expired. */
enum store_rc store_openid_token_lookup(struct store *st, const char *token_hash, int64_t now,
                                        char **user_id);
/* ---- (end of helper A) ---- */

/* ---- receipts, presence, typing positions (helper B; store_ephemeral.c) ---- */
/* Receipts: the latest of each (room, type, user). put records one for an event at stream
 * position event_pos, at a new receipts position (*pos; the counter "receipts"), or answers
 * STORE_EXISTS and keeps the old one when that is for the same or a later event. */
enum store_rc store_receipt_put(struct store *st, const char *room_id, const char *user_id,
                                const char *type, const char *event_id, int64_t event_pos,
                                int64_t ts, int64_t *pos);
struct store_receipt {
    char *room_id;
    char *user_id;
    char *type;
    char *event_id;
    int64_t ts;
};
void store_receipts_free(struct store_receipt *list, size_t n);
/* Receipts at positions in (since, upto] in the rooms the user has joined. */
enum store_rc store_receipts_for_user(struct store *st, const char *user_id, int64_t since,
                                      int64_t upto, struct store_receipt **out, size_t *n);
/* Every receipt of the room up to position upto. */
enum store_rc store_receipts_in_room(struct store *st, const char *room_id, int64_t upto,
                                     struct store_receipt **out, size_t *n);
/* ---- (end of helper B) ---- */

/* ---- content repository (issue 7; store_media.c) ---- */
/* A local media item. Strings owned (free with store_media_clear). */
struct store_media {
    char *media_id;
    char *media_type;
    char *upload_name; /* NULL when none was given */
    int64_t length;
    char *sha256;  /* hex of the content: names the file in the media store */
    char *user_id; /* the uploader; NULL for media the server fetched (URL previews) */
    int64_t created_ts;
    char *quarantined_by;      /* NULL unless quarantined */
    bool safe_from_quarantine; /* protected by an admin (issue 14) */
};
void store_media_clear(struct store_media *m);
/* Records new media (borrows m); STORE_EXISTS if the media ID is taken. */
enum store_rc store_media_add(struct store *st, const struct store_media *m);
enum store_rc store_media_get(struct store *st, const char *media_id, struct store_media *out);
/* Quarantines the media and every other local media with the same content (by: who did it),
 * or lifts that with by NULL. STORE_NOT_FOUND for unknown media. */
enum store_rc store_media_quarantine(struct store *st, const char *media_id, const char *by);
/* A cached URL preview (new string of JSON) not expired at now; STORE_NOT_FOUND otherwise. */
enum store_rc store_url_preview_get(struct store *st, const char *url, int64_t now, char **og);
enum store_rc store_url_preview_put(struct store *st, const char *url, const char *og,
                                    int64_t fetched_ts, int64_t expires_ts);
/* ---- (end of content repository) ---- */
/* ---- end-to-end encryption: keys, to-device messages, device lists (issue 6; store_keys.c) ----
 * Deleting devices (store_device_delete*, store_user_deactivate) also deletes their keys and
 * inboxes and logs a device-list change in the same transaction; so does a login that creates
 * a device. */
struct store_otk {
    const char *algorithm, *key_id; /* "<algorithm>:<key_id>" as uploaded */
    const char *key_json;           /* canonical JSON of the key (a string or an object) */
};
/* One upload of a device's keys, in one transaction. Strings are borrowed. */
struct store_keys_upload {
    const char *user_id, *device_id;
    const char *device_keys; /* canonical JSON of the signed device keys, or NULL */
    const struct store_otk *otks;
    size_t n_otks;
    bool device_keys_changed; /* out: new or different device keys (a device-list change) */
    char *conflict;           /* out (owned): "<algorithm>:<key_id>" held with other content */
};
/* STORE_EXISTS (nothing stored, u->conflict set) when a one-time key ID is already held with
 * different content; the same content again is accepted. */
enum store_rc store_keys_upload(struct store *st, struct store_keys_upload *u);
struct store_otk_count {
    char *algorithm;
    int64_t count;
};
/* The device's unclaimed one-time keys per algorithm. New array. */
enum store_rc store_otk_counts(struct store *st, const char *user_id, const char *device_id,
                               struct store_otk_count **out, size_t *n);
void store_otk_counts_free(struct store_otk_count *list, size_t n);
struct store_device_keys {
    char *device_id;
    char *key_json;
    char *display_name; /* may be NULL */
};
/* The devices of a user that have uploaded identity keys, with their display names. */
enum store_rc store_device_keys_list(struct store *st, const char *user_id,
                                     struct store_device_keys **out, size_t *n);
void store_device_keys_free(struct store_device_keys *list, size_t n);
/* Claims: for each, one one-time key of (user, device, algorithm) is taken and deleted (the
 * lowest key ID), all in one transaction, so no key is handed out twice. key_id and key_json
 * are set (owned) for those that found one, else left NULL. */
struct store_claim {
    const char *user_id, *device_id, *algorithm;
    char *key_id, *key_json;
};
enum store_rc store_otks_claim(struct store *st, struct store_claim *claims, size_t n);
void store_claims_clear(struct store_claim *claims, size_t n);

/* Send-to-device: one message per (user, device); device "*" is every device of the user at
 * the time. Unknown users and devices get nothing. With txn_key non-NULL, a second call with
 * the same (token_hash, txn_key) stores nothing and sets *replayed. *pos: the position the
 * messages got. */
struct store_to_device_msg {
    const char *user_id, *device_id, *content;
};
struct store_to_device_send {
    const char *sender, *type;
    const struct store_to_device_msg *msgs;
    size_t n;
    const char *token_hash, *txn_key, *txn_id;
    int64_t now;
    bool replayed; /* out */
    int64_t pos;   /* out */
};
enum store_rc store_to_device_send(struct store *st, struct store_to_device_send *s);
struct store_to_device {
    int64_t pos;
    char *sender, *type, *content;
};
/* The device's messages at positions in (after, upto], oldest first, at most limit. */
enum store_rc store_to_device_pending(struct store *st, const char *user_id, const char *device_id,
                                      int64_t after, int64_t upto, size_t limit,
                                      struct store_to_device **out, size_t *n);
void store_to_device_free(struct store_to_device *list, size_t n);
/* Deletes the device's messages at positions <= upto (delivered and acknowledged). */
enum store_rc store_to_device_ack(struct store *st, const char *user_id, const char *device_id,
                                  int64_t upto);
/* What a sync needs first, in one read: the to-device and device-list positions and the
 * device's oldest waiting message (*inbox_min, or -1 when its inbox is empty). */
struct store_e2e_heads {
    int64_t to_device, device_lists, inbox_min;
};
enum store_rc store_e2e_heads(struct store *st, const char *user_id, const char *device_id,
                              struct store_e2e_heads *out);

/* Logs a change to the user's device list (e.g. a device renamed). */
enum store_rc store_device_list_changed(struct store *st, const char *user_id);
/* Users whose device lists changed at positions in (since, upto] among user_id and those
 * sharing a joined room with user_id. New array of new strings (store_strings_free). */
enum store_rc store_device_list_changes(struct store *st, const char *user_id, int64_t since,
                                        int64_t upto, char ***users, size_t *n);
/* The m.room.member changes of a room at event positions in (since, upto]: who, the
 * membership, whether it is still current, and whether that user was joined at `since`. */
struct store_member_change {
    char *user_id;
    char *membership;
    bool current, joined_before;
};
enum store_rc store_room_member_changes(struct store *st, const char *room_id, int64_t since,
                                        int64_t upto, struct store_member_change **out, size_t *n);
void store_member_changes_free(struct store_member_change *list, size_t n);
/* ---- (end of end-to-end encryption) ---- */
/* ---- server-side search (issue 9; store_search.c) ---- */
/* The keys that can be searched, as a bit set. */
enum store_search_key {
    STORE_SEARCH_BODY = 1,  /* content.body of m.room.message */
    STORE_SEARCH_NAME = 2,  /* content.name of m.room.name */
    STORE_SEARCH_TOPIC = 4, /* content.topic of m.room.topic */
};
#define STORE_SEARCH_ALL_KEYS (STORE_SEARCH_BODY | STORE_SEARCH_NAME | STORE_SEARCH_TOPIC)
/* The events of a room at stream positions in (after_pos, upto_pos]. Strings borrowed. */
struct store_search_range {
    const char *room_id;
    int64_t after_pos, upto_pos;
};
struct store_search_query {
    const char *term; /* as the user typed it; the language is in store_search.h */
    unsigned keys;    /* STORE_SEARCH_* */
    const struct store_search_range *ranges;
    size_t n_ranges;
    bool by_rank;       /* best match first (newest first among equals); else newest first */
    int64_t skip;       /* by_rank: leave out the first `skip` hits (earlier pages) */
    int64_t before_pos; /* newest first: only hits at positions below this */
    size_t max;         /* at most this many hits */
};
struct store_search_hit {
    const char *room_id; /* borrowed from the query's ranges */
    int64_t pos;
    double rank; /* higher is a better match */
};
/* Searches the events of the query's ranges (encrypted and redacted events are not indexed).
 * *out is a new array (free()); *count is the number of hits in all the ranges, whatever
 * skip, before_pos and max say. */
enum store_rc store_search_events(struct store *st, const struct store_search_query *q,
                                  struct store_search_hit **out, size_t *n, int64_t *count);
/* The words of these hits that the query matched, as they are written there (no
 * duplicates). New array of new strings (store_strings_free). */
enum store_rc store_search_highlights(struct store *st, const struct store_search_query *q,
                                      const struct store_search_hit *hits, size_t n, char ***words,
                                      size_t *nwords);
/* Deferred indexing (issue 3, send speed): events are indexed after their send, in batches.
 * store_search_catch_up indexes every event committed before the call, in write jobs of a
 * batch each (at most max_jobs of them unless 0; *current, if not NULL, says whether it got
 * there); it returns at once when the index is current. A search calls it first, so it sees
 * every send answered before it. */
enum store_rc store_search_catch_up(struct store *st, size_t max_jobs, bool *current);
/* What history visibility needs, for every room where the user has or had a membership of
 * any kind (joined, left, invited, banned), in three queries whatever the number of rooms:
 * the user's m.room.member intervals (value: the membership), the rooms'
 * m.room.history_visibility intervals (value: the event's JSON; redacted: whether it was),
 * and the rooms the user forgot. Rows come grouped by room, in order of position; to_pos is
 * INT64_MAX while current. New arrays (store_history_rows_free, store_strings_free). */
struct store_history_row {
    char *room_id;
    char *value;
    bool redacted;
    int64_t from_pos, to_pos;
};
enum store_rc store_user_room_histories(struct store *st, const char *user_id,
                                        struct store_history_row **members, size_t *nmembers,
                                        struct store_history_row **visibility, size_t *nvisibility,
                                        char ***forgotten, size_t *nforgotten);
void store_history_rows_free(struct store_history_row *rows, size_t n);
/* The event at a stream position (free with store_event_clear). */
enum store_rc store_event_at(struct store *st, int64_t pos, struct store_event *out);
/* ---- (end of server-side search) ---- */
/* ---- application services (issue 13; store_appservice.c) ---- */
/* A service's position in the event stream (events up to it are queued or of no interest) and
 * its last transaction ID; STORE_NOT_FOUND for a service never seen. */
enum store_rc store_appservice_state_get(struct store *st, const char *as_id, int64_t *scanned_pos,
                                         int64_t *last_txn_id);
enum store_rc store_appservice_state_put(struct store *st, const char *as_id, int64_t scanned_pos,
                                         int64_t last_txn_id);
/* Queues transaction txn_id (body: its JSON text) and moves the service to scanned_pos with
 * last_txn_id txn_id, in one transaction. */
enum store_rc store_appservice_txn_enqueue(struct store *st, const char *as_id, int64_t txn_id,
                                           const char *body, int64_t scanned_pos);
/* The oldest queued transaction (*body a new string); STORE_NOT_FOUND when none. */
enum store_rc store_appservice_txn_first(struct store *st, const char *as_id, int64_t *txn_id,
                                         char **body);
enum store_rc store_appservice_txn_delete(struct store *st, const char *as_id, int64_t txn_id);
/* Events of every room at positions in (after, upto], in stream order, at most limit. */
enum store_rc store_appservice_events(struct store *st, int64_t after, int64_t upto, size_t limit,
                                      struct store_event **out, size_t *n);
/* The users joined to the room after the event at position pos (new array of new strings). */
enum store_rc store_appservice_joined_at(struct store *st, const char *room_id, int64_t pos,
                                         char ***user_ids, size_t *n);
/* appservice_room_directory.yaml: lists (or unlists) a room in a service's network. */
enum store_rc store_appservice_room_list_set(struct store *st, const char *as_id,
                                             const char *network_id, const char *room_id,
                                             bool listed);
/* Rooms listed by that service in that network; both NULL: in any. New array of new strings. */
enum store_rc store_appservice_room_list(struct store *st, const char *as_id,
                                         const char *network_id, char ***room_ids, size_t *n);
/* ---- (end of application services) ---- */
/* ---- 3PIDs, identity server binds, SSO subjects (issue 10; store_threepid.c) ---- */
/* An email validation session (requestToken). Strings owned (store_3pid_session_clear). */
struct store_3pid_session {
    char *session_id;
    char *medium;
    char *address;
    char *client_secret;
    char *kind; /* "register", "password", "add": which mail and link were sent */
    char *token_hash;
    char *next_link; /* may be NULL */
    int64_t last_send_attempt;
    int64_t token_expires_ts;
    int64_t validated_ts; /* 0 while not validated */
    int64_t created_ts;
};
void store_3pid_session_clear(struct store_3pid_session *s);
/* The not yet validated session for (medium, address, client_secret), if any. */
enum store_rc store_3pid_session_find_open(struct store *st, const char *medium,
                                           const char *address, const char *client_secret,
                                           struct store_3pid_session *out);
enum store_rc store_3pid_session_get(struct store *st, const char *session_id,
                                     struct store_3pid_session *out);
/* Inserts the session, or updates the one with its session_id; drops sessions over a day
 * old. */
enum store_rc store_3pid_session_put(struct store *st, const struct store_3pid_session *s);
/* Marks it validated at now unless it already is; STORE_NOT_FOUND for an unknown session. */
enum store_rc store_3pid_session_validate(struct store *st, const char *session_id, int64_t now);
enum store_rc store_3pid_session_delete(struct store *st, const char *session_id);

/* The 3PIDs of accounts: one account per (medium, address). */
struct store_threepid {
    char *medium;
    char *address;
    int64_t validated_ts;
    int64_t added_ts;
};
void store_threepids_free(struct store_threepid *list, size_t n);
/* STORE_EXISTS when another (or the same) account has it. */
enum store_rc store_threepid_add(struct store *st, const char *user_id, const char *medium,
                                 const char *address, int64_t validated_ts, int64_t now);
/* The account that has the 3PID (new string), or STORE_NOT_FOUND. */
enum store_rc store_threepid_owner(struct store *st, const char *medium, const char *address,
                                   char **user_id);
enum store_rc store_threepid_list(struct store *st, const char *user_id,
                                  struct store_threepid **out, size_t *n);
/* STORE_NOT_FOUND when the account does not have it. Its identity server binds stay. */
enum store_rc store_threepid_remove(struct store *st, const char *user_id, const char *medium,
                                    const char *address);
/* Removes every 3PID of the account (deactivation). */
enum store_rc store_threepid_remove_all(struct store *st, const char *user_id);

/* Identity servers a 3PID of the user was bound at (POST /account/3pid/bind). */
struct store_threepid_bind {
    char *medium;
    char *address;
    char *id_server;
};
void store_threepid_binds_free(struct store_threepid_bind *list, size_t n);
enum store_rc store_threepid_bind_add(struct store *st, const char *user_id, const char *medium,
                                      const char *address, const char *id_server);
/* The user's binds; medium and address NULL: all of them. */
enum store_rc store_threepid_binds(struct store *st, const char *user_id, const char *medium,
                                   const char *address, struct store_threepid_bind **out,
                                   size_t *n);
enum store_rc store_threepid_bind_remove(struct store *st, const char *user_id, const char *medium,
                                         const char *address, const char *id_server);

/* SSO: (provider, subject) -> account. */
enum store_rc store_external_id_get(struct store *st, const char *provider, const char *external_id,
                                    char **user_id);
/* STORE_EXISTS when the subject is linked already. */
enum store_rc store_external_id_add(struct store *st, const char *provider, const char *external_id,
                                    const char *user_id);
/* The providers the account is linked with (new array of new strings). */
enum store_rc store_external_id_providers(struct store *st, const char *user_id, char ***providers,
                                          size_t *n);
/* ---- (end of issue 10) ---- */

/* ---- Matrix v1.1: cross-signing and key backup (issue 15; store_cross_signing.c) ---- */
/* A user's cross-signing key of one type ("master", "self_signing", "user_signing"). */
struct store_xsign_key {
    char *key_type, *public_key, *key_json;
};
enum store_rc store_xsign_keys_get(struct store *st, const char *user_id,
                                   struct store_xsign_key **out, size_t *n);
void store_xsign_keys_free(struct store_xsign_key *list, size_t n);
/* Replaces the given keys (key_json canonical; NULL: keep) in one transaction and logs a
 * device-list change for the user. */
struct store_xsign_put {
    const char *key_type, *public_key, *key_json;
};
enum store_rc store_xsign_keys_put(struct store *st, const char *user_id,
                                   const struct store_xsign_put *keys, size_t n);
/* A signature by signer's key signer_key_id over target user's key target_key_id (a device
 * ID or a cross-signing public key). */
struct store_xsign_sig {
    char *signer_user_id, *signer_key_id, *target_user_id, *target_key_id, *signature;
};
/* Stores the signatures (strings borrowed) and logs a device-list change for each user of
 * changed[] in one transaction. */
enum store_rc store_xsign_sigs_add(struct store *st, const struct store_xsign_sig *sigs, size_t n,
                                   const char *const *changed, size_t n_changed);
/* The signatures on target_user's keys made by target_user or by viewer. */
enum store_rc store_xsign_sigs_get(struct store *st, const char *target_user_id, const char *viewer,
                                   struct store_xsign_sig **out, size_t *n);
void store_xsign_sigs_free(struct store_xsign_sig *list, size_t n);

/* A key backup version. */
struct store_backup {
    int64_t version;
    char *algorithm, *auth_data;
    int64_t etag, count;
};
void store_backup_clear(struct store_backup *b);
enum store_rc store_backup_create(struct store *st, const char *user_id, const char *algorithm,
                                  const char *auth_data, int64_t *version);
/* version < 0: the latest. STORE_NOT_FOUND for none, unknown or deleted; with deleted
 * non-NULL, *deleted tells a deleted version (then STORE_NOT_FOUND too). */
enum store_rc store_backup_get(struct store *st, const char *user_id, int64_t version,
                               struct store_backup *out, bool *deleted);
/* STORE_NOT_FOUND for an unknown or deleted version. */
enum store_rc store_backup_update(struct store *st, const char *user_id, int64_t version,
                                  const char *auth_data);
/* Deletes the version and its keys; STORE_NOT_FOUND if it never existed. */
enum store_rc store_backup_delete(struct store *st, const char *user_id, int64_t version);
struct store_room_key {
    const char *room_id, *session_id;
    int64_t first_message_index, forwarded_count;
    bool is_verified;
    const char *session_data; /* canonical JSON */
};
/* Adds keys to the version, keeping the better of an existing and a new key (SPEC rules);
 * the etag moves on when something changed. STORE_NOT_FOUND: unknown or deleted version;
 * STORE_EXISTS: not the latest version (*current: the latest, or -1 if none). */
enum store_rc store_backup_keys_put(struct store *st, const char *user_id, int64_t version,
                                    const struct store_room_key *keys, size_t n, int64_t *current);
struct store_room_key_row {
    char *room_id, *session_id, *session_data;
    int64_t first_message_index, forwarded_count;
    bool is_verified;
};
/* room_id/session_id NULL: all. */
enum store_rc store_backup_keys_get(struct store *st, const char *user_id, int64_t version,
                                    const char *room_id, const char *session_id,
                                    struct store_room_key_row **out, size_t *n);
void store_backup_keys_free(struct store_room_key_row *list, size_t n);
enum store_rc store_backup_keys_delete(struct store *st, const char *user_id, int64_t version,
                                       const char *room_id, const char *session_id);
/* ---- (end of cross-signing and key backup) ---- */
/* ---- push rules, pushers, notifications (issue 8; store_push.c) ---- */
/* Whom an event notifies (modules/push.rst), compactly: the actions (JSON array text) every
 * joined member but the sender got, and the members who got something else. Stored once per
 * event rather than once per member, and counted into the members' unread counts in a few
 * statements whatever the room's size. Strings are borrowed. */
struct store_push_exception {
    const char *user_id;
    const char *actions; /* NULL: not notified */
    bool highlight;
};
struct store_push_event {
    const char *actions; /* NULL: only the exceptions are notified */
    bool highlight;
    const struct store_push_exception *exceptions;
    size_t nexceptions;
    const char *exceptions_json; /* the same as {user_id: [actions or null, 0 or 1]} */
};
/* The user's own push rule changes (a JSON document, see src/push/rules.h) as a new string;
 * STORE_NOT_FOUND when the user never changed a rule. */
enum store_rc store_push_rules_get(struct store *st, const char *user_id, char **doc);
/* Read-modify-write of that document in one write job: edit gets the stored document (NULL if
 * none) and returns STORE_OK with the new document and the content of the user's m.push_rules
 * account data (new strings, taken), or another code to change nothing (passed back). The
 * account data gets a new position (*pos) in the same transaction, so /sync carries it. edit
 * runs in the writer's thread and must not touch the store. */
typedef enum store_rc (*store_push_edit_fn)(void *ctx, const char *old_doc, char **new_doc,
                                            char **account_data);
enum store_rc store_push_rules_edit(struct store *st, const char *user_id, store_push_edit_fn edit,
                                    void *ctx, int64_t *pos);

/* Pushers (pusher.yaml), keyed by (app_id, pushkey, user_id). Strings owned in lists. */
struct store_pusher {
    char *user_id;
    char *device_id; /* the device of the access token that set it; deleted with it */
    char *kind;      /* "http" or "email" */
    char *app_id;
    char *pushkey;
    char *app_display_name;
    char *device_display_name;
    char *profile_tag; /* may be NULL */
    char *lang;
    char *data; /* JSON object text */
    int64_t pushkey_ts;
};
void store_pushers_free(struct store_pusher *list, size_t n);
/* Creates or updates the pusher (strings borrowed); without append, the pushers of other users
 * with the same app_id and pushkey are removed in the same transaction. */
enum store_rc store_pusher_set(struct store *st, const struct store_pusher *p, bool append);
/* Removes one pusher (no error when there is none). */
enum store_rc store_pusher_delete(struct store *st, const char *user_id, const char *app_id,
                                  const char *pushkey);
/* The user's pushers, or everyone's with user_id NULL. */
enum store_rc store_pushers_list(struct store *st, const char *user_id, struct store_pusher **out,
                                 size_t *n);
/* Changes whenever a pusher may have been added or removed (pushers go with their device). */
uint64_t store_pushers_generation(struct store *st);

/* Unread notifications of a joined room: those after the user's m.read receipt and after the
 * user's own last event there (modules/push.rst: "by using the API or by sending an event"). */
enum store_rc store_push_counts(struct store *st, const char *user_id, const char *room_id,
                                int64_t *notifications, int64_t *highlights);
/* The same over every room the user has joined (the push gateway's counts.unread). */
enum store_rc store_push_unread_total(struct store *st, const char *user_id, int64_t *count);
/* The user's notifications before position `before` (INT64_MAX: the latest), newest first, at
 * most limit, only highlights with only_highlight. *next is where the next page starts, 0 when
 * there is nothing older (a page may end early after scanning many events that did not notify
 * the user). */
struct store_notification {
    struct store_event event;
    char *actions; /* JSON array text */
    bool highlight;
    bool read;
    int64_t ts;
};
enum store_rc store_notifications(struct store *st, const char *user_id, int64_t before,
                                  bool only_highlight, size_t limit,
                                  struct store_notification **out, size_t *n, int64_t *next);
void store_notifications_free(struct store_notification *list, size_t n);
/* ---- (end of push) ---- */
/* ---- Synapse's admin API and the offline admin commands (issue 14; store_admin.c) ---- */
/* An account as the admin API shows it. Strings owned (store_admin_user_clear). */
struct store_admin_user {
    char *user_id;
    char *displayname; /* NULL when not set */
    char *avatar_url;  /* NULL when not set */
    bool is_guest, is_admin, deactivated, erased;
    int64_t created_ts;
};
void store_admin_user_clear(struct store_admin_user *u);
void store_admin_users_free(struct store_admin_user *list, size_t n);
struct store_admin_user_query {
    const char *user_id;  /* substring of the user ID (case-insensitive), or NULL */
    const char *name;     /* substring of the user ID or the display name, or NULL */
    bool guests;          /* include guests */
    bool deactivated;     /* include deactivated accounts */
    const char *order_by; /* one of Synapse's order_by values (NULL: "name") */
    bool backwards;
    int64_t from, limit;
};
/* Is order_by one of Synapse's values for the user list? */
bool store_admin_user_order_ok(const char *order_by);
/* One page of accounts and the count of all that match. New array. */
enum store_rc store_admin_users_list(struct store *st, const struct store_admin_user_query *q,
                                     struct store_admin_user **out, size_t *n, int64_t *total);
enum store_rc store_admin_user_get(struct store *st, const char *user_id,
                                   struct store_admin_user *out);
enum store_rc store_user_set_admin(struct store *st, const char *user_id, bool admin);
/* Clears the deactivated and erased marks (STORE_NOT_FOUND: no such account). */
enum store_rc store_user_reactivate(struct store *st, const char *user_id);
/* Marks the account erased and clears its profile (GDPR erasure, as Synapse). */
enum store_rc store_user_erase(struct store *st, const char *user_id);
/* The account's SSO links (admin API external_ids). Strings owned. */
struct store_external_id {
    char *auth_provider, *external_id;
};
void store_external_ids_free(struct store_external_id *list, size_t n);
enum store_rc store_admin_external_ids(struct store *st, const char *user_id,
                                       struct store_external_id **out, size_t *n);
/* Replaces the account's SSO links by list (strings borrowed), in one transaction. */
enum store_rc store_admin_external_ids_set(struct store *st, const char *user_id,
                                           const struct store_external_id *list, size_t n);
/* Was the account erased? (*out false for unknown accounts.) Cheap when nobody was. */
enum store_rc store_user_is_erased(struct store *st, const char *user_id, bool *out);
/* Local media: a user's uploads, one page (order_by as Synapse's; NULL: created_ts). */
bool store_admin_media_order_ok(const char *order_by);
enum store_rc store_media_list_user(struct store *st, const char *user_id, int64_t from,
                                    int64_t limit, const char *order_by, bool backwards,
                                    struct store_media **out, size_t *n, int64_t *total);
void store_media_list_free(struct store_media *list, size_t n);
/* Every media ID the user uploaded. New array of new strings (store_strings_free). */
enum store_rc store_media_user_ids(struct store *st, const char *user_id, char ***ids, size_t *n);
/* Media created before before_ts, larger than size_gt bytes, not protected (and, with
 * keep_profiles, not anyone's avatar). New array of new strings. */
enum store_rc store_media_old(struct store *st, int64_t before_ts, int64_t size_gt,
                              bool keep_profiles, char ***ids, size_t *n);
/* Deletes the media's row; *sha256 (new string) names its content and *last_copy says no
 * other media shares it (so the file may go). */
enum store_rc store_media_delete(struct store *st, const char *media_id, char **sha256,
                                 bool *last_copy);
enum store_rc store_media_set_protected(struct store *st, const char *media_id, bool protect);
/* Rooms, for the admin room list. */
struct store_admin_room {
    char *room_id, *version, *creator;
    bool is_public;
    int64_t created_ts;
};
enum store_rc store_admin_rooms(struct store *st, struct store_admin_room **out, size_t *n);
void store_admin_rooms_free(struct store_admin_room *list, size_t n);
/* Removes the room, its events, state, aliases, receipts, room account data and reports
 * (STORE_NOT_FOUND: no such room). The caller drops the room's cache. */
enum store_rc store_room_purge(struct store *st, const char *room_id);
/* Blocked rooms: nobody may join. blocked answers STORE_NOT_FOUND when not blocked, else the
 * admin who blocked it in *by (new string; by may be NULL). */
enum store_rc store_room_block(struct store *st, const char *room_id, const char *by, bool block,
                               int64_t now);
enum store_rc store_room_blocked(struct store *st, const char *room_id, char **by);
/* Results of DELETE /_synapse/admin/v2/rooms (result: JSON text or NULL). */
struct store_room_deletion {
    char *delete_id, *room_id, *status, *result;
};
enum store_rc store_room_deletion_put(struct store *st, const char *delete_id, const char *room_id,
                                      const char *status, const char *result, int64_t now);
/* Those of the room, or the one with that ID (either may be NULL). New array. */
enum store_rc store_room_deletions(struct store *st, const char *room_id, const char *delete_id,
                                   struct store_room_deletion **out, size_t *n);
void store_room_deletions_free(struct store_room_deletion *list, size_t n);
/* Event reports (report_content.yaml), with the reported event's sender (NULL if gone). */
struct store_report {
    int64_t id;
    char *room_id, *event_id, *user_id, *reason, *sender;
    int64_t score;
    bool has_score;
    int64_t received_ts;
};
void store_report_clear(struct store_report *r);
void store_reports_free(struct store_report *list, size_t n);
/* One page; user_id and room_id (NULL: any) filter by substring. */
enum store_rc store_reports_list(struct store *st, int64_t from, int64_t limit, bool backwards,
                                 const char *user_id, const char *room_id,
                                 struct store_report **out, size_t *n, int64_t *total);
enum store_rc store_report_get(struct store *st, int64_t id, struct store_report *out);
enum store_rc store_report_delete(struct store *st, int64_t id);
/* hearth backup: a consistent copy of the SQLite database at dest, taken with SQLite's online
 * backup API while the server may be running. 0, or -1 with the reason on stderr. */
int store_backup_sqlite(const char *src_path, const char *dest_path);
/* Media use per uploader (statistics for synapse-admin). order_by: user_id, displayname,
 * media_length (default), media_count; term filters user ID or display name. */
struct store_media_usage {
    char *user_id, *displayname;
    int64_t media_count, media_length;
};
bool store_media_usage_order_ok(const char *order_by);
enum store_rc store_media_usage(struct store *st, int64_t from, int64_t limit, const char *order_by,
                                bool backwards, const char *term, struct store_media_usage **out,
                                size_t *n, int64_t *total);
void store_media_usage_free(struct store_media_usage *list, size_t n);
/* The JSON of every event of the room, oldest first (new strings; store_strings_free). */
enum store_rc store_room_event_jsons(struct store *st, const char *room_id, char ***jsons,
                                     size_t *n);
/* Transactions queued for each application service and not yet accepted (the metrics'
 * hearth_appservice_queue_length). New array. */
struct store_queue_count {
    char *id;
    int64_t count;
};
enum store_rc store_appservice_queues(struct store *st, struct store_queue_count **out, size_t *n);
void store_queue_counts_free(struct store_queue_count *list, size_t n);
/* ---- (end of issue 14) ---- */

#endif
