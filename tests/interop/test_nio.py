"""matrix-nio (python3-matrix-nio) against a running Hearth: register, log in, list devices,
log out, on both client API prefixes. nio validates every response against its own JSON
schemas, so a malformed answer shows up as an *Error response here."""

import asyncio

import nio
import pytest

import harness


@pytest.fixture(params=["r0", "v3"])
def nio_prefix(request, monkeypatch):
    """nio hard-codes /_matrix/client/r0; for v3, rewrite the paths it builds."""
    if request.param == "v3":
        original = nio.Api._build_path

        def build_path(path, query_parameters=None, base_path=nio.api.MATRIX_API_PATH):
            if base_path == "/_matrix/client/r0":
                base_path = "/_matrix/client/v3"
            return original(path, query_parameters, base_path)

        monkeypatch.setattr(nio.Api, "_build_path", staticmethod(build_path))
    return request.param


def _ok(resp, cls):
    assert isinstance(resp, cls), "expected %s, got %r" % (cls.__name__, resp)
    return resp


def test_nio_register_login_devices_logout(server, nio_prefix):
    async def scenario():
        name = harness.unique_localpart("nio")
        password = "nio-password-" + harness.unique_localpart()
        server_name = server.server_name
        user_id = "@%s:%s" % (name, server_name)

        client = nio.AsyncClient(server.base_url, name)
        try:
            r = _ok(await client.register(name, password, device_name="nio register"), nio.RegisterResponse)
            assert r.user_id == user_id
            assert r.access_token and r.device_id
            reg_device = r.device_id
        finally:
            await client.close()

        client = nio.AsyncClient(server.base_url, user_id)
        try:
            r = _ok(await client.login(password, device_name="nio login"), nio.LoginResponse)
            assert r.user_id == user_id
            assert client.logged_in
            login_device = r.device_id
            assert login_device != reg_device

            d = _ok(await client.devices(), nio.DevicesResponse)
            by_id = {dev.id: dev for dev in d.devices}
            assert set(by_id) == {reg_device, login_device}
            assert by_id[login_device].display_name == "nio login"
            assert by_id[reg_device].display_name == "nio register"

            if hasattr(client, "whoami"):
                w = await client.whoami()
                assert getattr(w, "user_id", None) == user_id, w

            _ok(await client.update_device(login_device, {"display_name": "renamed by nio"}),
                nio.UpdateDeviceResponse)
            d = _ok(await client.devices(), nio.DevicesResponse)
            assert {dev.id: dev.display_name for dev in d.devices}[login_device] == "renamed by nio"

            # Delete the registration device through nio's UIA (m.login.password).
            r = await client.delete_devices([reg_device])
            assert isinstance(r, nio.DeleteDevicesAuthResponse), r
            r = _ok(await client.delete_devices([reg_device], auth={
                "type": "m.login.password", "identifier": {"type": "m.id.user", "user": user_id},
                "password": password, "session": r.session,
            }), nio.DeleteDevicesResponse)
            d = _ok(await client.devices(), nio.DevicesResponse)
            assert [dev.id for dev in d.devices] == [login_device]

            token = client.access_token
            _ok(await client.logout(), nio.LogoutResponse)
            # nio forgets the token on logout; check on the wire that the server did too.
            r = server.api(nio_prefix, token).get("/account/whoami")
            r.expect(401, "M_UNKNOWN_TOKEN")
        finally:
            await client.close()

        # Log in again and log out everywhere.
        client = nio.AsyncClient(server.base_url, name)
        other = nio.AsyncClient(server.base_url, name)
        try:
            _ok(await client.login(password), nio.LoginResponse)
            _ok(await other.login(password), nio.LoginResponse)
            _ok(await client.logout(all_devices=True), nio.LogoutResponse)
            r = await other.devices()
            assert isinstance(r, nio.DevicesError), r
            assert r.status_code == "M_UNKNOWN_TOKEN", r
        finally:
            await client.close()
            await other.close()

    asyncio.run(scenario())


def test_nio_wrong_password(server, nio_prefix):
    async def scenario():
        name = harness.unique_localpart("nio")
        client = nio.AsyncClient(server.base_url, name)
        try:
            _ok(await client.register(name, "right-password"), nio.RegisterResponse)
        finally:
            await client.close()
        client = nio.AsyncClient(server.base_url, name)
        try:
            r = await client.login("wrong-password")
            assert isinstance(r, nio.LoginError), r
            assert r.status_code == "M_FORBIDDEN", r
        finally:
            await client.close()

    asyncio.run(scenario())


def test_nio_register_taken(server, nio_prefix):
    async def scenario():
        name = harness.unique_localpart("nio")
        client = nio.AsyncClient(server.base_url, name)
        try:
            _ok(await client.register(name, "pw-1"), nio.RegisterResponse)
            r = await client.register(name, "pw-2")
            assert isinstance(r, nio.responses.ErrorResponse), r
            assert r.status_code == "M_USER_IN_USE", r
        finally:
            await client.close()

    asyncio.run(scenario())
