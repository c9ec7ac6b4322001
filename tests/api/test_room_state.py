"""State: PUT /rooms/{roomId}/state/{eventType}[/{stateKey}] (room_state.yaml) and the state
getters of rooms.yaml (GET /state, /state/{eventType}/{stateKey}); the state-event
authorization rules of rooms/v1.rst (power levels, `@` state keys)."""

import pytest

from harness import quote
from roomlib import (create_room, get_event, get_state, join, leave, put_state, put_state_raw,
                     room_state, state_content, timeline)


@pytest.fixture(scope="module")
def users(server):
    api = server.api("r0")
    return [api.register() for _ in range(4)]


@pytest.fixture(scope="module")
def alice(users):
    return users[0]


@pytest.fixture(scope="module")
def bob(users):
    return users[1]


@pytest.fixture(scope="module")
def room(alice, bob):
    """public_chat, alice 100, bob 0 joined."""
    r = create_room(alice.api(), preset="public_chat")
    join(bob.api(), r).expect(200)
    return r


def test_put_state_without_state_key(server, prefix, alice, room):
    api = alice.api(prefix)
    r = api.put("/rooms/%s/state/org.example.nokey" % quote(room), {"v": prefix}).expect(200)
    eid = r.body["event_id"]
    assert api.get("/rooms/%s/state/org.example.nokey" % quote(room)).expect(200).body == {"v": prefix}
    # "When an empty string, the trailing slash on this endpoint is optional."
    assert api.get("/rooms/%s/state/org.example.nokey/" % quote(room)).expect(200).body == {"v": prefix}
    ev = get_event(api, room, eid).expect(200).body
    assert ev["type"] == "org.example.nokey"
    assert ev["state_key"] == ""
    assert ev["content"] == {"v": prefix}


def test_put_state_trailing_slash_is_empty_key(server, prefix, alice, room):
    api = alice.api(prefix)
    r = api.put("/rooms/%s/state/org.example.slash/" % quote(room), {"via": "slash"}).expect(200)
    ev = get_event(api, room, r.body["event_id"]).expect(200).body
    assert ev["state_key"] == ""
    assert api.get("/rooms/%s/state/org.example.slash" % quote(room)).expect(200).body == {"via": "slash"}
    # The same slot as without the slash: a PUT without it replaces it.
    api.put("/rooms/%s/state/org.example.slash" % quote(room), {"via": "no slash"}).expect(200)
    assert api.get("/rooms/%s/state/org.example.slash/" % quote(room)).expect(200).body == {"via": "no slash"}
    entries = [e for e in room_state(api, room).expect(200).body if e["type"] == "org.example.slash"]
    assert len(entries) == 1


@pytest.mark.parametrize("key", ["plain", "with space", "a/b", "\u00fc\u00f1\u00ee", "#x:y", "!room:id"])
def test_put_state_with_state_key(server, alice, room, key):
    api = alice.api()
    eid = put_state(api, room, "org.example.keyed", {"key": key}, state_key=key)
    assert state_content(api, room, "org.example.keyed", key) == {"key": key}
    ev = get_event(api, room, eid).expect(200).body
    assert ev["state_key"] == key
    st = room_state(api, room).expect(200).body
    assert [e["content"] for e in st if e["type"] == "org.example.keyed" and e["state_key"] == key] == [{"key": key}]


def test_state_overwrite(server, alice, room):
    api = alice.api()
    first = put_state(api, room, "org.example.over", {"n": 1}, state_key="k")
    second = put_state(api, room, "org.example.over", {"n": 2}, state_key="k")
    assert first != second
    assert state_content(api, room, "org.example.over", "k") == {"n": 2}
    st = [e for e in room_state(api, room).expect(200).body if e["type"] == "org.example.over"]
    assert len(st) == 1 and st[0]["event_id"] == second and st[0]["content"] == {"n": 2}
    # Both events remain in the timeline; the second replaces the first in the state.
    tl = [e["event_id"] for e in timeline(api, room)]
    assert tl.index(first) < tl.index(second)
    # The first one still reads back, with its own content.
    assert get_event(api, room, first).expect(200).body["content"] == {"n": 1}


def test_get_full_state(server, prefix, alice, bob, room):
    api = bob.api(prefix)
    st = room_state(api, room).expect(200).body
    assert isinstance(st, list)
    keys = [(e["type"], e["state_key"]) for e in st]
    assert len(keys) == len(set(keys)), "duplicate (type, state_key) in current state"
    for want in [("m.room.create", ""), ("m.room.power_levels", ""), ("m.room.join_rules", ""),
                 ("m.room.member", alice.user_id), ("m.room.member", bob.user_id)]:
        assert want in keys, (want, keys)
    for e in st:
        assert e["room_id"] == room
        assert e["event_id"].startswith("$")
        assert isinstance(e["origin_server_ts"], int)
        assert isinstance(e["content"], dict)
        assert e["sender"].startswith("@")


def test_absent_state_is_404(server, alice, room):
    api = alice.api()
    get_state(api, room, "org.example.never").expect(404, "M_NOT_FOUND")
    get_state(api, room, "org.example.never", "k").expect(404, "M_NOT_FOUND")
    # The type exists with another key.
    put_state(api, room, "org.example.some", {"x": 1}, state_key="present")
    get_state(api, room, "org.example.some", "absent").expect(404, "M_NOT_FOUND")
    get_state(api, room, "org.example.some").expect(404, "M_NOT_FOUND")
    get_state(api, room, "m.room.member", "@nobody:" + server.server_name).expect(404, "M_NOT_FOUND")


def test_state_non_member_forbidden(server, alice):
    # A shared room: an unrelated user is not allowed to read its state.
    room_id = create_room(alice.api(), preset="public_chat")
    outsider = server.api("r0").register()
    room_state(outsider.api(), room_id).expect(403, "M_FORBIDDEN")
    get_state(outsider.api(), room_id, "m.room.create").expect(403, "M_FORBIDDEN")
    get_state(outsider.api(), room_id, "m.room.name").expect(403, "M_FORBIDDEN")


def test_state_unknown_room(server, alice):
    room_id = "!nosuchroom:" + server.server_name
    room_state(alice.api(), room_id).expect((403, 404), ("M_FORBIDDEN", "M_NOT_FOUND"))


def test_state_after_leave_is_state_at_leave(server, alice):
    """"If the user has left the room then the state is taken from the state of the room when
    they left." """
    leaver = server.api("r0").register()
    room_id = create_room(alice.api(), preset="public_chat", name="before")
    join(leaver.api(), room_id).expect(200)
    leave(leaver.api(), room_id).expect(200)
    put_state(alice.api(), room_id, "m.room.name", {"name": "after"})
    put_state(alice.api(), room_id, "org.example.later", {"x": 1})
    assert state_content(leaver.api(), room_id, "m.room.name") == {"name": "before"}
    get_state(leaver.api(), room_id, "org.example.later").expect(404, "M_NOT_FOUND")
    st = room_state(leaver.api(), room_id).expect(200).body
    names = [e["content"] for e in st if e["type"] == "m.room.name"]
    assert names == [{"name": "before"}]
    assert not [e for e in st if e["type"] == "org.example.later"]
    mine = [e for e in st if e["type"] == "m.room.member" and e["state_key"] == leaver.user_id]
    assert mine and mine[0]["content"]["membership"] == "leave"


def test_put_state_insufficient_power(server, alice, bob, room):
    # bob is at users_default 0; the default state level is above it.
    put_state_raw(bob.api(), room, "m.room.name", {"name": "bob"}).expect(403, "M_FORBIDDEN")
    put_state_raw(bob.api(), room, "org.example.state", {"x": 1}).expect(403, "M_FORBIDDEN")
    put_state_raw(bob.api(), room, "m.room.power_levels", {"users": {bob.user_id: 100}}).expect(403, "M_FORBIDDEN")
    get_state(alice.api(), room, "m.room.name").expect(404, "M_NOT_FOUND")


def test_put_state_not_joined(server, alice):
    room_id = create_room(alice.api(), preset="public_chat",
                          power_level_content_override={"state_default": 0})
    outsider = server.api("r0").register()
    put_state_raw(outsider.api(), room_id, "org.example.state", {"x": 1}).expect(403, "M_FORBIDDEN")


def test_put_state_per_type_level(server, alice):
    other = server.api("r0").register()
    room_id = create_room(alice.api(), preset="public_chat", power_level_content_override={
        "state_default": 50, "events": {"m.room.topic": 0, "org.example.high": 100},
        "users": {alice.user_id: 100, other.user_id: 50}})
    join(other.api(), room_id).expect(200)
    put_state(other.api(), room_id, "m.room.topic", {"topic": "anyone"})
    put_state(other.api(), room_id, "org.example.default", {"x": 1})
    put_state_raw(other.api(), room_id, "org.example.high", {"x": 1}).expect(403, "M_FORBIDDEN")


def test_state_key_starting_with_at(server, alice):
    other = server.api("r0").register()
    room_id = create_room(alice.api(), preset="public_chat",
                          power_level_content_override={"state_default": 0})
    join(other.api(), room_id).expect(200)
    # "If the event has a state_key that starts with an @ and does not match the sender, reject."
    put_state_raw(other.api(), room_id, "org.example.user", {"x": 1}, state_key=alice.user_id) \
        .expect(403, "M_FORBIDDEN")
    put_state_raw(alice.api(), room_id, "org.example.user", {"x": 1}, state_key=other.user_id) \
        .expect(403, "M_FORBIDDEN")
    put_state(other.api(), room_id, "org.example.user", {"x": 2}, state_key=other.user_id)
    assert state_content(alice.api(), room_id, "org.example.user", other.user_id) == {"x": 2}


def pl_room(server, alice):
    mod, peer, low = (server.api("r0").register() for _ in range(3))
    room_id = create_room(alice.api(), preset="public_chat", power_level_content_override={
        "users": {alice.user_id: 100, mod.user_id: 50, peer.user_id: 50, low.user_id: 10},
        "events": {"m.room.power_levels": 50}})
    for x in (mod, peer, low):
        join(x.api(), room_id).expect(200)
    return room_id, mod, peer, low


def test_power_levels_rules(server, alice):
    room_id, mod, peer, low = pl_room(server, alice)
    api = mod.api()
    base = state_content(api, room_id, "m.room.power_levels")

    def with_users(**changes):
        pl = dict(base)
        pl["users"] = dict(base["users"])
        for k, v in changes.items():
            uid = {"mod": mod, "peer": peer, "low": low, "alice": alice}[k].user_id
            if v is None:
                pl["users"].pop(uid, None)
            else:
                pl["users"][uid] = v
        return pl

    # Raising someone above one's own level.
    put_state_raw(api, room_id, "m.room.power_levels", with_users(low=60)).expect(403, "M_FORBIDDEN")
    # Changing a user whose level is equal to one's own.
    put_state_raw(api, room_id, "m.room.power_levels", with_users(peer=10)).expect(403, "M_FORBIDDEN")
    # Removing a user at a higher level.
    put_state_raw(api, room_id, "m.room.power_levels", with_users(alice=None)).expect(403, "M_FORBIDDEN")
    # Raising a level key above one's own.
    pl = dict(base, ban=75)
    put_state_raw(api, room_id, "m.room.power_levels", pl).expect(403, "M_FORBIDDEN")
    pl = dict(base, events=dict(base.get("events", {}), **{"org.example.t": 60}))
    put_state_raw(api, room_id, "m.room.power_levels", pl).expect(403, "M_FORBIDDEN")
    assert state_content(api, room_id, "m.room.power_levels") == base
    # Allowed: raising a lower user up to one's own level.
    put_state(api, room_id, "m.room.power_levels", with_users(low=50))
    base = state_content(api, room_id, "m.room.power_levels")
    assert base["users"][low.user_id] == 50
    # Allowed: demoting oneself.
    put_state(api, room_id, "m.room.power_levels", with_users(mod=20))
    assert state_content(alice.api(), room_id, "m.room.power_levels")["users"][mod.user_id] == 20
    # ... after which the power levels event itself is out of reach.
    put_state_raw(mod.api(), room_id, "m.room.power_levels", base).expect(403, "M_FORBIDDEN")


def test_power_levels_invalid_values(server, alice):
    room_id = create_room(alice.api())
    pl = state_content(alice.api(), room_id, "m.room.power_levels")
    bad = dict(pl, users=dict(pl["users"], **{"not a user id": 10}))
    # rooms/v1.rst: "If the users property in content is not an object with keys that are valid
    # user IDs with values that are integers (or a string that is an integer), reject."
    put_state_raw(alice.api(), room_id, "m.room.power_levels", bad).expect((400, 403), ("M_BAD_JSON", "M_FORBIDDEN", "M_INVALID_PARAM"))
    bad = dict(pl, users=dict(pl["users"], **{"@x:" + server.server_name: "ten"}))
    put_state_raw(alice.api(), room_id, "m.room.power_levels", bad).expect((400, 403), ("M_BAD_JSON", "M_FORBIDDEN", "M_INVALID_PARAM"))
    assert state_content(alice.api(), room_id, "m.room.power_levels") == pl


@pytest.mark.parametrize("body", [b"[]", b"\"s\"", b"1"])
def test_put_state_content_must_be_object(server, alice, room, body):
    r = alice.api().put("/rooms/%s/state/org.example.obj" % quote(room), data=body,
                        headers={"Content-Type": "application/json"})
    r.expect(400, "M_BAD_JSON")


def test_put_state_not_json(server, alice, room):
    r = alice.api().put("/rooms/%s/state/org.example.obj" % quote(room), data=b"{",
                        headers={"Content-Type": "application/json"})
    r.expect(400, "M_NOT_JSON")


def test_state_requires_token(api, room):
    api.get("/rooms/%s/state" % quote(room)).expect(401, "M_MISSING_TOKEN")
    api.get("/rooms/%s/state/m.room.create" % quote(room)).expect(401, "M_MISSING_TOKEN")
    api.put("/rooms/%s/state/org.example.x" % quote(room), {}).expect(401, "M_MISSING_TOKEN")


def test_state_event_in_timeline(server, alice, room):
    eid = put_state(alice.api(), room, "org.example.tl", {"t": 1}, state_key="s")
    tl = timeline(alice.api(), room)
    ev = [e for e in tl if e["event_id"] == eid]
    assert len(ev) == 1
    assert ev[0]["state_key"] == "s"
    assert ev[0]["content"] == {"t": 1}


def test_prev_content(server, alice, room):
    # r0.6.1 state events (sync_state_event.yaml): "prev_content: Optional. The previous content
    # for this event. If there is no previous content, this key will be missing." r0.6.1 puts it
    # at the top level of the event; Synapse (and later spec versions) serve it in `unsigned`.
    # Either place is accepted, but it must be right.
    api = alice.api()
    first = put_state(api, room, "org.example.prev", {"n": 1}, state_key="p")
    second = put_state(api, room, "org.example.prev", {"n": 2}, state_key="p")
    ev1 = get_event(api, room, first).expect(200).body
    assert "prev_content" not in ev1 and "prev_content" not in ev1.get("unsigned", {}), ev1
    ev2 = get_event(api, room, second).expect(200).body
    prev = ev2.get("prev_content", ev2.get("unsigned", {}).get("prev_content"))
    assert prev == {"n": 1}, ev2


def test_state_key_too_long(server, alice, room):
    # Size limits (server_server_api.rst / rooms): "state_key: 255 bytes".
    put_state_raw(alice.api(), room, "org.example.long", {"x": 1}, state_key="k" * 256) \
        .expect((400, 413), "M_TOO_LARGE")
    put_state(alice.api(), room, "org.example.long", {"x": 1}, state_key="k" * 255)


def test_concurrent_state_sends(server, alice):
    """State events from many connections at once (each waits for its commit without holding a
    thread): every one is answered 200 and is in the timeline exactly once, and each key's
    current state is the last event answered for it."""
    from concurrent.futures import ThreadPoolExecutor
    r = create_room(alice.api(), preset="private_chat")

    def worker(k):
        api = alice.api()
        got = []
        for i in range(10):
            got.append(put_state(api, r, "org.example.concurrent", {"k": k, "i": i}, state_key="key%d" % k))
        return got

    with ThreadPoolExecutor(8) as pool:
        per_key = list(pool.map(worker, range(8)))
    tl = [e["event_id"] for e in timeline(alice.api(), r, limit=100)]
    assert len(tl) == len(set(tl))
    for k, ids in enumerate(per_key):
        assert len(set(ids)) == 10
        assert set(ids) <= set(tl)
        assert state_content(alice.api(), r, "org.example.concurrent", "key%d" % k) == {"k": k, "i": 9}
        current = {(e["type"], e["state_key"]): e["event_id"] for e in room_state(alice.api(), r).expect(200).body}
        assert current[("org.example.concurrent", "key%d" % k)] == ids[-1]
