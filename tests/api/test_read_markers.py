"""POST /rooms/{roomId}/read_markers (read_markers.yaml, modules/read_markers.rst):
m.fully_read becomes the room's m.fully_read account data {"event_id": ...}, m.read a read
receipt; both only move forward."""

import pytest

from ephemeral_lib import receipts, shared_room
from harness import quote
from roomlib import create_room, send
from synclib import joined, sync_ok

MSG = {"msgtype": "m.text", "body": "hi"}


def markers(api, room_id, body):
    return api.post("/rooms/%s/read_markers" % quote(room_id), body)


def fully_read(body, room_id):
    room = joined(body, room_id) or {}
    evs = [e for e in room.get("account_data", {}).get("events", []) if e["type"] == "m.fully_read"]
    return evs[0]["content"] if evs else None


def test_fully_read_and_read(server, prefix):
    (a, b), r = shared_room(server)
    e1 = send(a.api(), r, MSG)
    e2 = send(a.api(), r, MSG)
    since_a = sync_ok(a.api(), set_presence="offline")["next_batch"]
    since_b = sync_ok(b.api(), set_presence="offline")["next_batch"]
    markers(b.api(prefix), r, {"m.fully_read": e1, "m.read": e2}).expect(200)
    # The marker is b's own room account data ...
    body = sync_ok(b.api(), since=since_b, set_presence="offline")
    assert fully_read(body, r) == {"event_id": e1}
    got = b.api().get("/user/%s/rooms/%s/account_data/m.fully_read" % (quote(b.user_id), quote(r)))
    assert got.expect(200).body == {"event_id": e1}
    # ... and m.read a receipt everyone sees.
    assert b.user_id in receipts(sync_ok(a.api(), since=since_a, set_presence="offline"), r)[e2]["m.read"]
    assert fully_read(sync_ok(a.api()), r) is None


def test_fully_read_alone(server):
    (a,), r = shared_room(server, 1)
    eid = send(a.api(), r, MSG)
    markers(a.api(), r, {"m.fully_read": eid}).expect(200)
    assert fully_read(sync_ok(a.api()), r) == {"event_id": eid}
    assert receipts(sync_ok(a.api()), r) is None


def test_fully_read_moves_forward_only(server):
    (a,), r = shared_room(server, 1)
    e1 = send(a.api(), r, MSG)
    e2 = send(a.api(), r, MSG)
    markers(a.api(), r, {"m.fully_read": e2}).expect(200)
    markers(a.api(), r, {"m.fully_read": e1}).expect(200)
    assert fully_read(sync_ok(a.api()), r) == {"event_id": e2}


def test_account_data_api_refuses_fully_read(server):
    (a,), r = shared_room(server, 1)
    eid = send(a.api(), r, MSG)
    a.api().put("/user/%s/rooms/%s/account_data/m.fully_read" % (quote(a.user_id), quote(r)),
                {"event_id": eid}).expect(400, "M_BAD_JSON")


@pytest.mark.parametrize("body,status,code", [
    ({}, 400, "M_MISSING_PARAM"),
    ({"m.read": "$x:hearth.test"}, 400, "M_MISSING_PARAM"),
    ({"m.fully_read": 5}, 400, "M_BAD_JSON"),
    ({"m.fully_read": "$nope:hearth.test"}, 404, "M_NOT_FOUND"),
])
def test_read_markers_errors(server, body, status, code):
    (a,), r = shared_room(server, 1)
    markers(a.api(), r, body).expect(status, code)


def test_read_marker_unknown_m_read_changes_nothing(server):
    (a,), r = shared_room(server, 1)
    eid = send(a.api(), r, MSG)
    markers(a.api(), r, {"m.fully_read": eid, "m.read": "$nope:hearth.test"}).expect(404, "M_NOT_FOUND")
    assert fully_read(sync_ok(a.api()), r) is None


def test_read_markers_event_of_other_room(server):
    (a,), r = shared_room(server, 1)
    other = create_room(a.api())
    eid = send(a.api(), other, MSG)
    markers(a.api(), r, {"m.fully_read": eid}).expect(404, "M_NOT_FOUND")


def test_read_markers_need_membership(server):
    (a,), r = shared_room(server, 1)
    eid = send(a.api(), r, MSG)
    stranger = server.api("r0").register()
    markers(stranger.api(), r, {"m.fully_read": eid}).expect(403, "M_FORBIDDEN")
    markers(stranger.api(), "bad", {"m.fully_read": eid}).expect(400, "M_INVALID_PARAM")
