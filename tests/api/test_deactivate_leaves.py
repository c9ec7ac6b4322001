"""A deactivated account leaves all its rooms (rooms issue; registration.yaml
/account/deactivate: "deactivate the user's account, removing all ability for the user to
login again"; Synapse additionally parts the user from every room, rejecting invites too)."""

from harness import quote
from roomlib import create_room, join, joined_members, send, state_content


def deactivate(api, user):
    a = api.as_user(user)
    r = a.post("/account/deactivate", {}).expect(401)
    a.post("/account/deactivate", {"auth": api.password_auth(user, r.body["session"])}).expect(200)


def test_deactivated_user_leaves_rooms(server, prefix):
    api = server.api(prefix)
    owner, victim = api.register(), api.register()
    public = create_room(owner.api(), preset="public_chat")
    private = create_room(owner.api(), preset="private_chat", invite=[victim.user_id])
    invited_only = create_room(owner.api(), preset="private_chat", invite=[victim.user_id])
    own = create_room(victim.api(prefix), preset="public_chat", invite=[owner.user_id])
    join(victim.api(), public).expect(200)
    join(victim.api(), private).expect(200)
    join(owner.api(), own).expect(200)
    send(victim.api(), public)
    deactivate(api, victim)
    for r in (public, private, own):
        assert state_content(owner.api(), r, "m.room.member", victim.user_id)["membership"] == "leave", r
        assert victim.user_id not in joined_members(owner.api(), r).expect(200).body["joined"]
    # The pending invite is rejected as well.
    assert state_content(owner.api(), invited_only, "m.room.member", victim.user_id)["membership"] == "leave"
    # The rooms go on without them.
    send(owner.api(), public)
    send(owner.api(), own)


def test_deactivated_user_token_dead_and_membership_stays_leave(server):
    api = server.api("r0")
    owner, victim = api.register(), api.register()
    r = create_room(owner.api(), preset="public_chat")
    join(victim.api(), r).expect(200)
    deactivate(api, victim)
    # The token is gone: nothing can be done as that user.
    victim.api().post("/rooms/%s/join" % quote(r), {}).expect(401, "M_UNKNOWN_TOKEN")
    assert state_content(owner.api(), r, "m.room.member", victim.user_id)["membership"] == "leave"
