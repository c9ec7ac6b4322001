"""POST /rooms/{roomId}/receipt/{receiptType}/{eventId} (receipts.yaml, modules/receipts.rst):
m.read receipts are stored and delivered as the room's ephemeral m.receipt event, aggregated
per room ({event_id: {"m.read": {user_id: {"ts": ...}}}}), incrementally by the receipts
position; an initial sync has each member's latest receipt. Receipts only move forward."""

import pytest

from ephemeral_lib import receipts, send_receipt, shared_room
from harness import quote
from roomlib import create_room, leave, send
from synclib import Background, own_session, sync, sync_ok

MSG = {"msgtype": "m.text", "body": "hi"}


def test_receipt_reaches_the_other_member(server, prefix):
    (a, b), r = shared_room(server)
    eid = send(a.api(), r, MSG)
    since = sync_ok(a.api(prefix), set_presence="offline")["next_batch"]
    send_receipt(b.api(prefix), r, eid).expect(200)
    body = sync_ok(a.api(prefix), since=since, set_presence="offline")
    content = receipts(body, r)
    assert list(content) == [eid]
    assert set(content[eid]["m.read"]) == {b.user_id}
    assert isinstance(content[eid]["m.read"][b.user_id]["ts"], int)
    # Already sent: nothing new the next time.
    assert receipts(sync_ok(a.api(prefix), since=body["next_batch"], set_presence="offline"), r) is None


def test_receipts_aggregate_per_room(server):
    (a, b, c), r = shared_room(server, 3)
    e1 = send(a.api(), r, MSG)
    e2 = send(a.api(), r, MSG)
    since = sync_ok(a.api(), set_presence="offline")["next_batch"]
    send_receipt(b.api(), r, e1).expect(200)
    send_receipt(c.api(), r, e2).expect(200)
    send_receipt(a.api(), r, e2).expect(200)
    content = receipts(sync_ok(a.api(), since=since, set_presence="offline"), r)
    assert set(content) == {e1, e2}
    assert set(content[e1]["m.read"]) == {b.user_id}
    assert set(content[e2]["m.read"]) == {c.user_id, a.user_id}


def test_initial_sync_has_latest_receipts(server):
    (a, b, c), r = shared_room(server, 3)
    e1 = send(a.api(), r, MSG)
    e2 = send(a.api(), r, MSG)
    send_receipt(b.api(), r, e1).expect(200)
    send_receipt(b.api(), r, e2).expect(200)
    send_receipt(c.api(), r, e1).expect(200)
    content = receipts(sync_ok(a.api()), r)
    assert set(content[e2]["m.read"]) == {b.user_id}
    assert set(content[e1]["m.read"]) == {c.user_id}


def test_older_receipt_is_ignored(server):
    (a, b), r = shared_room(server)
    e1 = send(a.api(), r, MSG)
    e2 = send(a.api(), r, MSG)
    send_receipt(b.api(), r, e2).expect(200)
    since = sync_ok(a.api(), set_presence="offline")["next_batch"]
    send_receipt(b.api(), r, e1).expect(200)
    send_receipt(b.api(), r, e2).expect(200)  # the same again: no change either
    assert receipts(sync_ok(a.api(), since=since, set_presence="offline"), r) is None
    content = receipts(sync_ok(a.api()), r)
    assert set(content) == {e2}


def test_receipt_wakes_a_waiting_sync(server):
    (a, b), r = shared_room(server)
    eid = send(a.api(), r, MSG)
    since = sync_ok(a.api(), set_presence="offline")["next_batch"]
    bg = Background(lambda: sync(own_session(a.api()), since=since, timeout=10000,
                                 set_presence="offline").expect(200).body)
    send_receipt(b.api(), r, eid).expect(200)
    body, elapsed = bg.result(30)
    assert elapsed < 5.0
    assert b.user_id in receipts(body, r)[eid]["m.read"]


def test_newly_joined_member_gets_the_receipts(server):
    (a, b), r = shared_room(server)
    eid = send(a.api(), r, MSG)
    send_receipt(b.api(), r, eid).expect(200)
    c = server.api("r0").register()
    since = sync_ok(c.api(), set_presence="offline")["next_batch"]
    c.api().post("/rooms/%s/join" % quote(r), {}).expect(200)
    body = sync_ok(c.api(), since=since, set_presence="offline")
    assert b.user_id in receipts(body, r)[eid]["m.read"]


def test_receipt_body_is_optional(server):
    (a,), r = shared_room(server, 1)
    eid = send(a.api(), r, MSG)
    a.api().post("/rooms/%s/receipt/m.read/%s" % (quote(r), quote(eid)), data=b"").expect(200)


def test_unknown_receipt_type(server, prefix):
    (a,), r = shared_room(server, 1)
    eid = send(a.api(), r, MSG)
    send_receipt(a.api(prefix), r, eid, rtype="m.unread").expect(400, "M_INVALID_PARAM")


def test_receipt_unknown_event(server):
    (a,), r = shared_room(server, 1)
    send_receipt(a.api(), r, "$nope:hearth.test").expect(404, "M_NOT_FOUND")
    # An event of another room is unknown here.
    other = create_room(a.api())
    eid = send(a.api(), other, MSG)
    send_receipt(a.api(), r, eid).expect(404, "M_NOT_FOUND")


def test_receipt_needs_membership(server):
    (a, b), r = shared_room(server)
    eid = send(a.api(), r, MSG)
    stranger = server.api("r0").register()
    send_receipt(stranger.api(), r, eid).expect(403, "M_FORBIDDEN")
    leave(b.api(), r).expect(200)
    send_receipt(b.api(), r, eid).expect(403, "M_FORBIDDEN")


def test_receipt_bad_room_id(server):
    a = server.api("r0").register()
    send_receipt(a.api(), "room", "$e:hearth.test").expect(400, "M_INVALID_PARAM")


def test_receipts_survive_restart(server_factory):
    srv = server_factory()
    a = srv.api("r0").register()
    r = create_room(a.api())
    eid = send(a.api(), r, MSG)
    send_receipt(a.api(), r, eid).expect(200)
    srv.stop()
    srv.start()
    assert a.user_id in receipts(sync_ok(srv.api("r0", a.access_token)), r)[eid]["m.read"]


def test_ephemeral_filter_senders_apply_per_user(server):
    (a, b, c), r = shared_room(server, 3)
    eid = send(a.api(), r, MSG)
    send_receipt(b.api(), r, eid).expect(200)
    send_receipt(c.api(), r, eid).expect(200)
    body = sync_ok(a.api(), filter={"room": {"ephemeral": {"not_senders": [b.user_id]}}})
    assert set(receipts(body, r)[eid]["m.read"]) == {c.user_id}
