"""3PID endpoints (administrative_contact.yaml, the requestToken endpoints of registration.yaml;
client_server_api.rst "Adding Account Administrative Contact Information", "Notes on identity
servers"), against real local services: an SMTP sink that receives the validation mail, whose
link the tests follow, and an identity server (threepid_lib.py).

Hearth validates email addresses itself: requestToken mails a link to a page on the server
(Synapse's paths) and answers submit_url, where a client may post the token from the mail
instead. Phone numbers are not supported (no SMS provider): their requestToken endpoints answer
403 M_THREEPID_DENIED, the spec's answer for a 3PID the server does not allow. Where Synapse
differs the tests follow the spec and say so."""

import secrets
import time

import pytest
import requests

import harness
import threepid_lib as tl
from harness import SERVER_NAME

BAD_REQUEST = ("M_MISSING_PARAM", "M_BAD_JSON", "M_INVALID_PARAM", "M_NOT_JSON")


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
def mail_server(module_server_factory, sink, idsrv):
    srv = tl.start_server(module_server_factory, {"email": tl.email_config(sink.port)})
    idsrv.trust_homeserver(srv)
    return srv


@pytest.fixture
def mapi(mail_server, prefix):
    return mail_server.api(prefix)


def add_email(api, sink, user, address):
    """Validates address by mail and adds it to user's account."""
    before = sink.count_to(address)
    r, secret = tl.request_email_token(api, "3pid", address)
    r.expect(200)
    tl.validate_by_link(sink, address, count=before + 1)
    body = {"client_secret": secret, "sid": r.body["sid"]}
    api.as_user(user).uia("POST", "/account/3pid/add", body, user).expect(200)
    return r.body["sid"], secret


# --- GET /account/3pid --------------------------------------------------------------------------


def test_get_3pids_empty(api, shared_user):
    r = api.with_token(shared_user.access_token).get("/account/3pid").expect(200)
    assert r.body == {"threepids": []}


def test_get_3pids_requires_token(api):
    api.get("/account/3pid").expect(401, "M_MISSING_TOKEN")


@pytest.mark.parametrize("path", ["/account/3pid", "/account/3pid/bind", "/account/3pid/delete",
                                  "/account/3pid/unbind", "/account/3pid/add"])
def test_3pid_endpoints_require_token(api_r0, path):
    api_r0.post(path, {}).expect(401, "M_MISSING_TOKEN")


def test_3pid_wrong_method(api_r0, shared_user):
    api_r0.with_token(shared_user.access_token).put("/account/3pid", {}).expect(405, "M_UNRECOGNIZED")


# --- requestToken: request validation --------------------------------------------------------------

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
MSISDN_PATHS = [p for p, b in REQUEST_TOKEN if b is MSISDN_BODY]
EMAIL_PATHS = [p for p, b in REQUEST_TOKEN if b is EMAIL_BODY]


@pytest.mark.parametrize("path,body", REQUEST_TOKEN, ids=[p for p, _ in REQUEST_TOKEN])
def test_request_token_missing_params(mapi, path, body):
    # Every required parameter of request_{email,msisdn}_validation.yaml, dropped one at a time.
    for key in body:
        partial = {k: v for k, v in body.items() if k != key}
        mapi.post(path, partial).expect(400, "M_MISSING_PARAM")
    mapi.post(path, {}).expect(400, "M_MISSING_PARAM")
    mapi.post(path).expect(400, "M_NOT_JSON")


@pytest.mark.parametrize("path,body", REQUEST_TOKEN, ids=[p for p, _ in REQUEST_TOKEN])
def test_request_token_wrong_types(mapi, path, body):
    mapi.post(path, dict(body, send_attempt="one")).expect(400, "M_BAD_JSON")
    mapi.post(path, dict(body, client_secret=12)).expect(400, "M_BAD_JSON")
    mapi.post(path, dict(body, next_link=5)).expect(400, "M_BAD_JSON")
    mapi.post(path, dict(body, id_server=["x"])).expect(400, "M_BAD_JSON")


@pytest.mark.parametrize("path,body", REQUEST_TOKEN, ids=[p for p, _ in REQUEST_TOKEN])
def test_request_token_bad_client_secret(mapi, path, body):
    # client_secret: "[0-9a-zA-Z.=_-]", 1..255 characters.
    for secret in ("", "has space", "x" * 256, "semi;colon", "ünï"):
        mapi.post(path, dict(body, client_secret=secret)).expect(400, "M_INVALID_PARAM")


@pytest.mark.parametrize("path", EMAIL_PATHS)
@pytest.mark.parametrize("address", ["no-at-sign", "@example.org", "alice@", "a@b@c", "a b@example.org",
                                     "x" * 250 + "@example.org"])
def test_request_token_bad_email(mapi, path, address):
    mapi.post(path, dict(EMAIL_BODY, email=address)).expect(400, "M_INVALID_PARAM")


@pytest.mark.parametrize("path", MSISDN_PATHS)
def test_request_token_msisdn_not_supported(mapi, path):
    # SPEC: 403 M_THREEPID_DENIED "The homeserver does not allow the third party identifier as
    # a contact option" (no SMS provider; Synapse answers 400 M_UNKNOWN).
    mapi.post(path, MSISDN_BODY).expect(403, "M_THREEPID_DENIED")


@pytest.mark.parametrize("path", EMAIL_PATHS)
def test_request_token_next_link_must_be_http(mapi, path):
    for link in ("javascript:alert(1)", "ftp://example.org/", "example.org"):
        mapi.post(path, dict(EMAIL_BODY, next_link=link)).expect(400, "M_INVALID_PARAM")


@pytest.mark.parametrize("path", EMAIL_PATHS)
def test_request_token_without_email_config(api, path):
    # The default server has no email section: it validates no addresses, and it does not
    # delegate validation to identity servers (M_SERVER_NOT_TRUSTED for an id_server).
    api.post(path, dict(EMAIL_BODY, email=tl.unique_email())).expect(403, "M_THREEPID_DENIED")
    r = api.post(path, dict(EMAIL_BODY, email=tl.unique_email(), id_server="id.example.org",
                            id_access_token="tok"))
    r.expect(400, "M_SERVER_NOT_TRUSTED")


# --- requestToken: the mail ------------------------------------------------------------------------


def test_request_token_sends_mail_with_link(mapi, mail_server, sink):
    address = tl.unique_email()
    r, secret = tl.request_email_token(mapi, "3pid", address)
    r.expect(200)
    assert set(r.body) <= {"sid", "submit_url"}
    assert 0 < len(r.body["sid"]) <= 255 and all(c.isalnum() or c in ".=_-" for c in r.body["sid"])
    assert r.body["submit_url"].startswith(mail_server.base_url + "/")
    m = sink.wait_for(address)
    assert m["to"] == [address]
    assert m["from"] == "noreply@hearth.test"
    assert m["msg"]["From"] == "Hearth <noreply@hearth.test>"
    assert m["msg"]["To"] == address
    assert SERVER_NAME in m["msg"]["Subject"]
    link = tl.mail_link(m)
    assert link.startswith(mail_server.base_url + "/_matrix/client/unstable/add_threepid/email/submit_token?")
    params = tl.link_params(link)
    assert params["sid"] == r.body["sid"] and params["client_secret"] == secret
    assert params["token"] in tl.mail_text(m)  # also there to type into a client
    assert "Hearth Test" in tl.mail_text(m)  # app_name


def test_request_token_link_kinds(mapi, mail_server, sink):
    user = mapi.register()
    owned = tl.unique_email("owned")
    add_email(mapi, sink, user, owned)
    fresh = tl.unique_email("fresh")
    tl.request_email_token(mapi, "register", fresh)[0].expect(200)
    assert "/_matrix/client/unstable/registration/email/submit_token?" in tl.mail_link(sink.wait_for(fresh))
    tl.request_email_token(mapi, "password", owned)[0].expect(200)
    m = sink.wait_for(owned, count=2)
    assert "/_synapse/client/password_reset/email/submit_token?" in tl.mail_link(m)
    assert "Password reset" in m["msg"]["Subject"]


def test_request_token_canonicalises_address(mapi, sink):
    local = "Mixed-" + secrets.token_hex(4)
    r, _ = tl.request_email_token(mapi, "3pid", "  %s@Example.ORG " % local)
    r.expect(200)
    sink.wait_for("%s@example.org" % local.lower())


def test_send_attempt_semantics(mapi, sink):
    # SPEC: "The server will only send an email if the send_attempt is a number greater than the
    # most recent one which it has seen, scoped to that email + client_secret pair ... If they do
    # not, the server should respond with success but not resend the email."
    address = tl.unique_email()
    r1, secret = tl.request_email_token(mapi, "3pid", address, attempt=1)
    r1.expect(200)
    first = sink.wait_for(address)
    r2, _ = tl.request_email_token(mapi, "3pid", address, secret=secret, attempt=1)
    assert r2.expect(200).body["sid"] == r1.body["sid"]
    r3, _ = tl.request_email_token(mapi, "3pid", address, secret=secret, attempt=0)
    assert r3.expect(200).body["sid"] == r1.body["sid"]
    r4, _ = tl.request_email_token(mapi, "3pid", address, secret=secret, attempt=2)
    assert r4.expect(200).body["sid"] == r1.body["sid"]
    second = sink.wait_for(address, count=2)
    # The repeats of attempt 1 and the older attempt 0 sent nothing.
    time.sleep(0.5)
    assert sink.count_to(address) == 2
    # The new mail has a new token; the old link no longer validates.
    old, new = tl.mail_link(first), tl.mail_link(second)
    assert tl.link_params(old)["token"] != tl.link_params(new)["token"]
    assert requests.get(old, timeout=10).status_code == 400
    assert requests.get(new, timeout=10).status_code == 200
    # Another client_secret is another session.
    r5, _ = tl.request_email_token(mapi, "3pid", address, attempt=1)
    assert r5.expect(200).body["sid"] != r1.body["sid"]


def test_slow_smtp_server_does_not_hold_requests(server_factory):
    # Mail goes out off the request path: an SMTP server that never answers delays the mail,
    # not the request, and does not keep the server from stopping (the harness checks that).
    silent = tl.SilentSmtp().start()
    try:
        srv = tl.start_server(server_factory, {"email": tl.email_config(silent.port)})
        api = srv.api()
        t0 = time.monotonic()
        for i in range(3):
            tl.request_email_token(api, "3pid", tl.unique_email())[0].expect(200)
        assert time.monotonic() - t0 < 5
        api.get("/account/3pid", token=api.register().access_token).expect(200)
        srv.stop()
    finally:
        silent.stop()


def test_require_transport_security_refuses_plain_smtp(server_factory, sink):
    # The sink offers no STARTTLS: with require_transport_security nothing may be sent in clear.
    srv = tl.start_server(server_factory, {"email": tl.email_config(sink.port, require_transport_security=True)})
    address = tl.unique_email()
    tl.request_email_token(srv.api(), "3pid", address)[0].expect(200)
    deadline = time.monotonic() + 10
    while "not sent" not in srv.stderr() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "mail to %s" % address in srv.stderr() and "not sent" in srv.stderr()
    assert sink.count_to(address) == 0


# --- the link and submit_url -------------------------------------------------------------------------


def test_link_validates_once_and_twice(mapi, sink):
    address = tl.unique_email()
    tl.request_email_token(mapi, "3pid", address)[0].expect(200)
    link = tl.mail_link(sink.wait_for(address))
    r = requests.get(link, timeout=10)
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
    assert "validated" in r.text
    # Following it again (a mail client prefetching, the user clicking twice) is fine.
    assert requests.get(link, timeout=10).status_code == 200


@pytest.mark.parametrize("change", ["token", "client_secret", "sid"])
def test_link_with_wrong_parts_fails(mapi, sink, change):
    address = tl.unique_email()
    tl.request_email_token(mapi, "3pid", address)[0].expect(200)
    link = tl.mail_link(sink.wait_for(address))
    params = tl.link_params(link)
    params[change] = params[change] + "x"
    r = requests.get(link.split("?")[0], params=params, timeout=10)
    assert r.status_code == 400 and "<html" in r.text
    params.pop(change)
    assert requests.get(link.split("?")[0], params=params, timeout=10).status_code == 400


def test_expired_token_fails(server_factory, sink):
    srv = tl.start_server(server_factory, {"email": tl.email_config(sink.port, validation_token_lifetime="1s")})
    address = tl.unique_email()
    tl.request_email_token(srv.api(), "3pid", address)[0].expect(200)
    link = tl.mail_link(sink.wait_for(address))
    time.sleep(1.2)
    assert requests.get(link, timeout=10).status_code == 400


def test_next_link_redirect(mapi, sink):
    address = tl.unique_email()
    tl.request_email_token(mapi, "3pid", address, next_link="https://client.example/done?x=1")[0].expect(200)
    r = requests.get(tl.mail_link(sink.wait_for(address)), timeout=10, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "https://client.example/done?x=1"


def test_submit_url(mapi, sink):
    address = tl.unique_email()
    r, secret = tl.request_email_token(mapi, "3pid", address)
    sid, url = r.expect(200).body["sid"], r.body["submit_url"]
    token = tl.link_params(tl.mail_link(sink.wait_for(address)))["token"]
    path = url.split("127.0.0.1", 1)[1].split("/", 1)[1]
    a = mapi
    bad = a.post("/" + path, {"sid": sid, "client_secret": secret, "token": "wrong"}).expect(200)
    assert bad.body == {"success": False}
    a.post("/" + path, {"sid": sid, "client_secret": secret}).expect(400, "M_MISSING_PARAM")
    a.post("/" + path, {"sid": sid, "client_secret": 1, "token": token}).expect(400, "M_BAD_JSON")
    ok = a.post("/" + path, {"sid": sid, "client_secret": secret, "token": token}).expect(200)
    assert ok.body == {"success": True}
    user = a.register()
    a.as_user(user).uia("POST", "/account/3pid/add", {"sid": sid, "client_secret": secret}, user).expect(200)


# --- POST /account/3pid/add, GET /account/3pid ---------------------------------------------------------


def test_add_and_list(mapi, sink):
    user = mapi.register()
    address = tl.unique_email()
    t0 = int(time.time() * 1000)
    sid, secret = add_email(mapi, sink, user, address)
    r = mapi.as_user(user).get("/account/3pid").expect(200)
    assert len(r.body["threepids"]) == 1
    tp = r.body["threepids"][0]
    assert tp["medium"] == "email" and tp["address"] == address
    assert t0 - 5000 <= tp["validated_at"] <= tp["added_at"] <= int(time.time() * 1000) + 5000
    # A session adds its address once.
    r = mapi.as_user(user).uia("POST", "/account/3pid/add", {"sid": sid, "client_secret": secret}, user)
    r.expect(400, "M_THREEPID_AUTH_FAILED")


def test_add_requires_uia(mapi, sink):
    user = mapi.register()
    address = tl.unique_email()
    r, secret = tl.request_email_token(mapi, "3pid", address)
    tl.validate_by_link(sink, address)
    body = {"sid": r.body["sid"], "client_secret": secret}
    r = mapi.as_user(user).post("/account/3pid/add", body).expect(401)
    assert ["m.login.password"] in [f["stages"] for f in r.body["flows"]]
    body["auth"] = mapi.password_auth(user, r.body["session"], "wrong-password")
    mapi.as_user(user).post("/account/3pid/add", body).expect(401, "M_FORBIDDEN")
    assert mapi.as_user(user).get("/account/3pid").body == {"threepids": []}


def test_add_unvalidated_session(mapi, sink):
    user = mapi.register()
    address = tl.unique_email()
    r, secret = tl.request_email_token(mapi, "3pid", address)
    body = {"sid": r.expect(200).body["sid"], "client_secret": secret}
    mapi.as_user(user).uia("POST", "/account/3pid/add", body, user).expect(400, "M_THREEPID_AUTH_FAILED")
    tl.validate_by_link(sink, address)
    body["client_secret"] = secret + "x"
    mapi.as_user(user).uia("POST", "/account/3pid/add", body, user).expect(400, "M_THREEPID_AUTH_FAILED")
    body = {"sid": "nonexistent", "client_secret": secret}
    mapi.as_user(user).uia("POST", "/account/3pid/add", body, user).expect(400, "M_THREEPID_AUTH_FAILED")


def test_add_missing_params(mapi):
    user = mapi.register()
    a = mapi.as_user(user)
    a.post("/account/3pid/add", {"sid": "sid1", "auth": mapi.password_auth(user)}).expect(400, "M_MISSING_PARAM")
    a.post("/account/3pid/add", {"client_secret": "s", "auth": mapi.password_auth(user)}).expect(400, "M_MISSING_PARAM")
    a.post("/account/3pid/add", {"client_secret": 5, "sid": "x"}).expect(400, "M_BAD_JSON")


def test_address_in_use(mapi, sink):
    alice, bob = mapi.register(), mapi.register()
    address = tl.unique_email()
    add_email(mapi, sink, alice, address)
    # SPEC: "The homeserver must check that the given email address is not already associated
    # with an account on this homeserver."
    tl.request_email_token(mapi, "3pid", address)[0].expect(400, "M_THREEPID_IN_USE")
    tl.request_email_token(mapi, "register", address)[0].expect(400, "M_THREEPID_IN_USE")
    tl.request_email_token(mapi, "3pid", address.upper())[0].expect(400, "M_THREEPID_IN_USE")


def test_add_race_second_account_refused(mapi, sink):
    # Two sessions validated before either is added: the second add finds the address taken.
    alice, bob = mapi.register(), mapi.register()
    address = tl.unique_email()
    r1, s1 = tl.request_email_token(mapi, "3pid", address)
    r2, s2 = tl.request_email_token(mapi, "3pid", address)
    tl.validate_by_link(sink, address, count=1)
    tl.validate_by_link(sink, address, count=2)
    mapi.as_user(alice).uia("POST", "/account/3pid/add", {"sid": r1.body["sid"], "client_secret": s1},
                            alice).expect(200)
    r = mapi.as_user(bob).uia("POST", "/account/3pid/add", {"sid": r2.body["sid"], "client_secret": s2}, bob)
    r.expect(400, "M_THREEPID_IN_USE")


def test_password_request_token_unknown_address(mapi):
    tl.request_email_token(mapi, "password", tl.unique_email())[0].expect(400, "M_THREEPID_NOT_FOUND")


def test_allowed_local_3pids(server_factory, sink):
    srv = tl.start_server(server_factory, {
        "email": tl.email_config(sink.port),
        "allowed_local_3pids": [{"medium": "email", "pattern": ".*@allowed\\.example"}]})
    api = srv.api()
    tl.request_email_token(api, "3pid", "a@allowed.example")[0].expect(200)
    tl.request_email_token(api, "register", "a@other.example")[0].expect(403, "M_THREEPID_DENIED")
    # The whole address must match (not a prefix of it).
    tl.request_email_token(api, "3pid", "a@allowed.example.evil")[0].expect(403, "M_THREEPID_DENIED")


def test_request_token_rate_limited(server_factory, sink):
    srv = tl.start_server(server_factory, {"email": tl.email_config(sink.port),
                                           "rc_3pid_validation": {"per_second": 0.001, "burst_count": 2}})
    api = srv.api()
    for i in range(2):
        tl.request_email_token(api, "3pid", tl.unique_email())[0].expect(200)
    r = tl.request_email_token(api, "3pid", tl.unique_email())[0].expect(429, "M_LIMIT_EXCEEDED")
    assert r.body["retry_after_ms"] > 0


def test_3pid_changes_disabled(server_factory, sink):
    srv = tl.start_server(server_factory, {"email": tl.email_config(sink.port), "enable_3pid_changes": False})
    api = srv.api()
    user = api.register()
    # Synapse's enable_3pid_changes: false answers 400 M_FORBIDDEN.
    tl.request_email_token(api, "3pid", tl.unique_email())[0].expect(400, "M_FORBIDDEN")
    a = api.as_user(user)
    a.post("/account/3pid/add", {"sid": "x", "client_secret": "y"}).expect(400, "M_FORBIDDEN")
    a.post("/account/3pid/delete", {"medium": "email", "address": "a@example.org"}).expect(400, "M_FORBIDDEN")


# --- POST /account/3pid/delete, /unbind (without identity server binds) -------------------------------


@pytest.mark.parametrize("path", ["/account/3pid/delete", "/account/3pid/unbind"])
def test_3pid_remove_absent(mapi, path):
    a = mapi.as_user(mapi.register())
    # SPEC: "If the homeserver does not know the original id_server, it MUST return a
    # id_server_unbind_result of no-support."
    r = a.post(path, {"medium": "email", "address": "nobody@example.org"}).expect(200)
    assert r.body == {"id_server_unbind_result": "no-support"}
    a.post(path, {"medium": "email"}).expect(400, "M_MISSING_PARAM")
    a.post(path, {"address": "nobody@example.org"}).expect(400, "M_MISSING_PARAM")
    a.post(path, {}).expect(400, "M_MISSING_PARAM")
    a.post(path, {"medium": "carrier-pigeon", "address": "x"}).expect(400, "M_INVALID_PARAM")
    a.post(path, {"medium": "email", "address": 5}).expect(400, "M_BAD_JSON")
    a.post(path, {"medium": "email", "address": "a@example.org", "id_server": 5}).expect(400, "M_BAD_JSON")
    a.post(path, {"medium": "email", "address": "a@example.org", "id_server": "evil.example/x?"}).expect(
        400, "M_SERVER_NOT_TRUSTED")
    a.post(path, [{"medium": "email"}]).expect(400, "M_BAD_JSON")


def test_delete_frees_the_address(mapi, sink):
    alice, bob = mapi.register(), mapi.register()
    address = tl.unique_email()
    add_email(mapi, sink, alice, address)
    r = mapi.as_user(alice).post("/account/3pid/delete", {"medium": "email", "address": address.upper()})
    assert r.expect(200).body == {"id_server_unbind_result": "no-support"}
    assert mapi.as_user(alice).get("/account/3pid").body == {"threepids": []}
    add_email(mapi, sink, bob, address)
    assert [t["address"] for t in mapi.as_user(bob).get("/account/3pid").body["threepids"]] == [address]


# --- identity servers: /bind, /unbind, /delete ---------------------------------------------------------


def bind_body(idsrv, sid, secret, **extra):
    body = {"sid": sid, "client_secret": secret, "id_server": idsrv.name, "id_access_token": idsrv.token}
    body.update(extra)
    return body


def test_bind_and_unbind(mapi, idsrv):
    user = mapi.register()
    a = mapi.as_user(user)
    address = tl.unique_email()
    sid, secret = idsrv.add_session("email", address)
    a.post("/account/3pid/bind", bind_body(idsrv, sid, secret)).expect(200)
    assert idsrv.binds[("email", address)] == user.user_id
    call = idsrv.calls("/_matrix/identity/v2/3pid/bind")[-1]
    assert call["headers"]["Authorization"] == "Bearer " + idsrv.token
    # A bind is not an addition to the account.
    assert a.get("/account/3pid").body == {"threepids": []}
    # Unbinding goes to the server it was bound at, signed by this homeserver (the identity
    # server checks the X-Matrix signature).
    r = a.post("/account/3pid/unbind", {"medium": "email", "address": address}).expect(200)
    assert r.body == {"id_server_unbind_result": "success"}
    assert ("email", address) not in idsrv.binds
    assert idsrv.calls("/_matrix/identity/v2/3pid/unbind")[-1]["headers"]["Authorization"].startswith("X-Matrix ")
    # Forgotten: a second unbind has no server to ask.
    r = a.post("/account/3pid/unbind", {"medium": "email", "address": address}).expect(200)
    assert r.body == {"id_server_unbind_result": "no-support"}
    # Naming the server explicitly asks it.
    r = a.post("/account/3pid/unbind", {"medium": "email", "address": address, "id_server": idsrv.name})
    assert r.expect(200).body == {"id_server_unbind_result": "success"}


def test_unbind_refused_by_identity_server(mapi, idsrv):
    user = mapi.register()
    a = mapi.as_user(user)
    address = tl.unique_email()
    sid, secret = idsrv.add_session("email", address)
    a.post("/account/3pid/bind", bind_body(idsrv, sid, secret)).expect(200)
    idsrv.unbind_status = 404
    try:
        r = a.post("/account/3pid/unbind", {"medium": "email", "address": address}).expect(200)
        assert r.body == {"id_server_unbind_result": "no-support"}
    finally:
        idsrv.unbind_status = 200


def test_bind_errors_are_proxied(mapi, idsrv):
    a = mapi.as_user(mapi.register())
    sid, secret = idsrv.add_session("email", tl.unique_email())
    # SPEC: "Homeservers should simply proxy any errors received by the identity server".
    a.post("/account/3pid/bind", bind_body(idsrv, sid, secret, id_access_token="bad")).expect(401, "M_UNAUTHORIZED")
    a.post("/account/3pid/bind", bind_body(idsrv, sid, secret + "x")).expect(400, "M_NO_VALID_SESSION")


def test_bind_unreachable_identity_server(mapi, idsrv):
    a = mapi.as_user(mapi.register())
    port = harness.free_port()  # nothing listens there
    r = a.post("/account/3pid/bind", bind_body(idsrv, "s", "c", id_server="127.0.0.1:%d" % port))
    r.expect(502, "M_UNKNOWN")


def test_identity_server_on_private_address_refused(server_factory, idsrv):
    # Synapse's ip_range_blacklist (default: private and loopback ranges): a client cannot make
    # the server call into its own network. ip_range_whitelist makes exceptions (the other
    # tests whitelist 127.0.0.1).
    srv = tl.start_server(server_factory, {"ip_range_whitelist": harness.DELETE})
    api = srv.api()
    a = api.as_user(api.register())
    n = len(idsrv.requests)
    sid, secret = idsrv.add_session("email", tl.unique_email())
    a.post("/account/3pid/bind", bind_body(idsrv, sid, secret)).expect(502, "M_UNKNOWN")
    assert len(idsrv.requests) == n
    assert "refused by ip_range_blacklist" in srv.stderr()
    srv2 = tl.start_server(server_factory, {"ip_range_whitelist": harness.DELETE,
                                            "ip_range_blacklist": ["10.0.0.0/8"]})
    a2 = srv2.api().as_user(srv2.api().register())
    a2.post("/account/3pid/bind", bind_body(idsrv, sid, secret)).expect(200)


@pytest.mark.parametrize("id_server", ["evil.example/path", "user@host", "http://x.example", "a b", ""])
def test_bind_untrusted_id_server(mapi, idsrv, id_server):
    a = mapi.as_user(mapi.register())
    a.post("/account/3pid/bind", bind_body(idsrv, "s", "c", id_server=id_server)).expect(400, "M_SERVER_NOT_TRUSTED")


def test_bind_missing_params(mapi, idsrv):
    a = mapi.as_user(mapi.register())
    full = bind_body(idsrv, "s", "c")
    for key in full:
        a.post("/account/3pid/bind", {k: v for k, v in full.items() if k != key}).expect(400, "M_MISSING_PARAM")
    a.post("/account/3pid/bind", dict(full, sid=5)).expect(400, "M_BAD_JSON")
    a.post("/account/3pid/bind", data="{", headers={"Content-Type": "application/json"}).expect(400, "M_NOT_JSON")


def test_legacy_add_is_bind(mapi, idsrv):
    # SPEC: POST /account/3pid is deprecated: "an equivalent to /3pid/bind".
    user = mapi.register()
    a = mapi.as_user(user)
    address = tl.unique_email()
    sid, secret = idsrv.add_session("email", address)
    a.post("/account/3pid", {"three_pid_creds": bind_body(idsrv, sid, secret)}).expect(200)
    assert idsrv.binds[("email", address)] == user.user_id
    a.post("/account/3pid", {}).expect(400, "M_MISSING_PARAM")
    a.post("/account/3pid", {"three_pid_creds": "x"}).expect(400, "M_BAD_JSON")
    a.post("/account/3pid", {"three_pid_creds": {"client_secret": "c"}}).expect(400, "M_MISSING_PARAM")
    a.post("/account/3pid", {"three_pid_creds": bind_body(idsrv, sid, secret, id_access_token="bad")}).expect(
        401, "M_UNAUTHORIZED")


def test_delete_unbinds(mapi, sink, idsrv):
    user = mapi.register()
    a = mapi.as_user(user)
    address = tl.unique_email()
    add_email(mapi, sink, user, address)
    sid, secret = idsrv.add_session("email", address)
    a.post("/account/3pid/bind", bind_body(idsrv, sid, secret)).expect(200)
    r = a.post("/account/3pid/delete", {"medium": "email", "address": address}).expect(200)
    assert r.body == {"id_server_unbind_result": "success"}
    assert ("email", address) not in idsrv.binds
    assert a.get("/account/3pid").body == {"threepids": []}
