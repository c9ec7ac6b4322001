"""GET/POST /login (login.yaml; client_server_api.rst §Login, §Identifier types, §Relationship
between access tokens and devices)."""

import pytest

import harness
from harness import SERVER_NAME


@pytest.fixture(scope="module")
def login_user(server):
    return server.api("r0").register()


def pw_body(ident, password, **extra):
    body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": ident}, "password": password}
    body.update(extra)
    return body


def test_login_flows(api):
    r = api.get("/login").expect(200)
    types = [f["type"] for f in r.body["flows"]]
    assert "m.login.password" in types
    assert "m.login.token" in types


def test_login_localpart(api, login_user):
    r = api.login_raw(pw_body(login_user.localpart, login_user.password)).expect(200)
    assert r.body["user_id"] == login_user.user_id
    assert r.body["access_token"] and r.body["device_id"]
    assert r.body["access_token"] != login_user.access_token
    if "home_server" in r.body:
        assert r.body["home_server"] == SERVER_NAME
    who = api.with_token(r.body["access_token"]).get("/account/whoami").expect(200)
    assert who.body["user_id"] == login_user.user_id


def test_login_full_mxid(api, login_user):
    r = api.login_raw(pw_body(login_user.user_id, login_user.password)).expect(200)
    assert r.body["user_id"] == login_user.user_id


def test_login_is_case_insensitive_on_user(api_r0, login_user):
    # identifier_grammar.rst: "it should be possible to reach @user:matrix.org as
    # @USER:matrix.org".
    r = api_r0.login_raw(pw_body(login_user.localpart.upper(), login_user.password)).expect(200)
    assert r.body["user_id"] == login_user.user_id
    r = api_r0.login_raw(pw_body("@%s:%s" % (login_user.localpart.upper(), SERVER_NAME),
                                 login_user.password)).expect(200)
    assert r.body["user_id"] == login_user.user_id


def test_login_legacy_user_field(api, login_user):
    r = api.login_raw({"type": "m.login.password", "user": login_user.localpart,
                       "password": login_user.password}).expect(200)
    assert r.body["user_id"] == login_user.user_id
    r = api.login_raw({"type": "m.login.password", "user": login_user.user_id,
                       "password": login_user.password}).expect(200)
    assert r.body["user_id"] == login_user.user_id


def test_login_wrong_password(api, login_user):
    api.login_raw(pw_body(login_user.user_id, login_user.password + "x")).expect(403, "M_FORBIDDEN")


def test_login_password_is_case_sensitive(api_r0, login_user):
    api_r0.login_raw(pw_body(login_user.user_id, login_user.password.upper())).expect(403, "M_FORBIDDEN")


def test_login_unknown_user(api):
    api.login_raw(pw_body("nobody-" + harness.unique_localpart(), "whatever")).expect(403, "M_FORBIDDEN")


def test_login_foreign_server_user(api_r0, login_user):
    api_r0.login_raw(pw_body("@%s:other.example" % login_user.localpart, login_user.password)).expect(
        403, "M_FORBIDDEN")


def test_login_empty_password(api_r0, login_user):
    api_r0.login_raw(pw_body(login_user.user_id, "")).expect(403, "M_FORBIDDEN")


def test_login_thirdparty(api):
    # "In the case that the homeserver does not know about the supplied 3PID, the
    # homeserver must respond with 403 Forbidden."
    r = api.login_raw({"type": "m.login.password",
                       "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "a@example.org"},
                       "password": "x"})
    r.expect(403, ("M_FORBIDDEN", "M_UNKNOWN"))


def test_login_phone(api_r0):
    r = api_r0.login_raw({"type": "m.login.password",
                          "identifier": {"type": "m.id.phone", "country": "GB", "phone": "07700900001"},
                          "password": "x"})
    r.expect(403, ("M_FORBIDDEN", "M_UNKNOWN"))


def test_login_legacy_medium_address(api_r0):
    r = api_r0.login_raw({"type": "m.login.password", "medium": "email", "address": "a@example.org",
                          "password": "x"})
    r.expect(403, ("M_FORBIDDEN", "M_UNKNOWN"))


def test_login_unknown_identifier_type(api_r0):
    r = api_r0.login_raw({"type": "m.login.password", "identifier": {"type": "m.id.carrier_pigeon"},
                          "password": "x"})
    r.expect((400, 403), ("M_UNKNOWN", "M_INVALID_PARAM", "M_UNRECOGNIZED", "M_FORBIDDEN"))


def test_login_unknown_type(api):
    # login.yaml 400 example: {"errcode": "M_UNKNOWN", "error": "Bad login type."}
    api.login_raw({"type": "m.login.carrier_pigeon", "user": "x", "password": "y"}).expect(400, "M_UNKNOWN")


def test_login_missing_type(api_r0, login_user):
    api_r0.login_raw({"identifier": {"type": "m.id.user", "user": login_user.user_id},
                      "password": login_user.password}).expect(400, ("M_MISSING_PARAM", "M_BAD_JSON", "M_UNKNOWN"))


def test_login_missing_identifier(api_r0):
    api_r0.login_raw({"type": "m.login.password", "password": "x"}).expect(
        400, ("M_MISSING_PARAM", "M_BAD_JSON", "M_INVALID_PARAM", "M_UNKNOWN"))


def test_login_missing_password(api_r0, login_user):
    api_r0.login_raw({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": login_user.user_id}}
                     ).expect(400, ("M_MISSING_PARAM", "M_BAD_JSON", "M_INVALID_PARAM"))


@pytest.mark.parametrize("body", [
    {"type": 5, "user": "x", "password": "y"},
    {"type": "m.login.password", "identifier": "m.id.user", "password": "y"},
    {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": 5}, "password": "y"},
    {"type": "m.login.password", "identifier": {"type": 7, "user": "x"}, "password": "y"},
    {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "x"}, "password": 5},
    {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "x"}, "password": ["y"]},
    {"type": "m.login.password", "user": ["x"], "password": "y"},
    {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "x"}, "password": "y", "device_id": 5},
    {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "x"}, "password": "y",
     "initial_device_display_name": {}},
    {"type": "m.login.token", "token": 5},
])
def test_login_wrong_types(api_r0, body):
    api_r0.login_raw(body).expect(400, ("M_BAD_JSON", "M_INVALID_PARAM"))


def test_login_not_json(api_r0):
    api_r0.post("/login", data="type=m.login.password", headers={"Content-Type": "application/json"}).expect(
        400, "M_NOT_JSON")
    api_r0.post("/login").expect(400, "M_NOT_JSON")  # empty body


def test_login_token_invalid(api):
    api.login_raw({"type": "m.login.token", "token": "not-a-login-token"}).expect(403, "M_FORBIDDEN")


def test_login_token_missing(api_r0):
    api_r0.login_raw({"type": "m.login.token"}).expect((400, 403), ("M_MISSING_PARAM", "M_BAD_JSON", "M_FORBIDDEN"))


def test_login_access_token_is_not_a_login_token(api_r0, login_user):
    api_r0.login_raw({"type": "m.login.token", "token": login_user.access_token}).expect(403, "M_FORBIDDEN")


def test_login_new_device_each_time(api_r0, login_user):
    a = api_r0.login(login_user)
    b = api_r0.login(login_user)
    assert a.device_id != b.device_id
    assert a.access_token != b.access_token
    devs = {d["device_id"] for d in api_r0.as_user(a).get("/devices").expect(200).body["devices"]}
    assert {a.device_id, b.device_id} <= devs


def test_login_device_id_and_display_name(api, login_user):
    dev = harness.random_device_id()
    u = api.login(login_user, device_id=dev, initial_device_display_name="Login Phone")
    assert u.device_id == dev
    d = api.as_user(u).get("/devices/" + dev).expect(200)
    assert d.body["display_name"] == "Login Phone"


def test_login_device_id_reuse_replaces_token(api, login_user):
    dev = harness.random_device_id()
    first = api.login(login_user, device_id=dev, initial_device_display_name="First Name")
    second = api.login(login_user, device_id=dev, initial_device_display_name="Second Name")
    assert second.device_id == dev
    assert first.access_token != second.access_token
    # "If the client sets the device_id, the server will invalidate any access token
    # previously assigned to that device."
    api.as_user(first).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    api.as_user(second).get("/account/whoami").expect(200)
    devs = [d for d in api.as_user(second).get("/devices").expect(200).body["devices"] if d["device_id"] == dev]
    assert len(devs) == 1
    # initial_device_display_name is "Ignored if device_id corresponds to a known device".
    assert devs[0].get("display_name") == "First Name"


def test_login_device_id_of_other_user_is_not_shared(api_r0, login_user):
    other = api_r0.register()
    dev = harness.random_device_id()
    a = api_r0.login(login_user, device_id=dev)
    b = api_r0.login(other, device_id=dev)
    # Devices are per user: b's login must not touch a's session.
    api_r0.as_user(a).get("/account/whoami").expect(200)
    assert api_r0.as_user(b).get("/account/whoami").expect(200).body["user_id"] == other.user_id
    devs = [d["device_id"] for d in api_r0.as_user(b).get("/devices").expect(200).body["devices"]]
    assert dev in devs


def test_login_with_stale_token_in_request_is_fine(api_r0, login_user):
    # /login has no security requirement; a client retrying after soft logout still sends
    # its dead token.
    api_r0.login_raw(pw_body(login_user.user_id, login_user.password), token="dead-token").expect(200)


def test_login_rate_limited(server_factory):
    tight = {"per_second": 0.01, "burst_count": 3}
    srv = server_factory({"rc_login": {"address": tight, "account": tight, "failed_attempts": tight}})
    api = srv.api()
    user = api.register()
    limited = None
    for _ in range(10):
        r = api.login_raw(pw_body(user.user_id, "wrong-password"))
        if r.status == 429:
            limited = r
            break
        r.expect(403, "M_FORBIDDEN")
    assert limited is not None, "10 failed logins with burst_count 3 were never rate limited"
    limited.expect(429, "M_LIMIT_EXCEEDED")
    assert isinstance(limited.body.get("retry_after_ms"), int) and limited.body["retry_after_ms"] > 0
    assert limited.headers.get("Access-Control-Allow-Origin") == "*"


def test_login_rate_limit_per_address(server_factory):
    tight = {"per_second": 0.01, "burst_count": 3}
    srv = server_factory({"rc_login": {"address": tight}})
    api = srv.api()
    seen = []
    for _ in range(8):
        r = api.login_raw(pw_body(harness.unique_localpart("nobody"), "x"))
        seen.append(r.status)
        if r.status == 429:
            r.expect(429, "M_LIMIT_EXCEEDED")
            break
        r.expect(403, "M_FORBIDDEN")
    assert 429 in seen, seen


def test_access_tokens_look_random(api_r0, login_user):
    # 256-bit random tokens (the issue): at least 32 characters, all distinct.
    tokens = {api_r0.login(login_user).access_token for _ in range(5)}
    assert len(tokens) == 5
    assert all(len(t) >= 32 for t in tokens), tokens
    assert not any(login_user.localpart in t for t in tokens), tokens


def test_login_same_device_concurrently(server, login_user):
    # At most one active access token per device, even under a race.
    import concurrent.futures

    dev = harness.random_device_id()

    def attempt(i):
        return harness.Api(server, "r0").login_raw(pw_body(login_user.user_id, login_user.password, device_id=dev))

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(attempt, range(8)))
    for r in results:
        r.expect(200)
    alive = [r for r in results
             if harness.Api(server, "r0", r.body["access_token"]).get("/account/whoami").status == 200]
    assert len(alive) == 1, "%d tokens alive for one device" % len(alive)
    tok = alive[0].body["access_token"]
    devs = [d for d in harness.Api(server, "r0", tok).get("/devices").expect(200).body["devices"]
            if d["device_id"] == dev]
    assert len(devs) == 1


# --- 3PID login, token login, soft logout (issue 10) ------------------------------------------------

import time  # noqa: E402

import threepid_lib as tl  # noqa: E402


@pytest.fixture(scope="module")
def sink():
    s = tl.SmtpSink().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def mail_server(module_server_factory, sink):
    return tl.start_server(module_server_factory, {"email": tl.email_config(sink.port)})


@pytest.fixture(scope="module")
def email_user(mail_server, sink):
    """A user with an email address on their account."""
    api = mail_server.api()
    user = api.register()
    address = tl.unique_email("login")
    tok, secret = tl.request_email_token(api, "3pid", address)
    tl.validate_by_link(sink, address)
    api.as_user(user).uia("POST", "/account/3pid/add", {"sid": tok.body["sid"], "client_secret": secret},
                          user).expect(200)
    return user, address


def test_login_by_email(mail_server, email_user, prefix):
    api = mail_server.api(prefix)
    user, address = email_user
    ident = {"type": "m.id.thirdparty", "medium": "email", "address": address}
    r = api.login_raw({"type": "m.login.password", "identifier": ident, "password": user.password}).expect(200)
    assert r.body["user_id"] == user.user_id
    # Addresses are compared in canonical form.
    ident["address"] = "  " + address.upper()
    api.login_raw({"type": "m.login.password", "identifier": ident, "password": user.password}).expect(200)
    # The r0 spec's older form: medium and address beside the password.
    api.login_raw({"type": "m.login.password", "medium": "email", "address": address,
                   "password": user.password}).expect(200)
    api.login_raw({"type": "m.login.password", "identifier": dict(ident, address=address),
                   "password": "wrong"}).expect(403, "M_FORBIDDEN")


def test_login_by_unknown_email(mail_server, email_user):
    # SPEC: "In the case that the homeserver does not know about the supplied 3PID, the
    # homeserver must respond with 403 Forbidden."
    api = mail_server.api()
    user, _ = email_user
    for ident in ({"type": "m.id.thirdparty", "medium": "email", "address": tl.unique_email()},
                  {"type": "m.id.thirdparty", "medium": "msisdn", "address": "447700900001"},
                  {"type": "m.id.thirdparty", "medium": "email", "address": "not-an-address"}):
        api.login_raw({"type": "m.login.password", "identifier": ident, "password": user.password}).expect(
            403, "M_FORBIDDEN")
    api.login_raw({"type": "m.login.password", "identifier": {"type": "m.id.thirdparty", "medium": "email"},
                   "password": "x"}).expect(400, "M_BAD_JSON")


def test_uia_password_by_email_identifier(mail_server, email_user):
    # SPEC: m.login.password in UIA: "Alternatively reply using a 3PID bound to the user's
    # account".
    api = mail_server.api()
    user, address = email_user
    extra = api.login(user)
    a = api.as_user(user)
    path = "/devices/" + extra.device_id
    r = a.delete(path, {}).expect(401)
    auth = {"type": "m.login.password", "session": r.body["session"], "password": user.password,
            "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": address}}
    a.delete(path, {"auth": auth}).expect(200)


def login_token_cli(srv, user, *extra):
    srv.write_config()
    return harness.run_cli("login-token", "--config", srv.config_path, *extra, user)


def test_login_token_from_command(server, prefix):
    api = server.api(prefix)
    user = api.register()
    r = login_token_cli(server, user.localpart)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    body = {"type": "m.login.token", "token": token, "device_id": "TOKENDEV"}
    out = api.login_raw(body).expect(200)
    assert out.body["user_id"] == user.user_id and out.body["device_id"] == "TOKENDEV"
    api.with_token(out.body["access_token"]).get("/account/whoami").expect(200)
    # Single use.
    api.login_raw(body).expect(403, "M_FORBIDDEN")


def test_login_token_expires(server):
    api = server.api()
    user = api.register()
    r = login_token_cli(server, user.user_id, "--lifetime", "1s")
    assert r.returncode == 0, r.stderr
    time.sleep(1.3)
    api.login_raw({"type": "m.login.token", "token": r.stdout.strip()}).expect(403, "M_FORBIDDEN")


def test_login_token_command_errors(server):
    r = login_token_cli(server, "nobody-" + harness.unique_localpart())
    assert r.returncode != 0 and "no active account" in r.stderr
    r = login_token_cli(server, "x", "--lifetime", "2d")
    assert r.returncode == 2
    user = server.api().register()
    server.api().as_user(user).uia("POST", "/account/deactivate", {}, user).expect(200)
    assert login_token_cli(server, user.user_id).returncode != 0


def test_login_token_of_deactivated_user(server):
    api = server.api()
    user = api.register()
    r = login_token_cli(server, user.user_id)
    assert r.returncode == 0
    api.as_user(user).uia("POST", "/account/deactivate", {}, user).expect(200)
    api.login_raw({"type": "m.login.token", "token": r.stdout.strip()}).expect(403, "M_USER_DEACTIVATED")


@pytest.fixture(scope="module", params=["session_lifetime", "access_token_lifetime"])
def short_sessions(module_server_factory, request):
    # Synapse's session_lifetime; access_token_lifetime is the same setting under the name the
    # issue uses.
    return module_server_factory({request.param: "1s"})


def test_soft_logout(short_sessions, prefix):
    api = short_sessions.api(prefix)
    user = api.register(initial_device_display_name="Laptop")
    a = api.as_user(user)
    a.get("/account/whoami").expect(200)
    time.sleep(1.2)
    # SPEC: "Soft logout": 401 M_UNKNOWN_TOKEN with soft_logout true ...
    r = a.get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    assert r.body["soft_logout"] is True
    # ... "the client can acquire a new access token by specifying the device ID it is already
    # using to the login API"; the device (and what hangs off it) survives.
    fresh = api.login(user, device_id=user.device_id)
    assert fresh.device_id == user.device_id and fresh.access_token != user.access_token
    devs = api.as_user(fresh).get("/devices").expect(200).body["devices"]
    assert [(d["device_id"], d.get("display_name")) for d in devs] == [(user.device_id, "Laptop")]
    # "In either case, the client's previously known access token will no longer function."
    r = a.get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    assert r.body.get("soft_logout") is False


def test_soft_logout_not_for_unknown_tokens(short_sessions):
    r = short_sessions.api().with_token("hth_nope").get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    assert r.body.get("soft_logout", False) is False


def test_soft_logout_guests_do_not_expire(short_sessions):
    api = short_sessions.api()
    g = api.register_raw({}, kind="guest").expect(200).body
    time.sleep(1.2)
    api.with_token(g["access_token"]).get("/account/whoami").expect(200)


def test_tokens_do_not_expire_by_default(api_r0, login_user):
    # Without session_lifetime a token lives until logout.
    api_r0.with_token(login_user.access_token).get("/account/whoami").expect(200)
