"""modules/ignore_users.rst: users listed in m.ignored_user_list lose their non-state room
events, invites and ephemeral events (and presence) to the ignorer, in /sync and /messages;
their state events still arrive. Un-ignoring resumes delivery of new events only."""

import secrets

from ephemeral_lib import presence_of, receipts, send_receipt, set_typing, shared_room, typing_users
from harness import quote
from roomlib import create_room, invite, messages, now_token, put_state, send
from synclib import invited, joined, sync_ok, tl_events


def ignore(api, user_id, ignored):
    api.put("/user/%s/account_data/m.ignored_user_list" % quote(user_id),
            {"ignored_users": {u: {} for u in ignored}}).expect(200)


def msg(body):
    return {"msgtype": "m.text", "body": body}


def bodies(room):
    return [e["content"].get("body") for e in tl_events(room) if e["type"] == "m.room.message"]


def test_ignored_messages_vanish_from_sync(server, prefix):
    (b, a), r = shared_room(server)  # b created the room: b may set its topic
    ignore(a.api(), a.user_id, [b.user_id])
    since = sync_ok(a.api(prefix), set_presence="offline")["next_batch"]
    send(b.api(), r, msg("from b"))
    topic = put_state(b.api(), r, "m.room.topic", {"topic": "b's topic"})
    send(a.api(), r, msg("from a"))
    room = joined(sync_ok(a.api(prefix), since=since, set_presence="offline"), r)
    assert bodies(room) == ["from a"]
    # State events of ignored users still arrive.
    assert topic in [e["event_id"] for e in tl_events(room)]
    assert "from b" not in bodies(joined(sync_ok(a.api(prefix)), r))


def test_ignored_messages_vanish_from_messages(server):
    (a, b), r = shared_room(server)
    send(b.api(), r, msg("from b"))
    send(a.api(), r, msg("from a"))
    ignore(a.api(), a.user_id, [b.user_id])
    chunk = messages(a.api(), r, now_token(a.api(), r), "b", limit=50).expect(200).body["chunk"]
    got = [e["content"].get("body") for e in chunk if e["type"] == "m.room.message"]
    assert got == ["from a"]


def test_ignored_invites_are_not_delivered(server):
    a, b = server.api("r0").register(), server.api("r0").register()
    ignore(a.api(), a.user_id, [b.user_id])
    r = create_room(b.api())
    invite(b.api(), r, a.user_id).expect(200)
    assert invited(sync_ok(a.api()), r) is None


def test_ignored_ephemeral_and_presence(server):
    (a, b, c), r = shared_room(server, 3)
    ignore(a.api(), a.user_id, [b.user_id])
    eid = send(c.api(), r, msg("x"))
    set_typing(b.api(), r, b.user_id).expect(200)
    set_typing(c.api(), r, c.user_id).expect(200)
    send_receipt(b.api(), r, eid).expect(200)
    send_receipt(c.api(), r, eid).expect(200)
    b.api().put("/presence/%s/status" % quote(b.user_id), {"presence": "online"}).expect(200)
    body = sync_ok(a.api())
    assert typing_users(body, r) == [c.user_id]
    assert set(receipts(body, r)[eid]["m.read"]) == {c.user_id}
    assert presence_of(body, b.user_id) is None


def test_unignoring_resumes_new_events(server):
    (a, b), r = shared_room(server)
    ignore(a.api(), a.user_id, [b.user_id])
    since = sync_ok(a.api(), set_presence="offline")["next_batch"]
    send(b.api(), r, msg("missed"))
    body = sync_ok(a.api(), since=since, set_presence="offline")
    ignore(a.api(), a.user_id, [])
    send(b.api(), r, msg("after"))
    room = joined(sync_ok(a.api(), since=body["next_batch"], set_presence="offline"), r)
    # SPEC: "it should not send events that were missed while the user was ignored".
    assert bodies(room) == ["after"]
    # A fresh sync has them all.
    assert bodies(joined(sync_ok(a.api()), r))[-2:] == ["missed", "after"]


def test_ignored_users_to_device_messages_are_not_delivered(server, prefix):
    """ignore_users (as the issue asks and Synapse does): an ignored user's to-device messages
    never reach the ignorer's devices; others' still do, and un-ignoring lets new ones through."""
    api = server.api()
    a, b, c = api.register(), api.register(), api.register()
    ignore(a.api(), a.user_id, [b.user_id])
    since = sync_ok(a.api(prefix), set_presence="offline")["next_batch"]

    def to_a(sender, text):
        sender.api().put("/sendToDevice/org.example.note/%s" % secrets.token_hex(6),
                         {"messages": {a.user_id: {a.device_id: {"text": text}}}}).expect(200)

    to_a(b, "from b")
    to_a(c, "from c")
    body = sync_ok(a.api(prefix), since=since, set_presence="offline")
    got = [(e["sender"], e["content"]["text"]) for e in body["to_device"]["events"]]
    assert got == [(c.user_id, "from c")]
    # Dropped, not held back: nothing of b's comes later either.
    ignore(a.api(), a.user_id, [])
    to_a(b, "b again")
    body = sync_ok(a.api(prefix), since=body["next_batch"], set_presence="offline")
    got = [(e["sender"], e["content"]["text"]) for e in body["to_device"]["events"]]
    assert got == [(b.user_id, "b again")]
