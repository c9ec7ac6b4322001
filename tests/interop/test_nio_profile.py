"""matrix-nio (python3-matrix-nio) and profiles: bob sets a display name and an avatar with nio;
alice, running her own nio sync loop, sees them in the room's member list (from the
m.room.member events the change produces), in /joined_members and in bob's profile."""

import asyncio

import nio

from niolib import Watcher, _ok


async def _profile(server):
    api = server.api("r0")
    alice_u, bob_u = api.register(), api.register()
    alice, bob = Watcher(server, alice_u), Watcher(server, bob_u)
    try:
        await alice.start()
        await bob.start()
        A, B = alice.client, bob.client
        room_id = _ok(await A.room_create(name="nio profile room"), nio.RoomCreateResponse).room_id
        # Alice names herself too: createRoom's own join does not carry the creator's profile
        # yet, and nio's joined_members insists on a display_name for every member.
        _ok(await A.set_displayname("Alice from nio"), nio.ProfileSetDisplayNameResponse)
        await alice.wait(lambda: A.rooms[room_id].users[alice_u.user_id].display_name == "Alice from nio",
                         "her own new name")
        _ok(await A.room_invite(room_id, bob_u.user_id), nio.RoomInviteResponse)
        await bob.wait(lambda: room_id in B.invited_rooms, "the invite")
        _ok(await B.join(room_id), nio.JoinResponse)
        await alice.wait(lambda: bob_u.user_id in A.rooms[room_id].users, "bob's join")
        # The join carried his default display name (the localpart).
        assert A.rooms[room_id].users[bob_u.user_id].display_name == bob_u.localpart

        _ok(await B.set_displayname("Bob from nio"), nio.ProfileSetDisplayNameResponse)
        _ok(await B.set_avatar("mxc://example.org/bobavatar"), nio.ProfileSetAvatarResponse)
        await alice.wait(lambda: A.rooms[room_id].users[bob_u.user_id].display_name == "Bob from nio"
                         and A.rooms[room_id].users[bob_u.user_id].avatar_url == "mxc://example.org/bobavatar",
                         "bob's new name and avatar")
        assert A.rooms[room_id].user_name(bob_u.user_id) == "Bob from nio"

        jm = _ok(await A.joined_members(room_id), nio.JoinedMembersResponse)
        by_id = {m.user_id: m for m in jm.members}
        assert by_id[bob_u.user_id].display_name == "Bob from nio"
        assert by_id[bob_u.user_id].avatar_url == "mxc://example.org/bobavatar"
        assert by_id[alice_u.user_id].display_name == "Alice from nio"

        prof = _ok(await A.get_profile(bob_u.user_id), nio.ProfileGetResponse)
        assert prof.displayname == "Bob from nio" and prof.avatar_url == "mxc://example.org/bobavatar"
        dn = _ok(await A.get_displayname(bob_u.user_id), nio.ProfileGetDisplayNameResponse)
        assert dn.displayname == "Bob from nio"
        # Bob's own loop sees his change too.
        await bob.wait(lambda: B.rooms[room_id].users[bob_u.user_id].display_name == "Bob from nio",
                       "his own new name")
    finally:
        await alice.stop()
        await bob.stop()


def test_nio_profile(server):
    asyncio.run(_profile(server))
