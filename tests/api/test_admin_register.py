"""Shared-secret registration as Synapse serves it (GET/POST /_synapse/admin/v1/register;
not part of the Matrix spec). MAC = hex HMAC-SHA1 keyed with registration_shared_secret over
nonce NUL username NUL password NUL ("admin" | "notadmin")."""

import pytest

import harness
from harness import SERVER_NAME, SHARED_SECRET, admin_mac, unique_localpart

PATH = "/_synapse/admin/v1/register"


def get_nonce(api):
    r = api.get(PATH).expect(200)
    assert isinstance(r.body["nonce"], str) and len(r.body["nonce"]) >= 16
    return r.body["nonce"]


def signed_body(nonce, username, password, admin=False, secret=SHARED_SECRET, **extra):
    body = {"nonce": nonce, "username": username, "password": password, "admin": admin,
            "mac": admin_mac(secret, nonce, username, password, admin)}
    body.update(extra)
    return body


def test_nonce_is_fresh(api_r0):
    assert get_nonce(api_r0) != get_nonce(api_r0)


def test_register_with_shared_secret(api_r0):
    name = unique_localpart("adm")
    r = api_r0.post(PATH, signed_body(get_nonce(api_r0), name, "pw-shared-1")).expect(200)
    assert r.body["user_id"] == "@%s:%s" % (name, SERVER_NAME)
    assert r.body["home_server"] == SERVER_NAME
    who = api_r0.with_token(r.body["access_token"]).get("/account/whoami").expect(200)
    assert who.body["user_id"] == r.body["user_id"]
    devs = api_r0.with_token(r.body["access_token"]).get("/devices").expect(200).body["devices"]
    assert [d["device_id"] for d in devs] == [r.body["device_id"]]
    # The password works for a normal login.
    api_r0.login(r.body["user_id"], "pw-shared-1")


def test_register_admin_with_shared_secret(api_r0):
    name = unique_localpart("adm")
    r = api_r0.post(PATH, signed_body(get_nonce(api_r0), name, "pw-shared-2", admin=True)).expect(200)
    assert r.body["user_id"] == "@%s:%s" % (name, SERVER_NAME)


def test_admin_flag_is_covered_by_mac(api_r0):
    # A MAC computed for notadmin must not register an admin.
    nonce = get_nonce(api_r0)
    name = unique_localpart("adm")
    body = signed_body(nonce, name, "pw", admin=False)
    body["admin"] = True
    api_r0.post(PATH, body).expect(403, "M_FORBIDDEN")
    api_r0.get("/register/available", params={"username": name}).expect(200)


def test_wrong_mac(api_r0):
    nonce = get_nonce(api_r0)
    name = unique_localpart("adm")
    body = signed_body(nonce, name, "pw", secret="not-the-secret")
    api_r0.post(PATH, body).expect(403, "M_FORBIDDEN")
    api_r0.get("/register/available", params={"username": name}).expect(200)


@pytest.mark.parametrize("mac", ["", "00", "zz" * 20, "0" * 40, "A" * 40, "0" * 4000])
def test_malformed_mac(api_r0, mac):
    nonce = get_nonce(api_r0)
    body = signed_body(nonce, unique_localpart("adm"), "pw")
    body["mac"] = mac
    api_r0.post(PATH, body).expect(403, "M_FORBIDDEN")


def test_mac_is_case_insensitive_or_lowercase(api_r0):
    # Synapse compares against hexdigest() (lower case); an upper-case MAC is a different
    # string there. Either answer is acceptable, but never a server error.
    nonce = get_nonce(api_r0)
    body = signed_body(nonce, unique_localpart("adm"), "pw")
    body["mac"] = body["mac"].upper()
    r = api_r0.post(PATH, body)
    r.expect((200, 403))


def test_nonce_cannot_be_reused(api_r0):
    nonce = get_nonce(api_r0)
    api_r0.post(PATH, signed_body(nonce, unique_localpart("adm"), "pw")).expect(200)
    name = unique_localpart("adm")
    r = api_r0.post(PATH, signed_body(nonce, name, "pw"))
    r.expect(400, ("M_UNKNOWN", "M_INVALID_PARAM", "M_FORBIDDEN"))
    api_r0.get("/register/available", params={"username": name}).expect(200)


def test_nonce_consumed_by_failed_attempt(api_r0):
    # Synapse deletes the nonce before checking the MAC, so a guess costs a nonce.
    nonce = get_nonce(api_r0)
    name = unique_localpart("adm")
    api_r0.post(PATH, signed_body(nonce, name, "pw", secret="wrong")).expect(403, "M_FORBIDDEN")
    api_r0.post(PATH, signed_body(nonce, name, "pw")).expect(400, ("M_UNKNOWN", "M_INVALID_PARAM", "M_FORBIDDEN"))


def test_unknown_nonce(api_r0):
    api_r0.post(PATH, signed_body("f" * 64, unique_localpart("adm"), "pw")).expect(
        400, ("M_UNKNOWN", "M_INVALID_PARAM", "M_FORBIDDEN"))


@pytest.mark.parametrize("drop", ["nonce", "username", "password", "mac"])
def test_missing_fields(api_r0, drop):
    body = signed_body(get_nonce(api_r0), unique_localpart("adm"), "pw")
    del body[drop]
    api_r0.post(PATH, body).expect(400, ("M_BAD_JSON", "M_MISSING_PARAM", "M_UNKNOWN", "M_INVALID_PARAM"))


@pytest.mark.parametrize("field,value", [("username", 5), ("password", ["x"]), ("mac", 12), ("nonce", {}),
                                         ("admin", "yes")])
def test_wrong_types(api_r0, field, value):
    body = signed_body(get_nonce(api_r0), unique_localpart("adm"), "pw")
    body[field] = value
    api_r0.post(PATH, body).expect(400, ("M_BAD_JSON", "M_INVALID_PARAM", "M_UNKNOWN", "M_INVALID_USERNAME"))


def test_invalid_username(api_r0):
    nonce = get_nonce(api_r0)
    api_r0.post(PATH, signed_body(nonce, "Not Valid!", "pw")).expect(400, "M_INVALID_USERNAME")


def test_username_in_use(api_r0, shared_user):
    nonce = get_nonce(api_r0)
    api_r0.post(PATH, signed_body(nonce, shared_user.localpart, "pw")).expect(400, "M_USER_IN_USE")


def test_not_json(api_r0):
    api_r0.post(PATH, data="nonce=1", headers={"Content-Type": "application/json"}).expect(400, "M_NOT_JSON")


def test_no_shared_secret_configured(server_factory):
    srv = server_factory({"registration_shared_secret": harness.DELETE})
    api = srv.api()
    r = api.get(PATH)
    if r.status != 200:
        r.expect(400, ("M_UNKNOWN", "M_FORBIDDEN", "M_UNRECOGNIZED"))
        nonce = "0" * 64
    else:
        nonce = r.body["nonce"]
    # With no secret, no MAC can be right: not even one keyed with the empty string.
    name = unique_localpart("adm")
    for secret in ("", SHARED_SECRET):
        r = api.post(PATH, signed_body(nonce, name, "pw", secret=secret))
        r.expect(400, ("M_UNKNOWN", "M_FORBIDDEN", "M_UNRECOGNIZED"))
    api.get("/register/available", params={"username": name}).expect(200)


def test_works_with_registration_disabled(server_factory):
    # The admin API is how operators create accounts on closed servers.
    srv = server_factory({"enable_registration": False})
    api = srv.api()
    name = unique_localpart("adm")
    r = api.post(PATH, signed_body(get_nonce(api), name, "pw-closed")).expect(200)
    assert r.body["user_id"] == "@%s:%s" % (name, SERVER_NAME)
    api.login(r.body["user_id"], "pw-closed")
