"""Black-box test harness for Hearth: start a real `hearth serve` on a free port with a fresh
data directory, talk to it over HTTP, validate every response against the spec's OpenAPI
schemas, stop it with SIGTERM and check that it exited cleanly (status 0, no sanitizer report).

Shared by tests/api and tests/interop (tests/interop/conftest.py puts this directory on
sys.path). Only the Python standard library, requests, PyYAML and jsonschema are used.
"""

import copy
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import time
import urllib.parse

import requests
import yaml

import schema as spec_schema

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER_NAME = os.environ.get("HEARTH_TEST_SERVER_NAME", "hearth.test")
START_TIMEOUT = float(os.environ.get("HEARTH_START_TIMEOUT", "15"))
STOP_TIMEOUT = float(os.environ.get("HEARTH_STOP_TIMEOUT", "15"))
# With no request in flight, SIGTERM should take well under this.
SLOW_STOP = float(os.environ.get("HEARTH_SLOW_STOP", "5"))
PREFIXES = ("r0", "v3")
SHARED_SECRET = "hearth-test-shared-secret-" + secrets.token_hex(8)

# A localpart valid under the spec's grammar (appendices/identifier_grammar.rst).
LOCALPART_RE = re.compile(r"^[a-z0-9._=\-/]+$")
USER_ID_RE = re.compile(r"^@([a-z0-9._=\-/]+):(.+)$")

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "UndefinedBehaviorSanitizer",
    "runtime error:",
    "ERROR: ThreadSanitizer",
    "WARNING: ThreadSanitizer",
)

GENEROUS_RC = {"per_second": 1000, "burst_count": 1000}

# HEARTH_TEST_PG="host=DIR port=N user=postgres dbname=D": every server gets its own schema in
# that PostgreSQL database instead of an SQLite file (make test runs the suite both ways).
TEST_PG = os.environ.get("HEARTH_TEST_PG", "")


def pg_params():
    """The HEARTH_TEST_PG conninfo as a dict (simple key=value words only)."""
    return dict(w.split("=", 1) for w in TEST_PG.split())


def pg_psql(sql, dbname=None):
    p = pg_params()
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", p.get("host", ""), "-p",
           p.get("port", "5432"), "-U", p.get("user", "postgres"), "-d",
           dbname or p.get("dbname", "postgres"), "-tA", "-c", sql]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def pg_schema_for(data_dir):
    """One schema per data dir, so a server restarted on the same dir finds its data."""
    name = "h_" + hashlib.sha256(os.path.abspath(data_dir).encode()).hexdigest()[:20]
    pg_psql("CREATE SCHEMA IF NOT EXISTS %s" % name)
    return name


# Backup check (issue 14, make backup-check): HEARTH_TEST_BASE_DB=path to an SQLite file makes
# every server of this server name begin from a copy of that database (and of the media store
# in HEARTH_TEST_BASE_MEDIA, if set) instead of an empty one.
BASE_DB = os.environ.get("HEARTH_TEST_BASE_DB", "")
BASE_MEDIA = os.environ.get("HEARTH_TEST_BASE_MEDIA", "")
BASE_KEY = os.environ.get("HEARTH_TEST_BASE_KEY", "")  # the backed-up server's signing key


def seed_from_base(config, server_name):
    """Copies the base database (and media) into a new server's paths, once per data dir."""
    db = config.get("database") or {}
    path = (db.get("args") or {}).get("database")
    if not BASE_DB or db.get("name") != "sqlite3" or not path or server_name != SERVER_NAME:
        return
    if not os.path.exists(path):
        shutil.copyfile(BASE_DB, path)
        media = config.get("media_store_path")
        if BASE_MEDIA and media and not os.path.exists(media):
            shutil.copytree(BASE_MEDIA, media)
        key = config.get("signing_key_path")
        if BASE_KEY and key and not os.path.exists(key):
            shutil.copyfile(BASE_KEY, key)


def database_config(data_dir):
    if not TEST_PG:
        return {"name": "sqlite3", "args": {"database": os.path.join(data_dir, "homeserver.db")}}
    args = pg_params()
    args["options"] = "-c search_path=%s" % pg_schema_for(data_dir)
    args["cp_min"] = 1
    args["cp_max"] = 20
    return {"name": "psycopg2", "args": args}

DELETE = object()  # in config overrides: remove this key


def hearth_bin():
    env = os.environ.get("HEARTH_BIN")
    if env:
        return env
    for cand in ("build-test/hearth", "build/hearth"):
        p = os.path.join(REPO, cand)
        if os.path.exists(p):
            return p
    return os.path.join(REPO, "build-test/hearth")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deep_merge(base, overrides):
    out = copy.deepcopy(base)
    for k, v in (overrides or {}).items():
        if v is DELETE:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def default_config(data_dir, port, server_name=SERVER_NAME):
    return {
        "server_name": server_name,
        "listeners": [{"port": port, "bind_addresses": ["127.0.0.1"], "type": "http"}],
        "database": database_config(data_dir),
        "media_store_path": os.path.join(data_dir, "media_store"),
        "signing_key_path": os.path.join(data_dir, server_name + ".signing.key"),
        "enable_registration": True,
        "enable_registration_without_verification": True,
        "allow_guest_access": True,
        "registration_shared_secret": SHARED_SECRET,
        "rc_message": dict(GENEROUS_RC),
        "rc_registration": dict(GENEROUS_RC),
        "rc_login": {
            "address": dict(GENEROUS_RC),
            "account": dict(GENEROUS_RC),
            "failed_attempts": dict(GENEROUS_RC),
        },
    }


def sanitizer_report(text):
    for m in SANITIZER_MARKERS:
        if m in text:
            i = text.index(m)
            return text[max(0, i - 200): i + 3000]
    return None


class ServerError(AssertionError):
    pass


class HearthServer:
    """One `hearth serve` process with its own data dir and port."""

    def __init__(self, data_dir, overrides=None, server_name=SERVER_NAME, raw_config=None):
        self.data_dir = str(data_dir)
        os.makedirs(self.data_dir, exist_ok=True)
        self.server_name = server_name
        if raw_config is not None:
            self.config = raw_config
            self.port = int(raw_config["listeners"][0]["port"])
        else:
            self.port = free_port()
            self.config = deep_merge(default_config(self.data_dir, self.port, server_name), overrides)
        self.config_path = os.path.join(self.data_dir, "homeserver.yaml")
        self.stderr_path = os.path.join(self.data_dir, "stderr.log")
        self.proc = None
        self.base_url = "http://127.0.0.1:%d" % self.port
        self._stderr_file = None
        self._session = requests.Session()

    # --- process control -------------------------------------------------
    def write_config(self):
        with open(self.config_path, "w") as f:
            yaml.safe_dump(self.config, f, sort_keys=False)

    def start(self):
        self.write_config()
        seed_from_base(self.config, self.server_name)
        binary = hearth_bin()
        if not os.path.exists(binary):
            raise ServerError("hearth binary not found at %s (set HEARTH_BIN)" % binary)
        self._session.close()
        self._session = requests.Session()
        self._stderr_file = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [binary, "serve", "--config", self.config_path],
            stdin=subprocess.DEVNULL,
            stdout=self._stderr_file,
            stderr=self._stderr_file,
            cwd=self.data_dir,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise ServerError(
                    "hearth (%s) exited with status %s during start-up; stderr:\n%s"
                    % (self.data_dir, self.proc.returncode, self.stderr()[-6000:])
                )
            try:
                r = requests.get(self.base_url + "/_matrix/client/versions", timeout=1)
                if r.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise ServerError(
                    "hearth did not answer /_matrix/client/versions within %.0fs; stderr:\n%s"
                    % (START_TIMEOUT, self.stderr()[-6000:])
                )
            time.sleep(0.05)

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if not self.alive():
            raise ServerError(
                "hearth died (status %s); stderr:\n%s" % (self.proc.returncode, self.stderr()[-8000:])
            )

    def stop(self, sig=signal.SIGTERM, check=True):
        """Stops the server; returns its exit status. With check, asserts status 0 and a clean
        stderr."""
        if self.proc is None:
            return None
        self._session.close()
        slow = None
        if self.proc.poll() is None:
            t0 = time.monotonic()
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
                if time.monotonic() - t0 > SLOW_STOP:
                    slow = time.monotonic() - t0
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if self._stderr_file:
                    self._stderr_file.close()
                if check:
                    raise ServerError(
                        "hearth did not exit within %.0fs of signal %d; stderr:\n%s"
                        % (STOP_TIMEOUT, sig, self.stderr()[-6000:])
                    )
                return None
        rc = self.proc.returncode
        if self._stderr_file:
            self._stderr_file.close()
            self._stderr_file = None
        if check:
            self.check_clean_exit(rc)
            if slow is not None:
                raise ServerError(
                    "hearth (%s) took %.1fs to exit after signal %d with no request in flight "
                    "(stuck connections?); stderr tail:\n%s" % (self.data_dir, slow, sig, self.stderr()[-3000:])
                )
        return rc

    def check_clean_exit(self, rc):
        text = self.stderr()
        report = sanitizer_report(text)
        if report:
            raise ServerError("sanitizer report in hearth's stderr:\n" + report)
        if rc != 0:
            raise ServerError("hearth (%s) exited with status %s; stderr:\n%s" % (self.data_dir, rc, text[-6000:]))

    # --- HTTP -----------------------------------------------------------------
    def api(self, prefix="r0", token=None):
        return Api(self, prefix, token)


class Response:
    """A requests.Response plus the parsed JSON body (None when the body is not JSON)."""

    def __init__(self, r):
        self.raw = r
        self.status = r.status_code
        self.headers = r.headers
        self.text = r.text
        try:
            self.body = r.json()
        except ValueError:
            self.body = None

    @property
    def errcode(self):
        return self.body.get("errcode") if isinstance(self.body, dict) else None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.text[:500])

    def expect(self, status, errcode=None):
        """Asserts the status (an int or a collection of ints) and, if given, the errcode (a
        string or a collection of strings)."""
        ok_status = status if isinstance(status, (tuple, list, set, frozenset)) else (status,)
        assert self.status in ok_status, "expected HTTP %s, got %r" % (status, self)
        if errcode is not None:
            ok_err = (errcode,) if isinstance(errcode, str) else tuple(errcode)
            assert isinstance(self.body, dict), "error body is not a JSON object: %r" % self
            assert self.errcode in ok_err, "expected errcode %s, got %r" % (errcode, self)
        return self


_MISSING = object()


class Api:
    """Client for one server and one prefix (r0 or v3). Every response whose path/method is
    in the spec is validated against the spec's schema for its status code; every error
    response must be a standard error object."""

    def __init__(self, server, prefix="r0", token=None):
        self.server = server
        self.prefix = prefix
        self.token = token

    def with_token(self, token):
        return Api(self.server, self.prefix, token)

    def url_path(self, path):
        if path.startswith("/_matrix") or path.startswith("/.well-known") or path.startswith("/_synapse"):
            return path
        return "/_matrix/client/%s%s" % (self.prefix, path)

    def request(self, method, path, json_body=_MISSING, *, data=None, headers=None, params=None,
                token=_MISSING, validate=True, timeout=30, query_token=False):
        full = self.url_path(path)
        hdrs = dict(headers or {})
        tok = self.token if token is _MISSING else token
        params = dict(params or {})
        if tok is not None:
            if query_token:
                params["access_token"] = tok
            else:
                hdrs["Authorization"] = "Bearer " + tok
        if json_body is not _MISSING:
            data = json.dumps(json_body)
            hdrs.setdefault("Content-Type", "application/json")
        r = self.server._session.request(
            method, self.server.base_url + full, data=data, headers=hdrs, params=params or None,
            timeout=timeout,
        )
        resp = Response(r)
        if validate:
            spec_schema.validate_response(method, full, resp.status, resp.body, resp.text)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=_MISSING, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=_MISSING, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, body=_MISSING, **kw):
        return self.request("DELETE", path, body, **kw)

    # --- account helpers --------------------------------------------------------
    def register_raw(self, body, kind=None, **kw):
        params = {"kind": kind} if kind else None
        return self.post("/register", body, params=params, token=kw.pop("token", None), **kw)

    def register(self, username=_MISSING, password=_MISSING, **extra):
        """Registers through the m.login.dummy UIA flow; returns a User."""
        if username is _MISSING:
            username = unique_localpart()
        if password is _MISSING:
            password = "pw-" + secrets.token_hex(8)
        body = dict(extra)
        if username is not None:
            body["username"] = username
        if password is not None:
            body["password"] = password
        r = self.register_raw(body)
        r.expect(401)
        session = r.body.get("session")
        auth = {"type": "m.login.dummy"}
        if session is not None:
            auth["session"] = session
        body["auth"] = auth
        r = self.register_raw(body)
        r.expect(200)
        return User.from_response(r.body, password, self.server)

    def login_raw(self, body, **kw):
        return self.post("/login", body, token=kw.pop("token", None), **kw)

    def login(self, user, password=None, **extra):
        """Password login with an m.id.user identifier; returns a User."""
        ident = user.user_id if isinstance(user, User) else user
        pw = password if password is not None else user.password
        body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": ident},
                "password": pw}
        body.update(extra)
        r = self.login_raw(body)
        r.expect(200)
        return User.from_response(r.body, pw, self.server)

    def as_user(self, user):
        return self.with_token(user.access_token)

    def password_auth(self, user, session=None, password=None):
        auth = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user.user_id},
            "password": password if password is not None else user.password,
        }
        if session is not None:
            auth["session"] = session
        return auth

    def uia(self, method, path, body, user, password=None):
        """Runs an m.login.password UIA for (method, path): first request without auth must
        answer 401 offering m.login.password, then completes it. Returns the final response."""
        body = dict(body or {})
        r = self.request(method, path, body)
        r.expect(401)
        assert any(f.get("stages") == ["m.login.password"] for f in r.body["flows"]), r
        body["auth"] = self.password_auth(user, r.body.get("session"), password)
        return self.request(method, path, body)


class User:
    def __init__(self, user_id, password, access_token, device_id, server):
        self.user_id = user_id
        self.password = password
        self.access_token = access_token
        self.device_id = device_id
        self.server = server

    @property
    def localpart(self):
        return self.user_id[1:].split(":", 1)[0]

    @classmethod
    def from_response(cls, body, password, server):
        return cls(body["user_id"], password, body.get("access_token"), body.get("device_id"), server)

    def api(self, prefix="r0"):
        return Api(self.server, prefix, self.access_token)

    def __repr__(self):
        return "<User %s dev=%s>" % (self.user_id, self.device_id)


def unique_localpart(prefix="u"):
    return "%s%s" % (prefix, secrets.token_hex(6))


def random_device_id():
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(10))


def admin_mac(secret, nonce, username, password, admin=False, user_type=None):
    """Synapse's shared-secret registration MAC: HMAC-SHA1 over
    nonce NUL username NUL password NUL (admin|notadmin) [NUL user_type], hex."""
    m = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha1)
    m.update(nonce.encode("utf-8"))
    m.update(b"\x00")
    m.update(username.encode("utf-8"))
    m.update(b"\x00")
    m.update(password.encode("utf-8"))
    m.update(b"\x00")
    m.update(b"admin" if admin else b"notadmin")
    if user_type:
        m.update(b"\x00")
        m.update(user_type.encode("utf-8"))
    return m.hexdigest()


def quote(s):
    return urllib.parse.quote(s, safe="")


def run_cli(*args, timeout=60, **kw):
    return subprocess.run([hearth_bin(), *args], capture_output=True, text=True, timeout=timeout, **kw)
