"""Filters (filter.yaml; definitions/sync_filter.yaml, event_filter.yaml, room_event_filter.yaml;
client_server_api.rst §Filtering and §Lazy-loading room members): uploading and downloading,
validation, and the effect of every field on /sync, by ID and inline."""

import pytest

from harness import quote
from roomlib import create_room, invite, join, leave, put_state, send, txn
from synclib import (create_filter, get_filter, joined, left, members_in, st_events, sync,
                     sync_ok, tl_events, tl_ids)


@pytest.fixture(scope="module")
def alice(server):
    return server.api("r0").register()


@pytest.fixture(scope="module")
def bob(server):
    return server.api("r0").register()


def fresh(server):
    return server.api("r0").register()


def msg(body):
    return {"msgtype": "m.text", "body": body}


def filter_path(user_id, filter_id=None):
    p = "/user/%s/filter" % quote(user_id)
    if filter_id is not None:
        p += "/" + quote(filter_id)
    return p


def is_subset(small, big):
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and is_subset(v, big[k]) for k, v in small.items())
    return small == big


FULL_FILTER = {
    "event_fields": ["type", "content", "sender", "content.a\\.b"],
    "event_format": "client",
    "presence": {"limit": 3, "types": ["m.presence"], "not_senders": ["@spam:hearth.test"]},
    "account_data": {"types": ["org.example.*"], "not_types": ["org.example.secret"], "limit": 5},
    "room": {
        "rooms": ["!a:hearth.test", "!b:hearth.test"],
        "not_rooms": ["!b:hearth.test"],
        "include_leave": True,
        "state": {"types": ["m.room.*"], "not_rooms": ["!c:hearth.test"], "lazy_load_members": True,
                  "include_redundant_members": False},
        "timeline": {"limit": 10, "types": ["m.room.message"], "not_types": ["m.room.member"],
                     "senders": ["@a:hearth.test"], "not_senders": ["@spam:hearth.test"],
                     "rooms": ["!a:hearth.test"], "contains_url": False},
        "ephemeral": {"types": ["m.receipt", "m.typing"], "not_senders": ["@spam:hearth.test"]},
        "account_data": {"types": ["m.tag"], "not_rooms": ["!x:hearth.test"]},
    },
}


# --- upload / download -------------------------------------------------------------------------

def test_upload_and_download(server, prefix, alice):
    api = alice.api(prefix)
    fid = create_filter(api, alice.user_id, FULL_FILTER)
    got = get_filter(api, alice.user_id, fid).expect(200).body
    assert is_subset(FULL_FILTER, got), got
    # An empty filter is a filter.
    fid2 = create_filter(api, alice.user_id, {})
    assert fid2 != fid
    assert get_filter(api, alice.user_id, fid2).expect(200).body == {}
    # Both prefixes see the same filters.
    other = alice.api("v3" if prefix == "r0" else "r0")
    assert is_subset(FULL_FILTER, get_filter(other, alice.user_id, fid).expect(200).body)


def test_filter_ids_distinct(server, alice):
    ids = {create_filter(alice.api(), alice.user_id, {"room": {"timeline": {"limit": i}}}) for i in range(5)}
    assert len(ids) == 5


def test_filter_requires_token(api, alice):
    api.post(filter_path(alice.user_id), {}).expect(401, "M_MISSING_TOKEN")
    api.get(filter_path(alice.user_id, "0")).expect(401, "M_MISSING_TOKEN")


def test_other_users_filters(server, alice, bob):
    # "The access token must be authorized to make requests for this user id." Synapse: 403
    # M_FORBIDDEN for uploading or downloading another user's filters.
    alice.api().post(filter_path(bob.user_id), {}).expect(403, "M_FORBIDDEN")
    fid = create_filter(bob.api(), bob.user_id, {"room": {"timeline": {"limit": 1}}})
    alice.api().get(filter_path(bob.user_id, fid)).expect(403, "M_FORBIDDEN")
    # A remote user is not alice either.
    alice.api().post(filter_path("@someone:elsewhere.example"), {}).expect(403, "M_FORBIDDEN")
    # Filter IDs are per user: a user without filters does not find bob's ID.
    nobody = fresh(server)
    nobody.api().get(filter_path(nobody.user_id, fid)).expect(404, "M_NOT_FOUND")


@pytest.mark.parametrize("fid", ["999999999", "nonexistent", "%7B", "0x1"])
def test_unknown_filter_404(server, alice, fid):
    # filter.yaml: 404 "Unknown filter." Synapse answers 400 M_INVALID_PARAM for IDs that are not
    # integers; the spec's filter IDs are opaque strings, so any unknown ID is a 404.
    alice.api().get(filter_path(alice.user_id, fid)).expect(404, "M_NOT_FOUND")


def test_unknown_filter_in_sync(server, alice):
    # Not in sync.yaml. Synapse answers 400 M_INVALID_PARAM "No such filter" (older releases:
    # 404 with M_INVALID_PARAM/M_NOT_FOUND).
    sync(alice.api(), filter="999999999").expect((400, 404), ("M_INVALID_PARAM", "M_NOT_FOUND"))


def test_other_users_filter_id_in_sync(server):
    a, b = fresh(server), fresh(server)
    fid = create_filter(b.api(), b.user_id, {"room": {"timeline": {"limit": 1}}})
    # a has no filters at all, so b's ID cannot name one of a's.
    sync(a.api(), filter=fid).expect((400, 404), ("M_INVALID_PARAM", "M_NOT_FOUND"))


# Wrong types for every field. `limit` is an integer in the spec (Synapse's schema accepts any
# number, so it lets 1.5 through); the tests follow the spec.
BAD_FILTERS = [
    [],
    "filter",
    1,
    {"event_fields": "type"},
    {"event_fields": [1]},
    {"event_fields": [None]},
    {"event_format": "xml"},
    {"event_format": 1},
    {"presence": []},
    {"presence": "x"},
    {"presence": {"limit": "10"}},
    {"presence": {"limit": 1.5}},
    {"presence": {"limit": True}},
    {"presence": {"types": "m.presence"}},
    {"presence": {"types": [1]}},
    {"presence": {"not_types": "x"}},
    {"presence": {"senders": "@a:b"}},
    {"presence": {"not_senders": [{}]}},
    {"account_data": 1},
    {"account_data": {"types": [True]}},
    {"room": []},
    {"room": {"rooms": "!a:b"}},
    {"room": {"rooms": [1]}},
    {"room": {"not_rooms": "!a:b"}},
    {"room": {"include_leave": "yes"}},
    {"room": {"include_leave": 1}},
    {"room": {"state": []}},
    {"room": {"state": {"lazy_load_members": "true"}}},
    {"room": {"state": {"include_redundant_members": 1}}},
    {"room": {"state": {"types": "m.room.name"}}},
    {"room": {"timeline": "x"}},
    {"room": {"timeline": {"limit": "5"}}},
    {"room": {"timeline": {"limit": [5]}}},
    {"room": {"timeline": {"contains_url": "true"}}},
    {"room": {"timeline": {"rooms": "!a:b"}}},
    {"room": {"timeline": {"not_rooms": [1]}}},
    {"room": {"timeline": {"senders": [1]}}},
    {"room": {"timeline": {"not_senders": "x"}}},
    {"room": {"timeline": {"lazy_load_members": "no"}}},
    {"room": {"ephemeral": {"types": {}}}},
    {"room": {"ephemeral": 5}},
    {"room": {"account_data": {"not_types": [[]]}}},
    {"room": {"account_data": []}},
]


@pytest.mark.parametrize("bad", BAD_FILTERS, ids=[str(i) for i in range(len(BAD_FILTERS))])
def test_invalid_filter_rejected(server, alice, bad):
    # The issue: "invalid filters 400 M_BAD_JSON / M_INVALID_PARAM" (Synapse: M_BAD_JSON).
    api = alice.api()
    api.post(filter_path(alice.user_id), bad).expect(400, ("M_BAD_JSON", "M_INVALID_PARAM"))
    # The same filter inline in /sync (only objects can be inline: the first character decides).
    if isinstance(bad, dict):
        sync(api, filter=bad).expect(400, ("M_BAD_JSON", "M_INVALID_PARAM"))


def test_invalid_json_body(server, alice):
    alice.api().post(filter_path(alice.user_id), data=b"{not json",
                     headers={"Content-Type": "application/json"}).expect(400, "M_NOT_JSON")


def test_inline_filter_not_json(server, alice):
    sync(alice.api(), filter="{not json").expect(400, ("M_NOT_JSON", "M_BAD_JSON", "M_INVALID_PARAM"))


# --- using filters in /sync -------------------------------------------------------------------

@pytest.fixture(scope="module")
def busy_room(server, alice, bob):
    """alice's room where alice and bob sent messages, an image, a topic and custom events."""
    r = create_room(alice.api(), preset="public_chat", name="busy")
    join(bob.api(), r).expect(200)
    ids = {}
    ids["a1"] = send(alice.api(), r, msg("a1"))
    ids["b1"] = send(bob.api(), r, msg("b1"))
    ids["img"] = send(bob.api(), r, {"msgtype": "m.image", "body": "pic", "url": "mxc://hearth.test/pic"})
    ids["topic"] = put_state(alice.api(), r, "m.room.topic", {"topic": "busy topic"})
    ids["foo_bar"] = send(alice.api(), r, {"x": 1}, event_type="org.example.foo.bar")
    ids["foo_baz"] = send(bob.api(), r, {"x": 2}, event_type="org.example.foo.baz")
    ids["other_bar"] = send(alice.api(), r, {"x": 3}, event_type="org.other.bar")
    ids["a2"] = send(alice.api(), r, msg("a2"))
    return r, ids


def timeline_with(api, room_id, timeline_filter, by_id=None):
    f = {"room": {"rooms": [room_id], "timeline": dict({"limit": 100}, **timeline_filter)}}
    body = sync_ok(api, filter=f if by_id is None else create_filter(api, by_id, f))
    return tl_ids(joined(body, room_id))


def test_filter_by_id_and_inline(server, prefix):
    me = fresh(server)
    api = me.api(prefix)
    r = create_room(api)
    sent = [send(api, r, msg("m%d" % i)) for i in range(3)]
    f = {"room": {"timeline": {"limit": 2}}}
    fid = create_filter(api, me.user_id, f)
    by_id = sync_ok(api, filter=fid)
    inline = sync_ok(api, filter=f)
    assert tl_ids(joined(by_id, r)) == tl_ids(joined(inline, r)) == sent[-2:]
    assert joined(by_id, r)["timeline"]["limited"] is True
    # Incremental syncs keep using the filter.
    since = by_id["next_batch"]
    new = [send(api, r, msg("n%d" % i)) for i in range(3)]
    room = joined(sync_ok(api, since=since, filter=fid), r)
    assert tl_ids(room) == new[-2:] and room["timeline"]["limited"] is True


def test_limit(server, alice, busy_room):
    r, ids = busy_room
    for n in (1, 3):
        got = timeline_with(alice.api(), r, {"limit": n})
        assert len(got) == n and got[-1] == ids["a2"]


@pytest.mark.parametrize("tf,expect", [
    ({"types": ["m.room.message"]}, ["a1", "b1", "img", "a2"]),
    ({"types": ["org.example.*"]}, ["foo_bar", "foo_baz"]),
    ({"types": ["org.*.bar"]}, ["foo_bar", "other_bar"]),       # '*' matches any sequence, anywhere
    ({"types": ["*.bar"]}, ["foo_bar", "other_bar"]),
    ({"types": ["org.example.foo.ba*", "m.room.topic"]}, ["topic", "foo_bar", "foo_baz"]),
    ({"types": []}, []),
    ({"types": ["org.example.foo.bar"], "not_types": ["*"]}, []),
    ({"types": ["org.*"], "not_types": ["*.baz"]}, ["foo_bar", "other_bar"]),
    ({"not_types": ["m.room.*", "org.example.*"]}, ["other_bar"]),
    ({"types": ["m.room.message"], "senders": []}, []),
], ids=lambda v: str(v))
def test_types_and_wildcards(server, alice, busy_room, tf, expect):
    r, ids = busy_room
    got = timeline_with(alice.api(), r, tf)
    # Only look at the events of the fixture (the room has creation events too).
    mine = set(ids.values())
    assert [e for e in got if e in mine] == [ids[k] for k in expect]
    if "types" in tf and "*" not in str(tf.get("types")):
        assert all(e in mine for e in got)  # no creation events slip through


def test_types_do_not_match_partially(server, alice, busy_room):
    r, ids = busy_room
    # Without a '*', types are exact: "m.room" is not a prefix match for "m.room.message".
    assert timeline_with(alice.api(), r, {"types": ["m.room", "org.example.foo"]}) == []


def test_senders(server, alice, bob, busy_room):
    r, ids = busy_room
    mine = set(ids.values())

    def got(tf):
        return [e for e in timeline_with(alice.api(), r, tf) if e in mine]

    assert got({"senders": [bob.user_id]}) == [ids[k] for k in ("b1", "img", "foo_baz")]
    assert got({"not_senders": [bob.user_id]}) == [ids[k] for k in ("a1", "topic", "foo_bar", "other_bar", "a2")]
    # not_senders wins over senders.
    assert got({"senders": [alice.user_id, bob.user_id], "not_senders": [bob.user_id]}) == \
        [ids[k] for k in ("a1", "topic", "foo_bar", "other_bar", "a2")]
    assert got({"senders": ["@nobody:hearth.test"]}) == []


def test_contains_url(server, alice, busy_room):
    r, ids = busy_room
    mine = set(ids.values())
    with_url = [e for e in timeline_with(alice.api(), r, {"contains_url": True}) if e in mine]
    assert with_url == [ids["img"]]
    without = [e for e in timeline_with(alice.api(), r, {"contains_url": False}) if e in mine]
    assert ids["img"] not in without and ids["a1"] in without and ids["topic"] in without


def test_rooms_and_not_rooms(server):
    me = fresh(server)
    api = me.api()
    r1, r2, r3 = (create_room(api) for _ in range(3))
    for rid in (r1, r2, r3):
        send(api, rid, msg("hi"))

    def joined_rooms(f):
        return set((sync_ok(api, filter=f).get("rooms") or {}).get("join", {}))

    assert joined_rooms({"room": {"rooms": [r1]}}) == {r1}
    assert joined_rooms({"room": {"not_rooms": [r1]}}) == {r2, r3}
    assert joined_rooms({"room": {"rooms": [r1, r2], "not_rooms": [r2]}}) == {r1}
    assert joined_rooms({"room": {"rooms": []}}) == set()
    # RoomEventFilter-level rooms: r2's timeline is filtered out (the room may still appear with
    # its state, but no timeline events).
    body = sync_ok(api, filter={"room": {"timeline": {"rooms": [r1]}}})
    assert tl_events(joined(body, r1))
    assert tl_events(joined(body, r2)) == [] and tl_events(joined(body, r3)) == []
    body = sync_ok(api, filter={"room": {"timeline": {"not_rooms": [r1]}}})
    assert tl_events(joined(body, r1)) == [] and tl_events(joined(body, r2))
    body = sync_ok(api, filter={"room": {"state": {"not_rooms": [r1]}, "timeline": {"limit": 1}}})
    assert st_events(joined(body, r1)) == [] and st_events(joined(body, r2))


def test_state_filter(server):
    me = fresh(server)
    api = me.api()
    r = create_room(api, preset="private_chat", name="st", topic="st")
    send(api, r, msg("x"))
    f = {"room": {"timeline": {"limit": 1}, "state": {"types": ["m.room.name", "m.room.top*"]}}}
    room = joined(sync_ok(api, filter=f), r)
    assert sorted(e["type"] for e in st_events(room)) == ["m.room.name", "m.room.topic"]
    f = {"room": {"timeline": {"limit": 1}, "state": {"not_types": ["m.room.member"]}}}
    types = [e["type"] for e in st_events(joined(sync_ok(api, filter=f), r))]
    assert "m.room.member" not in types and "m.room.create" in types
    f = {"room": {"timeline": {"limit": 1}, "state": {"limit": 0, "types": []}}}
    assert st_events(joined(sync_ok(api, filter=f), r)) == []


def test_include_leave(server):
    a, b = fresh(server), fresh(server)
    r = create_room(a.api(), preset="public_chat")
    join(b.api(), r).expect(200)
    leave(b.api(), r).expect(200)
    assert left(sync_ok(b.api()), r) is None
    assert left(sync_ok(b.api(), filter={"room": {"include_leave": False}}), r) is None
    fid = create_filter(b.api(), b.user_id, {"room": {"include_leave": True}})
    assert left(sync_ok(b.api(), filter=fid), r) is not None
    # Combined with rooms: only the listed rooms.
    assert left(sync_ok(b.api(), filter={"room": {"include_leave": True, "not_rooms": [r]}}), r) is None
    # In an incremental sync include_leave does not bring back rooms left before `since`.
    since = sync_ok(b.api(), filter=fid)["next_batch"]
    send(a.api(), r, msg("after b left"))
    assert left(sync_ok(b.api(), since=since, filter=fid), r) is None


# --- lazy-loading members ---------------------------------------------------------------------

@pytest.fixture
def crowd(server):
    """A named room: alice (creator), five early members, then bob and zed; bob spoke last."""
    users = [fresh(server) for _ in range(8)]
    alice, early, bob, zed = users[0], users[1:6], users[6], users[7]
    r = create_room(alice.api(), preset="public_chat", name="crowd")
    for u in early + [bob, zed]:
        join(u.api(), r).expect(200)
    send(alice.api(), r, msg("from alice"))
    last = [send(bob.api(), r, msg("bob %d" % i)) for i in range(2)]
    return r, alice, early, bob, zed, last


LL = {"room": {"timeline": {"limit": 2}, "state": {"lazy_load_members": True}}}
LL_REDUNDANT = {"room": {"timeline": {"limit": 2},
                         "state": {"lazy_load_members": True, "include_redundant_members": True}}}


def test_lazy_load_initial(server, prefix, crowd):
    r, alice, early, bob, zed, last = crowd
    # Without lazy loading: all 8 members in state.
    full = joined(sync_ok(alice.api(prefix), filter={"room": {"timeline": {"limit": 2}}}), r)
    assert tl_ids(full) == last
    assert len(members_in(st_events(full))) == 8
    # With: the timeline's senders (bob) and the syncing user (alice), plus any heroes sent.
    room = joined(sync_ok(alice.api(prefix), filter=LL), r)
    assert tl_ids(room) == last
    got = members_in(st_events(room))
    heroes = set((room.get("summary") or {}).get("m.heroes") or [])
    assert bob.user_id in got and alice.user_id in got
    assert set(got) <= {bob.user_id, alice.user_id} | heroes, got
    # zed joined after the first five members: never a hero, never a sender.
    assert zed.user_id not in got
    # The rest of the state is still complete.
    types = {e["type"] for e in st_events(room)}
    assert {"m.room.create", "m.room.power_levels", "m.room.name", "m.room.join_rules"} <= types
    # The summary counts all members even though not all were sent.
    if "summary" in room:
        assert room["summary"].get("m.joined_member_count", 8) == 8


def test_lazy_load_incremental_and_redundant(server, crowd):
    r, alice, early, bob, zed, last = crowd
    dev1 = alice.api()
    dev2 = alice.server.api("r0").login(alice).api()
    s1 = sync_ok(dev1, filter=LL)
    s2 = sync_ok(dev2, filter=LL)
    assert bob.user_id in members_in(st_events(joined(s1, r)))
    assert bob.user_id in members_in(st_events(joined(s2, r)))

    # A new sender whose membership the client has never seen: sent with the timeline.
    z = send(zed.api(), r, msg("zed speaks"))
    s1 = sync_ok(dev1, since=s1["next_batch"], filter=LL)
    room = joined(s1, r)
    assert tl_ids(room) == [z]
    assert members_in(st_events(room) + tl_events(room)).get(zed.user_id) == "join"

    # Bob again: dev1 already has his membership -> redundant, not sent ...
    b = send(bob.api(), r, msg("bob again"))
    room = joined(sync_ok(dev1, since=s1["next_batch"], filter=LL), r)
    assert tl_ids(room) == [b]
    # (The spec lets servers send redundant members; the issue asks Hearth to remember per
    # device what it sent and skip them.)
    assert bob.user_id not in members_in(st_events(room))
    # ... unless include_redundant_members.
    room = joined(sync_ok(dev1, since=s1["next_batch"], filter=LL_REDUNDANT), r)
    assert tl_ids(room) == [b]
    assert members_in(st_events(room)).get(bob.user_id) == "join"

    # The memory is per device: dev2 has never been sent zed's membership.
    room = joined(sync_ok(dev2, since=s2["next_batch"], filter=LL), r)
    assert tl_ids(room)[-2:] == [z, b]
    assert members_in(st_events(room) + tl_events(room)).get(zed.user_id) == "join"


def test_lazy_load_membership_change_in_gap(server, crowd):
    # "When a sync is limited, the server MUST return membership events for events in the gap
    # ... regardless as to whether or not they are redundant."
    r, alice, early, bob, zed, last = crowd
    s = sync_ok(alice.api(), filter=LL)
    leave(early[0].api(), r).expect(200)
    for i in range(4):
        send(bob.api(), r, msg("fill %d" % i))
    room = joined(sync_ok(alice.api(), since=s["next_batch"], filter=LL), r)
    assert room["timeline"]["limited"] is True
    assert members_in(st_events(room)).get(early[0].user_id) == "leave"


def test_lazy_load_own_member_on_join(server):
    # "servers MUST include the syncing user's own membership event when they join a room"
    a, b = fresh(server), fresh(server)
    r = create_room(a.api(), preset="public_chat")
    for i in range(5):
        send(a.api(), r, msg("before %d" % i))
    s = sync_ok(b.api(), filter=LL)
    join(b.api(), r).expect(200)
    for i in range(3):
        send(a.api(), r, msg("after %d" % i))
    room = joined(sync_ok(b.api(), since=s["next_batch"], filter=LL), r)
    assert members_in(st_events(room) + tl_events(room)).get(b.user_id) == "join"
    assert members_in(st_events(room) + tl_events(room)).get(a.user_id) == "join"


# --- presence / account_data / ephemeral sections ------------------------------------------------

def _put_account_data(api, user_id, event_type, content, room_id=None):
    if room_id is None:
        p = "/user/%s/account_data/%s" % (quote(user_id), quote(event_type))
    else:
        p = "/user/%s/rooms/%s/account_data/%s" % (quote(user_id), quote(room_id), quote(event_type))
    api.put(p, content).expect(200)


def test_account_data_filter(server):
    # Needs the account-data endpoints (account-data.yaml); the filter applies to the
    # account_data sections of /sync.
    me = fresh(server)
    api = me.api()
    r = create_room(api)
    _put_account_data(api, me.user_id, "org.example.keep", {"k": 1})
    _put_account_data(api, me.user_id, "org.example.drop", {"d": 1})
    _put_account_data(api, me.user_id, "org.example.room.keep", {"k": 2}, room_id=r)
    _put_account_data(api, me.user_id, "org.example.room.drop", {"d": 2}, room_id=r)

    def types(events):
        return sorted(e["type"] for e in events)

    body = sync_ok(api)
    assert {"org.example.keep", "org.example.drop"} <= set(types(body["account_data"]["events"]))
    assert types(joined(body, r)["account_data"]["events"]) == ["org.example.room.drop", "org.example.room.keep"]
    f = {"account_data": {"not_types": ["*.drop"]},
         "room": {"account_data": {"types": ["org.example.room.k*"]}}}
    body = sync_ok(api, filter=f)
    got = types(body.get("account_data", {}).get("events", []))
    assert "org.example.keep" in got and "org.example.drop" not in got
    assert types((joined(body, r).get("account_data") or {}).get("events", [])) == ["org.example.room.keep"]
    body = sync_ok(api, filter={"account_data": {"types": []}, "room": {"account_data": {"not_types": ["*"]}}})
    assert body.get("account_data", {}).get("events", []) == []
    assert (joined(body, r).get("account_data") or {}).get("events", []) == []


def test_presence_and_ephemeral_filters_exclude(server):
    # Presence and typing come with later issues; whatever those streams carry, a filter that
    # excludes everything leaves the sections empty.
    a, b = fresh(server), fresh(server)
    r = create_room(a.api(), preset="public_chat")
    join(b.api(), r).expect(200)
    sync_ok(b.api(), set_presence="online")
    b.api().put("/rooms/%s/typing/%s" % (quote(r), quote(b.user_id)), {"typing": True, "timeout": 10000})
    f = {"presence": {"types": []}, "room": {"ephemeral": {"not_types": ["*"]}}}
    body = sync_ok(a.api(), filter=f)
    assert body.get("presence", {}).get("events", []) == []
    assert (joined(body, r).get("ephemeral") or {}).get("events", []) == []
    f = {"presence": {"not_senders": [b.user_id]}, "room": {"ephemeral": {"not_senders": [b.user_id]}}}
    body = sync_ok(a.api(), filter=f)
    assert all(e.get("sender") != b.user_id for e in body.get("presence", {}).get("events", []))
    for e in (joined(body, r).get("ephemeral") or {}).get("events", []):
        assert b.user_id not in str(e), e


def test_filter_survives_restart(server_factory):
    srv = server_factory()
    me = srv.api("r0").register()
    fid = create_filter(me.api(), me.user_id, {"room": {"timeline": {"limit": 1}}})
    srv.stop()
    srv.start()
    assert get_filter(me.api(), me.user_id, fid).expect(200).body == {"room": {"timeline": {"limit": 1}}}
    r = create_room(me.api())
    e = send(me.api(), r, msg("x"), txn_id=txn())
    assert tl_ids(joined(sync_ok(me.api(), filter=fid), r)) == [e]


def test_invite_rooms_respect_room_filter(server):
    a, b = fresh(server), fresh(server)
    r1 = create_room(a.api())
    r2 = create_room(a.api())
    invite(a.api(), r1, b.user_id).expect(200)
    invite(a.api(), r2, b.user_id).expect(200)
    body = sync_ok(b.api(), filter={"room": {"not_rooms": [r1]}})
    assert set((body.get("rooms") or {}).get("invite", {})) == {r2}


def test_lazy_load_includes_heroes(server):
    # sync.yaml, m.heroes: "When lazy-loading room members is enabled, the membership events
    # for the heroes MUST be included in the state, unless they are redundant."
    alice, bob, carol, dave = (fresh(server) for _ in range(4))
    r = create_room(alice.api(), preset="public_chat")  # no name: heroes are needed
    for u in (bob, carol, dave):
        join(u.api(), r).expect(200)
    send(bob.api(), r, msg("only bob speaks"))
    room = joined(sync_ok(alice.api(), filter={"room": {"timeline": {"limit": 1},
                                                         "state": {"lazy_load_members": True}}}), r)
    heroes = room["summary"]["m.heroes"]
    assert heroes == [bob.user_id, carol.user_id, dave.user_id]
    got = members_in(st_events(room) + tl_events(room))
    for h in heroes:
        assert got.get(h) == "join", (h, got)
