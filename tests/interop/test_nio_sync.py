"""matrix-nio (python3-matrix-nio) clients running their normal sync loop (sync_forever with a
long-poll timeout) against Hearth while two users hold a conversation: room creation, invite
(seen through invite_state), join, messages both ways, a topic change, a redaction, a leave.
Everything each client learns about the other comes from /sync. nio parses every sync response
with its own schemas; a sync error fails the test."""

import asyncio
import time

import nio
import pytest

import harness
from niolib import Watcher, _ok


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


LAZY = {"room": {"state": {"lazy_load_members": True}, "timeline": {"limit": 10}}}


async def _conversation(server, n_messages, bob_filter=None):
    api = server.api("r0")
    alice_u, bob_u = api.register(), api.register()
    alice, bob = Watcher(server, alice_u), Watcher(server, bob_u, bob_filter)
    try:
        await alice.start()
        await bob.start()
        A, B = alice.client, bob.client

        room_id = _ok(await A.room_create(name="nio sync room", topic="first topic"),
                      nio.RoomCreateResponse).room_id
        # Alice's own loop shows her the new room.
        await alice.wait(lambda: room_id in A.rooms and A.rooms[room_id].name == "nio sync room",
                         "her new room")

        # The invite reaches bob through invite_state (stripped state: the name and the inviter).
        _ok(await A.room_invite(room_id, bob_u.user_id), nio.RoomInviteResponse)
        await bob.wait(lambda: room_id in B.invited_rooms, "the invite")
        inv = B.invited_rooms[room_id]
        await bob.wait(lambda: inv.name == "nio sync room", "the room name in invite_state")
        assert inv.inviter == alice_u.user_id

        _ok(await B.join(room_id), nio.JoinResponse)
        await bob.wait(lambda: room_id in B.rooms, "the joined room")
        assert room_id not in B.invited_rooms
        await bob.wait(lambda: B.rooms[room_id].topic == "first topic", "the room's topic")
        await alice.wait(lambda: bob_u.user_id in A.rooms[room_id].users
                         and bob_u.user_id not in A.rooms[room_id].invited_users, "bob's join")

        # Messages both ways; each side sees the other's, in order.
        expected = []
        for i in range(n_messages):
            sender_u, sender = (alice_u, A) if i % 2 == 0 else (bob_u, B)
            body = "message %d from %s" % (i, sender_u.localpart)
            _ok(await sender.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body}),
                nio.RoomSendResponse)
            expected.append((sender_u.user_id, body))
            if i % 3 == 2:
                # Let the loops catch up every few messages (a conversation, not a burst).
                await alice.wait(lambda: alice.texts(room_id) == expected, "messages up to %d" % i)
                await bob.wait(lambda: bob.texts(room_id) == expected, "messages up to %d" % i)
        await alice.wait(lambda: alice.texts(room_id) == expected, "the whole conversation")
        await bob.wait(lambda: bob.texts(room_id) == expected, "the whole conversation")

        # A topic change by alice.
        _ok(await A.room_put_state(room_id, "m.room.topic", {"topic": "second topic"}),
            nio.RoomPutStateResponse)
        await bob.wait(lambda: B.rooms[room_id].topic == "second topic", "the new topic")
        topic_events = bob.find(room_id, nio.RoomTopicEvent, lambda e: e.topic == "second topic")
        assert len(topic_events) == 1 and topic_events[0].sender == alice_u.user_id

        # Bob redacts one of his messages; alice's loop delivers the redaction.
        bobs = bob.find(room_id, nio.RoomMessageText, lambda e: e.sender == bob_u.user_id)
        victim = bobs[0].event_id
        red = _ok(await B.room_redact(room_id, victim, reason="typo"), nio.RoomRedactResponse)
        await alice.wait(lambda: alice.find(room_id, nio.RedactionEvent, lambda e: e.redacts == victim),
                         "the redaction")
        r_ev = alice.find(room_id, nio.RedactionEvent, lambda e: e.redacts == victim)[0]
        assert r_ev.event_id == red.event_id and r_ev.sender == bob_u.user_id and r_ev.reason == "typo"

        # More chat after the redaction still flows.
        _ok(await B.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "still here"}),
            nio.RoomSendResponse)
        await alice.wait(lambda: (bob_u.user_id, "still here") in alice.texts(room_id), "a later message")

        # Bob leaves: alice sees the membership change; bob's loop gets the room under leave.
        _ok(await B.room_leave(room_id), nio.RoomLeaveResponse)
        await alice.wait(lambda: bob_u.user_id not in A.rooms[room_id].users, "bob's leave")
        leaves = alice.find(room_id, nio.RoomMemberEvent,
                            lambda e: e.state_key == bob_u.user_id and e.membership == "leave")
        assert len(leaves) == 1
        await bob.wait(lambda: any(isinstance(e, nio.RoomMemberEvent) and e.state_key == bob_u.user_id
                                   and e.membership == "leave" for e in bob.left_room_events(room_id)),
                       "his own leave under rooms.leave")

        # After the leave, bob's loop hears nothing more from the room.
        n_before = len(bob.texts(room_id))
        _ok(await A.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "bob is gone"}),
            nio.RoomSendResponse)
        await alice.wait(lambda: (alice_u.user_id, "bob is gone") in alice.texts(room_id), "her own message")
        await asyncio.sleep(0.5)
        assert len(bob.texts(room_id)) == n_before
        assert all("bob is gone" not in repr(s.rooms.join.get(room_id)) for s in bob.syncs)

        # No event was delivered twice to either client.
        for w in (alice, bob):
            ids = [e.event_id for r, e in w.events if r == room_id and getattr(e, "event_id", None)]
            assert len(ids) == len(set(ids)), "%s got duplicate events" % w.user.user_id
    finally:
        await alice.stop()
        await bob.stop()


def test_nio_sync_conversation(server, nio_prefix):
    asyncio.run(_conversation(server, 12))


def test_nio_sync_long_conversation(server):
    # Bob's loop lazy-loads members and uses a small timeline limit.
    asyncio.run(_conversation(server, 60, bob_filter=LAZY))


def test_nio_sync_wakes_quickly(server):
    """The loop is long-polling (timeout 3000 ms): a message reaches the other client in well
    under the poll timeout."""

    async def run():
        api = server.api("r0")
        a_u, b_u = api.register(), api.register()
        a, b = Watcher(server, a_u), Watcher(server, b_u)
        try:
            await a.start()
            await b.start()
            rid = _ok(await a.client.room_create(invite=[b_u.user_id]), nio.RoomCreateResponse).room_id
            await b.wait(lambda: rid in b.client.invited_rooms, "the invite")
            _ok(await b.client.join(rid), nio.JoinResponse)
            await a.wait(lambda: rid in a.client.rooms and b_u.user_id in a.client.rooms[rid].users
                         and b_u.user_id not in a.client.rooms[rid].invited_users, "the join")
            await asyncio.sleep(0.5)  # both loops are now parked in a long-poll
            worst = 0.0
            for i in range(5):
                t0 = time.monotonic()
                _ok(await a.client.room_send(rid, "m.room.message", {"msgtype": "m.text", "body": "ping %d" % i}),
                    nio.RoomSendResponse)
                await b.wait(lambda: (a_u.user_id, "ping %d" % i) in b.texts(rid), "ping %d" % i, timeout=10)
                worst = max(worst, time.monotonic() - t0)
                await asyncio.sleep(0.2)
            assert worst < 2.0, "a message took %.2fs to reach the other client's sync loop" % worst
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(run())


assert harness  # the interop conftest puts tests/api on sys.path
