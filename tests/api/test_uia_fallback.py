"""User-Interactive Authentication fallback pages (client_server_api.rst "Fallback"):
GET /_matrix/client/r0/auth/<auth type>/fallback/web?session=<session ID> "MUST return an HTML
page which can perform this authentication stage", which on completion calls
window.onAuthDone or posts "authDone" to its opener; the client then resubmits with the session
only. Hearth has pages for the stages it offers: m.login.dummy, m.login.password,
m.login.email.identity (with an SMTP sink on 127.0.0.1) and m.login.sso (test_sso_login.py)."""

import re

import pytest
import requests

import threepid_lib as tl
from harness import unique_localpart


def page_url(srv, stage, prefix="r0"):
    return srv.base_url + "/_matrix/client/%s/auth/%s/fallback/web" % (prefix, stage)


def assert_done(r):
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"], r.text
    assert "window.onAuthDone()" in r.text and 'window.opener.postMessage("authDone", "*")' in r.text


def hidden(page, name):
    return re.search(r'name="%s" value="([^"]*)"' % name, page).group(1)


def test_dummy_fallback(server, prefix):
    api = server.api(prefix)
    body = {"username": unique_localpart(), "password": "pw-fallback-1"}
    session = api.register_raw(body).expect(401).body["session"]
    url = page_url(server, "m.login.dummy", prefix)
    page = requests.get(url, params={"session": session}, timeout=10)
    assert page.status_code == 200 and '<form method="post"' in page.text
    assert hidden(page.text, "session") == session
    assert_done(requests.post(url, data={"session": session}, timeout=10))
    body["auth"] = {"session": session}
    api.register_raw(body).expect(200)


def test_password_fallback(server, prefix):
    api = server.api(prefix)
    user = api.register()
    extra = api.login(user)
    a = api.as_user(user)
    path = "/devices/" + extra.device_id
    session = a.delete(path, {}).expect(401).body["session"]
    url = page_url(server, "m.login.password", prefix)
    page = requests.get(url, params={"session": session}, timeout=10)
    assert page.status_code == 200 and 'type="password"' in page.text
    r = requests.post(url, data={"session": session, "password": "wrong"}, timeout=10)
    assert r.status_code == 403 and 'type="password"' in r.text
    a.delete(path, {"auth": {"session": session}}).expect(401)
    assert_done(requests.post(url, data={"session": session, "password": user.password}, timeout=10))
    a.delete(path, {"auth": {"session": session}}).expect(200)


def test_password_fallback_needs_a_user(server):
    session = server.api().register_raw({"username": unique_localpart(), "password": "x1"}).body["session"]
    r = requests.post(page_url(server, "m.login.password"), data={"session": session, "password": "x"}, timeout=10)
    assert r.status_code == 400


def test_fallback_errors(server):
    url = page_url(server, "m.login.dummy")
    r = requests.get(url, timeout=10)
    assert r.status_code == 400 and r.json()["errcode"] == "M_MISSING_PARAM"
    r = requests.get(url, params={"session": "nope"}, timeout=10)
    assert r.status_code == 400 and "text/html" in r.headers["Content-Type"]
    r = requests.get(page_url(server, "m.login.recaptcha"), params={"session": "x"}, timeout=10)
    assert r.status_code == 404 and r.json()["errcode"] == "M_UNRECOGNIZED"
    r = requests.get(page_url(server, "m.login.email.identity"), params={"session": "x"}, timeout=10)
    assert r.status_code == 400
    # No SSO provider on the default server.
    session = server.api().register_raw({"username": unique_localpart(), "password": "x1"}).body["session"]
    r = requests.get(page_url(server, "m.login.sso"), params={"session": session}, timeout=10)
    assert r.status_code == 400


@pytest.fixture(scope="module")
def sink():
    s = tl.SmtpSink().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def email_server(module_server_factory, sink):
    return tl.start_server(module_server_factory, {"email": tl.email_config(sink.port),
                                                   "registrations_require_3pid": ["email"]})


def test_email_fallback(email_server, sink, prefix):
    api = email_server.api(prefix)
    body = {"username": unique_localpart(), "password": "pw-fallback-2"}
    session = api.register_raw(body).expect(401).body["session"]
    url = page_url(email_server, "m.login.email.identity", prefix)
    s = requests.Session()
    page = s.get(url, params={"session": session}, timeout=10)
    assert page.status_code == 200 and 'type="email"' in page.text
    r = s.post(url, data={"session": session, "email": "not an address"}, timeout=10)
    assert r.status_code == 400
    address = tl.unique_email("fallback")
    r = s.post(url, data={"session": session, "email": address}, timeout=10)
    assert r.status_code == 200 and "sent you an email" in r.text
    sid, secret = hidden(r.text, "sid"), hidden(r.text, "client_secret")
    # Not validated yet: the page says so.
    r = s.post(url, data={"session": session, "sid": sid, "client_secret": secret}, timeout=10)
    assert r.status_code == 401 and "not been validated" in r.text
    tl.validate_by_link(sink, address)
    assert_done(s.post(url, data={"session": session, "sid": sid, "client_secret": secret}, timeout=10))
    body["auth"] = {"session": session}
    r = api.register_raw(body).expect(200)
    tps = api.with_token(r.body["access_token"]).get("/account/3pid").expect(200).body["threepids"]
    assert [t["address"] for t in tps] == [address]


def test_email_fallback_address_in_use(email_server, sink):
    api = email_server.api()
    body = {"username": unique_localpart(), "password": "pw-fallback-3"}
    session = api.register_raw(body).expect(401).body["session"]
    url = page_url(email_server, "m.login.email.identity")
    address = tl.unique_email("used")
    r = requests.post(url, data={"session": session, "email": address}, timeout=10)
    sid, secret = hidden(r.text, "sid"), hidden(r.text, "client_secret")
    tl.validate_by_link(sink, address)
    assert_done(requests.post(url, data={"session": session, "sid": sid, "client_secret": secret}, timeout=10))
    body["auth"] = {"session": session}
    api.register_raw(body).expect(200)
    session = api.register_raw({"username": unique_localpart(), "password": "p"}).body["session"]
    r = requests.post(url, data={"session": session, "email": address}, timeout=10)
    assert r.status_code == 400 and "already in use" in r.text
