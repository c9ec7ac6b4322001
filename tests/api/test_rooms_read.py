"""rooms.yaml readers: GET /rooms/{roomId}/event/{eventId}, /members (at, membership,
not_membership), /joined_members. (The state getters are in test_room_state.py.)"""

import pytest

from harness import quote
from roomlib import (ban, create_room, get_event, invite, join, joined_members, leave, members,
                     now_token, put_state, send)


@pytest.fixture(scope="module")
def u(server):
    api = server.api("r0")

    class U:
        pass

    x = U()
    for n in ("alice", "bob", "carol", "dave", "eve", "frank"):
        setattr(x, n, api.register())
    return x


@pytest.fixture(scope="module")
def room(u):
    """alice (creator), bob joined, carol invited, dave left, eve banned, frank unrelated.
    Also returns a token from before bob's join."""
    api = u.alice.api()
    r = create_room(api, preset="public_chat")
    token_before_bob = now_token(api, r)
    join(u.bob.api(), r).expect(200)
    invite(api, r, u.carol.user_id).expect(200)
    join(u.dave.api(), r).expect(200)
    leave(u.dave.api(), r).expect(200)
    ban(api, r, u.eve.user_id).expect(200)
    return r, token_before_bob


def member_map(chunk):
    return {e["state_key"]: e["content"]["membership"] for e in chunk}


# --- /event ------------------------------------------------------------------------------

def test_get_event(server, prefix, u, room):
    r, _ = room
    eid = send(u.alice.api(), r, {"msgtype": "m.text", "body": "get me"})
    ev = get_event(u.bob.api(prefix), r, eid).expect(200).body
    assert ev["event_id"] == eid
    assert ev["room_id"] == r
    assert ev["content"] == {"msgtype": "m.text", "body": "get me"}
    assert ev["sender"] == u.alice.user_id
    assert ev["type"] == "m.room.message"
    assert isinstance(ev["origin_server_ts"], int)
    age = ev.get("unsigned", {}).get("age")
    if age is not None:
        assert isinstance(age, int) and age >= 0


def test_get_state_event_via_event(server, u, room):
    r, _ = room
    eid = put_state(u.alice.api(), r, "org.example.ev", {"s": 1}, state_key="k")
    ev = get_event(u.bob.api(), r, eid).expect(200).body
    assert ev["state_key"] == "k" and ev["content"] == {"s": 1}


def test_get_event_unknown(server, u, room):
    r, _ = room
    get_event(u.alice.api(), r, "$doesnotexist:" + server.server_name).expect(404, "M_NOT_FOUND")
    get_event(u.alice.api(), r, "$" + "A" * 43).expect(404, "M_NOT_FOUND")


def test_get_event_wrong_room(server, u, room):
    r, _ = room
    other = create_room(u.alice.api())
    eid = send(u.alice.api(), other)
    # The event exists, but not in this room.
    get_event(u.alice.api(), r, eid).expect(404, "M_NOT_FOUND")


def test_get_event_non_member(server, u, room):
    r, _ = room
    eid = send(u.alice.api(), r)
    # rooms.yaml: 404 "The event was not found or you do not have permission to read this
    # event." (Synapse answers 403 here; the spec documents 404.)
    get_event(u.frank.api(), r, eid).expect(404, "M_NOT_FOUND")


def test_get_event_requires_token(api, u, room):
    r, _ = room
    api.get("/rooms/%s/event/%s" % (quote(r), quote("$x:y"))).expect(401, "M_MISSING_TOKEN")


# --- /members ----------------------------------------------------------------------------

def test_members(server, prefix, u, room):
    r, _ = room
    body = members(u.bob.api(prefix), r).expect(200).body
    for e in body["chunk"]:
        assert e["type"] == "m.room.member"
        assert e["room_id"] == r
        assert e["event_id"].startswith("$")
    got = member_map(body["chunk"])
    assert len(got) == len(body["chunk"]), "one event per member"
    assert got == {u.alice.user_id: "join", u.bob.user_id: "join", u.carol.user_id: "invite",
                   u.dave.user_id: "leave", u.eve.user_id: "ban"}


@pytest.mark.parametrize("params,expected", [
    ({"membership": "join"}, {"alice", "bob"}),
    ({"membership": "invite"}, {"carol"}),
    ({"membership": "leave"}, {"dave"}),
    ({"membership": "ban"}, {"eve"}),
    ({"not_membership": "leave"}, {"alice", "bob", "carol", "eve"}),
    ({"not_membership": "join"}, {"carol", "dave", "eve"}),
    # "When specified alongside not_membership, the two parameters create an 'or' condition:
    # either the membership *is* the same as membership **or** *is not* the same as
    # not_membership." (Synapse applies both conditions, i.e. an 'and'; the tests follow the
    # spec.)
    ({"membership": "leave", "not_membership": "join"}, {"carol", "dave", "eve"}),
    ({"membership": "join", "not_membership": "join"}, {"alice", "bob", "carol", "dave", "eve"}),
    ({"membership": "invite", "not_membership": "invite"}, {"alice", "bob", "carol", "dave", "eve"}),
])
def test_members_filters(server, u, room, params, expected):
    r, _ = room
    body = members(u.alice.api(), r, **params).expect(200).body
    names = {n for n in ("alice", "bob", "carol", "dave", "eve", "frank")}
    by_id = {getattr(u, n).user_id: n for n in names}
    assert {by_id[e["state_key"]] for e in body["chunk"]} == expected


def test_members_at(server, u, room):
    r, token_before_bob = room
    body = members(u.alice.api(), r, at=token_before_bob).expect(200).body
    # At that point only alice had joined.
    assert member_map(body["chunk"]) == {u.alice.user_id: "join"}
    body = members(u.alice.api(), r, at=token_before_bob, membership="join").expect(200).body
    assert member_map(body["chunk"]) == {u.alice.user_id: "join"}


def test_members_at_later_token(server, u):
    r = create_room(u.alice.api(), preset="public_chat", invite=[u.carol.user_id])
    send(u.alice.api(), r)
    tok = now_token(u.alice.api(), r)
    join(u.bob.api(), r).expect(200)
    send(u.alice.api(), r)
    got = member_map(members(u.alice.api(), r, at=tok).expect(200).body["chunk"])
    assert got == {u.alice.user_id: "join", u.carol.user_id: "invite"}
    got = member_map(members(u.alice.api(), r).expect(200).body["chunk"])
    assert got == {u.alice.user_id: "join", u.carol.user_id: "invite", u.bob.user_id: "join"}


def test_members_after_leave(server, u):
    """"If you have left the room then this will be the members of the room when you left." """
    r = create_room(u.alice.api(), preset="public_chat")
    leaver = server.api("r0").register()
    join(leaver.api(), r).expect(200)
    leave(leaver.api(), r).expect(200)
    later = server.api("r0").register()
    join(later.api(), r).expect(200)
    got = member_map(members(leaver.api(), r).expect(200).body["chunk"])
    assert got == {u.alice.user_id: "join", leaver.user_id: "leave"}


def test_members_non_member(server, u, room):
    r, _ = room
    members(u.frank.api(), r).expect(403, "M_FORBIDDEN")


def test_members_requires_token(api, u, room):
    r, _ = room
    api.get("/rooms/%s/members" % quote(r)).expect(401, "M_MISSING_TOKEN")


# --- /joined_members ---------------------------------------------------------------------

def test_joined_members(server, prefix, u, room):
    r, _ = room
    body = joined_members(u.bob.api(prefix), r).expect(200).body
    assert set(body["joined"]) == {u.alice.user_id, u.bob.user_id}


def test_joined_members_profile(server, u):
    r = create_room(u.alice.api(), preset="public_chat")
    join(u.bob.api(), r).expect(200)
    put_state(u.bob.api(), r, "m.room.member",
              {"membership": "join", "displayname": "Bob B.", "avatar_url": "mxc://example.org/bob"},
              state_key=u.bob.user_id)
    body = joined_members(u.alice.api(), r).expect(200).body
    assert body["joined"][u.bob.user_id] == {"display_name": "Bob B.", "avatar_url": "mxc://example.org/bob"}
    # Members without a profile in their member event have no such keys (or null-free objects).
    a = body["joined"][u.alice.user_id]
    assert isinstance(a, dict)
    for v in a.values():
        assert isinstance(v, str)


def test_joined_members_not_joined(server, u, room):
    r, _ = room
    # "The current user must be in the room for it to work": unrelated, invited, left, banned.
    for x in (u.frank, u.carol, u.dave, u.eve):
        joined_members(x.api(), r).expect(403, "M_FORBIDDEN")


def test_joined_members_requires_token(api, u, room):
    r, _ = room
    api.get("/rooms/%s/joined_members" % quote(r)).expect(401, "M_MISSING_TOKEN")
