"""Crash safety (issue 12): many clients send messages, state, receipts, to-device messages and
one-time keys while the server is killed with SIGKILL at random moments and restarted, again
and again. Afterwards every write that was answered 200 is there exactly once, sync tokens from
before each crash still work, and (SQLite) the database passes PRAGMA integrity_check.

HEARTH_CRASH_KILLS sets the number of kills (make test: 8 per engine; make crash: 100). With
HEARTH_TEST_PG the server runs on PostgreSQL (make test runs this file on both engines)."""

import os
import random
import secrets
import signal
import sqlite3
import threading
import time

import pytest
import requests

import harness
from harness import HearthServer, quote

KILLS = int(os.environ.get("HEARTH_CRASH_KILLS", "8"))
WORKERS = 6
SEED = int(os.environ.get("HEARTH_CRASH_SEED", str(random.randrange(1 << 30))))


class Down(Exception):
    """The server did not answer (killed, restarting)."""


def call(fn, *args, **kw):
    try:
        r = fn(*args, **kw)
    except requests.RequestException as e:
        raise Down(repr(e))
    if r.status >= 500 or r.status == 0:
        raise Down(repr(r))
    return r


class Ledger:
    """What the server acknowledged (a 200), per kind."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = {}   # body -> event_id
        self.state = {}      # state_key -> (value, event_id), the last acknowledged
        self.receipts = {}   # user_id -> event_id of the last acknowledged m.read
        self.to_device = set()  # message ids
        self.otks = {}       # user_id -> set of key ids
        self.otks_maybe = {} # user_id -> keys in uploads whose answer was lost
        self.unanswered = 0  # requests whose answer was lost (retried with the same txnId)
        self.errors = []     # anything but a 200 or a dead server


def worker(srv, user, peer, room, ledger, stop, rng):
    try:
        work(srv, user, peer, room, ledger, stop, rng)
    except Exception as e:  # noqa: BLE001 - any other failure fails the test
        with ledger.lock:
            ledger.errors.append(repr(e))
        stop.set()


def work(srv, user, peer, room, ledger, stop, rng):
    api = srv.api("v3", token=user.access_token)
    n = 0
    pending = None  # a send whose answer was lost: retried with the same txnId
    while not stop.is_set():
        n += 1
        try:
            if pending:
                kind, txn, body = pending
                r = call(api.put, "/rooms/%s/send/m.room.message/%s" % (quote(room), txn),
                         {"msgtype": "m.text", "body": body})
                r.expect(200)
                with ledger.lock:
                    assert ledger.messages.get(body, r.body["event_id"]) == r.body["event_id"]
                    ledger.messages[body] = r.body["event_id"]
                pending = None
                continue
            op = rng.choice(("msg", "msg", "msg", "state", "receipt", "todevice", "otk"))
            if op == "msg":
                txn = "c%s" % secrets.token_hex(8)
                body = "%s %d %s" % (user.user_id, n, txn)
                pending = ("msg", txn, body)
                r = call(api.put, "/rooms/%s/send/m.room.message/%s" % (quote(room), txn),
                         {"msgtype": "m.text", "body": body})
                r.expect(200)
                with ledger.lock:
                    ledger.messages[body] = r.body["event_id"]
                pending = None
            elif op == "state":
                key = "k-%s-%d" % (user.localpart, rng.randrange(3))
                value = secrets.token_hex(6)
                try:
                    r = call(api.put, "/rooms/%s/state/org.hearth.crash/%s" % (quote(room), quote(key)),
                             {"v": value})
                except Down:
                    with ledger.lock:  # may or may not have landed: either value is fine later
                        ledger.state.setdefault(key + "#maybe", set()).add(value)
                    raise
                r.expect(200)
                with ledger.lock:
                    ledger.state[key] = (value, r.body["event_id"])
            elif op == "receipt":
                with ledger.lock:
                    mine = [e for b, e in ledger.messages.items()]
                if not mine:
                    continue
                ev = mine[-1]
                r = call(api.post, "/rooms/%s/receipt/m.read/%s" % (quote(room), quote(ev)), {})
                r.expect(200)
                with ledger.lock:
                    ledger.receipts.setdefault(user.user_id, []).append(ev)
            elif op == "todevice":
                mid = secrets.token_hex(8)
                r = call(api.put, "/sendToDevice/org.hearth.crash/%s" % mid,
                         {"messages": {peer.user_id: {peer.device_id: {"id": mid}}}})
                r.expect(200)
                with ledger.lock:
                    ledger.to_device.add(mid)
            elif op == "otk":
                ids = ["K%s" % secrets.token_hex(6) for _ in range(3)]
                keys = {"curve25519:%s" % i: secrets.token_hex(16) for i in ids}
                try:
                    r = call(api.post, "/keys/upload", {"one_time_keys": keys})
                except Down:  # may have landed before the kill
                    with ledger.lock:
                        ledger.otks_maybe[user.user_id] = ledger.otks_maybe.get(user.user_id, 0) + 3
                    raise
                r.expect(200)
                with ledger.lock:
                    ledger.otks.setdefault(user.user_id, set()).update(ids)
        except Down:
            with ledger.lock:
                ledger.unanswered += 1
            time.sleep(0.05)


def receiver(srv, peer, got, tokens, stop):
    """The to-device recipient syncs through the crashes, as a client would: a lost answer is
    simply asked for again with the same since."""
    api = srv.api("v3", token=peer.access_token)
    since = tokens[-1] if tokens else None  # a client goes on from its last token
    while not stop.is_set():
        params = {"timeout": "500"}
        if since:
            params["since"] = since
        try:
            r = api.get("/sync", params=params, timeout=10)
        except requests.RequestException:
            time.sleep(0.05)
            continue
        if r.status != 200:
            time.sleep(0.05)
            continue
        for ev in (r.body.get("to_device") or {}).get("events") or []:
            if ev.get("type") == "org.hearth.crash":
                got.append(ev["content"]["id"])
        since = r.body["next_batch"]
        tokens.append(since)


def integrity_check(srv):
    db = srv.config["database"]
    if db["name"] != "sqlite3":
        return
    con = sqlite3.connect(db["args"]["database"])
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        con.close()


def test_kill_and_restart_under_load(tmp_path):
    print("HEARTH_CRASH_SEED=%d kills=%d" % (SEED, KILLS))
    srv = HearthServer(tmp_path / "crash")
    srv.start()
    try:
        kill_restart_and_check(srv)
    finally:
        # A failed assertion must not leave the server running after the test.
        if srv.alive():
            srv.stop(sig=signal.SIGKILL, check=False)


def kill_restart_and_check(srv):
    rng = random.Random(SEED)
    api = srv.api("v3")
    users = [api.register() for _ in range(WORKERS)]
    peer = api.register()
    owner = users[0]
    room = owner.api("v3").post("/createRoom", {"preset": "public_chat"}).expect(200).body["room_id"]
    # Anyone may set the test's state type.
    pl = owner.api("v3").get("/rooms/%s/state/m.room.power_levels" % quote(room)).expect(200).body
    pl.setdefault("events", {})["org.hearth.crash"] = 0
    owner.api("v3").put("/rooms/%s/state/m.room.power_levels" % quote(room), pl).expect(200)
    for u in users[1:] + [peer]:
        u.api("v3").post("/rooms/%s/join" % quote(room), {}).expect(200)

    ledger, stop, got, tokens = Ledger(), threading.Event(), [], []
    threads = [threading.Thread(target=worker, args=(srv, u, peer, room, ledger, stop,
                                                     random.Random(rng.random())))
               for u in users]
    threads.append(threading.Thread(target=receiver, args=(srv, peer, got, tokens, stop)))
    for t in threads:
        t.start()
    old_tokens = []
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 1.2))
            if tokens:
                old_tokens.append(tokens[-1])
            srv.stop(sig=signal.SIGKILL, check=False)
            srv.start()
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not any(t.is_alive() for t in threads), "a client thread hung"
    assert not ledger.errors, ledger.errors
    assert ledger.messages, "nothing was acknowledged"

    # Let the receiver's last answers settle, then read everything back.
    check = srv.api("v3", token=owner.access_token)
    events, tok = [], None
    r = check.get("/rooms/%s/initialSync" % quote(room), params={"limit": "1"}).expect(200)
    tok = r.body["messages"]["end"]
    for _ in range(100000):
        r = check.get("/rooms/%s/messages" % quote(room), params={"from": tok, "dir": "b", "limit": "500"}).expect(200)
        if not r.body["chunk"]:
            break
        events.extend(r.body["chunk"])
        tok = r.body["end"]
    bodies = [e["content"].get("body") for e in events if e["type"] == "m.room.message"]
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids)), "an event appears twice"
    assert len(bodies) == len(set(bodies)), "a message was stored twice (txnId retried after a crash)"
    present = set(ids)
    lost = [b for b, e in ledger.messages.items() if e not in present]
    assert not lost, "%d acknowledged messages lost, e.g. %r" % (len(lost), lost[:3])

    # Search (issue 3): messages are indexed after their send, in batches, so a kill can leave
    # some not indexed; a search finds them all the same. The last acknowledged ones (the most
    # likely to have been left behind), each by its txnId, the last word of its body.
    for body, event_id in list(ledger.messages.items())[-100:]:
        r = check.post("/search", {"search_categories": {"room_events": {
            "search_term": body.split()[-1], "keys": ["content.body"]}}}).expect(200)
        found = [x["result"]["event_id"] for x in r.body["search_categories"]["room_events"]["results"]]
        assert found == [event_id], (body, found)

    # State: the last acknowledged value of each key, or a later unacknowledged one.
    for key, entry in ledger.state.items():
        if key.endswith("#maybe"):
            continue
        value, _ = entry
        r = check.get("/rooms/%s/state/org.hearth.crash/%s" % (quote(room), quote(key))).expect(200)
        maybe = ledger.state.get(key + "#maybe", set())
        assert r.body["v"] == value or r.body["v"] in maybe, (key, r.body, value)

    # Receipts only move forward: each user's stored receipt is at or after its last ack.
    order = {e: i for i, e in enumerate(reversed(ids))}
    sync = srv.api("v3", token=owner.access_token).get("/sync").expect(200).body
    receipts = {}
    for ev in sync["rooms"]["join"][room]["ephemeral"]["events"]:
        if ev["type"] == "m.receipt":
            for event_id, kinds in ev["content"].items():
                for user_id in kinds.get("m.read", {}):
                    receipts[user_id] = event_id
    for user_id, acked in ledger.receipts.items():
        assert user_id in receipts, user_id
        assert order[receipts[user_id]] >= order[acked[-1]], (user_id, receipts[user_id], acked[-1])

    # One-time keys: every acknowledged upload is counted (an unanswered one may have landed).
    for u in users:
        want = len(ledger.otks.get(u.user_id, ()))
        r = srv.api("v3", token=u.access_token).post("/keys/upload", {}).expect(200)
        have = r.body["one_time_key_counts"].get("curve25519", 0)
        assert want <= have <= want + ledger.otks_maybe.get(u.user_id, 0), (u.user_id, want, have)

    # To-device: keep syncing until every acknowledged message arrived, each exactly once.
    stop2 = threading.Event()
    t = threading.Thread(target=receiver, args=(srv, peer, got, tokens, stop2))
    t.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not ledger.to_device <= set(got):
        time.sleep(0.2)
    stop2.set()
    t.join(30)
    missing = ledger.to_device - set(got)
    assert not missing, "%d acknowledged to-device messages never delivered" % len(missing)
    dup = [m for m in set(got) if got.count(m) > 1]
    assert not dup, "to-device messages delivered twice: %r" % dup[:3]

    # Sync tokens from before each crash still work and lead forward.
    for old in old_tokens:
        r = srv.api("v3", token=peer.access_token).get("/sync", params={"since": old, "timeout": "0"})
        r.expect(200)
        assert r.body["next_batch"]

    srv.stop()
    integrity_check(srv)
