"""Hostile input (issue 12): every endpoint of the route table (src/api/routes.c, read by
routelib.py so new routes are covered automatically) gets malformed JSON, wrong types, huge
strings, deep nesting, invalid UTF-8 and NUL bytes, out-of-range integers, path traversal and
over-long IDs; events get floats where canonical JSON forbids them; the transport gets large
headers, slow clients and clients that vanish mid-request and mid-long-poll. Each answers the
right Matrix error (or the connection is closed, for transport abuse), and after each group
the server is up and consistent: a health request, and the probe room's state and timeline
are unchanged where no request could legitimately have changed them.

Requests go through http.client, not requests: urllib3 would remove the dot segments the
path traversal tests need, and the bodies here are deliberately not JSON."""

import http.client
import json
import secrets
import socket
import struct
import threading
import time

import pytest

import harness
import routelib
from roomlib import create_room, send

ROUTES = routelib.ROUTES
JSON_ROUTES = [r for r in ROUTES if r.json]
PARAM_ROUTES = [r for r in ROUTES if r.params]
PREFIXES = harness.PREFIXES


# --- plumbing ---------------------------------------------------------------------------------


class Raw:
    """One response from http.client: status, parsed body (None if not JSON)."""

    def __init__(self, status, data):
        self.status = status
        self.data = data
        try:
            self.body = json.loads(data)
        except ValueError:
            self.body = None

    @property
    def errcode(self):
        return self.body.get("errcode") if isinstance(self.body, dict) else None

    def __repr__(self):
        return "<%s %r>" % (self.status, self.data[:300])


def raw(server, method, path, body=None, token=None, headers=None, timeout=30):
    hdrs = {"Content-Type": "application/json"}
    if token:
        hdrs["Authorization"] = "Bearer " + token
    hdrs.update(headers or {})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return Raw(resp.status, resp.read())
    finally:
        conn.close()


def well_formed(r, route=None):
    """Never a 5xx; an error is a standard Matrix error object. Returns a problem or None."""
    if r.status in (502, 504) and isinstance(r.body, dict) and isinstance(r.errcode, str):
        return None  # an identity server named in the body could not be reached: its fault
    if r.status >= 500:
        return "%s: %r" % (route, r)
    if r.status == 401 and isinstance(r.body, dict) and isinstance(r.body.get("flows"), list):
        return None  # a user-interactive auth challenge (client_server_api.rst "User-Interactive")
    if r.status >= 400 and (not isinstance(r.body, dict) or not isinstance(r.errcode, str)
                            or not isinstance(r.body.get("error"), str)):
        return "%s: not a Matrix error: %r" % (route, r)
    if r.status < 300 and route is not None and r.data and r.body is None and "download" not in route \
            and "thumbnail" not in route:
        return "%s: a 2xx that is not JSON: %r" % (route, r)
    return None


def rst_close(sock):
    """Closes with a TCP reset: the client vanishes without a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# --- the probe world --------------------------------------------------------------------------


class World:
    def __init__(self, server):
        self.server = server
        api = server.api("r0")
        self.alice = api.register()
        a = self.alice.api()
        self.alias_local = "hostile" + secrets.token_hex(4)
        self.room = create_room(a, name="hostile probe", room_alias_name=self.alias_local)
        self.event = send(a, self.room)
        self.filter_id = a.post("/user/%s/filter" % harness.quote(self.alice.user_id),
                                {"room": {"timeline": {"limit": 5}}}).expect(200).body["filter_id"]
        self.snapshot = self.room_snapshot()

    def values(self):
        """A valid value for every path parameter of the route table. A new parameter name
        fails the tests until it is added here."""
        return {
            "roomId": self.room,
            "roomIdOrAlias": self.room,
            "roomAlias": "#%s:%s" % (self.alias_local, self.server.server_name),
            "eventId": self.event,
            "userId": self.alice.user_id,
            "deviceId": self.alice.device_id,
            "eventType": "m.room.message",
            "stateKey": "",
            "type": "m.hearth.hostile",
            "txnId": "t" + secrets.token_hex(6),
            "filterId": self.filter_id,
            "tag": "u.hostile",
            "receiptType": "m.read",
            "serverName": self.server.server_name,
            "mediaId": "nosuchmedia",
            "fileName": "f.txt",
            "protocol": "irc",
            # (issues 8, 13, 15: push rules, appservice networks, key backup)
            "scope": "global",
            "kind": "content",
            "ruleId": "hostile.rule",
            "networkId": "net",
            "version": "1",
            "sessionId": "session",
            "idpId": "oidc",  # (issue 10: SSO, UIA fallback)
            "authType": "m.login.password",
        }

    def room_snapshot(self):
        a = self.alice.api()
        state = a.get("/rooms/%s/state" % harness.quote(self.room)).expect(200).body
        init = a.get("/rooms/%s/initialSync" % harness.quote(self.room)).expect(200).body
        return (sorted(e["event_id"] for e in state),
                [e["event_id"] for e in init["messages"]["chunk"]])

    def health(self, unchanged=True):
        """The server is up and answers; with `unchanged`, the probe room is as it was."""
        self.server.assert_alive()
        self.server.api().get("/_matrix/client/versions").expect(200)
        self.alice.api().get("/account/whoami").expect(200)
        if unchanged:
            assert self.room_snapshot() == self.snapshot, "the probe room changed"


@pytest.fixture(scope="module")
def world(server):
    return World(server)


def test_route_table_is_read():
    # routelib must see the whole table, JSON routes and parameters included.
    assert len(ROUTES) >= 100
    assert any(r.pattern == "/rooms/{roomId}/send/{eventType}/{txnId}" and r.json for r in ROUTES)
    assert len(JSON_ROUTES) >= 40


def test_every_parameter_has_a_value(world):
    names = {p for r in ROUTES for p in r.params}
    missing = names - set(world.values())
    assert not missing, "add values for new path parameters to World.values: %s" % missing


# --- bodies that never reach a handler --------------------------------------------------------

DEEP = 100000
GARBAGE = {
    # name: (body bytes, errcode). SPEC: client_server_api.rst "M_NOT_JSON: Request did not
    # contain valid JSON", "M_BAD_JSON: Request contained valid JSON, but it was malformed in
    # some way"; limits from the issue: integers in canonical JSON's range, bounded depth.
    "truncated": (b'{"a":', "M_NOT_JSON"),
    "not-json": (b"hello", "M_NOT_JSON"),
    "trailing-garbage": (b'{"a":1} x', "M_NOT_JSON"),
    "empty": (b"", "M_NOT_JSON"),
    "array": (b"[1,2]", "M_BAD_JSON"),
    "string": (b'"x"', "M_BAD_JSON"),
    "null": (b"null", "M_BAD_JSON"),
    "invalid-utf8": (b'{"a":"\xff\xfe"}', "M_NOT_JSON"),
    "overlong-utf8": (b'{"a":"\xc0\xaf"}', "M_NOT_JSON"),
    "utf8-surrogate": (b'{"a":"\xed\xa0\x80"}', "M_NOT_JSON"),
    "raw-nul": (b'{"a":"x\x00y"}', "M_NOT_JSON"),
    "escaped-nul": (b'{"a":"x\\u0000y"}', "M_BAD_JSON"),
    "escaped-nul-key": (b'{"\\u0000":1}', "M_BAD_JSON"),
    "duplicate-keys": (b'{"a":1,"a":2}', "M_NOT_JSON"),
    "int-too-big": (b'{"a":9007199254740992}', "M_BAD_JSON"),
    "int-too-small": (b'{"a":-9007199254740992}', "M_BAD_JSON"),
    "int-overflow": (b'{"a":123456789012345678901234567890}', "M_BAD_JSON"),
    "nested-int-too-big": (b'{"a":{"b":[1,{"c":9007199254740992}]}}', "M_BAD_JSON"),
    "deep-arrays": (b'{"a":' + b"[" * DEEP + b"]" * DEEP + b"}", "M_BAD_JSON"),
    "deep-objects": (b'{"a":' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}", "M_BAD_JSON"),
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_bodies_on_every_json_route(world, kind):
    data, errcode = GARBAGE[kind]
    problems = []
    for i, route in enumerate(JSON_ROUTES):
        if kind == "empty" and route.json_optional:
            continue  # an empty body means {} there
        prefix = PREFIXES[i % 2]
        r = raw(world.server, route.method, route.path(prefix, **world.values()), data,
                token=world.alice.access_token)
        if r.status != 400 or r.errcode != errcode:
            problems.append("%s: expected 400 %s, got %r" % (route.id, errcode, r))
    assert not problems, "\n".join(problems)
    world.health()


def test_body_too_large_on_every_json_route(world):
    # The default max_request_size is 1 MiB (test_http_conventions checks the limit itself).
    data = b'{"a":"' + b"x" * (1024 * 1024 + 16) + b'"}'
    problems = []
    for i, route in enumerate(JSON_ROUTES):
        try:
            r = raw(world.server, route.method, route.path(PREFIXES[i % 2], **world.values()), data,
                    token=world.alice.access_token)
        except (ConnectionError, http.client.HTTPException):
            continue  # closing the connection on a body this size is allowed
        if r.status != 413 or r.errcode != "M_TOO_LARGE":
            problems.append("%s: %r" % (route.id, r))
    assert not problems, "\n".join(problems)
    world.health()


def test_garbage_without_token_is_still_an_error(world):
    # Without a token the answer is about the token (401) or the body (400), never a crash.
    for route in JSON_ROUTES:
        r = raw(world.server, route.method, route.path("v3", **world.values()), b'{"a":')
        if route.auth == "REQUIRED":
            assert r.status == 401 and r.errcode == "M_MISSING_TOKEN", (route, r)
        else:
            assert r.status in (400, 401, 403) and r.errcode is not None, (route, r)
    world.health()


# --- bodies that do reach the handlers --------------------------------------------------------

# Every top-level key some endpoint reads (r0.6.1 request schemas); wrong values for them.
KEYS = [
    "type", "user_id", "reason", "membership", "room_id", "body", "msgtype", "displayname",
    "avatar_url", "presence", "status_msg", "timeout", "typing", "order", "device_keys",
    "one_time_keys", "messages", "visibility", "preset", "name", "topic", "invite", "invite_3pid",
    "initial_state", "creation_content", "room_version", "new_version", "score", "password",
    "new_password", "auth", "identifier", "username", "device_id", "initial_device_display_name",
    "m.fully_read", "m.read", "filter", "search_term", "limit", "since", "server",
    "third_party_instance_id", "include_all_networks", "id_server", "id_access_token", "sid",
    "client_secret", "email", "send_attempt", "country", "phone_number", "address", "medium",
    "threepid", "threepid_creds", "bind", "devices", "token", "room_alias_name", "is_direct",
    "power_level_content_override", "guest_can_join", "logout_devices", "erase", "content",
    "event_fields", "room", "presence", "account_data", "mac", "nonce", "admin", "state_key",
    "third_party_signed", "one_time_key_counts", "changes", "from", "to", "tags", "users",
    "access_token", "refresh_token", "inhibit_login", "x_show_msisdn",
]
WRONG_VALUES = {
    "int": 12345,
    "list": [1, "two", None],
    "object": {"nested": {"deeper": [True]}},
    "bool": True,
    "null": None,
    "negative": -1,
    "string": "not-what-you-want",
    "huge-string": "\u00e9" * 60000,  # 120 KB alone (under the body limit, over an event's)
}


@pytest.fixture(scope="module")
def victims(server):
    """Each handler that gets wrong types may succeed at something (log out, leave, delete):
    one user and room per route, so the probe world is untouched."""
    def make():
        u = server.api("r0").register()
        a = u.api()
        room = create_room(a, preset="public_chat")
        ev = send(a, room)
        return u, room, ev
    return make


@pytest.mark.parametrize("route", JSON_ROUTES, ids=[r.id for r in JSON_ROUTES])
def test_wrong_types_and_huge_strings(world, victims, route):
    user, room, ev = victims()
    values = dict(world.values(), roomId=room, roomIdOrAlias=room, eventId=ev, userId=user.user_id,
                  deviceId=user.device_id)
    problems = []
    for n, (name, wrong) in enumerate(sorted(WRONG_VALUES.items())):
        prefix = PREFIXES[n % 2]
        values["txnId"] = "t" + secrets.token_hex(6)
        # All keys at once; a huge string is cut so that ~90 of them stay under 1 MiB.
        each = wrong[:4000] if name == "huge-string" else wrong
        body = json.dumps({k: each for k in KEYS}, ensure_ascii=False).encode()
        r = raw(world.server, route.method, route.path(prefix, **values), body, token=user.access_token)
        p = well_formed(r, route.id)
        if p:
            problems.append("%s: %s" % (name, p))
        # A single key of the wrong type, the rest absent.
        for key in ("type", "user_id", "content", "auth", "room_id", "timeout"):
            r = raw(world.server, route.method, route.path(prefix, **values),
                    json.dumps({key: wrong}, ensure_ascii=False).encode(), token=user.access_token)
            p = well_formed(r, route.id)
            if p:
                problems.append("%s %s: %s" % (key, name, p))
    assert not problems, "\n".join(problems)
    world.health()


def test_send_and_state_over_the_event_size_limit(world):
    # SPEC: r0.6.1 events are limited to 65 KB ("The complete event MUST NOT be larger than
    # 65536 bytes"); the room send endpoints answer 413 M_TOO_LARGE (Synapse: 413 too).
    a = world.server.api("r0").register()
    room = create_room(a.api())
    big = {"msgtype": "m.text", "body": "x" * 70000}
    for prefix in PREFIXES:
        r = raw(world.server, "PUT", "/_matrix/client/%s/rooms/%s/send/m.room.message/%s"
                % (prefix, harness.quote(room), secrets.token_hex(4)), json.dumps(big).encode(),
                token=a.access_token)
        assert r.status == 413 and r.errcode == "M_TOO_LARGE", r
        r = raw(world.server, "PUT", "/_matrix/client/%s/rooms/%s/state/m.hostile/k"
                % (prefix, harness.quote(room)), json.dumps(big).encode(), token=a.access_token)
        assert r.status == 413 and r.errcode == "M_TOO_LARGE", r
    world.health()


# --- floats where canonical JSON forbids them -------------------------------------------------

FLOAT_CONTENTS = [
    {"msgtype": "m.text", "body": "x", "f": 1.5},
    {"msgtype": "m.text", "body": "x", "nested": {"list": [1, 2.25]}},
    {"msgtype": "m.text", "body": "x", "exp": 1e10},
    {"msgtype": "m.text", "body": "x", "neg": -0.5},
]


@pytest.mark.parametrize("content", FLOAT_CONTENTS, ids=range(len(FLOAT_CONTENTS)))
def test_floats_refused_in_v6_events(world, content, prefix):
    # SPEC: rooms/v6.rst: "the event format [...] enforces canonical JSON: [...] floats are
    # not allowed"; the client sees 400 M_BAD_JSON (Synapse: M_BAD_JSON too).
    u = world.server.api(prefix).register()
    a = u.api(prefix)
    room = create_room(a, room_version="6")
    def state_ids():
        return sorted(e["event_id"] for e in a.get("/rooms/%s/state" % harness.quote(room)).expect(200).body)

    before = state_ids()
    r = a.put("/rooms/%s/send/m.room.message/%s" % (harness.quote(room), secrets.token_hex(4)), content)
    r.expect(400, "M_BAD_JSON")
    r = a.put("/rooms/%s/state/m.hostile.float/k" % harness.quote(room), content)
    r.expect(400, "M_BAD_JSON")
    assert state_ids() == before
    world.health()


def test_floats_refused_in_v6_create_room(world, prefix):
    a = world.server.api(prefix).register().api(prefix)
    r = a.post("/createRoom", {"room_version": "6",
                               "initial_state": [{"type": "m.hostile", "state_key": "",
                                                  "content": {"f": 0.5}}]})
    r.expect(400, "M_BAD_JSON")
    r = a.post("/createRoom", {"room_version": "6", "creation_content": {"f": 0.5}})
    r.expect(400, "M_BAD_JSON")
    r = a.post("/createRoom", {"room_version": "6", "power_level_content_override": {"ban": 50.5}})
    r.expect(400, "M_BAD_JSON")
    world.health()


def test_floats_allowed_before_v6(world):
    # Room versions 1-5 allow floats in events (canonical JSON for them writes the shortest
    # round-trip form, as Synapse does); the event comes back with the same value.
    a = world.server.api("r0").register().api()
    room = create_room(a, room_version="5")
    ev = send(a, room, {"msgtype": "m.text", "body": "x", "f": 1.5})
    got = a.get("/rooms/%s/event/%s" % (harness.quote(room), harness.quote(ev))).expect(200).body
    assert got["content"]["f"] == 1.5
    world.health()


# --- path traversal and over-long IDs ---------------------------------------------------------

TRAVERSAL = ["..", ".", "../../../../../../etc/passwd", "..%2f..%2fetc%2fpasswd",
             "/etc/passwd", "a/../../b", "%2e%2e", "\\..\\..\\windows", "x\u0000y", "~root"]
# IDs that must name something that exists; a refusal is the only right answer.
EXISTING = {"roomId", "roomIdOrAlias", "eventId", "deviceId", "filterId", "roomAlias",
            "serverName", "mediaId"}


def _cases(route):
    for p in route.params:
        for n, t in enumerate(TRAVERSAL):
            yield p, "trav%d" % n, t
        yield p, "long", "x" * 4000
        yield p, "long-sigil", {"roomId": "!", "roomIdOrAlias": "!", "eventId": "$", "userId": "@",
                                "roomAlias": "#"}.get(p, "") + "y" * 4000 + ":" + world_name()


def world_name():
    return harness.SERVER_NAME


@pytest.mark.parametrize("route", PARAM_ROUTES, ids=[r.id for r in PARAM_ROUTES])
def test_path_traversal_and_long_ids(world, victims, route):
    user, room, ev = victims()
    problems = []
    for n, (param, name, value) in enumerate(_cases(route)):
        values = dict(world.values(), roomId=room, roomIdOrAlias=room, eventId=ev,
                      userId=user.user_id, deviceId=user.device_id)
        values["txnId"] = "t" + secrets.token_hex(6)
        values[param] = value
        body = b"{}" if route.json else None
        r = raw(world.server, route.method, route.path(PREFIXES[n % 2], **values), body,
                token=user.access_token)
        p = well_formed(r, "%s %s=%s" % (route.id, param, name))
        if p:
            problems.append(p)
        elif param in EXISTING and r.status < 400 and route.method != "DELETE":
            problems.append("%s %s=%s: accepted: %r" % (route.id, param, name, r))
        if b"root:" in r.data:
            problems.append("%s %s=%s: leaked a file: %r" % (route.id, param, name, r))
    assert not problems, "\n".join(problems)
    world.health(unchanged=False)


@pytest.mark.parametrize("path", [
    "/_matrix/media/r0/download/%s/../../../../../../etc/passwd",
    "/_matrix/media/v3/download/%s/..%%2F..%%2F..%%2F..%%2Fetc%%2Fpasswd",
    "/_matrix/media/r0/download/..%%2F..%%2F..%%2Fetc/passwd?x=%s",
    "/_matrix/media/r0/thumbnail/%s/..%%2F..%%2Fhomeserver.yaml?width=32&height=32",
    "/_matrix/media/r0/download/%s/..%%2Fhomeserver.db",
    "/_matrix/media/r0/download/%s/%%2E%%2E%%2Fhomeserver.yaml",
])
def test_media_path_traversal_leaks_nothing(world, path):
    # Literal dot segments reach the server unnormalised (http.client); the media store must
    # not serve anything outside itself: 404 M_NOT_FOUND (or 400 for an ID it cannot parse).
    r = raw(world.server, "GET", path % world.server.server_name)
    assert r.status in (400, 404), r
    assert r.errcode in ("M_NOT_FOUND", "M_INVALID_PARAM", "M_UNRECOGNIZED"), r
    assert b"root:" not in r.data and b"server_name" not in r.data and b"SQLite" not in r.data
    world.health()


# --- transport abuse --------------------------------------------------------------------------


def test_huge_headers_on_json_routes(world):
    # A header block beyond the connection's memory is refused (413/431) or the connection
    # closed; the server carries on.
    for route in JSON_ROUTES[:: max(1, len(JSON_ROUTES) // 8)]:
        for size in (16 * 1024, 256 * 1024):
            try:
                r = raw(world.server, route.method, route.path("r0", **world.values()), b"{}",
                        token=world.alice.access_token, headers={"X-Big": "b" * size}, timeout=10)
            except (ConnectionError, http.client.HTTPException, socket.timeout):
                continue
            assert r.status in (400, 413, 414, 431), (route, r)
    world.health()


def _slow_sockets(server, n, first=b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n"):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        s.sendall(first)
        socks.append(s)
    return socks


def test_slowloris_does_not_starve_others(world):
    # 150 clients trickle their headers one byte at a time; everyone else is still served.
    socks = _slow_sockets(world.server, 150)
    stop = threading.Event()

    def trickle():
        i = 0
        while not stop.is_set():
            for s in socks:
                try:
                    s.sendall(b"X-Slow-%d: y\r\n" % i)
                except OSError:
                    pass
            i += 1
            stop.wait(0.2)

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        for _ in range(20):
            world.server.api().get("/_matrix/client/versions", timeout=5).expect(200)
            world.alice.api().get("/account/whoami", timeout=5).expect(200)
    finally:
        stop.set()
        t.join()
        for s in socks:
            rst_close(s)
    world.health()


def test_slow_body_does_not_starve_others(world):
    # Bodies announced and sent a few bytes at a time hold no lock others need.
    socks = _slow_sockets(world.server, 50, b"PUT /_matrix/client/r0/rooms/%s/send/m.room.message/"
                          b"slow%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                          b"Content-Length: 100000\r\n\r\n{\"body\":\""
                          % (harness.quote(world.room).encode(), secrets.token_hex(4).encode(),
                             world.alice.access_token.encode()))
    try:
        for _ in range(10):
            for s in socks:
                s.sendall(b"zz")
            world.alice.api().get("/account/whoami", timeout=5).expect(200)
            world.alice.api().post("/user/%s/filter" % harness.quote(world.alice.user_id), {},
                                   timeout=5).expect(200)
    finally:
        for s in socks:
            rst_close(s)
    time.sleep(0.2)
    world.health()  # none of the half-sent events was stored


def test_slow_but_valid_client_is_answered(world):
    # A client sending a whole request a byte at a time is slow, not hostile.
    req = (b"GET /_matrix/client/r0/account/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           b"Connection: close\r\n\r\n" % world.alice.access_token.encode())
    with socket.create_connection(("127.0.0.1", world.server.port), timeout=10) as s:
        for i in range(len(req)):
            s.sendall(req[i:i + 1])
            time.sleep(0.002)
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert world.alice.user_id.encode() in data
    world.health()


def test_slowloris_does_not_delay_shutdown(server_factory):
    # Half-sent requests are not requests in flight: SIGTERM still exits at once (the
    # harness fails a stop slower than HEARTH_SLOW_STOP).
    srv = server_factory()
    socks = _slow_sockets(srv, 40)
    socks += _slow_sockets(srv, 10, b"POST /_matrix/client/r0/login HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Length: 1000\r\n\r\n{\"type\":")
    try:
        time.sleep(0.2)
        t0 = time.monotonic()
        srv.stop()
        assert time.monotonic() - t0 < 3
    finally:
        for s in socks:
            s.close()


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_clients_vanish_mid_request(world, how):
    # Headers, part of a JSON body, then gone; for every JSON route. Nothing is stored.
    for route in JSON_ROUTES:
        path = route.path("r0", **world.values())
        s = socket.create_connection(("127.0.0.1", world.server.port), timeout=5)
        s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: "
                   "application/json\r\nContent-Length: 500\r\n\r\n{\"msgtype\":\"m.text\",\"bo"
                   % (route.method, path, world.alice.access_token)).encode())
        if how == "rst":
            rst_close(s)
        else:
            s.close()
    time.sleep(0.3)
    world.health()


def _long_poll_socket(server, path, token):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (path, token)).encode())
    return s


def test_clients_vanish_mid_long_poll(world):
    a = world.alice.api()
    since = a.get("/sync", params={"timeout": "0"}).expect(200).body["next_batch"]
    paths = ["/_matrix/client/r0/sync?timeout=20000&since=%s" % since,
             "/_matrix/client/v3/sync?timeout=20000&since=%s&full_state=false" % since,
             "/_matrix/client/r0/events?timeout=20000"]
    for n in range(30):
        s = _long_poll_socket(world.server, paths[n % len(paths)], world.alice.access_token)
        time.sleep(0.02)
        if n % 2:
            rst_close(s)
        else:
            s.close()
    time.sleep(0.3)
    world.health()
    # The notifier still wakes the long-polls that are left: a new event reaches a live one.
    result = {}

    def poll():
        result["r"] = world.alice.api().get("/sync", params={"timeout": "15000", "since": since},
                                           timeout=30)

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.3)
    b = world.server.api().register()
    r = a.post("/rooms/%s/invite" % harness.quote(world.room), {"user_id": b.user_id})
    r.expect(200)
    t.join()
    body = result["r"].expect(200).body
    assert world.room in body.get("rooms", {}).get("join", {}), body
    world.snapshot = world.room_snapshot()  # the invite changed the room on purpose
    world.health()


def test_vanished_long_polls_do_not_delay_shutdown(server_factory):
    srv = server_factory()
    u = srv.api().register()
    for n in range(10):
        s = _long_poll_socket(srv, "/_matrix/client/r0/sync?timeout=30000&since=s0_0_0_0_0_0_0",
                              u.access_token)
        time.sleep(0.05)
        rst_close(s) if n % 2 else s.close()
    time.sleep(0.3)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 3
