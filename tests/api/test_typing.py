"""PUT /rooms/{roomId}/typing/{userId} (typing.yaml, modules/typing_notifications.rst): typing
lives in memory with a server-side expiry; /sync carries it as the room's ephemeral m.typing
event whenever the set changed, and a change (or an expiry) wakes waiting syncs."""

import time

import pytest

from ephemeral_lib import set_typing, shared_room, typing_users
from harness import quote
from roomlib import create_room
from synclib import Background, own_session, sync, sync_ok, sync_until


def test_typing_reaches_the_other_member(server, prefix):
    (a, b), r = shared_room(server)
    since = sync_ok(b.api(prefix), set_presence="offline")["next_batch"]
    set_typing(a.api(prefix), r, a.user_id, True, 20000).expect(200)
    body, _ = sync_until(b.api(prefix), since, lambda x: typing_users(x, r) is not None)
    assert typing_users(body, r) == [a.user_id]
    # Nothing changed since: no m.typing the next time.
    again = sync_ok(b.api(prefix), since=body["next_batch"], set_presence="offline")
    assert typing_users(again, r) is None
    # Stopping sends an empty list.
    set_typing(a.api(prefix), r, a.user_id, False, None).expect(200)
    body = sync_ok(b.api(prefix), since=body["next_batch"], set_presence="offline")
    assert typing_users(body, r) == []


def test_initial_sync_shows_current_typists(server):
    (a, b, c), r = shared_room(server, 3)
    set_typing(a.api(), r, a.user_id).expect(200)
    set_typing(b.api(), r, b.user_id).expect(200)
    assert typing_users(sync_ok(c.api()), r) == sorted([a.user_id, b.user_id])
    set_typing(a.api(), r, a.user_id, False).expect(200)
    set_typing(b.api(), r, b.user_id, False).expect(200)
    # Nobody typing: an initial sync has no m.typing.
    assert typing_users(sync_ok(c.api()), r) is None


def test_typing_wakes_a_waiting_sync(server):
    (a, b), r = shared_room(server)
    since = sync_ok(b.api(), set_presence="offline")["next_batch"]
    bg = Background(lambda: sync(own_session(b.api()), since=since, timeout=10000,
                                 set_presence="offline").expect(200).body)
    time.sleep(0.3)
    t0 = time.monotonic()
    set_typing(a.api(), r, a.user_id).expect(200)
    body, _ = bg.result(30)
    assert bg.t_end - t0 < 3.0
    assert typing_users(body, r) == [a.user_id]


def test_typing_expires_and_wakes(server):
    (a, b), r = shared_room(server)
    set_typing(a.api(), r, a.user_id, True, 1000).expect(200)
    body = sync_ok(b.api(), set_presence="offline")
    assert typing_users(body, r) == [a.user_id]
    # The expiry is a change: a waiting sync wakes with the empty list, on a timer.
    bg = Background(lambda: sync(own_session(b.api()), since=body["next_batch"], timeout=10000,
                                 set_presence="offline").expect(200).body)
    got, _ = bg.result(30)
    assert typing_users(got, r) == []
    assert bg.t_end - bg.t_start < 4.0


def test_extending_is_not_a_change(server):
    (a, b), r = shared_room(server)
    set_typing(a.api(), r, a.user_id, True, 20000).expect(200)
    since = sync_ok(b.api(), set_presence="offline")["next_batch"]
    set_typing(a.api(), r, a.user_id, True, 20000).expect(200)
    assert typing_users(sync_ok(b.api(), since=since, set_presence="offline"), r) is None


def test_typing_for_another_user_is_forbidden(server, prefix):
    (a, b), r = shared_room(server)
    set_typing(a.api(prefix), r, b.user_id).expect(403, "M_FORBIDDEN")


def test_typing_needs_membership(server):
    (a, b), r = shared_room(server)
    stranger = server.api("r0").register()
    set_typing(stranger.api(), r, stranger.user_id).expect(403, "M_FORBIDDEN")
    set_typing(stranger.api(), "!nowhere:hearth.test", stranger.user_id).expect(403, "M_FORBIDDEN")


@pytest.mark.parametrize("body,code", [
    ({}, "M_MISSING_PARAM"),
    ({"typing": "yes"}, "M_BAD_JSON"),
    ({"typing": True, "timeout": "10"}, "M_BAD_JSON"),
    ({"typing": True, "timeout": -1}, "M_BAD_JSON"),
])
def test_typing_bad_bodies(server, body, code):
    (a,), r = shared_room(server, 1)
    a.api().put("/rooms/%s/typing/%s" % (quote(r), quote(a.user_id)), body).expect(400, code)


def test_typing_bad_room_id(server):
    a = server.api("r0").register()
    set_typing(a.api(), "not-a-room", a.user_id).expect(400, "M_INVALID_PARAM")


def test_typing_requires_auth(server):
    (a,), r = shared_room(server, 1)
    server.api("r0").put("/rooms/%s/typing/%s" % (quote(r), quote(a.user_id)),
                         {"typing": True}).expect(401, "M_MISSING_TOKEN")


def test_ephemeral_filter_hides_typing(server):
    (a, b), r = shared_room(server)
    set_typing(a.api(), r, a.user_id).expect(200)
    body = sync_ok(b.api(), filter={"room": {"ephemeral": {"not_types": ["m.typing"]}}})
    assert typing_users(body, r) is None
    body = sync_ok(b.api(), filter={"room": {"ephemeral": {"not_senders": [a.user_id]}}})
    assert typing_users(body, r) is None
