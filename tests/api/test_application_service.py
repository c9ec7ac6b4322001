"""Application services (application_service_api.rst, third_party_lookup.yaml,
appservice_room_directory.yaml, m.login.application_service in registration.yaml), against
small application services run by the tests (aslib.FakeAS: an HTTP server on 127.0.0.1 that
checks the hs_token on every request).

- registration files: validated at start (hearth refuses to start, naming the key);
- the as_token: acting as the sender, ?user_id= masquerading inside the users namespace only
  (403 M_FORBIDDEN outside it, or for users the service has not registered);
- POST /register with m.login.application_service; exclusive namespaces (400 M_EXCLUSIVE) for
  other users' registrations and for aliases; rate limits only with rate_limited: true;
- transactions: the events of interest, in order, with the hs_token, retried until accepted,
  kept across a restart of hearth; legacy routes when the service has no /_matrix/app/v1;
- queries: GET /users/{userId} and /rooms/{roomAlias} for unknown IDs in exclusive namespaces;
- third-party networks: protocols aggregated from the services, lookups passed on;
- the services' room directories in /publicRooms.
"""

import json
import re
import secrets
import time

import pytest

import harness
from aslib import FakeAS, as_api, registration, write_reg
from harness import SERVER_NAME, HearthServer, quote, run_cli
from roomlib import create_room, join, send, txn

IRC_USERS = [("@_irc_.*", True), ("@ircx_.*", True), ("@shared_.*", False)]


def uid(localpart):
    return "@%s:%s" % (localpart, SERVER_NAME)


def lp(prefix):
    return prefix + secrets.token_hex(4)


def as_register(api, fake, username, **extra):
    body = {"type": "m.login.application_service", "username": username}
    body.update(extra)
    return api.post("/register", body, token=fake.as_token)


class Env:
    def __init__(self, srv, irc, watch):
        self.srv = srv
        self.irc = irc
        self.watch = watch

    def irc_api(self, prefix="r0"):
        return as_api(self.srv, self.irc, prefix)

    def ghost(self, localpart=None):
        """A user of the irc service, registered by it; returns its user ID."""
        localpart = localpart or lp("_irc_g")
        as_register(self.irc_api(), self.irc, localpart, inhibit_login=True).expect(200)
        return uid(localpart)

    def as_ghost(self, ghost, prefix="r0"):
        return GhostApi(self.irc_api(prefix), ghost)


class GhostApi:
    """An Api acting as a user of a service (?user_id=)."""

    def __init__(self, api, user_id):
        self.api = api
        self.user_id = user_id

    def request(self, method, path, body=harness._MISSING, params=None, **kw):
        params = dict(params or {})
        params["user_id"] = self.user_id
        return self.api.request(method, path, body, params=params, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=harness._MISSING, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=harness._MISSING, **kw):
        return self.request("PUT", path, body, **kw)


IRC_PROTOCOL = {
    "user_fields": ["network", "nickname"],
    "location_fields": ["network", "channel"],
    "icon": "mxc://example.org/irc",
    "field_types": {
        "network": {"regexp": "[a-z.]+", "placeholder": "irc.example.org"},
        "nickname": {"regexp": "[^\\s]+", "placeholder": "nick"},
        "channel": {"regexp": "#[^\\s]+", "placeholder": "#foo"},
    },
    "instances": [{"network_id": "libera", "desc": "Libera", "fields": {"network": "libera.chat"}}],
}


def irc_protocol(network_id, desc):
    p = json.loads(json.dumps(IRC_PROTOCOL))
    p["instances"] = [{"network_id": network_id, "desc": desc, "fields": {"network": network_id}}]
    return p


GITTER_PROTOCOL = {
    "user_fields": ["username"],
    "location_fields": ["room"],
    "icon": "mxc://example.org/gitter",
    "field_types": {"username": {"regexp": "@[^\\s]+", "placeholder": "@u"},
                    "room": {"regexp": "[^\\s]+/[^\\s]+", "placeholder": "a/b"}},
    "instances": [{"network_id": "gitter", "desc": "Gitter", "fields": {}}],
}


@pytest.fixture(scope="module")
def env(module_server_factory, tmp_path_factory):
    d = tmp_path_factory.mktemp("as-regs")
    irc = FakeAS().start()
    watch = FakeAS().start()
    irc.protocols = {"irc": irc_protocol("libera", "Libera")}
    watch.protocols = {"irc": irc_protocol("oftc", "OFTC"), "gitter": GITTER_PROTOCOL}
    regs = [
        write_reg(d, irc, as_id="irc", sender="_irc_bot", users=IRC_USERS,
                  aliases=[("#_irc_.*", True)], protocols=["irc"]),
        write_reg(d, watch, as_id="watch", sender="watchbot", users=[("@_watch_.*", True)],
                  aliases=[("#_watch_.*", False)], protocols=["irc", "gitter"]),
    ]
    srv = module_server_factory({"app_service_config_files": regs})
    yield Env(srv, irc, watch)
    irc.stop()
    watch.stop()


@pytest.fixture(scope="module")
def alice(env):
    return env.srv.api("r0").register()


# ---- the as_token ----------------------------------------------------------------------------


def test_sender_was_created_and_is_the_default_user(env, prefix):
    body = env.irc_api(prefix).get("/account/whoami").expect(200).body
    assert body["user_id"] == uid("_irc_bot")
    assert "device_id" not in body  # a service has no device
    # The token may come as the access_token parameter too.
    r = env.irc_api(prefix).get("/account/whoami", query_token=True).expect(200)
    assert r.body["user_id"] == uid("_irc_bot")
    # The sender has a profile (its account exists).
    assert env.srv.api(prefix).get("/profile/" + quote(uid("_irc_bot"))).expect(200).body


def test_masquerade_inside_namespace(env, prefix):
    ghost = env.ghost()
    r = env.as_ghost(ghost, prefix).get("/account/whoami").expect(200)
    assert r.body["user_id"] == ghost
    # A non-exclusive namespace counts too, for users anyone registered.
    shared = env.srv.api(prefix).register(lp("shared_"))
    r = env.as_ghost(shared.user_id, prefix).get("/account/whoami").expect(200)
    assert r.body["user_id"] == shared.user_id
    # The sender may be named explicitly.
    r = env.as_ghost(uid("_irc_bot"), prefix).get("/account/whoami").expect(200)
    assert r.body["user_id"] == uid("_irc_bot")


@pytest.mark.parametrize("who", ["normal", "other_service", "remote", "malformed", "unregistered"])
def test_masquerade_refused(env, alice, prefix, who):
    target = {
        "normal": alice.user_id,
        "other_service": uid(lp("_watch_")),
        "remote": "@_irc_x:elsewhere.example",
        "malformed": "_irc_no_sigil",
        "unregistered": uid(lp("_irc_nobody")),
    }[who]
    if who == "other_service":
        as_register(env.srv.api(), env.watch, target[1:].split(":")[0], inhibit_login=True).expect(200)
    env.as_ghost(target, prefix).get("/account/whoami").expect(403, "M_FORBIDDEN")


def test_user_id_parameter_ignored_for_user_tokens(env, alice, prefix):
    r = alice.api(prefix).get("/account/whoami", params={"user_id": uid("_irc_bot")}).expect(200)
    assert r.body["user_id"] == alice.user_id


def test_unknown_token_still_refused(env, prefix):
    env.srv.api(prefix, "as-not-a-token").get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")


# ---- registration ------------------------------------------------------------------------------


def test_register_via_service(env, prefix):
    name = lp("_irc_reg")
    r = as_register(env.srv.api(prefix), env.irc, name, initial_device_display_name="bridge").expect(200)
    assert r.body["user_id"] == uid(name)
    assert r.body["access_token"] and r.body["device_id"]
    who = env.srv.api(prefix, r.body["access_token"]).get("/account/whoami").expect(200).body
    assert who["user_id"] == uid(name)
    # Registering it again: taken.
    as_register(env.srv.api(prefix), env.irc, name).expect(400, "M_USER_IN_USE")


def test_register_via_service_auth_type_and_inhibit_login(env, prefix):
    name = lp("_irc_auth")
    r = env.srv.api(prefix).post("/register", {"auth": {"type": "m.login.application_service"},
                                                "username": name, "inhibit_login": True},
                                 token=env.irc.as_token).expect(200)
    assert r.body["user_id"] == uid(name)
    assert "access_token" not in r.body and "device_id" not in r.body
    env.as_ghost(uid(name), prefix).get("/account/whoami").expect(200)


def test_register_via_service_with_user_id_parameter(env, prefix):
    # Intents (matrix-bot-sdk) send the user being registered as ?user_id=; it plays no part.
    name = lp("_irc_intent")
    r = env.srv.api(prefix).post("/register", {"type": "m.login.application_service", "username": name},
                                 token=env.irc.as_token, params={"user_id": uid(name)}).expect(200)
    assert r.body["user_id"] == uid(name)


def test_register_via_service_sender_exists(env):
    as_register(env.srv.api(), env.irc, "_irc_bot").expect(400, "M_USER_IN_USE")


@pytest.mark.parametrize("name", ["outside_ns", "_watch_theirs"])
def test_register_via_service_outside_namespace(env, prefix, name):
    as_register(env.srv.api(prefix), env.irc, name + secrets.token_hex(3)).expect(400, "M_EXCLUSIVE")


def test_register_via_service_needs_its_token(env, alice, prefix):
    body = {"type": "m.login.application_service", "username": lp("_irc_t")}
    api = env.srv.api(prefix)
    api.post("/register", body, token=None).expect(401, "M_MISSING_TOKEN")
    api.post("/register", body, token="nonsense").expect(401, "M_UNKNOWN_TOKEN")
    api.post("/register", body, token=alice.access_token).expect(401, "M_UNKNOWN_TOKEN")


@pytest.mark.parametrize("body,status,errcode", [
    ({}, 400, "M_MISSING_PARAM"),
    ({"username": 7}, 400, "M_BAD_JSON"),
    ({"username": "_irc_Bad Name"}, 400, "M_INVALID_USERNAME"),
    ({"username": "_irc_x", "inhibit_login": "yes"}, 400, "M_BAD_JSON"),
    ({"username": "_irc_x", "device_id": ""}, 400, "M_INVALID_PARAM"),
])
def test_register_via_service_bad_body(env, body, status, errcode):
    b = {"type": "m.login.application_service"}
    b.update(body)
    env.srv.api().post("/register", b, token=env.irc.as_token).expect(status, errcode)


def test_exclusive_namespace_refuses_user_registration(env, prefix):
    api = env.srv.api(prefix)
    name = lp("ircx_")
    r = api.register_raw({"username": name, "password": "pw-12345678"})
    r.expect(400, "M_EXCLUSIVE")
    api.get("/register/available", params={"username": name}).expect(400, "M_EXCLUSIVE")
    # The service itself may.
    as_register(api, env.irc, name, inhibit_login=True).expect(200)
    # A non-exclusive namespace does not reserve anything.
    api.register(lp("shared_"))


# ---- aliases -----------------------------------------------------------------------------------


def test_exclusive_alias_namespace(env, alice, prefix):
    room = create_room(alice.api(prefix))
    mine = "#%s:%s" % (lp("_irc_al"), SERVER_NAME)
    path = "/directory/room/" + quote(mine)
    # A user may not create an alias in the exclusive namespace, even for their own room.
    alice.api(prefix).put(path, {"room_id": room}).expect(400, "M_EXCLUSIVE")
    # The service may, for a room it is not in.
    env.irc_api(prefix).put(path, {"room_id": room}).expect(200)
    assert env.srv.api(prefix).get(path).expect(200).body["room_id"] == room
    # Not outside its namespace, nor in another service's.
    other = "/directory/room/" + quote("#%s:%s" % (lp("plain"), SERVER_NAME))
    env.irc_api(prefix).put(other, {"room_id": room}).expect(400, "M_EXCLUSIVE")
    as_api(env.srv, env.watch, prefix).put(path, {"room_id": room}).expect(400, "M_EXCLUSIVE")
    # Deleting: the room's admin may not (reserved), another service may not, the owner may.
    alice.api(prefix).delete(path).expect(400, "M_EXCLUSIVE")
    as_api(env.srv, env.watch, prefix).delete(path).expect(400, "M_EXCLUSIVE")
    env.irc_api(prefix).delete(path).expect(200)
    env.srv.api(prefix).get(path).expect(404, "M_NOT_FOUND")


def test_non_exclusive_alias_namespace(env, alice):
    room = create_room(alice.api())
    path = "/directory/room/" + quote("#%s:%s" % (lp("_watch_al"), SERVER_NAME))
    alice.api().put(path, {"room_id": room}).expect(200)


# ---- transactions --------------------------------------------------------------------------------


FORBIDDEN_KEYS = {"hashes", "signatures", "auth_events", "prev_events", "depth", "origin"}


def test_transactions_carry_events_of_interest(env, alice):
    irc = env.irc
    ghost = env.ghost()
    room = create_room(alice.api())
    lonely = create_room(alice.api())
    unrelated = send(alice.api(), lonely)
    alice.api().post("/rooms/%s/invite" % quote(room), {"user_id": ghost}).expect(200)
    env.as_ghost(ghost).post("/rooms/%s/join" % quote(room), {}).expect(200)
    msg = send(alice.api(), room, {"msgtype": "m.text", "body": "hi ghost"})
    irc.wait_event(msg)
    evs = irc.events()
    ids = irc.event_ids()
    assert unrelated not in ids, "an event of a room without the service's users was sent"
    mine = [e for e in evs if e["room_id"] == room]
    kinds = [(e["type"], e.get("state_key"), e["content"].get("membership")) for e in mine]
    assert ("m.room.member", ghost, "invite") in kinds and ("m.room.member", ghost, "join") in kinds
    last = [e for e in evs if e["event_id"] == msg][0]
    assert last["sender"] == alice.user_id and last["content"]["body"] == "hi ghost"
    assert last["type"] == "m.room.message" and isinstance(last["origin_server_ts"], int)
    assert isinstance(last["unsigned"]["age"], int)
    assert not FORBIDDEN_KEYS & set(last), last
    # Every request carried the hs_token both ways (the service refuses others).
    for txn_id, body, req in irc.txn_attempts:
        assert req.path.startswith("/_matrix/app/v1/transactions/")
        assert req.q("access_token") == irc.hs_token
        assert req.headers["Authorization"] == "Bearer " + irc.hs_token


def test_alias_namespace_interest(env, alice):
    room = create_room(alice.api(), room_alias_name=lp("_watch_r"))
    msg = send(alice.api(), room)
    env.watch.wait_event(msg)
    # The irc service has no part in that room.
    marker_room = create_room(alice.api())
    ghost = env.ghost()
    alice.api().post("/rooms/%s/invite" % quote(marker_room), {"user_id": ghost}).expect(200)
    # Invited is not joined: the room's messages are not the service's business yet.
    quiet = send(alice.api(), marker_room)
    env.as_ghost(ghost).post("/rooms/%s/join" % quote(marker_room), {}).expect(200)
    marker = send(alice.api(), marker_room)
    env.irc.wait_event(marker)
    assert msg not in env.irc.event_ids() and quiet not in env.irc.event_ids()


def test_transactions_in_order_and_once(env, alice):
    irc = env.irc
    ghost = env.ghost()
    room = create_room(alice.api(), invite=[ghost])
    env.as_ghost(ghost).post("/rooms/%s/join" % quote(room), {}).expect(200)
    sent = [send(alice.api(), room, {"msgtype": "m.text", "body": str(i)}) for i in range(130)]
    irc.wait_event(sent[-1], timeout=60)
    ids = irc.event_ids()
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    got = [i for i in ids if i in set(sent)]
    assert got == sent
    # More than one transaction (at most 100 events each), with distinct IDs.
    with irc.cond:
        in_room = [t for t, evs in irc.accepted.items() if any(e["event_id"] in sent for e in evs)]
        assert all(len(evs) <= 100 for evs in irc.accepted.values())
    assert len(in_room) >= 2


def room_with_ghost(srv, fake, user):
    """A room of user's with a ghost of fake's joined (fake's namespace @_irc_.*)."""
    name = lp("_irc_g")
    as_register(srv.api(), fake, name, inhibit_login=True).expect(200)
    ghost = uid(name)
    room = create_room(user.api(), invite=[ghost])
    ghost_api = GhostApi(as_api(srv, fake), ghost)
    ghost_api.post("/rooms/%s/join" % quote(room), {}).expect(200)
    fake.wait(lambda: any(e["type"] == "m.room.member" and e.get("state_key") == ghost and
                          e["content"].get("membership") == "join" for e in fake.events()),
              what="the ghost's join")
    return room


def start_with(server_factory, tmp_path, fake, **kw):
    reg = write_reg(tmp_path, fake, as_id="irc", sender="_irc_bot", users=IRC_USERS, **kw)
    return server_factory({"app_service_config_files": [reg]})


def test_retried_until_accepted_same_transaction(server_factory, tmp_path):
    fake = FakeAS().start()
    try:
        srv = start_with(server_factory, tmp_path, fake)
        user = srv.api().register()
        room = room_with_ghost(srv, fake, user)
        with fake.cond:
            fake.txn_statuses = [500, 503, 404]
        msg = send(user.api(), room)
        fake.wait_event(msg)
        with fake.cond:
            attempts = [(t, b) for t, b, _ in fake.txn_attempts if any(e["event_id"] == msg for e in b["events"])]
        assert len(attempts) == 4, attempts
        assert len({t for t, _ in attempts}) == 1, "a retry changed the transaction ID"
        assert all(b == attempts[0][1] for _, b in attempts), "a retry changed the events"
        # The stream goes on after the failures.
        msg2 = send(user.api(), room)
        fake.wait_event(msg2)
        assert fake.event_ids().index(msg) < fake.event_ids().index(msg2)
    finally:
        fake.stop()


def test_service_down_then_back(server_factory, tmp_path):
    fake = FakeAS().start()
    try:
        srv = start_with(server_factory, tmp_path, fake)
        user = srv.api().register()
        room = room_with_ghost(srv, fake, user)
        port = fake.port
        fake.stop()
        sent = [send(user.api(), room) for _ in range(3)]
        time.sleep(1.5)  # a few refused connections, then the service comes back
        back = FakeAS(hs_token=fake.hs_token, port=port)
        back.as_token = fake.as_token
        back.start()
        try:
            back.wait_event(sent[-1], timeout=90)
            got = [i for i in back.event_ids() if i in sent]
            assert got == sent
        finally:
            back.stop()
    finally:
        fake.stop()


def test_pending_transaction_survives_restart(server_factory, tmp_path):
    fake = FakeAS().start()
    try:
        srv = start_with(server_factory, tmp_path, fake)
        user = srv.api().register()
        room = room_with_ghost(srv, fake, user)
        with fake.cond:
            fake.txn_statuses = [500] * 10000
        msg = send(user.api(), room)

        def attempts():
            return [(t, b) for t, b, _ in fake.txn_attempts if any(e["event_id"] == msg for e in b["events"])]

        fake.wait(lambda: len(attempts()) >= 1, what="a first attempt")
        first_id, first_body = attempts()[0]
        srv.stop()
        with fake.cond:
            fake.txn_statuses = []
        srv.start()
        fake.wait_event(msg, timeout=30)
        assert attempts()[-1][0] == first_id and attempts()[-1][1] == first_body
        # Later events get later transactions, and nothing is sent twice.
        msg2 = send(user.api(), room)
        fake.wait_event(msg2)
        ids = fake.event_ids()
        assert len(ids) == len(set(ids)) and ids.index(msg) < ids.index(msg2)
    finally:
        fake.stop()


def test_legacy_routes(server_factory, tmp_path):
    fake = FakeAS(legacy_only=True).start()
    try:
        srv = start_with(server_factory, tmp_path, fake)
        user = srv.api().register()
        room = room_with_ghost(srv, fake, user)
        msg = send(user.api(), room)
        fake.wait_event(msg)
        with fake.cond:
            legacy = [req.path for _, _, req in fake.txn_attempts]
        assert any(p.startswith("/transactions/") for p in legacy), legacy
        # Once the legacy route worked, it comes first (the versioned one is tried again later).
        v1_tries = len(fake.requests_to("/_matrix/app/v1/transactions/"))
        msg2 = send(user.api(), room)
        fake.wait_event(msg2)
        assert len(fake.requests_to("/_matrix/app/v1/transactions/")) == v1_tries
        # Queries fall back too.
        name = lp("_irc_legacy")
        fake.user_handler = lambda user_id: (200, {})
        srv.api().get("/profile/" + quote(uid(name))).expect(200)
        assert any(r.path == "/users/" + uid(name) for r in fake.requests_to("/users/"))
    finally:
        fake.stop()


def test_rooms_namespace(server_factory, tmp_path):
    fake = FakeAS().start()
    try:
        srv = start_with(server_factory, tmp_path, fake)
        user = srv.api().register()
        room = create_room(user.api())
        srv.stop()
        write_reg(tmp_path, fake, as_id="irc", sender="_irc_bot", users=IRC_USERS,
                  rooms=[(re.escape(room), False)])
        srv.start()
        msg = send(user.api(), room)
        fake.wait_event(msg)
    finally:
        fake.stop()


# ---- queries ---------------------------------------------------------------------------------


def test_user_query_answered_yes(env, prefix):
    name = lp("_irc_q")
    env.irc.user_handler = lambda user_id: (200, {}) if user_id == uid(name) else (404, {"errcode": "M_NOT_FOUND", "error": "no"})
    r = env.srv.api(prefix).get("/profile/" + quote(uid(name))).expect(200)
    assert r.body.get("displayname") == name
    assert [q.path for q in env.irc.requests_to("/_matrix/app/v1/users/")].count(
        "/_matrix/app/v1/users/" + uid(name)) == 1
    # It exists now: no second query.
    env.srv.api(prefix).get("/profile/" + quote(uid(name))).expect(200)
    assert [q.path for q in env.irc.requests_to("/_matrix/app/v1/users/")].count(
        "/_matrix/app/v1/users/" + uid(name)) == 1


def test_user_query_service_creates_the_user(env):
    name = lp("_irc_made")

    def handler(user_id):
        # The service registers the user and sets its name through the Client-Server API,
        # while hearth waits for the answer.
        as_register(env.srv.api(), env.irc, name, inhibit_login=True).expect(200)
        env.as_ghost(user_id).put("/profile/%s/displayname" % quote(user_id),
                                  {"displayname": "Made by the bridge"}).expect(200)
        return 200, {}

    env.irc.user_handler = handler
    r = env.srv.api().get("/profile/" + quote(uid(name))).expect(200)
    assert r.body["displayname"] == "Made by the bridge"


def test_user_query_answered_no(env):
    name = lp("_irc_no")
    env.irc.user_handler = lambda user_id: (404, {"errcode": "M_NOT_FOUND", "error": "no"})
    env.srv.api().get("/profile/" + quote(uid(name))).expect(404, "M_NOT_FOUND")
    assert env.irc.requests_to("/_matrix/app/v1/users/" + uid(name))


def test_user_query_only_for_exclusive_namespaces(env):
    name = lp("shared_unknown")
    env.srv.api().get("/profile/" + quote(uid(name))).expect(404, "M_NOT_FOUND")
    assert not env.irc.requests_to("/_matrix/app/v1/users/" + uid(name))
    assert not env.watch.requests_to("/_matrix/app/v1/users/" + uid(name))


def test_invite_queries_the_user(env, alice):
    name = lp("_irc_inv")
    env.irc.user_handler = lambda user_id: (200, {})
    room = create_room(alice.api())
    alice.api().post("/rooms/%s/invite" % quote(room), {"user_id": uid(name)}).expect(200)
    env.irc.user_handler = lambda user_id: (404, {"errcode": "M_NOT_FOUND", "error": "no"})
    alice.api().post("/rooms/%s/invite" % quote(room),
                     {"user_id": uid(lp("_irc_inv"))}).expect(404, "M_NOT_FOUND")


def test_alias_query_service_creates_the_room(env, alice, prefix):
    name = lp("_irc_chan")
    alias = "#%s:%s" % (name, SERVER_NAME)
    made = {}

    def handler(a):
        if a != alias:
            return 404, {"errcode": "M_NOT_FOUND", "error": "no"}
        made["room"] = create_room(env.irc_api(), room_alias_name=name, preset="public_chat")
        return 200, {}

    env.irc.alias_handler = handler
    r = env.srv.api(prefix).get("/directory/room/" + quote(alias)).expect(200)
    assert r.body["room_id"] == made["room"]
    assert env.irc.requests_to("/_matrix/app/v1/rooms/" + alias)
    # Joining by an alias the service creates on demand.
    name2 = lp("_irc_chan")
    alias2 = "#%s:%s" % (name2, SERVER_NAME)
    env.irc.alias_handler = lambda a: (200, {"room": create_room(env.irc_api(), room_alias_name=name2,
                                                                 preset="public_chat")})
    r = join(alice.api(prefix), alias2).expect(200)
    assert r.body["room_id"]


def test_alias_query_answered_no(env, alice):
    alias = "#%s:%s" % (lp("_irc_none"), SERVER_NAME)
    env.irc.alias_handler = lambda a: (404, {"errcode": "M_NOT_FOUND", "error": "no"})
    env.srv.api().get("/directory/room/" + quote(alias)).expect(404, "M_NOT_FOUND")
    join(alice.api(), alias).expect(404, "M_NOT_FOUND")
    assert len(env.irc.requests_to("/_matrix/app/v1/rooms/" + alias)) == 2
    # Outside any exclusive namespace nobody is asked.
    plain = "#%s:%s" % (lp("plain"), SERVER_NAME)
    env.srv.api().get("/directory/room/" + quote(plain)).expect(404, "M_NOT_FOUND")
    assert not env.irc.requests_to("/_matrix/app/v1/rooms/" + plain)


def test_query_does_not_hold_an_http_thread(server_factory, tmp_path):
    """With one HTTP thread, a service that calls hearth back while answering a query must still
    be served: the waiting request is suspended, not blocking its thread."""
    fake = FakeAS().start()
    try:
        reg = write_reg(tmp_path, fake, as_id="irc", sender="_irc_bot", users=IRC_USERS,
                        aliases=[("#_irc_.*", True)])
        srv = server_factory({"app_service_config_files": [reg], "thread_pool_size": 1})
        name = lp("_irc_one")
        alias = "#%s:%s" % (name, SERVER_NAME)
        made = {}

        def handler(a):
            made["room"] = create_room(as_api(srv, fake), room_alias_name=name)
            return 200, {}

        fake.alias_handler = handler
        r = srv.api().get("/directory/room/" + quote(alias), timeout=20).expect(200)
        assert r.body["room_id"] == made["room"]
        ghost = lp("_irc_p")
        fake.user_handler = lambda user_id: (
            as_register(srv.api(), fake, ghost, inhibit_login=True).expect(200) and (200, {}))
        srv.api().get("/profile/" + quote(uid(ghost)), timeout=20).expect(200)
    finally:
        fake.stop()


# ---- third-party networks ------------------------------------------------------------------------


def test_protocols_aggregated(env, alice, prefix):
    body = alice.api(prefix).get("/thirdparty/protocols").expect(200).body
    assert set(body) == {"irc", "gitter"}
    inst = {i["network_id"]: i for i in body["irc"]["instances"]}
    assert set(inst) == {"libera", "oftc"}
    assert inst["libera"]["instance_id"] == "irc|libera"
    assert inst["oftc"]["instance_id"] == "watch|oftc"
    assert body["irc"]["user_fields"] == ["network", "nickname"]
    assert body["gitter"]["instances"][0]["instance_id"] == "watch|gitter"
    one = alice.api(prefix).get("/thirdparty/protocol/irc").expect(200).body
    assert {i["network_id"] for i in one["instances"]} == {"libera", "oftc"}
    alice.api(prefix).get("/thirdparty/protocol/xmpp").expect(404, "M_NOT_FOUND")


def test_protocol_with_invalid_answer_left_out(env, alice):
    saved = env.watch.protocols["gitter"]
    env.watch.protocols["gitter"] = {"user_fields": [], "no": "instances"}
    try:
        body = alice.api().get("/thirdparty/protocols").expect(200).body
        assert "gitter" not in body and "irc" in body
        alice.api().get("/thirdparty/protocol/gitter").expect(404, "M_NOT_FOUND")
    finally:
        env.watch.protocols["gitter"] = saved


def test_location_lookup_forwarded(env, alice, prefix):
    def answer(net):
        return lambda req: [{"alias": "#_irc_%s_%s:%s" % (net, req.q("channel")[1:], SERVER_NAME),
                             "protocol": "irc", "fields": {"network": net, "channel": req.q("channel")}}]

    env.irc.lookups[("location", "irc")] = answer("libera")
    env.watch.lookups[("location", "irc")] = answer("oftc")
    r = alice.api(prefix).get("/thirdparty/location/irc", params={"channel": "#foo bar", "network": "x"}).expect(200)
    assert sorted(e["fields"]["network"] for e in r.body) == ["libera", "oftc"]
    req = env.irc.requests_to("/_matrix/app/v1/thirdparty/location/irc")[-1]
    assert req.q("channel") == "#foo bar" and req.q("network") == "x"
    # Only the service's own token went along, not the client's.
    assert req.q("access_token") == env.irc.hs_token
    # Nothing found anywhere.
    env.irc.lookups[("location", "irc")] = []
    env.watch.lookups[("location", "irc")] = None
    alice.api(prefix).get("/thirdparty/location/irc", params={"channel": "#x"}).expect(404, "M_NOT_FOUND")
    alice.api(prefix).get("/thirdparty/location/xmpp").expect(404, "M_NOT_FOUND")


def test_user_lookup_forwarded(env, alice, prefix):
    env.watch.lookups[("user", "gitter")] = lambda req: [
        {"userid": uid("_watch_" + req.q("username").lstrip("@")), "protocol": "gitter",
         "fields": {"username": req.q("username")}}]
    r = alice.api(prefix).get("/thirdparty/user/gitter", params={"username": "@bob"}).expect(200)
    assert r.body == [{"userid": uid("_watch_bob"), "protocol": "gitter", "fields": {"username": "@bob"}}]
    # The irc service does not offer gitter and is not asked.
    assert not env.irc.requests_to("/_matrix/app/v1/thirdparty/user/gitter")


def test_reverse_lookups(env, alice, prefix):
    alias = "#_irc_libera_foo:" + SERVER_NAME
    env.irc.lookups[("location", None)] = lambda req: [
        {"alias": req.q("alias"), "protocol": "irc", "fields": {"network": "libera", "channel": "#foo"}}]
    env.watch.lookups[("location", None)] = lambda req: [{"alias": "wrong", "protocol": "x", "fields": {}}]
    r = alice.api(prefix).get("/thirdparty/location", params={"alias": alias}).expect(200)
    assert r.body == [{"alias": alias, "protocol": "irc", "fields": {"network": "libera", "channel": "#foo"}}]
    ghost = uid("_irc_nick")
    env.irc.lookups[("user", None)] = lambda req: [
        {"userid": req.q("userid"), "protocol": "irc", "fields": {"nickname": "nick"}}]
    r = alice.api(prefix).get("/thirdparty/user", params={"userid": ghost}).expect(200)
    assert r.body == [{"userid": ghost, "protocol": "irc", "fields": {"nickname": "nick"}}]
    # No service covers this one.
    r = alice.api(prefix).get("/thirdparty/user", params={"userid": alice.user_id}).expect(200)
    assert r.body == []


# ---- application service room directories -------------------------------------------------------


def listing(api, **body):
    return {e["room_id"] for e in api.post("/publicRooms", body).expect(200).body["chunk"]}


def test_appservice_room_directory(env, alice, prefix):
    room = create_room(alice.api(prefix), name="bridged " + secrets.token_hex(3))
    public = create_room(alice.api(prefix), visibility="public", preset="public_chat")
    path = "/directory/list/appservice/libera/" + quote(room)
    env.irc_api(prefix).put(path, {"visibility": "public"}).expect(200)
    assert room in listing(alice.api(prefix), third_party_instance_id="irc|libera")
    assert room not in listing(alice.api(prefix), third_party_instance_id="irc|oftc")
    assert room not in listing(alice.api(prefix), third_party_instance_id="watch|libera")
    assert public not in listing(alice.api(prefix), third_party_instance_id="irc|libera")
    # Not in the server's own list, but in the list of all networks.
    assert room not in listing(alice.api(prefix))
    every = listing(alice.api(prefix), include_all_networks=True)
    assert room in every and public in every
    r = env.srv.api(prefix).get("/publicRooms", params={"include_all_networks": "true"}).expect(200)
    assert room in {e["room_id"] for e in r.body["chunk"]}
    r = env.srv.api(prefix).get("/publicRooms", params={"third_party_instance_id": "irc|libera"}).expect(200)
    assert {e["room_id"] for e in r.body["chunk"]} == {room}
    env.irc_api(prefix).put(path, {"visibility": "private"}).expect(200)
    assert room not in listing(alice.api(prefix), third_party_instance_id="irc|libera")
    assert room not in listing(alice.api(prefix), include_all_networks=True)


def test_appservice_room_directory_errors(env, alice, prefix):
    room = create_room(alice.api(prefix))
    path = "/directory/list/appservice/libera/" + quote(room)
    # SPEC: "This API cannot be invoked by users who are not identified as application services."
    alice.api(prefix).put(path, {"visibility": "public"}).expect(403, "M_FORBIDDEN")
    env.irc_api(prefix).put(path, {"visibility": "secret"}).expect(400, "M_INVALID_PARAM")
    env.irc_api(prefix).put(path, {"visibility": 1}).expect(400, "M_BAD_JSON")
    env.irc_api(prefix).put(path, {}).expect(400, "M_MISSING_PARAM")
    unknown = "/directory/list/appservice/libera/" + quote("!nope:" + SERVER_NAME)
    env.irc_api(prefix).put(unknown, {"visibility": "public"}).expect(404, "M_NOT_FOUND")
    env.srv.api(prefix).put(path, {"visibility": "public"}).expect(401, "M_MISSING_TOKEN")
    for bad in ("nobar", "|x", "x|", "a|b|c"):
        alice.api(prefix).post("/publicRooms", {"third_party_instance_id": bad}).expect(400, "M_INVALID_PARAM")
    alice.api(prefix).post("/publicRooms", {"third_party_instance_id": "irc|libera",
                                            "include_all_networks": True}).expect(400, "M_INVALID_PARAM")


# ---- rate limits, registration settings ---------------------------------------------------------------


def test_rate_limits_and_closed_registration(server_factory, tmp_path):
    free = FakeAS().start()
    limited = FakeAS().start()
    try:
        regs = [write_reg(tmp_path, free, as_id="free", sender="_irc_bot", users=IRC_USERS),
                write_reg(tmp_path, limited, as_id="limited", sender="_rl_bot",
                          users=[("@_rl_.*", True)], rate_limited=True)]
        srv = server_factory({"app_service_config_files": regs,
                              "rc_message": {"per_second": 0.001, "burst_count": 2},
                              "rc_registration": {"per_second": 0.001, "burst_count": 1},
                              "enable_registration": False})
        # Registration is closed to users, not to services, and services are not limited.
        srv.api().register_raw({"username": lp("u"), "password": "pw-12345678"}).expect(403, "M_FORBIDDEN")
        ghosts = []
        for _ in range(3):
            name = lp("_irc_r")
            as_register(srv.api(), free, name, inhibit_login=True).expect(200)
            ghosts.append(uid(name))
        rl_name = lp("_rl_")
        as_register(srv.api(), limited, rl_name, inhibit_login=True).expect(200)
        room = create_room(as_api(srv, free), preset="public_chat")
        for who, fake in ((ghosts[0], free), (uid(rl_name), limited), (uid("_rl_bot"), limited)):
            GhostApi(as_api(srv, fake), who).post("/rooms/%s/join" % quote(room), {}).expect(200)

        def burst(api, n=5):
            return [api.put("/rooms/%s/send/m.room.message/%s" % (quote(room), txn()),
                            {"msgtype": "m.text", "body": "x"}).status for _ in range(n)]

        assert burst(as_api(srv, free)) == [200] * 5  # the sender
        assert burst(GhostApi(as_api(srv, free), ghosts[0])) == [200] * 5
        # rate_limited: its users are limited, its sender is not (SPEC: "The sender is excluded").
        assert burst(GhostApi(as_api(srv, limited), uid("_rl_bot"))) == [200] * 5
        statuses = burst(GhostApi(as_api(srv, limited), uid(rl_name)))
        assert statuses[:2] == [200, 200] and 429 in statuses, statuses
    finally:
        free.stop()
        limited.stop()


# ---- registration files -----------------------------------------------------------------------------


def serve_fails(tmp_path, files, needle):
    srv = HearthServer(str(tmp_path / "d"))
    srv.config["app_service_config_files"] = files
    srv.write_config()
    r = run_cli("serve", "--config", srv.config_path, timeout=30)
    assert r.returncode != 0, "serve accepted the registration"
    assert needle in r.stderr, "error does not say %r:\n%s" % (needle, r.stderr)
    assert harness.sanitizer_report(r.stderr) is None, r.stderr
    return r.stderr


BASE = {"id": "x", "url": "http://127.0.0.1:9", "as_token": "a1", "hs_token": "h1",
        "sender_localpart": "_x_bot", "namespaces": {"users": [{"exclusive": True, "regex": "@_x_.*"}]}}


@pytest.mark.parametrize("change,needle", [
    ({"id": None}, "id"),
    ({"as_token": ""}, "as_token"),
    ({"hs_token": 5}, "hs_token"),
    ({"url": "ftp://x"}, "url"),
    ({"url": "DELETE"}, "url"),
    ({"sender_localpart": "Bad Bot"}, "sender_localpart"),
    ({"namespaces": None}, "namespaces"),
    ({"namespaces": {"users": [{"regex": "@a.*"}]}}, "exclusive"),
    ({"namespaces": {"users": [{"exclusive": "sure", "regex": "@a.*"}]}}, "exclusive"),
    ({"namespaces": {"users": [{"exclusive": True}]}}, "regex"),
    ({"namespaces": {"aliases": [{"exclusive": True, "regex": "#(unclosed"}]}}, "namespaces.aliases[0].regex"),
    ({"namespaces": {"rooms": "!x"}}, "namespaces.rooms"),
    ({"protocols": "irc"}, "protocols"),
    ({"protocols": ["a/b"]}, "protocols[0]"),
    ({"rate_limited": "maybe"}, "rate_limited"),
])
def test_bad_registration_refused(tmp_path, change, needle):
    reg = dict(BASE)
    for k, v in change.items():
        if v == "DELETE":
            reg.pop(k)
        else:
            reg[k] = v
    path = tmp_path / "reg.yaml"
    path.write_text(json.dumps(reg))  # JSON is YAML
    err = serve_fails(tmp_path, [str(path)], needle)
    assert str(path) in err


def test_registration_file_problems(tmp_path):
    serve_fails(tmp_path, [str(tmp_path / "missing.yaml")], "cannot open")
    p = tmp_path / "syntax.yaml"
    p.write_text("id: [unclosed\n")
    serve_fails(tmp_path, [str(p)], "YAML")
    p.write_text("id: a\nid: b\n")
    serve_fails(tmp_path, [str(p)], "duplicate key")
    p.write_text("- a list\n")
    serve_fails(tmp_path, [str(p)], "mapping")


def test_duplicate_ids_and_tokens_refused(tmp_path):
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text(json.dumps(BASE))
    b.write_text(json.dumps(dict(BASE, as_token="other")))
    serve_fails(tmp_path, [str(a), str(b)], "id: 'x' is also the id of another")
    b.write_text(json.dumps(dict(BASE, id="other")))
    serve_fails(tmp_path, [str(a), str(b)], "as_token: is also the as_token of application service 'x'")


def test_null_url_and_relative_path(server_factory, tmp_path):
    """url: null is allowed (no traffic); paths are relative to the config's directory;
    Synapse's extra keys are accepted."""
    srv = server_factory(start=False)
    reg = dict(BASE, url=None, id="quiet", as_token="quiet-" + secrets.token_hex(8),
               **{"de.sorunome.msc2409.push_ephemeral": True})
    with open(srv.data_dir + "/quiet.yaml", "w") as f:
        json.dump(reg, f)
    srv.config["app_service_config_files"] = ["quiet.yaml"]
    srv.start()
    r = srv.api("r0", reg["as_token"]).get("/account/whoami").expect(200)
    assert r.body["user_id"] == uid("_x_bot")
