"""PUT /rooms/{roomId}/redact/{eventId}/{txnId} (redaction.yaml; client_server_api.rst
§Redactions; the redaction algorithm of rooms/v1.rst, changed for m.room.aliases in v6)."""

import pytest

from harness import quote
from roomlib import (create_room, get_event, join, put_state, put_state_raw, redact, send,
                     state_content, timeline, txn)

# Top-level keys a redacted client event may keep (v1.rst list, restricted to the keys of the
# client event format) plus `unsigned` (which carries redacted_because).
KEPT_TOP_LEVEL = {"event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
                  "signatures", "depth", "prev_events", "prev_state", "auth_events", "origin",
                  "origin_server_ts", "membership", "unsigned"}


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
def mod(users):
    return users[2]


@pytest.fixture(scope="module")
def room(alice, bob, mod):
    r = create_room(alice.api(), preset="public_chat", power_level_content_override={
        "redact": 50, "users": {alice.user_id: 100, mod.user_id: 50}})
    join(bob.api(), r).expect(200)
    join(mod.api(), r).expect(200)
    return r


def check_redacted(ev, redaction_id, kept_content):
    assert set(ev) <= KEPT_TOP_LEVEL, sorted(set(ev) - KEPT_TOP_LEVEL)
    assert ev["content"] == kept_content, ev
    because = ev.get("unsigned", {}).get("redacted_because")
    assert isinstance(because, dict), ev
    assert because["event_id"] == redaction_id
    assert because["type"] == "m.room.redaction"
    assert because["redacts"] == ev["event_id"]


def test_redact_own_message(server, prefix, bob, room):
    api = bob.api(prefix)
    eid = send(api, room, {"msgtype": "m.text", "body": "oops", "format": "x", "formatted_body": "<b>oops</b>"})
    r = redact(api, room, eid, reason="typo").expect(200)
    rid = r.body["event_id"]
    assert rid.startswith("$") and rid != eid
    ev = get_event(api, room, eid).expect(200).body
    assert ev["event_id"] == eid and ev["type"] == "m.room.message" and ev["sender"] == bob.user_id
    assert ev["room_id"] == room and isinstance(ev["origin_server_ts"], int)
    check_redacted(ev, rid, {})
    red = get_event(api, room, rid).expect(200).body
    assert red["type"] == "m.room.redaction"
    assert red["redacts"] == eid
    assert red["content"].get("reason") == "typo"
    assert red["sender"] == bob.user_id
    assert ev["unsigned"]["redacted_because"]["content"].get("reason") == "typo"


def test_redact_without_reason(server, bob, room):
    eid = send(bob.api(), room)
    rid = redact(bob.api(), room, eid).expect(200).body["event_id"]
    red = get_event(bob.api(), room, rid).expect(200).body
    assert "reason" not in red["content"]
    check_redacted(get_event(bob.api(), room, eid).expect(200).body, rid, {})


def test_redacted_in_messages_for_everyone(server, alice, bob, room):
    eid = send(bob.api(), room, {"msgtype": "m.text", "body": "secret"})
    rid = redact(bob.api(), room, eid).expect(200).body["event_id"]
    for viewer in (alice, bob):
        tl = timeline(viewer.api(), room)
        evs = [e for e in tl if e["event_id"] == eid]
        assert len(evs) == 1
        check_redacted(evs[0], rid, {})
        reds = [e for e in tl if e["event_id"] == rid]
        assert len(reds) == 1 and reds[0]["redacts"] == eid
        assert "secret" not in str(tl)


def test_redact_txn_idempotent(server, bob, room):
    eid = send(bob.api(), room)
    t = txn()
    a = redact(bob.api(), room, eid, txn_id=t).expect(200).body["event_id"]
    b = redact(bob.api(), room, eid, txn_id=t).expect(200).body["event_id"]
    assert a == b


def test_redact_others_event_needs_power(server, alice, bob, mod, room):
    eid = send(alice.api(), room, {"msgtype": "m.text", "body": "alice's"})
    # "Users may redact their own events, and any user with a power level greater than or equal
    # to the redact power level of the room may redact events there."
    redact(bob.api(), room, eid).expect(403, "M_FORBIDDEN")
    assert get_event(bob.api(), room, eid).expect(200).body["content"]["body"] == "alice's"
    rid = redact(mod.api(), room, eid, reason="moderated").expect(200).body["event_id"]
    check_redacted(get_event(bob.api(), room, eid).expect(200).body, rid, {})


def test_redact_by_non_member(server, alice, room):
    eid = send(alice.api(), room)
    outsider = server.api("r0").register()
    redact(outsider.api(), room, eid).expect(403, "M_FORBIDDEN")


def test_redact_event_of_other_room(server, alice, room):
    other = create_room(alice.api())
    eid = send(alice.api(), other, {"msgtype": "m.text", "body": "elsewhere"})
    # An event can only be redacted through its own room (Synapse: 400 "Cannot redact event
    # from a different room"); the event must stay intact either way.
    r = redact(alice.api(), room, eid)
    r.expect((400, 404), ("M_INVALID_PARAM", "M_NOT_FOUND", "M_UNKNOWN"))
    assert get_event(alice.api(), other, eid).expect(200).body["content"]["body"] == "elsewhere"


def test_redact_requires_token(api, room):
    api.put("/rooms/%s/redact/%s/%s" % (quote(room), quote("$x"), txn()), {}).expect(401, "M_MISSING_TOKEN")


def test_redaction_raised_redact_level(server, alice, bob):
    room_id = create_room(alice.api(), preset="public_chat",
                          power_level_content_override={"redact": 0})
    join(bob.api(), room_id).expect(200)
    eid = send(alice.api(), room_id)
    # With redact at 0 any joined user may redact anyone's events.
    redact(bob.api(), room_id, eid).expect(200)


def test_redact_state_events_keep_algorithm_keys(server, alice):
    """Content stripping per event type (rooms/v1.rst §Redactions) for a v5 room."""
    api = alice.api()
    room_id = create_room(api, room_version="5", preset="public_chat", name="n", topic="t")
    put_state(api, room_id, "org.example.s", {"a": 1, "b": [2]}, state_key="k")

    cases = []
    # m.room.member: keeps membership.
    eid = put_state(api, room_id, "m.room.member",
                    {"membership": "join", "displayname": "Alice!", "avatar_url": "mxc://x/y"},
                    state_key=alice.user_id)
    cases.append((eid, {"membership": "join"}))
    # m.room.join_rules: keeps join_rule.
    eid = put_state(api, room_id, "m.room.join_rules", {"join_rule": "public", "extra": True})
    cases.append((eid, {"join_rule": "public"}))
    # m.room.history_visibility: keeps history_visibility.
    eid = put_state(api, room_id, "m.room.history_visibility", {"history_visibility": "shared", "x": 1})
    cases.append((eid, {"history_visibility": "shared"}))
    # m.room.power_levels: keeps ban, events, events_default, kick, redact, state_default,
    # users, users_default -- not invite, not notifications.
    pl = state_content(api, room_id, "m.room.power_levels")
    pl_full = dict(pl, invite=0, notifications={"room": 50}, ban=50, kick=50, redact=50,
                   events_default=0, state_default=50, users_default=0,
                   events=dict(pl.get("events", {})), **{"org.example": 1})
    eid = put_state(api, room_id, "m.room.power_levels", pl_full)
    keep = {k: pl_full[k] for k in ("ban", "events", "events_default", "kick", "redact",
                                    "state_default", "users", "users_default")}
    cases.append((eid, keep))
    # Others: nothing kept.
    eid = put_state(api, room_id, "m.room.topic", {"topic": "new topic"})
    cases.append((eid, {}))
    eid = put_state(api, room_id, "org.example.s", {"a": 1, "b": [2]}, state_key="k")
    cases.append((eid, {}))

    for eid, kept in cases:
        rid = redact(api, room_id, eid).expect(200).body["event_id"]
        ev = get_event(api, room_id, eid).expect(200).body
        check_redacted(ev, rid, kept)
        assert "state_key" in ev

    # The current state reflects the redacted contents.
    assert state_content(api, room_id, "m.room.topic") == {}
    assert state_content(api, room_id, "org.example.s", "k") == {}
    assert state_content(api, room_id, "m.room.member", alice.user_id) == {"membership": "join"}
    cur_pl = state_content(api, room_id, "m.room.power_levels")
    assert "invite" not in cur_pl and "notifications" not in cur_pl and "org.example" not in cur_pl
    # ... and the room still works: the redacted power levels keep alice at 100.
    send(api, room_id)
    put_state(api, room_id, "m.room.topic", {"topic": "again"})


def test_redact_create_event(server, alice):
    api = alice.api()
    room_id = create_room(api, room_version="5", creation_content={"m.federate": True, "org.x": 1})
    create_id = [e for e in timeline(api, room_id) if e["type"] == "m.room.create"][0]["event_id"]
    rid = redact(api, room_id, create_id).expect(200).body["event_id"]
    # m.room.create keeps only creator (in r0.6.1's algorithm room_version is not kept).
    check_redacted(get_event(api, room_id, create_id).expect(200).body, rid, {"creator": alice.user_id})
    # The room keeps working as a version 5 room.
    send(api, room_id)


@pytest.mark.parametrize("version,keeps_aliases", [("1", True), ("5", True), ("6", False)])
def test_redact_aliases_event_per_version(server, alice, version, keeps_aliases):
    api = alice.api()
    room_id = create_room(api, room_version=version)
    alias = "#redact-%s-%s:%s" % (version, txn(), server.server_name)
    r = put_state_raw(api, room_id, "m.room.aliases", {"aliases": [alias], "x": 1},
                      state_key=server.server_name)
    r.expect(200)
    eid = r.body["event_id"]
    rid = redact(api, room_id, eid).expect(200).body["event_id"]
    kept = {"aliases": [alias]} if keeps_aliases else {}
    check_redacted(get_event(api, room_id, eid).expect(200).body, rid, kept)


def test_redacted_event_in_context(server, bob, room):
    eid = send(bob.api(), room, {"msgtype": "m.text", "body": "ctx"})
    rid = redact(bob.api(), room, eid).expect(200).body["event_id"]
    r = bob.api().get("/rooms/%s/context/%s" % (quote(room), quote(eid)), params={"limit": 2}).expect(200)
    check_redacted(r.body["event"], rid, {})


def test_concurrent_redactions(server, alice, bob, room):
    """Redactions from many connections at once, some of them retries of the same transaction
    (each waits for its commit without holding a thread): each target is redacted by exactly
    one redaction event, and the retries answer with that event."""
    from concurrent.futures import ThreadPoolExecutor
    targets = [send(bob.api(), room) for _ in range(12)]
    txns = [txn() for _ in targets]

    def work(i):
        return redact(bob.api(), room, targets[i % 12], txn_id=txns[i % 12]).expect(200).body["event_id"]

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(work, range(24)))
    for i in range(12):
        assert got[i] == got[i + 12], "a retry answered with another redaction"
    tl = timeline(alice.api(), room, limit=200)
    redactions = [e for e in tl if e["type"] == "m.room.redaction" and e["redacts"] in targets]
    assert sorted(e["event_id"] for e in redactions) == sorted(got[:12])
    for i, t in enumerate(targets):
        ev = get_event(alice.api(), room, t).expect(200).body
        check_redacted(ev, got[i], {})
