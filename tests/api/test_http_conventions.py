"""HTTP conventions every endpoint relies on (client_server_api.rst §API Standards, §Web
Browser Clients, §Rate limiting; the issue's request limits). Also: no request, however
malformed, may crash the server."""

import http.client
import json
import random
import socket
import time

import pytest

import harness
from harness import quote

CORS_METHODS = {"GET", "POST", "PUT", "DELETE", "OPTIONS"}
CORS_HEADERS = {"origin", "x-requested-with", "content-type", "accept", "authorization"}


def raw_request(server, data, timeout=10.0, read_all=True, half_close=True):
    """Sends raw bytes; returns the raw response bytes (possibly empty if the server closed).
    With half_close, our side of the connection is shut down after sending."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        if half_close:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                c = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not c:
                break
            chunks.append(c)
            if not read_all or _complete(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete(raw):
    """True when raw holds one whole HTTP response with a Content-Length body."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return len(body) >= int(value.strip())
            except ValueError:
                return False
    return False


def status_of(raw):
    if not raw.startswith(b"HTTP/1."):
        return None
    return int(raw.split(b" ", 2)[1])


def body_of(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        out = b""
        while body:
            line, _, rest = body.partition(b"\r\n")
            n = int(line.split(b";")[0] or b"0", 16)
            if n == 0:
                break
            out += rest[:n]
            body = rest[n + 2:]
        return out
    return body


def assert_json_error(raw, statuses, errcodes=None):
    st = status_of(raw)
    assert st in statuses, raw[:500]
    body = json.loads(body_of(raw))
    assert isinstance(body.get("errcode"), str) and isinstance(body.get("error"), str), body
    if errcodes:
        assert body["errcode"] in errcodes, body
    return body


# --- routing ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/_matrix/client/r0/no_such_endpoint",
    "/_matrix/client/v3/no_such_endpoint",
    "/_matrix/client/r0/account/whoami/extra",
    "/_matrix/client/r1/account/whoami",
    "/_matrix/client/unstable/no_such_endpoint",
    "/_matrix/client/r0",
    "/_matrix/client/",
    "/_matrix/nope",
    "/_matrix/",
    "/",
    "/favicon.ico",
    "/.well-known/matrix/nothing",
])
def test_unknown_endpoint(api_r0, path):
    r = api_r0.get(path)
    r.expect(404, "M_UNRECOGNIZED")
    assert r.headers.get("Access-Control-Allow-Origin") == "*"


@pytest.mark.parametrize("method,path", [
    ("GET", "/logout"), ("PUT", "/login"), ("DELETE", "/login"), ("GET", "/register"),
    ("POST", "/account/whoami"), ("GET", "/delete_devices"), ("POST", "/devices"),
    ("POST", "/devices/ABC"), ("DELETE", "/capabilities"), ("PUT", "/account/password"),
    ("GET", "/account/deactivate"), ("DELETE", "/_matrix/client/versions"),
    ("PATCH", "/login"),
])
def test_wrong_method(api, method, path):
    r = api.request(method, path, {} if method in ("POST", "PUT", "PATCH", "DELETE") else harness._MISSING)
    r.expect(405, "M_UNRECOGNIZED")
    assert r.headers.get("Access-Control-Allow-Origin") == "*"


def test_unknown_endpoint_checked_before_auth(api_r0):
    # An unknown path is 404 even without a token (not 401).
    api_r0.get("/no_such_endpoint_either").expect(404, "M_UNRECOGNIZED")


def test_every_endpoint_on_both_prefixes(server, shared_user):
    endpoints = [("GET", "/login"), ("GET", "/capabilities"), ("GET", "/account/whoami"), ("GET", "/devices"),
                 ("GET", "/account/3pid"), ("GET", "/register/available?username=zzz" + harness.unique_localpart()),
                 ("GET", "/devices/" + quote(shared_user.device_id))]
    for prefix in harness.PREFIXES:
        api = server.api(prefix, shared_user.access_token)
        for method, path in endpoints:
            p, _, q = path.partition("?")
            params = dict([q.split("=", 1)]) if q else None
            api.request(method, p, params=params).expect(200)


# --- CORS ---------------------------------------------------------------------------------


def _tokens(header):
    return {t.strip().lower() for t in (header or "").split(",") if t.strip()}


def check_cors(r):
    h = r.headers
    assert h.get("Access-Control-Allow-Origin") == "*", (r, dict(h))
    assert {m.lower() for m in CORS_METHODS} <= _tokens(h.get("Access-Control-Allow-Methods")), dict(h)
    assert CORS_HEADERS <= _tokens(h.get("Access-Control-Allow-Headers")), dict(h)


def test_cors_on_all_kinds_of_responses(server, shared_user):
    api = server.api("r0")
    responses = [
        api.get("/_matrix/client/versions"),
        api.get("/login"),
        api.get("/account/whoami"),  # 401 missing token
        api.get("/account/whoami", token="bad"),  # 401 unknown token
        api.get("/no_such_thing"),  # 404
        api.get("/logout"),  # 405
        api.post("/login", data="{{", headers={"Content-Type": "application/json"}),  # 400
        api.post("/register", {"username": "x" + harness.unique_localpart(), "password": "p"}),  # 401 UIA
        api.with_token(shared_user.access_token).get("/account/whoami"),  # 200 authed
        api.with_token(shared_user.access_token).get("/devices/NOPE"),  # 404 M_NOT_FOUND
        api.get("/.well-known/matrix/client"),
        api.get("/_synapse/admin/v1/register"),
    ]
    for r in responses:
        check_cors(r)


@pytest.mark.parametrize("path", [
    "/_matrix/client/versions", "/_matrix/client/r0/login", "/_matrix/client/v3/login",
    "/_matrix/client/r0/register", "/_matrix/client/r0/account/whoami", "/_matrix/client/v3/devices/ABCDEF",
    "/_matrix/client/r0/delete_devices", "/_matrix/client/r0/capabilities", "/_matrix/client/v3/logout/all",
    "/.well-known/matrix/client", "/_synapse/admin/v1/register",
])
def test_options_preflight(server, path):
    r = server._session.options(server.base_url + path, headers={
        "Origin": "https://app.example.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })
    assert r.status_code == 200, (r.status_code, r.text[:300])
    check_cors(r)


def test_options_does_not_run_endpoint_logic(server):
    # "the server MUST NOT perform any logic defined for the endpoints when approached
    # with an OPTIONS request"
    api = server.api("r0")
    user = api.register()
    r = server._session.options(server.base_url + "/_matrix/client/r0/logout",
                                headers={"Authorization": "Bearer " + user.access_token})
    assert r.status_code == 200
    r = server._session.options(server.base_url + "/_matrix/client/r0/logout/all",
                                params={"access_token": user.access_token})
    assert r.status_code == 200
    api.as_user(user).get("/account/whoami").expect(200)
    name = harness.unique_localpart()
    r = server._session.options(server.base_url + "/_matrix/client/r0/register",
                                data=json.dumps({"username": name, "password": "pw", "auth": {"type": "m.login.dummy"}}),
                                headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    api.get("/register/available", params={"username": name}).expect(200)


def test_options_needs_no_token(server):
    r = server._session.options(server.base_url + "/_matrix/client/r0/account/whoami")
    assert r.status_code == 200
    check_cors(r)


# --- Content-Type ------------------------------------------------------------------------


def test_json_content_type(server, shared_user):
    api = server.api("v3", shared_user.access_token)
    for r in (api.get("/account/whoami"), api.get("/nope"), api.get("/devices"), api.post("/login", data="x")):
        assert r.headers.get("Content-Type", "").split(";")[0].strip() == "application/json", r


def test_body_accepted_without_content_type(api_r0, shared_user):
    # Clients do not always set Content-Type; the body is JSON all the same.
    r = api_r0.post("/login", data=json.dumps({"type": "m.login.password",
                                               "identifier": {"type": "m.id.user", "user": shared_user.user_id},
                                               "password": shared_user.password}),
                    headers={"Content-Type": ""})
    r.expect(200)


# --- JSON body validation ------------------------------------------------------------------


def post_login_raw(api, data, ctype="application/json"):
    return api.post("/login", data=data, headers={"Content-Type": ctype})


@pytest.mark.parametrize("data", [
    b"not json",
    b"{",
    b"{\"type\": ",
    b"{'type': 'm.login.password'}",
    b"{\"type\": \"m.login.password\",}",
    b"{\"type\": NaN}",
    b"{\"type\": Infinity}",
    b"{\"a\": -Infinity}",
    b"{\"a\": 01}",
    b"{\"a\": 1.}",
    b"{\"a\": .5}",
    b"{\"a\": +1}",
    b"{\"a\": 0x10}",
    b"{\"a\": \"\\x41\"}",
    b"{\"a\": \"\\u12\"}",
    b"{\"a\": \"unterminated}",
    b"{\"a\": \"raw\x01control\"}",
    b"{\"a\": tru}",
    b"{\"a\": null",
    b"{} {}",
    b"{}garbage",
    b"\x00",
    b"   ",
    b"",
    b"/* comment */ {}",
])
def test_not_json(api, data):
    post_login_raw(api, data).expect(400, "M_NOT_JSON")


@pytest.mark.parametrize("data", [
    b"{\"type\": \"m.login.password\", \"password\": \"\xff\xfe\"}",  # invalid UTF-8
    b"{\"type\": \"m.login.\xc3\"}",                                  # truncated sequence
    b"{\"a\": \"\xed\xa0\x80\"}",                                     # UTF-8-encoded surrogate
    b"{\"a\": \"\xc0\xaf\"}",                                         # overlong encoding
    b"{\"a\": \"\xf8\x88\x80\x80\x80\"}",                             # 5-byte sequence
])
def test_invalid_utf8(api_r0, data):
    post_login_raw(api_r0, data).expect(400, "M_NOT_JSON")


@pytest.mark.parametrize("data", [
    b"{\"type\": \"m.login.password\", \"type\": \"m.login.token\"}",
    b"{\"identifier\": {\"type\": \"m.id.user\", \"type\": \"m.id.user\"}, \"type\": \"m.login.password\"}",
    b"{\"a\": 1, \"b\": 2, \"a\": 1}",
])
def test_duplicate_keys(api_r0, data):
    post_login_raw(api_r0, data).expect(400, "M_NOT_JSON")


@pytest.mark.parametrize("data", [b"[]", b"[{\"type\": \"m.login.password\"}]", b"\"string\"", b"42", b"null",
                                  b"true"])
def test_json_not_object(api, data):
    post_login_raw(api, data).expect(400, "M_BAD_JSON")


@pytest.mark.parametrize("value", ["9007199254740992", "-9007199254740992", "123456789012345678901234567890",
                                   "-123456789012345678901234567890"])
def test_integer_out_of_range(api_r0, value):
    # Canonical JSON: integers in [-(2**53)+1, (2**53)-1].
    data = ("{\"type\": \"m.login.password\", \"send_attempt\": %s}" % value).encode()
    post_login_raw(api_r0, data).expect(400, "M_BAD_JSON")


def test_integer_at_range_limit_is_fine(api_r0, shared_user):
    data = json.dumps({"type": "m.login.password",
                       "identifier": {"type": "m.id.user", "user": shared_user.user_id},
                       "password": shared_user.password, "org.example.n": 9007199254740991,
                       "org.example.m": -9007199254740991}).encode()
    post_login_raw(api_r0, data).expect(200)


@pytest.mark.parametrize("data", [
    b"[" * 10000,
    b"[" * 10000 + b"]" * 10000,
    b"{\"a\":" * 10000 + b"1" + b"}" * 10000,
    b"{\"type\": \"m.login.password\", \"x\": " + b"[" * 100000 + b"]" * 100000 + b"}",
])
def test_deep_nesting(api, data):
    r = post_login_raw(api, data)
    r.expect(400, ("M_NOT_JSON", "M_BAD_JSON", "M_TOO_LARGE"))


def test_reasonable_nesting_is_fine(api_r0, shared_user):
    nested = 1
    for _ in range(20):
        nested = {"n": [nested]}
    body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": shared_user.user_id},
            "password": shared_user.password, "org.example.nested": nested}
    api_r0.login_raw(body).expect(200)


def test_escapes_and_unicode_are_decoded(api_r0):
    # A password with escapes and non-BMP characters must round-trip through JSON escapes.
    pw = "p\u00e4ss \"quoted\" \\ \U0001F600 \u2028 end"
    name = harness.unique_localpart()
    user = api_r0.register(name, pw)
    escaped = json.dumps({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user.user_id},
                          "password": pw}, ensure_ascii=True)
    post_login_raw(api_r0, escaped.encode()).expect(200)
    raw_utf8 = json.dumps({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user.user_id},
                           "password": pw}, ensure_ascii=False)
    post_login_raw(api_r0, raw_utf8.encode("utf-8")).expect(200)


def test_lone_surrogate_escape(api_r0):
    data = b"{\"type\": \"m.login.password\", \"user\": \"x\", \"password\": \"\\ud800\"}"
    r = post_login_raw(api_r0, data)
    # A lone surrogate escape is not valid Unicode: rejected as bad JSON, or at worst a plain
    # login failure; never a crash.
    r.expect((400, 403), ("M_NOT_JSON", "M_BAD_JSON", "M_FORBIDDEN"))


def test_nul_in_string(api_r0, shared_user):
    # "\u0000" is valid JSON; it must not truncate the string (an injection vector in C).
    body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": shared_user.user_id + "\u0000junk"},
            "password": shared_user.password}
    api_r0.login_raw(body).expect((400, 403), ("M_FORBIDDEN", "M_INVALID_PARAM", "M_BAD_JSON"))
    body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": shared_user.user_id},
            "password": shared_user.password + "\u0000junk"}
    api_r0.login_raw(body).expect((400, 403), ("M_FORBIDDEN", "M_INVALID_PARAM", "M_BAD_JSON"))
    body["password"] = shared_user.password[:3] + "\u0000"
    api_r0.login_raw(body).expect((400, 403), ("M_FORBIDDEN", "M_INVALID_PARAM", "M_BAD_JSON"))


# --- request size ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_server(module_server_factory):
    return module_server_factory({"max_request_size": 2048})


def test_body_too_large(small_server, prefix):
    api = small_server.api(prefix)
    body = {"type": "m.login.password", "user": "x", "password": "y", "pad": "a" * 4096}
    api.login_raw(body).expect(413, "M_TOO_LARGE")


def test_body_just_below_limit(small_server):
    api = small_server.api()
    body = {"type": "m.login.password", "user": "x", "password": "y"}
    pad = 2048 - len(json.dumps(dict(body, pad="")))
    body["pad"] = "a" * (pad - 10)
    api.login_raw(body).expect(403, "M_FORBIDDEN")


def test_body_too_large_chunked(small_server):
    api = small_server.api()

    def gen():
        yield b"{\"type\": \"m.login.password\", \"pad\": \""
        for _ in range(64):
            yield b"a" * 1024
        yield b"\"}"

    r = api.post("/login", data=gen(), headers={"Content-Type": "application/json"})
    r.expect(413, "M_TOO_LARGE")


def test_body_too_large_content_length_only(small_server):
    # A Content-Length above the limit is refused without waiting for the body.
    req = (b"POST /_matrix/client/r0/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: 100000000\r\nConnection: close\r\n\r\n{\"type\"")
    raw = raw_request(small_server, req, timeout=5, half_close=False)
    assert raw, "no response within 5 s: the server waited for a body it must refuse"
    assert_json_error(raw, (413,), ("M_TOO_LARGE",))
    small_server.assert_alive()


def test_default_limit_is_one_mib(server):
    api = server.api()
    body = {"type": "m.login.password", "user": "x", "password": "y", "pad": "a" * (1024 * 1024 + 10)}
    api.login_raw(body).expect(413, "M_TOO_LARGE")
    body["pad"] = "a" * (1024 * 1024 - 200)
    api.login_raw(body).expect(403, "M_FORBIDDEN")


def test_small_limit_server_still_serves(small_server):
    user = small_server.api().register()
    small_server.api().as_user(user).get("/devices").expect(200)


# --- paths and encodings ----------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/_matrix/client/r0/account%2Fwhoami",
    "/_matrix/client/r0%2Faccount/whoami",
    "/_matrix%2Fclient%2Fr0%2Faccount%2Fwhoami",
    "/_matrix/client/r0/account/who%61mi",
])
def test_encoded_slash_is_not_a_separator(api_r0, shared_user, path):
    r = api_r0.with_token(shared_user.access_token).get(path)
    # %2F is data, not a path separator: these are unknown endpoints. ("who%61mi" decodes to
    # "whoami"; a server may decode unreserved characters, so 200 is allowed there.)
    if path.endswith("who%61mi") and r.status == 200:
        return
    r.expect(404, "M_UNRECOGNIZED")


@pytest.mark.parametrize("devpath", [
    "%2F..%2F..%2Faccount%2Fwhoami", "..", "%2E%2E", "%00", "%ZZ", "%", "%C3%28", "%FF%FE", "a%00b",
    "%E2%80%AE", "x" * 5000, "%25", "%2525",
])
def test_odd_device_paths(server, shared_user, devpath):
    # http.client sends the path exactly as written (requests would re-quote it).
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/_matrix/client/r0/devices/" + devpath,
                     headers={"Authorization": "Bearer " + shared_user.access_token})
        resp = conn.getresponse()
        status, body = resp.status, json.loads(resp.read())
    finally:
        conn.close()
    if status == 400:
        assert body["errcode"] in ("M_INVALID_PARAM", "M_UNRECOGNIZED", "M_NOT_FOUND", "M_BAD_JSON"), body
    else:
        assert status == 404 and body["errcode"] in ("M_NOT_FOUND", "M_UNRECOGNIZED"), (status, body)
    assert isinstance(body.get("error"), str)


def test_dot_segments_do_not_escape(api_r0, shared_user):
    # requests would normalise "..", so send it raw.
    srv = shared_user.server
    for path in (b"/_matrix/client/r0/devices/../account/whoami", b"/_matrix/client/r0/login/../../../etc/passwd",
                 b"/../../../etc/passwd", b"/_matrix/client/r0/./login"):
        req = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + \
            shared_user.access_token.encode() + b"\r\nConnection: close\r\n\r\n"
        raw = raw_request(srv, req)
        st = status_of(raw)
        assert st is not None, raw
        assert b"root:" not in raw
        if st != 200:
            assert_json_error(raw, (400, 404))


def test_query_string_oddities(api_r0, shared_user):
    srv = shared_user.server
    tok = shared_user.access_token
    # A token followed by junk after a NUL must not be truncated at the NUL.
    r = srv._session.get(srv.base_url + "/_matrix/client/r0/account/whoami?access_token=" + tok + "%00junk")
    assert (r.status_code, r.json()["errcode"]) in ((401, "M_UNKNOWN_TOKEN"), (400, "M_INVALID_PARAM")), \
        (r.status_code, r.text)
    for qs in ("access_token=" + tok + "&access_token=other", "access_token", "access_token=%ZZ", "&&&&=&=",
               "a=" + "b" * 10000, "%00=%00", "=" * 500):
        r = srv._session.get(srv.base_url + "/_matrix/client/r0/account/whoami?" + qs)
        if r.status_code == 200:
            assert r.json()["user_id"] == shared_user.user_id
        else:
            assert r.status_code in (400, 401), (qs, r.status_code, r.text[:200])
            j = r.json()
            assert j["errcode"] in ("M_MISSING_TOKEN", "M_UNKNOWN_TOKEN", "M_INVALID_PARAM", "M_BAD_JSON"), j
    # The username query parameter is percent-decoded.
    r = api_r0.get("/register/available", params={"username": "a b"})
    r.expect(400, "M_INVALID_USERNAME")


# --- malformed HTTP -----------------------------------------------------------------------------


def test_very_long_url(server):
    for n in (8 * 1024, 64 * 1024, 1024 * 1024):
        path = "/_matrix/client/r0/" + "a" * n
        try:
            r = server._session.get(server.base_url + path, timeout=15)
        except Exception:  # the server may close the connection on a request line this long
            server.assert_alive()
            continue
        assert r.status_code in (400, 404, 413, 414, 431), r.status_code
        server.assert_alive()


def test_very_long_header(server, shared_user):
    for n in (8 * 1024, 64 * 1024, 1024 * 1024):
        try:
            r = server._session.get(server.base_url + "/_matrix/client/r0/account/whoami",
                                    headers={"X-Long": "a" * n, "Authorization": "Bearer " + shared_user.access_token},
                                    timeout=15)
        except Exception:
            server.assert_alive()
            continue
        assert r.status_code in (200, 400, 413, 431), r.status_code
        server.assert_alive()
    try:
        r = server._session.get(server.base_url + "/_matrix/client/r0/account/whoami",
                                headers={"Authorization": "Bearer " + "t" * (256 * 1024)}, timeout=15)
        assert r.status_code in (400, 401, 413, 431), r.status_code
    except Exception:
        pass
    server.assert_alive()
    server.api().as_user(shared_user).get("/account/whoami").expect(200)


def test_many_headers(server, shared_user):
    headers = {"X-H-%d" % i: "v" * 50 for i in range(500)}
    headers["Authorization"] = "Bearer " + shared_user.access_token
    try:
        r = server._session.get(server.base_url + "/_matrix/client/r0/account/whoami", headers=headers, timeout=15)
        assert r.status_code in (200, 400, 413, 431)
    except Exception:
        pass
    server.assert_alive()


RAW_REQUESTS = [
    b"",
    b"\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET /_matrix/client/versions\r\n\r\n",
    b"GET /_matrix/client/versions HTTP/1.0\r\n\r\n",
    b"GET /_matrix/client/versions HTTP/1.1\r\n\r\n",  # no Host
    b"FOO /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://evil.example/_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
    b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n",
    b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\nX: \x00\x01\x02\r\n\r\n",
    b"POST /_matrix/client/r0/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"type\":",
    b"POST /_matrix/client/r0/login HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
    b"POST /_matrix/client/r0/login HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    b"POST /_matrix/client/r0/login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
    b"POST /_matrix/client/r0/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"POST /_matrix/client/r0/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n",
    b"POST /_matrix/client/r0/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc",
    b"POST /_matrix/client/r0/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    b"POST /_matrix/client/r0/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b",
    b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\nGET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /_matrix/client/r0/account/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n\r\n",
    b"GET /_matrix/client/r0/account/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: \r\n\r\n",
    b"GET /_matrix/client/r0/account/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n\r\n",
    b"GET /_matrix/client/r0/account/whoami?access_token=%FF%FE HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /_matrix/client/r0/devices/\xff\xfe HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n\r\n",
    b"GET /_matrix/client/r0/register/available?username=%00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello
    bytes(range(256)),
]


@pytest.mark.parametrize("data", RAW_REQUESTS, ids=range(len(RAW_REQUESTS)))
def test_malformed_http(server, data):
    raw = raw_request(server, data, timeout=1)
    st = status_of(raw)
    if st is not None:
        # 505 HTTP Version Not Supported is the right answer to HTTP/9.9.
        assert st < 500 or st == 505, raw[:300]
    server.assert_alive()
    server.api().get("/_matrix/client/versions").expect(200)


def test_truncated_body_then_close(server):
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(b"POST /_matrix/client/r0/login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"a\":")
    time.sleep(0.1)
    server.assert_alive()
    server.api().get("/_matrix/client/versions").expect(200)


def _abort_upload(port, half_close=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"POST /_matrix/client/r0/login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"a\":")
    if half_close:
        s.shutdown(socket.SHUT_WR)
    s.close()


@pytest.mark.parametrize("half_close", [False, True], ids=["close", "half-close"])
def test_shutdown_not_delayed_by_aborted_upload(server_factory, half_close):
    # A client that sends part of a body and goes away is not an in-flight request that
    # SIGTERM must wait for.
    srv = server_factory()
    for _ in range(5):
        _abort_upload(srv.port, half_close)
    time.sleep(0.3)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 3, "SIGTERM took %.1fs after an aborted upload" % (time.monotonic() - t0)


def test_requests_on_kept_alive_connections_during_drain(server_factory):
    """At SIGTERM the server stops accepting connections and answers the requests in flight
    before it exits. A client whose connection is kept alive may still send a request while
    that drain runs. It is answered as usual, with Connection: close; a message sent then is
    stored (it waits for its commit in its thread: before, it suspended its connection after
    the drain had found nothing in flight, and libmicrohttpd aborted at stop). The request in
    flight (a URL preview held by a slow page) is answered too, and the exit is clean."""
    import http.server
    import signal
    import threading
    import requests
    from roomlib import create_room, timeline, txn

    release, asked = threading.Event(), threading.Event()

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.set()
            release.wait(20)
            body = b"<html><head><title>slow page</title></head></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    pages = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    srv = server_factory({"url_preview_enabled": True, "url_preview_ip_range_whitelist": ["127.0.0.1"]})
    try:
        user = srv.api().register()
        room = create_room(user.api())
        auth = {"Authorization": "Bearer " + user.access_token}
        base = srv.base_url + "/_matrix/client/v3"
        kept = requests.Session()
        r = kept.get(base + "/account/whoami", headers=auth, timeout=10)
        assert r.status_code == 200 and "close" not in r.headers.get("Connection", "").lower()
        preview = {}

        def ask():
            preview["r"] = requests.get(
                srv.base_url + "/_matrix/media/v3/preview_url",
                params={"url": "http://127.0.0.1:%d/page" % pages.server_address[1]},
                headers=auth, timeout=30)

        t = threading.Thread(target=ask)
        t.start()
        assert asked.wait(10), "the preview did not reach the page"
        srv.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while "draining requests" not in srv.stderr():
            assert time.monotonic() < deadline, "no drain after SIGTERM"
            time.sleep(0.02)
        r = kept.put(base + "/rooms/%s/send/m.room.message/%s" % (quote(room), txn()),
                     json={"msgtype": "m.text", "body": "sent during the drain"}, headers=auth, timeout=10)
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers.get("Connection", "").lower() == "close"
        sent = r.json()["event_id"]
        release.set()
        t.join(30)
        assert preview["r"].status_code == 200, preview["r"].text
        assert preview["r"].json().get("og:title") == "slow page"
        srv.stop()  # asserts exit status 0 and a clean stderr
        srv.start()
        assert sent in [e["event_id"] for e in timeline(user.api(), room)]
    finally:
        release.set()
        pages.shutdown()
        pages.server_close()


def test_aborted_uploads_do_not_leak_connections(server_factory):
    # Every aborted connection must be reaped; otherwise ~1000 of them wedge the server.
    srv = server_factory()
    for _ in range(2000):
        _abort_upload(srv.port)
    time.sleep(0.5)
    srv.api().get("/_matrix/client/versions", timeout=5).expect(200)
    srv.assert_alive()


def test_keepalive_many_requests_one_connection(server, shared_user):
    # Many sequential requests on one persistent connection (requests.Session keeps it).
    api = server.api("v3", shared_user.access_token)
    for _ in range(200):
        api.get("/account/whoami").expect(200)


def test_concurrent_requests(server, shared_user):
    import concurrent.futures

    def one(i):
        s = __import__("requests").Session()
        out = []
        for j in range(20):
            r = s.get(server.base_url + "/_matrix/client/r0/account/whoami",
                      headers={"Authorization": "Bearer " + shared_user.access_token})
            out.append(r.status_code)
        s.close()
        return out

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(one, range(16)))
    assert all(st == 200 for res in results for st in res)


# --- fuzz-ish loop ------------------------------------------------------------------------------

FUZZ_PATHS = [
    "/_matrix/client/{p}/login", "/_matrix/client/{p}/register", "/_matrix/client/{p}/logout",
    "/_matrix/client/{p}/logout/all", "/_matrix/client/{p}/account/whoami", "/_matrix/client/{p}/devices",
    "/_matrix/client/{p}/devices/{x}", "/_matrix/client/{p}/delete_devices", "/_matrix/client/{p}/capabilities",
    "/_matrix/client/{p}/account/password", "/_matrix/client/{p}/account/deactivate",
    "/_matrix/client/{p}/account/3pid", "/_matrix/client/{p}/account/3pid/add",
    "/_matrix/client/{p}/register/available", "/_matrix/client/{p}/register/email/requestToken",
    "/_matrix/client/versions", "/.well-known/matrix/client", "/_synapse/admin/v1/register",
    "/_matrix/client/{p}/{x}", "/{x}", "/_matrix/client/{p}/devices/{x}/{x}",
]
FUZZ_VALUES = [None, True, False, 0, -1, 2 ** 53 - 1, 1.5, "", "x", "m.login.dummy", "m.login.password",
               "m.id.user", "@a:b", "\u0000", "\U0001F600" * 10, "a" * 3000, [], [1, "a"], {}, {"type": "m.login.dummy"}]
FUZZ_KEYS = ["type", "auth", "session", "username", "password", "identifier", "user", "device_id", "devices",
             "new_password", "logout_devices", "display_name", "initial_device_display_name", "inhibit_login",
             "token", "nonce", "mac", "admin", "client_secret", "email", "send_attempt", "medium", "address",
             "kind", "flows", "\u00e9", ""]


def _rand_value(rng, depth=0):
    k = rng.random()
    if depth < 3 and k < 0.15:
        return {rng.choice(FUZZ_KEYS): _rand_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if depth < 3 and k < 0.25:
        return [_rand_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return rng.choice(FUZZ_VALUES)


def _rand_body(rng):
    k = rng.random()
    if k < 0.55:
        obj = {rng.choice(FUZZ_KEYS): _rand_value(rng) for _ in range(rng.randint(0, 6))}
        data = json.dumps(obj).encode()
        if rng.random() < 0.3 and data:  # mutate a few bytes
            b = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            data = bytes(b)
        if rng.random() < 0.1:
            data = data[: rng.randrange(len(data) + 1)]
        return data
    if k < 0.7:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
    if k < 0.8:
        return rng.choice([b"[", b"{", b"\"", b"{\"a\":"]) * rng.randint(1, 3000)
    if k < 0.9:
        return rng.choice([b"null", b"[]", b"1", b"\"s\"", b"{}", b"true"])
    return None


def _rand_segment(rng):
    alphabet = "abcXYZ019._~-%/?#&=+@:!$'()*,;\u00e9\u2603 "
    s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
    return quote(s) if rng.random() < 0.7 else s.replace("#", "").replace("?", "").replace(" ", "%20")


def test_fuzz_requests(server):
    rng = random.Random(0x4EA27)
    fuzz_user = server.api().register()
    tokens = [None, fuzz_user.access_token, "bogus", "", "x" * 300]
    methods = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"]
    sess = __import__("requests").Session()
    failures = []
    for i in range(600):
        path = rng.choice(FUZZ_PATHS).format(p=rng.choice(["r0", "v3", "r0", "v3", "v1", "unstable"]),
                                             x=_rand_segment(rng))
        if rng.random() < 0.3:
            path += "?" + "&".join("%s=%s" % (_rand_segment(rng), _rand_segment(rng)) for _ in range(rng.randint(1, 4)))
        method = rng.choice(methods)
        body = _rand_body(rng) if method in ("POST", "PUT", "DELETE", "PATCH") else None
        headers = {}
        tok = rng.choice(tokens)
        if tok is not None:
            if rng.random() < 0.5:
                headers["Authorization"] = "Bearer " + tok
            else:
                path += ("&" if "?" in path else "?") + "access_token=" + quote(tok)
        if rng.random() < 0.5:
            headers["Content-Type"] = rng.choice(["application/json", "text/plain", "application/json; charset=latin1",
                                                  "multipart/form-data; boundary=x", ""])
        try:
            r = sess.request(method, server.base_url + path, data=body, headers=headers, timeout=15,
                             allow_redirects=False)
        except Exception as e:  # connection-level failure: record it, the server must survive
            if not server.alive():
                raise
            failures.append("%s %s: %r" % (method, path[:120], e))
            continue
        if method == "OPTIONS" or method == "HEAD":
            assert r.status_code < 500, (method, path, r.status_code)
            continue
        assert r.status_code < 500, (method, path[:200], body[:200] if body else body, r.status_code, r.text[:300])
        assert r.headers.get("Access-Control-Allow-Origin") == "*", (method, path[:200], r.status_code)
        try:
            j = r.json()
        except ValueError:
            raise AssertionError("non-JSON response to %s %s: %d %r" % (method, path[:200], r.status_code, r.text[:200]))
        if r.status_code >= 400:
            assert isinstance(j, dict) and isinstance(j.get("errcode"), str) or "flows" in j, (method, path, j)
    sess.close()
    server.assert_alive()
    server.api().get("/_matrix/client/versions").expect(200)
    assert len(failures) < 30, failures[:10]


def test_raw_fuzz(server):
    rng = random.Random(0xBEEF)
    templates = [
        b"POST /_matrix/client/r0/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
        b"PUT /_matrix/client/v3/devices/ABC HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
        b"POST /_matrix/client/r0/register HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
    ]
    for i in range(150):
        body = _rand_body(rng) or b""
        req = rng.choice(templates) % len(body) + body
        if rng.random() < 0.3:
            b = bytearray(req)
            for _ in range(rng.randint(1, 6)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            req = bytes(b)
        raw = raw_request(server, req, timeout=5, read_all=False)
        st = status_of(raw)
        if st is not None:
            assert st < 500, (req[:200], raw[:300])
    server.assert_alive()
    server.api().get("/_matrix/client/versions").expect(200)


# --- logging ------------------------------------------------------------------------------------


def test_access_log_and_no_secrets(server_factory):
    srv = server_factory()
    api = srv.api()
    password = "very-secret-password-" + harness.unique_localpart()
    user = api.register(password=password)
    api.get("/account/whoami", token=user.access_token, query_token=True).expect(200)
    api.as_user(user).get("/devices").expect(200)
    api.login_raw({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user.user_id},
                   "password": password + "-wrong"}).expect(403, "M_FORBIDDEN")
    time.sleep(0.2)
    log = srv.stderr()
    assert user.access_token not in log, "access token leaked into the log"
    assert password not in log, "password leaked into the log"
    assert harness.SHARED_SECRET not in log, "registration_shared_secret leaked into the log"
    # One access-log line per request: method, path (without the token), status.
    lines = [ln for ln in log.splitlines() if "/account/whoami" in ln]
    assert lines, "no access log line for /account/whoami:\n" + log[-3000:]
    assert any("GET" in ln and "200" in ln for ln in lines), lines
    assert any("/devices" in ln and "GET" in ln and "200" in ln for ln in log.splitlines())
    assert any("/login" in ln and "403" in ln for ln in log.splitlines())
