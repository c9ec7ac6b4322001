"""SSO login once in a real browser (issue 10: "once in headless Chromium if that works here"):
Debian's chromium follows the whole chain by itself: /login/sso/redirect, the OpenID Connect
provider run by the test (threepid_lib.OidcProvider, which approves `next_user`), Hearth's
callback with its cookie, and the redirect to the client's page with a loginToken, which then
logs in. test_sso_login.py covers every step and error with requests."""

import http.server
import shutil
import subprocess
import threading
import urllib.parse

import pytest

import threepid_lib as tl

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (scripts/install-deps installs it)")


class ClientPage:
    """The client's redirectUrl: records each request's query and answers a small page."""

    def __init__(self):
        self.queries = []
        page = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                page.queries.append(urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query))
                body = b"<html><body><p id=done>signed in</p></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/app/" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_sso_login_in_headless_chromium(server_factory, tmp_path):
    idp = tl.OidcProvider().start()
    client = ClientPage()
    try:
        srv = tl.start_server(server_factory, {"oidc_providers": [idp.config()],
                                               "sso": {"client_whitelist": [client.url]}})
        name = "chromium" + tmp_path.name[-6:].lower().replace("_", "")
        idp.next_user = {"sub": "sub-" + name, "preferred_username": name, "name": "Chromium User"}
        start = "%s/_matrix/client/v3/login/sso/redirect?%s" % (
            srv.base_url, urllib.parse.urlencode({"redirectUrl": client.url}))
        r = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--user-data-dir=" + str(tmp_path / "profile"), "--dump-dom", start],
            capture_output=True, text=True, timeout=90)
        assert "signed in" in r.stdout, (r.stdout[-2000:], r.stderr[-2000:])
        tokens = [q["loginToken"][0] for q in client.queries if "loginToken" in q]
        assert len(tokens) == 1, client.queries
        login = srv.api("v3").post("/login", {"type": "m.login.token", "token": tokens[0]}).expect(200)
        assert login.body["user_id"] == "@%s:%s" % (name, srv.server_name)
        # The token was single use.
        srv.api("v3").post("/login", {"type": "m.login.token", "token": tokens[0]}).expect(403, "M_FORBIDDEN")
    finally:
        client.stop()
        idp.stop()
