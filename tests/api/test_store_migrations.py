"""Storage migrations that rewrite tables keep every row and every behaviour built on them.

Migration 19 (SQLite only) rebuilds `events` and `push_events` with the stream position as
SQLite's rowid and `txns` WITHOUT ROWID. The test runs a server, writes through the API, puts
the database back into the pre-19 layout (the tables as migrations 1-10 created them, version
19 unrecorded), restarts, and checks that the rows were carried over and the features using
them still work: history, incremental sync from a token taken before, transaction-ID
idempotency, search and notification counts.
"""

import os
import sqlite3

import pytest

import harness

pytestmark = pytest.mark.skipif(
    bool(harness.TEST_PG), reason="migration 19 rewrites SQLite tables only"
)

PRE_19 = """
CREATE TABLE events_old (
  stream_pos BIGINT PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, room_id TEXT NOT NULL,
  depth BIGINT NOT NULL, type TEXT NOT NULL, state_key TEXT, sender TEXT NOT NULL,
  origin_server_ts BIGINT NOT NULL, redacted_by TEXT, unsigned_json TEXT, json TEXT NOT NULL);
INSERT INTO events_old SELECT stream_pos, event_id, room_id, depth, type, state_key, sender,
  origin_server_ts, redacted_by, unsigned_json, json FROM events;
DROP TABLE events;
ALTER TABLE events_old RENAME TO events;
CREATE INDEX events_by_room ON events (room_id, stream_pos);
CREATE TABLE push_events_old (
  stream_pos BIGINT PRIMARY KEY, room_id TEXT NOT NULL, sender TEXT NOT NULL, actions TEXT,
  highlight INTEGER NOT NULL, exceptions TEXT NOT NULL);
INSERT INTO push_events_old SELECT stream_pos, room_id, sender, actions, highlight, exceptions
  FROM push_events;
DROP TABLE push_events;
ALTER TABLE push_events_old RENAME TO push_events;
CREATE INDEX push_events_by_room ON push_events (room_id, stream_pos);
CREATE TABLE txns_old (
  token_hash TEXT NOT NULL, txn_key TEXT NOT NULL, txn_id TEXT NOT NULL,
  event_id TEXT NOT NULL, created_ts BIGINT NOT NULL, PRIMARY KEY (token_hash, txn_key));
INSERT INTO txns_old SELECT token_hash, txn_key, txn_id, event_id, created_ts FROM txns;
DROP TABLE txns;
ALTER TABLE txns_old RENAME TO txns;
CREATE INDEX txns_by_event ON txns (event_id);
DELETE FROM schema_version WHERE version = 19;
"""


def table_sql(db, name):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]


def counts(db):
    with sqlite3.connect(db) as c:
        return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("events", "push_events", "txns")}


def test_migration_19_keeps_rows_and_behaviour(server_factory):
    srv = server_factory()
    a = srv.api().register().api()
    b = srv.api().register().api()
    room = a.post("/createRoom", {"preset": "public_chat"}).expect(200).body["room_id"]
    b.post(f"/rooms/{room}/join", {}).expect(200)
    sent = {}
    for i in range(30):
        r = a.put(f"/rooms/{room}/send/m.room.message/txn{i}",
                  {"msgtype": "m.text", "body": f"migrated message {i}"}).expect(200)
        sent[f"txn{i}"] = r.body["event_id"]
    since = b.get("/sync").expect(200).body["next_batch"]
    notif_before = b.get("/sync").expect(200).body["rooms"]["join"][room][
        "unread_notifications"]["notification_count"]
    assert notif_before == 30
    srv.stop()

    db = os.path.join(srv.data_dir, "homeserver.db")
    before = counts(db)
    with sqlite3.connect(db) as c:
        c.executescript(PRE_19)
    assert "BIGINT PRIMARY KEY" in table_sql(db, "events")
    assert "WITHOUT ROWID" not in table_sql(db, "txns")

    srv.start()
    assert "stream_pos INTEGER PRIMARY KEY" in table_sql(db, "events")
    assert "stream_pos INTEGER PRIMARY KEY" in table_sql(db, "push_events")
    assert "WITHOUT ROWID" in table_sql(db, "txns")
    assert counts(db) == before

    # The same transaction ID answers the event stored before the migration.
    r = a.put(f"/rooms/{room}/send/m.room.message/txn7",
              {"msgtype": "m.text", "body": "migrated message 7"}).expect(200)
    assert r.body["event_id"] == sent["txn7"]
    new_id = a.put(f"/rooms/{room}/send/m.room.message/after",
                   {"msgtype": "m.text", "body": "after the migration"}).expect(200).body[
        "event_id"]

    # A sync token from before the migration gives exactly what came after it.
    inc = b.get("/sync", params={"since": since}).expect(200).body
    ids = [e["event_id"] for e in inc["rooms"]["join"][room]["timeline"]["events"]]
    assert ids == [new_id]
    assert inc["rooms"]["join"][room]["unread_notifications"]["notification_count"] == 31

    # History pages back through the copied rows in order.
    chunk = b.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": 32}).expect(200).body[
        "chunk"]
    bodies = [e["content"].get("body") for e in chunk if e["type"] == "m.room.message"]
    assert bodies == ["after the migration"] + [f"migrated message {i}" for i in range(29, -1, -1)]

    # The search index still points at the right rows.
    res = b.post("/search", {"search_categories": {"room_events": {
        "search_term": "migrated"}}}).expect(200).body["search_categories"]["room_events"]
    assert res["count"] == 30
    assert {x["result"]["event_id"] for x in res["results"]} <= set(sent.values())

    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
