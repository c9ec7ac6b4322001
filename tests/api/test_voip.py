"""voip.yaml: GET /voip/turnServer. With turn_shared_secret the credentials follow the TURN REST
API (username "<expiry>:<user_id>", password base64(HMAC-SHA1(secret, username))), else the
static turn_username/turn_password; ttl is turn_user_lifetime. Without TURN configured the
answer is {}, as Synapse gives."""

import base64
import hashlib
import hmac
import time

import pytest

URIS = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:443?transport=tcp"]
SECRET = "turn-secret-for-tests"


def guest_api(server, prefix="r0"):
    r = server.api(prefix).register_raw({}, kind="guest").expect(200)
    return server.api(prefix, r.body["access_token"])


@pytest.fixture(scope="module")
def rest_server(module_server_factory):
    return module_server_factory({"turn_uris": URIS, "turn_shared_secret": SECRET,
                                  "turn_user_lifetime": "1d", "turn_allow_guests": False})


@pytest.fixture(scope="module")
def static_server(module_server_factory):
    return module_server_factory({"turn_uris": URIS[:1], "turn_username": "static-user",
                                  "turn_password": "static-pass"})


def test_rest_api_credentials(rest_server, prefix):
    u = rest_server.api(prefix).register()
    start = int(time.time())
    r = u.api(prefix).get("/voip/turnServer").expect(200).body
    assert r["uris"] == URIS
    assert r["ttl"] == 86400
    expiry, user = r["username"].split(":", 1)
    assert user == u.user_id
    assert start + 86400 - 5 <= int(expiry) <= int(time.time()) + 86400 + 5
    mac = hmac.new(SECRET.encode(), r["username"].encode(), hashlib.sha1).digest()
    assert r["password"] == base64.b64encode(mac).decode("ascii")


def test_rest_guests_refused_when_not_allowed(rest_server, prefix):
    guest_api(rest_server, prefix).get("/voip/turnServer").expect(403, "M_FORBIDDEN")


def test_static_credentials(static_server, prefix):
    u = static_server.api(prefix).register()
    r = u.api(prefix).get("/voip/turnServer").expect(200).body
    assert r == {"username": "static-user", "password": "static-pass", "uris": URIS[:1], "ttl": 3600}
    # turn_allow_guests defaults to true.
    assert guest_api(static_server, prefix).get("/voip/turnServer").expect(200).body["username"] == "static-user"


def test_unconfigured_is_empty_object(api, shared_user):
    # Synapse answers {} when no TURN server is configured; voip.yaml's schema makes every field
    # required, so this one answer is not validated against it.
    r = shared_user.api(api.prefix).get("/voip/turnServer", validate=False).expect(200)
    assert r.body == {}


def test_uris_without_credentials_is_empty_object(server_factory):
    srv = server_factory({"turn_uris": URIS})
    u = srv.api("r0").register()
    assert u.api().get("/voip/turnServer", validate=False).expect(200).body == {}


def test_needs_access_token(api):
    api.get("/voip/turnServer").expect(401, "M_MISSING_TOKEN")
