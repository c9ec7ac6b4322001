"""SSO client login (modules/sso_login.rst, sso_login_redirect.yaml) with an OpenID Connect
provider run by the test on 127.0.0.1 (threepid_lib.OidcProvider), driven through the redirect
chain with requests; the m.login.sso UIA stage and its fallback page (client_server_api.rst
"Single Sign-On", "Fallback"). Configuration and paths are Synapse's: oidc_providers,
sso.client_whitelist, /_synapse/client/oidc/callback, and the confirmation page Synapse shows
before handing a login token to a client not in the whitelist.

The redirect chain is plain HTTP (302s and one cookie), which requests follows here step by
step; test_sso_chromium.py runs the round trip once in headless Chromium."""

import re
import secrets
import urllib.parse

import pytest
import requests

import harness
import threepid_lib as tl
from harness import SERVER_NAME

CLIENT = "http://client.example/app/"


@pytest.fixture(scope="module")
def idp():
    p = tl.OidcProvider().start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def sso_server(module_server_factory, idp):
    return tl.start_server(module_server_factory, {"oidc_providers": [idp.config()],
                                                   "sso": {"client_whitelist": [CLIENT]}})


def new_user(idp, **claims):
    name = "u" + secrets.token_hex(4)
    user = {"sub": "sub-" + secrets.token_hex(6), "preferred_username": name, "name": "User " + name,
            "email": name + "@idp.example"}
    user.update(claims)
    idp.next_user = user
    return user


def start(srv, redirect_url=CLIENT, idp_id=None, session=None):
    """GET /login/sso/redirect: the 302 to the provider, in a fresh browser session."""
    s = session or requests.Session()
    path = "/_matrix/client/r0/login/sso/redirect" + ("/" + idp_id if idp_id else "")
    r = s.get(srv.base_url + path, params={"redirectUrl": redirect_url}, allow_redirects=False, timeout=10)
    return s, r


def through_provider(s, r):
    """Follows the provider's authorize redirect; returns the callback's response."""
    assert r.status_code == 302, r.text
    r = s.get(r.headers["Location"], allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    callback = r.headers["Location"]
    return s.get(callback, allow_redirects=False, timeout=10), callback


def sso_login_token(srv, redirect_url=CLIENT):
    s, r = start(srv, redirect_url)
    r, _ = through_provider(s, r)
    assert r.status_code == 302, r.text
    loc = r.headers["Location"]
    assert loc.startswith(redirect_url)
    return urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)["loginToken"][0]


def test_login_flows_list_sso(sso_server, prefix):
    r = sso_server.api(prefix).get("/login").expect(200)
    sso = [f for f in r.body["flows"] if f["type"] == "m.login.sso"]
    assert sso == [{"type": "m.login.sso", "identity_providers": [{"id": "oidc-test", "name": "Test IdP"}]}]
    assert {"m.login.password", "m.login.token"} <= {f["type"] for f in r.body["flows"]}


def test_no_sso_without_providers(api):
    assert "m.login.sso" not in [f["type"] for f in api.get("/login").expect(200).body["flows"]]
    r = requests.get(api.server.base_url + "/_matrix/client/r0/login/sso/redirect",
                     params={"redirectUrl": CLIENT}, allow_redirects=False, timeout=10)
    assert r.status_code == 404 and r.json()["errcode"] == "M_UNRECOGNIZED"


def test_redirect_to_provider(sso_server, idp, prefix):
    s = requests.Session()
    r = s.get(sso_server.base_url + "/_matrix/client/%s/login/sso/redirect" % prefix,
              params={"redirectUrl": CLIENT}, allow_redirects=False, timeout=10)
    # SPEC: "The server MUST respond with an HTTP redirect to the SSO interface."
    assert r.status_code == 302
    loc = urllib.parse.urlparse(r.headers["Location"])
    assert "%s://%s%s" % (loc.scheme, loc.netloc, loc.path) == idp.base + "/authorize"
    q = {k: v[0] for k, v in urllib.parse.parse_qs(loc.query).items()}
    assert q["response_type"] == "code" and q["client_id"] == idp.client_id
    assert q["redirect_uri"] == sso_server.base_url + "/_synapse/client/oidc/callback"
    assert q["scope"] == "openid profile"
    assert len(q["state"]) >= 20 and len(q["nonce"]) >= 20
    # PKCE S256, since the provider's discovery document offers it.
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("oidc_session=") and "HttpOnly" in cookie and "Path=/_synapse/client/oidc" in cookie


def test_redirect_errors(sso_server):
    base = sso_server.base_url + "/_matrix/client/r0/login/sso/redirect"
    r = requests.get(base, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and r.json()["errcode"] == "M_MISSING_PARAM"
    r = requests.get(base + "/oidc-nope", params={"redirectUrl": CLIENT}, allow_redirects=False, timeout=10)
    assert r.status_code == 404 and r.json()["errcode"] == "M_NOT_FOUND"
    s, r = start(sso_server, idp_id="oidc-test")
    assert r.status_code == 302


def test_sso_login_round_trip(sso_server, idp, prefix):
    claims = new_user(idp)
    token = sso_login_token(sso_server)
    api = sso_server.api(prefix)
    r = api.login_raw({"type": "m.login.token", "token": token}).expect(200)
    user_id = "@%s:%s" % (claims["preferred_username"], SERVER_NAME)
    assert r.body["user_id"] == user_id
    a = api.with_token(r.body["access_token"])
    # The mapping templates: display name and email from the claims.
    assert a.get("/profile/" + harness.quote(user_id)).expect(200).body["displayname"] == claims["name"]
    tps = a.get("/account/3pid").expect(200).body["threepids"]
    assert [t["address"] for t in tps] == [claims["email"]]
    # The login token is single use.
    api.login_raw({"type": "m.login.token", "token": token}).expect(403, "M_FORBIDDEN")
    # The same subject comes back to the same account.
    idp.next_user = claims
    r = api.login_raw({"type": "m.login.token", "token": sso_login_token(sso_server)}).expect(200)
    assert r.body["user_id"] == user_id
    # The token exchange used the client secret (basic) and the PKCE verifier.
    call = idp.calls("/token")[-1]
    assert call["headers"]["Authorization"].startswith("Basic ")
    assert b"code_verifier=" in call["body"]


def test_unknown_client_gets_confirmation_page(sso_server, idp):
    new_user(idp)
    other = "https://stranger.example/cb?x=1#frag"
    s, r = start(sso_server, other)
    r, _ = through_provider(s, r)
    # Synapse's sso_redirect_confirm page: no redirect, a link the user must choose to follow.
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
    m = re.search(r'id="continue" href="([^"]+)"', r.text)
    link = m.group(1).replace("&amp;", "&")
    assert link.startswith("https://stranger.example/cb?x=1&loginToken=") and link.endswith("#frag")
    token = urllib.parse.parse_qs(urllib.parse.urlparse(link).query)["loginToken"][0]
    sso_server.api().login_raw({"type": "m.login.token", "token": token}).expect(200)


def test_callback_needs_the_cookie(sso_server, idp):
    new_user(idp)
    s, r = start(sso_server)
    r = s.get(r.headers["Location"], allow_redirects=False, timeout=10)
    callback = r.headers["Location"]
    # Another browser (no cookie) following the callback link gets nothing.
    r = requests.get(callback, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "cookie" in r.text
    # And the attempt is spent.
    r = s.get(callback, allow_redirects=False, timeout=10)
    assert r.status_code == 400


def test_callback_errors(sso_server, idp):
    base = sso_server.base_url + "/_synapse/client/oidc/callback"
    assert requests.get(base, timeout=10).status_code == 400
    assert requests.get(base, params={"state": "nope", "code": "x"}, timeout=10).status_code == 400
    # The provider refuses (the user cancelled).
    idp.deny = "access_denied"
    try:
        s, r = start(sso_server)
        r, _ = through_provider(s, r)
    finally:
        idp.deny = None
    assert r.status_code == 400 and "access_denied" in r.text


@pytest.mark.parametrize("tamper", ["nonce", "aud", "iss", "exp", "key"])
def test_bad_id_token_refused(sso_server, idp, tamper):
    new_user(idp)
    changes = {"nonce": {"nonce": "other"}, "aud": {"aud": "someone-else"}, "iss": {"iss": "http://evil.example/"},
               "exp": {"exp": 1000}}
    if tamper == "key":
        from cryptography.hazmat.primitives.asymmetric import rsa
        idp.sign_with = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        idp.id_token_tamper = lambda c: dict(c, **changes[tamper])
    try:
        s, r = start(sso_server)
        r, _ = through_provider(s, r)
    finally:
        idp.id_token_tamper = None
        idp.sign_with = None
    assert r.status_code == 400 and "loginToken" not in r.headers.get("Location", "")
    why = {"nonce": "nonce mismatch", "aud": "audience mismatch", "iss": "issuer mismatch", "exp": "expired",
           "key": "RS256 signature"}[tamper]
    assert why in r.text, r.text


def test_localpart_taken_gets_a_number(sso_server, idp):
    api = sso_server.api()
    existing = api.register()
    new_user(idp, preferred_username=existing.localpart.upper())
    r = api.login_raw({"type": "m.login.token", "token": sso_login_token(sso_server)}).expect(200)
    assert r.body["user_id"] == "@%s1:%s" % (existing.localpart, SERVER_NAME)


def test_localpart_mapping_escapes(sso_server, idp):
    # Synapse's map_username_to_mxid_localpart: lower case, "=xx" for other characters.
    new_user(idp, preferred_username="_Zoë Q")
    r = sso_server.api().login_raw({"type": "m.login.token", "token": sso_login_token(sso_server)}).expect(200)
    assert r.body["user_id"].startswith("@=5fzo=c3=ab=20q:")


def test_unmappable_user(sso_server, idp):
    # The localpart template renders empty: no account, an error page.
    new_user(idp, preferred_username=None)
    idp.next_user.pop("preferred_username")
    s, r = start(sso_server)
    r, _ = through_provider(s, r)
    assert r.status_code == 400 and "user name" in r.text


def test_allow_existing_users(server_factory, idp):
    srv = tl.start_server(server_factory, {"oidc_providers": [idp.config(allow_existing_users=True)],
                                           "sso": {"client_whitelist": [CLIENT]}})
    api = srv.api()
    existing = api.register()
    new_user(idp, preferred_username=existing.localpart)
    r = api.login_raw({"type": "m.login.token", "token": sso_login_token(srv)}).expect(200)
    assert r.body["user_id"] == existing.user_id


def test_userinfo_profile_method(server_factory, idp):
    srv = tl.start_server(server_factory, {
        "oidc_providers": [idp.config(user_profile_method="userinfo_endpoint", idp_id="ui")],
        "sso": {"client_whitelist": [CLIENT]}})
    claims = new_user(idp)
    r = srv.api().login_raw({"type": "m.login.token", "token": sso_login_token(srv)}).expect(200)
    assert r.body["user_id"] == "@%s:%s" % (claims["preferred_username"], SERVER_NAME)
    assert idp.calls("/userinfo")


def test_deactivated_sso_user_cannot_log_in(sso_server, idp):
    claims = new_user(idp)
    api = sso_server.api()
    r = api.login_raw({"type": "m.login.token", "token": sso_login_token(sso_server)}).expect(200)
    a = api.with_token(r.body["access_token"])
    # An SSO-only account re-authenticates with SSO (next test); deactivate by the fallback.
    flows = a.post("/account/deactivate", {}).expect(401)
    assert [f["stages"] for f in flows.body["flows"]] == [["m.login.sso"]]
    idp.next_user = claims
    complete_sso_stage(sso_server, flows.body["session"])
    a.post("/account/deactivate", {"auth": {"session": flows.body["session"]}}).expect(200)
    idp.next_user = claims
    s, r = start(sso_server)
    r, _ = through_provider(s, r)
    assert r.status_code == 403


# --- the m.login.sso UIA stage (MSC2454) and its fallback page ------------------------------------


def complete_sso_stage(srv, session, prefix="r0"):
    s = requests.Session()
    page = s.get(srv.base_url + "/_matrix/client/%s/auth/m.login.sso/fallback/web" % prefix,
                 params={"session": session}, timeout=10)
    assert page.status_code == 200 and "re-authenticate with single sign-on" in page.text
    link = re.search(r'id="continue" href="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    r = s.get(link, allow_redirects=False, timeout=10)
    r = s.get(r.headers["Location"], allow_redirects=False, timeout=10)
    return r


def test_sso_uia_stage(sso_server, idp, prefix):
    claims = new_user(idp)
    api = sso_server.api(prefix)
    r = api.login_raw({"type": "m.login.token", "token": sso_login_token(sso_server)}).expect(200)
    a = api.with_token(r.body["access_token"])
    other = api.login_raw({"type": "m.login.token", "token": sso_login_token(sso_server)}).expect(200)
    path = "/devices/" + other.body["device_id"]
    flows = a.delete(path, {}).expect(401)
    assert [f["stages"] for f in flows.body["flows"]] == [["m.login.sso"]]
    session = flows.body["session"]
    # The stage cannot be claimed by a body.
    a.delete(path, {"auth": {"type": "m.login.sso", "session": session}}).expect(401, "M_UNAUTHORIZED")
    idp.next_user = claims
    done = complete_sso_stage(sso_server, session, prefix)
    assert done.status_code == 200
    # SPEC: "Fallback": the page calls onAuthDone or posts "authDone" to its opener.
    assert "window.onAuthDone()" in done.text and 'postMessage("authDone", "*")' in done.text
    a.delete(path, {"auth": {"session": session}}).expect(200)


def test_sso_uia_stage_other_user_refused(sso_server, idp):
    claims = new_user(idp)
    api = sso_server.api()
    r = api.login_raw({"type": "m.login.token", "token": sso_login_token(sso_server)}).expect(200)
    a = api.with_token(r.body["access_token"])
    mallory = new_user(idp)
    api.login_raw({"type": "m.login.token", "token": sso_login_token(sso_server)}).expect(200)
    flows = a.post("/account/deactivate", {}).expect(401)
    idp.next_user = mallory
    r = complete_sso_stage(sso_server, flows.body["session"])
    assert r.status_code == 403
    a.post("/account/deactivate", {"auth": {"session": flows.body["session"]}}).expect(401)
    idp.next_user = claims


def test_password_users_keep_password_flow(sso_server):
    api = sso_server.api()
    user = api.register()
    flows = api.as_user(user).post("/account/deactivate", {}).expect(401)
    assert [f["stages"] for f in flows.body["flows"]] == [["m.login.password"]]
    # No provider linked: the SSO fallback page says so.
    r = requests.get(sso_server.base_url + "/_matrix/client/r0/auth/m.login.sso/fallback/web",
                     params={"session": flows.body["session"]}, timeout=10)
    assert r.status_code == 400
