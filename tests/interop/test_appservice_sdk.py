"""matrix-appservice-bridge (from npm, see tests/interop/appservice/package.json) against Hearth:
starts Hearth with a registration for a bridge, then runs `node --test tests/interop/appservice/`,
where an unchanged matrix-appservice-bridge Bridge receives transactions, creates ghosts through
its intents, answers user and alias queries and third-party lookups, and publishes a room in its
network's directory (tests/interop/appservice/bridge.test.mjs).

Needs node and the npm modules: `npm ci --prefix tests/interop/appservice`. Missing either is a
failure with that instruction, never a skip. The bridge's end-to-end encryption module
(@matrix-org/matrix-sdk-crypto-nodejs) downloads its native library from GitHub releases, not
from the npm registry, so package.json overrides it with a stub (crypto-stub/): encryption is not
used here, and the bridge only loads that module."""

import os
import re
import secrets
import shutil
import subprocess

import pytest
import yaml

import harness
from harness import HearthServer

AS_DIR = os.path.join(harness.REPO, "tests", "interop", "appservice")
INSTALL = "npm ci --prefix tests/interop/appservice"


def _node():
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.fail("node is not installed (Debian: apt-get install nodejs npm), then run: " + INSTALL,
                    pytrace=False)
    if not os.path.isdir(os.path.join(AS_DIR, "node_modules", "matrix-appservice-bridge")):
        pytest.fail("matrix-appservice-bridge is not installed under tests/interop/appservice/"
                    "node_modules; run: " + INSTALL, pytrace=False)
    return node


def test_appservice_bridge(tmp_path):
    node = _node()
    port = harness.free_port()
    reg_path = str(tmp_path / "bridge.yaml")
    with open(reg_path, "w") as f:
        yaml.safe_dump({
            "id": "hearth-interop-bridge",
            "url": "http://127.0.0.1:%d" % port,
            "as_token": "as-" + secrets.token_hex(16),
            "hs_token": "hs-" + secrets.token_hex(16),
            "sender_localpart": "_hb_bot",
            "rate_limited": False,
            "namespaces": {
                "users": [{"exclusive": True, "regex": "@_hb_.*"}],
                "aliases": [{"exclusive": True, "regex": "#_hb_.*"}],
                "rooms": [],
            },
            "protocols": ["hearthnet"],
        }, f)
    srv = HearthServer(tmp_path / "hearth", {"app_service_config_files": [reg_path]})
    srv.start()
    try:
        env = dict(os.environ, HEARTH_BASE_URL=srv.base_url, HEARTH_SERVER_NAME=srv.server_name,
                   AS_REGISTRATION=reg_path, AS_PORT=str(port), NODE_NO_WARNINGS="1")
        try:
            p = subprocess.run([node, "--test", "--test-force-exit", "--test-reporter=tap", AS_DIR + "/"],
                               cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired as e:
            pytest.fail("node --test did not finish within 300s; output:\n%s\n%s" % (e.stdout, e.stderr),
                        pytrace=False)
        out = p.stdout + "\n" + p.stderr
        assert p.returncode == 0, "node --test failed (status %d):\n%s" % (p.returncode, out[-12000:])
        assert re.search(r"^# pass [1-9]", out, re.M) and re.search(r"^# fail 0$", out, re.M), out[-4000:]
        print(out[-3000:])
        srv.assert_alive()
    finally:
        srv.stop()
