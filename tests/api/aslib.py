"""A small application service for the tests (application_service_api.rst): an HTTP server on
127.0.0.1 in a thread of its own that checks the hs_token, records every request, accepts (or
refuses, as told) transactions, and answers user, alias and third-party queries with handlers
the test sets. Plus writing registration files."""

import json
import os
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

V1 = "/_matrix/app/v1"


def registration(path, as_id, url, as_token, hs_token, sender_localpart, users=(), aliases=(),
                 rooms=(), protocols=None, rate_limited=None, extra=None):
    """Writes a registration file in Synapse's format. users/aliases/rooms: (regex, exclusive)
    pairs."""
    reg = {
        "id": as_id,
        "url": url,
        "as_token": as_token,
        "hs_token": hs_token,
        "sender_localpart": sender_localpart,
        "namespaces": {
            "users": [{"exclusive": ex, "regex": rx} for rx, ex in users],
            "aliases": [{"exclusive": ex, "regex": rx} for rx, ex in aliases],
            "rooms": [{"exclusive": ex, "regex": rx} for rx, ex in rooms],
        },
    }
    if protocols is not None:
        reg["protocols"] = protocols
    if rate_limited is not None:
        reg["rate_limited"] = rate_limited
    reg.update(extra or {})
    with open(path, "w") as f:
        yaml.safe_dump(reg, f, sort_keys=False)
    return path


class Request:
    def __init__(self, method, path, query, headers, body):
        self.method = method
        self.path = path
        self.query = query  # {name: [values]}
        self.headers = headers
        self.body = body

    def q(self, name):
        v = self.query.get(name)
        return v[0] if v else None


class FakeAS:
    """An application service. Handlers return (status, json_body)."""

    def __init__(self, hs_token=None, port=0, legacy_only=False):
        self.hs_token = hs_token or "hs-" + secrets.token_hex(16)
        self.as_token = "as-" + secrets.token_hex(16)
        self.port = port
        self.legacy_only = legacy_only
        self.cond = threading.Condition()
        self.requests = []
        self.txn_attempts = []  # (txn_id, body, Request) of every PUT /transactions
        self.accepted = {}  # txn_id -> events, in the order first accepted
        self.txn_statuses = []  # statuses to answer (in order) before accepting
        self.user_handler = lambda user_id: (404, {"errcode": "M_NOT_FOUND", "error": "no"})
        self.alias_handler = lambda alias: (404, {"errcode": "M_NOT_FOUND", "error": "no"})
        self.protocols = {}  # name -> metadata
        self.lookups = {}  # (kind, protocol or None) -> list, or a callable(Request)
        self._httpd = None
        self._thread = None

    # --- life cycle ---
    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urllib.parse.urlsplit(self.path)
                req = Request(self.command, urllib.parse.unquote(parts.path),
                              urllib.parse.parse_qs(parts.query, keep_blank_values=True),
                              dict(self.headers), json.loads(raw) if raw else None)
                status, body = fake._dispatch(req, parts.path)
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = _serve

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._httpd = Server(("127.0.0.1", self.port), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # --- requests ---
    def _dispatch(self, req, raw_path):
        with self.cond:
            self.requests.append(req)
            self.cond.notify_all()
        path = req.path
        if path.startswith(V1):
            if self.legacy_only:
                return 404, None  # a server that does not know the route: not a Matrix error
            path = path[len(V1):]
        elif path.startswith("/_matrix/app/unstable"):
            path = path[len("/_matrix/app/unstable"):]
        # SPEC: the hs_token as access_token; newer specs add the Authorization header.
        if req.q("access_token") != self.hs_token:
            return 403, {"errcode": "M_FORBIDDEN", "error": "bad hs_token"}
        if req.headers.get("Authorization") != "Bearer " + self.hs_token:
            return 403, {"errcode": "M_FORBIDDEN", "error": "bad Authorization header"}
        if req.method == "PUT" and path.startswith("/transactions/"):
            return self._transaction(path[len("/transactions/"):], req)
        if req.method == "GET" and path.startswith("/users/"):
            return self.user_handler(path[len("/users/"):])
        if req.method == "GET" and path.startswith("/rooms/"):
            return self.alias_handler(path[len("/rooms/"):])
        if req.method == "GET" and path.startswith("/thirdparty/protocol/"):
            name = path[len("/thirdparty/protocol/"):]
            if name in self.protocols:
                return 200, self.protocols[name]
            return 404, {"errcode": "M_NOT_FOUND", "error": "unknown protocol"}
        for kind in ("location", "user"):
            base = "/thirdparty/" + kind
            if req.method == "GET" and (path == base or path.startswith(base + "/")):
                proto = path[len(base) + 1:] or None
                ans = self.lookups.get((kind, proto))
                if callable(ans):
                    ans = ans(req)
                if ans is None:
                    return 404, {"errcode": "M_NOT_FOUND", "error": "nothing"}
                return 200, ans
        return 404, {"errcode": "M_UNRECOGNIZED", "error": "unknown route"}

    def _transaction(self, txn_id, req):
        with self.cond:
            self.txn_attempts.append((txn_id, req.body, req))
            status = self.txn_statuses.pop(0) if self.txn_statuses else 200
            if status == 200 and txn_id not in self.accepted:
                self.accepted[txn_id] = req.body["events"]
            self.cond.notify_all()
        if status == 200:
            return 200, {}
        return status, {"errcode": "M_UNKNOWN", "error": "try again"}

    # --- waiting ---
    def wait(self, predicate, timeout=20, what="condition"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                assert left > 0, "application service: timed out waiting for %s" % what
                self.cond.wait(left)

    def events(self):
        """Every event of the accepted transactions, in order."""
        with self.cond:
            out = []
            for evs in self.accepted.values():
                out.extend(evs)
            return out

    def event_ids(self):
        return [e["event_id"] for e in self.events()]

    def wait_event(self, event_id, timeout=20):
        self.wait(lambda: event_id in self.event_ids(), timeout, "event %s" % event_id)

    def requests_to(self, prefix):
        with self.cond:
            return [r for r in self.requests if r.path.startswith(prefix)]


def as_api(server, fake, prefix="r0"):
    return server.api(prefix, fake.as_token)


def write_reg(tmp_path, fake, as_id=None, sender=None, **kw):
    as_id = as_id or "as-" + secrets.token_hex(4)
    path = os.path.join(str(tmp_path), as_id + ".yaml")
    return registration(path, as_id, fake.url, fake.as_token, fake.hs_token,
                        sender or "_bot_" + secrets.token_hex(3), **kw)
