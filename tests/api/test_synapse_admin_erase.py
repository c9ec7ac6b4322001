"""Erasure (issue 14): after POST /_synapse/admin/v1/deactivate/{userId} with `erase: true`,
the events the erased user sent are served pruned (the redaction algorithm's result, without
redacted_because) to users who were not joined to the room when the event was sent, on every
read path (/sync, /messages, /context, /event, /search, room initialSync). Users who were
joined at the time keep seeing them whole. This is Synapse's behaviour: element-hq/synapse,
synapse/visibility.py, _check_client_allowed_to_see_event ("If the sender has been erased and
the user was not joined at the time, we must only return the redacted form"). Not part of the
Matrix spec."""

import pytest

from harness import quote
from roomlib import context, create_room, get_event, initial_sync, join, put_state, send, timeline
from synclib import joined, sync_ok, tl_events
from test_synapse_admin import A, make_admin

SECRET = "erase-me-please"


@pytest.fixture(scope="module")
def adm(server):
    return make_admin(server.api("r0"))


def scenario(adm, api_r0, erase=True):
    """alice speaks in a public room bob is in; she is deactivated (erased); carol joins later.
    Returns (bob, carol, room, message event ID, topic event ID)."""
    a, _ = adm
    owner, alice, bob, carol = (api_r0.register() for _ in range(4))
    room = create_room(owner.api(), preset="public_chat")
    join(alice.api(), room).expect(200)
    join(bob.api(), room).expect(200)
    msg = send(alice.api(), room, {"msgtype": "m.text", "body": SECRET})
    owner.api().put("/rooms/%s/state/m.room.power_levels/" % quote(room),
                    {"users": {owner.user_id: 100, alice.user_id: 50}}).expect(200)
    topic = put_state(alice.api(), room, "m.room.topic", {"topic": SECRET})
    a.post(A + "/v1/deactivate/%s" % quote(alice.user_id), {"erase": erase}).expect(200)
    join(carol.api(), room).expect(200)
    return alice, bob, carol, room, msg, topic


def by_id(events, event_id):
    found = [e for e in events if e["event_id"] == event_id]
    assert len(found) == 1, [e["event_id"] for e in events]
    return found[0]


def assert_pruned(ev):
    assert ev["content"] == {}, ev
    assert "redacted_because" not in ev.get("unsigned", {})


def assert_whole(ev, key="body"):
    assert ev["content"].get(key) == SECRET, ev


def read_paths(api, room, msg, topic):
    """The message event as each read path serves it to api's user: name -> event."""
    out = {}
    tl = timeline(api, room)
    out["messages"] = by_id(tl, msg)
    out["messages_topic"] = by_id(tl, topic)
    out["event"] = get_event(api, room, msg).expect(200).body
    out["context"] = context(api, room, msg, limit=0).expect(200).body["event"]
    ctx = context(api, room, topic, limit=6).expect(200).body
    out["context_before"] = by_id(ctx["events_before"], msg)
    s = sync_ok(api, filter={"room": {"timeline": {"limit": 50}}})
    out["sync"] = by_id(tl_events(joined(s, room)), msg)
    out["initialSync"] = by_id(initial_sync(api, room, limit=50).expect(200).body["messages"]["chunk"],
                               msg)
    r = api.post("/search", {"search_categories": {"room_events": {
        "search_term": SECRET, "filter": {"rooms": [room]}}}}).expect(200)
    results = r.body["search_categories"]["room_events"]["results"]
    out["search"] = [x["result"] for x in results if x["result"]["event_id"] == msg]
    return out


def test_later_joiner_sees_pruned_events(adm, api_r0):
    alice, bob, carol, room, msg, topic = scenario(adm, api_r0)
    seen = read_paths(carol.api(), room, msg, topic)
    for name in ("messages", "event", "context", "context_before", "sync", "initialSync"):
        assert_pruned(seen[name])
        assert seen[name]["sender"] == alice.user_id and seen[name]["type"] == "m.room.message"
    # A pruned m.room.topic keeps no keys either (the redaction algorithm).
    assert seen["messages_topic"]["content"] == {}
    # Synapse searches the stored text, then filters the hits: the hit comes back pruned.
    assert len(seen["search"]) == 1
    assert_pruned(seen["search"][0])


def test_members_at_the_time_keep_seeing_them(adm, api_r0):
    alice, bob, carol, room, msg, topic = scenario(adm, api_r0)
    seen = read_paths(bob.api(), room, msg, topic)
    for name in ("messages", "event", "context", "context_before", "sync", "initialSync"):
        assert_whole(seen[name])
    assert_whole(seen["messages_topic"], "topic")
    assert len(seen["search"]) == 1
    assert_whole(seen["search"][0])


def test_left_and_rejoined_member(adm, api_r0):
    """Joined when the event was sent is what counts, not joined now."""
    alice, bob, carol, room, msg, topic = scenario(adm, api_r0)
    bob.api().post("/rooms/%s/leave" % quote(room), {}).expect(200)
    join(bob.api(), room).expect(200)
    assert_whole(get_event(bob.api(), room, msg).expect(200).body)


def test_deactivation_without_erase_keeps_content(adm, api_r0):
    alice, bob, carol, room, msg, topic = scenario(adm, api_r0, erase=False)
    assert_whole(get_event(carol.api(), room, msg).expect(200).body)
    assert_whole(by_id(timeline(carol.api(), room), msg))


def test_reactivation_lifts_erasure(adm, api_r0):
    """Synapse's PUT /v2/users with deactivated false marks the user not erased again."""
    a, _ = adm
    alice, bob, carol, room, msg, topic = scenario(adm, api_r0)
    assert_pruned(get_event(carol.api(), room, msg).expect(200).body)
    a.put(A + "/v2/users/%s" % quote(alice.user_id), {"deactivated": False,
                                                       "password": "pw-again"}).expect(200)
    assert_whole(get_event(carol.api(), room, msg).expect(200).body)
