"""GET /rooms/{roomId}/initialSync (room_initial_sync.yaml, deprecated but part of r0.6.1)."""

import pytest

from harness import quote
from roomlib import (create_room, initial_sync, join, leave, messages, put_state, send,
                     timeline)


@pytest.fixture(scope="module")
def users(server):
    api = server.api("r0")
    return [api.register() for _ in range(2)]


@pytest.fixture(scope="module")
def room(users):
    alice, bob = users
    r = create_room(alice.api(), preset="public_chat", name="isync", topic="topic")
    join(bob.api(), r).expect(200)
    sent = [send((alice, bob)[i % 2].api(), r, {"msgtype": "m.text", "body": "is %d" % i}) for i in range(15)]
    return r, sent


def test_initial_sync(server, prefix, users, room):
    alice, bob = users
    r, sent = room
    body = initial_sync(bob.api(prefix), r).expect(200).body
    assert body["room_id"] == r
    assert body["membership"] == "join"
    assert body["visibility"] == "private"
    m = body["messages"]
    assert isinstance(m["start"], str) and isinstance(m["end"], str)
    chunk = [e["event_id"] for e in m["chunk"]]
    assert chunk, body
    # The most recent messages, oldest first, ending with the newest.
    assert chunk == sent[-len(chunk):]
    # The current state.
    st = {(e["type"], e["state_key"]): e["content"] for e in body["state"]}
    assert st[("m.room.name", "")] == {"name": "isync"}
    assert st[("m.room.topic", "")] == {"topic": "topic"}
    assert st[("m.room.member", bob.user_id)]["membership"] == "join"
    assert ("m.room.create", "") in st
    assert len(st) == len(body["state"])


def test_initial_sync_tokens(server, users, room):
    alice, bob = users
    r, sent = room
    api = alice.api()
    body = initial_sync(api, r).expect(200).body
    m = body["messages"]
    chunk = [e["event_id"] for e in m["chunk"]]
    full = [e["event_id"] for e in timeline(api, r)]
    # start paginates backwards from just before the chunk: no gap, no overlap.
    back = messages(api, r, m["start"], "b", limit=3).expect(200).body
    i = full.index(chunk[0])
    assert [e["event_id"] for e in back["chunk"]] == list(reversed(full[max(0, i - 3):i]))
    # end is the present: nothing after it, until something is sent.
    assert messages(api, r, m["end"], "f", limit=5).expect(200).body["chunk"] == []
    new = send(api, r)
    assert [e["event_id"] for e in messages(api, r, m["end"], "f", limit=5).expect(200).body["chunk"]] == [new]


def test_initial_sync_public_visibility(server, users):
    alice, _ = users
    r = create_room(alice.api(), visibility="public")
    assert initial_sync(alice.api(), r).expect(200).body["visibility"] == "public"


def test_initial_sync_after_leave(server, users):
    alice, _ = users
    leaver = server.api("r0").register()
    r = create_room(alice.api(), preset="public_chat", name="before")
    join(leaver.api(), r).expect(200)
    seen = send(alice.api(), r, {"msgtype": "m.text", "body": "seen"})
    leave(leaver.api(), r).expect(200)
    unseen = send(alice.api(), r, {"msgtype": "m.text", "body": "unseen"})
    put_state(alice.api(), r, "m.room.name", {"name": "after"})
    body = initial_sync(leaver.api(), r).expect(200).body
    assert body["membership"] == "leave"
    ids = [e["event_id"] for e in body["messages"]["chunk"]]
    # "If the user has left the room this will be the messages that preceded them leaving."
    assert seen in ids
    assert unseen not in ids
    st = {(e["type"], e["state_key"]): e["content"] for e in body["state"]}
    # "... the state of the room when they left it."
    assert st[("m.room.name", "")] == {"name": "before"}
    assert st[("m.room.member", leaver.user_id)]["membership"] == "leave"


def test_initial_sync_non_member(server, room):
    r, _ = room
    outsider = server.api("r0").register()
    initial_sync(outsider.api(), r).expect(403, "M_FORBIDDEN")


def test_initial_sync_requires_token(api, room):
    r, _ = room
    api.get("/rooms/%s/initialSync" % quote(r)).expect(401, "M_MISSING_TOKEN")
