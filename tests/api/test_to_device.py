"""to_device.yaml and modules/send_to_device.rst: PUT /sendToDevice/{eventType}/{txnId} and
the to_device section of /sync.

A message goes to the named devices (or every device for `*`), is listed by the device's /sync
in order of arrival, at most 100 per answer, and is deleted only once a later sync presents the
next_batch of the answer that carried it: a client whose answer was lost asks again with its
old token and gets the messages again. A transaction ID is idempotent per access token."""

import secrets

import pytest

from e2e_lib import send_to_device, to_device_events
from harness import quote
from synclib import Background, own_session, sync, sync_ok

OFF = "offline"


def first_sync(user, prefix="r0"):
    return sync_ok(user.api(prefix), set_presence=OFF)


def next_sync(user, since, prefix="r0", **kw):
    return sync_ok(user.api(prefix), since=since, set_presence=OFF, **kw)


def drain(user, since):
    """Syncs from `since` until an answer has no to-device messages; returns every message in
    order and the last next_batch."""
    got = []
    tok = since
    for _ in range(50):
        body = next_sync(user, tok)
        evs = to_device_events(body)
        tok = body["next_batch"]
        if not evs:
            return got, tok
        got.extend(evs)
    raise AssertionError("to-device queue did not drain")


def test_message_reaches_the_named_device_only(server, api):
    a = api.register()
    b = api.register()
    b2 = api.login(b)
    s1 = first_sync(b, api.prefix)["next_batch"]
    s2 = first_sync(b2, api.prefix)["next_batch"]
    content = {"algorithm": "m.olm.v1.curve25519-aes-sha2", "body": secrets.token_hex(4)}
    send_to_device(a.api(api.prefix), "m.room.encrypted", {b.user_id: {b.device_id: content}}).expect(200)
    evs = to_device_events(next_sync(b, s1, api.prefix))
    # SPEC: send_to_device.rst Event: content, sender, type.
    assert evs == [{"sender": a.user_id, "type": "m.room.encrypted", "content": content}]
    assert to_device_events(next_sync(b2, s2, api.prefix)) == []


def test_initial_sync_has_pending_messages(server):
    a = server.api("r0").register()
    b = server.api("r0").register()
    send_to_device(a.api(), "m.test", {b.user_id: {b.device_id: {"n": 1}}}).expect(200)
    body = first_sync(b)
    assert [e["content"] for e in to_device_events(body)] == [{"n": 1}]
    assert to_device_events(next_sync(b, body["next_batch"])) == []


def test_star_means_every_device(server, api):
    a = api.register()
    b = api.register()
    b2 = api.login(b)
    toks = [first_sync(u)["next_batch"] for u in (b, b2)]
    send_to_device(a.api(api.prefix), "m.test", {b.user_id: {"*": {"all": True}}}).expect(200)
    for u, t in zip((b, b2), toks):
        assert [e["content"] for e in to_device_events(next_sync(u, t))] == [{"all": True}]


def test_named_device_beats_star_in_one_transaction(server):
    a = server.api("r0").register()
    b = server.api("r0").register()
    b2 = server.api("r0").login(b)
    toks = [first_sync(u)["next_batch"] for u in (b, b2)]
    send_to_device(a.api(), "m.test", {b.user_id: {"*": {"v": "star"}, b2.device_id: {"v": "named"}}}).expect(200)
    # SPEC: "Only one message can be sent to each device per transaction".
    assert [e["content"] for e in to_device_events(next_sync(b, toks[0]))] == [{"v": "star"}]
    assert [e["content"] for e in to_device_events(next_sync(b2, toks[1]))] == [{"v": "named"}]


def test_order_of_arrival(server, api):
    a = api.register()
    c = api.register()
    b = api.register()
    since = first_sync(b)["next_batch"]
    for i in range(10):
        sender = a if i % 2 == 0 else c
        send_to_device(sender.api(api.prefix), "m.seq", {b.user_id: {b.device_id: {"i": i}}}).expect(200)
    got, _ = drain(b, since)
    assert [e["content"]["i"] for e in got] == list(range(10))
    assert [e["sender"] for e in got] == [a.user_id if i % 2 == 0 else c.user_id for i in range(10)]


def test_txn_id_is_idempotent_per_token(server, api):
    a = api.register()
    b = api.register()
    since = first_sync(b)["next_batch"]
    msg = {b.user_id: {b.device_id: {"once": 1}}}
    send_to_device(a.api(api.prefix), "m.test", msg, txn_id="t1").expect(200)
    send_to_device(a.api(api.prefix), "m.test", msg, txn_id="t1").expect(200)
    got, since = drain(b, since)
    assert len(got) == 1
    # Another token (device) of the same user, or another event type, is another transaction.
    a2 = api.login(a)
    send_to_device(a2.api(api.prefix), "m.test", msg, txn_id="t1").expect(200)
    send_to_device(a.api(api.prefix), "m.other", msg, txn_id="t1").expect(200)
    got, _ = drain(b, since)
    assert sorted(e["type"] for e in got) == ["m.other", "m.test"]


def test_at_most_100_per_answer(server):
    a = server.api("r0").register()
    b = server.api("r0").register()
    since = first_sync(b)["next_batch"]
    for i in range(150):
        send_to_device(a.api(), "m.seq", {b.user_id: {b.device_id: {"i": i}}}).expect(200)
    body = next_sync(b, since)
    first = [e["content"]["i"] for e in to_device_events(body)]
    # SPEC: "100 messages is recommended as a reasonable limit."
    assert first == list(range(100))
    body2 = next_sync(b, body["next_batch"], timeout=10000)
    assert [e["content"]["i"] for e in to_device_events(body2)] == list(range(100, 150))
    assert to_device_events(next_sync(b, body2["next_batch"])) == []


def test_lost_answer_is_delivered_again(server, api):
    a = api.register()
    b = api.register()
    t0 = first_sync(b, api.prefix)["next_batch"]
    send_to_device(a.api(api.prefix), "m.test", {b.user_id: {b.device_id: {"k": 1}}}).expect(200)
    first = next_sync(b, t0, api.prefix)
    assert [e["content"] for e in to_device_events(first)] == [{"k": 1}]
    # The answer never reached the client: it asks again with its old token and must get the
    # message again, however many times.
    for _ in range(2):
        again = next_sync(b, t0, api.prefix)
        assert [e["content"] for e in to_device_events(again)] == [{"k": 1}]
    # Presenting the next_batch acknowledges it: it is gone, even for the old token now.
    assert to_device_events(next_sync(b, again["next_batch"], api.prefix)) == []
    assert to_device_events(next_sync(b, t0, api.prefix)) == []


def test_lost_answer_of_a_limited_batch(server):
    a = server.api("r0").register()
    b = server.api("r0").register()
    t0 = first_sync(b)["next_batch"]
    for i in range(120):
        send_to_device(a.api(), "m.seq", {b.user_id: {b.device_id: {"i": i}}}).expect(200)
    first = next_sync(b, t0)
    assert len(to_device_events(first)) == 100
    # Lost: the same 100 come again; then the rest once the first batch is acknowledged.
    assert to_device_events(next_sync(b, t0)) == to_device_events(first)
    rest = next_sync(b, first["next_batch"])
    assert [e["content"]["i"] for e in to_device_events(rest)] == list(range(100, 120))


def test_message_wakes_a_long_poll(server, api):
    a = api.register()
    b = api.register()
    since = first_sync(b, api.prefix)["next_batch"]
    bg = Background(lambda: sync(own_session(b.api(api.prefix)), since=since, timeout=20000,
                                 set_presence=OFF).expect(200).body)
    send_to_device(a.api(api.prefix), "m.test", {b.user_id: {b.device_id: {"wake": 1}}}).expect(200)
    body, elapsed = bg.result(60)
    assert [e["content"] for e in to_device_events(body)] == [{"wake": 1}]
    assert elapsed < 15, "the long-poll was not woken by the to-device message"


def test_pending_message_answers_a_long_poll_at_once(server):
    a = server.api("r0").register()
    b = server.api("r0").register()
    since = first_sync(b)["next_batch"]
    send_to_device(a.api(), "m.test", {b.user_id: {b.device_id: {"x": 1}}}).expect(200)
    # A sync with nothing but a to-device message is not an empty one.
    bg = Background(lambda: sync(own_session(b.api()), since=since, timeout=20000,
                                 set_presence=OFF).expect(200).body)
    body, elapsed = bg.result(60)
    assert to_device_events(body) and elapsed < 15


def test_message_to_self_and_sender_field(server):
    a = server.api("r0").register()
    a2 = server.api("r0").login(a)
    since = first_sync(a2)["next_batch"]
    send_to_device(a.api(), "m.key.verification.request", {a.user_id: {a2.device_id: {"from_device": a.device_id}}}).expect(200)
    evs = to_device_events(next_sync(a2, since))
    assert evs == [{"sender": a.user_id, "type": "m.key.verification.request",
                    "content": {"from_device": a.device_id}}]


def test_unknown_and_remote_recipients_are_accepted(server):
    a = server.api("r0").register()
    b = server.api("r0").register()
    since = first_sync(b)["next_batch"]
    r = send_to_device(a.api(), "m.test", {
        "@nobody-here:" + server.server_name: {"X": {"a": 1}},
        "@someone:remote.example": {"*": {"a": 1}},
        b.user_id: {"NOSUCHDEVICE": {"a": 1}, b.device_id: {"a": 2}},
    })
    r.expect(200)
    assert [e["content"] for e in to_device_events(next_sync(b, since))] == [{"a": 2}]


@pytest.mark.parametrize("body,errcode", [
    ({}, "M_MISSING_PARAM"),
    ({"messages": []}, "M_BAD_JSON"),
    ({"messages": {"@a:hearth.test": []}}, "M_BAD_JSON"),
    ({"messages": {"@a:hearth.test": {"D": "text"}}}, "M_BAD_JSON"),
    ({"messages": {"not-a-user": {"D": {}}}}, "M_INVALID_PARAM"),
])
def test_errors(server, api, body, errcode):
    u = api.register()
    u.api(api.prefix).put("/sendToDevice/m.test/%s" % secrets.token_hex(4), body).expect(400, errcode)


def test_needs_auth(server, api):
    api.put("/sendToDevice/m.test/t1", {"messages": {}}).expect(401, "M_MISSING_TOKEN")


def test_guest_may_send(server):
    r = server.api("r0").post("/register", {}, params={"kind": "guest"}).expect(200)
    g = server.api("r0").with_token(r.body["access_token"])
    b = server.api("r0").register()
    since = first_sync(b)["next_batch"]
    # SPEC: guest_access.rst lists PUT /sendToDevice among the guest endpoints.
    send_to_device(g, "m.test", {b.user_id: {b.device_id: {"g": 1}}}).expect(200)
    assert to_device_events(next_sync(b, since))[0]["sender"] == r.body["user_id"]


def test_deleted_device_inbox_is_gone(server):
    a = server.api("r0").register()
    b = server.api("r0").register()
    send_to_device(a.api(), "m.test", {b.user_id: {b.device_id: {"old": 1}}}).expect(200)
    b.api().post("/logout", {}).expect(200)
    again = server.api("r0").login(b, device_id=b.device_id)
    assert to_device_events(first_sync(again)) == []
    # A message to a device that no longer exists is dropped, not kept for a future device.
    b3 = server.api("r0").login(b)
    server.api("r0").as_user(again).uia("DELETE", "/devices/%s" % quote(b3.device_id), {}, b).expect(200)
    send_to_device(a.api(), "m.test", {b.user_id: {b3.device_id: {"late": 1}}}).expect(200)
    b4 = server.api("r0").login(b, device_id=b3.device_id)
    assert to_device_events(first_sync(b4)) == []


def test_messages_survive_a_restart(server_factory):
    srv = server_factory()
    a = srv.api("r0").register()
    b = srv.api("r0").register()
    since = first_sync(b)["next_batch"]
    send_to_device(a.api(), "m.test", {b.user_id: {b.device_id: {"durable": 1}}}).expect(200)
    srv.stop()
    srv.start()
    body = next_sync(b, since)
    assert [e["content"] for e in to_device_events(body)] == [{"durable": 1}]
    # The transaction ID is remembered across the restart too.
    send_to_device(a.api(), "m.test", {b.user_id: {b.device_id: {"durable": 2}}}, txn_id="r1").expect(200)
    srv.stop()
    srv.start()
    send_to_device(a.api(), "m.test", {b.user_id: {b.device_id: {"durable": 2}}}, txn_id="r1").expect(200)
    got, _ = drain(b, body["next_batch"])
    assert [e["content"] for e in got] == [{"durable": 2}]
