"""POST /logout, POST /logout/all (logout.yaml)."""


def test_logout(api):
    user = api.register()
    other = api.login(user)
    r = api.as_user(user).post("/logout", {}).expect(200)
    assert r.body == {}
    api.as_user(user).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    # "The device associated with the access token is also deleted."
    devs = [d["device_id"] for d in api.as_user(other).get("/devices").expect(200).body["devices"]]
    assert user.device_id not in devs
    assert other.device_id in devs
    api.as_user(other).get("/devices/" + user.device_id).expect(404, "M_NOT_FOUND")


def test_logout_without_body(api_r0):
    # Clients commonly POST /logout with no body at all.
    user = api_r0.register()
    api_r0.as_user(user).post("/logout").expect(200)
    api_r0.as_user(user).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")


def test_logout_twice(api_r0):
    user = api_r0.register()
    api_r0.as_user(user).post("/logout", {}).expect(200)
    api_r0.as_user(user).post("/logout", {}).expect(401, "M_UNKNOWN_TOKEN")


def test_logout_query_token(api_r0):
    user = api_r0.register()
    api_r0.post("/logout", {}, token=user.access_token, query_token=True).expect(200)
    api_r0.as_user(user).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")


def test_logout_requires_token(api):
    api.post("/logout", {}).expect(401, "M_MISSING_TOKEN")
    api.post("/logout/all", {}).expect(401, "M_MISSING_TOKEN")


def test_logout_bad_token(api):
    api.post("/logout", {}, token="nope").expect(401, "M_UNKNOWN_TOKEN")
    api.post("/logout/all", {}, token="nope").expect(401, "M_UNKNOWN_TOKEN")


def test_logout_all(api):
    user = api.register()
    second = api.login(user)
    bystander = api.register()
    r = api.as_user(second).post("/logout/all", {}).expect(200)
    assert r.body == {}
    api.as_user(user).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    api.as_user(second).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    # Other users are untouched.
    api.as_user(bystander).get("/account/whoami").expect(200)
    # All devices are gone: a fresh login sees only its own device.
    fresh = api.login(user)
    devs = [d["device_id"] for d in api.as_user(fresh).get("/devices").expect(200).body["devices"]]
    assert devs == [fresh.device_id]


def test_logout_all_without_body(api_r0):
    user = api_r0.register()
    api_r0.as_user(user).post("/logout/all").expect(200)
    api_r0.as_user(user).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")


def test_logout_wrong_method(api_r0):
    api_r0.get("/logout").expect(405, "M_UNRECOGNIZED")
    api_r0.get("/logout/all").expect(405, "M_UNRECOGNIZED")


def test_logout_guest(api_r0):
    r = api_r0.register_raw({}, kind="guest").expect(200)
    g = api_r0.with_token(r.body["access_token"])
    g.post("/logout", {}).expect(200)
    g.get("/devices").expect(401, "M_UNKNOWN_TOKEN")
