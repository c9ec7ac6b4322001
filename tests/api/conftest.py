"""Fixtures for the black-box API tests (see harness.py)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import HearthServer  # noqa: E402


class ServerFactory:
    """Starts servers with config overrides; stops them (checking a clean exit) at teardown."""

    def __init__(self, tmp_path_factory):
        self._tmp = tmp_path_factory
        self.servers = []

    def __call__(self, overrides=None, start=True, **kw):
        srv = HearthServer(self._tmp.mktemp("hearth"), overrides, **kw)
        self.servers.append(srv)
        if start:
            srv.start()
        return srv

    def stop_all(self):
        errors = []
        for srv in self.servers:
            try:
                srv.stop()
            except AssertionError as e:
                errors.append(str(e))
        self.servers = []
        if errors:
            pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The shared default server: registration without verification, guests, a shared secret,
    generous rate limits."""
    srv = HearthServer(tmp_path_factory.mktemp("hearth-default"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def server_factory(tmp_path_factory):
    f = ServerFactory(tmp_path_factory)
    yield f
    f.stop_all()


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory):
    f = ServerFactory(tmp_path_factory)
    yield f
    f.stop_all()


@pytest.fixture(params=harness.PREFIXES)
def prefix(request):
    return request.param


@pytest.fixture
def api(server, prefix):
    """Unauthenticated client on the default server, once per prefix (r0, v3)."""
    return server.api(prefix)


@pytest.fixture
def api_r0(server):
    return server.api("r0")


@pytest.fixture(autouse=True)
def _server_still_alive(request):
    """After each test that used the default server, it must still be running."""
    yield
    if "server" in request.fixturenames:
        srv = request.getfixturevalue("server")
        srv.assert_alive()


@pytest.fixture(scope="module")
def shared_user(server):
    """A user for read-only tests in a module (do not log it out or change its password)."""
    return server.api("r0").register()
