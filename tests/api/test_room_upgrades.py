"""POST /rooms/{roomId}/upgrade (room_upgrades.yaml; modules/room_upgrades.rst server behaviour:
permission check, replacement room with predecessor, state transferred, aliases moved,
tombstone, old room's power levels restricted)."""

import pytest

import harness
from harness import quote
from roomlib import (create_room, get_event, get_state, join, put_state, send_raw,
                     state_content)


@pytest.fixture(scope="module")
def users(server):
    api = server.api("r0")
    return [api.register() for _ in range(3)]


def upgrade(api, room_id, version):
    return api.post("/rooms/%s/upgrade" % quote(room_id), {"new_version": version})


@pytest.fixture(scope="module")
def upgraded(server, users):
    alice, bob, carol = users
    local = harness.unique_localpart("upg")
    alias = "#%s:%s" % (local, server.server_name)
    old = create_room(alice.api(), room_version="5", preset="public_chat", name="Old name",
                      topic="Old topic", room_alias_name=local,
                      power_level_content_override={"users": {alice.user_id: 100, bob.user_id: 40},
                                                    "users_default": 0, "events_default": 0,
                                                    "invite": 0},
                      initial_state=[
                          {"type": "m.room.history_visibility", "content": {"history_visibility": "world_readable"}},
                          {"type": "m.room.guest_access", "content": {"guest_access": "can_join"}},
                          {"type": "m.room.avatar", "content": {"url": "mxc://example.org/av"}},
                      ])
    join(bob.api(), old).expect(200)
    second_alias = "#%s2:%s" % (local, server.server_name)
    alice.api().put("/directory/room/" + quote(second_alias), {"room_id": old}).expect(200)
    r = upgrade(alice.api(), old, "6").expect(200)
    new = r.body["replacement_room"]
    return {"old": old, "new": new, "alias": alias, "alias2": second_alias}


def test_replacement_room(server, users, upgraded):
    alice = users[0]
    old, new = upgraded["old"], upgraded["new"]
    assert new != old and new.startswith("!")
    create = state_content(alice.api(), new, "m.room.create")
    assert create["room_version"] == "6"
    assert create["creator"] == alice.user_id
    pred = create["predecessor"]
    assert pred["room_id"] == old
    # "The event ID of the last known event in the old room."
    ev = get_event(alice.api(), old, pred["event_id"]).expect(200).body
    assert ev["room_id"] == old
    # The upgrader is joined to the new room.
    assert new in alice.api().get("/joined_rooms").expect(200).body["joined_rooms"]
    assert state_content(alice.api(), new, "m.room.member", alice.user_id)["membership"] == "join"


def test_tombstone(server, users, upgraded):
    alice, bob, _ = users
    old, new = upgraded["old"], upgraded["new"]
    t = state_content(bob.api(), old, "m.room.tombstone")
    assert t["replacement_room"] == new
    assert isinstance(t["body"], str)
    st = bob.api().get("/rooms/%s/state" % quote(old)).expect(200).body
    ts = [e for e in st if e["type"] == "m.room.tombstone"]
    assert len(ts) == 1 and ts[0]["sender"] == alice.user_id and ts[0]["state_key"] == ""


def test_state_transferred(server, users, upgraded):
    alice, bob, _ = users
    new = upgraded["new"]
    api = alice.api()
    assert state_content(api, new, "m.room.name") == {"name": "Old name"}
    assert state_content(api, new, "m.room.topic") == {"topic": "Old topic"}
    assert state_content(api, new, "m.room.join_rules")["join_rule"] == "public"
    assert state_content(api, new, "m.room.history_visibility")["history_visibility"] == "world_readable"
    assert state_content(api, new, "m.room.guest_access")["guest_access"] == "can_join"
    assert state_content(api, new, "m.room.avatar") == {"url": "mxc://example.org/av"}
    pl = state_content(api, new, "m.room.power_levels")
    assert pl["users"][alice.user_id] == 100
    assert pl["users"][bob.user_id] == 40
    assert pl.get("events_default", 0) == 0
    # Membership is not transferred: bob is not in the new room, but may join (public).
    get_state(api, new, "m.room.member", bob.user_id).expect(404, "M_NOT_FOUND")
    join(bob.api(), new).expect(200)


def test_aliases_moved(server, users, upgraded):
    alice = users[0]
    old, new = upgraded["old"], upgraded["new"]
    for alias in (upgraded["alias"], upgraded["alias2"]):
        r = alice.api().get("/directory/room/" + quote(alias)).expect(200)
        assert r.body["room_id"] == new, alias
    new_local = alice.api().get("/rooms/%s/aliases" % quote(new)).expect(200).body["aliases"]
    assert {upgraded["alias"], upgraded["alias2"]} <= set(new_local)
    old_local = alice.api().get("/rooms/%s/aliases" % quote(old)).expect(200).body["aliases"]
    assert upgraded["alias"] not in old_local and upgraded["alias2"] not in old_local
    assert state_content(alice.api(), new, "m.room.canonical_alias")["alias"] == upgraded["alias"]


def test_old_room_power_levels_restricted(server, users, upgraded):
    alice, bob, _ = users
    old = upgraded["old"]
    pl = state_content(alice.api(), old, "m.room.power_levels")
    floor = max(50, pl.get("users_default", 0) + 1)
    # "setting events_default and invite to the greater of 50 and users_default + 1"
    assert pl.get("events_default", 0) >= floor, pl
    assert pl.get("invite", 50) >= floor, pl
    # bob (40) can no longer talk or invite in the old room.
    send_raw(bob.api(), old, {"msgtype": "m.text", "body": "x"}).expect(403, "M_FORBIDDEN")
    other = server.api("r0").register()
    bob.api().post("/rooms/%s/invite" % quote(old), {"user_id": other.user_id}).expect(403, "M_FORBIDDEN")


def test_upgrade_unsupported_version(server, users):
    alice = users[0]
    r = create_room(alice.api())
    upgrade(alice.api(), r, "999").expect(400, "M_UNSUPPORTED_ROOM_VERSION")
    get_state(alice.api(), r, "m.room.tombstone").expect(404, "M_NOT_FOUND")


def test_upgrade_without_permission(server, users):
    alice, bob, _ = users
    r = create_room(alice.api(), preset="public_chat")
    join(bob.api(), r).expect(200)
    # bob (0) may not send m.room.tombstone.
    upgrade(bob.api(), r, "6").expect(403, "M_FORBIDDEN")
    get_state(alice.api(), r, "m.room.tombstone").expect(404, "M_NOT_FOUND")


def test_upgrade_non_member(server, users):
    alice, _, carol = users
    r = create_room(alice.api(), preset="public_chat")
    upgrade(carol.api(), r, "6").expect(403, "M_FORBIDDEN")


def test_upgrade_bad_body(server, users):
    alice = users[0]
    r = create_room(alice.api())
    alice.api().post("/rooms/%s/upgrade" % quote(r), {}).expect(400, ("M_MISSING_PARAM", "M_BAD_JSON"))
    alice.api().post("/rooms/%s/upgrade" % quote(r), {"new_version": 6}).expect(
        400, ("M_BAD_JSON", "M_INVALID_PARAM", "M_UNSUPPORTED_ROOM_VERSION"))


def test_upgrade_requires_token(api, server, users):
    r = create_room(users[0].api())
    api.post("/rooms/%s/upgrade" % quote(r), {"new_version": "6"}).expect(401, "M_MISSING_TOKEN")


@pytest.mark.parametrize("src,dst", [("1", "3"), ("4", "4"), ("6", "1")])
def test_upgrade_between_versions(server, users, src, dst):
    alice = users[0]
    r = create_room(alice.api(), room_version=src, name="v%s" % src)
    new = upgrade(alice.api(), r, dst).expect(200).body["replacement_room"]
    c = state_content(alice.api(), new, "m.room.create")
    assert c["room_version"] == dst and c["predecessor"]["room_id"] == r
    assert state_content(alice.api(), new, "m.room.name") == {"name": "v%s" % src}
    put_state(alice.api(), new, "m.room.topic", {"topic": "works"})
