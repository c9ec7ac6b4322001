"""Room aliases: PUT/GET/DELETE /directory/room/{roomAlias}, GET /rooms/{roomId}/aliases
(directory.yaml), m.room.canonical_alias validation (room_state.yaml 400s)."""

import pytest

import harness
from harness import quote
from roomlib import create_room, join, put_state, put_state_raw, state_content


@pytest.fixture(scope="module")
def users(server):
    api = server.api("r0")
    return [api.register() for _ in range(3)]


@pytest.fixture(scope="module")
def alice(users):
    return users[0]


@pytest.fixture(scope="module")
def bob(users):
    return users[1]


@pytest.fixture(scope="module")
def carol(users):
    return users[2]


@pytest.fixture(scope="module")
def room(alice, bob):
    r = create_room(alice.api(), preset="public_chat")
    join(bob.api(), r).expect(200)
    return r


def new_alias(server, tag="al"):
    return "#%s:%s" % (harness.unique_localpart(tag), server.server_name)


def apath(alias):
    return "/directory/room/" + quote(alias)


def test_alias_lifecycle(server, prefix, alice, room):
    api = alice.api(prefix)
    alias = new_alias(server)
    api.get(apath(alias)).expect(404, "M_NOT_FOUND")
    r = api.put(apath(alias), {"room_id": room}).expect(200)
    assert r.body == {}
    r = api.get(apath(alias)).expect(200)
    assert r.body["room_id"] == room
    assert server.server_name in r.body["servers"]
    # Resolving needs no access token (directory.yaml: GET has no security requirement).
    assert server.api(prefix).get(apath(alias)).expect(200).body["room_id"] == room
    assert api.delete(apath(alias)).expect(200).body == {}
    api.get(apath(alias)).expect(404, "M_NOT_FOUND")
    api.delete(apath(alias)).expect(404, "M_NOT_FOUND")


def test_alias_already_exists(server, alice, bob, room):
    alias = new_alias(server)
    alice.api().put(apath(alias), {"room_id": room}).expect(200)
    other = create_room(bob.api())
    # directory.yaml: 409 "A room alias with that name already exists." (example errcode M_UNKNOWN)
    bob.api().put(apath(alias), {"room_id": other}).expect(409, "M_UNKNOWN")
    alice.api().put(apath(alias), {"room_id": room}).expect(409, "M_UNKNOWN")
    assert alice.api().get(apath(alias)).expect(200).body["room_id"] == room


def test_alias_requires_token_to_set_and_delete(api, server, room):
    alias = new_alias(server)
    api.put(apath(alias), {"room_id": room}).expect(401, "M_MISSING_TOKEN")
    api.delete(apath(alias)).expect(401, "M_MISSING_TOKEN")


def test_alias_foreign_server(server, alice, room):
    # "homeservers will likely reject attempts to maintain aliases on other domain names"
    # (Synapse: 400 M_INVALID_PARAM "Room alias must be local").
    alice.api().put(apath("#x%s:elsewhere.example" % harness.unique_localpart("")),
                    {"room_id": room}).expect(400, "M_INVALID_PARAM")


@pytest.mark.parametrize("bad", ["noprefix:hearth.test", "#nocolon", "!room:hearth.test", "#:hearth.test"])
def test_alias_malformed(server, alice, room, bad):
    alice.api().put(apath(bad), {"room_id": room}).expect(400, ("M_INVALID_PARAM", "M_UNKNOWN"))


def test_alias_bad_body(server, alice, room):
    alias = new_alias(server)
    alice.api().put(apath(alias), {}).expect(400, ("M_MISSING_PARAM", "M_BAD_JSON"))
    alice.api().put(apath(alias), {"room_id": 7}).expect(400, ("M_BAD_JSON", "M_INVALID_PARAM"))
    alice.api().get(apath(alias)).expect(404, "M_NOT_FOUND")


def test_alias_unknown_room(server, alice):
    alias = new_alias(server)
    r = alice.api().put(apath(alias), {"room_id": "!nosuchroom:" + server.server_name})
    r.expect((400, 403, 404), ("M_NOT_FOUND", "M_FORBIDDEN", "M_INVALID_PARAM"))
    alice.api().get(apath(alias)).expect(404, "M_NOT_FOUND")


def test_delete_by_alias_creator(server, alice, bob, room):
    # bob (power 0 in the room) created the alias: he may delete it.
    alias = new_alias(server)
    bob.api().put(apath(alias), {"room_id": room}).expect(200)
    bob.api().delete(apath(alias)).expect(200)
    bob.api().get(apath(alias)).expect(404, "M_NOT_FOUND")


def test_delete_by_unrelated_user_forbidden(server, alice, carol, room):
    # "Servers may choose to implement additional access control checks here, for instance that
    # room aliases can only be deleted by their creator or a server administrator."
    alias = new_alias(server)
    alice.api().put(apath(alias), {"room_id": room}).expect(200)
    carol.api().delete(apath(alias)).expect(403, "M_FORBIDDEN")
    assert alice.api().get(apath(alias)).expect(200).body["room_id"] == room


def test_local_aliases(server, prefix, alice, bob, room):
    a1, a2 = new_alias(server), new_alias(server)
    alice.api().put(apath(a1), {"room_id": room}).expect(200)
    bob.api().put(apath(a2), {"room_id": room}).expect(200)
    r = bob.api(prefix).get("/rooms/%s/aliases" % quote(room)).expect(200)
    assert {a1, a2} <= set(r.body["aliases"])
    alice.api().delete(apath(a1)).expect(200)
    r = bob.api(prefix).get("/rooms/%s/aliases" % quote(room)).expect(200)
    assert a1 not in r.body["aliases"] and a2 in r.body["aliases"]


def test_local_aliases_empty(server, alice):
    r = create_room(alice.api())
    assert alice.api().get("/rooms/%s/aliases" % quote(r)).expect(200).body == {"aliases": []}


def test_local_aliases_non_member(server, carol, room):
    # "external users receive an M_FORBIDDEN error response"
    carol.api().get("/rooms/%s/aliases" % quote(room)).expect(403, "M_FORBIDDEN")


def test_local_aliases_world_readable(server, alice, carol):
    r = create_room(alice.api(), preset="public_chat", initial_state=[
        {"type": "m.room.history_visibility", "content": {"history_visibility": "world_readable"}}])
    alias = new_alias(server)
    alice.api().put(apath(alias), {"room_id": r}).expect(200)
    # "If the room's m.room.history_visibility maps to world_readable, any user can call this
    # endpoint."
    assert carol.api().get("/rooms/%s/aliases" % quote(r)).expect(200).body["aliases"] == [alias]


def test_local_aliases_requires_token(api, room):
    api.get("/rooms/%s/aliases" % quote(room)).expect(401, "M_MISSING_TOKEN")


# --- m.room.canonical_alias --------------------------------------------------------------

def test_canonical_alias_valid(server, alice, room):
    a1, a2 = new_alias(server), new_alias(server)
    for a in (a1, a2):
        alice.api().put(apath(a), {"room_id": room}).expect(200)
    put_state(alice.api(), room, "m.room.canonical_alias", {"alias": a1, "alt_aliases": [a2]})
    assert state_content(alice.api(), room, "m.room.canonical_alias") == {"alias": a1, "alt_aliases": [a2]}
    # Removing it again is allowed.
    put_state(alice.api(), room, "m.room.canonical_alias", {})


def test_canonical_alias_unknown_alias(server, alice, room):
    # "M_BAD_ALIAS: One or more aliases within the m.room.canonical_alias event do not point to
    # the room ID for which the state event is to be sent to."
    missing = new_alias(server)
    put_state_raw(alice.api(), room, "m.room.canonical_alias", {"alias": missing}).expect(400, "M_BAD_ALIAS")
    put_state_raw(alice.api(), room, "m.room.canonical_alias", {"alt_aliases": [missing]}).expect(400, "M_BAD_ALIAS")


def test_canonical_alias_pointing_elsewhere(server, alice, room):
    other = create_room(alice.api())
    elsewhere = new_alias(server)
    alice.api().put(apath(elsewhere), {"room_id": other}).expect(200)
    good = new_alias(server)
    alice.api().put(apath(good), {"room_id": room}).expect(200)
    put_state_raw(alice.api(), room, "m.room.canonical_alias", {"alias": elsewhere}).expect(400, "M_BAD_ALIAS")
    put_state_raw(alice.api(), room, "m.room.canonical_alias",
                  {"alias": good, "alt_aliases": [good, elsewhere]}).expect(400, "M_BAD_ALIAS")
    r = alice.api().get("/rooms/%s/state/m.room.canonical_alias" % quote(room))
    if r.status == 200:
        assert elsewhere not in str(r.body)


def test_canonical_alias_bad_syntax(server, alice, room):
    # room_state.yaml names "M_INVALID_PARAMETER" for invalid alias syntax; the spec's error
    # list (and Synapse) spell it M_INVALID_PARAM. Either is accepted.
    for content in ({"alias": "not-an-alias"}, {"alt_aliases": ["#no-colon"]},
                    {"alt_aliases": "#a:b"}):
        put_state_raw(alice.api(), room, "m.room.canonical_alias", content).expect(
            400, ("M_INVALID_PARAMETER", "M_INVALID_PARAM", "M_BAD_JSON"))


def test_canonical_alias_needs_power(server, alice, bob, room):
    a = new_alias(server)
    bob.api().put(apath(a), {"room_id": room}).expect(200)
    put_state_raw(bob.api(), room, "m.room.canonical_alias", {"alias": a}).expect(403, "M_FORBIDDEN")
