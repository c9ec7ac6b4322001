"""POST /createRoom (create_room.yaml; client_server_api.rst §Rooms/Creation, the preset table,
the event order the spec lists)."""

import pytest

import harness
from harness import quote
from roomlib import (create_room, find_state, get_state, state_content, timeline, txn,
                     EVENT_ID_V1_RE, EVENT_ID_V3_RE, EVENT_ID_V4_RE)

PRESET_TABLE = {
    # preset: (join_rule, history_visibility, guest_access)
    "private_chat": ("invite", "shared", "can_join"),
    "trusted_private_chat": ("invite", "shared", "can_join"),
    "public_chat": ("public", "shared", "forbidden"),
}


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


def full_state(api, room_id):
    return api.get("/rooms/%s/state" % quote(room_id)).expect(200).body


def default_room_version(api):
    return api.get("/capabilities").expect(200).body["capabilities"]["m.room_versions"]["default"]


def joined_rooms(api):
    return api.get("/joined_rooms").expect(200).body["joined_rooms"]


def test_create_room_minimal(server, prefix, alice):
    api = alice.api(prefix)
    r = api.post("/createRoom", {}).expect(200)
    room_id = r.body["room_id"]
    assert room_id.startswith("!") and room_id.endswith(":" + server.server_name), r
    assert room_id in joined_rooms(api)
    state = full_state(api, room_id)
    create = find_state(state, "m.room.create")
    assert create is not None, state
    assert create["sender"] == alice.user_id
    assert create["content"]["creator"] == alice.user_id
    # Default version: the server's configured default, which /capabilities reports.
    assert create["content"]["room_version"] == default_room_version(api)
    assert create["room_id"] == room_id
    member = find_state(state, "m.room.member", alice.user_id)
    assert member["content"]["membership"] == "join"
    pl = find_state(state, "m.room.power_levels")
    assert pl["content"]["users"][alice.user_id] == 100
    # "giving the room creator (and not other members) permission to send state events"
    users_default = pl["content"].get("users_default", 0)
    state_default = pl["content"].get("state_default", 50)
    assert users_default < state_default, pl
    # No visibility and no preset -> private -> private_chat.
    assert find_state(state, "m.room.join_rules")["content"]["join_rule"] == "invite"
    assert find_state(state, "m.room.history_visibility")["content"]["history_visibility"] == "shared"
    assert find_state(state, "m.room.guest_access")["content"]["guest_access"] == "can_join"
    # Rooms default to private visibility in the directory.
    r = api.get("/directory/list/room/" + quote(room_id)).expect(200)
    assert r.body["visibility"] == "private"


def test_create_room_not_json(server, alice):
    # A body that is not JSON at all.
    r = alice.api().post("/createRoom", data=b"not json", headers={"Content-Type": "application/json"})
    r.expect(400, "M_NOT_JSON")


def test_create_room_requires_token(api):
    api.post("/createRoom", {}).expect(401, "M_MISSING_TOKEN")
    api.post("/createRoom", {}, token="nonsense").expect(401, "M_UNKNOWN_TOKEN")


@pytest.mark.parametrize("preset", sorted(PRESET_TABLE))
def test_preset_state_table(server, alice, bob, preset):
    api = alice.api()
    room_id = create_room(api, preset=preset, invite=[bob.user_id])
    join_rule, hv, guest = PRESET_TABLE[preset]
    assert state_content(api, room_id, "m.room.join_rules")["join_rule"] == join_rule
    assert state_content(api, room_id, "m.room.history_visibility")["history_visibility"] == hv
    assert state_content(api, room_id, "m.room.guest_access")["guest_access"] == guest
    pl = state_content(api, room_id, "m.room.power_levels")
    creator_level = pl["users"][alice.user_id]
    assert creator_level == 100
    if preset == "trusted_private_chat":
        # "All invitees are given the same power level as the room creator."
        assert pl["users"].get(bob.user_id) == creator_level, pl
    else:
        assert pl["users"].get(bob.user_id, pl.get("users_default", 0)) < creator_level, pl


@pytest.mark.parametrize("visibility,join_rule", [("public", "public"), ("private", "invite")])
def test_visibility_selects_preset_and_directory(server, alice, visibility, join_rule):
    api = alice.api()
    room_id = create_room(api, visibility=visibility)
    # Without a preset, public visibility means public_chat and private means private_chat.
    assert state_content(api, room_id, "m.room.join_rules")["join_rule"] == join_rule
    expected_guest = "forbidden" if visibility == "public" else "can_join"
    assert state_content(api, room_id, "m.room.guest_access")["guest_access"] == expected_guest
    r = api.get("/directory/list/room/" + quote(room_id)).expect(200)
    assert r.body["visibility"] == visibility


def test_visibility_and_preset_independent(server, alice):
    # The preset wins over what the visibility would imply; the visibility still publishes.
    api = alice.api()
    room_id = create_room(api, visibility="public", preset="private_chat")
    assert state_content(api, room_id, "m.room.join_rules")["join_rule"] == "invite"
    assert api.get("/directory/list/room/" + quote(room_id)).expect(200).body["visibility"] == "public"


@pytest.mark.parametrize("field,value", [
    ("preset", "no_such_preset"),
    ("visibility", "secret"),
])
def test_invalid_enum_values(server, alice, field, value):
    api = alice.api()
    before = joined_rooms(api)
    r = api.post("/createRoom", {field: value})
    # create_room.yaml: 400 with "a meaningful errcode"; Synapse answers M_BAD_JSON for an unknown
    # preset and M_INVALID_PARAM for an unknown visibility.
    r.expect(400, ("M_BAD_JSON", "M_INVALID_PARAM"))
    assert joined_rooms(api) == before


def test_room_alias_name(server, prefix, alice):
    api = alice.api(prefix)
    local = harness.unique_localpart("alias")
    room_id = create_room(api, room_alias_name=local)
    alias = "#%s:%s" % (local, server.server_name)
    r = api.get("/directory/room/" + quote(alias)).expect(200)
    assert r.body["room_id"] == room_id
    # "The complete room alias will become the canonical alias for the room."
    assert state_content(api, room_id, "m.room.canonical_alias")["alias"] == alias
    # Anyone (even unauthenticated, per directory.yaml's GET having no security) resolves it.
    assert server.api(prefix).get("/directory/room/" + quote(alias)).expect(200).body["room_id"] == room_id


def test_room_alias_name_taken(server, alice, bob):
    local = harness.unique_localpart("taken")
    room_id = create_room(alice.api(), room_alias_name=local)
    before = joined_rooms(bob.api())
    bob.api().post("/createRoom", {"room_alias_name": local}).expect(400, "M_ROOM_IN_USE")
    assert joined_rooms(bob.api()) == before
    alias = "#%s:%s" % (local, server.server_name)
    assert alice.api().get("/directory/room/" + quote(alias)).expect(200).body["room_id"] == room_id


def test_room_alias_name_taken_by_directory_put(server, alice, bob):
    local = harness.unique_localpart("taken")
    other = create_room(alice.api())
    alias = "#%s:%s" % (local, server.server_name)
    alice.api().put("/directory/room/" + quote(alias), {"room_id": other}).expect(200)
    bob.api().post("/createRoom", {"room_alias_name": local}).expect(400, "M_ROOM_IN_USE")


def test_name_and_topic(server, alice):
    api = alice.api()
    room_id = create_room(api, name="The Grand Duke Pub \u2603", topic="All about happy hour")
    assert state_content(api, room_id, "m.room.name") == {"name": "The Grand Duke Pub \u2603"}
    assert state_content(api, room_id, "m.room.topic") == {"topic": "All about happy hour"}


def test_no_name_no_topic_means_no_such_state(server, alice):
    api = alice.api()
    room_id = create_room(api)
    get_state(api, room_id, "m.room.name").expect(404, "M_NOT_FOUND")
    get_state(api, room_id, "m.room.topic").expect(404, "M_NOT_FOUND")


def test_invite_and_is_direct(server, alice, bob, carol):
    api = alice.api()
    room_id = create_room(api, invite=[bob.user_id, carol.user_id], is_direct=True)
    for u in (bob, carol):
        ev = state_content(api, room_id, "m.room.member", u.user_id)
        assert ev["membership"] == "invite"
        assert ev.get("is_direct") is True, ev
    # The invitees can join (it is a private_chat room: invite-only).
    bob.api().post("/rooms/%s/join" % quote(room_id), {}).expect(200)
    assert state_content(api, room_id, "m.room.member", bob.user_id)["membership"] == "join"


def test_invite_without_is_direct(server, alice, bob):
    api = alice.api()
    room_id = create_room(api, invite=[bob.user_id])
    ev = state_content(api, room_id, "m.room.member", bob.user_id)
    assert ev["membership"] == "invite"
    assert not ev.get("is_direct"), ev


def test_invite_3pid_bad_entries_are_refused(server, alice):
    # Third-party invites work (test_third_party_membership.py, against an identity server); a
    # malformed entry is refused before the room exists.
    api = alice.api()
    before = joined_rooms(api)
    good = {"id_server": "id.example.org", "id_access_token": "abc", "medium": "email",
            "address": "someone@example.org"}
    api.post("/createRoom", {"invite_3pid": [dict(good, id_server="id.example.org/evil")]}).expect(
        400, "M_SERVER_NOT_TRUSTED")
    api.post("/createRoom", {"invite_3pid": [{k: v for k, v in good.items() if k != "medium"}]}).expect(
        400, "M_MISSING_PARAM")
    api.post("/createRoom", {"invite_3pid": [dict(good, address="nobody")]}).expect(400, "M_INVALID_PARAM")
    api.post("/createRoom", {"invite_3pid": "x"}).expect(400, "M_BAD_JSON")
    assert joined_rooms(api) == before, "a failed createRoom left a room behind"


@pytest.mark.parametrize("version", ["1", "2", "3", "4", "5", "6", "7"])
def test_room_version(server, alice, version):
    api = alice.api()
    room_id = create_room(api, room_version=version)
    create = state_content(api, room_id, "m.room.create")
    assert create["room_version"] == version
    assert create["creator"] == alice.user_id
    ev = api.get("/rooms/%s/state/m.room.create/" % quote(room_id)).expect(200).body
    assert ev == create
    events = timeline(api, room_id)
    pattern = {"1": EVENT_ID_V1_RE, "2": EVENT_ID_V1_RE, "3": EVENT_ID_V3_RE}.get(version, EVENT_ID_V4_RE)
    for e in events:
        assert pattern.match(e["event_id"]), (version, e["event_id"])


@pytest.mark.parametrize("version", ["8", "0", "", "1.0", "5 ", "org.example.custom"])
def test_unsupported_room_version(server, alice, version):
    api = alice.api()
    before = joined_rooms(api)
    api.post("/createRoom", {"room_version": version}).expect(400, "M_UNSUPPORTED_ROOM_VERSION")
    assert joined_rooms(api) == before


def test_creation_content(server, alice, bob):
    api = alice.api()
    room_id = create_room(api, room_version="4", creation_content={
        "m.federate": False, "org.example.custom": {"a": [1, 2]},
        # "The server will clobber the following keys: creator, room_version."
        "creator": bob.user_id, "room_version": "1"})
    c = state_content(api, room_id, "m.room.create")
    assert c["m.federate"] is False
    assert c["org.example.custom"] == {"a": [1, 2]}
    assert c["creator"] == alice.user_id
    assert c["room_version"] == "4"


def test_creation_content_must_be_object(server, alice):
    alice.api().post("/createRoom", {"creation_content": ["nope"]}).expect(400, "M_BAD_JSON")


def test_initial_state(server, alice):
    api = alice.api()
    room_id = create_room(api, preset="public_chat", initial_state=[
        {"type": "org.example.state", "state_key": "k1", "content": {"v": 1}},
        {"type": "org.example.state", "content": {"v": "empty key"}},
        # Takes precedence over events set by the preset...
        {"type": "m.room.history_visibility", "content": {"history_visibility": "joined"}},
        # ... but gets overridden by name and topic.
        {"type": "m.room.name", "content": {"name": "from initial_state"}},
    ], name="from name")
    assert state_content(api, room_id, "org.example.state", "k1") == {"v": 1}
    assert state_content(api, room_id, "org.example.state") == {"v": "empty key"}
    assert state_content(api, room_id, "m.room.history_visibility")["history_visibility"] == "joined"
    assert state_content(api, room_id, "m.room.join_rules")["join_rule"] == "public"
    assert state_content(api, room_id, "m.room.name") == {"name": "from name"}


def test_initial_state_entry_without_content_is_rejected(server, alice):
    api = alice.api()
    before = joined_rooms(api)
    r = api.post("/createRoom", {"initial_state": [{"type": "org.example.state", "state_key": ""}]})
    r.expect(400, ("M_BAD_JSON", "M_MISSING_PARAM"))
    assert joined_rooms(api) == before


def test_power_level_content_override(server, alice, bob):
    api = alice.api()
    room_id = create_room(api, invite=[bob.user_id], power_level_content_override={
        "events_default": 20, "events": {"m.room.name": 0, "org.example.x": 70}, "invite": 0,
        "users_default": 5})
    pl = state_content(api, room_id, "m.room.power_levels")
    assert pl["events_default"] == 20
    assert pl["users_default"] == 5
    assert pl["events"]["m.room.name"] == 0
    assert pl["events"]["org.example.x"] == 70
    # Keys not overridden keep their defaults: the creator is still 100.
    assert pl["users"][alice.user_id] == 100
    # And the override is effective: bob (users_default 5) cannot send a message (needs 20) but
    # can set the name (needs 0) once joined.
    bob.api().post("/rooms/%s/join" % quote(room_id), {}).expect(200)
    bob.api().put("/rooms/%s/send/m.room.message/%s" % (quote(room_id), txn()),
                  {"msgtype": "m.text", "body": "x"}).expect(403, "M_FORBIDDEN")
    bob.api().put("/rooms/%s/state/m.room.name" % quote(room_id), {"name": "bob's"}).expect(200)


def test_power_level_override_users(server, alice, bob):
    api = alice.api()
    room_id = create_room(api, power_level_content_override={
        "users": {alice.user_id: 100, bob.user_id: 50}})
    pl = state_content(api, room_id, "m.room.power_levels")
    assert pl["users"] == {alice.user_id: 100, bob.user_id: 50}


def test_invalid_room_state(server, alice):
    # "the user's power_level is set below that necessary to set the room name"
    api = alice.api()
    r = api.post("/createRoom", {"name": "cannot", "power_level_content_override": {
        "users": {alice.user_id: 10}, "events": {"m.room.name": 50}, "state_default": 50}})
    r.expect(400, "M_INVALID_ROOM_STATE")


def test_event_order(server, alice, bob):
    """The order the spec mandates: create, creator's join, power levels, preset events,
    initial_state in order, name and topic, invites."""
    api = alice.api()
    room_id = create_room(api, preset="private_chat", name="N", topic="T", invite=[bob.user_id],
                          initial_state=[
                              {"type": "org.example.a", "state_key": "", "content": {"n": 1}},
                              {"type": "org.example.b", "state_key": "x", "content": {"n": 2}},
                              {"type": "org.example.a", "state_key": "y", "content": {"n": 3}},
                          ])
    events = timeline(api, room_id)
    keys = [(e["type"], e.get("state_key")) for e in events]
    assert keys[0] == ("m.room.create", "")
    assert keys[1] == ("m.room.member", alice.user_id)
    assert events[1]["content"]["membership"] == "join"
    assert keys[2] == ("m.room.power_levels", "")
    assert set(keys[3:6]) == {("m.room.join_rules", ""), ("m.room.history_visibility", ""),
                              ("m.room.guest_access", "")}, keys
    assert keys[6:9] == [("org.example.a", ""), ("org.example.b", "x"), ("org.example.a", "y")], keys
    assert keys[9:11] == [("m.room.name", ""), ("m.room.topic", "")], keys
    assert keys[11:] == [("m.room.member", bob.user_id)], keys
    assert events[11]["content"]["membership"] == "invite"
    # Every event is a room event of this room, sent by the creator.
    for e in events:
        assert e["room_id"] == room_id
        assert e["sender"] == alice.user_id
        assert isinstance(e["origin_server_ts"], int)
    # origin_server_ts never goes backwards along the order.
    ts = [e["origin_server_ts"] for e in events]
    assert ts == sorted(ts)


def test_event_order_with_alias(server, alice):
    """r0.6.1 does not place the canonical alias event in its list; it must come after the
    power levels (it needs them) and exist exactly once."""
    api = alice.api()
    local = harness.unique_localpart("ord")
    room_id = create_room(api, room_alias_name=local)
    events = timeline(api, room_id)
    types = [e["type"] for e in events]
    assert types[:3] == ["m.room.create", "m.room.member", "m.room.power_levels"]
    assert types.count("m.room.canonical_alias") == 1
    assert types.index("m.room.canonical_alias") > 2


def test_invite_invalid_user_id(server, alice):
    api = alice.api()
    before = joined_rooms(api)
    api.post("/createRoom", {"invite": ["not-a-user-id"]}).expect(400, ("M_INVALID_PARAM", "M_BAD_JSON"))
    assert joined_rooms(api) == before


def test_invite_wrong_type(server, alice):
    alice.api().post("/createRoom", {"invite": "@a:b"}).expect(400, "M_BAD_JSON")
    alice.api().post("/createRoom", {"name": 5}).expect(400, "M_BAD_JSON")
    alice.api().post("/createRoom", {"initial_state": {"type": "x"}}).expect(400, "M_BAD_JSON")
    alice.api().post("/createRoom", {"room_version": 5}).expect(400, "M_BAD_JSON")
    alice.api().post("/createRoom", {"is_direct": "yes"}).expect(400, "M_BAD_JSON")
    alice.api().post("/createRoom", {"power_level_content_override": [1]}).expect(400, "M_BAD_JSON")


def test_each_room_is_new(server, alice):
    api = alice.api()
    a = create_room(api)
    b = create_room(api)
    assert a != b
    rooms = joined_rooms(api)
    assert a in rooms and b in rooms
