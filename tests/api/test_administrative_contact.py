"""3PID endpoints (administrative_contact.yaml, the requestToken endpoints of
registration.yaml). Hearth has no 3PID support yet: GET /account/3pid is an empty list; the
endpoints that would add, bind or verify one answer a standard error (status 400 or 403, an M_
errcode). Deleting or unbinding an identifier the account does not have succeeds with
id_server_unbind_result "no-support" (the spec's 200 answer; there is no identity server to
unbind from, and Synapse answers the same). Request validation still comes first: a body missing
a required parameter is a 400."""

import pytest

import harness

# The exact errcode is not specified while 3PIDs are unsupported; it must be an M_ code
# (the harness checks the standard error shape: errcode and error).
UNSUPPORTED = (400, 403)
BAD_REQUEST = ("M_MISSING_PARAM", "M_BAD_JSON", "M_INVALID_PARAM", "M_NOT_JSON")


def expect_unsupported(r):
    r.expect(UNSUPPORTED)
    assert r.errcode.startswith("M_"), r
    return r


def test_get_3pids_empty(api, shared_user):
    r = api.with_token(shared_user.access_token).get("/account/3pid").expect(200)
    assert r.body == {"threepids": []}


def test_get_3pids_requires_token(api):
    api.get("/account/3pid").expect(401, "M_MISSING_TOKEN")


AUTHED = [
    ("/account/3pid", {"three_pid_creds": {"client_secret": "secret", "id_server": "id.example.org",
                                           "id_access_token": "tok", "sid": "sid1"}, "bind": False},
     {"three_pid_creds": {"client_secret": "secret"}}),
    ("/account/3pid/bind", {"client_secret": "secret", "id_server": "id.example.org",
                            "id_access_token": "tok", "sid": "sid1"},
     {"client_secret": "secret"}),

]

ABSENT = [
    ("/account/3pid/delete", {"medium": "email", "address": "nobody@example.org"},
     {"medium": "email"}),
    ("/account/3pid/unbind", {"medium": "email", "address": "nobody@example.org"},
     {"address": "nobody@example.org"}),
]


@pytest.mark.parametrize("path,body,missing", ABSENT, ids=[a[0] for a in ABSENT])
def test_3pid_remove_absent(api, shared_user, path, body, missing):
    a = api.with_token(shared_user.access_token)
    r = a.post(path, body).expect(200)
    assert r.body == {"id_server_unbind_result": "no-support"}
    a.post(path, missing).expect(400, BAD_REQUEST)
    a.post(path, {}).expect(400, BAD_REQUEST)
    a.post(path, dict(body, medium="carrier-pigeon")).expect(400, "M_INVALID_PARAM")
    a.post(path, [body]).expect(400, "M_BAD_JSON")


@pytest.mark.parametrize("path,body,missing", AUTHED, ids=[a[0] for a in AUTHED])
def test_3pid_endpoints_unsupported(api, shared_user, path, body, missing):
    a = api.with_token(shared_user.access_token)
    expect_unsupported(a.post(path, body))
    # Missing required parameters.
    a.post(path, missing).expect(400, BAD_REQUEST)
    a.post(path, {}).expect(400, BAD_REQUEST)
    # Not JSON / not an object.
    a.post(path, data="{", headers={"Content-Type": "application/json"}).expect(400, "M_NOT_JSON")
    a.post(path, [body]).expect(400, "M_BAD_JSON")


@pytest.mark.parametrize("path", [a[0] for a in AUTHED + ABSENT] + ["/account/3pid/add"])
def test_3pid_endpoints_require_token(api_r0, path):
    api_r0.post(path, {}).expect(401, "M_MISSING_TOKEN")


def test_3pid_add_unsupported(api):
    user = api.register()
    a = api.as_user(user)
    body = {"client_secret": "secret", "sid": "sid1"}
    r = a.post("/account/3pid/add", body)
    if r.status == 401:
        # UIA first is fine (it uses UIA); completing it must then give the error.
        assert "flows" in r.body, r
        body["auth"] = api.password_auth(user, r.body.get("session"))
        r = a.post("/account/3pid/add", body)
    expect_unsupported(r)
    assert a.get("/account/3pid").expect(200).body == {"threepids": []}


def test_3pid_add_missing_params(api_r0):
    user = api_r0.register()
    a = api_r0.as_user(user)
    a.post("/account/3pid/add", {"sid": "sid1", "auth": api_r0.password_auth(user)}).expect(400, BAD_REQUEST)


EMAIL_BODY = {"client_secret": "monkeys_are_GREAT", "email": "alice@example.org", "send_attempt": 1}
MSISDN_BODY = {"client_secret": "monkeys_are_GREAT", "country": "GB", "phone_number": "07700900001",
               "send_attempt": 1}

REQUEST_TOKEN = [
    ("/register/email/requestToken", EMAIL_BODY),
    ("/register/msisdn/requestToken", MSISDN_BODY),
    ("/account/password/email/requestToken", EMAIL_BODY),
    ("/account/password/msisdn/requestToken", MSISDN_BODY),
    ("/account/3pid/email/requestToken", EMAIL_BODY),
    ("/account/3pid/msisdn/requestToken", MSISDN_BODY),
]


@pytest.mark.parametrize("path,body", REQUEST_TOKEN, ids=[p for p, _ in REQUEST_TOKEN])
def test_request_token_unsupported(api, path, body):
    expect_unsupported(api.post(path, body))


@pytest.mark.parametrize("path,body", REQUEST_TOKEN, ids=[p for p, _ in REQUEST_TOKEN])
def test_request_token_missing_params(api_r0, path, body):
    # Every required parameter of request_{email,msisdn}_validation.yaml, dropped one at a time.
    for key in body:
        partial = {k: v for k, v in body.items() if k != key}
        api_r0.post(path, partial).expect(400, BAD_REQUEST)
    api_r0.post(path, {}).expect(400, BAD_REQUEST)
    api_r0.post(path).expect(400, "M_NOT_JSON")


@pytest.mark.parametrize("path,body", REQUEST_TOKEN, ids=[p for p, _ in REQUEST_TOKEN])
def test_request_token_wrong_types(api_r0, path, body):
    bad = dict(body, send_attempt="one")
    api_r0.post(path, bad).expect(400, ("M_BAD_JSON", "M_INVALID_PARAM"))
    bad = dict(body, client_secret=12)
    api_r0.post(path, bad).expect(400, ("M_BAD_JSON", "M_INVALID_PARAM"))


@pytest.mark.parametrize("path,body", REQUEST_TOKEN, ids=[p for p, _ in REQUEST_TOKEN])
def test_request_token_bad_client_secret(api_r0, path, body):
    # client_secret: "[0-9a-zA-Z.=_-]", 1..255 characters.
    for secret in ("", "has space", "x" * 256, "semi;colon"):
        api_r0.post(path, dict(body, client_secret=secret)).expect(400, ("M_INVALID_PARAM", "M_BAD_JSON"))


def test_3pid_wrong_method(api_r0, shared_user):
    api_r0.with_token(shared_user.access_token).put("/account/3pid", {}).expect(405, "M_UNRECOGNIZED")
