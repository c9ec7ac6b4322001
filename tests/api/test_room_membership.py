"""Room membership: joining.yaml, inviting.yaml, leaving.yaml (leave, forget), kicking.yaml,
banning.yaml (ban, unban), list_joined_rooms.yaml; client_server_api.rst §Room membership and
the membership authorization rules of rooms/v1.rst (the same for versions 1-6)."""

import pytest

import harness
from harness import quote
from roomlib import (ban, create_room, invite, join, kick, leave, messages, now_token,
                     put_state_raw, send, send_raw, state_content, unban)


@pytest.fixture(scope="module")
def u(server):
    api = server.api("r0")

    class Users:
        pass

    us = Users()
    for name in ("alice", "bob", "carol", "dave", "eve"):
        setattr(us, name, api.register())
    return us


def member(api, room_id, user_id):
    return state_content(api, room_id, "m.room.member", user_id)


def joined_rooms(user, prefix="r0"):
    return user.api(prefix).get("/joined_rooms").expect(200).body["joined_rooms"]


# --- joining -----------------------------------------------------------------------------

def test_join_public_room(server, prefix, u):
    room = create_room(u.alice.api(), preset="public_chat")
    r = join(u.bob.api(prefix), room).expect(200)
    assert r.body["room_id"] == room
    ev = member(u.alice.api(), room, u.bob.user_id)
    assert ev["membership"] == "join"
    assert room in joined_rooms(u.bob, prefix)
    # The joined user can now send.
    send(u.bob.api(prefix), room)


def test_join_via_join_path_with_room_id(server, prefix, u):
    room = create_room(u.alice.api(), preset="public_chat")
    r = u.carol.api(prefix).post("/join/" + quote(room), {}).expect(200)
    assert r.body["room_id"] == room
    assert member(u.alice.api(), room, u.carol.user_id)["membership"] == "join"


def test_join_by_alias(server, prefix, u):
    local = harness.unique_localpart("join")
    room = create_room(u.alice.api(), preset="public_chat", room_alias_name=local)
    alias = "#%s:%s" % (local, server.server_name)
    r = u.bob.api(prefix).post("/join/" + quote(alias), {}).expect(200)
    assert r.body["room_id"] == room
    assert member(u.alice.api(), room, u.bob.user_id)["membership"] == "join"


def test_join_by_alias_with_server_name(server, u):
    # server_name is a list of servers to join through; for a local room it is ignored.
    local = harness.unique_localpart("join")
    room = create_room(u.alice.api(), preset="public_chat", room_alias_name=local)
    alias = "#%s:%s" % (local, server.server_name)
    r = u.dave.api().post("/join/" + quote(alias), {},
                          params={"server_name": ["elsewhere.example", server.server_name]}).expect(200)
    assert r.body["room_id"] == room


def test_join_unknown_alias(server, u):
    alias = "#%s:%s" % (harness.unique_localpart("nosuch"), server.server_name)
    u.bob.api().post("/join/" + quote(alias), {}).expect(404, "M_NOT_FOUND")


def test_join_unknown_room(server, u):
    room = "!doesnotexist%s:%s" % (harness.unique_localpart(""), server.server_name)
    u.bob.api().post("/rooms/%s/join" % quote(room), {}).expect(404, "M_NOT_FOUND")
    u.bob.api().post("/join/" + quote(room), {}).expect(404, "M_NOT_FOUND")


def test_join_invite_only_without_invite(server, u):
    room = create_room(u.alice.api(), preset="private_chat")
    join(u.bob.api(), room).expect(403, "M_FORBIDDEN")
    u.bob.api().post("/join/" + quote(room), {}).expect(403, "M_FORBIDDEN")
    assert room not in joined_rooms(u.bob)


@pytest.mark.parametrize("rule", ["invite", "private", "org.example.unknown"])
def test_join_rule_not_public(server, u, rule):
    # Auth rules: a join without a prior invite is allowed only when the join_rule is public.
    room = create_room(u.alice.api(), preset="public_chat")
    u.alice.api().put("/rooms/%s/state/m.room.join_rules" % quote(room), {"join_rule": rule}).expect(200)
    join(u.bob.api(), room).expect(403, "M_FORBIDDEN")


def test_join_after_invite(server, u):
    room = create_room(u.alice.api(), preset="private_chat")
    r = invite(u.alice.api(), room, u.bob.user_id).expect(200)
    assert r.body == {}
    ev = member(u.alice.api(), room, u.bob.user_id)
    assert ev["membership"] == "invite"
    # An invite is not a join.
    assert room not in joined_rooms(u.bob)
    join(u.bob.api(), room).expect(200)
    assert member(u.alice.api(), room, u.bob.user_id)["membership"] == "join"
    assert room in joined_rooms(u.bob)


def test_join_when_already_joined_is_ok(server, u):
    room = create_room(u.alice.api(), preset="public_chat")
    join(u.bob.api(), room).expect(200)
    join(u.bob.api(), room).expect(200)
    assert member(u.alice.api(), room, u.bob.user_id)["membership"] == "join"


def test_join_reason(server, u):
    # r0.6.1 documents `reason` only for kick and ban; the rooms issue asks for every membership
    # endpoint to carry it (as later spec versions do).
    room = create_room(u.alice.api(), preset="public_chat")
    join(u.bob.api(), room, reason="hello there").expect(200)
    ev = member(u.alice.api(), room, u.bob.user_id)
    assert ev["membership"] == "join"
    assert ev.get("reason") == "hello there"


def test_join_someone_else_via_state(server, u):
    room = create_room(u.alice.api(), preset="public_chat")
    join(u.bob.api(), room).expect(200)
    # Joining on behalf of another user: sender != state_key -> reject.
    put_state_raw(u.bob.api(), room, "m.room.member", {"membership": "join"},
                  state_key=u.carol.user_id).expect(403, "M_FORBIDDEN")
    put_state_raw(u.alice.api(), room, "m.room.member", {"membership": "join"},
                  state_key=u.carol.user_id).expect(403, "M_FORBIDDEN")


def test_join_requires_token(api, server, u):
    room = create_room(u.alice.api(), preset="public_chat")
    api.post("/rooms/%s/join" % quote(room), {}).expect(401, "M_MISSING_TOKEN")
    api.post("/join/" + quote(room), {}).expect(401, "M_MISSING_TOKEN")


# --- inviting ----------------------------------------------------------------------------

def test_invite_sender_and_content(server, prefix, u):
    room = create_room(u.alice.api(), preset="private_chat")
    invite(u.alice.api(prefix), room, u.carol.user_id).expect(200)
    r = u.alice.api().get("/rooms/%s/state" % quote(room)).expect(200)
    ev = [e for e in r.body if e["type"] == "m.room.member" and e["state_key"] == u.carol.user_id]
    assert len(ev) == 1
    assert ev[0]["sender"] == u.alice.user_id
    assert ev[0]["content"]["membership"] == "invite"


def test_invite_reason(server, u):
    # See test_join_reason.
    room = create_room(u.alice.api(), preset="private_chat")
    invite(u.alice.api(), room, u.bob.user_id, reason="come in").expect(200)
    assert member(u.alice.api(), room, u.bob.user_id).get("reason") == "come in"


def test_invite_by_non_member(server, u):
    room = create_room(u.alice.api(), preset="public_chat")
    # "The inviter is not currently in the room."
    invite(u.bob.api(), room, u.carol.user_id).expect(403, "M_FORBIDDEN")


def test_invite_by_invited_user(server, u):
    room = create_room(u.alice.api(), preset="private_chat")
    invite(u.alice.api(), room, u.bob.user_id).expect(200)
    invite(u.bob.api(), room, u.carol.user_id).expect(403, "M_FORBIDDEN")


def test_invite_by_left_user(server, u):
    room = create_room(u.alice.api(), preset="public_chat")
    join(u.bob.api(), room).expect(200)
    leave(u.bob.api(), room).expect(200)
    invite(u.bob.api(), room, u.carol.user_id).expect(403, "M_FORBIDDEN")


def test_invite_insufficient_power(server, u):
    room = create_room(u.alice.api(), preset="public_chat",
                       power_level_content_override={"invite": 50})
    join(u.bob.api(), room).expect(200)
    # "The inviter's power level is insufficient to invite users to the room."
    invite(u.bob.api(), room, u.carol.user_id).expect(403, "M_FORBIDDEN")
    # With invite at 0 anyone joined may invite.
    room2 = create_room(u.alice.api(), preset="public_chat",
                        power_level_content_override={"invite": 0})
    join(u.bob.api(), room2).expect(200)
    invite(u.bob.api(), room2, u.carol.user_id).expect(200)


def test_invite_already_joined(server, u):
    room = create_room(u.alice.api(), preset="public_chat")
    join(u.bob.api(), room).expect(200)
    # "The invitee is already a member of the room."
    invite(u.alice.api(), room, u.bob.user_id).expect(403, "M_FORBIDDEN")
    invite(u.alice.api(), room, u.alice.user_id).expect(403, "M_FORBIDDEN")
    assert member(u.alice.api(), room, u.bob.user_id)["membership"] == "join"


def test_invite_banned(server, u):
    room = create_room(u.alice.api(), preset="private_chat")
    ban(u.alice.api(), room, u.bob.user_id).expect(200)
    # "The invitee has been banned from the room."
    invite(u.alice.api(), room, u.bob.user_id).expect(403, "M_FORBIDDEN")
    assert member(u.alice.api(), room, u.bob.user_id)["membership"] == "ban"


def test_invite_twice_is_ok(server, u):
    room = create_room(u.alice.api(), preset="private_chat")
    invite(u.alice.api(), room, u.bob.user_id).expect(200)
    # invite -> invite is allowed by the auth rules (the target is neither joined nor banned).
    invite(u.alice.api(), room, u.bob.user_id).expect(200)
    assert member(u.alice.api(), room, u.bob.user_id)["membership"] == "invite"


def test_invite_bad_requests(server, u):
    room = create_room(u.alice.api(), preset="private_chat")
    u.alice.api().post("/rooms/%s/invite" % quote(room), {}).expect(400, ("M_MISSING_PARAM", "M_BAD_JSON"))
    u.alice.api().post("/rooms/%s/invite" % quote(room), {"user_id": 42}).expect(400, "M_BAD_JSON")
    u.alice.api().post("/rooms/%s/invite" % quote(room), {"user_id": "not-an-id"}).expect(
        400, ("M_INVALID_PARAM", "M_BAD_JSON"))
    u.alice.api().post("/rooms/%s/invite" % quote(room), data=b"{",
                       headers={"Content-Type": "application/json"}).expect(400, "M_NOT_JSON")


def test_reject_invite(server, u):
    room = create_room(u.alice.api(), preset="private_chat")
    invite(u.alice.api(), room, u.bob.user_id).expect(200)
    leave(u.bob.api(), room).expect(200)
    ev = member(u.alice.api(), room, u.bob.user_id)
    assert ev["membership"] == "leave"
    # Rejecting does not let you join an invite-only room.
    join(u.bob.api(), room).expect(403, "M_FORBIDDEN")


def test_invite_to_unknown_room(server, u):
    room = "!nosuch%s:%s" % (harness.unique_localpart(""), server.server_name)
    r = invite(u.alice.api(), room, u.bob.user_id)
    # Not a member of a room that does not exist: the inviter "is not currently in the room".
    r.expect((403, 404), ("M_FORBIDDEN", "M_NOT_FOUND"))


# --- leaving and forgetting --------------------------------------------------------------

def test_leave(server, prefix, u):
    room = create_room(u.alice.api(), preset="public_chat")
    join(u.bob.api(), room).expect(200)
    r = leave(u.bob.api(prefix), room).expect(200)
    assert r.body == {}
    assert member(u.alice.api(), room, u.bob.user_id)["membership"] == "leave"
    assert room not in joined_rooms(u.bob, prefix)
    # No longer able to send.
    send_raw(u.bob.api(), room, {"msgtype": "m.text", "body": "x"}).expect(403, "M_FORBIDDEN")
    # A public room can be re-joined.
    join(u.bob.api(), room).expect(200)


def test_leave_reason(server, u):
    # See test_join_reason.
    room = create_room(u.alice.api(), preset="public_chat")
    join(u.bob.api(), room).expect(200)
    leave(u.bob.api(), room, reason="bye now").expect(200)
    ev = member(u.alice.api(), room, u.bob.user_id)
    assert ev["membership"] == "leave" and ev.get("reason") == "bye now", ev


def test_leave_invite_only_needs_reinvite(server, u):
    room = create_room(u.alice.api(), preset="private_chat")
    invite(u.alice.api(), room, u.bob.user_id).expect(200)
    join(u.bob.api(), room).expect(200)
    leave(u.bob.api(), room).expect(200)
    join(u.bob.api(), room).expect(403, "M_FORBIDDEN")
    invite(u.alice.api(), room, u.bob.user_id).expect(200)
    join(u.bob.api(), room).expect(200)


def test_leave_room_never_joined(server, u):
    room = create_room(u.alice.api(), preset="public_chat")
    # Leaving requires being invited or joined (auth rules: the sender's membership must be
    # invite or join to leave).
    leave(u.bob.api(), room).expect(403, "M_FORBIDDEN")


def test_leave_twice(server, u):
    room = create_room(u.alice.api(), preset="public_chat")
    join(u.bob.api(), room).expect(200)
    leave(u.bob.api(), room).expect(200)
    leave(u.bob.api(), room).expect(403, "M_FORBIDDEN")


def test_forget(server, prefix, u):
    room = create_room(u.alice.api(), preset="public_chat")
    join(u.bob.api(), room).expect(200)
    send(u.alice.api(), room)
    # "If the user is currently joined to the room, they must leave the room before calling
    # this API." leaving.yaml: 400 with M_UNKNOWN.
    u.bob.api(prefix).post("/rooms/%s/forget" % quote(room), {}).expect(400, "M_UNKNOWN")
    token = now_token(u.alice.api(), room)
    leave(u.bob.api(), room).expect(200)
    # Before forgetting, a departed user may read the history up to their leave.
    messages(u.bob.api(), room, token, "b").expect(200)
    r = u.bob.api(prefix).post("/rooms/%s/forget" % quote(room), {}).expect(200)
    assert r.body == {}
    # "After this API is called, however, a user will no longer be able to retrieve history for
    # this room."
    messages(u.bob.api(), room, token, "b").expect(403, "M_FORBIDDEN")
    u.bob.api().get("/rooms/%s/state" % quote(room)).expect(403, "M_FORBIDDEN")
    assert room not in joined_rooms(u.bob)
    # Re-joining is possible and brings the room back.
    join(u.bob.api(), room).expect(200)
    assert room in joined_rooms(u.bob)
    messages(u.bob.api(), room, now_token(u.bob.api(), room), "b").expect(200)


def test_forget_after_rejecting_invite(server, u):
    room = create_room(u.alice.api(), preset="private_chat")
    invite(u.alice.api(), room, u.bob.user_id).expect(200)
    # Still invited: not left yet.
    u.bob.api().post("/rooms/%s/forget" % quote(room), {}).expect(400, "M_UNKNOWN")
    leave(u.bob.api(), room).expect(200)
    u.bob.api().post("/rooms/%s/forget" % quote(room), {}).expect(200)


# --- kicking -----------------------------------------------------------------------------

def moderated_room(u, **pl):
    """A public room: alice 100 (creator), bob 50, carol and dave 0, all joined."""
    users = {u.alice.user_id: 100, u.bob.user_id: 50}
    override = {"kick": 50, "ban": 50, "users": users}
    override.update(pl)
    room = create_room(u.alice.api(), preset="public_chat", power_level_content_override=override)
    for x in (u.bob, u.carol, u.dave):
        join(x.api(), room).expect(200)
    return room


def test_kick(server, prefix, u):
    room = moderated_room(u)
    r = kick(u.bob.api(prefix), room, u.carol.user_id, reason="Telling unfunny jokes").expect(200)
    assert r.body == {}
    r = u.alice.api().get("/rooms/%s/state/m.room.member/%s" % (quote(room), quote(u.carol.user_id)))
    r.expect(200)
    assert r.body["membership"] == "leave" and r.body.get("reason") == "Telling unfunny jokes", r
    state = u.alice.api().get("/rooms/%s/state" % quote(room)).expect(200).body
    ev = [e for e in state if e["type"] == "m.room.member" and e["state_key"] == u.carol.user_id][0]
    assert ev["sender"] == u.bob.user_id
    # "Once a user has been kicked, the behaviour is the same as if they had left of their own
    # accord. In particular, the user is free to re-join if the room is not invite-only."
    send_raw(u.carol.api(), room, {"msgtype": "m.text", "body": "x"}).expect(403, "M_FORBIDDEN")
    join(u.carol.api(), room).expect(200)


def test_kick_insufficient_power(server, u):
    room = moderated_room(u)
    # carol (0) < kick (50)
    kick(u.carol.api(), room, u.dave.user_id).expect(403, "M_FORBIDDEN")
    assert member(u.alice.api(), room, u.dave.user_id)["membership"] == "join"


def test_kick_equal_or_higher_power(server, u):
    room = moderated_room(u, users={u.alice.user_id: 100, u.bob.user_id: 50, u.carol.user_id: 50})
    # The target's power level must be strictly lower than the sender's.
    kick(u.bob.api(), room, u.carol.user_id).expect(403, "M_FORBIDDEN")
    kick(u.bob.api(), room, u.alice.user_id).expect(403, "M_FORBIDDEN")
    kick(u.alice.api(), room, u.bob.user_id).expect(200)


def test_kick_by_non_member(server, u):
    room = moderated_room(u)
    leave(u.bob.api(), room).expect(200)
    # "The kicker is not currently in the room."
    kick(u.bob.api(), room, u.carol.user_id).expect(403, "M_FORBIDDEN")


def test_kick_target_not_in_room(server, u):
    room = moderated_room(u)
    # "The kickee is not currently in the room."
    kick(u.alice.api(), room, u.eve.user_id).expect(403, "M_FORBIDDEN")


def test_kick_revokes_invite(server, u):
    room = create_room(u.alice.api(), preset="private_chat")
    invite(u.alice.api(), room, u.eve.user_id).expect(200)
    kick(u.alice.api(), room, u.eve.user_id).expect(200)
    assert member(u.alice.api(), room, u.eve.user_id)["membership"] == "leave"
    join(u.eve.api(), room).expect(403, "M_FORBIDDEN")


def test_kick_banned_user_needs_ban_level(server, u):
    # "If the target user's current membership state is ban, and the sender's power level is
    # less than the ban level, reject."
    room = moderated_room(u, kick=50, ban=75)
    ban(u.alice.api(), room, u.dave.user_id).expect(200)
    kick(u.bob.api(), room, u.dave.user_id).expect(403, "M_FORBIDDEN")
    assert member(u.alice.api(), room, u.dave.user_id)["membership"] == "ban"


def test_kick_bad_request(server, u):
    room = moderated_room(u)
    u.alice.api().post("/rooms/%s/kick" % quote(room), {}).expect(400, ("M_MISSING_PARAM", "M_BAD_JSON"))


# --- banning -----------------------------------------------------------------------------

def test_ban_and_unban(server, prefix, u):
    room = moderated_room(u)
    r = ban(u.bob.api(prefix), room, u.carol.user_id, reason="spam").expect(200)
    assert r.body == {}
    ev = member(u.alice.api(), room, u.carol.user_id)
    assert ev["membership"] == "ban"
    assert ev.get("reason") == "spam"
    assert room not in joined_rooms(u.carol)
    # Banned: cannot send, join or be invited.
    send_raw(u.carol.api(), room, {"msgtype": "m.text", "body": "x"}).expect(403, "M_FORBIDDEN")
    join(u.carol.api(), room).expect(403, "M_FORBIDDEN")
    invite(u.alice.api(), room, u.carol.user_id).expect(403, "M_FORBIDDEN")
    # Leaving does not lift a ban.
    leave(u.carol.api(), room).expect(403, "M_FORBIDDEN")
    assert member(u.alice.api(), room, u.carol.user_id)["membership"] == "ban"
    r = unban(u.bob.api(prefix), room, u.carol.user_id).expect(200)
    assert r.body == {}
    assert member(u.alice.api(), room, u.carol.user_id)["membership"] == "leave"
    join(u.carol.api(), room).expect(200)


def test_ban_user_not_in_room(server, u):
    room = moderated_room(u)
    ban(u.alice.api(), room, u.eve.user_id).expect(200)
    assert member(u.alice.api(), room, u.eve.user_id)["membership"] == "ban"
    join(u.eve.api(), room).expect(403, "M_FORBIDDEN")


def test_ban_insufficient_power(server, u):
    room = moderated_room(u)
    # "The banner's power level is insufficient to ban users from the room."
    ban(u.carol.api(), room, u.dave.user_id).expect(403, "M_FORBIDDEN")
    assert member(u.alice.api(), room, u.dave.user_id)["membership"] == "join"


def test_ban_equal_or_higher_power(server, u):
    room = moderated_room(u, users={u.alice.user_id: 100, u.bob.user_id: 50, u.carol.user_id: 50})
    ban(u.bob.api(), room, u.carol.user_id).expect(403, "M_FORBIDDEN")
    ban(u.bob.api(), room, u.alice.user_id).expect(403, "M_FORBIDDEN")


def test_ban_by_non_member(server, u):
    room = moderated_room(u)
    leave(u.bob.api(), room).expect(200)
    # "The banner is not currently in the room."
    ban(u.bob.api(), room, u.carol.user_id).expect(403, "M_FORBIDDEN")


def test_ban_via_state(server, u):
    room = moderated_room(u)
    put_state_raw(u.bob.api(), room, "m.room.member", {"membership": "ban"},
                  state_key=u.dave.user_id).expect(200)
    assert member(u.alice.api(), room, u.dave.user_id)["membership"] == "ban"
    put_state_raw(u.carol.api(), room, "m.room.member", {"membership": "ban"},
                  state_key=u.bob.user_id).expect(403, "M_FORBIDDEN")


def test_unban_insufficient_power(server, u):
    room = moderated_room(u)
    ban(u.alice.api(), room, u.eve.user_id).expect(200)
    # "The unbanner's power level is insufficient to unban users from the room."
    unban(u.carol.api(), room, u.eve.user_id).expect(403, "M_FORBIDDEN")
    assert member(u.alice.api(), room, u.eve.user_id)["membership"] == "ban"


def test_ban_bad_request(server, u):
    room = moderated_room(u)
    u.alice.api().post("/rooms/%s/ban" % quote(room), {"reason": "x"}).expect(400, ("M_MISSING_PARAM", "M_BAD_JSON"))
    u.alice.api().post("/rooms/%s/unban" % quote(room), {}).expect(400, ("M_MISSING_PARAM", "M_BAD_JSON"))


# --- joined rooms ------------------------------------------------------------------------

def test_joined_rooms(server, prefix):
    api = server.api("r0")
    a, b = api.register(), api.register()
    assert joined_rooms(b, prefix) == []
    r1 = create_room(a.api(), preset="public_chat")
    r2 = create_room(a.api(), preset="private_chat", invite=[b.user_id])
    r3 = create_room(a.api(), preset="public_chat")
    join(b.api(), r1).expect(200)
    join(b.api(), r3).expect(200)
    assert sorted(joined_rooms(b, prefix)) == sorted([r1, r3])  # the invite to r2 is not a join
    join(b.api(), r2).expect(200)
    leave(b.api(), r3).expect(200)
    assert sorted(joined_rooms(b, prefix)) == sorted([r1, r2])
    assert sorted(joined_rooms(a, prefix)) == sorted([r1, r2, r3])


def test_joined_rooms_requires_token(api):
    api.get("/joined_rooms").expect(401, "M_MISSING_TOKEN")
