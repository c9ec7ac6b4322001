"""Fixtures for the interop tests: real client libraries against a real server. The harness
lives in tests/api (harness.py, schema.py)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "api"))

from harness import HearthServer  # noqa: E402


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    srv = HearthServer(tmp_path_factory.mktemp("hearth-interop"))
    srv.start()
    yield srv
    srv.stop()
