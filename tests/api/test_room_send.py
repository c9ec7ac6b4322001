"""PUT /rooms/{roomId}/send/{eventType}/{txnId} (room_send.yaml; client_server_api.rst §Events,
§Transaction identifiers, §Permissions)."""

import time

import pytest

from harness import quote
from roomlib import (create_room, get_event, join, send, send_raw, timeline, txn)


@pytest.fixture(scope="module")
def alice(server):
    return server.api("r0").register()


@pytest.fixture(scope="module")
def bob(server):
    return server.api("r0").register()


@pytest.fixture(scope="module")
def room(alice, bob):
    room_id = create_room(alice.api(), preset="public_chat")
    join(bob.api(), room_id).expect(200)
    return room_id


def send_path(room_id, event_type, txn_id):
    return "/rooms/%s/send/%s/%s" % (quote(room_id), quote(event_type), quote(txn_id))


def test_send_message(server, prefix, alice, room):
    api = alice.api(prefix)
    content = {"msgtype": "m.text", "body": "hello \u2603", "org.example": {"nested": [1, True, None]}}
    r = api.put(send_path(room, "m.room.message", txn()), content).expect(200)
    event_id = r.body["event_id"]
    assert event_id.startswith("$")
    ev = get_event(api, room, event_id).expect(200).body
    assert ev["event_id"] == event_id
    assert ev["type"] == "m.room.message"
    assert ev["content"] == content
    assert ev["sender"] == alice.user_id
    assert ev["room_id"] == room
    assert isinstance(ev["origin_server_ts"], int)
    assert "state_key" not in ev


def test_send_custom_type(server, alice, bob, room):
    eid = send(alice.api(), room, {"anything": "goes"}, event_type="org.example.custom \u00e9")
    ev = get_event(bob.api(), room, eid).expect(200).body
    assert ev["type"] == "org.example.custom \u00e9"
    assert ev["content"] == {"anything": "goes"}


def test_send_empty_content(server, alice, room):
    eid = send(alice.api(), room, {}, event_type="org.example.empty")
    assert get_event(alice.api(), room, eid).expect(200).body["content"] == {}


def test_txn_idempotent_same_token(server, prefix, alice, room):
    api = alice.api(prefix)
    t = txn()
    # The room is shared by both prefixes' runs: bodies unique to this run.
    once, twice = "once-" + t, "twice?-" + t
    first = api.put(send_path(room, "m.room.message", t), {"msgtype": "m.text", "body": once}).expect(200)
    again = api.put(send_path(room, "m.room.message", t), {"msgtype": "m.text", "body": once}).expect(200)
    assert first.body["event_id"] == again.body["event_id"]
    # Even with a different body the retransmission answers the original event.
    third = api.put(send_path(room, "m.room.message", t), {"msgtype": "m.text", "body": twice}).expect(200)
    assert third.body["event_id"] == first.body["event_id"]
    events = timeline(api, room)
    bodies = [e["content"].get("body") for e in events if e["type"] == "m.room.message"]
    assert bodies.count(once) == 1
    assert twice not in bodies


def test_txn_scoped_per_access_token(server, alice, bob, room):
    t = txn()
    a1 = alice.api().put(send_path(room, "m.room.message", t), {"msgtype": "m.text", "body": "a1"}).expect(200)
    # Same user, another device (another access token): a new event.
    alice2 = server.api("r0").login(alice)
    a2 = alice2.api().put(send_path(room, "m.room.message", t), {"msgtype": "m.text", "body": "a2"}).expect(200)
    assert a2.body["event_id"] != a1.body["event_id"]
    # Another user with the same txnId: a new event.
    b = bob.api().put(send_path(room, "m.room.message", t), {"msgtype": "m.text", "body": "b"}).expect(200)
    assert b.body["event_id"] not in (a1.body["event_id"], a2.body["event_id"])
    # And each token still answers its own event.
    assert alice.api().put(send_path(room, "m.room.message", t), {"msgtype": "m.text", "body": "a1"}) \
        .expect(200).body["event_id"] == a1.body["event_id"]
    assert alice2.api().put(send_path(room, "m.room.message", t), {"msgtype": "m.text", "body": "a2"}) \
        .expect(200).body["event_id"] == a2.body["event_id"]
    bodies = [e["content"].get("body") for e in timeline(alice.api(), room) if e["type"] == "m.room.message"]
    for body in ("a1", "a2", "b"):
        assert bodies.count(body) == 1, (body, bodies)


def test_txn_same_across_prefixes(server, alice, room):
    # The transaction is identified by access token and txnId; the API prefix does not matter.
    t = txn()
    a = alice.api("r0").put(send_path(room, "m.room.message", t), {"msgtype": "m.text", "body": "p"}).expect(200)
    b = alice.api("v3").put(send_path(room, "m.room.message", t), {"msgtype": "m.text", "body": "p"}).expect(200)
    assert a.body["event_id"] == b.body["event_id"]


def test_transaction_id_in_unsigned_for_sender_only(server, alice, bob, room):
    t = txn()
    eid = alice.api().put(send_path(room, "m.room.message", t), {"msgtype": "m.text", "body": "u"}).expect(200).body["event_id"]
    # "transaction_id: The client-supplied transaction ID, if the client being given the event
    # is the same one which sent it."
    ev = get_event(alice.api(), room, eid).expect(200).body
    assert ev.get("unsigned", {}).get("transaction_id") == t, ev
    ev = get_event(bob.api(), room, eid).expect(200).body
    assert "transaction_id" not in ev.get("unsigned", {}), ev


@pytest.mark.parametrize("body", [b"[]", b"\"text\"", b"42", b"null", b"[{\"msgtype\": \"m.text\"}]"])
def test_content_must_be_object(server, alice, room, body):
    r = alice.api().put(send_path(room, "m.room.message", txn()), data=body,
                        headers={"Content-Type": "application/json"})
    r.expect(400, "M_BAD_JSON")


def test_content_not_json(server, alice, room):
    r = alice.api().put(send_path(room, "m.room.message", txn()), data=b"{\"body\": ",
                        headers={"Content-Type": "application/json"})
    r.expect(400, "M_NOT_JSON")


def test_send_not_joined(server, alice, room):
    outsider = server.api("r0").register()
    send_raw(outsider.api(), room, {"msgtype": "m.text", "body": "x"}).expect(403, "M_FORBIDDEN")


def test_send_after_leave(server, alice):
    other = server.api("r0").register()
    room_id = create_room(alice.api(), preset="public_chat")
    join(other.api(), room_id).expect(200)
    send(other.api(), room_id)
    other.api().post("/rooms/%s/leave" % quote(room_id), {}).expect(200)
    send_raw(other.api(), room_id, {"msgtype": "m.text", "body": "x"}).expect(403, "M_FORBIDDEN")


def test_send_invited_only(server, alice):
    other = server.api("r0").register()
    room_id = create_room(alice.api(), preset="private_chat", invite=[other.user_id])
    send_raw(other.api(), room_id, {"msgtype": "m.text", "body": "x"}).expect(403, "M_FORBIDDEN")


def test_send_unknown_room(server, alice):
    room_id = "!nosuchroom:" + server.server_name
    r = send_raw(alice.api(), room_id, {"msgtype": "m.text", "body": "x"})
    r.expect((403, 404), ("M_FORBIDDEN", "M_NOT_FOUND"))


def test_send_requires_token(api, room):
    api.put(send_path(room, "m.room.message", txn()), {"body": "x"}).expect(401, "M_MISSING_TOKEN")


def test_power_levels_decide_who_sends(server, alice, bob):
    mod = server.api("r0").register()
    room_id = create_room(alice.api(), preset="public_chat", power_level_content_override={
        "events_default": 10,
        "events": {"org.example.special": 60, "org.example.low": 0},
        "users": {alice.user_id: 100, mod.user_id: 50, bob.user_id: 10},
    })
    plain = server.api("r0").register()
    for x in (bob, mod, plain):
        join(x.api(), room_id).expect(200)
    # events_default 10: plain (0) cannot send a message, bob (10) can.
    send_raw(plain.api(), room_id, {"msgtype": "m.text", "body": "x"}).expect(403, "M_FORBIDDEN")
    send(bob.api(), room_id)
    # A per-type level overrides events_default in both directions.
    send(plain.api(), room_id, {"v": 1}, event_type="org.example.low")
    send_raw(mod.api(), room_id, {"v": 1}, event_type="org.example.special").expect(403, "M_FORBIDDEN")
    send(alice.api(), room_id, {"v": 1}, event_type="org.example.special")
    # Raising bob's level lets him send the special type.
    pl = alice.api().get("/rooms/%s/state/m.room.power_levels" % quote(room_id)).expect(200).body
    pl["users"][bob.user_id] = 60
    alice.api().put("/rooms/%s/state/m.room.power_levels" % quote(room_id), pl).expect(200)
    send(bob.api(), room_id, {"v": 2}, event_type="org.example.special")


def test_event_too_large(server, alice, room):
    # rooms/v1.rst §Size limits: an event may be at most 65536 bytes in canonical JSON.
    content = {"msgtype": "m.text", "body": "x" * 70000}
    r = alice.api().put(send_path(room, "m.room.message", txn()), content)
    r.expect((400, 413), "M_TOO_LARGE")


def test_event_type_too_long(server, alice, room):
    # "type: 255 bytes" (rooms/v1.rst / server_server_api.rst §Size limits)
    r = send_raw(alice.api(), room, {"v": 1}, event_type="t" * 300)
    r.expect((400, 413), "M_TOO_LARGE")


def test_event_ids_unique(server, alice, room):
    ids = {send(alice.api(), room) for _ in range(10)}
    assert len(ids) == 10


def test_sent_events_in_timeline_in_order(server, alice, bob, room):
    sent = []
    for i in range(5):
        sent.append(send(alice.api() if i % 2 else bob.api(), room, {"msgtype": "m.text", "body": "order %d" % i}))
    tl = [e["event_id"] for e in timeline(alice.api(), room)]
    pos = [tl.index(e) for e in sent]
    assert pos == sorted(pos)
    assert pos[-1] == len(tl) - 1


def _raw_put(server, token, path, body):
    import requests
    r = requests.put(server.base_url + "/_matrix/client/r0" + path, json=body,
                     headers={"Authorization": "Bearer " + token}, timeout=30)
    return r.status_code, r.json()


def test_txn_idempotent_under_concurrency(server, alice, room):
    """The same (access token, txnId) sent by several connections at once: one event."""
    from concurrent.futures import ThreadPoolExecutor
    t = txn()
    path = send_path(room, "m.room.message", t)
    body = {"msgtype": "m.text", "body": "concurrent " + t}
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: _raw_put(server, alice.access_token, path, body), range(16)))
    assert all(s == 200 for s, _ in results), results
    assert len({b["event_id"] for _, b in results}) == 1, results
    bodies = [e["content"].get("body") for e in timeline(alice.api(), room) if e["type"] == "m.room.message"]
    assert bodies.count(body["body"]) == 1


def test_concurrent_sends_all_land_once(server, alice, bob, room):
    """Many clients sending at once: every send gets its own event, every event appears exactly
    once in the timeline, each sender's events in the order that sender sent them."""
    from concurrent.futures import ThreadPoolExecutor
    tag = txn()

    def worker(args):
        user, k = args
        out = []
        for i in range(10):
            s, b = _raw_put(server, user.access_token, send_path(room, "m.room.message", txn()),
                            {"msgtype": "m.text", "body": "%s %s %d %d" % (tag, user.user_id, k, i)})
            assert s == 200, b
            out.append(b["event_id"])
        return out

    jobs = [(alice, k) for k in range(3)] + [(bob, k) for k in range(3)]
    with ThreadPoolExecutor(6) as pool:
        per_worker = list(pool.map(worker, jobs))
    all_ids = [e for w in per_worker for e in w]
    assert len(set(all_ids)) == 60
    tl = [e["event_id"] for e in timeline(alice.api(), room)]
    assert len(tl) == len(set(tl)), "duplicate events in the timeline"
    pos = {e: i for i, e in enumerate(tl)}
    for w in per_worker:
        idx = [pos[e] for e in w]
        assert idx == sorted(idx), "a sender's events out of order"


def test_sigterm_while_sends_wait_for_their_commit(server_factory):
    """A send waits for its commit without holding its thread (its connection is suspended).
    SIGTERM in the middle of many such sends (messages and state events): the server exits at once with
    status 0 (no connection left suspended), and every send answered 200 is in the room after
    the restart, exactly once. Sends that arrive on kept-alive connections during the drain
    wait for their commit in their thread (before, one of them could suspend its connection
    after the drain had found nothing in flight, and libmicrohttpd aborted at stop)."""
    import requests
    import threading
    srv = server_factory()
    owner = srv.api().register()
    room = create_room(owner.api(), preset="public_chat", power_level_content_override={"state_default": 0})
    users = [srv.api().register() for _ in range(4)]
    for u in users:
        join(u.api(), room)
    acked, acked_state, failed, lock, stop = [], [], [], threading.Lock(), threading.Event()

    def sender(u, k):
        s = requests.Session()
        i = 0
        while not stop.is_set():
            i += 1
            # One sender in four sends state events, which wait for their commit the same way.
            path = ("/rooms/%s/state/org.example.s/%s" % (quote(room), quote(u.user_id)) if k == 3
                    else send_path(room, "m.room.message", txn()))
            try:
                r = s.put(srv.base_url + "/_matrix/client/v3" + path,
                          json={"msgtype": "m.text", "body": "%s %d %d" % (u.user_id, k, i)},
                          headers={"Authorization": "Bearer " + u.access_token}, timeout=30)
            except requests.RequestException:
                return  # the server has gone: a dropped connection acknowledges nothing
            if r.status_code == 200:
                with lock:
                    acked.append(r.json()["event_id"])
                    if k == 3:
                        acked_state.append(r.json()["event_id"])
            else:
                with lock:
                    failed.append((r.status_code, r.text))

    threads = [threading.Thread(target=sender, args=(u, k)) for u in users for k in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 200:
        assert time.monotonic() < deadline, "sends did not get going"
        time.sleep(0.01)
    assert acked_state, "no state event was answered"
    srv.stop()  # SIGTERM; asserts a prompt exit with status 0 and a clean stderr
    stop.set()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    # Sends on kept-alive connections during the drain are answered as usual too.
    assert not failed, failed
    srv.start()
    got = [e["event_id"] for e in timeline(owner.api(), room, limit=500)]
    assert len(got) == len(set(got)), "duplicated events"
    missing = set(acked) - set(got)
    assert not missing, "%d of %d acknowledged events lost" % (len(missing), len(acked))


def test_client_gone_while_its_send_commits(server_factory):
    """A client that sends a message and closes its connection at once (its send may still be
    waiting for its commit, its connection suspended): the server stays up, every such send
    ends (its commit runs to its end), and a retry of each transaction with the same access
    token answers with the one event the first attempt stored, if it stored one, never a
    second event. (The server's exit status and sanitizer report are checked at teardown.)"""
    import json
    import socket
    srv = server_factory()
    owner = srv.api().register()
    room = create_room(owner.api(), preset="public_chat")
    txns = [txn() for _ in range(40)]
    for t in txns:
        body = json.dumps({"msgtype": "m.text", "body": "gone " + t}).encode()
        head = ("PUT /_matrix/client/v3%s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % (send_path(room, "m.room.message", t), owner.access_token, len(body))).encode()
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(head + body)
        s.close()
    srv.assert_alive()
    ids = {}
    for t in txns:
        r = send_raw(owner.api(), room, {"msgtype": "m.text", "body": "gone " + t}, txn_id=t)
        assert r.status == 200, r
        ids[t] = r.body["event_id"]
    bodies = [e["content"].get("body") for e in timeline(owner.api(), room, limit=200)
              if e["type"] == "m.room.message"]
    for t in txns:
        assert bodies.count("gone " + t) == 1, t
    assert len(set(ids.values())) == len(txns)
