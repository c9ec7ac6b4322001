"""Pushers (pusher.yaml) and their delivery to push gateways (push_gateway.rst,
push_notifier.yaml). The gateways here are HTTP servers run by the tests on 127.0.0.1, each in
a thread: they record every POST and answer as told (200, 500, never, or rejecting the
pushkey)."""

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import quote
from roomlib import create_room, invite, join, put_state, send
from synclib import joined, sync_ok

NOTIFY = "/_matrix/push/v1/notify"


class Gateway:
    """A push gateway. `answers` is a list of (status, body) used in order for the next
    requests, then (200, {"rejected": []}); with hang set, requests are held until close()."""

    def __init__(self):
        self.requests = []  # (time, path, parsed body)
        self.answers = []
        self.hang = False
        self._release = threading.Event()
        self._cond = threading.Condition()
        gw = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                with gw._cond:
                    gw.requests.append((time.monotonic(), self.path, json.loads(raw),
                                        self.headers.get("Content-Type")))
                    gw._cond.notify_all()
                    answer = gw.answers.pop(0) if gw.answers else (200, {"rejected": []})
                    hang = gw.hang
                if hang:
                    gw._release.wait(120)
                    return
                out = json.dumps(answer[1]).encode()
                self.send_response(answer[0])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d%s" % (self.httpd.server_address[1], NOTIFY)
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, n, timeout=15.0):
        """The first n requests' bodies, waiting for them."""
        end = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n:
                left = end - time.monotonic()
                assert left > 0, "gateway got %d requests, expected %d: %r" % (
                    len(self.requests), n, self.requests)
                self._cond.wait(left)
            return [r[2] for r in self.requests[:n]]

    def count(self):
        with self._cond:
            return len(self.requests)

    def close(self):
        self._release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def gateway():
    gw = Gateway()
    yield gw
    gw.close()


def pusher_body(url, pushkey=None, app_id="org.example.app", kind="http", **extra):
    body = {"kind": kind, "app_id": app_id, "app_display_name": "Example App",
            "device_display_name": "Phone", "pushkey": pushkey or "pk-" + secrets.token_hex(8),
            "lang": "en-US", "data": {"url": url}}
    body.update(extra)
    return body


def set_pusher(api, body):
    api.post("/pushers/set", body).expect(200)
    return body


def pushers(api):
    return api.get("/pushers").expect(200).body["pushers"]


# ---- /pushers and /pushers/set ----

def test_set_and_list(api):
    u = api.register()
    a = u.api(api.prefix)
    assert pushers(a) == []
    body = pusher_body("https://push.example.org" + NOTIFY, profile_tag="xyz",
                       data={"url": "https://push.example.org" + NOTIFY, "format": "event_id_only"})
    set_pusher(a, body)
    got = pushers(a)
    assert got == [{"pushkey": body["pushkey"], "kind": "http", "app_id": "org.example.app",
                    "app_display_name": "Example App", "device_display_name": "Phone",
                    "profile_tag": "xyz", "lang": "en-US", "data": body["data"]}]
    # Same app_id and pushkey: an update, not a second pusher.
    body["app_display_name"] = "Renamed"
    body["data"] = {"url": "https://other.example.org" + NOTIFY}
    del body["profile_tag"]
    set_pusher(a, body)
    got = pushers(a)
    assert len(got) == 1 and got[0]["app_display_name"] == "Renamed"
    assert got[0]["data"] == {"url": "https://other.example.org" + NOTIFY}
    assert "profile_tag" not in got[0]
    # Another pushkey is another pusher.
    set_pusher(a, pusher_body("https://push.example.org" + NOTIFY))
    assert len(pushers(a)) == 2
    # Another user's list is their own.
    assert pushers(api.register().api(api.prefix)) == []


def test_kind_null_deletes(api):
    a = api.register().api(api.prefix)
    body = set_pusher(a, pusher_body("https://push.example.org" + NOTIFY))
    keep = set_pusher(a, pusher_body("https://push.example.org" + NOTIFY))
    a.post("/pushers/set", {"kind": None, "app_id": body["app_id"], "pushkey": body["pushkey"]}).expect(200)
    assert [p["pushkey"] for p in pushers(a)] == [keep["pushkey"]]
    # Deleting what is not there is fine.
    a.post("/pushers/set", {"kind": None, "app_id": "x", "pushkey": "y"}).expect(200)
    a.post("/pushers/set", {"kind": None, "app_id": "x"}).expect(400, "M_MISSING_PARAM")


def test_email_pusher_is_stored(api):
    """Email pushers are kept and listed; mail is sent once 3PID/mail support exists."""
    a = api.register().api(api.prefix)
    set_pusher(a, pusher_body(None, kind="email", app_id="m.email", pushkey="me@example.org",
                              data={"brand": "Hearth"}))
    got = pushers(a)
    assert got[0]["kind"] == "email" and got[0]["pushkey"] == "me@example.org"
    assert got[0]["data"] == {"brand": "Hearth"}


def test_set_errors(api):
    a = api.register().api(api.prefix)
    good = pusher_body("https://push.example.org" + NOTIFY)
    for key in ("kind", "app_id", "app_display_name", "device_display_name", "pushkey", "lang", "data"):
        body = dict(good)
        del body[key]
        r = a.post("/pushers/set", body).expect(400, "M_MISSING_PARAM")
        assert key in r.body["error"]
    for key in ("app_id", "app_display_name", "device_display_name", "pushkey", "lang"):
        a.post("/pushers/set", dict(good, **{key: 5})).expect(400, "M_INVALID_PARAM")
    for bad in ({"data": "x"}, {"kind": "carrier-pigeon"}, {"kind": 1}, {"append": "yes"},
                {"profile_tag": 1}, {"pushkey": "k" * 513}, {"app_id": "a" * 65}, {"pushkey": ""},
                # SPEC: data.url "with a path of /_matrix/push/v1/notify"
                {"data": {}},
                {"data": {"url": 5}},
                {"data": {"url": "https://push.example.org/_matrix/push/v1/notifications"}},
                {"data": {"url": "https://push.example.org/"}},
                {"data": {"url": "ftp://push.example.org" + NOTIFY}},
                {"data": {"url": "not a url"}},
                {"data": {"url": "https://push.example.org" + NOTIFY, "format": 1}}):
        a.post("/pushers/set", dict(good, **bad)).expect(400, "M_INVALID_PARAM")
    assert pushers(a) == []
    # The limits themselves are fine.
    set_pusher(a, dict(good, pushkey="k" * 512, app_id="a" * 64))
    api.post("/pushers/set", good).expect(401, "M_MISSING_TOKEN")
    api.get("/pushers").expect(401, "M_MISSING_TOKEN")


def test_append(api):
    u1, u2 = api.register(), api.register()
    body = pusher_body("https://push.example.org" + NOTIFY)
    set_pusher(u1.api(api.prefix), body)
    # SPEC: append true: "add another pusher with the given pushkey and App ID in addition to
    # any others with different user IDs".
    set_pusher(u2.api(api.prefix), dict(body, append=True))
    assert len(pushers(u1.api(api.prefix))) == 1 and len(pushers(u2.api(api.prefix))) == 1
    # Otherwise "the homeserver must remove any other pushers with the same App ID and pushkey
    # for different users".
    set_pusher(u2.api(api.prefix), dict(body, append=False))
    assert pushers(u1.api(api.prefix)) == []
    assert len(pushers(u2.api(api.prefix))) == 1


def test_pusher_goes_with_its_device(server, prefix):
    api = server.api(prefix)
    u = api.register()
    phone = api.login(u)
    laptop = api.login(u)
    p1 = set_pusher(phone.api(prefix), pusher_body("https://push.example.org" + NOTIFY))
    p2 = set_pusher(laptop.api(prefix), pusher_body("https://push.example.org" + NOTIFY))
    p3 = set_pusher(u.api(prefix), pusher_body("https://push.example.org" + NOTIFY))
    # As Synapse: logging out removes the pushers that device's token set.
    phone.api(prefix).post("/logout", {}).expect(200)
    assert {p["pushkey"] for p in pushers(u.api(prefix))} == {p2["pushkey"], p3["pushkey"]}
    # Deleting the device does too.
    u.api(prefix).uia("DELETE", "/devices/%s" % quote(laptop.device_id), {}, u).expect(200)
    assert [p["pushkey"] for p in pushers(u.api(prefix))] == [p3["pushkey"]]
    assert p1["pushkey"] not in {p["pushkey"] for p in pushers(u.api(prefix))}
    u.api(prefix).post("/logout/all", {}).expect(200)
    again = api.login(u)
    assert pushers(again.api(prefix)) == []


# ---- delivery ----

def room_with_name_and_alias(owner, others):
    r = create_room(owner.api(), preset="public_chat", name="Mission Control")
    alias = "#mc%s:%s" % (secrets.token_hex(4), owner.user_id.split(":", 1)[1])
    owner.api().put("/directory/room/%s" % quote(alias), {"room_id": r}).expect(200)
    put_state(owner.api(), r, "m.room.canonical_alias", {"alias": alias})
    for o in others:
        join(o.api(), r).expect(200)
    return r, alias


def test_delivery_body(server, gateway, prefix):
    a, b, c = (server.api().register() for _ in range(3))
    r, alias = room_with_name_and_alias(c, (a, b))
    b.api().put("/profile/%s/displayname" % quote(b.user_id), {"displayname": "Major Tom"}).expect(200)
    t0 = int(time.time())
    body = set_pusher(a.api(prefix), pusher_body(gateway.url, data={"url": gateway.url, "custom": {"x": 1}}))
    content = {"msgtype": "m.text", "body": "I'm floating in a most peculiar way."}
    eid = send(b.api(), r, content)
    (req,) = gateway.wait_for(1)
    assert gateway.requests[0][1] == NOTIFY and gateway.requests[0][3] == "application/json"
    n = req["notification"]
    assert n["event_id"] == eid
    assert n["room_id"] == r
    assert n["type"] == "m.room.message"
    assert n["sender"] == b.user_id
    assert n["sender_display_name"] == "Major Tom"
    assert n["room_name"] == "Mission Control"
    assert n["room_alias"] == alias
    assert n["content"] == content
    # A group room message: .m.rule.message, no sound, no highlight: low priority.
    assert n["prio"] == "low"
    assert n["counts"] == {"unread": 1}
    (dev,) = n["devices"]
    assert dev["app_id"] == "org.example.app"
    assert dev["pushkey"] == body["pushkey"]
    # SPEC: pushkey_ts "The unix timestamp (in seconds)"; data "minus the url key".
    assert isinstance(dev["pushkey_ts"], int) and t0 - 5 <= dev["pushkey_ts"] <= time.time() + 5
    assert dev["data"] == {"custom": {"x": 1}}
    assert dev["tweaks"] == {"highlight": False}
    assert set(n) == {"event_id", "room_id", "type", "sender", "sender_display_name", "room_name",
                      "room_alias", "content", "prio", "counts", "devices"}
    # A mention: highlight with a sound, high priority; the count goes up.
    eid2 = send(b.api(), r, {"msgtype": "m.text", "body": "%s, come in" % a.localpart})
    n = gateway.wait_for(2)[1]["notification"]
    assert n["event_id"] == eid2 and n["prio"] == "high"
    assert n["devices"][0]["tweaks"] == {"sound": "default", "highlight": True}
    assert n["counts"] == {"unread": 2}


def test_event_id_only(server, gateway):
    (a, b) = (server.api().register() for _ in range(2))
    r = create_room(b.api(), preset="public_chat", name="Secret")
    join(a.api(), r).expect(200)
    set_pusher(a.api(), pusher_body(gateway.url, data={"url": gateway.url, "format": "event_id_only"}))
    eid = send(b.api(), r, {"msgtype": "m.text", "body": "private words"})
    n = gateway.wait_for(1)[0]["notification"]
    # SPEC: only event_id, room_id, counts and devices are required; nothing of the content.
    assert n["event_id"] == eid and n["room_id"] == r and n["counts"] == {"unread": 1}
    assert n["devices"][0]["data"] == {"format": "event_id_only"}
    for leak in ("content", "sender", "sender_display_name", "room_name", "type"):
        assert leak not in n


def test_no_push_for_own_or_silent_events(server, gateway):
    (a, b) = (server.api().register() for _ in range(2))
    r = create_room(b.api(), preset="public_chat")
    join(a.api(), r).expect(200)
    set_pusher(a.api(), pusher_body(gateway.url))
    send(a.api(), r, {"msgtype": "m.text", "body": "my own"})
    send(b.api(), r, {"msgtype": "m.notice", "body": "a notice"})
    eid = send(b.api(), r, {"msgtype": "m.text", "body": "the one"})
    reqs = gateway.wait_for(1)
    time.sleep(0.5)
    assert gateway.count() == 1 and reqs[0]["notification"]["event_id"] == eid


def test_invite_is_pushed(server, gateway):
    (a, b) = (server.api().register() for _ in range(2))
    r = create_room(b.api(), preset="private_chat")
    set_pusher(a.api(), pusher_body(gateway.url))
    invite(b.api(), r, a.user_id).expect(200)
    n = gateway.wait_for(1)[0]["notification"]
    assert n["type"] == "m.room.member" and n["membership"] == "invite" and n["user_is_target"] is True
    assert n["devices"][0]["tweaks"] == {"sound": "default", "highlight": False}
    assert n["prio"] == "high"


def test_retry_after_500(server, gateway):
    (a, b) = (server.api().register() for _ in range(2))
    r = create_room(b.api(), preset="public_chat")
    join(a.api(), r).expect(200)
    set_pusher(a.api(), pusher_body(gateway.url))
    gateway.answers = [(500, {"errcode": "M_UNKNOWN", "error": "down"})]
    eid = send(b.api(), r, {"msgtype": "m.text", "body": "again"})
    first, second = gateway.wait_for(2)
    assert first["notification"]["event_id"] == eid == second["notification"]["event_id"]
    # Backed off before the retry (1 s first).
    assert gateway.requests[1][0] - gateway.requests[0][0] >= 0.5
    # Later events follow once the gateway works.
    eid2 = send(b.api(), r, {"msgtype": "m.text", "body": "next"})
    assert gateway.wait_for(3)[2]["notification"]["event_id"] == eid2


def test_hanging_gateway_does_not_slow_sends(server_factory, gateway):
    srv = server_factory()
    (a, b) = (srv.api().register() for _ in range(2))
    r = create_room(b.api(), preset="public_chat")
    join(a.api(), r).expect(200)
    gateway.hang = True
    set_pusher(a.api(), pusher_body(gateway.url))
    since = sync_ok(a.api(), set_presence="offline")["next_batch"]
    t0 = time.monotonic()
    for i in range(5):
        send(b.api(), r, {"msgtype": "m.text", "body": "msg %d" % i})
    # Delivery waits on the gateway (10 s timeout); sends do not.
    assert time.monotonic() - t0 < 3.0
    gateway.wait_for(1)
    body = sync_ok(a.api(), since=since, set_presence="offline")
    assert joined(body, r)["unread_notifications"]["notification_count"] == 5
    # Stopping the server with the request still hanging is quick and clean (the fixture's
    # stop checks both).
    srv.stop()


def test_rejected_pushkey_is_removed(server, gateway):
    (a, b) = (server.api().register() for _ in range(2))
    r = create_room(b.api(), preset="public_chat")
    join(a.api(), r).expect(200)
    body = set_pusher(a.api(), pusher_body(gateway.url))
    other = set_pusher(a.api(), pusher_body("https://unreachable.invalid" + NOTIFY, kind="email",
                                            app_id="m.email", pushkey="a@example.org"))
    gateway.answers = [(200, {"rejected": [body["pushkey"]]})]
    send(b.api(), r, {"msgtype": "m.text", "body": "one"})
    gateway.wait_for(1)
    end = time.monotonic() + 10
    while time.monotonic() < end and len(pushers(a.api())) != 1:
        time.sleep(0.1)
    # SPEC: "Homeservers must cease sending notification requests for these pushkeys and remove
    # the associated pushers."
    assert [p["pushkey"] for p in pushers(a.api())] == [other["pushkey"]]
    send(b.api(), r, {"msgtype": "m.text", "body": "two"})
    time.sleep(1.0)
    assert gateway.count() == 1
