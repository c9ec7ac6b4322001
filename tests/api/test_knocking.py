"""knocking.yaml, client-server-api "Knocking on rooms" and rooms/v7.md (Matrix v1.1):
POST /knock/{roomIdOrAlias} under the knock join rule of a v7 room, the knocked room in /sync
(rooms.knock with knock_state), a knock accepted by an invite (then a join) and rejected by a
kick or withdrawn by leaving, join_rule in /publicRooms, and reason on membership changes."""

import pytest

from harness import quote
from roomlib import (ban, create_room, invite, join, kick, leave, membership, put_state, send,
                     state_content)
from synclib import sync_ok

OFF = "offline"


def knock(api, target, **body):
    return api.post("/knock/" + quote(target), body)


def knock_room(api, version="7", **extra):
    room = create_room(api, room_version=version, **extra)
    put_state(api, room, "m.room.join_rules", {"join_rule": "knock"})
    return room


@pytest.fixture
def pair(server, api):
    a = api.register()
    b = api.register()
    return a, b


def test_knock_and_sync(server, api, pair):
    a, b = pair
    room = knock_room(a.api(api.prefix), name="Knock here")
    since = sync_ok(b.api(api.prefix), set_presence=OFF)["next_batch"]
    r = knock(b.api(api.prefix), room, reason="let me in").expect(200)
    assert r.body == {"room_id": room}
    ev = state_content(a.api(api.prefix), room, "m.room.member", b.user_id)
    assert ev["membership"] == "knock"
    # SPEC: v1.1: reason on membership changes is copied into the event.
    assert ev["reason"] == "let me in"
    body = sync_ok(b.api(api.prefix), since=since, set_presence=OFF)
    # SPEC: sync.yaml rooms.knock: "The rooms that the user has knocked upon", knock_state.
    entry = body["rooms"]["knock"][room]
    events = entry["knock_state"]["events"]
    types = {(e["type"], e["state_key"]) for e in events}
    assert ("m.room.join_rules", "") in types and ("m.room.name", "") in types
    own = [e for e in events if e["type"] == "m.room.member" and e["state_key"] == b.user_id]
    assert own and own[0]["content"]["membership"] == "knock"
    for e in events:
        assert set(e) == {"type", "state_key", "content", "sender"}
    # Not a joined or invited room.
    assert room not in body["rooms"]["join"] and room not in body["rooms"]["invite"]
    # The room's members see the knock in their timeline.
    tl = sync_ok(a.api(api.prefix), set_presence=OFF)["rooms"]["join"][room]["timeline"]["events"]
    assert any(e["type"] == "m.room.member" and e["content"].get("membership") == "knock"
               for e in tl)


def test_knock_by_alias(server, pair):
    a, b = pair
    local = "k" + b.localpart
    room = knock_room(a.api(), room_alias_name=local)
    r = knock(b.api("v3"), "#%s:%s" % (local, server.server_name)).expect(200)
    assert r.body["room_id"] == room
    knock(b.api(), "#nope:%s" % server.server_name).expect(404, "M_NOT_FOUND")
    knock(b.api(), "garbage").expect(400, "M_INVALID_PARAM")
    knock(b.api(), "!unknown:%s" % server.server_name).expect(404, "M_NOT_FOUND")


@pytest.mark.parametrize("rule", ["invite", "public"])
def test_knock_needs_knock_rule(server, pair, rule):
    a, b = pair
    room = create_room(a.api(), room_version="7")
    put_state(a.api(), room, "m.room.join_rules", {"join_rule": rule})
    # SPEC: v7 4.6.1 "If the join_rule is anything other than knock, reject." (403)
    knock(b.api(), room).expect(403, "M_FORBIDDEN")
    assert membership(a.api(), room, b.user_id) is None


@pytest.mark.parametrize("version", ["1", "5", "6"])
def test_knock_needs_room_version_7(server, pair, version):
    a, b = pair
    room = create_room(a.api(), room_version=version)
    # Before v7 the knock join rule means nothing and knock is an unknown membership.
    put_state(a.api(), room, "m.room.join_rules", {"join_rule": "knock"})
    knock(b.api(), room).expect(403, "M_FORBIDDEN")
    join(b.api(), room).expect(403, "M_FORBIDDEN")


def test_banned_or_joined_cannot_knock(server, pair):
    a, b = pair
    room = knock_room(a.api())
    # SPEC: v7 4.6.3: only when not banned, invited or joined.
    knock(a.api(), room).expect(403, "M_FORBIDDEN")
    ban(a.api(), room, b.user_id).expect(200)
    knock(b.api(), room).expect(403, "M_FORBIDDEN")


def test_knock_does_not_join(server, pair):
    a, b = pair
    room = knock_room(a.api())
    knock(b.api(), room).expect(200)
    # A knocker is not a member: cannot send, and cannot join without an invite.
    r = b.api().put("/rooms/%s/send/m.room.message/t1" % quote(room), {"msgtype": "m.text", "body": "x"})
    r.expect(403, "M_FORBIDDEN")
    join(b.api(), room).expect(403, "M_FORBIDDEN")


def test_accept_by_invite(server, api, pair):
    a, b = pair
    room = knock_room(a.api(api.prefix))
    knock(b.api(api.prefix), room).expect(200)
    since = sync_ok(b.api(api.prefix), set_presence=OFF)["next_batch"]
    invite(a.api(api.prefix), room, b.user_id, reason="welcome").expect(200)
    body = sync_ok(b.api(api.prefix), since=since, set_presence=OFF)
    assert room in body["rooms"]["invite"]
    assert room not in body["rooms"].get("knock", {})
    join(b.api(api.prefix), room, reason="thanks").expect(200)
    assert membership(a.api(api.prefix), room, b.user_id) == "join"
    assert state_content(a.api(api.prefix), room, "m.room.member", b.user_id)["reason"] == "thanks"
    send(b.api(api.prefix), room, {"msgtype": "m.text", "body": "in"})


def test_reject_by_kick(server, pair):
    a, b = pair
    room = knock_room(a.api())
    knock(b.api(), room).expect(200)
    since = sync_ok(b.api(), set_presence=OFF)["next_batch"]
    kick(a.api(), room, b.user_id, reason="no").expect(200)
    assert membership(a.api(), room, b.user_id) == "leave"
    body = sync_ok(b.api(), since=since, set_presence=OFF)
    # The knocker learns of the rejection: the room is in leave.
    assert room in body["rooms"]["leave"]
    # And may knock again.
    knock(b.api(), room).expect(200)


def test_withdraw_by_leaving(server, pair):
    a, b = pair
    room = knock_room(a.api())
    knock(b.api(), room).expect(200)
    leave(b.api(), room, reason="never mind").expect(200)
    assert membership(a.api(), room, b.user_id) == "leave"
    ev = state_content(a.api(), room, "m.room.member", b.user_id)
    assert ev["reason"] == "never mind"


def test_knock_reason_must_be_string(server, pair):
    a, b = pair
    room = knock_room(a.api())
    knock(b.api(), room, reason=5).expect(400, "M_BAD_JSON")


def test_knock_requires_auth(api):
    api.post("/knock/" + quote("!r:hearth.test"), {}).expect(401, "M_MISSING_TOKEN")


def test_public_rooms_join_rule(server, api):
    a = api.register()
    room = knock_room(a.api(api.prefix), visibility="public")
    pub = create_room(a.api(api.prefix), visibility="public", preset="public_chat")
    chunk = {e["room_id"]: e for e in api.get("/publicRooms").expect(200).body["chunk"]}
    # SPEC: v1.1 public_rooms_response.yaml join_rule.
    assert chunk[room]["join_rule"] == "knock"
    assert chunk[pub]["join_rule"] == "public"


@pytest.mark.parametrize("action", ["invite", "join", "leave", "unban"])
def test_reason_on_membership_changes(server, action):
    # SPEC: v1.1 (MSC2367): an optional reason on invite, join, leave and unban, copied into
    # the m.room.member event.
    api = server.api("v3")
    a = api.register()
    b = api.register()
    room = create_room(a.api("v3"), preset="public_chat")
    if action == "invite":
        invite(a.api("v3"), room, b.user_id, reason="R").expect(200)
    elif action == "join":
        join(b.api("v3"), room, reason="R").expect(200)
    elif action == "leave":
        join(b.api("v3"), room).expect(200)
        leave(b.api("v3"), room, reason="R").expect(200)
    else:
        ban(a.api("v3"), room, b.user_id).expect(200)
        a.api("v3").post("/rooms/%s/unban" % quote(room), {"user_id": b.user_id, "reason": "R"}).expect(200)
    assert state_content(a.api("v3"), room, "m.room.member", b.user_id)["reason"] == "R"
