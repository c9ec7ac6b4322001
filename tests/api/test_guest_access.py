"""Guests in rooms (modules/guest_access.rst): which room endpoints a guest may use, joining only
rooms whose m.room.guest_access is can_join, and being parted when that changes."""

import pytest

from harness import quote
from roomlib import (context, create_room, get_event, get_state, initial_sync, messages,
                     now_token, put_state, room_state, send, state_content, txn)


@pytest.fixture(scope="module")
def alice(server):
    return server.api("r0").register()


def guest(server, prefix="r0"):
    r = server.api(prefix).register_raw({}, kind="guest").expect(200)
    return r.body["user_id"], server.api(prefix, r.body["access_token"])


def guest_room(alice, **kw):
    return create_room(alice.api(), preset="public_chat", initial_state=[
        {"type": "m.room.guest_access", "content": {"guest_access": "can_join"}}], **kw)


def test_guest_joins_can_join_room(server, prefix, alice):
    r = guest_room(alice)
    eid = send(alice.api(), r, {"msgtype": "m.text", "body": "welcome"})
    uid, g = guest(server, prefix)
    assert g.post("/rooms/%s/join" % quote(r), {}).expect(200).body["room_id"] == r
    assert state_content(alice.api(), r, "m.room.member", uid)["membership"] == "join"
    # Sending m.room.message is allowed.
    mine = send(g, r, {"msgtype": "m.text", "body": "hi from a guest"})
    assert get_event(alice.api(), r, mine).expect(200).body["sender"] == uid
    # The reading endpoints the module lists.
    assert any(e["type"] == "m.room.create" for e in room_state(g, r).expect(200).body)
    get_state(g, r, "m.room.guest_access").expect(200)
    get_event(g, r, eid).expect(200)
    context(g, r, eid, limit=2).expect(200)
    ids = [e["event_id"] for e in messages(g, r, now_token(g, r), "b", limit=50).expect(200).body["chunk"]]
    assert eid in ids and mine in ids
    initial_sync(g, r).expect(200)
    # Leaving is allowed.
    g.post("/rooms/%s/leave" % quote(r), {}).expect(200)
    assert state_content(alice.api(), r, "m.room.member", uid)["membership"] == "leave"


@pytest.mark.parametrize("access", [None, "forbidden", "org.example.unknown"], ids=["empty", "forbidden", "unknown"])
def test_guest_cannot_join_without_can_join(server, alice, access):
    # "Servers MUST only allow guest users to join rooms if the m.room.guest_access state event
    # is present on the room, and has the guest_access value can_join."
    r = create_room(alice.api(), preset="public_chat")  # public_chat: guest_access forbidden
    if access is None:
        # Make the event absent-equivalent: a state event with empty content.
        put_state(alice.api(), r, "m.room.guest_access", {})
    else:
        put_state(alice.api(), r, "m.room.guest_access", {"guest_access": access})
    uid, g = guest(server)
    g.post("/rooms/%s/join" % quote(r), {}).expect(403, "M_FORBIDDEN")
    get_state(alice.api(), r, "m.room.member", uid).expect(404, "M_NOT_FOUND")


def test_guest_restricted_endpoints(server, alice):
    r = guest_room(alice)
    eid = send(alice.api(), r)
    uid, g = guest(server)
    g.post("/rooms/%s/join" % quote(r), {}).expect(200)
    g.post("/createRoom", {}).expect(403, "M_GUEST_ACCESS_FORBIDDEN")
    g.put("/rooms/%s/send/org.example.custom/%s" % (quote(r), txn()), {"x": 1}).expect(403, "M_GUEST_ACCESS_FORBIDDEN")
    g.put("/rooms/%s/state/m.room.topic" % quote(r), {"topic": "guest"}).expect(403, "M_GUEST_ACCESS_FORBIDDEN")
    g.post("/rooms/%s/invite" % quote(r), {"user_id": alice.user_id}).expect(403, "M_GUEST_ACCESS_FORBIDDEN")
    g.put("/rooms/%s/redact/%s/%s" % (quote(r), quote(eid), txn()), {}).expect(403, "M_GUEST_ACCESS_FORBIDDEN")
    get_state(alice.api(), r, "m.room.topic").expect(404, "M_NOT_FOUND")


def test_guest_parted_when_guest_access_revoked(server, alice):
    # "If the m.room.guest_access event is changed to stop this from being the case, the server
    # MUST set those users' m.room.member state to leave."
    r = guest_room(alice)
    uid, g = guest(server)
    g.post("/rooms/%s/join" % quote(r), {}).expect(200)
    put_state(alice.api(), r, "m.room.guest_access", {"guest_access": "forbidden"})
    assert state_content(alice.api(), r, "m.room.member", uid)["membership"] == "leave"
    g.put("/rooms/%s/send/m.room.message/%s" % (quote(r), txn()), {"msgtype": "m.text", "body": "x"}) \
        .expect(403, "M_FORBIDDEN")
