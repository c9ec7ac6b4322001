"""Helpers for the /sync, filter, /events and guest tests (sync.yaml, filter.yaml, old_sync.yaml,
peeking_events.yaml).

sync() returns the harness Response (validated against sync.yaml unless validate=False);
sync_ok() asserts 200 and returns the body. Filters may be given as a dict (sent inline as JSON)
or as a filter ID string.
"""

import json
import threading
import time

import requests

from harness import Api, quote


def _filter_param(f):
    if f is None or isinstance(f, str):
        return f
    return json.dumps(f)


def sync(api, since=None, filter=None, timeout=None, full_state=None, set_presence=None,
         validate=True, http_timeout=60, **extra):
    params = {}
    if since is not None:
        params["since"] = since
    if filter is not None:
        params["filter"] = _filter_param(filter)
    if timeout is not None:
        params["timeout"] = str(timeout)
    if full_state is not None:
        params["full_state"] = ("true" if full_state else "false") if isinstance(full_state, bool) else full_state
    if set_presence is not None:
        params["set_presence"] = set_presence
    params.update(extra)
    return api.get("/sync", params=params, validate=validate, timeout=http_timeout)


def sync_ok(api, **kw):
    r = sync(api, **kw).expect(200)
    assert isinstance(r.body.get("next_batch"), str) and r.body["next_batch"], r
    return r.body


def rooms_section(body, section):
    return (body.get("rooms") or {}).get(section) or {}


def joined(body, room_id):
    """The rooms.join entry for room_id, or None."""
    return rooms_section(body, "join").get(room_id)


def invited(body, room_id):
    return rooms_section(body, "invite").get(room_id)


def left(body, room_id):
    return rooms_section(body, "leave").get(room_id)


def tl_events(room):
    """Timeline events of a rooms.join / rooms.leave entry ([] when absent)."""
    if room is None:
        return []
    return (room.get("timeline") or {}).get("events") or []


def st_events(room):
    if room is None:
        return []
    return (room.get("state") or {}).get("events") or []


def tl_ids(room):
    return [e["event_id"] for e in tl_events(room)]


def members_in(events):
    """{state_key: membership} of the m.room.member events in a list."""
    return {e["state_key"]: e["content"].get("membership") for e in events if e["type"] == "m.room.member"}


def sync_until(api, since, pred, deadline=10.0, filter=None, poll_timeout=2000):
    """Long-polls /sync from `since` until pred(body) is true; returns (body, list of all bodies).
    Each body's next_batch feeds the following request."""
    bodies = []
    end = time.monotonic() + deadline
    tok = since
    while True:
        b = sync_ok(api, since=tok, filter=filter, timeout=poll_timeout)
        bodies.append(b)
        if pred(b):
            return b, bodies
        tok = b["next_batch"]
        if time.monotonic() > end:
            raise AssertionError("condition not met within %.0fs; last sync: %r" % (deadline, b))


def create_filter(api, user_id, body):
    r = api.post("/user/%s/filter" % quote(user_id), body).expect(200)
    fid = r.body["filter_id"]
    assert isinstance(fid, str) and fid and not fid.startswith("{"), r
    return fid


def get_filter(api, user_id, filter_id):
    return api.get("/user/%s/filter/%s" % (quote(user_id), quote(filter_id)))


class _OwnSession:
    """Stands in for a HearthServer in an Api: same base URL, its own requests.Session (a
    Session must not be shared between threads)."""

    def __init__(self, server):
        self.server = server
        self.base_url = server.base_url
        self._session = requests.Session()


def own_session(api):
    """A copy of api (same prefix and token) with its own HTTP session, for use in a thread."""
    srv = api.server.server if isinstance(api.server, _OwnSession) else api.server
    return Api(_OwnSession(srv), api.prefix, api.token)


class Background:
    """Runs fn() in a thread; .result() joins and returns (value, elapsed seconds), re-raising
    any exception."""

    def __init__(self, fn):
        self._fn = fn
        self._value = None
        self._exc = None
        self.t_start = time.monotonic()
        self.t_end = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            self._value = self._fn()
        except BaseException as e:  # noqa: BLE001 -- re-raised in result()
            self._exc = e
        finally:
            self.t_end = time.monotonic()

    def done(self):
        return not self._thread.is_alive()

    def result(self, timeout=60):
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "background request still running after %ss" % timeout
        if self._exc is not None:
            raise self._exc
        return self._value, self.t_end - self.t_start
