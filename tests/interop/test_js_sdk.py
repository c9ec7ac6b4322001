"""matrix-js-sdk (from npm, see tests/interop/js/package.json) against Hearth: runs
`node --test tests/interop/js/` with HEARTH_BASE_URL pointing at the interop server. The JS tests
run two clients' sync loops through a conversation (tests/interop/js/sync.test.js), and search
as Element does (tests/interop/js/search.test.js).

Needs node (Debian's nodejs) and the npm modules: `npm ci --prefix tests/interop/js`
(`make test` runs it). Missing either is a failure with that instruction, never a skip."""

import os
import re
import shutil
import subprocess

import pytest

import harness

JS_DIR = os.path.join(harness.REPO, "tests", "interop", "js")
INSTALL = "npm ci --prefix tests/interop/js"


def _node():
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.fail("node is not installed (Debian: apt-get install nodejs npm), then run: " + INSTALL,
                    pytrace=False)
    if not os.path.isdir(os.path.join(JS_DIR, "node_modules", "matrix-js-sdk")):
        pytest.fail("matrix-js-sdk is not installed under tests/interop/js/node_modules; run: " + INSTALL,
                    pytrace=False)
    return node


def test_js_sdk_sync_conversation(server):
    node = _node()
    env = dict(os.environ, HEARTH_BASE_URL=server.base_url, NODE_NO_WARNINGS="1")
    try:
        p = subprocess.run([node, "--test", "--test-force-exit", "--test-reporter=tap", JS_DIR + "/"], cwd=harness.REPO, env=env,
                           capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as e:
        pytest.fail("node --test did not finish within 300s; output:\n%s\n%s" % (e.stdout, e.stderr),
                    pytrace=False)
    out = p.stdout + "\n" + p.stderr
    assert p.returncode == 0, "node --test failed (status %d):\n%s" % (p.returncode, out[-12000:])
    # The runner found and ran the tests (an empty directory would also "pass").
    assert re.search(r"^# pass [1-9]", out, re.M) and re.search(r"^# fail 0$", out, re.M), out[-4000:]
    print(out[-3000:])
    server.assert_alive()
