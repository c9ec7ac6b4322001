"""GET /rooms/{roomId}/context/{eventId} (event_context.yaml; modules/event_context.rst)."""

import pytest

from harness import quote
from roomlib import context, create_room, get_event, join, messages, send, timeline


@pytest.fixture(scope="module")
def users(server):
    api = server.api("r0")
    return [api.register() for _ in range(3)]


@pytest.fixture(scope="module")
def room(users):
    alice, bob, carol = users
    r = create_room(alice.api(), preset="public_chat")
    join(bob.api(), r).expect(200)
    join(carol.api(), r).expect(200)
    sent = []
    for i in range(20):
        who = (alice, bob)[i % 2]
        if i % 5 == 4:
            sent.append(send(who.api(), r, {"i": i}, event_type="org.example.ctx"))
        else:
            sent.append(send(who.api(), r, {"msgtype": "m.text", "body": "c%d" % i}))
    return r, sent


def test_context_basic(server, prefix, users, room):
    api = users[0].api(prefix)
    r, sent = room
    target = sent[10]
    body = context(api, r, target, limit=6).expect(200).body
    direct = get_event(api, r, target).expect(200).body
    for k in ("event_id", "type", "content", "sender", "room_id", "origin_server_ts"):
        assert body["event"][k] == direct[k], k
    assert body["event"]["event_id"] == target
    before = [e["event_id"] for e in body["events_before"]]
    after = [e["event_id"] for e in body["events_after"]]
    assert before, body
    assert after, body
    # "The maximum number of events to return."
    assert len(before) + len(after) <= 6
    # events_before: reverse-chronological, immediately preceding; events_after:
    # chronological, immediately following.
    assert before == list(reversed(sent[10 - len(before):10]))
    assert after == sent[11:11 + len(after)]
    assert isinstance(body["start"], str) and isinstance(body["end"], str)


def test_context_default_limit(server, users, room):
    api = users[0].api()
    r, sent = room
    body = context(api, r, sent[10]).expect(200).body
    n = len(body["events_before"]) + len(body["events_after"])
    # Default 10, and the room has enough events on both sides to fill it.
    assert n == 10, body


def test_context_tokens_continue_without_gaps(server, users, room):
    api = users[1].api()
    r, sent = room
    full = [e["event_id"] for e in timeline(api, r)]
    target = sent[10]
    body = context(api, r, target, limit=4).expect(200).body
    before = [e["event_id"] for e in body["events_before"]]
    after = [e["event_id"] for e in body["events_after"]]
    # start: "A token that can be used to paginate backwards with."
    back = messages(api, r, body["start"], "b", limit=3).expect(200).body
    back_ids = [e["event_id"] for e in back["chunk"]]
    i = full.index(target)
    assert list(reversed(before)) + [target] + after == full[i - len(before):i + 1 + len(after)]
    assert back_ids == list(reversed(full[i - len(before) - 3:i - len(before)]))
    # end: "A token that can be used to paginate forwards with."
    fwd = messages(api, r, body["end"], "f", limit=3).expect(200).body
    j = i + len(after)
    assert [e["event_id"] for e in fwd["chunk"]] == full[j + 1:j + 4]


def test_context_limit_zero(server, users, room):
    api = users[0].api()
    r, sent = room
    body = context(api, r, sent[3], limit=0).expect(200).body
    assert body["event"]["event_id"] == sent[3]
    assert body["events_before"] == [] and body["events_after"] == []


def test_context_at_edges(server, users, room):
    api = users[0].api()
    r, sent = room
    body = context(api, r, sent[-1], limit=4).expect(200).body
    assert body["events_after"] == []
    first = timeline(api, r)[0]
    assert first["type"] == "m.room.create"
    body = context(api, r, first["event_id"], limit=4).expect(200).body
    assert body["events_before"] == []
    assert body["event"]["type"] == "m.room.create"


def test_context_state(server, users, room):
    alice, bob, carol = users
    api = alice.api()
    r, sent = room
    body = context(api, r, sent[10], limit=2).expect(200).body
    st = {(e["type"], e["state_key"]) for e in body["state"]}
    # "The state of the room at the last event returned."
    for want in [("m.room.create", ""), ("m.room.power_levels", ""), ("m.room.join_rules", "")]:
        assert want in st, st


def test_context_filter_not_applied_to_event(server, users, room):
    api = users[0].api()
    r, sent = room
    target = sent[10]  # an m.room.message
    body = context(api, r, target, limit=6, filter={"types": ["org.example.ctx"]}).expect(200).body
    assert body["event"]["event_id"] == target
    assert body["event"]["type"] == "m.room.message"
    for e in body["events_before"] + body["events_after"]:
        assert e["type"] == "org.example.ctx"
    assert body["events_before"] or body["events_after"]


def test_context_lazy_load_members(server, users, room):
    alice, bob, carol = users
    api = alice.api()
    r, sent = room
    body = context(api, r, sent[10], limit=4, filter={"lazy_load_members": True}).expect(200).body
    senders = {e["sender"] for e in body["events_before"] + body["events_after"] + [body["event"]]}
    members = {e["state_key"] for e in body["state"] if e["type"] == "m.room.member"}
    assert senders <= members
    # carol sent nothing near this event.
    assert carol.user_id not in members


def test_context_unknown_event(server, users, room):
    r, _ = room
    context(users[0].api(), r, "$nosuchevent:" + server.server_name).expect(404, "M_NOT_FOUND")


def test_context_event_of_other_room(server, users, room):
    r, _ = room
    other = create_room(users[0].api())
    eid = send(users[0].api(), other)
    context(users[0].api(), r, eid).expect(404, "M_NOT_FOUND")


def test_context_non_member(server, users, room):
    r, sent = room
    outsider = server.api("r0").register()
    # event_context.yaml documents no error; a user who may not see the event gets either the
    # membership error (403 M_FORBIDDEN, as /messages) or "not found" (404 M_NOT_FOUND, as /event).
    context(outsider.api(), r, sent[0]).expect((403, 404), ("M_FORBIDDEN", "M_NOT_FOUND"))


def test_context_requires_token(api, room):
    r, sent = room
    api.get("/rooms/%s/context/%s" % (quote(r), quote(sent[0]))).expect(401, "M_MISSING_TOKEN")
