"""Peeking into world_readable rooms (peeking_events.yaml; modules/room_previews.rst): a user who
has not joined calls GET /rooms/{roomId}/initialSync, then GET /events?room_id=... ."""

import time

import pytest

from harness import quote
from roomlib import create_room, initial_sync, put_state, send
from synclib import Background, own_session


def fresh(server):
    return server.api("r0").register()


def guest(server, prefix="r0"):
    r = server.api(prefix).register_raw({}, kind="guest").expect(200)
    return server.api(prefix, r.body["access_token"])


def msg(body):
    return {"msgtype": "m.text", "body": body}


def peek(api, room_id, http_timeout=60, **params):
    q = {"room_id": room_id}
    q.update({k: str(v) for k, v in params.items()})
    return api.get("/events", params=q, timeout=http_timeout)


def chunk_ids(body):
    return [e["event_id"] for e in body["chunk"] if "event_id" in e]


def world_readable_room(owner, **kw):
    return create_room(owner.api(), preset="public_chat", initial_state=[
        {"type": "m.room.history_visibility", "content": {"history_visibility": "world_readable"}}], **kw)


@pytest.fixture(scope="module")
def owner(server):
    return fresh(server)


def test_peek_world_readable(server, prefix, owner):
    r = world_readable_room(owner)
    lurker = fresh(server).api(prefix)
    # The preview's starting point: the room's initialSync.
    end = initial_sync(lurker, r).expect(200).body["messages"]["end"]
    e1 = send(owner.api(), r, msg("for everyone"))
    t1 = put_state(owner.api(), r, "m.room.topic", {"topic": "peek"})
    body = peek(lurker, r, **{"from": end, "timeout": 0}).expect(200).body
    assert chunk_ids(body) == [e1, t1]
    for e in body["chunk"]:
        if "event_id" in e:
            assert e["room_id"] == r
    # Continue from end.
    e2 = send(owner.api(), r, msg("more"))
    body = peek(lurker, r, **{"from": body["end"], "timeout": 0}).expect(200).body
    assert chunk_ids(body) == [e2]
    # The lurker did not join by peeking, and the room is not in the lurker's /sync.
    members = owner.api().get("/rooms/%s/joined_members" % quote(r)).expect(200).body["joined"]
    assert list(members) == [owner.user_id]
    sync_body = lurker.get("/sync").expect(200).body
    assert r not in str(sync_body.get("rooms", {}))


def assert_peek_woken(server, owner, r, text):
    """A non-member's long-poll on the room's events (peeking) answers with the next message."""
    lurker = fresh(server).api()
    end = initial_sync(lurker, r).expect(200).body["messages"]["end"]
    waiting = own_session(lurker)
    bg = Background(lambda: peek(waiting, r, **{"from": end, "timeout": 10000}).expect(200).body)
    time.sleep(0.5)
    assert not bg.done()
    eid = send(owner.api(), r, msg(text))
    t_sent = time.monotonic()
    body, _ = bg.result(30)
    assert bg.t_end - t_sent < 3.0
    assert chunk_ids(body) == [eid]


def test_peek_long_poll(server, owner):
    r = world_readable_room(owner)
    assert_peek_woken(server, owner, r, "wake the lurker")


def test_peek_only_that_room(server, owner):
    r = world_readable_room(owner)
    other = world_readable_room(owner)
    lurker_user = fresh(server)
    mine = create_room(lurker_user.api())
    lurker = lurker_user.api()
    end = initial_sync(lurker, r).expect(200).body["messages"]["end"]
    send(owner.api(), other, msg("other room"))
    send(lurker, mine, msg("lurker's own room"))
    eid = send(owner.api(), r, msg("this room"))
    body = peek(lurker, r, **{"from": end, "timeout": 0}).expect(200).body
    assert chunk_ids(body) == [eid]


def test_peek_timeout_when_quiet(server, owner):
    r = world_readable_room(owner)
    lurker = fresh(server).api()
    end = initial_sync(lurker, r).expect(200).body["messages"]["end"]
    t0 = time.monotonic()
    body = peek(lurker, r, **{"from": end, "timeout": 1000}).expect(200).body
    assert chunk_ids(body) == []
    assert 0.9 <= time.monotonic() - t0 < 5


@pytest.mark.parametrize("visibility", ["shared", "invited", "joined"])
def test_peek_forbidden_unless_world_readable(server, owner, visibility):
    r = create_room(owner.api(), preset="public_chat", initial_state=[
        {"type": "m.room.history_visibility", "content": {"history_visibility": visibility}}])
    lurker = fresh(server).api()
    # Synapse: 403 M_FORBIDDEN "User ... not in room ..., and room previews are disabled".
    peek(lurker, r, timeout=0).expect(403, "M_FORBIDDEN")


def test_peek_private_room_forbidden(server, owner):
    r = create_room(owner.api(), preset="private_chat")
    peek(fresh(server).api(), r, timeout=0).expect(403, "M_FORBIDDEN")


def test_peek_unknown_room(server):
    # Unknown rooms are not world_readable: no preview. (Not specified; Synapse: 403
    # M_FORBIDDEN; 404 M_NOT_FOUND would be as reasonable.)
    peek(fresh(server).api(), "!nosuchroom:" + server.server_name, timeout=0) \
        .expect((403, 404), ("M_FORBIDDEN", "M_NOT_FOUND"))


def test_peek_stops_at_visibility_change(server, owner):
    # "servers are required to only return events where the room state at the event had the
    # m.room.history_visibility state event present with history_visibility value
    # world_readable."
    r = world_readable_room(owner)
    lurker = fresh(server).api()
    end = initial_sync(lurker, r).expect(200).body["messages"]["end"]
    visible = send(owner.api(), r, msg("visible"))
    put_state(owner.api(), r, "m.room.history_visibility", {"history_visibility": "shared"})
    hidden = send(owner.api(), r, msg("hidden"))
    resp = peek(lurker, r, **{"from": end, "timeout": 0})
    # Synapse refuses the whole request once the room is no longer world_readable (403); a
    # server that answers must not include the later event.
    if resp.status == 200:
        ids = chunk_ids(resp.body)
        assert visible in ids and hidden not in ids
    else:
        resp.expect(403, "M_FORBIDDEN")


def test_guest_peeks(server, owner):
    r = world_readable_room(owner)
    g = guest(server)
    end = initial_sync(g, r).expect(200).body["messages"]["end"]
    eid = send(owner.api(), r, msg("hello guest"))
    assert chunk_ids(peek(g, r, **{"from": end, "timeout": 0}).expect(200).body) == [eid]


def test_member_uses_room_id_too(server, owner):
    # A member may also call /events?room_id=: it gives that room's events only.
    r = world_readable_room(owner)
    other = create_room(owner.api())
    end = initial_sync(owner.api(), r).expect(200).body["messages"]["end"]
    send(owner.api(), other, msg("elsewhere"))
    eid = send(owner.api(), r, msg("here"))
    assert chunk_ids(peek(owner.api(), r, **{"from": end, "timeout": 0}).expect(200).body) == [eid]


def test_peek_requires_token(api, owner):
    r = world_readable_room(owner)
    api.get("/events", params={"room_id": r}).expect(401, "M_MISSING_TOKEN")


def test_peek_room_initial_sync_for_lurker(server, owner):
    # The preview's first step works for a non-member in a world_readable room.
    r = world_readable_room(owner, name="preview")
    eid = send(owner.api(), r, msg("preview me"))
    body = initial_sync(fresh(server).api(), r).expect(200).body
    assert eid in [e["event_id"] for e in body["messages"]["chunk"]]


def test_peek_long_poll_after_membership_changes(server, owner):
    """Issue 3: the server keeps per room who its messages wake, rebuilt as members come and
    go; the peekers (waiting under the room's ID) stay in it."""
    r = world_readable_room(owner)
    for i in range(3):
        send(owner.api(), r, msg("before %d" % i))
    member = fresh(server).api()
    member.post("/rooms/%s/join" % quote(r), {}).expect(200)
    member.post("/rooms/%s/leave" % quote(r), {}).expect(200)
    assert_peek_woken(server, owner, r, "wake the lurker again")
