"""Slow clients and connection limits (issue 12): listeners[].connection_timeout and
listeners[].max_connections_per_ip (Hearth-specific keys, docs/configuration.md).

A connection must deliver a whole request (headers and body) within connection_timeout of
opening or of its previous answer, however steadily it trickles bytes (slowloris), else it is
closed; a long body gets extra time at 16 KiB/s. A request that has fully arrived is not cut:
a long-poll /sync or /events waits as long as its own timeout says. The servers here use a
2-second timeout; the bounds below leave room for the reaper's tick and a loaded machine."""

import json
import socket
import time

import pytest

import harness
from harness import HearthServer, run_cli

TIMEOUT_S = 2.0


def _server(factory, overrides=None, **listener):
    srv = factory(overrides, start=False)
    srv.config["listeners"][0].update(listener)
    srv.start()
    return srv


@pytest.fixture(scope="module")
def slow_srv(module_server_factory):
    # No presence: a user's own presence changes would wake the long-polls below early.
    return _server(module_server_factory, {"presence": {"enabled": False}}, connection_timeout="2s")


@pytest.fixture(scope="module")
def user(slow_srv):
    return slow_srv.api().register()


def _connect(srv):
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=15)
    return s


def _closed(s):
    """True if the peer closed the connection (EOF or reset) rather than answering."""
    try:
        s.settimeout(0.05)
        data = s.recv(65536)
    except socket.timeout:
        return False
    except OSError:
        return True
    finally:
        s.settimeout(15)
    assert data == b"", "the server answered instead of closing: %r" % data[:200]
    return True


def _trickle_until_closed(s, pieces, interval=0.3, limit=12.0):
    """Sends one piece every `interval` seconds until the server closes; the seconds taken."""
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < limit:
        try:
            s.sendall(pieces(i))
        except OSError:
            return time.monotonic() - t0
        if _closed(s):
            return time.monotonic() - t0
        i += 1
        time.sleep(interval)
    return None


def _read_response(s):
    """One HTTP/1.1 response with Content-Length: (status, body bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        c = s.recv(65536)
        assert c, "connection closed before the response: %r" % data
        data += c
    head, rest = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(rest) < length:
        c = s.recv(65536)
        assert c, "connection closed mid-body"
        rest += c
    return int(head.split(b" ")[1]), rest[:length]


def test_trickled_headers_are_dropped(slow_srv):
    # A byte-steady slowloris: never idle for 2 s, so only a whole-request deadline stops it.
    s = _connect(slow_srv)
    s.sendall(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n")
    took = _trickle_until_closed(s, lambda i: b"X-Slow-%d: y\r\n" % i)
    s.close()
    assert took is not None, "a client trickling headers kept its connection for 12 s"
    assert TIMEOUT_S - 0.5 <= took <= TIMEOUT_S + 4, took
    slow_srv.api().get("/_matrix/client/versions").expect(200)


def test_trickled_body_is_dropped(slow_srv, user):
    s = _connect(slow_srv)
    s.sendall(b"PUT /_matrix/client/r0/user/%s/account_data/m.slow HTTP/1.1\r\nHost: x\r\n"
              b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
              b"Content-Length: 2000\r\n\r\n{\"v\":\"" % (harness.quote(user.user_id).encode(),
                                                        user.access_token.encode()))
    took = _trickle_until_closed(s, lambda i: b"zz")
    s.close()
    assert took is not None, "a client trickling its body kept its connection for 12 s"
    assert TIMEOUT_S - 0.5 <= took <= TIMEOUT_S + 4, took
    user.api().get("/user/%s/account_data/m.slow" % harness.quote(user.user_id)).expect(
        404, "M_NOT_FOUND")


def test_idle_connection_is_dropped(slow_srv):
    s = _connect(slow_srv)
    t0 = time.monotonic()
    s.settimeout(12)
    try:
        data = s.recv(100)
    except ConnectionResetError:
        data = b""
    took = time.monotonic() - t0
    s.close()
    assert data == b""
    assert TIMEOUT_S - 0.5 <= took <= TIMEOUT_S + 4, took


def test_slow_but_complete_request_is_answered(slow_srv, user):
    # Well within the deadline, however slowly: answered.
    req = (b"GET /_matrix/client/r0/account/whoami HTTP/1.1\r\nHost: x\r\n"
           b"Authorization: Bearer %s\r\n\r\n" % user.access_token.encode())
    with _connect(slow_srv) as s:
        for i in range(0, len(req), 16):
            s.sendall(req[i:i + 16])
            time.sleep(0.05)
        status, body = _read_response(s)
    assert status == 200
    assert json.loads(body)["user_id"] == user.user_id


def test_deadline_restarts_after_each_answer(slow_srv, user):
    # Keep-alive: each request has the full timeout from the previous answer, not from the
    # connection's start; then an idle connection goes.
    req = (b"GET /_matrix/client/r0/account/whoami HTTP/1.1\r\nHost: x\r\n"
           b"Authorization: Bearer %s\r\n\r\n" % user.access_token.encode())
    with _connect(slow_srv) as s:
        for _ in range(3):
            s.sendall(req)
            assert _read_response(s)[0] == 200
            time.sleep(TIMEOUT_S * 0.6)  # 3.6 s in all: past one timeout from the start
        t0 = time.monotonic()
        s.settimeout(12)
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
        assert data == b""
        assert time.monotonic() - t0 <= TIMEOUT_S + 4


@pytest.mark.parametrize("path", ["/sync", "/events"])
def test_long_poll_outlives_the_timeout(slow_srv, user, path):
    # A long-poll has its whole request in: it waits its own 5 s, then the same keep-alive
    # connection serves another request.
    a = user.api()
    params = {"timeout": "5000"}
    if path == "/sync":
        params["since"] = a.get("/sync", params={"timeout": "0"}).expect(200).body["next_batch"]
    else:
        params["from"] = a.get("/events", params={"timeout": "0"}).expect(200).body["end"]
    t0 = time.monotonic()
    a.get(path, params=params, timeout=30).expect(200)
    assert time.monotonic() - t0 >= 4.5
    a.get("/account/whoami").expect(200)


def test_long_poll_woken_after_the_timeout(slow_srv, user):
    # Woken 4 s in (twice the connection timeout): the answer carries the event.
    a = user.api()
    room = a.post("/createRoom", {}).expect(200).body["room_id"]
    since = a.get("/sync", params={"timeout": "0"}).expect(200).body["next_batch"]
    req = (b"GET /_matrix/client/r0/sync?timeout=20000&since=%s HTTP/1.1\r\nHost: x\r\n"
           b"Authorization: Bearer %s\r\n\r\n" % (since.encode(), user.access_token.encode()))
    with _connect(slow_srv) as s:
        s.sendall(req)
        time.sleep(TIMEOUT_S * 2)
        a.put("/rooms/%s/send/m.room.message/late" % harness.quote(room),
              {"msgtype": "m.text", "body": "late"}).expect(200)
        status, body = _read_response(s)
    assert status == 200
    events = json.loads(body)["rooms"]["join"][room]["timeline"]["events"]
    assert [e["content"].get("body") for e in events if e["type"] == "m.room.message"] == ["late"]


def test_long_body_gets_time_at_16k_per_second(slow_srv, user):
    # 64 KiB sent over about 3 s (past the 2 s timeout, within 2 s + 4 s for the length).
    value = "x" * (64 * 1024 - 20)
    body = json.dumps({"v": value}).encode()
    head = (b"PUT /_matrix/client/r0/user/%s/account_data/m.big HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (harness.quote(user.user_id).encode(),
                                             user.access_token.encode(), len(body)))
    with _connect(slow_srv) as s:
        s.sendall(head)
        step = len(body) // 10 + 1
        for i in range(0, len(body), step):
            s.sendall(body[i:i + step])
            time.sleep(0.3)
        status, _ = _read_response(s)
    assert status == 200
    got = user.api().get("/user/%s/account_data/m.big" % harness.quote(user.user_id)).expect(200)
    assert got.body["v"] == value


def _answered_conn(srv, deadline_s=10.0):
    """A connection answered once (so accepted, and kept alive). The harness's own keep-alive
    connection from start-up counts against the per-address limit until the server has seen
    it close, so a refused attempt is retried until the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        s = _connect(srv)
        try:
            s.sendall(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_response(s)[0] == 200
            return s
        except (AssertionError, OSError):
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_connections_per_ip_are_limited(server_factory):
    srv = _server(server_factory, max_connections_per_ip=5)
    srv._session.close()  # the start-up probe's keep-alive connection
    held = []
    try:
        # Each is answered once, so all five are accepted (not waiting in the kernel's
        # backlog) before the sixth comes; they stay open (keep-alive).
        for _ in range(5):
            held.append(_answered_conn(srv))
        extra = _connect(srv)  # the kernel accepts; libmicrohttpd closes it at once
        try:
            extra.sendall(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n")
            extra.settimeout(5)
            data = extra.recv(100)
        except OSError:
            data = b""
        extra.close()
        assert data == b"", "a sixth connection from one address was answered: %r" % data
        # The five held connections are served.
        held[0].sendall(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(held[0])[0] == 200
        # One goes: a new one is accepted again.
        held.pop().close()
        _answered_conn(srv).close()
    finally:
        for s in held:
            s.close()


def test_no_per_ip_limit_when_zero(server_factory):
    srv = _server(server_factory, max_connections_per_ip=0)
    held = [_connect(srv) for _ in range(30)]
    try:
        for s in held:
            s.sendall(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n")
        for s in held:
            assert _read_response(s)[0] == 200
    finally:
        for s in held:
            s.close()


@pytest.mark.parametrize("key,value", [
    ("connection_timeout", "soon"),
    ("connection_timeout", 0),
    ("connection_timeout", -5),
    ("max_connections_per_ip", -1),
    ("max_connections_per_ip", "many"),
    ("max_connections_per_ip", 10 ** 7),
])
def test_bad_values_stop_the_server(tmp_path, key, value):
    srv = HearthServer(str(tmp_path / "d"))
    srv.config["listeners"][0][key] = value
    srv.write_config()
    r = run_cli("serve", "--config", srv.config_path, timeout=30)
    assert r.returncode != 0, "serve accepted %s=%r" % (key, value)
    assert key in r.stderr, r.stderr
    assert harness.sanitizer_report(r.stderr) is None, r.stderr


def test_keys_in_generated_config_and_reference(tmp_path):
    r = run_cli("generate-config", "--server-name", "example.org", "--data-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "connection_timeout: 90s" in r.stdout
    assert "max_connections_per_ip: 4096" in r.stdout
    ref = run_cli("config-reference").stdout
    assert "`listeners[].connection_timeout`" in ref
    assert "`listeners[].max_connections_per_ip`" in ref
