"""GET /capabilities (capabilities.yaml, client_server_api.rst §Capabilities negotiation)."""

import harness


def test_capabilities_requires_token(api):
    api.get("/capabilities").expect(401, "M_MISSING_TOKEN")


def test_capabilities_bad_token(api):
    api.get("/capabilities", token="bogus").expect(401, "M_UNKNOWN_TOKEN")


def test_capabilities_content(api, shared_user):
    r = api.with_token(shared_user.access_token).get("/capabilities").expect(200)
    caps = r.body["capabilities"]
    assert caps["m.change_password"]["enabled"] is True
    rv = caps["m.room_versions"]
    for v in ("1", "2", "3", "4", "5", "6", "7"):
        assert rv["available"].get(v) == "stable", rv
    # SPEC: v1.1 rooms/_index.md: servers SHOULD use room version 6 as the default (r0.6.1
    # said 5); Hearth's default_room_version defaults to "6".
    assert rv["default"] == "6"
    assert rv["default"] in rv["available"]


def test_capabilities_default_room_version_config(server_factory):
    srv = server_factory({"default_room_version": "7"})
    api = srv.api("v3")
    user = api.register()
    r = api.as_user(user).get("/capabilities").expect(200)
    assert r.body["capabilities"]["m.room_versions"]["default"] == "7"
