"""client-server-api "Login Fallback": GET /_matrix/static/client/login/ is an HTML and
JavaScript page that logs in and calls window.onLogin; Matrix v1.1 (MSC2604) passes the
non-credential /login parameters given in the query string (device_id,
initial_device_display_name) on to /login."""

import os
import shutil
import subprocess

import pytest

import harness


def test_fallback_page(server):
    api = server.api("r0")
    for path in ("/_matrix/static/client/login/", "/_matrix/static/client/login"):
        r = api.get(path, params={"device_id": "FALLBACKDEV"}).expect(200)
        assert r.headers["Content-Type"].startswith("text/html")
        text = r.text
        # SPEC: "The page will attempt to call the JavaScript function window.onLogin".
        assert "window.onLogin" in text
        assert "device_id" in text and "initial_device_display_name" in text
        assert "m.login.password" in text


def test_fallback_page_logs_in_with_device_id(server):
    """Runs the page's script under node with a minimal DOM and fetch pointed at the server:
    the login it makes carries the query's device_id, and onLogin gets the response."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.fail("node is not installed (Debian: apt-get install nodejs)", pytrace=False)
    api = server.api("r0")
    user = api.register()
    page = api.get("/_matrix/static/client/login/").expect(200).text
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    harness_js = r"""
const base = process.env.BASE;
const values = {user: process.env.USER_ID, password: process.env.PASSWORD};
const els = {};
let submit = null;
global.window = {location: {search: '?device_id=FALLBACKDEV&initial_device_display_name=Fallback'},
  onLogin: (r) => { console.log(JSON.stringify(r)); process.exit(0); }};
global.document = {getElementById: (id) => els[id] || (els[id] = {
  value: values[id] || '', textContent: '',
  addEventListener: (ev, fn) => { submit = fn; }})};
const realFetch = fetch;
global.fetch = (url, opts) => realFetch(base + url, opts);
setTimeout(() => { console.error('no login: ' + els.msg.textContent); process.exit(1); }, 10000);
""" + script + "\nsubmit({preventDefault() {}});\n"
    env = dict(os.environ, BASE=server.base_url, USER_ID=user.user_id, PASSWORD=user.password)
    p = subprocess.run([node, "-e", harness_js], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    import json
    body = json.loads(p.stdout.strip().splitlines()[-1])
    assert body["user_id"] == user.user_id
    assert body["device_id"] == "FALLBACKDEV"
    devices = user.api().get("/devices").expect(200).body["devices"]
    # The token the page got belongs to the device the query named, with its display name.
    dev = [d for d in devices if d["device_id"] == "FALLBACKDEV"]
    assert dev and dev[0].get("display_name") == "Fallback"
