"""Real local services for the 3PID, identity server and SSO tests (issue 10), all on 127.0.0.1:

- SmtpSink: an SMTP server (python3-aiosmtpd) that keeps every message it receives;
- SilentSmtp: a TCP server that accepts connections and never answers (a hung SMTP server);
- IdentityServer: a small Identity Service API v2 server (hash_details, lookup, 3pid/bind,
  3pid/unbind checking the homeserver's X-Matrix signature, store-invite, pubkey/isvalid) that
  signs with ed25519 and calls the homeserver's 3pid/onbind when an invited address is bound;
- OidcProvider: an OpenID Connect provider (discovery, authorize, token with client_secret_basic
  and PKCE S256, RS256 ID tokens, userinfo, JWKS) that approves whoever `next_user` says.

Plus helpers to start a Hearth server wired to them. Only Debian packages: python3-aiosmtpd,
python3-cryptography, python3-requests.
"""

import base64
import email
import email.policy
import hashlib
import json
import re
import secrets
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

import harness


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64(data):
    return base64.b64encode(data).rstrip(b"=").decode()


def unb64(s):
    s = s.replace("-", "+").replace("_", "/")
    return base64.b64decode(s + "=" * (-len(s) % 4))


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_json(obj, server, key_id, private_key):
    """Matrix JSON signing (appendices "Signing JSON")."""
    obj = dict(obj)
    sigs = obj.pop("signatures", {})
    unsigned = obj.pop("unsigned", None)
    sig = b64(private_key.sign(canonical(obj)))
    sigs.setdefault(server, {})[key_id] = sig
    obj["signatures"] = sigs
    if unsigned is not None:
        obj["unsigned"] = unsigned
    return obj


# --- SMTP -----------------------------------------------------------------------------------------


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink.cond:
            self.sink.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                       "msg": msg, "raw": envelope.content})
            self.sink.cond.notify_all()
        return "250 OK"


class SmtpSink:
    def __init__(self):
        self.messages = []
        self.cond = threading.Condition()
        self.port = harness.free_port()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def wait_for(self, to, timeout=15, count=1):
        """The count-th message to `to` (waiting for it)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [m for m in self.messages if to in m["to"]]
                if len(got) >= count:
                    return got[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no mail #%d to %s within %ss (have %d)" % (count, to, timeout, len(got)))
                self.cond.wait(left)

    def count_to(self, to):
        with self.cond:
            return len([m for m in self.messages if to in m["to"]])


def mail_text(m):
    body = m["msg"].get_body(preferencelist=("plain",))
    return body.get_content()


def mail_link(m):
    """The validation link in a mail."""
    found = re.search(r"(https?://\S+submit_token\?\S+)", mail_text(m))
    assert found, mail_text(m)
    return found.group(1)


def link_params(link):
    q = urllib.parse.parse_qs(urllib.parse.urlparse(link).query)
    return {k: v[0] for k, v in q.items()}


class SilentSmtp:
    """Accepts TCP connections and never says a word."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                continue

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self._stop = True
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


# --- small HTTP servers ---------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Base(BaseHTTPRequestHandler):
    app = None

    def log_message(self, fmt, *args):
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, obj=None, headers=None, raw=None, ctype="application/json"):
        data = raw if raw is not None else (json.dumps(obj).encode() if obj is not None else b"")
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if data or obj is not None:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.app.handle(self, "GET")

    def do_POST(self):
        self.app.handle(self, "POST")


class _App:
    def __init__(self):
        handler = type("H", (_Base,), {"app": self})
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.base = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.requests = []
        self.lock = threading.Lock()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, h, method):
        url = urllib.parse.urlparse(h.path)
        body = h._body() if method == "POST" else b""
        with self.lock:
            self.requests.append({"method": method, "path": url.path, "query": url.query,
                                  "headers": dict(h.headers), "body": body})
        try:
            self.route(h, method, url.path, urllib.parse.parse_qs(url.query), body)
        except Exception as e:  # a bug in the test server must show
            h._send(500, {"errcode": "M_UNKNOWN", "error": "test server: %r" % e})
            raise

    def calls(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]


# --- identity server ------------------------------------------------------------------------------


class IdentityServer(_App):
    """Identity Service API v2, as much as a homeserver uses."""

    def __init__(self):
        super().__init__()
        self.name = "127.0.0.1:%d" % self.port
        self.key = ed25519.Ed25519PrivateKey.generate()
        self.public_key = b64(self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        self.ephemeral = ed25519.Ed25519PrivateKey.generate()
        self.ephemeral_public = b64u(self.ephemeral.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        self.access_tokens = {"is-token-" + secrets.token_hex(4)}
        self.token = next(iter(self.access_tokens))
        self.pepper = "pepper" + secrets.token_hex(4)
        self.sessions = {}  # sid -> {client_secret, medium, address}
        self.binds = {}  # (medium, address) -> mxid
        self.invites = []  # pending store-invites
        self.revoked = set()
        self.hs_keys = {}  # homeserver name -> (key_id, Ed25519PublicKey)
        self.homeservers = {}  # homeserver name -> base URL (for onbind)
        self.unbind_status = 200
        self.algorithms = ["none", "sha256"]

    def add_session(self, medium, address, client_secret=None):
        sid = "is-sid-" + secrets.token_hex(6)
        secret = client_secret or "is-secret-" + secrets.token_hex(6)
        self.sessions[sid] = {"client_secret": secret, "medium": medium, "address": address}
        return sid, secret

    def trust_homeserver(self, srv):
        """Reads the homeserver's signing key (Synapse's file format) so unbind requests can be
        checked, and where to send onbind."""
        with open(srv.config["signing_key_path"]) as f:
            alg, version, seed = f.read().split()
        priv = ed25519.Ed25519PrivateKey.from_private_bytes(unb64(seed))
        self.hs_keys[srv.server_name] = ("%s:%s" % (alg, version), priv.public_key())
        self.homeservers[srv.server_name] = srv.base_url

    def _auth_ok(self, h):
        auth = h.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.access_tokens

    def _unauthorized(self, h):
        h._send(401, {"errcode": "M_UNAUTHORIZED", "error": "Unrecognised access token"})

    def _xmatrix_ok(self, h, uri, content):
        auth = h.headers.get("Authorization", "")
        if not auth.startswith("X-Matrix "):
            return False
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', auth[9:]))
        origin, key_id, sig = params.get("origin"), params.get("key"), params.get("sig")
        if origin not in self.hs_keys or self.hs_keys[origin][0] != key_id:
            return False
        req = {"method": "POST", "uri": uri, "origin": origin, "destination": self.name,
               "content": content}
        try:
            self.hs_keys[origin][1].verify(unb64(sig), canonical(req))
            return True
        except Exception:
            return False

    def signed_invite(self, inv, mxid):
        return sign_json({"mxid": mxid, "token": inv["token"], "sender": inv["sender"]},
                         self.name, "ed25519:0", self.key)

    def route(self, h, method, path, q, body):
        p = "/_matrix/identity/v2/"
        data = json.loads(body) if body else {}
        if path == p + "hash_details" and method == "GET":
            if not self._auth_ok(h):
                return self._unauthorized(h)
            return h._send(200, {"algorithms": self.algorithms, "lookup_pepper": self.pepper})
        if path == p + "lookup" and method == "POST":
            if not self._auth_ok(h):
                return self._unauthorized(h)
            out = {}
            for (medium, address), mxid in self.binds.items():
                if data.get("algorithm") == "sha256":
                    if data.get("pepper") != self.pepper:
                        return h._send(400, {"errcode": "M_INVALID_PEPPER", "error": "bad pepper"})
                    key = b64u(hashlib.sha256(("%s %s %s" % (address, medium, self.pepper)).encode()).digest())
                else:
                    key = "%s %s" % (address, medium)
                if key in data.get("addresses", []):
                    out[key] = mxid
            return h._send(200, {"mappings": out})
        if path == p + "3pid/bind" and method == "POST":
            if not self._auth_ok(h):
                return self._unauthorized(h)
            s = self.sessions.get(data.get("sid"))
            if not s or s["client_secret"] != data.get("client_secret"):
                return h._send(400, {"errcode": "M_NO_VALID_SESSION", "error": "No valid session"})
            self.binds[(s["medium"], s["address"])] = data["mxid"]
            resp = sign_json({"address": s["address"], "medium": s["medium"], "mxid": data["mxid"],
                              "not_before": 0, "not_after": 4102444800000,
                              "ts": int(time.time() * 1000)}, self.name, "ed25519:0", self.key)
            self._onbind(s["medium"], s["address"], data["mxid"])
            return h._send(200, resp)
        if path == p + "3pid/unbind" and method == "POST":
            if not self._xmatrix_ok(h, "/_matrix/identity/v2/3pid/unbind", data):
                return h._send(403, {"errcode": "M_FORBIDDEN", "error": "bad X-Matrix signature"})
            if self.unbind_status != 200:
                return h._send(self.unbind_status, {"errcode": "M_UNKNOWN", "error": "unbind refused"})
            tp = data.get("threepid", {})
            self.binds.pop((tp.get("medium"), tp.get("address")), None)
            return h._send(200, {})
        if path == p + "store-invite" and method == "POST":
            if not self._auth_ok(h):
                return self._unauthorized(h)
            if (data.get("medium"), data.get("address")) in self.binds:
                return h._send(400, {"errcode": "M_THREEPID_IN_USE", "error": "already bound"})
            token = "inv" + secrets.token_hex(8)
            inv = dict(data, token=token)
            self.invites.append(inv)
            addr = data.get("address", "")
            return h._send(200, {
                "token": token,
                "public_keys": [
                    {"public_key": self.public_key,
                     "key_validity_url": self.base + p + "pubkey/isvalid"},
                    {"public_key": self.ephemeral_public,
                     "key_validity_url": self.base + p + "pubkey/ephemeral/isvalid"},
                ],
                "display_name": addr[:1] + "..." + addr[addr.find("@"):addr.find("@") + 2] + "...",
            })
        if path in (p + "pubkey/isvalid", p + "pubkey/ephemeral/isvalid") and method == "GET":
            key = q.get("public_key", [""])[0]
            known = key in (self.public_key, self.ephemeral_public)
            return h._send(200, {"valid": known and key not in self.revoked})
        h._send(404, {"errcode": "M_UNRECOGNIZED", "error": "not here"})

    def _onbind(self, medium, address, mxid):
        """SPEC: identity service "Invitation Storage": on a bind, the pending invites go to the
        homeserver of mxid (PUT /_matrix/federation/v1/3pid/onbind)."""
        pending = [i for i in self.invites if i["medium"] == medium and i["address"] == address]
        if not pending:
            return
        server = mxid.split(":", 1)[1]
        base = self.homeservers.get(server)
        if not base:
            return
        invites = [{"medium": medium, "address": address, "mxid": mxid, "room_id": i["room_id"],
                    "sender": i["sender"], "signed": self.signed_invite(i, mxid)} for i in pending]
        body = {"medium": medium, "address": address, "mxid": mxid, "invites": invites}
        r = requests.put(base + "/_matrix/federation/v1/3pid/onbind", json=body, timeout=10)
        self.onbind_status = r.status_code
        for i in pending:
            self.invites.remove(i)


# --- OpenID Connect provider ----------------------------------------------------------------------


class OidcProvider(_App):
    def __init__(self, client_id="hearth", client_secret=None):
        super().__init__()
        self.issuer = self.base + "/"
        self.client_id = client_id
        self.client_secret = client_secret or "oidc-secret-" + secrets.token_hex(6)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "k" + secrets.token_hex(3)
        self.next_user = {"sub": "alice-sub", "preferred_username": "alice"}
        self.codes = {}
        self.tokens = {}
        self.deny = None  # an OAuth error to answer at /authorize
        self.id_token_tamper = None  # function(claims) -> claims, for negative tests
        self.sign_with = None  # another RSA key to sign ID tokens with
        self.pkce = True

    def config(self, **extra):
        """An oidc_providers entry for this provider."""
        cfg = {"idp_id": "test", "idp_name": "Test IdP", "issuer": self.issuer,
               "client_id": self.client_id, "client_secret": self.client_secret,
               "scopes": ["openid", "profile"], "skip_verification": True,
               "user_mapping_provider": {"config": {
                   "localpart_template": "{{ user.preferred_username }}",
                   "display_name_template": "{{ user.name }}",
                   "email_template": "{{ user.email }}"}}}
        cfg.update(extra)
        return cfg

    def jwk(self):
        nums = self.key.public_key().public_numbers()
        n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
        e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
        return {"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig", "n": b64u(n), "e": b64u(e)}

    def id_token(self, claims):
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing = b64u(canonical(header)) + "." + b64u(canonical(claims))
        key = self.sign_with or self.key
        sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing + "." + b64u(sig)

    def route(self, h, method, path, q, body):
        one = {k: v[0] for k, v in q.items()}
        if path == "/.well-known/openid-configuration":
            return h._send(200, {
                "issuer": self.issuer,
                "authorization_endpoint": self.base + "/authorize",
                "token_endpoint": self.base + "/token",
                "userinfo_endpoint": self.base + "/userinfo",
                "jwks_uri": self.base + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"] if self.pkce else [],
            })
        if path == "/jwks":
            return h._send(200, {"keys": [self.jwk()]})
        if path == "/authorize" and method == "GET":
            redirect = one.get("redirect_uri", "")
            if self.deny:
                loc = redirect + "?" + urllib.parse.urlencode({"error": self.deny, "state": one.get("state", "")})
                return h._send(302, headers={"Location": loc})
            code = "code-" + secrets.token_hex(8)
            self.codes[code] = {"params": one, "user": dict(self.next_user)}
            loc = redirect + "?" + urllib.parse.urlencode({"code": code, "state": one.get("state", "")})
            return h._send(302, headers={"Location": loc})
        if path == "/token" and method == "POST":
            form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
            auth = h.headers.get("Authorization", "")
            expected = "Basic " + base64.b64encode(("%s:%s" % (
                urllib.parse.quote(self.client_id, safe=""),
                urllib.parse.quote(self.client_secret, safe=""))).encode()).decode()
            if auth != expected:
                return h._send(401, {"error": "invalid_client"})
            grant = self.codes.pop(form.get("code"), None)
            if not grant or form.get("grant_type") != "authorization_code" or \
                    form.get("redirect_uri") != grant["params"].get("redirect_uri"):
                return h._send(400, {"error": "invalid_grant"})
            challenge = grant["params"].get("code_challenge")
            if challenge:
                verifier = form.get("code_verifier", "")
                if b64u(hashlib.sha256(verifier.encode()).digest()) != challenge:
                    return h._send(400, {"error": "invalid_grant", "error_description": "PKCE"})
            now = int(time.time())
            claims = dict(grant["user"], iss=self.issuer, aud=self.client_id, iat=now, exp=now + 300,
                          nonce=grant["params"].get("nonce"))
            if self.id_token_tamper:
                claims = self.id_token_tamper(claims)
            access = "at-" + secrets.token_hex(8)
            self.tokens[access] = grant["user"]
            return h._send(200, {"access_token": access, "token_type": "Bearer", "expires_in": 300,
                                 "id_token": self.id_token(claims)})
        if path == "/userinfo":
            auth = h.headers.get("Authorization", "")
            user = self.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
            if not user:
                return h._send(401, {"error": "invalid_token"})
            return h._send(200, user)
        h._send(404, {"error": "not_found"})


# --- Hearth wired to them -------------------------------------------------------------------------


def email_config(sink_port, **extra):
    cfg = {"smtp_host": "127.0.0.1", "smtp_port": sink_port,
           "notif_from": "Hearth <noreply@hearth.test>", "app_name": "Hearth Test"}
    cfg.update(extra)
    return cfg


def start_server(factory, overrides):
    """A server whose public_baseurl is its own address (mail links and SSO callbacks)."""
    srv = factory(overrides, start=False)
    srv.config["public_baseurl"] = srv.base_url + "/"
    srv.config.setdefault("identity_server_scheme", "http")
    srv.config.setdefault("rc_3pid_validation", dict(harness.GENEROUS_RC))
    # The identity servers of the tests live on loopback, which ip_range_blacklist refuses by
    # default (as Synapse's).
    if "ip_range_whitelist" not in (overrides or {}):
        srv.config["ip_range_whitelist"] = ["127.0.0.1"]
    srv.start()
    return srv


def request_email_token(api, kind, address, secret=None, attempt=1, **extra):
    """POST .../email/requestToken; kind is register, password or 3pid. Returns (response,
    client_secret)."""
    path = {"register": "/register/email/requestToken",
            "password": "/account/password/email/requestToken",
            "3pid": "/account/3pid/email/requestToken"}[kind]
    secret = secret or "secret" + secrets.token_hex(6)
    body = {"client_secret": secret, "email": address, "send_attempt": attempt}
    body.update(extra)
    return api.post(path, body), secret


def validate_by_link(sink, address, count=1):
    """Follows the link in the count-th mail to address (confirming a password reset page)."""
    m = sink.wait_for(address, count=count)
    link = mail_link(m)
    r = requests.get(link, timeout=10, allow_redirects=False)
    if "/password_reset/" in link:
        assert r.status_code == 200 and "<form" in r.text, r.text
        r = requests.post(link.split("?")[0], data=link_params(link), timeout=10, allow_redirects=False)
    return r, link_params(link)


def unique_email(prefix="user"):
    return "%s-%s@example.org" % (prefix, secrets.token_hex(5))
