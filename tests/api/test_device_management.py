"""Devices (device_management.yaml, definitions/client_device.yaml; modules/
device_management.rst)."""

import time

import pytest

import harness
from harness import quote


@pytest.fixture
def user(api):
    return api.register(initial_device_display_name="First Device")


def device_ids(api, user):
    return sorted(d["device_id"] for d in api.as_user(user).get("/devices").expect(200).body["devices"])


def test_devices_list(api, user):
    before = int(time.time() * 1000)
    other = api.login(user, initial_device_display_name="Second Device")
    api.as_user(other).get("/account/whoami").expect(200)
    api.as_user(user).get("/account/whoami").expect(200)
    r = api.as_user(user).get("/devices").expect(200)
    by_id = {d["device_id"]: d for d in r.body["devices"]}
    assert set(by_id) == {user.device_id, other.device_id}
    assert by_id[user.device_id]["display_name"] == "First Device"
    assert by_id[other.device_id]["display_name"] == "Second Device"
    now = int(time.time() * 1000)
    for d in by_id.values():
        assert d["last_seen_ip"] == "127.0.0.1", d
        assert isinstance(d["last_seen_ts"], int)
        assert before - 120_000 <= d["last_seen_ts"] <= now + 5_000, d


def test_devices_last_seen_updates(api_r0):
    user = api_r0.register()
    other = api_r0.login(user)
    first = {d["device_id"]: d for d in api_r0.as_user(user).get("/devices").expect(200).body["devices"]}
    time.sleep(0.05)
    api_r0.as_user(other).get("/account/whoami").expect(200)
    api_r0.as_user(other).get("/devices").expect(200)
    d = api_r0.as_user(user).get("/devices/" + other.device_id).expect(200).body
    assert d["last_seen_ts"] >= first[other.device_id]["last_seen_ts"]
    assert d["last_seen_ip"] == "127.0.0.1"


def test_devices_requires_token(api):
    api.get("/devices").expect(401, "M_MISSING_TOKEN")
    api.get("/devices/ABC").expect(401, "M_MISSING_TOKEN")
    api.put("/devices/ABC", {"display_name": "x"}).expect(401, "M_MISSING_TOKEN")
    api.delete("/devices/ABC", {}).expect(401, "M_MISSING_TOKEN")
    api.post("/delete_devices", {"devices": []}).expect(401, "M_MISSING_TOKEN")


def test_get_device(api, user):
    r = api.as_user(user).get("/devices/" + user.device_id).expect(200)
    assert r.body["device_id"] == user.device_id
    assert r.body["display_name"] == "First Device"
    assert r.body["last_seen_ip"] == "127.0.0.1"
    assert isinstance(r.body["last_seen_ts"], int)


def test_get_device_unknown(api, user):
    api.as_user(user).get("/devices/NOSUCHDEVICE").expect(404, "M_NOT_FOUND")


def test_get_device_of_other_user_is_404(api, user):
    other = api.register()
    api.as_user(user).get("/devices/" + other.device_id).expect(404, "M_NOT_FOUND")
    api.as_user(user).put("/devices/" + other.device_id, {"display_name": "pwned"}).expect(404, "M_NOT_FOUND")
    assert api.as_user(other).get("/devices/" + other.device_id).expect(200).body.get("display_name") != "pwned"


def test_put_device(api, user):
    a = api.as_user(user)
    r = a.put("/devices/" + user.device_id, {"display_name": "Renamed \u2603"}).expect(200)
    assert r.body == {}
    assert a.get("/devices/" + user.device_id).expect(200).body["display_name"] == "Renamed \u2603"
    # "If not given, the display name is unchanged."
    a.put("/devices/" + user.device_id, {}).expect(200)
    assert a.get("/devices/" + user.device_id).expect(200).body["display_name"] == "Renamed \u2603"


def test_put_device_unknown(api_r0, user):
    api_r0.as_user(user).put("/devices/NOSUCHDEVICE", {"display_name": "x"}).expect(404, "M_NOT_FOUND")


@pytest.mark.parametrize("body", [{"display_name": 5}, {"display_name": ["x"]}, {"display_name": {"a": 1}}])
def test_put_device_wrong_type(api_r0, user, body):
    api_r0.as_user(user).put("/devices/" + user.device_id, body).expect(400, ("M_BAD_JSON", "M_INVALID_PARAM"))


def test_put_device_not_json(api_r0, user):
    api_r0.as_user(user).put("/devices/" + user.device_id, data="nope",
                             headers={"Content-Type": "application/json"}).expect(400, "M_NOT_JSON")
    api_r0.as_user(user).put("/devices/" + user.device_id, ["display_name"]).expect(400, "M_BAD_JSON")


def test_delete_device_uia(api, user):
    other = api.login(user)
    a = api.as_user(user)
    r = a.delete("/devices/" + other.device_id, {}).expect(401)
    assert ["m.login.password"] in [f["stages"] for f in r.body["flows"]]
    assert isinstance(r.body.get("session"), str)
    # Still there until the UIA is completed.
    api.as_user(other).get("/account/whoami").expect(200)
    r = a.delete("/devices/" + other.device_id, {"auth": api.password_auth(user, r.body["session"])}).expect(200)
    assert r.body == {}
    # "Deletes the given device, and invalidates any access token associated with it."
    api.as_user(other).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    a.get("/devices/" + other.device_id).expect(404, "M_NOT_FOUND")
    assert device_ids(api, user) == [user.device_id]


def test_delete_device_without_body(api_r0, user):
    # The body is optional in device_management.yaml: no body means "no auth yet".
    other = api_r0.login(user)
    r = api_r0.as_user(user).delete("/devices/" + other.device_id).expect(401)
    assert "flows" in r.body
    api_r0.as_user(other).get("/account/whoami").expect(200)


def test_delete_device_wrong_password(api_r0, user):
    other = api_r0.login(user)
    a = api_r0.as_user(user)
    r = a.delete("/devices/" + other.device_id, {}).expect(401)
    a.delete("/devices/" + other.device_id,
             {"auth": api_r0.password_auth(user, r.body["session"], "wrong")}).expect(401, "M_FORBIDDEN")
    api_r0.as_user(other).get("/account/whoami").expect(200)


def test_delete_own_current_device(api_r0, user):
    a = api_r0.as_user(user)
    r = a.delete("/devices/" + user.device_id, {}).expect(401)
    a.delete("/devices/" + user.device_id, {"auth": api_r0.password_auth(user, r.body["session"])}).expect(200)
    a.get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")


def test_delete_unknown_device_is_ok(api_r0, user):
    # 200: "The device was successfully removed, or had been removed previously."
    a = api_r0.as_user(user)
    r = a.delete("/devices/NEVEREXISTED", {})
    if r.status == 401:
        r = a.delete("/devices/NEVEREXISTED", {"auth": api_r0.password_auth(user, r.body["session"])})
    r.expect(200)
    a.get("/account/whoami").expect(200)


def test_delete_device_of_other_user_does_nothing(api_r0, user):
    # Whatever the answer (200 as for an unknown device, or 404), the victim keeps its device.
    victim = api_r0.register()
    a = api_r0.as_user(user)
    r = a.delete("/devices/" + victim.device_id, {})
    if r.status == 401:
        r = a.delete("/devices/" + victim.device_id, {"auth": api_r0.password_auth(user, r.body["session"])})
    if r.status == 404:
        r.expect(404, "M_NOT_FOUND")
    else:
        r.expect(200)
    api_r0.as_user(victim).get("/account/whoami").expect(200)
    assert victim.device_id in [d["device_id"] for d in
                                api_r0.as_user(victim).get("/devices").expect(200).body["devices"]]


def test_delete_device_auth_with_other_users_password(api_r0, user):
    other_dev = api_r0.login(user)
    mallory = api_r0.register()
    a = api_r0.as_user(user)
    r = a.delete("/devices/" + other_dev.device_id, {}).expect(401)
    r = a.delete("/devices/" + other_dev.device_id, {"auth": api_r0.password_auth(mallory, r.body["session"])})
    r.expect((401, 403), ("M_FORBIDDEN", "M_UNAUTHORIZED"))
    api_r0.as_user(other_dev).get("/account/whoami").expect(200)


def test_uia_session_is_bound_to_its_request(api_r0, user):
    # A session completed for deleting device X must not delete device Y.
    x = api_r0.login(user)
    y = api_r0.login(user)
    a = api_r0.as_user(user)
    r = a.delete("/devices/" + x.device_id, {}).expect(401)
    session = r.body["session"]
    r = a.delete("/devices/" + y.device_id, {"auth": api_r0.password_auth(user, session)})
    if r.status == 200:
        # Accepted: then it must have deleted y (what the request said), never x.
        api_r0.as_user(x).get("/account/whoami").expect(200)
    else:
        r.expect((400, 401, 403))
        api_r0.as_user(x).get("/account/whoami").expect(200)
        api_r0.as_user(y).get("/account/whoami").expect(200)


def test_delete_devices_bulk(api, user):
    d1 = api.login(user)
    d2 = api.login(user)
    keep = api.login(user)
    a = api.as_user(user)
    body = {"devices": [d1.device_id, d2.device_id, "NEVEREXISTED"]}
    r = a.post("/delete_devices", body).expect(401)
    assert ["m.login.password"] in [f["stages"] for f in r.body["flows"]]
    body["auth"] = api.password_auth(user, r.body["session"])
    r = a.post("/delete_devices", body).expect(200)
    assert r.body == {}
    api.as_user(d1).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    api.as_user(d2).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    api.as_user(keep).get("/account/whoami").expect(200)
    assert device_ids(api, user) == sorted([user.device_id, keep.device_id])


def test_delete_devices_empty_list(api_r0, user):
    a = api_r0.as_user(user)
    r = a.post("/delete_devices", {"devices": []})
    if r.status == 401:
        r = a.post("/delete_devices", {"devices": [], "auth": api_r0.password_auth(user, r.body["session"])})
    r.expect(200)
    assert device_ids(api_r0, user) == [user.device_id]


def test_delete_devices_missing_devices(api_r0, user):
    api_r0.as_user(user).post("/delete_devices", {"auth": api_r0.password_auth(user)}).expect(
        400, ("M_MISSING_PARAM", "M_BAD_JSON"))


@pytest.mark.parametrize("devices", ["ABC", [1, 2], {"a": "b"}, [["x"]]])
def test_delete_devices_wrong_type(api_r0, user, devices):
    api_r0.as_user(user).post("/delete_devices", {"devices": devices, "auth": api_r0.password_auth(user)}).expect(
        400, ("M_BAD_JSON", "M_INVALID_PARAM"))
    api_r0.as_user(user).get("/account/whoami").expect(200)


def test_device_id_with_reserved_characters(api_r0, user):
    # device_id is an opaque string: it must survive percent-encoding in the path.
    dev = "dev/with %2F and ?#&=+"
    u = api_r0.login(user, device_id=dev)
    assert u.device_id == dev
    r = api_r0.as_user(u).get("/devices/" + quote(dev)).expect(200)
    assert r.body["device_id"] == dev
    api_r0.as_user(u).put("/devices/" + quote(dev), {"display_name": "odd"}).expect(200)
    assert api_r0.as_user(u).get("/devices/" + quote(dev)).expect(200).body["display_name"] == "odd"
    # The raw (unencoded) slash is a different path.
    r = api_r0.as_user(u).get("/devices/dev/with")
    r.expect(404, ("M_UNRECOGNIZED", "M_NOT_FOUND"))


def test_devices_guest_can_rename(api_r0):
    r = api_r0.register_raw({}, kind="guest").expect(200)
    g = api_r0.with_token(r.body["access_token"])
    g.put("/devices/" + quote(r.body["device_id"]), {"display_name": "guest"}).expect(200)
    assert g.get("/devices/" + quote(r.body["device_id"])).expect(200).body["display_name"] == "guest"
