"""Notification counts and GET /notifications (notifications.yaml, modules/push.rst "Receiving
notifications"): every event is evaluated against each joined member's push rules; the
notifying ones count in unread_notifications (highlight_count for highlights) of /sync, are
listed by /notifications, and are marked read by the user's m.read receipt or the user's own
next event. The count is in the very sync that delivers the event."""

from ephemeral_lib import send_receipt, shared_room
from harness import quote
from roomlib import create_room, invite, join, send
from synclib import joined, sync_ok

MSG = {"msgtype": "m.text", "body": "hello there"}


def counts(body, room_id):
    room = joined(body, room_id)
    assert room is not None, "room %s not in the sync: %r" % (room_id, body)
    u = room["unread_notifications"]
    return u["notification_count"], u["highlight_count"]


def counts_now(api, room_id):
    return counts(sync_ok(api, set_presence="offline"), room_id)


def group(server, n=3):
    """n users in a public room made by the first, which has power level 100."""
    return shared_room(server, n)


def test_plain_message_in_group_room(server, prefix):
    (a, b, c), r = group(server)
    since = sync_ok(a.api(prefix), set_presence="offline")["next_batch"]
    assert counts_now(a.api(prefix), r) == (0, 0)
    eid = send(b.api(), r, MSG)
    # The incremental sync that delivers the event already counts it.
    body = sync_ok(a.api(prefix), since=since, set_presence="offline")
    assert eid in [e["event_id"] for e in joined(body, r)["timeline"]["events"]]
    assert counts(body, r) == (1, 0)
    send(c.api(), r, MSG)
    assert counts_now(a.api(prefix), r) == (2, 0)
    # The sender is never notified of its own events.
    assert counts_now(b.api(prefix), r) == (1, 0)


def test_mentions_highlight(server, prefix):
    (a, b, c), r = group(server)
    a.api().put("/profile/%s/displayname" % quote(a.user_id), {"displayname": "Zed Example"}).expect(200)
    # By display name in the room, any case, between word boundaries.
    send(b.api(), r, {"msgtype": "m.text", "body": "ask zed example about it"})
    assert counts_now(a.api(prefix), r) == (1, 1)
    send(b.api(), r, {"msgtype": "m.text", "body": "Zed Examples are not names"})
    assert counts_now(a.api(prefix), r) == (2, 1)
    # By user name (the localpart).
    send(b.api(), r, {"msgtype": "m.text", "body": "%s: ping" % a.localpart})
    assert counts_now(a.api(prefix), r) == (3, 2)
    # The others are not mentioned.
    assert counts_now(c.api(prefix), r) == (3, 0)


def test_direct_message_notifies(server, prefix):
    a, b = server.api().register(), server.api().register()
    r = create_room(a.api(), preset="trusted_private_chat", invite=[b.user_id], is_direct=True)
    join(b.api(), r).expect(200)
    send(b.api(), r, MSG)
    assert counts_now(a.api(prefix), r) == (1, 0)
    # It is .m.rule.room_one_to_one: with a sound.
    note = a.api(prefix).get("/notifications").expect(200).body["notifications"][0]
    assert {"set_tweak": "sound", "value": "default"} in note["actions"]


def test_read_receipt_resets(server, prefix):
    (a, b, c), r = group(server)
    e1 = send(b.api(), r, MSG)
    e2 = send(b.api(), r, {"msgtype": "m.text", "body": "%s?" % a.localpart})
    e3 = send(c.api(), r, MSG)
    assert counts_now(a.api(prefix), r) == (3, 1)
    since = sync_ok(a.api(prefix), set_presence="offline")["next_batch"]
    # SPEC: "notifications prior to and including that event MUST be marked as read".
    send_receipt(a.api(prefix), r, e1).expect(200)
    body = sync_ok(a.api(prefix), since=since, set_presence="offline")
    # The receipt brings the room into the incremental sync with its new counts.
    assert counts(body, r) == (2, 1)
    send_receipt(a.api(prefix), r, e2).expect(200)
    assert counts_now(a.api(prefix), r) == (1, 0)
    send_receipt(a.api(prefix), r, e3).expect(200)
    body = sync_ok(a.api(prefix), since=body["next_batch"], set_presence="offline")
    assert counts(body, r) == (0, 0)
    # New events count again from there.
    send(b.api(), r, MSG)
    assert counts_now(a.api(prefix), r) == (1, 0)


def test_read_marker_resets(server):
    (a, b), r = group(server, 2)
    eid = send(b.api(), r, MSG)
    send(b.api(), r, {"msgtype": "m.text", "body": "later"})
    assert counts_now(a.api(), r) == (2, 0)
    a.api().post("/rooms/%s/read_markers" % quote(r), {"m.fully_read": eid, "m.read": eid}).expect(200)
    assert counts_now(a.api(), r) == (1, 0)


def test_own_event_marks_read(server):
    """SPEC: "When the user updates their read receipt (either by using the API or by sending an
    event)", what came before is read."""
    (a, b, c), r = group(server)
    send(b.api(), r, MSG)
    send(c.api(), r, MSG)
    assert counts_now(a.api(), r) == (2, 0)
    send(a.api(), r, MSG)
    assert counts_now(a.api(), r) == (0, 0)
    send(b.api(), r, MSG)
    assert counts_now(a.api(), r) == (1, 0)


def test_what_does_not_notify(server):
    (a, b, c), r = group(server)
    send(b.api(), r, {"msgtype": "m.notice", "body": "%s: bot says hi" % a.localpart})
    d = server.api().register()
    join(d.api(), r).expect(200)  # a member event: .m.rule.member_event, dont_notify
    send(b.api(), r, {"x": 1}, event_type="org.example.custom")
    assert counts_now(a.api(), r) == (0, 0)
    assert a.api().get("/notifications").expect(200).body["notifications"] == []


def test_room_notification_needs_power(server):
    (a, b, c), r = group(server)
    # b has power level 0, below notifications.room (50 by default): no highlight.
    send(b.api(), r, {"msgtype": "m.text", "body": "@room lunch"})
    assert counts_now(c.api(), r) == (1, 0)
    # The creator (100) may.
    send(a.api(), r, {"msgtype": "m.text", "body": "@room lunch!"})
    assert counts_now(c.api(), r) == (2, 1)


def test_tombstone_highlights(server):
    (a, b), r = group(server, 2)
    a.api().post("/rooms/%s/upgrade" % quote(r), {"new_version": "5"}).expect(200)
    n, h = counts_now(b.api(), r)
    assert (n, h) == (1, 1)
    note = b.api().get("/notifications").expect(200).body["notifications"][0]
    assert note["event"]["type"] == "m.room.tombstone"


def test_rules_change_counting(server):
    (a, b, c), r = group(server)
    aa = a.api()
    aa.put("/pushrules/global/underride/.m.rule.message/enabled", {"enabled": False}).expect(200)
    send(b.api(), r, MSG)
    assert counts_now(aa, r) == (0, 0)
    aa.put("/pushrules/global/underride/.m.rule.message/enabled", {"enabled": True}).expect(200)
    send(b.api(), r, MSG)
    assert counts_now(aa, r) == (1, 0)
    # A room rule silencing the room, then a sender rule highlighting c.
    aa.put("/pushrules/global/room/%s" % quote(r), {"actions": ["dont_notify"]}).expect(200)
    send(b.api(), r, MSG)
    assert counts_now(aa, r) == (1, 0)
    aa.delete("/pushrules/global/room/%s" % quote(r)).expect(200)
    aa.put("/pushrules/global/sender/%s" % quote(c.user_id),
           {"actions": ["notify", {"set_tweak": "highlight"}]}).expect(200)
    send(c.api(), r, MSG)
    assert counts_now(aa, r) == (2, 1)
    # The master rule silences everything.
    aa.put("/pushrules/global/override/.m.rule.master/enabled", {"enabled": True}).expect(200)
    send(c.api(), r, MSG)
    send(b.api(), r, {"msgtype": "m.text", "body": a.localpart})
    assert counts_now(aa, r) == (2, 1)


def test_ignored_sender_does_not_notify(server):
    (a, b, c), r = group(server)
    a.api().put("/user/%s/account_data/m.ignored_user_list" % quote(a.user_id),
                {"ignored_users": {b.user_id: {}}}).expect(200)
    send(b.api(), r, {"msgtype": "m.text", "body": a.localpart})
    send(c.api(), r, MSG)
    assert counts_now(a.api(), r) == (1, 0)


def note_ids(body):
    return [n["event"]["event_id"] for n in body["notifications"]]


def test_notifications_list(server, prefix):
    (a, b, c), r = group(server)
    e1 = send(b.api(), r, MSG)
    e2 = send(c.api(), r, {"msgtype": "m.text", "body": "hi %s" % a.localpart})
    body = a.api(prefix).get("/notifications").expect(200).body
    assert note_ids(body) == [e2, e1]  # newest first
    assert "next_token" not in body
    n2, n1 = body["notifications"]
    assert n1["room_id"] == r and n1["read"] is False
    assert n1["event"]["content"] == MSG and n1["event"]["sender"] == b.user_id
    assert n1["actions"] == ["notify", {"set_tweak": "highlight", "value": False}]
    assert n2["actions"] == ["notify", {"set_tweak": "sound", "value": "default"}, {"set_tweak": "highlight"}]
    assert isinstance(n1["ts"], int) and n1["ts"] <= n2["ts"]
    assert n1["ts"] == n1["event"]["origin_server_ts"]
    # only=highlight
    assert note_ids(a.api(prefix).get("/notifications", params={"only": "highlight"}).expect(200).body) == [e2]
    # A receipt marks them read.
    send_receipt(a.api(), r, e1).expect(200)
    body = a.api(prefix).get("/notifications").expect(200).body
    assert [n["read"] for n in body["notifications"]] == [False, True]
    send_receipt(a.api(), r, e2).expect(200)
    body = a.api(prefix).get("/notifications").expect(200).body
    assert [n["read"] for n in body["notifications"]] == [True, True]
    # Others have their own.
    assert note_ids(c.api(prefix).get("/notifications").expect(200).body) == [e1]


def test_notifications_paging(server, prefix):
    (a, b), r = group(server, 2)
    sent = [send(b.api(), r, {"msgtype": "m.text", "body": "m%d" % i}) for i in range(5)]
    seen, tok = [], None
    for _ in range(5):
        params = {"limit": "2"}
        if tok:
            params["from"] = tok
        body = a.api(prefix).get("/notifications", params=params).expect(200).body
        seen += note_ids(body)
        tok = body.get("next_token")
        if tok is None:
            break
        assert isinstance(tok, str)
    assert seen == list(reversed(sent))
    assert tok is None


def test_notifications_errors(server, prefix):
    (a, b), r = group(server, 2)
    api = a.api(prefix)
    api.get("/notifications", params={"limit": "x"}).expect(400, "M_INVALID_PARAM")
    api.get("/notifications", params={"limit": "-1"}).expect(400, "M_INVALID_PARAM")
    api.get("/notifications", params={"from": "abc"}).expect(400, "M_INVALID_PARAM")
    api.get("/notifications", params={"only": "loud"}).expect(400, "M_INVALID_PARAM")
    server.api(prefix).get("/notifications").expect(401, "M_MISSING_TOKEN")


def test_invite_notifies_the_invitee(server):
    a, b = server.api().register(), server.api().register()
    r = create_room(a.api(), preset="private_chat")
    invite(a.api(), r, b.user_id).expect(200)
    notes = b.api().get("/notifications").expect(200).body["notifications"]
    assert len(notes) == 1
    n = notes[0]
    assert n["event"]["type"] == "m.room.member" and n["event"]["state_key"] == b.user_id
    assert n["event"]["content"]["membership"] == "invite" and n["room_id"] == r
    assert n["actions"][0] == "notify"


def test_only_while_joined(server):
    (a, b), r = group(server, 2)
    c = server.api().register()
    before = send(b.api(), r, {"msgtype": "m.text", "body": "before c"})
    join(c.api(), r).expect(200)
    during = send(b.api(), r, {"msgtype": "m.text", "body": "while c is here"})
    c.api().post("/rooms/%s/leave" % quote(r), {}).expect(200)
    send(b.api(), r, {"msgtype": "m.text", "body": "after c left"})
    # c hears only of what was sent while c was in the room, also after leaving it.
    assert note_ids(c.api().get("/notifications").expect(200).body) == [during]
    # a has all three, b none of its own.
    assert len(note_ids(a.api().get("/notifications").expect(200).body)) == 3
    assert before in note_ids(a.api().get("/notifications").expect(200).body)
    assert note_ids(b.api().get("/notifications").expect(200).body) == []
    # Rejoining starts the counts afresh.
    join(c.api(), r).expect(200)
    assert counts_now(c.api(), r) == (0, 0)
    send(b.api(), r, MSG)
    assert counts_now(c.api(), r) == (1, 0)


def test_muted_member_is_an_exception(server):
    """Most members get the same actions; the one who muted the room and the one mentioned are
    counted apart, including when a receipt makes the server count again."""
    (a, b, c, d), r = group(server, 4)
    d.api().put("/pushrules/global/room/%s" % quote(r), {"actions": ["dont_notify"]}).expect(200)
    e1 = send(a.api(), r, MSG)
    send(a.api(), r, {"msgtype": "m.text", "body": "hey %s" % c.localpart})
    send(a.api(), r, MSG)
    assert counts_now(b.api(), r) == (3, 0)
    assert counts_now(c.api(), r) == (3, 1)
    assert counts_now(d.api(), r) == (0, 0)
    for u in (b, c, d):
        send_receipt(u.api(), r, e1).expect(200)
    assert counts_now(b.api(), r) == (2, 0)
    assert counts_now(c.api(), r) == (2, 1)
    assert counts_now(d.api(), r) == (0, 0)
    assert d.api().get("/notifications").expect(200).body["notifications"] == []
    hl = c.api().get("/notifications", params={"only": "highlight"}).expect(200).body
    assert [n["event"]["content"]["body"] for n in hl["notifications"]] == ["hey %s" % c.localpart]


# The server remembers a room's members between events (issue 3); what changes them must be
# seen by the next event all the same.
def test_display_name_change_between_messages(server):
    (a, b, c), r = group(server)
    send(b.api(), r, MSG)
    assert counts_now(a.api(), r) == (1, 0)
    # a's own member event (the new name) marks the room read for a.
    a.api().put("/profile/%s/displayname" % quote(a.user_id), {"displayname": "Quux Zed"}).expect(200)
    send(b.api(), r, {"msgtype": "m.text", "body": "ask quux zed"})
    assert counts_now(a.api(), r) == (1, 1)
    a.api().put("/profile/%s/displayname" % quote(a.user_id), {"displayname": "Other Name"}).expect(200)
    send(b.api(), r, {"msgtype": "m.text", "body": "ask quux zed"})
    assert counts_now(a.api(), r) == (1, 0)
    send(b.api(), r, {"msgtype": "m.text", "body": "ask other name"})
    assert counts_now(a.api(), r) == (2, 1)
    # Another member's new name is theirs only.
    c.api().put("/profile/%s/displayname" % quote(c.user_id), {"displayname": "Quux Zed"}).expect(200)
    send(b.api(), r, {"msgtype": "m.text", "body": "ask quux zed"})
    assert counts_now(a.api(), r) == (3, 1)
    assert counts_now(c.api(), r) == (1, 1)


def test_ignore_and_rules_between_messages(server):
    (a, b, c), r = group(server)
    send(b.api(), r, {"msgtype": "m.text", "body": a.localpart})
    assert counts_now(a.api(), r) == (1, 1)
    a.api().put("/user/%s/account_data/m.ignored_user_list" % quote(a.user_id),
                {"ignored_users": {b.user_id: {}}}).expect(200)
    send(b.api(), r, {"msgtype": "m.text", "body": a.localpart})
    assert counts_now(a.api(), r) == (1, 1)
    a.api().put("/user/%s/account_data/m.ignored_user_list" % quote(a.user_id),
                {"ignored_users": {}}).expect(200)
    c.api().put("/pushrules/global/override/.m.rule.master/enabled", {"enabled": True}).expect(200)
    send(b.api(), r, {"msgtype": "m.text", "body": a.localpart})
    assert counts_now(a.api(), r) == (2, 2)
    assert counts_now(c.api(), r) == (2, 0)  # not the third (c ignores nobody)


def test_invite_after_messages(server):
    (a, b), r = group(server, 2)
    d = server.api().register()
    send(b.api(), r, MSG)
    invite(a.api(), r, d.user_id).expect(200)
    notes = d.api().get("/notifications").expect(200).body["notifications"]
    assert [(n["event"]["type"], n["event"]["state_key"]) for n in notes] == \
        [("m.room.member", d.user_id)]
    send(b.api(), r, MSG)  # not joined yet: nothing
    assert len(d.api().get("/notifications").expect(200).body["notifications"]) == 1
    join(d.api(), r).expect(200)
    send(b.api(), r, MSG)
    assert counts_now(d.api(), r) == (1, 0)
