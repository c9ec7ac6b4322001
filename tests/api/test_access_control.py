"""Access-control matrix (issue 12): every endpoint of the route table (src/api/routes.c, read
by routelib.py, so new routes are covered automatically) that names a room, a user, a device,
a filter or an event is called by someone without the right: a user who never joined, one who
left, one who was banned, a guest, and a user acting on another user's account data, devices,
filters, tags, profile and presence. Each is refused with the spec's error, nothing of the
room leaks into the answer, and where the spec hides existence the answer for a real room is
the same as for a room that does not exist. (Which events each member may read under each
history visibility is test_history_visibility.py's matrix.)"""

import secrets

import pytest

import harness
import routelib
from harness import quote
from roomlib import create_room, send

ROUTES = routelib.ROUTES
ROOM_ROUTES = [r for r in ROUTES if {"roomId", "roomIdOrAlias"} & set(r.params)]
USER_ROUTES = [r for r in ROUTES if "userId" in r.params]
SECRET = "secret-" + secrets.token_hex(8)  # in the private room's name, topic and messages


def ids(routes):
    return [r.id for r in routes]


# A valid body per handler, so the request gets past validation to the permission check.
def body_for(route, w):
    return {
        "membership_invite": {"user_id": w.carol.user_id},
        "membership_kick": {"user_id": w.alice.user_id},
        "membership_ban": {"user_id": w.alice.user_id},
        "membership_unban": {"user_id": w.alice.user_id},
        "room_send_message": {"msgtype": "m.text", "body": "intruder"},
        "room_send_state": {"name": "intruder"},
        "redaction_redact": {"reason": "intruder"},
        "typing_put": {"typing": True, "timeout": 1000},
        "read_markers_post": {"m.fully_read": w.event, "m.read": w.event},
        "room_upgrades_upgrade": {"new_version": "6"},
        "report_content_report": {"score": -100, "reason": "x"},
        "public_rooms_set_visibility": {"visibility": "public"},
        "account_data_put": {"stolen": True},
        "account_data_room_put": {"stolen": True},
        "tags_put": {"order": 0.5},
        "profile_set_displayname": {"displayname": "intruder"},
        "profile_set_avatar_url": {"avatar_url": "mxc://x/y"},
        "presence_put_status": {"presence": "online"},
        "filter_post": {"room": {"timeline": {"limit": 1}}},
    }.get(route.handler, {}) if route.json else None


class World:
    """alice owns a private (invite-only, history "joined", guests forbidden) room with
    secrets in it; bob was in it and left; mallory was in it and was banned; eve never was;
    guest is a guest account. carol is a user to invite."""

    def __init__(self, server):
        self.server = server
        api = server.api("r0")
        self.alice, self.bob, self.mallory, self.eve, self.carol = (api.register() for _ in range(5))
        a = self.alice.api()
        self.room = create_room(a, preset="private_chat", name="name " + SECRET,
                                topic="topic " + SECRET, room_alias_name="acl" + secrets.token_hex(4))
        a.put("/rooms/%s/state/m.room.history_visibility" % quote(self.room),
              {"history_visibility": "joined"}).expect(200)
        # (the private_chat preset says can_join; SPEC: guest_access.rst)
        a.put("/rooms/%s/state/m.room.guest_access" % quote(self.room),
              {"guest_access": "forbidden"}).expect(200)
        for u in (self.bob, self.mallory):
            a.post("/rooms/%s/invite" % quote(self.room), {"user_id": u.user_id}).expect(200)
            u.api().post("/rooms/%s/join" % quote(self.room), {}).expect(200)
        self.bob.api().post("/rooms/%s/leave" % quote(self.room), {}).expect(200)
        a.post("/rooms/%s/ban" % quote(self.room), {"user_id": self.mallory.user_id, "reason": "x"}).expect(200)
        self.event = send(a, self.room, {"msgtype": "m.text", "body": "message " + SECRET})
        self.filter_id = a.post("/user/%s/filter" % quote(self.alice.user_id),
                                {"room": {"timeline": {"limit": 7}}}).expect(200).body["filter_id"]
        a.put("/user/%s/account_data/m.acl.secret" % quote(self.alice.user_id), {"s": SECRET}).expect(200)
        a.put("/user/%s/rooms/%s/account_data/m.acl.secret" % (quote(self.alice.user_id), quote(self.room)),
              {"s": SECRET}).expect(200)
        a.put("/user/%s/rooms/%s/tags/u.%s" % (quote(self.alice.user_id), quote(self.room), SECRET),
              {"order": 0.1}).expect(200)
        r = api.register_raw({}, kind="guest")
        r.expect(200)
        self.guest = harness.User.from_response(r.body, None, server)
        self.missing_room = "!nosuchroom%s:%s" % (secrets.token_hex(4), server.server_name)

    def values(self, **over):
        v = {
            "roomId": self.room,
            "roomIdOrAlias": self.room,
            "roomAlias": "#acl-none:%s" % self.server.server_name,
            "eventId": self.event,
            "userId": self.alice.user_id,
            "deviceId": self.alice.device_id,
            "eventType": "m.room.name",
            "stateKey": "",
            "type": "m.acl.secret",
            "txnId": "t" + secrets.token_hex(6),
            "filterId": self.filter_id,
            "tag": "u." + SECRET,
            "receiptType": "m.read",
            "serverName": self.server.server_name,
            "mediaId": "none",
            "fileName": "f",
            "protocol": "irc",
            # (issues 8, 13, 15: push rules, appservice networks, key backup)
            "scope": "global",
            "kind": "content",
            "ruleId": "hostile.rule",
            "networkId": "net",
            "version": "1",
            "sessionId": "session",
            "idpId": "oidc",  # (issue 10: SSO, UIA fallback)
            "authType": "m.login.password",
        }
        v.update(over)
        return v

    def call(self, route, user, prefix="r0", **over):
        api = self.server.api(prefix, user.access_token)
        path = route.path(prefix, **self.values(**over))
        body = body_for(route, self)
        kw = {} if body is None else {"json_body": body}
        if route.handler == "message_pagination_get":
            kw["params"] = {"dir": "b", "from": "s999999", "limit": "50"}
        return api.request(route.method, path, **kw)

    def room_unchanged(self):
        a = self.alice.api()
        state = a.get("/rooms/%s/state" % quote(self.room)).expect(200).body
        names = [e for e in state if e["type"] == "m.room.name"]
        assert names and names[0]["content"]["name"] == "name " + SECRET
        members = {e["state_key"]: e["content"]["membership"] for e in state if e["type"] == "m.room.member"}
        assert members.get(self.bob.user_id) == "leave"
        assert members.get(self.mallory.user_id) == "ban"
        assert self.eve.user_id not in members and self.carol.user_id not in members
        assert self.guest.user_id not in members


@pytest.fixture(scope="module")
def w(server):
    return World(server)


def assert_refused(r, route, statuses, errcodes):
    assert r.status in statuses and r.errcode in errcodes, "%s: expected %s %s, got %r" % (
        route.id, statuses, errcodes, r)
    assert SECRET not in r.text, "%s leaked the room: %r" % (route.id, r)


# --- rooms: someone who is not in the room ----------------------------------------------------

# Routes where the answer for a real room may differ from a missing one, and why.
ROOM_EXISTENCE_VISIBLE = {
    # SPEC: joining names the room to the server: 403 for an invite-only room, 404 for an
    # unknown one (Synapse: 404 "No known servers").
    "membership_join_room", "membership_join_alias",
    # SPEC (v1.1 knocking): the same for knocking (Synapse: 404 for an unknown room).
    "membership_knock",
    # SPEC: list_public_rooms.yaml: GET /directory/list/room/{roomId} is public, 404 for an
    # unknown room.
    "public_rooms_get_visibility",
}
# Routes about the caller's own data that do not need membership (the caller's own room
# account data and tags: Synapse stores them for any room ID).
OWN_DATA = {"account_data_room_put", "account_data_room_get", "tags_get", "tags_put", "tags_delete",
            # the caller's own server-side key backup, keyed by room ID (issue 15)
            "backup_keys_put", "backup_keys_get", "backup_keys_delete"}
# Each route's refusal for someone not in the room: (statuses, errcodes). SPEC (r0.6.1):
# GET .../event/{eventId}: 404 "not found or you do not have permission"; /events/{eventId}
# likewise; the rest 403 M_FORBIDDEN ("You aren't a member of the room").
REFUSAL = {
    "rooms_get_event": ((404,), ("M_NOT_FOUND",)),
    "event_context_get": ((404, 403), ("M_NOT_FOUND", "M_FORBIDDEN")),
    "report_content_report": ((404, 403), ("M_NOT_FOUND", "M_FORBIDDEN")),
    "membership_join_room": ((403,), ("M_FORBIDDEN",)),
    "membership_join_alias": ((403,), ("M_FORBIDDEN",)),
    "membership_knock": ((403,), ("M_FORBIDDEN",)),
}
# Routes a non-member may call and that answer 200 without effect or disclosure: forgetting a
# room one was never in (Synapse: 200 for any room; the same for one that does not exist).
HARMLESS = {"membership_forget"}
DEFAULT_REFUSAL = ((403,), ("M_FORBIDDEN",))


def room_routes_for(actor):
    out = []
    for r in ROOM_ROUTES:
        if r.handler in OWN_DATA or r.handler == "public_rooms_get_visibility":
            continue
        if r.handler in HARMLESS and actor in ("never", "guest"):
            continue
        if actor in ("left", "banned") and r.handler in ("membership_forget", "membership_leave"):
            continue  # forgetting or leaving again a room one has left is allowed
        out.append(r)
    return out


@pytest.mark.parametrize("actor", ["never", "left", "banned", "guest"])
def test_room_routes_refuse_non_members(w, actor):
    user = {"never": w.eve, "left": w.bob, "banned": w.mallory, "guest": w.guest}[actor]
    problems = []
    for n, route in enumerate(room_routes_for(actor)):
        prefix = harness.PREFIXES[n % 2]
        statuses, errcodes = REFUSAL.get(route.handler, DEFAULT_REFUSAL)
        if actor == "guest" and "GUEST_OK" not in route.flags and "GUEST" not in route.flags:
            statuses, errcodes = (403,), ("M_GUEST_ACCESS_FORBIDDEN",)
        elif actor == "guest":  # SPEC: guests may send only m.room.message (guest_access.rst)
            errcodes = errcodes + ("M_GUEST_ACCESS_FORBIDDEN",)
        if actor in ("left", "banned") and route.method == "GET" and route.handler in (
                "rooms_get_state", "rooms_get_state_event", "rooms_get_members",
                "room_initial_sync_get", "message_pagination_get"):
            # SPEC: a former member may read the room as it was when they left ("403: You
            # aren't a member of the room and weren't previously a member"); the secret
            # message was sent after they left and must not be there.
            r = w.call(route, user, prefix)
            if r.status == 200 and w.event in r.text:
                problems.append("%s: a former member sees an event from after they left" % route.id)
            if r.status != 200 and (r.status, r.errcode) != (403, "M_FORBIDDEN"):
                problems.append("%s: %r" % (route.id, r))
            continue
        r = w.call(route, user, prefix)
        try:
            assert_refused(r, route, statuses, errcodes)
        except AssertionError as e:
            problems.append(str(e))
    assert not problems, "\n".join(problems)
    w.room_unchanged()


def test_room_routes_do_not_reveal_existence(w):
    # Someone outside gets the same answer for the private room as for a room that does not
    # exist (status and errcode), except where the spec makes existence public.
    problems = []
    for route in ROOM_ROUTES:
        if route.handler in ROOM_EXISTENCE_VISIBLE or route.handler in OWN_DATA or \
                route.handler == "public_rooms_set_visibility":  # SPEC: 404 for unknown rooms
            continue
        real = w.call(route, w.eve, "v3")
        fake = w.call(route, w.eve, "v3", roomId=w.missing_room, roomIdOrAlias=w.missing_room)
        if (real.status, real.errcode) != (fake.status, fake.errcode):
            problems.append("%s: real room %r, missing room %r" % (route.id, real, fake))
    assert not problems, "\n".join(problems)


def test_event_from_another_room_is_not_found(w):
    # An event ID from the private room, asked for through a room eve is in: 404, as for an
    # event that does not exist (SPEC: rooms/{roomId}/event: "not found or no permission").
    e = w.eve.api()
    mine = create_room(e)
    for path in ("/rooms/%s/event/%s", "/rooms/%s/context/%s"):
        real = e.get(path % (quote(mine), quote(w.event)))
        fake = e.get(path % (quote(mine), quote("$nosuchevent" + secrets.token_hex(4))))
        real.expect(404, "M_NOT_FOUND")
        fake.expect(404, "M_NOT_FOUND")
        assert SECRET not in real.text
    real = e.get("/events/%s" % quote(w.event))
    fake = e.get("/events/%s" % quote("$nosuchevent" + secrets.token_hex(4)))
    assert (real.status, real.errcode) == (fake.status, fake.errcode) == (404, "M_NOT_FOUND"), (real, fake)
    r = e.post("/rooms/%s/receipt/m.read/%s" % (quote(mine), quote(w.event)), {})
    assert r.status in (400, 404) and r.errcode in ("M_NOT_FOUND", "M_INVALID_PARAM", "M_BAD_JSON"), r
    assert SECRET not in r.text


def test_redact_event_of_another_room(w):
    # Redacting the private room's event through one's own room must not touch it.
    e = w.eve.api()
    mine = create_room(e)
    # Accepting a redaction of an event the room does not have is allowed (Synapse does: it
    # has no effect); what matters is that the other room's event is untouched.
    r = e.put("/rooms/%s/redact/%s/%s" % (quote(mine), quote(w.event), secrets.token_hex(4)), {})
    assert r.status in (200, 400, 403, 404), r
    got = w.alice.api().get("/rooms/%s/event/%s" % (quote(w.room), quote(w.event))).expect(200).body
    assert got["content"].get("body") == "message " + SECRET


def test_sync_shows_nothing_of_the_room(w):
    for u in (w.eve, w.guest):
        r = u.api().get("/sync", params={"timeout": "0"}).expect(200)
        assert w.room not in r.text and SECRET not in r.text
    # bob left and mallory was banned before the secret message (they saw the name and topic
    # while they were members; the message is what they must not get).
    for u in (w.bob, w.mallory):
        r = u.api().get("/sync", params={"timeout": "0"}).expect(200)
        assert w.event not in r.text and "message " + SECRET not in r.text


def test_public_room_directory_and_search_hide_private_room(w):
    r = w.eve.api().get("/publicRooms").expect(200)
    assert w.room not in r.text and SECRET not in r.text
    r = w.eve.api().post("/user_directory/search", {"search_term": w.alice.localpart}).expect(200)
    assert SECRET not in r.text


# --- users: acting on another user's data -----------------------------------------------------

# Routes any user may call about another user, with the spec's reason.
USER_PUBLIC = {
    "profile_get", "profile_get_displayname", "profile_get_avatar_url",  # profiles are public
    # SPEC: presence.yaml GET /presence/{userId}/status: 403 only when not allowed to see it;
    # Synapse shows presence to users sharing a room; see test_presence.py.
    "presence_get_status",
}
# Every other user route: 403 M_FORBIDDEN ("Cannot add account data for other users" and
# the like; admin.yaml whois: only admins, or the user themself).
USER_REFUSAL = {}


@pytest.mark.parametrize("route", [r for r in USER_ROUTES if r.handler not in USER_PUBLIC],
                         ids=ids([r for r in USER_ROUTES if r.handler not in USER_PUBLIC]))
def test_other_users_data_is_refused(w, route, prefix):
    # eve acts on alice's account data, filters, tags, profile, presence, typing, openid.
    statuses, errcodes = USER_REFUSAL.get(route.handler, ((403,), ("M_FORBIDDEN",)))
    r = w.call(route, w.eve, prefix)
    assert_refused(r, route, statuses, errcodes)
    # The same answer whether or not the thing exists (a filter or type that is not there).
    fake = w.call(route, w.eve, prefix, filterId="987654321", type="m.acl.none", tag="u.none")
    assert (fake.status, fake.errcode) == (r.status, r.errcode), (r, fake)


def test_other_users_data_unchanged(w):
    a = w.alice.api()
    r = a.get("/user/%s/account_data/m.acl.secret" % quote(w.alice.user_id)).expect(200)
    assert r.body == {"s": SECRET}
    tags = a.get("/user/%s/rooms/%s/tags" % (quote(w.alice.user_id), quote(w.room))).expect(200).body
    assert list(tags["tags"]) == ["u." + SECRET]
    prof = a.get("/profile/%s" % quote(w.alice.user_id)).expect(200).body
    assert prof.get("displayname") != "intruder" and prof.get("avatar_url") != "mxc://x/y"
    f = a.get("/user/%s/filter/%s" % (quote(w.alice.user_id), w.filter_id)).expect(200).body
    assert f["room"]["timeline"]["limit"] == 7


def test_other_users_devices(w, prefix):
    # SPEC: device_management.yaml: the endpoints act on the caller's devices; another user's
    # device ID is 404, exactly like one that does not exist.
    e = w.eve.api(prefix)
    real = e.get("/devices/%s" % quote(w.alice.device_id))
    fake = e.get("/devices/%s" % quote("NOSUCHDEV" + secrets.token_hex(3)))
    real.expect(404, "M_NOT_FOUND")
    fake.expect(404, "M_NOT_FOUND")
    e.put("/devices/%s" % quote(w.alice.device_id), {"display_name": "intruder"}).expect(404, "M_NOT_FOUND")
    r = e.get("/devices").expect(200)
    assert w.alice.device_id not in [d["device_id"] for d in r.body["devices"]]
    # Deleting: after eve's own password, alice's device is still unknown to her.
    r = e.uia("DELETE", "/devices/%s" % quote(w.alice.device_id), {}, w.eve)
    assert r.status in (200, 404), r  # SPEC (Synapse too): deleting an unknown device is a no-op
    r = e.uia("POST", "/delete_devices", {"devices": [w.alice.device_id]}, w.eve)
    r.expect(200)
    w.alice.api(prefix).get("/account/whoami").expect(200)
    got = w.alice.api(prefix).get("/devices/%s" % quote(w.alice.device_id)).expect(200).body
    assert got.get("display_name") != "intruder"


def test_other_users_filter_ids_are_not_shared(w):
    # A filter ID is per user: eve's own GET with alice's filter ID finds nothing of alice's.
    e = w.eve.api()
    r = e.get("/user/%s/filter/%s" % (quote(w.eve.user_id), w.filter_id))
    if r.status == 200:
        assert r.body.get("room", {}).get("timeline", {}).get("limit") != 7, r
    else:
        r.expect(404, "M_NOT_FOUND")


# --- guests -----------------------------------------------------------------------------------

GUEST_REFUSED = [r for r in ROUTES if r.auth == "REQUIRED" and "GUEST" not in r.flags
                 and "ROUTE_GUEST_OK" not in r.flags]


def test_guest_refused_on_every_non_guest_route(w):
    # SPEC: guest_access.rst: guests may only call the listed endpoints; others answer
    # 403 M_GUEST_ACCESS_FORBIDDEN.
    problems = []
    for n, route in enumerate(GUEST_REFUSED):
        api = w.server.api(harness.PREFIXES[n % 2], w.guest.access_token)
        body = body_for(route, w)
        kw = {} if body is None else {"json_body": body}
        if route.stream:
            kw = {"data": b"x", "headers": {"Content-Type": "text/plain"}}
        r = api.request(route.method, route.path(harness.PREFIXES[n % 2],
                                                 **w.values(userId=w.guest.user_id)), **kw)
        if (r.status, r.errcode) != (403, "M_GUEST_ACCESS_FORBIDDEN"):
            problems.append("%s: %r" % (route.id, r))
    assert not problems, "\n".join(problems)
    w.room_unchanged()


def test_guest_cannot_join_room_forbidding_guests(w):
    # SPEC: guest_access.rst: "can_join" must be set for guests to join; the private room
    # says forbidden. Invited or not, the join is refused.
    g = w.guest.api()
    g.post("/rooms/%s/join" % quote(w.room), {}).expect(403, "M_FORBIDDEN")
    w.alice.api().post("/rooms/%s/invite" % quote(w.room), {"user_id": w.guest.user_id})
    g.post("/rooms/%s/join" % quote(w.room), {}).expect(403, "M_FORBIDDEN")
    # Invited under history "joined": nothing to read. (Synapse answers 403 to invited users;
    # Hearth an empty page: either way nothing of the room.)
    r = g.get("/rooms/%s/messages" % quote(w.room), params={"dir": "b", "from": "s999999"})
    assert r.status in (200, 403) and SECRET not in r.text and w.event not in r.text, r
    if r.status == 200:
        assert r.body["chunk"] == [], r
