#include "store/migrations.h"

#include "store/store_search.h" /* server-side search: migration 11 */

const struct migration store_migrations[] = {
    {1, "CREATE TABLE users ("
        "  user_id TEXT PRIMARY KEY,"
        "  password_hash TEXT,"
        "  is_guest INTEGER NOT NULL DEFAULT 0,"
        "  is_admin INTEGER NOT NULL DEFAULT 0,"
        "  deactivated INTEGER NOT NULL DEFAULT 0,"
        "  created_ts BIGINT NOT NULL);"
        "CREATE TABLE devices ("
        "  user_id TEXT NOT NULL,"
        "  device_id TEXT NOT NULL,"
        "  display_name TEXT,"
        "  last_seen_ip TEXT,"
        "  last_seen_ts BIGINT NOT NULL DEFAULT 0,"
        "  created_ts BIGINT NOT NULL,"
        "  PRIMARY KEY (user_id, device_id));"
        "CREATE TABLE access_tokens ("
        "  token_hash TEXT PRIMARY KEY,"
        "  user_id TEXT NOT NULL,"
        "  device_id TEXT NOT NULL,"
        "  created_ts BIGINT NOT NULL);"
        "CREATE INDEX access_tokens_by_device ON access_tokens (user_id, device_id);"
        "CREATE TABLE login_tokens ("
        "  token_hash TEXT PRIMARY KEY,"
        "  user_id TEXT NOT NULL,"
        "  expiry_ts BIGINT NOT NULL);"
        "CREATE TABLE counters ("
        "  name TEXT PRIMARY KEY,"
        "  value BIGINT NOT NULL);"
        "INSERT INTO counters (name, value) VALUES ('localpart', 0);"},
    /* Rooms. Events are stored once as canonical JSON; state is kept as intervals of stream
     * positions: a row is current while to_pos is NULL, so "state at P" is one query and
     * storage grows with state changes, not with events. */
    {2, "CREATE TABLE rooms ("
        "  room_id TEXT PRIMARY KEY,"
        "  room_version TEXT NOT NULL,"
        "  creator TEXT NOT NULL,"
        "  is_public INTEGER NOT NULL DEFAULT 0,"
        "  created_ts BIGINT NOT NULL);"
        "CREATE TABLE events ("
        "  stream_pos BIGINT PRIMARY KEY,"
        "  event_id TEXT NOT NULL UNIQUE,"
        "  room_id TEXT NOT NULL,"
        "  depth BIGINT NOT NULL,"
        "  type TEXT NOT NULL,"
        "  state_key TEXT,"
        "  sender TEXT NOT NULL,"
        "  origin_server_ts BIGINT NOT NULL,"
        "  redacted_by TEXT,"
        "  unsigned_json TEXT,"
        "  json TEXT NOT NULL);"
        "CREATE INDEX events_by_room ON events (room_id, stream_pos);"
        "CREATE TABLE room_state ("
        "  room_id TEXT NOT NULL,"
        "  type TEXT NOT NULL,"
        "  state_key TEXT NOT NULL,"
        "  event_id TEXT NOT NULL,"
        "  membership TEXT,"
        "  from_pos BIGINT NOT NULL,"
        "  to_pos BIGINT);"
        "CREATE UNIQUE INDEX room_state_current ON room_state (room_id, type, state_key)"
        "  WHERE to_pos IS NULL;"
        "CREATE INDEX room_state_history ON room_state (room_id, type, state_key, from_pos);"
        "CREATE INDEX room_state_members ON room_state (state_key, type) WHERE to_pos IS NULL;"
        "CREATE TABLE txns ("
        "  token_hash TEXT NOT NULL,"
        "  txn_key TEXT NOT NULL,"
        "  txn_id TEXT NOT NULL,"
        "  event_id TEXT NOT NULL,"
        "  created_ts BIGINT NOT NULL,"
        "  PRIMARY KEY (token_hash, txn_key));"
        "CREATE INDEX txns_by_event ON txns (event_id);"
        "CREATE TABLE room_aliases ("
        "  alias TEXT PRIMARY KEY,"
        "  room_id TEXT NOT NULL,"
        "  creator TEXT NOT NULL);"
        "CREATE INDEX room_aliases_by_room ON room_aliases (room_id);"
        "CREATE TABLE room_forgotten ("
        "  user_id TEXT NOT NULL,"
        "  room_id TEXT NOT NULL,"
        "  PRIMARY KEY (user_id, room_id));"
        "CREATE TABLE event_reports ("

        "  room_id TEXT NOT NULL,"
        "  event_id TEXT NOT NULL,"
        "  user_id TEXT NOT NULL,"
        "  reason TEXT,"
        "  score BIGINT,"
        "  received_ts BIGINT NOT NULL);"
        "INSERT INTO counters (name, value) VALUES ('stream', 0);"},
    {3, "CREATE TABLE filters ("
        "  user_id TEXT NOT NULL,"
        "  filter_id BIGINT NOT NULL,"
        "  json TEXT NOT NULL,"
        "  PRIMARY KEY (user_id, filter_id));"},
    /* room_id '' is global account data. */
    {4, "CREATE TABLE account_data ("
        "  user_id TEXT NOT NULL,"
        "  room_id TEXT NOT NULL,"
        "  type TEXT NOT NULL,"
        "  content TEXT NOT NULL,"
        "  stream_pos BIGINT NOT NULL,"
        "  PRIMARY KEY (user_id, room_id, type));"
        "CREATE INDEX account_data_by_pos ON account_data (user_id, stream_pos);"
        "INSERT INTO counters (name, value) VALUES ('account_data', 0);"},
    /* Profiles (NULL: not set) and OpenID tokens (SHA-256 hex, as access tokens). Accounts
     * made before this migration have no profile row, which reads as an empty profile. */
    {5, "CREATE TABLE profiles ("
        "  user_id TEXT PRIMARY KEY,"
        "  displayname TEXT,"
        "  avatar_url TEXT);"
        "CREATE TABLE openid_tokens ("
        "  token_hash TEXT PRIMARY KEY,"
        "  user_id TEXT NOT NULL,"
        "  expiry_ts BIGINT NOT NULL);"
        "CREATE INDEX openid_tokens_by_expiry ON openid_tokens (expiry_ts);"},
    /* Receipts: the latest per (room, type, user); event_pos orders them (receipts only move
     * forward), stream_pos is the receipts stream position of the last change. */
    {6, "CREATE TABLE receipts ("
        "  room_id TEXT NOT NULL,"
        "  receipt_type TEXT NOT NULL,"
        "  user_id TEXT NOT NULL,"
        "  event_id TEXT NOT NULL,"
        "  event_pos BIGINT NOT NULL,"
        "  ts BIGINT NOT NULL,"
        "  stream_pos BIGINT NOT NULL,"
        "  PRIMARY KEY (room_id, receipt_type, user_id));"
        "CREATE INDEX receipts_by_room ON receipts (room_id, stream_pos);"
        "INSERT INTO counters (name, value) VALUES ('receipts', 0);"},
    /* The user agent of a device's last connection (admin whois), and each user's server
     * notices room (modules/server_notices.rst: exactly one per user). */
    {7, "ALTER TABLE devices ADD COLUMN last_seen_user_agent TEXT;"
        "CREATE TABLE server_notice_rooms ("
        "  user_id TEXT PRIMARY KEY,"
        "  room_id TEXT NOT NULL);"},
    /* End-to-end encryption (issue 6; store_keys.c): each device's identity keys (the signed
     * object as uploaded, canonical JSON), its unclaimed one-time keys, its to-device inbox
     * (positions of the counter 'to_device'; a message is deleted once the device's sync
     * acknowledges it) and the device-list log: one row per change to a user's devices or
     * keys, at positions of the counter 'device_lists'. The room_state index finds the
     * membership changes of a room after a position (device_lists in /sync). */
    {8, "CREATE TABLE e2e_device_keys ("
        "  user_id TEXT NOT NULL,"
        "  device_id TEXT NOT NULL,"
        "  key_json TEXT NOT NULL,"
        "  PRIMARY KEY (user_id, device_id));"
        "CREATE TABLE e2e_one_time_keys ("
        "  user_id TEXT NOT NULL,"
        "  device_id TEXT NOT NULL,"
        "  algorithm TEXT NOT NULL,"
        "  key_id TEXT NOT NULL,"
        "  key_json TEXT NOT NULL,"
        "  PRIMARY KEY (user_id, device_id, algorithm, key_id));"
        "CREATE TABLE to_device_inbox ("
        "  user_id TEXT NOT NULL,"
        "  device_id TEXT NOT NULL,"
        "  stream_pos BIGINT NOT NULL,"
        "  sender TEXT NOT NULL,"
        "  type TEXT NOT NULL,"
        "  content TEXT NOT NULL,"
        "  PRIMARY KEY (user_id, device_id, stream_pos));"
        "CREATE TABLE device_list_changes ("
        "  stream_pos BIGINT NOT NULL,"
        "  user_id TEXT NOT NULL,"
        "  PRIMARY KEY (stream_pos, user_id));"
        "CREATE INDEX room_state_by_pos ON room_state (room_id, type, from_pos);"
        "INSERT INTO counters (name, value) VALUES ('to_device', 0);"
        "INSERT INTO counters (name, value) VALUES ('device_lists', 0);"},
    /* Content repository (issue 7): local media (the file is stored once per sha256, so
     * identical uploads share it; quarantined_by non-NULL makes the media unavailable), and
     * URL preview results (og: the JSON answer) until expires_ts. */
    {9, "CREATE TABLE local_media ("
        "  media_id TEXT PRIMARY KEY,"
        "  media_type TEXT NOT NULL,"
        "  upload_name TEXT,"
        "  media_length BIGINT NOT NULL,"
        "  sha256 TEXT NOT NULL,"
        "  user_id TEXT,"
        "  created_ts BIGINT NOT NULL,"
        "  quarantined_by TEXT);"
        "CREATE INDEX local_media_by_hash ON local_media (sha256);"
        "CREATE TABLE url_previews ("
        "  url TEXT PRIMARY KEY,"
        "  og TEXT NOT NULL,"
        "  fetched_ts BIGINT NOT NULL,"
        "  expires_ts BIGINT NOT NULL);"},
    /* Push (issue 8): each user's push rule changes as one JSON document; pushers, deleted
     * with their device; one row per notifying event saying whom it notifies (see store.h: a
     * row per notified member would scatter a thousand index writes per message); and the
     * unread counts, kept so that a message costs O(1) rows, not one per member: each room
     * counts the events that notified its members at large (notif_seq, highlight_seq), and
     * each joined member's count is that sequence minus where the member last read it (base)
     * plus what applied to the member alone (extra). read_pos: what they have read (receipt,
     * own event) or their join. Members joined before this migration start at zero. */
    {10, "CREATE TABLE push_rules ("
         "  user_id TEXT PRIMARY KEY,"
         "  doc TEXT NOT NULL);"
         "CREATE TABLE pushers ("
         "  user_id TEXT NOT NULL,"
         "  device_id TEXT,"
         "  kind TEXT NOT NULL,"
         "  app_id TEXT NOT NULL,"
         "  pushkey TEXT NOT NULL,"
         "  app_display_name TEXT NOT NULL,"
         "  device_display_name TEXT NOT NULL,"
         "  profile_tag TEXT,"
         "  lang TEXT NOT NULL,"
         "  data TEXT NOT NULL,"
         "  pushkey_ts BIGINT NOT NULL,"
         "  PRIMARY KEY (app_id, pushkey, user_id));"
         "CREATE INDEX pushers_by_user ON pushers (user_id, device_id);"
         "CREATE TABLE push_events ("
         "  stream_pos BIGINT PRIMARY KEY,"
         "  room_id TEXT NOT NULL,"
         "  sender TEXT NOT NULL,"
         "  actions TEXT,"
         "  highlight INTEGER NOT NULL,"
         "  exceptions TEXT NOT NULL);"
         "CREATE INDEX push_events_by_room ON push_events (room_id, stream_pos);"
         "CREATE TABLE push_rooms ("
         "  room_id TEXT PRIMARY KEY,"
         "  notif_seq BIGINT NOT NULL,"
         "  highlight_seq BIGINT NOT NULL);"
         "CREATE TABLE push_counts ("
         "  room_id TEXT NOT NULL,"
         "  user_id TEXT NOT NULL,"
         "  notif_base BIGINT NOT NULL,"
         "  highlight_base BIGINT NOT NULL,"
         "  notif_extra BIGINT NOT NULL,"
         "  highlight_extra BIGINT NOT NULL,"
         "  read_pos BIGINT NOT NULL,"
         "  PRIMARY KEY (room_id, user_id));"
         "CREATE INDEX push_counts_by_user ON push_counts (user_id);"
         "INSERT INTO push_counts (room_id, user_id, notif_base, highlight_base, notif_extra, "
         "highlight_extra, read_pos) SELECT room_id, state_key, 0, 0, 0, 0, from_pos FROM "
         "room_state WHERE type = 'm.room.member' AND to_pos IS NULL AND membership = 'join';"},
    /* Server-side search (issue 9): the full-text index and its backfill. The SQL is SQLite's
     * (an FTS5 table), kept with the rest of the dialect in store_search.c; PostgreSQL needs
     * its own migration 11 (a tsvector table). */
    {11, st_search_migration_sqlite},
    /* Event stream positions: PostgreSQL hands them out from a sequence (db.h,
     * stream_pos_block_sql); SQLite's single writer counts in memory. */
    {12, ""},
    /* Application services (issue 13): each service's position in the event stream and last
     * transaction ID, its queue of transactions not yet accepted (the JSON body, fixed when
     * queued: SPEC "MUST NOT alter ... events they were going to send within that transaction
     * ID on retries"), and the rooms it lists in its networks' room directories. */
    {13, "CREATE TABLE appservice_state ("
         "  as_id TEXT PRIMARY KEY,"
         "  scanned_pos BIGINT NOT NULL,"
         "  last_txn_id BIGINT NOT NULL);"
         "CREATE TABLE appservice_txns ("
         "  as_id TEXT NOT NULL,"
         "  txn_id BIGINT NOT NULL,"
         "  body TEXT NOT NULL,"
         "  created_ts BIGINT NOT NULL,"
         "  PRIMARY KEY (as_id, txn_id));"
         "CREATE TABLE appservice_room_list ("
         "  as_id TEXT NOT NULL,"
         "  network_id TEXT NOT NULL,"
         "  room_id TEXT NOT NULL,"
         "  PRIMARY KEY (as_id, network_id, room_id));"},
    /* 3PIDs, identity servers, SSO, soft logout (issue 10). Email validation sessions (the
     * token is kept as its SHA-256, like access tokens); the 3PIDs of accounts (one account per
     * address); the identity servers each was bound at, for unbinding later; SSO subjects
     * linked to accounts; and an expiry on access tokens (NULL: none). */
    {14, "CREATE TABLE threepid_sessions ("
         "  session_id TEXT PRIMARY KEY,"
         "  medium TEXT NOT NULL,"
         "  address TEXT NOT NULL,"
         "  client_secret TEXT NOT NULL,"
         "  kind TEXT NOT NULL,"
         "  last_send_attempt BIGINT NOT NULL,"
         "  token_hash TEXT NOT NULL,"
         "  token_expires_ts BIGINT NOT NULL,"
         "  next_link TEXT,"
         "  validated_ts BIGINT,"
         "  created_ts BIGINT NOT NULL);"
         "CREATE INDEX threepid_sessions_by_secret ON threepid_sessions"
         "  (medium, address, client_secret);"
         "CREATE TABLE user_threepids ("
         "  medium TEXT NOT NULL,"
         "  address TEXT NOT NULL,"
         "  user_id TEXT NOT NULL,"
         "  validated_ts BIGINT NOT NULL,"
         "  added_ts BIGINT NOT NULL,"
         "  PRIMARY KEY (medium, address));"
         "CREATE INDEX user_threepids_by_user ON user_threepids (user_id);"
         "CREATE TABLE user_threepid_binds ("
         "  user_id TEXT NOT NULL,"
         "  medium TEXT NOT NULL,"
         "  address TEXT NOT NULL,"
         "  id_server TEXT NOT NULL,"
         "  PRIMARY KEY (user_id, medium, address, id_server));"
         "CREATE TABLE user_external_ids ("
         "  auth_provider TEXT NOT NULL,"
         "  external_id TEXT NOT NULL,"
         "  user_id TEXT NOT NULL,"
         "  PRIMARY KEY (auth_provider, external_id));"
         "CREATE INDEX user_external_ids_by_user ON user_external_ids (user_id);"
         "ALTER TABLE access_tokens ADD COLUMN valid_until_ts BIGINT;"},
    /* Operating Hearth (issue 14): event reports get IDs (the admin API names them; new ones
     * count with the 'event_reports' counter), blocked rooms (no one may join), erased users,
     * media protected from quarantine, and room deletions' results (DELETE /v2/rooms). */
    {15, "ALTER TABLE event_reports ADD COLUMN id BIGINT;"
         "UPDATE event_reports SET id = (SELECT COUNT(*) FROM event_reports b WHERE "
         "  b.received_ts < event_reports.received_ts OR (b.received_ts = "
         "  event_reports.received_ts AND (b.event_id < event_reports.event_id OR "
         "  (b.event_id = event_reports.event_id AND b.user_id <= event_reports.user_id))));"
         "INSERT INTO counters (name, value) SELECT 'event_reports', COUNT(*) FROM event_reports;"
         "CREATE INDEX event_reports_by_id ON event_reports (id);"
         "CREATE TABLE blocked_rooms ("
         "  room_id TEXT PRIMARY KEY,"
         "  user_id TEXT NOT NULL,"
         "  blocked_ts BIGINT NOT NULL);"
         "CREATE TABLE erased_users ("
         "  user_id TEXT PRIMARY KEY);"
         "ALTER TABLE local_media ADD COLUMN safe_from_quarantine INTEGER NOT NULL DEFAULT 0;"
         "CREATE INDEX local_media_by_user ON local_media (user_id, created_ts);"
         "CREATE TABLE room_deletions ("
         "  delete_id TEXT PRIMARY KEY,"
         "  room_id TEXT NOT NULL,"
         "  status TEXT NOT NULL,"
         "  result TEXT,"
         "  created_ts BIGINT NOT NULL);"
         "CREATE INDEX room_deletions_by_room ON room_deletions (room_id);"},
    /* Matrix v1.1 (issue 15): cross-signing keys (the latest of each type per user; key_json
     * canonical, public_key its one ed25519 key), signatures uploaded by users for keys of
     * devices and users (by the signer's key signer_key_id "ed25519:<key>"), key backup
     * versions (numbered per user, never reused: a deleted one stays as a tombstone) and the
     * backed-up room keys of a version. */
    {16, "CREATE TABLE e2e_cross_signing_keys ("
         "  user_id TEXT NOT NULL,"
         "  key_type TEXT NOT NULL,"
         "  public_key TEXT NOT NULL,"
         "  key_json TEXT NOT NULL,"
         "  PRIMARY KEY (user_id, key_type));"
         "CREATE TABLE e2e_cross_signing_sigs ("
         "  signer_user_id TEXT NOT NULL,"
         "  signer_key_id TEXT NOT NULL,"
         "  target_user_id TEXT NOT NULL,"
         "  target_key_id TEXT NOT NULL,"
         "  signature TEXT NOT NULL,"
         "  PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id));"
         "CREATE TABLE e2e_room_keys_versions ("
         "  user_id TEXT NOT NULL,"
         "  version BIGINT NOT NULL,"
         "  algorithm TEXT NOT NULL,"
         "  auth_data TEXT NOT NULL,"
         "  etag BIGINT NOT NULL,"
         "  deleted INTEGER NOT NULL,"
         "  PRIMARY KEY (user_id, version));"
         "CREATE TABLE e2e_room_keys ("
         "  user_id TEXT NOT NULL,"
         "  version BIGINT NOT NULL,"
         "  room_id TEXT NOT NULL,"
         "  session_id TEXT NOT NULL,"
         "  first_message_index BIGINT NOT NULL,"
         "  forwarded_count BIGINT NOT NULL,"
         "  is_verified INTEGER NOT NULL,"
         "  session_data TEXT NOT NULL,"
         "  PRIMARY KEY (user_id, version, room_id, session_id));"},
    /* Speed of the send path (issue 3), SQLite only: a BIGINT PRIMARY KEY is not SQLite's rowid,
     * so events and push_events were each a rowid table plus a separate key index, two B-trees
     * written per row and two searched per lookup; INTEGER PRIMARY KEY makes the position
     * the rowid. txns becomes WITHOUT ROWID (its key is the table). The rows are copied
     * once. PostgreSQL's tables are already keyed so (its variant is empty). */
    {19, "CREATE TABLE events_v19 ("
         "  stream_pos INTEGER PRIMARY KEY,"
         "  event_id TEXT NOT NULL UNIQUE,"
         "  room_id TEXT NOT NULL,"
         "  depth BIGINT NOT NULL,"
         "  type TEXT NOT NULL,"
         "  state_key TEXT,"
         "  sender TEXT NOT NULL,"
         "  origin_server_ts BIGINT NOT NULL,"
         "  redacted_by TEXT,"
         "  unsigned_json TEXT,"
         "  json TEXT NOT NULL);"
         "INSERT INTO events_v19 (stream_pos, event_id, room_id, depth, type, state_key, sender,"
         "  origin_server_ts, redacted_by, unsigned_json, json)"
         "  SELECT stream_pos, event_id, room_id, depth, type, state_key, sender,"
         "    origin_server_ts, redacted_by, unsigned_json, json FROM events ORDER BY stream_pos;"
         "DROP TABLE events;"
         "ALTER TABLE events_v19 RENAME TO events;"
         "CREATE INDEX events_by_room ON events (room_id, stream_pos);"
         "CREATE TABLE push_events_v19 ("
         "  stream_pos INTEGER PRIMARY KEY,"
         "  room_id TEXT NOT NULL,"
         "  sender TEXT NOT NULL,"
         "  actions TEXT,"
         "  highlight INTEGER NOT NULL,"
         "  exceptions TEXT NOT NULL);"
         "INSERT INTO push_events_v19 (stream_pos, room_id, sender, actions, highlight,"
         "  exceptions) SELECT stream_pos, room_id, sender, actions, highlight, exceptions"
         "  FROM push_events ORDER BY stream_pos;"
         "DROP TABLE push_events;"
         "ALTER TABLE push_events_v19 RENAME TO push_events;"
         "CREATE INDEX push_events_by_room ON push_events (room_id, stream_pos);"
         "CREATE TABLE txns_v19 ("
         "  token_hash TEXT NOT NULL,"
         "  txn_key TEXT NOT NULL,"
         "  txn_id TEXT NOT NULL,"
         "  event_id TEXT NOT NULL,"
         "  created_ts BIGINT NOT NULL,"
         "  PRIMARY KEY (token_hash, txn_key)) WITHOUT ROWID;"
         "INSERT INTO txns_v19 (token_hash, txn_key, txn_id, event_id, created_ts)"
         "  SELECT token_hash, txn_key, txn_id, event_id, created_ts FROM txns;"
         "DROP TABLE txns;"
         "ALTER TABLE txns_v19 RENAME TO txns;"
         "CREATE INDEX txns_by_event ON txns (event_id);"},
    /* Deferred search indexing (issue 3, searchdefer): every event stored so far was indexed
     * in its own transaction; later ones are indexed after this mark (store_search.c). */
    {20, "INSERT INTO counters (name, value) SELECT 'search_indexed', "
         "COALESCE(MAX(stream_pos), 0) FROM events;"},
    /* PostgreSQL only: search words cut at punctuation as on SQLite (store_search.c). */
    {21, ""},
};

const size_t store_n_migrations = sizeof(store_migrations) / sizeof(store_migrations[0]);

/* ---- PostgreSQL's variants ---- */
const struct migration store_migrations_pg[] = {
    {11, st_search_migration_pg},
    {12, "CREATE SEQUENCE events_stream_pos;"
         "SELECT setval('events_stream_pos', (SELECT COALESCE(MAX(stream_pos), 0) + 1 "
         "FROM events), false);"},
    {19, ""},
    {21, st_search_words_migration_pg},
};

const size_t store_n_migrations_pg = sizeof(store_migrations_pg) / sizeof(store_migrations_pg[0]);

const char *const store_port_pg_fixups =
    "SELECT setval('events_stream_pos', (SELECT COALESCE(MAX(stream_pos), 0) + 1 FROM events), "
    "false);";
