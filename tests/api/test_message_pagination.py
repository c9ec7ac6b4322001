"""GET /rooms/{roomId}/messages (message_pagination.yaml; client_server_api.rst §Syncing /
§Filtering (RoomEventFilter), §Lazy-loading room members)."""

import json

import pytest

from harness import quote
from roomlib import create_room, join, messages, now_token, send, timeline

N_MESSAGES = 23


@pytest.fixture(scope="module")
def users(server):
    api = server.api("r0")
    return [api.register() for _ in range(3)]


@pytest.fixture(scope="module")
def room(users):
    """A public room with alice, bob and carol; N_MESSAGES messages alternating alice/bob, one
    with a URL, then a custom event by carol. Returns (room_id, sent event IDs in order)."""
    alice, bob, carol = users
    r = create_room(alice.api(), preset="public_chat", name="pagination")
    join(bob.api(), r).expect(200)
    join(carol.api(), r).expect(200)
    sent = []
    for i in range(N_MESSAGES):
        who = alice if i % 2 == 0 else bob
        content = {"msgtype": "m.text", "body": "msg %d" % i}
        if i == 5:
            content = {"msgtype": "m.image", "body": "pic", "url": "mxc://example.org/pic"}
        sent.append(send(who.api(), r, content))
    sent.append(send(carol.api(), r, {"v": 1}, event_type="org.example.custom"))
    return r, sent


def page_all(api, room_id, token, direction, limit, **params):
    """Pages until an empty chunk; returns (events in returned order, responses)."""
    out, resps = [], []
    for _ in range(500):
        r = messages(api, room_id, token, direction, limit=limit, **params).expect(200)
        resps.append(r.body)
        chunk = r.body["chunk"]
        assert len(chunk) <= limit
        if not chunk:
            break
        out.extend(chunk)
        assert "end" in r.body, r.body
        token = r.body["end"]
    else:
        raise AssertionError("pagination did not end")
    return out, resps


def test_backwards_to_start_of_room(server, prefix, users, room):
    alice = users[0]
    r, sent = room
    api = alice.api(prefix)
    tok = now_token(api, r)
    events, resps = page_all(api, r, tok, "b", 4)
    # "If dir=b [start] will be the token supplied in from."
    assert resps[0]["start"] == tok
    for prev, cur in zip(resps, resps[1:]):
        assert cur["start"] == prev["end"]
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids)), "duplicates"
    # Reverse-chronological: our messages appear newest first and contiguously.
    assert ids[:len(sent)] == list(reversed(sent))
    # The very first event of the room is the last one returned.
    assert events[-1]["type"] == "m.room.create"
    assert events[-2]["type"] == "m.room.member" and events[-2]["state_key"] == alice.user_id
    for e in events:
        assert e["room_id"] == r
    # Paging further back from the start of the room keeps answering an empty chunk.
    last_end = resps[-1].get("end", resps[-1]["start"])
    again = messages(api, r, last_end, "b", limit=5).expect(200).body
    assert again["chunk"] == []


def test_forwards_from_start_of_room(server, users, room):
    alice = users[0]
    r, sent = room
    api = alice.api()
    now = now_token(api, r)
    back, resps = page_all(api, r, now, "b", 50)
    start_tok = resps[-2]["end"] if len(resps) > 1 else resps[-1]["end"]
    fwd, fresps = page_all(api, r, start_tok, "f", 6)
    assert [e["event_id"] for e in fwd] == [e["event_id"] for e in reversed(back)]
    assert fwd[0]["type"] == "m.room.create"
    assert [e["event_id"] for e in fwd][-len(sent):] == sent
    # Chronological order: origin_server_ts does not decrease.
    ts = [e["origin_server_ts"] for e in fwd]
    assert ts == sorted(ts)
    # Forwards: start is the from token too.
    assert fresps[0]["start"] == start_tok


def test_both_directions_consistent_with_small_limits(server, users, room):
    api = users[1].api()
    r, sent = room
    now = now_token(api, r)
    full = timeline(api, r, from_token=now, limit=100)
    for limit in (1, 2, 7):
        back, _ = page_all(api, r, now, "b", limit)
        assert [e["event_id"] for e in reversed(back)] == [e["event_id"] for e in full]


def test_default_limit_is_10(server, users, room):
    api = users[0].api()
    r, sent = room
    body = api.get("/rooms/%s/messages" % quote(r), params={"from": now_token(api, r), "dir": "b"}).expect(200).body
    assert len(body["chunk"]) == 10
    assert [e["event_id"] for e in body["chunk"]] == list(reversed(sent))[:10]


def test_to_token(server, users):
    alice = users[0]
    api = alice.api()
    r = create_room(api, preset="public_chat")
    send(api, r)
    t1 = now_token(api, r)
    middle = [send(api, r, {"msgtype": "m.text", "body": "mid %d" % i}) for i in range(5)]
    t2 = now_token(api, r)
    send(api, r)
    # Backwards from t2 to t1: exactly the five middle messages.
    body = messages(api, r, t2, "b", limit=50, to=t1).expect(200).body
    assert [e["event_id"] for e in body["chunk"]] == list(reversed(middle))
    # Forwards from t1 to t2: the same, chronologically.
    body = messages(api, r, t1, "f", limit=50, to=t2).expect(200).body
    assert [e["event_id"] for e in body["chunk"]] == middle
    # A limit smaller than the range still stops at the limit.
    body = messages(api, r, t1, "f", limit=2, to=t2).expect(200).body
    assert [e["event_id"] for e in body["chunk"]] == middle[:2]


def test_fixed_token_ignores_new_events(server, users):
    alice = users[0]
    api = alice.api()
    r = create_room(api, preset="public_chat")
    old = [send(api, r) for _ in range(6)]
    tok = now_token(api, r)
    first = messages(api, r, tok, "b", limit=3).expect(200).body
    new = [send(api, r) for _ in range(3)]
    second = messages(api, r, first["end"], "b", limit=3).expect(200).body
    got = [e["event_id"] for e in first["chunk"] + second["chunk"]]
    assert got == list(reversed(old))
    assert not set(new) & set(got)
    # Forwards from tok: exactly the new ones, then nothing.
    fwd = messages(api, r, tok, "f", limit=10).expect(200).body
    assert [e["event_id"] for e in fwd["chunk"]] == new
    assert messages(api, r, fwd["end"], "f", limit=10).expect(200).body["chunk"] == []


@pytest.mark.parametrize("flt,want", [
    ({"types": ["m.room.message"]}, lambda e, u: e["type"] == "m.room.message"),
    ({"not_types": ["m.room.message"]}, lambda e, u: e["type"] != "m.room.message"),
    ({"types": ["m.room.*"]}, lambda e, u: e["type"].startswith("m.room.")),
    ({"types": ["org.example.*"]}, lambda e, u: e["type"].startswith("org.example.")),
    ({"senders": ["BOB"]}, lambda e, u: e["sender"] == u[1].user_id),
    ({"not_senders": ["ALICE"]}, lambda e, u: e["sender"] != u[0].user_id),
    ({"types": ["m.room.message"], "not_senders": ["BOB"]},
     lambda e, u: e["type"] == "m.room.message" and e["sender"] != u[1].user_id),
    ({"contains_url": True}, lambda e, u: "url" in e["content"]),
    ({"contains_url": False}, lambda e, u: "url" not in e["content"]),
    # not_types wins over types.
    ({"types": ["m.room.message", "org.example.custom"], "not_types": ["m.room.message"]},
     lambda e, u: e["type"] == "org.example.custom"),
])
def test_filter(server, users, room, flt, want):
    api = users[0].api()
    r, sent = room
    ids = {"ALICE": users[0].user_id, "BOB": users[1].user_id}
    flt = json.loads(json.dumps(flt))
    for k in ("senders", "not_senders"):
        if k in flt:
            flt[k] = [ids[x] for x in flt[k]]
    everything = timeline(api, r)
    expected = [e["event_id"] for e in everything if want(e, users)]
    assert expected, "filter case selects nothing; the test is vacuous"
    got = [e["event_id"] for e in timeline(api, r, filter=flt)]
    assert got == expected


def test_filter_limit(server, users, room):
    api = users[0].api()
    r, sent = room
    # RoomEventFilter.limit: "The maximum number of events to return."
    body = messages(api, r, now_token(api, r), "b", limit=20, filter={"limit": 3}).expect(200).body
    assert len(body["chunk"]) == 3


def test_lazy_load_members(server, users, room):
    alice, bob, carol = users
    api = alice.api()
    r, sent = room
    # The last three events: bob (msg 21), alice (msg 22), carol (custom).
    body = messages(api, r, now_token(api, r), "b", limit=2,
                    filter={"lazy_load_members": True}).expect(200).body
    senders = {e["sender"] for e in body["chunk"]}
    assert senders == {alice.user_id, carol.user_id}
    state = body.get("state", [])
    members = {e["state_key"]: e for e in state if e["type"] == "m.room.member"}
    # The membership events for the senders of the chunk...
    assert set(members) >= senders, state
    for uid in senders:
        assert members[uid]["content"]["membership"] == "join"
    # ... and not those of members who sent nothing in it.
    assert bob.user_id not in members, state
    for e in state:
        assert "state_key" in e and e["room_id"] == r


def test_lazy_load_members_only_bob(server, users, room):
    alice, bob, carol = users
    api = alice.api()
    r, sent = room
    body = messages(api, r, now_token(api, r), "b", limit=4,
                    filter={"lazy_load_members": True, "senders": [bob.user_id]}).expect(200).body
    assert body["chunk"] and {e["sender"] for e in body["chunk"]} == {bob.user_id}
    members = {e["state_key"] for e in body.get("state", []) if e["type"] == "m.room.member"}
    assert members == {bob.user_id}


def test_invalid_dir(server, users, room):
    api = users[0].api()
    r, _ = room
    api.get("/rooms/%s/messages" % quote(r), params={"from": now_token(api, r), "dir": "x"}) \
        .expect(400, "M_INVALID_PARAM")


def test_non_member_forbidden(server, users, room):
    r, _ = room
    outsider = server.api("r0").register()
    tok = now_token(users[0].api(), r)
    messages(outsider.api(), r, tok, "b").expect(403, "M_FORBIDDEN")


def test_requires_token(api, room):
    r, _ = room
    api.get("/rooms/%s/messages" % quote(r), params={"from": "x", "dir": "b"}).expect(401, "M_MISSING_TOKEN")


def test_bad_parameters(server, users, room):
    api = users[0].api()
    r, _ = room
    tok = now_token(api, r)
    path = "/rooms/%s/messages" % quote(r)
    api.get(path, params={"from": "garbage-token", "dir": "b"}).expect(400, "M_INVALID_PARAM")
    # dir is required (message_pagination.yaml: required: true).
    api.get(path, params={"from": tok}).expect(400, "M_MISSING_PARAM")
    for limit in ("-1", "abc"):
        api.get(path, params={"from": tok, "dir": "b", "limit": limit}).expect(400, "M_INVALID_PARAM")
    api.get(path, params={"from": tok, "dir": "b", "filter": "{"}).expect(400, ("M_NOT_JSON", "M_BAD_JSON"))
    api.get(path, params={"from": tok, "dir": "b", "filter": "[]"}).expect(400, "M_BAD_JSON")


def test_long_room_both_directions(server, users):
    """300 events: paging backwards and forwards with awkward limits gives the same complete
    sequence, from the start of the room to the present."""
    api = users[0].api()
    r = create_room(api, preset="public_chat")
    sent = [send(api, r, {"msgtype": "m.text", "body": "long %d" % i}) for i in range(300)]
    now = now_token(api, r)
    back, resps = page_all(api, r, now, "b", 7)
    ids = [e["event_id"] for e in reversed(back)]
    assert ids[-300:] == sent
    assert len(ids) == len(set(ids))
    start_tok = resps[-2]["end"]
    fwd, _ = page_all(api, r, start_tok, "f", 13)
    assert [e["event_id"] for e in fwd] == ids
