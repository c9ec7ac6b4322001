"""The deprecated event streams (old_sync.yaml): GET /initialSync, GET /events (from, timeout),
GET /events/{eventId}. Every response is validated against old_sync.yaml by the harness."""

import time

import pytest

from harness import quote
from roomlib import (create_room, invite, join, leave, messages, put_state, redact, room_state,
                     send, timeline)
from synclib import Background, own_session


def fresh(server):
    return server.api("r0").register()


def msg(body):
    return {"msgtype": "m.text", "body": body}


def initial_sync(api, **params):
    return api.get("/initialSync", params={k: str(v).lower() if isinstance(v, bool) else str(v)
                                           for k, v in params.items()} or None)


def events(api, http_timeout=60, **params):
    return api.get("/events", params={k: str(v) for k, v in params.items()} or None, timeout=http_timeout)


def room_events(chunk):
    """The room events of an /events chunk (presence, once it exists, also streams here)."""
    return [e for e in chunk if "event_id" in e]


def chunk_ids(body):
    return [e["event_id"] for e in room_events(body["chunk"])]


def by_room(body):
    return {r["room_id"]: r for r in body["rooms"]}


@pytest.fixture(scope="module")
def world(server):
    """me: joined to `room` (with messages), invited to `inv`, left `gone`."""
    me, other = fresh(server), fresh(server)
    room = create_room(me.api(), preset="public_chat", name="old sync", topic="t")
    join(other.api(), room).expect(200)
    sent = [send((me, other)[i % 2].api(), room, msg("m%d" % i)) for i in range(6)]
    inv = create_room(other.api(), preset="private_chat", name="invited")
    invite(other.api(), inv, me.user_id).expect(200)
    gone = create_room(other.api(), preset="public_chat")
    join(me.api(), gone).expect(200)
    before_leave = send(other.api(), gone, msg("before leave"))
    leave(me.api(), gone).expect(200)
    after_leave = send(other.api(), gone, msg("after leave"))
    return dict(me=me, other=other, room=room, sent=sent, inv=inv, gone=gone,
                before_leave=before_leave, after_leave=after_leave)


# --- GET /initialSync ------------------------------------------------------------------------------

def test_initial_sync(server, prefix, world):
    me = world["me"]
    api = me.api(prefix)
    body = initial_sync(api).expect(200).body
    assert isinstance(body["end"], str)
    assert isinstance(body["presence"], list)
    rooms = by_room(body)
    assert set(rooms) == {world["room"], world["inv"]}

    j = rooms[world["room"]]
    assert j["membership"] == "join"
    assert j["visibility"] == "private"
    chunk = [e["event_id"] for e in j["messages"]["chunk"]]
    assert chunk and chunk == [e["event_id"] for e in timeline(api, world["room"])][-len(chunk):]
    assert chunk[-1] == world["sent"][-1]
    for e in j["messages"]["chunk"]:
        assert e["room_id"] == world["room"]
    st = {(e["type"], e["state_key"]): e["event_id"] for e in j["state"]}
    current = {(e["type"], e["state_key"]): e["event_id"] for e in room_state(api, world["room"]).expect(200).body}
    assert st == current  # "the current state of the room"

    i = rooms[world["inv"]]
    assert i["membership"] == "invite"
    # "invite: The invite event if membership is invite"
    assert i["invite"]["type"] == "m.room.member"
    assert i["invite"]["state_key"] == me.user_id
    assert i["invite"]["content"]["membership"] == "invite"
    assert i["invite"]["sender"] == world["other"].user_id


def test_initial_sync_limit(server, world):
    api = world["me"].api()
    body = initial_sync(api, limit=2).expect(200).body
    j = by_room(body)[world["room"]]
    assert [e["event_id"] for e in j["messages"]["chunk"]] == world["sent"][-2:]
    # messages.start pages back with /messages without a gap.
    back = messages(api, world["room"], j["messages"]["start"], "b", limit=2).expect(200).body
    assert [e["event_id"] for e in back["chunk"]] == [world["sent"][-3], world["sent"][-4]]
    body = initial_sync(api, limit=0).expect(200).body
    assert by_room(body)[world["room"]]["messages"]["chunk"] == []


def test_initial_sync_archived(server, world):
    api = world["me"].api()
    assert world["gone"] not in by_room(initial_sync(api, archived=False).expect(200).body)
    body = initial_sync(api, archived=True).expect(200).body
    g = by_room(body)[world["gone"]]
    assert g["membership"] == "leave"
    # "If the user has left the room this will be the messages that preceded them leaving."
    ids = [e["event_id"] for e in g["messages"]["chunk"]]
    assert world["before_leave"] in ids and world["after_leave"] not in ids
    st = {(e["type"], e["state_key"]): e for e in g["state"]}
    assert st[("m.room.member", world["me"].user_id)]["content"]["membership"] == "leave"
    # The joined and invited rooms are still there.
    assert {world["room"], world["inv"]} <= set(by_room(body))


@pytest.mark.parametrize("params", [{"limit": "x"}, {"archived": "maybe"}])
def test_initial_sync_bad_params(server, world, params):
    world["me"].api().get("/initialSync", params=params).expect(400, "M_INVALID_PARAM")


def test_initial_sync_requires_token(api):
    api.get("/initialSync").expect(401, "M_MISSING_TOKEN")


# --- GET /events ------------------------------------------------------------------------------------

def test_events_from_initial_sync(server, prefix):
    me, other = fresh(server), fresh(server)
    r = create_room(me.api(), preset="public_chat")
    join(other.api(), r).expect(200)
    api = me.api(prefix)
    end = initial_sync(api).expect(200).body["end"]
    e1 = send(other.api(), r, msg("one"))
    t1 = put_state(me.api(), r, "m.room.topic", {"topic": "stream"})
    body = events(api, **{"from": end, "timeout": 0}).expect(200).body
    assert chunk_ids(body) == [e1, t1]
    assert all(e["room_id"] == r for e in room_events(body["chunk"]))
    topic = room_events(body["chunk"])[1]
    assert topic["type"] == "m.room.topic" and topic["state_key"] == "" and topic["content"] == {"topic": "stream"}
    assert isinstance(body["start"], str) and isinstance(body["end"], str)
    assert body["end"] != end
    # From the new end: only what follows.
    e2 = send(other.api(), r, msg("two"))
    body2 = events(api, **{"from": body["end"], "timeout": 0}).expect(200).body
    assert chunk_ids(body2) == [e2]
    # Nothing new: no events, quickly with timeout=0.
    t0 = time.monotonic()
    body3 = events(api, **{"from": body2["end"], "timeout": 0}).expect(200).body
    assert chunk_ids(body3) == [] and time.monotonic() - t0 < 2


def test_events_timeout_waits(server):
    me = fresh(server)
    create_room(me.api())
    end = initial_sync(me.api()).expect(200).body["end"]
    t0 = time.monotonic()
    body = events(me.api(), **{"from": end, "timeout": 1000}).expect(200).body
    elapsed = time.monotonic() - t0
    assert chunk_ids(body) == []
    assert 0.9 <= elapsed < 5, elapsed
    # The answer's end still works.
    events(me.api(), **{"from": body["end"], "timeout": 0}).expect(200)


def test_events_long_poll_wakes(server):
    me, other = fresh(server), fresh(server)
    r = create_room(other.api(), preset="public_chat")
    join(me.api(), r).expect(200)
    end = initial_sync(me.api()).expect(200).body["end"]
    waiting = own_session(me.api())
    bg = Background(lambda: events(waiting, **{"from": end, "timeout": 10000}).expect(200).body)
    time.sleep(0.5)
    assert not bg.done(), "/events with timeout=10000 returned before anything happened"
    eid = send(other.api(), r, msg("wake"))
    t_sent = time.monotonic()
    body, _ = bg.result(30)
    assert bg.t_end - t_sent < 3.0
    assert chunk_ids(body) == [eid]


def test_events_without_from(server):
    # `from` is optional: the stream starts now.
    me = fresh(server)
    r = create_room(me.api())
    send(me.api(), r, msg("old"))
    body = events(me.api(), timeout=0).expect(200).body
    assert chunk_ids(body) == []
    eid = send(me.api(), r, msg("new"))
    body = events(me.api(), **{"from": body["end"], "timeout": 0}).expect(200).body
    assert chunk_ids(body) == [eid]


def test_events_only_own_rooms(server):
    me, other = fresh(server), fresh(server)
    mine = create_room(me.api())
    theirs = create_room(other.api(), preset="public_chat")
    end = initial_sync(me.api()).expect(200).body["end"]
    send(other.api(), theirs, msg("not yours"))
    eid = send(me.api(), mine, msg("yours"))
    body = events(me.api(), **{"from": end, "timeout": 0}).expect(200).body
    assert chunk_ids(body) == [eid]


def test_events_sees_redaction_and_leave(server):
    me, other = fresh(server), fresh(server)
    r = create_room(other.api(), preset="public_chat")
    join(me.api(), r).expect(200)
    eid = send(other.api(), r, msg("x"))
    end = initial_sync(me.api()).expect(200).body["end"]
    red = redact(other.api(), r, eid).expect(200).body["event_id"]
    leave(me.api(), r).expect(200)
    send(other.api(), r, msg("after"))
    chunk = room_events(events(me.api(), **{"from": end, "timeout": 0}).expect(200).body["chunk"])
    assert [e["event_id"] for e in chunk][:1] == [red]
    assert chunk[0]["redacts"] == eid
    mem = chunk[1]
    assert mem["type"] == "m.room.member" and mem["state_key"] == me.user_id
    assert mem["content"]["membership"] == "leave"
    assert len(chunk) == 2, "events after the user left must not be streamed"


@pytest.mark.parametrize("bad", ["garbage", "s-1", "s" + "9" * 40, "{}"])
def test_events_bad_from(server, bad):
    # old_sync.yaml: 400 "Bad pagination from parameter." (no errcode named; Synapse: M_UNKNOWN
    # or M_INVALID_PARAM).
    me = fresh(server)
    events(me.api(), **{"from": bad, "timeout": 0}).expect(400, ("M_INVALID_PARAM", "M_UNKNOWN"))


def test_events_bad_timeout(server):
    me = fresh(server)
    events(me.api(), timeout="soon").expect(400, "M_INVALID_PARAM")


def test_events_requires_token(api):
    api.get("/events").expect(401, "M_MISSING_TOKEN")


# --- GET /events/{eventId} -------------------------------------------------------------------------

def test_get_one_event(server, prefix):
    me = fresh(server)
    r = create_room(me.api(), preset="private_chat")
    eid = send(me.api(), r, msg("single"))
    body = me.api(prefix).get("/events/%s" % quote(eid)).expect(200).body
    assert body["event_id"] == eid
    assert body["type"] == "m.room.message"
    assert body["content"] == msg("single")
    assert body["sender"] == me.user_id
    assert body["room_id"] == r
    # A state event.
    t = put_state(me.api(), r, "m.room.topic", {"topic": "one"})
    body = me.api(prefix).get("/events/%s" % quote(t)).expect(200).body
    assert body["state_key"] == "" and body["content"] == {"topic": "one"}


def test_get_one_event_not_visible(server):
    # "404: The event was not found or you do not have permission to read this event."
    me, other = fresh(server), fresh(server)
    r = create_room(me.api(), preset="private_chat")
    eid = send(me.api(), r, msg("private"))
    other.api().get("/events/%s" % quote(eid)).expect(404, "M_NOT_FOUND")
    fake = "$" + "A" * 43
    me.api().get("/events/%s" % quote(fake)).expect(404, "M_NOT_FOUND")
    me.api().get("/events/%s" % quote("$nope:hearth.test")).expect(404, "M_NOT_FOUND")


def test_get_one_event_redacted(server):
    me = fresh(server)
    r = create_room(me.api())
    eid = send(me.api(), r, msg("secret"))
    red = redact(me.api(), r, eid).expect(200).body["event_id"]
    body = me.api().get("/events/%s" % quote(eid)).expect(200).body
    assert body["content"] == {}
    assert body["unsigned"]["redacted_because"]["event_id"] == red


def test_get_one_event_requires_token(api):
    api.get("/events/%s" % quote("$" + "A" * 43)).expect(401, "M_MISSING_TOKEN")


def test_events_no_gap_with_many_events(server):
    # A burst larger than any page: following `end` from response to response yields every
    # event exactly once, in order.
    me = fresh(server)
    r = create_room(me.api())
    end = initial_sync(me.api()).expect(200).body["end"]
    sent = [send(me.api(), r, msg("burst %d" % i)) for i in range(130)]
    got = []
    for _ in range(20):
        body = events(me.api(), **{"from": end, "timeout": 0}).expect(200).body
        ids = chunk_ids(body)
        if not ids:
            break
        got.extend(ids)
        end = body["end"]
    assert got == sent, "got %d of %d events (first missing: %s)" % (
        len(got), len(sent), next((e for e in sent if e not in got), None))


def test_events_chunk_in_stream_order(server):
    # Events of several rooms arrive interleaved in the order they happened, even when many
    # share a millisecond.
    me = fresh(server)
    r1, r2 = create_room(me.api()), create_room(me.api())
    end = initial_sync(me.api()).expect(200).body["end"]
    sent = []
    for i in range(40):
        sent.append(send(me.api(), (r1, r2)[i % 2], msg("order %d" % i)))
        sent.append(put_state(me.api(), (r2, r1)[i % 2], "org.example.s", {"i": i}, state_key=str(i)))
    body = events(me.api(), **{"from": end, "timeout": 0}).expect(200).body
    assert chunk_ids(body) == sent


def test_events_include_invites(server):
    # An invite is news for the invited user: /events streams the m.room.member invite event
    # (Synapse's event stream includes the user's own membership changes).
    me, other = fresh(server), fresh(server)
    create_room(me.api())
    end = initial_sync(me.api()).expect(200).body["end"]
    r = create_room(other.api(), preset="private_chat")
    invite(other.api(), r, me.user_id).expect(200)
    chunk = room_events(events(me.api(), **{"from": end, "timeout": 0}).expect(200).body["chunk"])
    inv = [e for e in chunk if e["type"] == "m.room.member" and e.get("state_key") == me.user_id]
    assert len(inv) == 1 and inv[0]["content"]["membership"] == "invite" and inv[0]["room_id"] == r, chunk


def test_initial_sync_archived_ban(server):
    me, other = fresh(server), fresh(server)
    r = create_room(other.api(), preset="public_chat")
    join(me.api(), r).expect(200)
    seen = send(other.api(), r, msg("before the ban"))
    other.api().post("/rooms/%s/ban" % quote(r), {"user_id": me.user_id}).expect(200)
    unseen = send(other.api(), r, msg("after the ban"))
    assert r not in by_room(initial_sync(me.api()).expect(200).body)
    g = by_room(initial_sync(me.api(), archived=True).expect(200).body)[r]
    assert g["membership"] == "ban"
    ids = [e["event_id"] for e in g["messages"]["chunk"]]
    assert seen in ids and unseen not in ids
