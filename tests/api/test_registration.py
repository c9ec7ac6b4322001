"""Account registration and management (registration.yaml; client_server_api.rst §Account
registration and management, §User-Interactive Authentication API; appendices/
identifier_grammar.rst §User Identifiers; modules/guest_access.rst)."""

import secrets

import pytest
import requests

import harness
from harness import LOCALPART_RE, SERVER_NAME, USER_ID_RE, unique_localpart


def assert_valid_user_id(user_id, server_name=SERVER_NAME):
    m = USER_ID_RE.match(user_id)
    assert m, "user_id %r does not follow the grammar" % user_id
    assert m.group(2) == server_name, user_id
    assert len(user_id) <= 255
    return m.group(1)


# --- the UIA dance ----------------------------------------------------------------


def test_register_first_request_is_401_flow_response(api):
    r = api.register_raw({"username": unique_localpart(), "password": "pw-abcdefgh"}).expect(401)
    flows = r.body["flows"]
    assert {"stages": ["m.login.dummy"]} in [{"stages": f["stages"]} for f in flows], flows
    assert isinstance(r.body.get("session"), str) and r.body["session"]
    assert isinstance(r.body.get("params"), dict)
    # Nothing completed yet, and no error on a first request without auth.
    assert r.body.get("completed", []) == []
    assert "errcode" not in r.body


def test_register_with_session(api):
    name = unique_localpart()
    body = {"username": name, "password": "pw-abcdefgh"}
    r = api.register_raw(body).expect(401)
    body["auth"] = {"type": "m.login.dummy", "session": r.body["session"]}
    r = api.register_raw(body).expect(200)
    assert r.body["user_id"] == "@%s:%s" % (name, SERVER_NAME)
    assert isinstance(r.body["access_token"], str) and r.body["access_token"]
    assert isinstance(r.body["device_id"], str) and r.body["device_id"]
    if "home_server" in r.body:
        assert r.body["home_server"] == SERVER_NAME
    # The new token works.
    who = api.with_token(r.body["access_token"]).get("/account/whoami").expect(200)
    assert who.body["user_id"] == r.body["user_id"]


def test_register_dummy_auth_without_prior_session(api):
    # What matrix-nio and others do: send auth {type: m.login.dummy} straight away.
    name = unique_localpart()
    r = api.register_raw({"username": name, "password": "pw-abcdefgh",
                          "auth": {"type": "m.login.dummy"}}).expect(200)
    assert r.body["user_id"] == "@%s:%s" % (name, SERVER_NAME)


def test_register_unknown_session_does_not_succeed(api):
    name = unique_localpart()
    r = api.register_raw({"username": name, "password": "pw-abcdefgh",
                          "auth": {"type": "m.login.dummy", "session": "no-such-session-" + secrets.token_hex(4)}})
    r.expect((400, 401))
    assert r.errcode is not None or "flows" in r.body
    api.get("/register/available", params={"username": name}).expect(200)


def test_register_unoffered_stage_is_rejected(api):
    # Only m.login.dummy is offered; a stage outside every flow must not complete the auth.
    name = unique_localpart()
    body = {"username": name, "password": "pw-abcdefgh"}
    r = api.register_raw(body).expect(401)
    body["auth"] = {"type": "m.login.recaptcha", "response": "x", "session": r.body["session"]}
    r = api.register_raw(body)
    r.expect((400, 401, 403))
    api.get("/register/available", params={"username": name}).expect(200)


def test_register_auth_without_type_is_rejected(api):
    name = unique_localpart()
    body = {"username": name, "password": "pw-abcdefgh"}
    r = api.register_raw(body).expect(401)
    body["auth"] = {"session": r.body["session"]}
    # An auth dict with only the session asks "am I done?": the dummy stage is not done.
    r = api.register_raw(body).expect(401)
    assert "flows" in r.body
    api.get("/register/available", params={"username": name}).expect(200)


def test_register_requires_auth_even_when_dummy(api):
    # "A request to an endpoint that uses UIA never succeeds without auth."
    name = unique_localpart()
    api.register_raw({"username": name, "password": "pw-abcdefgh"}).expect(401)
    api.get("/register/available", params={"username": name}).expect(200)


# --- username handling -------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    "",                      # localpart MUST NOT be empty
    "has space",
    "colon:here",
    "@at",
    "caf\u00e9",             # outside a-z0-9._=-/
    "semi;colon",
    "star*",
    "x" * 300,               # user ID longer than 255 characters
    "tab\there",
    "nul\u0000x",
])
def test_register_invalid_username(api, bad):
    # registration.yaml: the server MUST map the username onto the grammar or reject it with
    # M_INVALID_USERNAME; Hearth rejects (the issue). "Homeservers MUST perform the relevant
    # checks and return these codes before performing User-Interactive Authentication", so
    # the first request (without auth) already answers 400.
    # A NUL (valid JSON as "\u0000") may instead be refused for the whole body as M_BAD_JSON,
    # never as M_NOT_JSON.
    codes = ("M_INVALID_USERNAME", "M_BAD_JSON") if "\u0000" in bad else "M_INVALID_USERNAME"
    api.register_raw({"username": bad, "password": "pw-abcdefgh"}).expect(400, codes)
    # ...and also with a dummy auth, it must not register anything.
    api.register_raw({"username": bad, "password": "pw-abcdefgh",
                      "auth": {"type": "m.login.dummy"}}).expect(400, codes)


def test_register_all_grammar_characters(api_r0):
    name = "a.b_c=d-e/f0" + secrets.token_hex(3)
    user = api_r0.register(name)
    assert user.user_id == "@%s:%s" % (name, SERVER_NAME)


def test_register_uppercase_is_downcased_or_rejected(api_r0):
    # identifier_grammar.rst: upper-case is not allowed in user IDs, homeservers downcase
    # usernames when creating user IDs; registration.yaml also allows rejecting with
    # M_INVALID_USERNAME. Either is fine; an upper-case user ID is not.
    name = "Mixed" + secrets.token_hex(4)
    r = api_r0.register_raw({"username": name, "password": "pw-abcdefgh"})
    if r.status == 400:
        r.expect(400, "M_INVALID_USERNAME")
        return
    r.expect(401)
    r = api_r0.register_raw({"username": name, "password": "pw-abcdefgh",
                             "auth": {"type": "m.login.dummy", "session": r.body["session"]}}).expect(200)
    assert r.body["user_id"] == "@%s:%s" % (name.lower(), SERVER_NAME)


def test_register_user_in_use(api, shared_user):
    r = api.register_raw({"username": shared_user.localpart, "password": "pw-abcdefgh"})
    r.expect(400, "M_USER_IN_USE")
    r = api.register_raw({"username": shared_user.localpart, "password": "pw-abcdefgh",
                          "auth": {"type": "m.login.dummy"}})
    r.expect(400, "M_USER_IN_USE")


def test_register_user_in_use_differs_only_in_case(api_r0, shared_user):
    # @USER must not be able to become a different user than @user.
    r = api_r0.register_raw({"username": shared_user.localpart.upper(), "password": "pw-abcdefgh"})
    r.expect(400, ("M_USER_IN_USE", "M_INVALID_USERNAME"))


def test_register_user_in_use_after_session_started(api_r0):
    # The name is taken while the first client is in the middle of UIA: the final request
    # gets M_USER_IN_USE, not a second account.
    name = unique_localpart()
    r1 = api_r0.register_raw({"username": name, "password": "pw-abcdefgh"}).expect(401)
    api_r0.register(name)
    r = api_r0.register_raw({"username": name, "password": "pw-abcdefgh",
                             "auth": {"type": "m.login.dummy", "session": r1.body["session"]}})
    r.expect(400, "M_USER_IN_USE")


def test_register_generated_username(api):
    r = api.register_raw({"password": "pw-abcdefgh", "auth": {"type": "m.login.dummy"}}).expect(200)
    lp1 = assert_valid_user_id(r.body["user_id"])
    r2 = api.register_raw({"password": "pw-abcdefgh", "auth": {"type": "m.login.dummy"}}).expect(200)
    lp2 = assert_valid_user_id(r2.body["user_id"])
    assert lp1 != lp2
    # The generated account can log in with its password.
    api.login_raw({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": r.body["user_id"]},
                   "password": "pw-abcdefgh"}).expect(200)


@pytest.mark.parametrize("value", [5, True, ["a"], {"a": 1}])
def test_register_username_wrong_type(api_r0, value):
    api_r0.register_raw({"username": value, "password": "pw-abcdefgh",
                         "auth": {"type": "m.login.dummy"}}).expect(400, ("M_BAD_JSON", "M_INVALID_PARAM"))


@pytest.mark.parametrize("field,value", [
    ("password", 5), ("device_id", 7), ("initial_device_display_name", ["x"]),
    ("inhibit_login", "yes"), ("auth", "m.login.dummy"),
])
def test_register_other_fields_wrong_type(api_r0, field, value):
    body = {"username": unique_localpart(), "password": "pw-abcdefgh", "auth": {"type": "m.login.dummy"}}
    body[field] = value
    api_r0.register_raw(body).expect(400, ("M_BAD_JSON", "M_INVALID_PARAM"))
    api_r0.get("/register/available", params={"username": body["username"]}).expect(200)


def test_register_body_must_be_object(api_r0):
    api_r0.post("/register", ["username"]).expect(400, "M_BAD_JSON")
    api_r0.post("/register", data="{not json", headers={"Content-Type": "application/json"}).expect(400, "M_NOT_JSON")


def test_register_kind_invalid(api_r0):
    r = api_r0.register_raw({"username": unique_localpart(), "password": "pw-abcdefgh"}, kind="admin")
    r.expect(400, ("M_INVALID_PARAM", "M_UNRECOGNIZED", "M_UNKNOWN"))


# --- options ------------------------------------------------------------------------


def test_register_device_id_and_display_name(api):
    dev = harness.random_device_id()
    user = api.register(device_id=dev, initial_device_display_name="Jungle Phone")
    assert user.device_id == dev
    d = api.as_user(user).get("/devices/" + dev).expect(200)
    assert d.body["device_id"] == dev
    assert d.body["display_name"] == "Jungle Phone"


def test_register_inhibit_login(api):
    name = unique_localpart()
    r = api.register_raw({"username": name, "password": "pw-abcdefgh", "inhibit_login": True,
                          "auth": {"type": "m.login.dummy"}}).expect(200)
    assert r.body["user_id"] == "@%s:%s" % (name, SERVER_NAME)
    assert "access_token" not in r.body
    assert "device_id" not in r.body
    # The account exists and can log in; no device was created by the registration.
    u = api.login(r.body["user_id"], "pw-abcdefgh")
    devs = api.as_user(u).get("/devices").expect(200).body["devices"]
    assert [d["device_id"] for d in devs] == [u.device_id]


def test_register_inhibit_login_false(api_r0):
    r = api_r0.register_raw({"username": unique_localpart(), "password": "pw-abcdefgh",
                             "inhibit_login": False, "auth": {"type": "m.login.dummy"}}).expect(200)
    assert "access_token" in r.body and "device_id" in r.body


def test_register_bind_email_ignored(api_r0):
    r = api_r0.register_raw({"username": unique_localpart(), "password": "pw-abcdefgh",
                             "bind_email": True, "auth": {"type": "m.login.dummy"}}).expect(200)
    assert "access_token" in r.body


def test_register_unknown_fields_ignored(api_r0):
    api_r0.register_raw({"username": unique_localpart(), "password": "pw-abcdefgh",
                         "org.example.custom": {"x": [1, 2]}, "auth": {"type": "m.login.dummy"}}).expect(200)


# --- guests -------------------------------------------------------------------------


def test_register_guest(api):
    r = api.register_raw({}, kind="guest").expect(200)
    assert_valid_user_id(r.body["user_id"])
    assert r.body["access_token"] and r.body["device_id"]
    guest = api.with_token(r.body["access_token"])
    # Guests may list their devices (modules/guest_access.rst).
    devs = guest.get("/devices").expect(200).body["devices"]
    assert [d["device_id"] for d in devs] == [r.body["device_id"]]


def test_register_guest_ignores_parameters(api_r0):
    # "all parameters in the request body with the exception of initial_device_display_name
    # MUST BE ignored by the server. The server MUST pick a device_id for the account
    # regardless of input."
    name = unique_localpart("guestwant")
    r = api_r0.register_raw({"username": name, "password": "pw-abcdefgh", "device_id": "GUESTDEVICEID",
                             "initial_device_display_name": "Guest Phone", "inhibit_login": True},
                            kind="guest").expect(200)
    assert r.body["user_id"] != "@%s:%s" % (name, SERVER_NAME)
    assert r.body["device_id"] != "GUESTDEVICEID"
    assert r.body.get("access_token")
    dev = api_r0.with_token(r.body["access_token"]).get("/devices/" + harness.quote(r.body["device_id"])).expect(200)
    assert dev.body.get("display_name") == "Guest Phone"
    api_r0.get("/register/available", params={"username": name}).expect(200)


def test_register_guest_two_guests_differ(api_r0):
    a = api_r0.register_raw({}, kind="guest").expect(200).body
    b = api_r0.register_raw({}, kind="guest").expect(200).body
    assert a["user_id"] != b["user_id"]
    assert a["access_token"] != b["access_token"]


def test_guest_cannot_change_password(api_r0):
    # Guests only have access to the subset of the API in modules/guest_access.rst.
    r = api_r0.register_raw({}, kind="guest").expect(200)
    g = api_r0.with_token(r.body["access_token"])
    g.post("/account/password", {"new_password": "x"}).expect(403, "M_GUEST_ACCESS_FORBIDDEN")
    g.post("/account/deactivate", {}).expect(403, "M_GUEST_ACCESS_FORBIDDEN")


# --- registration disabled ----------------------------------------------------------


@pytest.fixture(scope="module")
def closed_server(module_server_factory):
    return module_server_factory({"enable_registration": False, "allow_guest_access": False})


def test_registration_disabled(closed_server, prefix):
    api = closed_server.api(prefix)
    api.register_raw({"username": unique_localpart(), "password": "pw-abcdefgh"}).expect(403, "M_FORBIDDEN")
    api.register_raw({"username": unique_localpart(), "password": "pw-abcdefgh",
                      "auth": {"type": "m.login.dummy"}}).expect(403, "M_FORBIDDEN")


def test_guest_registration_disabled(closed_server, prefix):
    closed_server.api(prefix).register_raw({}, kind="guest").expect(403, "M_FORBIDDEN")


def test_guest_allowed_while_registration_disabled(server_factory):
    # allow_guest_access is independent of enable_registration (as in Synapse).
    srv = server_factory({"enable_registration": False, "allow_guest_access": True})
    srv.api().register_raw({}, kind="guest").expect(200)
    srv.api().register_raw({"username": unique_localpart(), "password": "pw-abcdefgh"}).expect(403, "M_FORBIDDEN")


def test_registration_with_verification_required_offers_no_dummy(server_factory):
    # enable_registration without enable_registration_without_verification: no 3PID support
    # yet, so no flow can be completed with m.login.dummy alone.
    srv = server_factory({"enable_registration_without_verification": False})
    api = srv.api()
    name = unique_localpart()
    r = api.register_raw({"username": name, "password": "pw-abcdefgh"})
    if r.status == 401:
        assert ["m.login.dummy"] not in [f["stages"] for f in r.body["flows"]], r
        r = api.register_raw({"username": name, "password": "pw-abcdefgh",
                              "auth": {"type": "m.login.dummy", "session": r.body["session"]}})
        r.expect((400, 401, 403))
    else:
        r.expect(403, "M_FORBIDDEN")
    api.get("/register/available", params={"username": name}).expect(200)


# --- /register/available ------------------------------------------------------------


def test_available_true(api):
    r = api.get("/register/available", params={"username": unique_localpart()}).expect(200)
    assert r.body["available"] is True


def test_available_taken(api, shared_user):
    api.get("/register/available", params={"username": shared_user.localpart}).expect(400, "M_USER_IN_USE")


@pytest.mark.parametrize("bad", ["", "has space", "a:b", "caf\u00e9", "x" * 300])
def test_available_invalid(api, bad):
    api.get("/register/available", params={"username": bad}).expect(400, "M_INVALID_USERNAME")


def test_available_missing_param(api):
    api.get("/register/available").expect(400, "M_MISSING_PARAM")


def test_available_uppercase_of_taken(api_r0, shared_user):
    r = api_r0.get("/register/available", params={"username": shared_user.localpart.upper()})
    r.expect(400, ("M_USER_IN_USE", "M_INVALID_USERNAME"))


def test_available_post_not_allowed(api_r0):
    api_r0.post("/register/available", {"username": "x"}).expect(405, "M_UNRECOGNIZED")


# --- /account/password -----------------------------------------------------------------


def test_password_change_flow(api):
    user = api.register()
    a = api.as_user(user)
    r = a.post("/account/password", {"new_password": "new-pw-1"}).expect(401)
    assert ["m.login.password"] in [f["stages"] for f in r.body["flows"]]
    session = r.body.get("session")
    assert isinstance(session, str)
    r = a.post("/account/password", {"new_password": "new-pw-1",
                                     "auth": api.password_auth(user, session)}).expect(200)
    assert r.body == {}
    # The token used for the change is kept (SHOULD NOT revoke it).
    a.get("/account/whoami").expect(200)
    api.login_raw({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user.user_id},
                   "password": user.password}).expect(403, "M_FORBIDDEN")
    api.login(user.user_id, "new-pw-1")


def test_password_change_wrong_password_is_401_with_error(api_r0):
    user = api_r0.register()
    a = api_r0.as_user(user)
    r = a.post("/account/password", {"new_password": "new-pw-1"}).expect(401)
    session = r.body["session"]
    r = a.post("/account/password", {"new_password": "new-pw-1",
                                     "auth": api_r0.password_auth(user, session, password="wrong")})
    # §UIA: an unsuccessful attempt returns the 401 flow response plus errcode/error.
    r.expect(401, "M_FORBIDDEN")
    assert "flows" in r.body
    assert isinstance(r.body.get("error"), str)
    api_r0.login(user)  # old password still valid


def test_password_change_auth_as_other_user_fails(api_r0):
    alice = api_r0.register()
    mallory = api_r0.register()
    a = api_r0.as_user(mallory)
    r = a.post("/account/password", {"new_password": "new-pw-1"}).expect(401)
    # mallory authenticates UIA with alice's credentials: must not change mallory's password
    # (nor alice's).
    r = a.post("/account/password", {"new_password": "new-pw-1",
                                     "auth": api_r0.password_auth(alice, r.body["session"])})
    r.expect((401, 403), ("M_FORBIDDEN", "M_UNAUTHORIZED"))
    api_r0.login(alice)
    api_r0.login(mallory)


def test_password_change_requires_token(api_r0):
    # Without an access token, and with no 3PID flows available, the user cannot be
    # identified: either a 401 token error or a UIA 401 that cannot be completed.
    r = api_r0.post("/account/password", {"new_password": "x"})
    r.expect(401)


def test_password_change_missing_new_password(api_r0):
    user = api_r0.register()
    a = api_r0.as_user(user)
    r = a.post("/account/password", {"auth": api_r0.password_auth(user)})
    r.expect(400, ("M_MISSING_PARAM", "M_BAD_JSON"))
    api_r0.login(user)


def test_password_change_logs_out_other_devices_by_default(api):
    user = api.register()
    other = api.login(user)
    a = api.as_user(user)
    r = a.post("/account/password", {"new_password": "new-pw-2"}).expect(401)
    a.post("/account/password", {"new_password": "new-pw-2",
                                 "auth": api.password_auth(user, r.body["session"])}).expect(200)
    a.get("/account/whoami").expect(200)
    r = api.as_user(other).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    devs = [d["device_id"] for d in a.get("/devices").expect(200).body["devices"]]
    assert devs == [user.device_id]


def test_password_change_keep_other_devices(api_r0):
    user = api_r0.register()
    other = api_r0.login(user)
    a = api_r0.as_user(user)
    r = a.post("/account/password", {"new_password": "new-pw-3", "logout_devices": False}).expect(401)
    a.post("/account/password", {"new_password": "new-pw-3", "logout_devices": False,
                                 "auth": api_r0.password_auth(user, r.body["session"])}).expect(200)
    api_r0.as_user(other).get("/account/whoami").expect(200)
    devs = sorted(d["device_id"] for d in a.get("/devices").expect(200).body["devices"])
    assert devs == sorted([user.device_id, other.device_id])


def test_password_change_wrong_types(api_r0):
    user = api_r0.register()
    a = api_r0.as_user(user)
    a.post("/account/password", {"new_password": 12345, "auth": api_r0.password_auth(user)}).expect(
        400, ("M_BAD_JSON", "M_INVALID_PARAM"))
    a.post("/account/password", {"new_password": "x", "logout_devices": "no",
                                 "auth": api_r0.password_auth(user)}).expect(400, ("M_BAD_JSON", "M_INVALID_PARAM"))
    api_r0.login(user)


# --- /account/deactivate ----------------------------------------------------------------


def test_deactivate(api):
    user = api.register()
    second = api.login(user)
    a = api.as_user(user)
    r = a.post("/account/deactivate", {}).expect(401)
    assert ["m.login.password"] in [f["stages"] for f in r.body["flows"]]
    r = a.post("/account/deactivate", {"auth": api.password_auth(user, r.body["session"])}).expect(200)
    # No 3PIDs, so unbinding trivially succeeded.
    assert r.body["id_server_unbind_result"] == "success"
    # Every token dies.
    a.get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    api.as_user(second).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    # "removing all ability for the user to login again": login.yaml 403 M_USER_DEACTIVATED.
    api.login_raw({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user.user_id},
                   "password": user.password}).expect(403, "M_USER_DEACTIVATED")
    # The user ID is not reusable.
    api.get("/register/available", params={"username": user.localpart}).expect(400, "M_USER_IN_USE")
    api.register_raw({"username": user.localpart, "password": "pw-abcdefgh",
                      "auth": {"type": "m.login.dummy"}}).expect(400, "M_USER_IN_USE")


def test_deactivate_wrong_password(api_r0):
    user = api_r0.register()
    a = api_r0.as_user(user)
    r = a.post("/account/deactivate", {}).expect(401)
    a.post("/account/deactivate", {"auth": api_r0.password_auth(user, r.body["session"], "wrong")}).expect(
        401, "M_FORBIDDEN")
    a.get("/account/whoami").expect(200)
    api_r0.login(user)


def test_deactivate_requires_token(api_r0):
    api_r0.post("/account/deactivate", {}).expect(401)


def test_deactivate_with_id_server_param(api_r0):
    user = api_r0.register()
    r = api_r0.as_user(user).post("/account/deactivate", {"id_server": "id.example.org",
                                                          "auth": api_r0.password_auth(user)})
    if r.status == 401:  # a server may insist on a fresh session
        r = api_r0.as_user(user).post("/account/deactivate", {
            "id_server": "id.example.org", "auth": api_r0.password_auth(user, r.body["session"])})
    r.expect(200)
    assert r.body["id_server_unbind_result"] in ("success", "no-support")


# --- rate limiting ------------------------------------------------------------------------


def test_registration_rate_limited(server_factory):
    tight = {"per_second": 0.01, "burst_count": 2}
    srv = server_factory({"rc_registration": tight})
    api = srv.api()
    limited = None
    for i in range(6):
        r = api.register_raw({"username": unique_localpart(), "password": "pw-abcdefgh",
                              "auth": {"type": "m.login.dummy"}})
        if r.status == 429:
            limited = r
            break
        r.expect(200)
    assert limited is not None, "6 registrations with burst_count 2 were never rate limited"
    limited.expect(429, "M_LIMIT_EXCEEDED")
    assert isinstance(limited.body.get("retry_after_ms"), int) and limited.body["retry_after_ms"] > 0


# --- races and limits -----------------------------------------------------------------------


def test_register_same_name_concurrently(server):
    # Exactly one wins; the others get M_USER_IN_USE (not a 500 from a UNIQUE constraint).
    import concurrent.futures

    name = unique_localpart("race")

    def attempt(i):
        api = harness.Api(server, "r0")
        return api.register_raw({"username": name, "password": "pw-%d" % i, "auth": {"type": "m.login.dummy"}})

    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        results = list(ex.map(attempt, range(12)))
    ok = [r for r in results if r.status == 200]
    assert len(ok) == 1, results
    for r in results:
        if r.status != 200:
            r.expect(400, "M_USER_IN_USE")


def test_register_many_concurrently(server):
    import concurrent.futures

    def attempt(i):
        return harness.Api(server, "v3").register_raw(
            {"username": unique_localpart("many"), "password": "pw", "auth": {"type": "m.login.dummy"}})

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(attempt, range(32)))
    assert all(r.status == 200 for r in results), [r for r in results if r.status != 200][:3]
    assert len({r.body["access_token"] for r in results}) == 32
    assert len({r.body["user_id"] for r in results}) == 32


def test_register_huge_password(api_r0):
    # No crash and a clear answer: accepted, or refused as a bad parameter.
    r = api_r0.register_raw({"username": unique_localpart(), "password": "p" * 200_000,
                             "auth": {"type": "m.login.dummy"}})
    if r.status != 200:
        r.expect(400, ("M_INVALID_PARAM", "M_WEAK_PASSWORD", "M_BAD_JSON"))


# --- UIA sessions are bound to their operation and user -------------------------------------------


def test_uia_completed_session_cannot_authorise_another_operation(api_r0):
    user = api_r0.register()
    a = api_r0.as_user(user)
    r = a.post("/delete_devices", {"devices": []}).expect(401)
    session = r.body["session"]
    a.post("/delete_devices", {"devices": [], "auth": api_r0.password_auth(user, session)}).expect(200)
    # Re-using the (completed) session for a different, more dangerous request.
    r = a.post("/account/deactivate", {"auth": {"session": session}})
    assert r.status != 200, "a UIA session completed for /delete_devices deactivated the account"
    r.expect((400, 401, 403))
    a.get("/account/whoami").expect(200)
    api_r0.login(user)


def test_uia_session_of_other_user(api_r0):
    alice = api_r0.register()
    mallory = api_r0.register()
    a = api_r0.as_user(alice)
    r = a.post("/account/password", {"new_password": "alice-new"}).expect(401)
    session = r.body["session"]
    # Mallory completes the password stage as herself on alice's session id...
    m = api_r0.as_user(mallory)
    r = m.post("/account/password", {"new_password": "mallory-new", "auth": api_r0.password_auth(mallory, session)})
    # ...which must not authorise anything for alice afterwards.
    r2 = a.post("/account/password", {"new_password": "alice-new", "auth": {"session": session}})
    assert r2.status != 200, "alice's password changed on a session mallory completed"
    api_r0.login(alice)


# --- email (issue 10): registration, password reset, deactivation --------------------------------
# Against an SMTP sink and an identity server on 127.0.0.1 (threepid_lib.py). Config as Synapse:
# the email section turns on validation by this server; registrations_require_3pid: [email]
# makes it required; without the email section, email registration is off.

import threepid_lib as tl  # noqa: E402


@pytest.fixture(scope="module")
def sink():
    s = tl.SmtpSink().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def idsrv():
    s = tl.IdentityServer().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def optional_email_server(module_server_factory, sink, idsrv):
    srv = tl.start_server(module_server_factory, {"email": tl.email_config(sink.port)})
    idsrv.trust_homeserver(srv)
    return srv


@pytest.fixture(scope="module")
def required_email_server(module_server_factory, sink):
    return tl.start_server(module_server_factory, {"email": tl.email_config(sink.port),
                                                   "registrations_require_3pid": ["email"]})


def email_creds(r, secret, style="threepid_creds"):
    creds = {"sid": r.body["sid"], "client_secret": secret}
    return {style: [creds] if style == "threepidCreds" else creds}


def flows_of(r):
    return [f["stages"] for f in r.body["flows"]]


def register_by_email(api, sink, address, username=None, style="threepid_creds"):
    """The whole flow: 401, requestToken, the link, the email stage. Returns the final response."""
    body = {"username": username or unique_localpart(), "password": "pw-" + secrets.token_hex(6)}
    r = api.register_raw(body).expect(401)
    assert ["m.login.email.identity"] in flows_of(r)
    session = r.body["session"]
    before = sink.count_to(address)
    tok, secret = tl.request_email_token(api, "register", address)
    tok.expect(200)
    tl.validate_by_link(sink, address, count=before + 1)
    auth = {"type": "m.login.email.identity", "session": session}
    auth.update(email_creds(tok, secret, style))
    body["auth"] = auth
    return api.register_raw(body), body


def test_register_email_optional_flows(optional_email_server, prefix):
    r = optional_email_server.api(prefix).register_raw({"username": unique_localpart(), "password": "pw-x1"})
    assert sorted(flows_of(r.expect(401))) == [["m.login.dummy"], ["m.login.email.identity"]]
    # Dummy still registers without an address.
    optional_email_server.api(prefix).register()


@pytest.mark.parametrize("style", ["threepid_creds", "threepidCreds"])
def test_register_with_email(optional_email_server, sink, prefix, style):
    # r0.6.1 writes threepidCreds (a list); Synapse and later versions threepid_creds (an
    # object): both are accepted.
    api = optional_email_server.api(prefix)
    address = tl.unique_email()
    r, body = register_by_email(api, sink, address, style=style)
    r.expect(200)
    a = api.with_token(r.body["access_token"])
    tps = a.get("/account/3pid").expect(200).body["threepids"]
    assert [(t["medium"], t["address"]) for t in tps] == [("email", address)]
    # The address now logs in (m.id.thirdparty) and is taken.
    api.login_raw({"type": "m.login.password", "identifier": {"type": "m.id.thirdparty", "medium": "email",
                                                               "address": address},
                   "password": body["password"]}).expect(200)
    tl.request_email_token(api, "register", address)[0].expect(400, "M_THREEPID_IN_USE")


def test_register_email_required(required_email_server, sink, prefix):
    api = required_email_server.api(prefix)
    name = unique_localpart()
    r = api.register_raw({"username": name, "password": "pw-abcdef"}).expect(401)
    assert flows_of(r) == [["m.login.email.identity"]]
    # Dummy is not offered.
    api.register_raw({"username": name, "password": "pw-abcdef",
                      "auth": {"type": "m.login.dummy", "session": r.body["session"]}}).expect(400, "M_UNRECOGNIZED")
    r, _ = register_by_email(api, sink, tl.unique_email(), username=name)
    assert r.expect(200).body["user_id"] == "@%s:%s" % (name, SERVER_NAME)


def test_register_email_stage_before_validation(required_email_server, sink):
    api = required_email_server.api()
    body = {"username": unique_localpart(), "password": "pw-abcdef"}
    session = api.register_raw(body).expect(401).body["session"]
    tok, secret = tl.request_email_token(api, "register", tl.unique_email())
    body["auth"] = dict(email_creds(tok.expect(200), secret), type="m.login.email.identity", session=session)
    # Synapse's answer: the UIA 401 with M_UNAUTHORIZED.
    r = api.register_raw(body).expect(401, "M_UNAUTHORIZED")
    assert r.body["session"] == session and r.body["completed"] == []
    body["auth"] = {"type": "m.login.email.identity", "session": session}
    api.register_raw(body).expect(401, "M_UNAUTHORIZED")
    body["auth"] = {"type": "m.login.email.identity", "session": session, "threepid_creds": "x"}
    api.register_raw(body).expect(401, "M_UNAUTHORIZED")


def test_register_email_taken_meanwhile(optional_email_server, sink):
    # Two registrations validate the same address; the second finds it taken.
    api = optional_email_server.api()
    address = tl.unique_email()
    b1 = {"username": unique_localpart(), "password": "pw-abcdef"}
    b2 = {"username": unique_localpart(), "password": "pw-abcdef"}
    s1 = api.register_raw(b1).expect(401).body["session"]
    s2 = api.register_raw(b2).expect(401).body["session"]
    t1, c1 = tl.request_email_token(api, "register", address)
    t2, c2 = tl.request_email_token(api, "register", address)
    tl.validate_by_link(sink, address, count=1)
    tl.validate_by_link(sink, address, count=2)
    b1["auth"] = dict(email_creds(t1, c1), type="m.login.email.identity", session=s1)
    b2["auth"] = dict(email_creds(t2, c2), type="m.login.email.identity", session=s2)
    api.register_raw(b1).expect(200)
    api.register_raw(b2).expect(400, "M_THREEPID_IN_USE")
    api.get("/register/available", params={"username": b2["username"]}).expect(200)


def test_register_request_token_when_registration_disabled(server_factory, sink):
    srv = tl.start_server(server_factory, {"email": tl.email_config(sink.port), "enable_registration": False})
    tl.request_email_token(srv.api(), "register", tl.unique_email())[0].expect(403, "M_FORBIDDEN")


def test_verification_required_with_email_offers_email_only(server_factory, sink):
    # enable_registration without enable_registration_without_verification, but with email:
    # the email stage is the verification.
    srv = tl.start_server(server_factory, {"email": tl.email_config(sink.port),
                                           "enable_registration_without_verification": False})
    r = srv.api().register_raw({"username": unique_localpart(), "password": "pw-abcdef"}).expect(401)
    assert flows_of(r) == [["m.login.email.identity"]]


def password_reset(api, sink, address, new_password, logout_devices=None):
    before = sink.count_to(address)
    tok, secret = tl.request_email_token(api, "password", address)
    tok.expect(200)
    r, _ = tl.validate_by_link(sink, address, count=before + 1)
    assert r.status_code == 200
    body = {"new_password": new_password}
    if logout_devices is not None:
        body["logout_devices"] = logout_devices
    r = api.post("/account/password", body).expect(401)
    assert flows_of(r) == [["m.login.email.identity"]]
    body["auth"] = dict(email_creds(tok, secret), type="m.login.email.identity", session=r.body["session"])
    return api.post("/account/password", body)


def test_password_reset_by_email(optional_email_server, sink, prefix):
    api = optional_email_server.api(prefix)
    address = tl.unique_email()
    r, body = register_by_email(api, sink, address)
    old_token = r.expect(200).body["access_token"]
    password_reset(api, sink, address, "new-pw-123").expect(200)
    # SPEC: logout_devices defaults to true: with no token in the request, every device.
    api.with_token(old_token).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    api.login_raw({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": body["username"]},
                   "password": body["password"]}).expect(403, "M_FORBIDDEN")
    api.login(body["username"], "new-pw-123")


def test_password_reset_validation_is_single_use(optional_email_server, sink):
    api = optional_email_server.api()
    address = tl.unique_email()
    register_by_email(api, sink, address)[0].expect(200)
    before = sink.count_to(address)
    tok, secret = tl.request_email_token(api, "password", address)
    tl.validate_by_link(sink, address, count=before + 1)
    for i, expect in ((1, 200), (2, 401)):
        body = {"new_password": "pw-reset-%d" % i}
        session = api.post("/account/password", body).expect(401).body["session"]
        body["auth"] = dict(email_creds(tok, secret), type="m.login.email.identity", session=session)
        r = api.post("/account/password", body)
        if expect == 200:
            r.expect(200)
        else:
            r.expect(401, "M_UNAUTHORIZED")


def test_password_reset_keep_devices(optional_email_server, sink):
    api = optional_email_server.api()
    address = tl.unique_email()
    r, body = register_by_email(api, sink, address)
    token = r.expect(200).body["access_token"]
    password_reset(api, sink, address, "new-pw-456", logout_devices=False).expect(200)
    api.with_token(token).get("/account/whoami").expect(200)


def test_password_reset_link_needs_confirmation(optional_email_server, sink):
    # Opening the link shows a page with a form; only posting it validates (a mail scanner
    # that fetches links does not reset anyone's password).
    api = optional_email_server.api()
    address = tl.unique_email()
    register_by_email(api, sink, address)[0].expect(200)
    tok, secret = tl.request_email_token(api, "password", address)
    link = tl.mail_link(sink.wait_for(address, count=2))
    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and 'method="post"' in page.text
    body = {"new_password": "x-pw-1"}
    session = api.post("/account/password", body).expect(401).body["session"]
    body["auth"] = dict(email_creds(tok, secret), type="m.login.email.identity", session=session)
    api.post("/account/password", body).expect(401, "M_UNAUTHORIZED")
    params = tl.link_params(link)
    bad = dict(params, token="nope")
    assert requests.post(link.split("?")[0], data=bad, timeout=10).status_code == 400
    assert requests.post(link.split("?")[0], data=params, timeout=10).status_code == 200
    api.post("/account/password", body).expect(200)


def test_password_without_token_needs_email_config(api_r0):
    # The default server does not validate email: without a token there is no way in.
    api_r0.post("/account/password", {"new_password": "x"}).expect(401, "M_MISSING_TOKEN")


def test_password_change_with_token_keeps_password_flow(optional_email_server):
    api = optional_email_server.api()
    user = api.register()
    r = api.as_user(user).post("/account/password", {"new_password": "n-1"}).expect(401)
    assert flows_of(r) == [["m.login.password"]]


def test_deactivate_unbinds(optional_email_server, sink, idsrv, prefix):
    api = optional_email_server.api(prefix)
    address = tl.unique_email()
    r, body = register_by_email(api, sink, address)
    user = harness.User.from_response(r.expect(200).body, body["password"], optional_email_server)
    a = api.as_user(user)
    sid, secret = idsrv.add_session("email", address)
    a.post("/account/3pid/bind", {"sid": sid, "client_secret": secret, "id_server": idsrv.name,
                                  "id_access_token": idsrv.token}).expect(200)
    assert ("email", address) in idsrv.binds
    r = a.uia("POST", "/account/deactivate", {}, user).expect(200)
    assert r.body == {"id_server_unbind_result": "success"}
    assert ("email", address) not in idsrv.binds
    # The account's addresses are gone with it.
    tl.request_email_token(api, "register", address)[0].expect(200)


def test_deactivate_unbind_refused(optional_email_server, idsrv):
    api = optional_email_server.api()
    user = api.register()
    a = api.as_user(user)
    sid, secret = idsrv.add_session("email", tl.unique_email())
    a.post("/account/3pid/bind", {"sid": sid, "client_secret": secret, "id_server": idsrv.name,
                                  "id_access_token": idsrv.token}).expect(200)
    idsrv.unbind_status = 501
    try:
        r = a.uia("POST", "/account/deactivate", {}, user).expect(200)
    finally:
        idsrv.unbind_status = 200
    assert r.body == {"id_server_unbind_result": "no-support"}


def test_deactivate_bad_id_server(api_r0):
    user = api_r0.register()
    api_r0.as_user(user).post("/account/deactivate", {"id_server": "a/b"}).expect(400, "M_INVALID_PARAM")
