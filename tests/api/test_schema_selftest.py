"""The validator itself (no server): it must reject what the spec's schemas reject, so that a
green API run means something."""

import pytest

import schema


def fails(method, path, status, body):
    with pytest.raises(AssertionError):
        schema.validate_response(method, path, status, body)


def test_operations_loaded():
    for method, path in [("GET", "/_matrix/client/versions"), ("GET", "/.well-known/matrix/client"),
                         ("POST", "/_matrix/client/r0/register"), ("POST", "/_matrix/client/v3/login"),
                         ("GET", "/_matrix/client/r0/devices/XYZ"), ("POST", "/_matrix/client/r0/account/3pid/add"),
                         ("GET", "/_synapse/admin/v1/register")]:
        assert schema.find_operation(method, path) is not None, (method, path)
    assert schema.find_operation("GET", "/_matrix/client/r0/nope") is None


def test_required_fields():
    fails("GET", "/_matrix/client/versions", 200, {})
    fails("GET", "/_matrix/client/r0/capabilities", 200, {"capabilities": {"m.change_password": {}}})
    fails("GET", "/_matrix/client/r0/capabilities", 200,
          {"capabilities": {"m.room_versions": {"default": "5", "available": {"5": "experimental"}}}})
    fails("POST", "/_matrix/client/r0/register", 200, {"access_token": "x"})
    fails("GET", "/.well-known/matrix/client", 200, {"m.homeserver": {}})
    fails("GET", "/_matrix/client/v3/devices", 200, {"devices": [{"display_name": "x"}]})
    fails("GET", "/_matrix/client/r0/devices/ABC", 200, {"display_name": "x", "last_seen_ts": "1"})
    fails("GET", "/_matrix/client/r0/account/whoami", 200, {})
    fails("POST", "/_matrix/client/r0/account/deactivate", 200, {})
    fails("POST", "/_matrix/client/r0/account/deactivate", 200, {"id_server_unbind_result": "maybe"})
    fails("GET", "/_synapse/admin/v1/register", 200, {})


def test_error_shapes():
    fails("GET", "/_matrix/client/r0/account/whoami", 401, {"errcode": "M_UNKNOWN_TOKEN"})  # no "error"
    fails("GET", "/_matrix/client/r0/account/whoami", 401, {"error": "x"})
    fails("GET", "/_matrix/client/r0/nope", 404, None)
    fails("POST", "/_matrix/client/r0/register", 401, {"flows": [{}], "session": "x"})
    fails("POST", "/_matrix/client/r0/register", 429, {"errcode": "M_LIMIT_EXCEEDED", "error": "x",
                                                       "retry_after_ms": "soon"})
    fails("GET", "/_matrix/client/r0/nope", 404, {"errcode": "lowercase", "error": "x"})


def test_accepts_valid():
    schema.validate_response("POST", "/_matrix/client/r0/register", 401,
                             {"flows": [{"stages": ["m.login.dummy"]}], "params": {}, "session": "s"})
    schema.validate_response("POST", "/_matrix/client/r0/register", 401,
                             {"flows": [{"stages": ["m.login.password"]}], "session": "s",
                              "errcode": "M_FORBIDDEN", "error": "Invalid password"})
    schema.validate_response("GET", "/_matrix/client/r0/account/whoami", 401,
                             {"errcode": "M_UNKNOWN_TOKEN", "error": "x", "soft_logout": False})
    schema.validate_response("POST", "/_matrix/client/v3/login", 200,
                             {"user_id": "@a:b", "access_token": "t", "device_id": "D",
                              "well_known": {"m.homeserver": {"base_url": "https://x"}}})
    schema.validate_response("GET", "/_matrix/client/r0/capabilities", 200,
                             {"capabilities": {"m.change_password": {"enabled": True},
                                               "m.room_versions": {"default": "5", "available": {"5": "stable"}}}})
