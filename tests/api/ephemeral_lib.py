"""Helpers for the typing, receipts, read markers, presence, tags and ignore tests."""

from harness import quote
from roomlib import create_room, join
from synclib import joined, sync_ok, sync_until


def ephemeral(body, room_id, event_type):
    """The room's ephemeral events of that type in a sync response."""
    room = joined(body, room_id) or {}
    return [e for e in (room.get("ephemeral") or {}).get("events", []) if e["type"] == event_type]


def typing_users(body, room_id):
    """user_ids of the room's m.typing event, or None when there is none."""
    evs = ephemeral(body, room_id, "m.typing")
    assert len(evs) <= 1, evs
    return sorted(evs[0]["content"]["user_ids"]) if evs else None


def receipts(body, room_id):
    """The room's m.receipt content, or None (one event per room)."""
    evs = ephemeral(body, room_id, "m.receipt")
    assert len(evs) <= 1, evs
    return evs[0]["content"] if evs else None


def presence_of(body, user_id):
    evs = [e for e in (body.get("presence") or {}).get("events", []) if e["sender"] == user_id]
    return evs[-1]["content"] if evs else None


def set_typing(api, room_id, user_id, typing=True, timeout=30000):
    body = {"typing": typing}
    if timeout is not None:
        body["timeout"] = timeout
    return api.put("/rooms/%s/typing/%s" % (quote(room_id), quote(user_id)), body)


def send_receipt(api, room_id, event_id, rtype="m.read", body=None):
    return api.post("/rooms/%s/receipt/%s/%s" % (quote(room_id), quote(rtype), quote(event_id)),
                    {} if body is None else body)


def shared_room(server, n=2, preset="public_chat"):
    """n fresh users, the first creating a room all have joined."""
    users = [server.api("r0").register() for _ in range(n)]
    room = create_room(users[0].api(), preset=preset)
    for u in users[1:]:
        join(u.api(), room).expect(200)
    return users, room


__all__ = ["ephemeral", "typing_users", "receipts", "presence_of", "set_typing", "send_receipt",
           "shared_room", "sync_ok", "sync_until"]
