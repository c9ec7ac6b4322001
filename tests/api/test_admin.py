"""admin.yaml: GET /admin/whois/{userId}, for server admins (users.is_admin) and the user
themself. One session per device; its connection is the device's last seen IP, time and user
agent."""

import time

import pytest

from harness import SERVER_NAME, SHARED_SECRET, User, admin_mac, quote, unique_localpart


def whois(api, user_id):
    return api.get("/admin/whois/%s" % quote(user_id))


@pytest.fixture(scope="module")
def admin(server):
    api = server.api("r0")
    nonce = api.get("/_synapse/admin/v1/register").expect(200).body["nonce"]
    name, pw = unique_localpart("admin"), "pw-admin-1"
    r = api.post("/_synapse/admin/v1/register", {
        "nonce": nonce, "username": name, "password": pw, "admin": True,
        "mac": admin_mac(SHARED_SECRET, nonce, name, pw, True)}).expect(200)
    return User.from_response(r.body, pw, server)


def test_whois_self(api):
    before = int(time.time() * 1000) - 1000
    u = api.register()
    second = api.login(u)
    r = whois(u.api(api.prefix), u.user_id).expect(200).body
    assert r["user_id"] == u.user_id
    assert set(r["devices"]) == {u.device_id, second.device_id}
    for dev in r["devices"].values():
        [session] = dev["sessions"]
        [conn] = session["connections"]
        assert conn["ip"] == "127.0.0.1"
        assert before <= conn["last_seen"] <= int(time.time() * 1000) + 1000


def test_user_agent(api):
    u = api.register()
    [conn] = whois(u.api(api.prefix), u.user_id).expect(200).body["devices"][u.device_id][
        "sessions"][0]["connections"]
    assert conn["user_agent"].startswith("python-requests/")
    # A new user agent is recorded at once, though last_seen was written a moment ago.
    ua = {"User-Agent": "HearthTest/1.0 (whois)"}
    u.api(api.prefix).get("/account/whoami", headers=ua).expect(200)
    r = u.api(api.prefix).get("/admin/whois/%s" % quote(u.user_id), headers=ua).expect(200).body
    assert r["devices"][u.device_id]["sessions"][0]["connections"][0]["user_agent"] == ua["User-Agent"]
    # Logging in records the agent of the new device; a very long one is cut.
    long_ua = "Agent/" + "x" * 3000
    r = api.login_raw({"type": "m.login.password", "password": u.password,
                       "identifier": {"type": "m.id.user", "user": u.user_id}},
                      headers={"User-Agent": long_ua}).expect(200).body
    conns = whois(u.api(api.prefix), u.user_id).expect(200).body["devices"][r["device_id"]][
        "sessions"][0]["connections"]
    assert long_ua.startswith(conns[0]["user_agent"]) and 0 < len(conns[0]["user_agent"]) < 3000


def test_admin_may_whois_anyone(api, admin):
    u = api.register()
    r = whois(admin.api(api.prefix), u.user_id).expect(200).body
    assert r["user_id"] == u.user_id and list(r["devices"]) == [u.device_id]


def test_others_may_not(api, shared_user):
    other = api.register()
    whois(other.api(api.prefix), shared_user.user_id).expect(403, "M_FORBIDDEN")


def test_unknown_user(api, admin):
    whois(admin.api(api.prefix), "@%s:%s" % (unique_localpart("ghost"), SERVER_NAME)).expect(404, "M_NOT_FOUND")


def test_remote_and_malformed_user(api, admin):
    whois(admin.api(api.prefix), "@bob:elsewhere.example").expect(400, "M_INVALID_PARAM")
    whois(admin.api(api.prefix), "not-a-user-id").expect(400, "M_INVALID_PARAM")


def test_device_without_connection(api, admin):
    # A device whose token was never used since login still shows, with its login address.
    u = api.register()
    r = whois(admin.api(api.prefix), u.user_id).expect(200).body
    assert r["devices"][u.device_id]["sessions"][0]["connections"][0]["ip"] == "127.0.0.1"


def test_needs_access_token(api, shared_user):
    whois(api.with_token(None), shared_user.user_id).expect(401, "M_MISSING_TOKEN")


def test_guest_forbidden(server, prefix):
    r = server.api(prefix).register_raw({}, kind="guest").expect(200)
    g = server.api(prefix, r.body["access_token"])
    whois(g, r.body["user_id"]).expect(403, "M_GUEST_ACCESS_FORBIDDEN")
