"""matrix-nio (python3-matrix-nio) holding a conversation on Hearth: alice creates a room and
invites bob, bob joins, both exchange messages and page back through the history -- in a room
of each version 1-6 and on both client API prefixes. nio parses every response with its own
schemas, so a malformed answer shows up as an *Error response here.

Without /sync (not part of the rooms issue) the clients get their pagination token from
/context of the last message they know (nio's room_context), and page back from its `start`."""

import asyncio

import nio
import pytest

import harness


@pytest.fixture(params=["r0", "v3"])
def nio_prefix(request, monkeypatch):
    """nio hard-codes /_matrix/client/r0; for v3, rewrite the paths it builds."""
    if request.param == "v3":
        original = nio.Api._build_path

        def build_path(path, query_parameters=None, base_path=nio.api.MATRIX_API_PATH):
            if base_path == "/_matrix/client/r0":
                base_path = "/_matrix/client/v3"
            return original(path, query_parameters, base_path)

        monkeypatch.setattr(nio.Api, "_build_path", staticmethod(build_path))
    return request.param


def _ok(resp, cls):
    assert isinstance(resp, cls), "expected %s, got %r" % (cls.__name__, resp)
    return resp


def _client(server, user_id):
    return nio.AsyncClient(server.base_url, user_id,
                           config=nio.AsyncClientConfig(encryption_enabled=False))


async def _history(client, room_id, last_event_id, page=4):
    """Every m.room.message body up to and including last_event_id, oldest first, paging back
    with /messages from the context's start token until the start of the room."""
    # (nio drops limit=0 from the query, so take whatever events_before the default gives.)
    ctx = _ok(await client.room_context(room_id, last_event_id, limit=2), nio.RoomContextResponse)
    assert ctx.event.event_id == last_event_id
    events = [ctx.event] + list(ctx.events_before)
    token = ctx.start
    seen_create = False
    for _ in range(200):
        r = _ok(await client.room_messages(room_id, token, limit=page), nio.RoomMessagesResponse)
        if not r.chunk:
            break
        assert len(r.chunk) <= page
        events.extend(r.chunk)
        seen_create = seen_create or any(isinstance(e, nio.RoomCreateEvent) for e in r.chunk)
        token = r.end
    else:
        raise AssertionError("pagination did not end")
    assert seen_create, "paging back did not reach the room's m.room.create"
    ids = [e.event_id for e in events]
    assert len(ids) == len(set(ids)), "duplicate events while paging"
    events.reverse()
    return [(e.sender, e.body) for e in events if isinstance(e, nio.RoomMessageText)]


async def _conversation(server, version, n=9):
    api = server.api("r0")
    alice_u, bob_u = api.register(), api.register()
    alice, bob = _client(server, alice_u.user_id), _client(server, bob_u.user_id)
    try:
        _ok(await alice.login(alice_u.password, device_name="nio alice"), nio.LoginResponse)
        _ok(await bob.login(bob_u.password, device_name="nio bob"), nio.LoginResponse)

        kw = {"name": "nio room v%s" % version, "topic": "interop"}
        if version is not None:
            kw["room_version"] = version
        created = _ok(await alice.room_create(**kw), nio.RoomCreateResponse)
        room_id = created.room_id
        assert room_id.startswith("!")

        # private_chat by default: bob cannot join before the invite.
        r = await bob.join(room_id)
        assert isinstance(r, nio.JoinError) and r.status_code == "M_FORBIDDEN", r
        _ok(await alice.room_invite(room_id, bob_u.user_id), nio.RoomInviteResponse)
        j = _ok(await bob.join(room_id), nio.JoinResponse)
        assert j.room_id == room_id

        # (nio's joined_members() is not used: its schema requires a display_name for every
        # member, which only exists once users have profiles -- Synapse gives every new account
        # its localpart as display name.)
        jr = _ok(await bob.joined_rooms(), nio.JoinedRoomsResponse)
        assert room_id in jr.rooms

        expected = []
        last = None
        for i in range(n):
            sender, client = (alice_u, alice) if i % 2 == 0 else (bob_u, bob)
            body = "v%s message %d from %s" % (version, i, sender.localpart)
            s = _ok(await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body}),
                    nio.RoomSendResponse)
            assert s.event_id.startswith("$")
            expected.append((sender.user_id, body))
            last = s.event_id

        # Both read the whole conversation back, in order.
        for client in (alice, bob):
            assert await _history(client, room_id, last) == expected

        # Retransmitting with the same transaction ID does not duplicate the message.
        t = "nio-txn-" + harness.unique_localpart("")
        a = _ok(await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "once"}, tx_id=t),
                nio.RoomSendResponse)
        b = _ok(await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "once"}, tx_id=t),
                nio.RoomSendResponse)
        assert a.event_id == b.event_id
        hist = await _history(bob, room_id, a.event_id)
        assert hist == expected + [(alice_u.user_id, "once")]

        # Bob leaves; alice stays and can still page the history.
        _ok(await bob.room_leave(room_id), nio.RoomLeaveResponse)
        jr = _ok(await bob.joined_rooms(), nio.JoinedRoomsResponse)
        assert room_id not in jr.rooms
        assert (await _history(alice, room_id, a.event_id))[-1] == (alice_u.user_id, "once")
        r = await bob.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "gone"})
        assert isinstance(r, nio.RoomSendError) and r.status_code == "M_FORBIDDEN", r
    finally:
        await alice.close()
        await bob.close()


def test_nio_conversation(server, nio_prefix):
    asyncio.run(_conversation(server, None))


@pytest.mark.parametrize("version", ["1", "2", "3", "4", "5", "6"])
def test_nio_conversation_each_room_version(server, version):
    asyncio.run(_conversation(server, version, n=5))
