"""GET/PUT /presence/{userId}/status (presence.yaml, modules/presence.rst) and presence in
/sync: set_presence, presence events reaching only users who share a room, config
presence.enabled. The idle (5 min) and offline (30 s after the last sync could have answered)
timers are too slow for these tests; see src/sync/presence.h."""

import pytest

from ephemeral_lib import presence_of, set_typing, shared_room
from harness import quote
from roomlib import create_room, send
from synclib import Background, own_session, sync, sync_ok, sync_until


def status_path(user_id):
    return "/presence/%s/status" % quote(user_id)


def test_put_and_get_own(server, prefix):
    a = server.api("r0").register()
    api = a.api(prefix)
    api.put(status_path(a.user_id), {"presence": "online", "status_msg": "here"}).expect(200)
    body = api.get(status_path(a.user_id)).expect(200).body
    assert body["presence"] == "online"
    assert body["status_msg"] == "here"
    assert body["currently_active"] is True
    assert 0 <= body["last_active_ago"] < 10000
    api.put(status_path(a.user_id), {"presence": "unavailable"}).expect(200)
    body = api.get(status_path(a.user_id)).expect(200).body
    assert body["presence"] == "unavailable" and "status_msg" not in body
    assert body["currently_active"] is False


def test_never_seen_user_is_offline(server):
    (a, b), r = shared_room(server)
    assert a.api().get(status_path(b.user_id)).expect(200).body == {"presence": "offline"}


def test_put_for_another_user_is_forbidden(server):
    (a, b), r = shared_room(server)
    a.api().put(status_path(b.user_id), {"presence": "online"}).expect(403, "M_FORBIDDEN")


@pytest.mark.parametrize("body,code", [
    ({}, "M_MISSING_PARAM"),
    ({"presence": "away"}, "M_INVALID_PARAM"),
    ({"presence": 1}, "M_INVALID_PARAM"),
    ({"presence": "online", "status_msg": 5}, "M_BAD_JSON"),
])
def test_put_bad_bodies(server, body, code):
    a = server.api("r0").register()
    a.api().put(status_path(a.user_id), body).expect(400, code)


def test_get_unknown_user(server):
    a = server.api("r0").register()
    a.api().get(status_path("@nobody-here:hearth.test")).expect(404, "M_NOT_FOUND")


def test_get_needs_a_shared_room(server):
    a, stranger = server.api("r0").register(), server.api("r0").register()
    stranger.api().put(status_path(stranger.user_id), {"presence": "online"}).expect(200)
    a.api().get(status_path(stranger.user_id)).expect(403, "M_FORBIDDEN")
    r = create_room(stranger.api(), preset="public_chat")
    a.api().post("/rooms/%s/join" % quote(r), {}).expect(200)
    assert a.api().get(status_path(stranger.user_id)).expect(200).body["presence"] == "online"


def test_presence_reaches_room_sharers_only(server, prefix):
    (a, b), r = shared_room(server)
    stranger = server.api("r0").register()
    since_b = sync_ok(b.api(prefix), set_presence="offline")["next_batch"]
    since_s = sync_ok(stranger.api(prefix), set_presence="offline")["next_batch"]
    a.api().put(status_path(a.user_id), {"presence": "online", "status_msg": "hello"}).expect(200)
    body, _ = sync_until(b.api(prefix), since_b, lambda x: presence_of(x, a.user_id) is not None)
    content = presence_of(body, a.user_id)
    assert content["presence"] == "online" and content["status_msg"] == "hello"
    assert content["currently_active"] is True and isinstance(content["last_active_ago"], int)
    ev = [e for e in body["presence"]["events"] if e["sender"] == a.user_id][0]
    assert ev["type"] == "m.presence"
    body = sync_ok(stranger.api(prefix), since=since_s, set_presence="offline")
    assert presence_of(body, a.user_id) is None
    assert presence_of(sync_ok(stranger.api(prefix), set_presence="offline"), a.user_id) is None


def test_sync_marks_online_and_wakes_sharers(server):
    (a, b), r = shared_room(server)
    since = sync_ok(b.api(), set_presence="offline")["next_batch"]
    bg = Background(lambda: sync(own_session(b.api()), since=since, timeout=10000,
                                 set_presence="offline").expect(200).body)
    sync_ok(a.api())  # no set_presence: online
    body, elapsed = bg.result(30)
    assert elapsed < 5.0
    assert presence_of(body, a.user_id)["presence"] == "online"
    # The syncing user's own presence is there too, once.
    first = sync_ok(a.api())
    assert presence_of(first, a.user_id)["presence"] == "online"
    again = sync_ok(a.api(), since=first["next_batch"])
    assert presence_of(again, a.user_id) is None


def test_set_presence_unavailable_and_offline(server):
    (a, b), r = shared_room(server)
    sync_ok(a.api(), set_presence="unavailable")
    assert b.api().get(status_path(a.user_id)).expect(200).body["presence"] == "unavailable"
    # offline leaves presence as it is.
    sync_ok(a.api(), set_presence="offline")
    assert b.api().get(status_path(a.user_id)).expect(200).body["presence"] == "unavailable"
    # Activity (typing) brings the user back online.
    set_typing(a.api(), r, a.user_id).expect(200)
    assert b.api().get(status_path(a.user_id)).expect(200).body["presence"] == "online"


def test_sending_a_message_is_activity(server):
    # modules/presence.rst: last_active_ago counts from the last activity; a message is one.
    (a, b), r = shared_room(server)
    a.api().put(status_path(a.user_id), {"presence": "unavailable"}).expect(200)
    since = sync_ok(b.api(), set_presence="offline")["next_batch"]
    send(a.api(), r)
    body = b.api().get(status_path(a.user_id)).expect(200).body
    assert body["presence"] == "online" and body["currently_active"] is True
    assert 0 <= body["last_active_ago"] < 5000
    body, _ = sync_until(b.api(), since, lambda x: (presence_of(x, a.user_id) or {}).get(
        "presence") == "online")
    # State events count too.
    a.api().put(status_path(a.user_id), {"presence": "unavailable"}).expect(200)
    a.api().put("/rooms/%s/state/m.room.topic" % quote(r), {"topic": "t"}).expect(200)
    assert b.api().get(status_path(a.user_id)).expect(200).body["presence"] == "online"


def test_offline_sender_stays_offline(server):
    # As Synapse: activity brings an idle user back, but a user who is not syncing (a bot with
    # set_presence=offline) stays offline; only last_active_ago moves.
    (a, b), r = shared_room(server)
    send(a.api(), r)
    body = b.api().get(status_path(a.user_id)).expect(200).body
    assert body["presence"] == "offline" and body["currently_active"] is False
    assert 0 <= body["last_active_ago"] < 5000


def test_initial_sync_has_sharers_presence(server):
    (a, b), r = shared_room(server)
    a.api().put(status_path(a.user_id), {"presence": "unavailable", "status_msg": "lunch"}).expect(200)
    content = presence_of(sync_ok(b.api()), a.user_id)
    assert content["presence"] == "unavailable" and content["status_msg"] == "lunch"


def test_presence_filter(server):
    (a, b), r = shared_room(server)
    a.api().put(status_path(a.user_id), {"presence": "online"}).expect(200)
    body = sync_ok(b.api(), filter={"presence": {"not_senders": [a.user_id]}})
    assert presence_of(body, a.user_id) is None
    body = sync_ok(b.api(), filter={"presence": {"types": ["m.none"]}})
    assert body["presence"]["events"] == []


def test_presence_disabled(server_factory):
    srv = server_factory({"presence": {"enabled": False}})
    a, b = srv.api("r0").register(), srv.api("r0").register()
    r = create_room(a.api(), preset="public_chat")
    b.api().post("/rooms/%s/join" % quote(r), {}).expect(200)
    a.api().put(status_path(a.user_id), {"presence": "online", "status_msg": "x"}).expect(200)
    assert b.api().get(status_path(a.user_id)).expect(200).body == {"presence": "offline"}
    sync_ok(a.api())
    assert sync_ok(b.api())["presence"]["events"] == []
