"""Helpers shared by the room tests (create rooms, send events, read timelines).

Tokens: r0.6.1 has no way to obtain a "now" pagination token except /sync (not part of the
rooms issue), GET /rooms/{roomId}/initialSync (messages.end) and /context. The helpers use
the room initialSync's `messages.end` as the starting point for /messages dir=b; `from` is
required by message_pagination.yaml in r0.6.1, so the tests never omit it.
"""

import json
import re
import secrets

from harness import quote

ROOM_ID_RE = re.compile(r"^![^:]+:.+$")
EVENT_ID_V1_RE = re.compile(r"^\$[^:]+:.+$")
EVENT_ID_V3_RE = re.compile(r"^\$[A-Za-z0-9+/]{43}$")
EVENT_ID_V4_RE = re.compile(r"^\$[A-Za-z0-9_\-]{43}$")


def txn():
    return "t" + secrets.token_hex(8)


def register_users(server, n, prefix="r0"):
    api = server.api(prefix)
    return [api.register() for _ in range(n)]


def create_room(api, expect=200, **body):
    r = api.post("/createRoom", body)
    r.expect(expect)
    assert ROOM_ID_RE.match(r.body["room_id"]), r
    return r.body["room_id"]


def send(api, room_id, content=None, event_type="m.room.message", txn_id=None):
    if content is None:
        content = {"msgtype": "m.text", "body": "hello " + secrets.token_hex(3)}
    r = api.put("/rooms/%s/send/%s/%s" % (quote(room_id), quote(event_type), quote(txn_id or txn())), content)
    r.expect(200)
    return r.body["event_id"]


def send_raw(api, room_id, content, event_type="m.room.message", txn_id=None):
    return api.put("/rooms/%s/send/%s/%s" % (quote(room_id), quote(event_type), quote(txn_id or txn())),
                   content)


def state_path(room_id, event_type, state_key=""):
    p = "/rooms/%s/state/%s" % (quote(room_id), quote(event_type))
    if state_key != "":
        p += "/" + quote(state_key)
    return p


def put_state(api, room_id, event_type, content, state_key=""):
    r = api.put(state_path(room_id, event_type, state_key), content)
    r.expect(200)
    return r.body["event_id"]


def put_state_raw(api, room_id, event_type, content, state_key=""):
    return api.put(state_path(room_id, event_type, state_key), content)


def get_state(api, room_id, event_type, state_key=""):
    return api.get(state_path(room_id, event_type, state_key))


def state_content(api, room_id, event_type, state_key=""):
    return get_state(api, room_id, event_type, state_key).expect(200).body


def join(api, room_id_or_alias, via_join_path=False, **body):
    if via_join_path or room_id_or_alias.startswith("#"):
        r = api.post("/join/" + quote(room_id_or_alias), body)
    else:
        r = api.post("/rooms/%s/join" % quote(room_id_or_alias), body)
    return r


def invite(api, room_id, user_id, **extra):
    body = {"user_id": user_id}
    body.update(extra)
    return api.post("/rooms/%s/invite" % quote(room_id), body)


def leave(api, room_id, **body):
    return api.post("/rooms/%s/leave" % quote(room_id), body)


def kick(api, room_id, user_id, **extra):
    body = {"user_id": user_id}
    body.update(extra)
    return api.post("/rooms/%s/kick" % quote(room_id), body)


def ban(api, room_id, user_id, **extra):
    body = {"user_id": user_id}
    body.update(extra)
    return api.post("/rooms/%s/ban" % quote(room_id), body)


def unban(api, room_id, user_id, **extra):
    body = {"user_id": user_id}
    body.update(extra)
    return api.post("/rooms/%s/unban" % quote(room_id), body)


def redact(api, room_id, event_id, reason=None, txn_id=None):
    body = {} if reason is None else {"reason": reason}
    return api.put("/rooms/%s/redact/%s/%s" % (quote(room_id), quote(event_id), quote(txn_id or txn())), body)


def get_event(api, room_id, event_id):
    return api.get("/rooms/%s/event/%s" % (quote(room_id), quote(event_id)))


def room_state(api, room_id):
    return api.get("/rooms/%s/state" % quote(room_id))


def members(api, room_id, **params):
    return api.get("/rooms/%s/members" % quote(room_id), params=params or None)


def joined_members(api, room_id):
    return api.get("/rooms/%s/joined_members" % quote(room_id))


def initial_sync(api, room_id, **params):
    return api.get("/rooms/%s/initialSync" % quote(room_id), params=params or None)


def context(api, room_id, event_id, **params):
    if "filter" in params and not isinstance(params["filter"], str):
        params["filter"] = json.dumps(params["filter"])
    return api.get("/rooms/%s/context/%s" % (quote(room_id), quote(event_id)), params=params or None)


def messages(api, room_id, from_token, dir="b", **params):
    q = {"from": from_token, "dir": dir}
    for k, v in params.items():
        if k == "filter" and not isinstance(v, str):
            v = json.dumps(v)
        q[k] = v
    return api.get("/rooms/%s/messages" % quote(room_id), params=q)


def now_token(api, room_id):
    """A token for the current end of the room's timeline (room initialSync messages.end)."""
    r = initial_sync(api, room_id).expect(200)
    return r.body["messages"]["end"]


def timeline(api, room_id, from_token=None, limit=50, **params):
    """All events visible to api's user, chronological, by paging /messages backwards from
    `from_token` (default: now) until an empty chunk."""
    tok = from_token or now_token(api, room_id)
    out = []
    for _ in range(1000):
        r = messages(api, room_id, tok, "b", limit=limit, **params).expect(200)
        chunk = r.body["chunk"]
        out.extend(chunk)
        if not chunk or "end" not in r.body or r.body["end"] == tok:
            break
        tok = r.body["end"]
    else:
        raise AssertionError("pagination did not terminate")
    out.reverse()
    return out


def ids(events):
    return [e["event_id"] for e in events]


def state_map(events):
    return {(e["type"], e["state_key"]): e for e in events}


def find_state(events, event_type, state_key=""):
    for e in events:
        if e["type"] == event_type and e.get("state_key") == state_key:
            return e
    return None


def membership(api, room_id, user_id):
    """Content of user_id's m.room.member in the current state as seen by api's user, or None."""
    r = get_state(api, room_id, "m.room.member", user_id)
    if r.status == 404:
        return None
    r.expect(200)
    return r.body.get("membership")
