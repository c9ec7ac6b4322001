"""matrix-nio clients with their sync loops running: alice types, sets her presence and sends
a read receipt (through read_markers and the receipt endpoint); bob's client learns each from
its own /sync (m.typing, m.receipt, m.presence), as parsed by nio."""

import asyncio

import nio

from niolib import Watcher, _ok


async def _scenario(server):
    api = server.api("r0")
    alice_u, bob_u = api.register(), api.register()
    alice, bob = Watcher(server, alice_u), Watcher(server, bob_u)
    ephemeral = []
    presence = []

    async def on_ephemeral(room, event):
        ephemeral.append((room.room_id, event))

    async def on_presence(event):
        presence.append(event)

    bob.client.add_ephemeral_callback(on_ephemeral, (nio.TypingNoticeEvent, nio.ReceiptEvent))
    bob.client.add_presence_callback(on_presence, nio.PresenceEvent)
    try:
        await alice.start()
        await bob.start()
        A, B = alice.client, bob.client
        room_id = _ok(await A.room_create(name="ephemeral", invite=[bob_u.user_id]),
                      nio.RoomCreateResponse).room_id
        await bob.wait(lambda: room_id in B.invited_rooms, "the invite")
        _ok(await B.join(room_id), nio.JoinResponse)
        await bob.wait(lambda: room_id in B.rooms and alice_u.user_id in B.rooms[room_id].users,
                       "the joined room")

        _ok(await A.room_typing(room_id, True, 20000), nio.RoomTypingResponse)
        await bob.wait(lambda: alice_u.user_id in B.rooms[room_id].typing_users, "alice typing")
        _ok(await A.room_typing(room_id, False), nio.RoomTypingResponse)
        await bob.wait(lambda: alice_u.user_id not in B.rooms[room_id].typing_users,
                       "alice stopping")

        sent = _ok(await B.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hi"}),
                   nio.RoomSendResponse)
        await alice.wait(lambda: alice.texts(room_id), "bob's message")
        _ok(await A.room_read_markers(room_id, sent.event_id, sent.event_id),
            nio.RoomReadMarkersResponse)

        def alice_read():
            for rid, ev in ephemeral:
                if rid == room_id and isinstance(ev, nio.ReceiptEvent):
                    for rc in ev.receipts:
                        if rc.user_id == alice_u.user_id and rc.event_id == sent.event_id:
                            return rc
            return None

        rc = await bob.wait(alice_read, "alice's read receipt")
        assert rc.receipt_type == "m.read"

        _ok(await A.set_presence("online", "around"), nio.PresenceSetResponse)
        await bob.wait(lambda: any(p.user_id == alice_u.user_id and p.status_msg == "around"
                                   for p in presence), "alice's presence")
        got = _ok(await B.get_presence(alice_u.user_id), nio.PresenceGetResponse)
        assert got.presence == "online" and got.status_msg == "around"
    finally:
        await alice.stop()
        await bob.stop()


def test_nio_typing_receipts_presence(server):
    asyncio.run(_scenario(server))
