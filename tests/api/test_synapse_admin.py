"""Synapse's admin API under /_synapse/admin (issue 14): the endpoints synapse-admin uses, with
Synapse's request and response shapes (Synapse's docs/admin_api/*.md; not part of the Matrix
spec). Every endpoint answers 403 M_FORBIDDEN to a non-admin and 401 M_MISSING_TOKEN without a
token. Runs on both engines (make test runs the API suite on SQLite and PostgreSQL)."""

import time

import pytest

from harness import SERVER_NAME, SHARED_SECRET, admin_mac, quote, unique_localpart
from roomlib import create_room, invite, join, send

A = "/_synapse/admin"


def make_admin(api):
    nonce = api.get(A + "/v1/register").expect(200).body["nonce"]
    name = unique_localpart("admin")
    body = {"nonce": nonce, "username": name, "password": "pw-admin", "admin": True,
            "mac": admin_mac(SHARED_SECRET, nonce, name, "pw-admin", True)}
    r = api.post(A + "/v1/register", body).expect(200)
    return api.with_token(r.body["access_token"]), r.body["user_id"]


@pytest.fixture(scope="module")
def adm(server):
    """(admin client, admin user ID) on the shared server."""
    return make_admin(server.api("r0"))


@pytest.fixture
def user(api_r0):
    return api_r0.register()


def uid(localpart):
    return "@%s:%s" % (localpart, SERVER_NAME)


def upload(api, data, content_type="text/plain"):
    r = api.post("/_matrix/media/r0/upload", data=data, headers={"Content-Type": content_type})
    r.expect(200)
    return r.body["content_uri"].rsplit("/", 1)[1]


# ---- authorization: every endpoint --------------------------------------------------------

ENDPOINTS = [
    ("GET", "/v2/users", None),
    ("GET", "/v2/users/{u}", None),
    ("PUT", "/v2/users/{u}", {"displayname": "x"}),
    ("POST", "/v1/deactivate/{u}", {}),
    ("POST", "/v1/reset_password/{u}", {"new_password": "x"}),
    ("GET", "/v1/whois/{u}", None),
    ("GET", "/v2/users/{u}/devices", None),
    ("POST", "/v2/users/{u}/devices", {"device_id": "NEWDEV"}),
    ("GET", "/v2/users/{u}/devices/DEV", None),
    ("PUT", "/v2/users/{u}/devices/DEV", {"display_name": "x"}),
    ("DELETE", "/v2/users/{u}/devices/DEV", {}),
    ("POST", "/v2/users/{u}/delete_devices", {"devices": []}),
    ("GET", "/v1/users/{u}/joined_rooms", None),
    ("GET", "/v1/users/{u}/media", None),
    ("DELETE", "/v1/users/{u}/media", {}),
    ("POST", "/v1/users/{u}/login", {}),
    ("GET", "/v1/users/{u}/admin", None),
    ("PUT", "/v1/users/{u}/admin", {"admin": True}),
    ("GET", "/v1/rooms", None),
    ("GET", "/v1/rooms/{r}", None),
    ("GET", "/v1/rooms/{r}/members", None),
    ("GET", "/v1/rooms/{r}/state", None),
    ("DELETE", "/v1/rooms/{r}", {}),
    ("POST", "/v1/rooms/{r}/delete", {}),
    ("DELETE", "/v2/rooms/{r}", {}),
    ("GET", "/v2/rooms/{r}/delete_status", None),
    ("GET", "/v2/rooms/delete_status/abc", None),
    ("POST", "/v1/rooms/{r}/make_room_admin", {}),
    ("GET", "/v1/rooms/{r}/block", None),
    ("PUT", "/v1/rooms/{r}/block", {"block": True}),
    ("DELETE", "/v1/media/%s/abcdef" % SERVER_NAME, {}),
    ("POST", "/v1/media/%s/delete" % SERVER_NAME, {}),
    ("POST", "/v1/media/protect/abcdef", {}),
    ("POST", "/v1/media/unprotect/abcdef", {}),
    ("POST", "/v1/media/quarantine/%s/abcdef" % SERVER_NAME, {}),
    ("POST", "/v1/purge_media_cache", {}),
    ("GET", "/v1/rooms/{r}/forward_extremities", None),
    ("GET", "/v1/room/{r}/media", None),
    ("GET", "/v1/statistics/users/media", None),
    ("GET", "/v1/users/{u}/pushers", None),
    ("GET", "/v1/federation/destinations", None),
    ("GET", "/v1/event_reports", None),
    ("GET", "/v1/event_reports/1", None),
    ("DELETE", "/v1/event_reports/1", {}),
]


@pytest.fixture(scope="module")
def victim(server):
    """A user and their room, which the refused calls name (and must leave untouched)."""
    api = server.api("r0")
    u = api.register()
    room = create_room(api.as_user(u))
    return u, room


@pytest.mark.parametrize("method,path,body", ENDPOINTS, ids=["%s %s" % (m, p) for m, p, _ in ENDPOINTS])
def test_non_admin_is_forbidden(api_r0, victim, user, method, path, body):
    u, room = victim
    full = A + path.format(u=quote(u.user_id), r=quote(room))
    kw = {} if body is None else {"json_body": body}
    api_r0.as_user(user).request(method, full, **kw).expect(403, "M_FORBIDDEN")
    api_r0.request(method, full, **kw).expect(401, "M_MISSING_TOKEN")
    # Nothing changed for the victim.
    api_r0.as_user(u).get("/account/whoami").expect(200)
    assert u.user_id in api_r0.as_user(u).get("/rooms/%s/joined_members" % quote(room)).expect(
        200).body["joined"]


def test_guest_is_refused(api_r0):
    r = api_r0.register_raw({}, kind="guest").expect(200)
    api_r0.with_token(r.body["access_token"]).get(A + "/v2/users").expect(
        403, ("M_FORBIDDEN", "M_GUEST_ACCESS_FORBIDDEN"))


def test_admin_flag_from_cli_register_is_honoured(adm, api_r0):
    a, admin_id = adm
    r = a.get(A + "/v1/users/%s/admin" % quote(admin_id)).expect(200)
    assert r.body == {"admin": True}


# ---- server version, health ---------------------------------------------------------------

def test_server_version(api_r0):
    r = api_r0.get(A + "/v1/server_version").expect(200)
    assert r.body["server_version"].startswith("Hearth ")


def test_health(server):
    import requests
    r = requests.get(server.base_url + "/health", timeout=5)
    assert r.status_code == 200 and r.text == "OK"
    assert r.headers["Content-Type"].startswith("text/plain")


# ---- users --------------------------------------------------------------------------------

def test_users_list_shape_and_filters(adm, api_r0):
    a, admin_id = adm
    tag = unique_localpart("lst")
    made = [api_r0.register(username="%s%d" % (tag, i)) for i in range(3)]
    r = a.get(A + "/v2/users", params={"name": tag}).expect(200)
    assert r.body["total"] == 3
    assert [x["name"] for x in r.body["users"]] == sorted(u.user_id for u in made)
    assert "next_token" not in r.body
    entry = r.body["users"][0]
    for key in ("name", "is_guest", "admin", "deactivated", "erased", "shadow_banned",
                "displayname", "avatar_url", "creation_ts", "user_type", "locked"):
        assert key in entry, key
    assert entry["is_guest"] == 0 and entry["admin"] == 0 and entry["deactivated"] == 0
    assert entry["erased"] is False
    assert entry["displayname"] == made[0].localpart
    assert abs(entry["creation_ts"] - time.time() * 1000) < 600000  # milliseconds
    # Paging: limit, from, next_token (a string), dir.
    r = a.get(A + "/v2/users", params={"name": tag, "limit": 2}).expect(200)
    assert len(r.body["users"]) == 2 and r.body["next_token"] == "2" and r.body["total"] == 3
    r = a.get(A + "/v2/users", params={"name": tag, "from": 2}).expect(200)
    assert [x["name"] for x in r.body["users"]] == [sorted(u.user_id for u in made)[2]]
    r = a.get(A + "/v2/users", params={"name": tag, "dir": "b"}).expect(200)
    assert [x["name"] for x in r.body["users"]] == sorted((u.user_id for u in made), reverse=True)
    # user_id filter, case-insensitive.
    r = a.get(A + "/v2/users", params={"user_id": made[1].localpart.upper()}).expect(200)
    assert [x["name"] for x in r.body["users"]] == [made[1].user_id]
    # name matches display names too.
    made[2].api().put("/profile/%s/displayname" % quote(made[2].user_id),
                      {"displayname": "Zebra %s" % tag}).expect(200)
    r = a.get(A + "/v2/users", params={"name": "zebra " + tag}).expect(200)
    assert [x["name"] for x in r.body["users"]] == [made[2].user_id]
    # A LIKE wildcard in the term is literal.
    assert a.get(A + "/v2/users", params={"name": tag + "%"}).expect(200).body["total"] == 0


def test_users_list_deactivated_and_guests(adm, api_r0):
    a, _ = adm
    tag = unique_localpart("dg")
    u = api_r0.register(username=tag + "x")
    a.post(A + "/v1/deactivate/%s" % quote(u.user_id), {}).expect(200)
    assert a.get(A + "/v2/users", params={"name": tag}).expect(200).body["total"] == 0
    r = a.get(A + "/v2/users", params={"name": tag, "deactivated": "true"}).expect(200)
    assert r.body["users"][0]["deactivated"] == 1
    g = api_r0.register_raw({}, kind="guest").expect(200).body["user_id"]
    # Guests have numeric localparts: the whole ID names exactly one.
    r = a.get(A + "/v2/users", params={"user_id": g}).expect(200)
    assert r.body["total"] == 1 and r.body["users"][0]["is_guest"] == 1
    r = a.get(A + "/v2/users", params={"user_id": g, "guests": "false"}).expect(200)
    assert r.body["total"] == 0


def test_users_list_order_by(adm, api_r0):
    a, _ = adm
    tag = unique_localpart("ord")
    made = [api_r0.register(username="%s%d" % (tag, i)) for i in range(3)]
    for i, u in enumerate(made):
        u.api().put("/profile/%s/displayname" % quote(u.user_id),
                    {"displayname": "n%d" % (2 - i)}).expect(200)
    r = a.get(A + "/v2/users", params={"name": tag, "order_by": "displayname"}).expect(200)
    assert [x["name"] for x in r.body["users"]] == [u.user_id for u in reversed(made)]
    r = a.get(A + "/v2/users", params={"name": tag, "order_by": "creation_ts", "dir": "b"})
    ts = [x["creation_ts"] for x in r.expect(200).body["users"]]
    assert ts == sorted(ts, reverse=True)
    for field in ("name", "is_guest", "admin", "user_type", "deactivated", "shadow_banned",
                  "avatar_url"):
        a.get(A + "/v2/users", params={"name": tag, "order_by": field}).expect(200)


@pytest.mark.parametrize("params", [{"from": "-1"}, {"limit": "x"}, {"dir": "up"},
                                    {"order_by": "password"}, {"guests": "maybe"},
                                    {"deactivated": "1"}])
def test_users_list_bad_params(adm, params):
    a, _ = adm
    a.get(A + "/v2/users", params=params).expect(400, "M_INVALID_PARAM")


def test_user_get(adm, user):
    a, _ = adm
    r = a.get(A + "/v2/users/%s" % quote(user.user_id)).expect(200)
    assert r.body["name"] == user.user_id
    assert r.body["threepids"] == [] and r.body["external_ids"] == []
    assert r.body["admin"] == 0 and r.body["deactivated"] == 0 and r.body["is_guest"] == 0
    # Synapse's single-user query gives creation_ts in seconds.
    assert abs(r.body["creation_ts"] - time.time()) < 600
    a.get(A + "/v2/users/%s" % quote(uid(unique_localpart("nobody")))).expect(404, "M_NOT_FOUND")
    a.get(A + "/v2/users/%s" % quote("@someone:elsewhere.test")).expect(400, "M_INVALID_PARAM")
    a.get(A + "/v2/users/%s" % quote("not-a-user")).expect(400, "M_INVALID_PARAM")


def test_user_put_creates(adm, api_r0):
    a, _ = adm
    new = uid(unique_localpart("made"))
    r = a.put(A + "/v2/users/%s" % quote(new),
              {"password": "pw-made-1", "displayname": "Made", "admin": True,
               "avatar_url": "mxc://x/y"}).expect(201)
    assert r.body["name"] == new and r.body["displayname"] == "Made"
    assert r.body["admin"] == 1 and r.body["avatar_url"] == "mxc://x/y"
    u = api_r0.login(new, "pw-made-1")
    u.api().get(A + "/v2/users").expect(200)  # an admin now
    # Without a display name the localpart is the default (as registration).
    other = uid(unique_localpart("plain"))
    r = a.put(A + "/v2/users/%s" % quote(other), {"password": "pw-x"}).expect(201)
    assert r.body["displayname"] == other[1:].split(":")[0] and r.body["admin"] == 0


def test_user_put_modifies(adm, api_r0, user):
    a, _ = adm
    path = A + "/v2/users/%s" % quote(user.user_id)
    r = a.put(path, {"displayname": "Renamed"}).expect(200)
    assert r.body["displayname"] == "Renamed"
    assert api_r0.get("/profile/%s/displayname" % quote(user.user_id)).expect(
        200).body["displayname"] == "Renamed"
    # A new password logs the user's devices out by default...
    a.put(path, {"password": "pw-new-1"}).expect(200)
    api_r0.as_user(user).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    u2 = api_r0.login(user.user_id, "pw-new-1")
    # ...unless logout_devices is false.
    a.put(path, {"password": "pw-new-2", "logout_devices": False}).expect(200)
    api_r0.as_user(u2).get("/account/whoami").expect(200)
    a.put(path, {"admin": True}).expect(200)
    assert a.get(A + "/v1/users/%s/admin" % quote(user.user_id)).expect(200).body["admin"] is True


def test_user_put_deactivate_and_reactivate(adm, api_r0, user):
    a, _ = adm
    path = A + "/v2/users/%s" % quote(user.user_id)
    r = a.put(path, {"deactivated": True}).expect(200)
    assert r.body["deactivated"] == 1
    api_r0.as_user(user).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    a.put(path, {"deactivated": False}).expect(400, "M_INVALID_PARAM")
    r = a.put(path, {"deactivated": False, "password": "pw-back"}).expect(200)
    assert r.body["deactivated"] == 0
    api_r0.login(user.user_id, "pw-back")


@pytest.mark.parametrize("body", [{"password": 1}, {"admin": "yes"}, {"deactivated": 0},
                                  {"threepids": {}}, {"displayname": 5},
                                  {"external_ids": {}}])
def test_user_put_bad_fields(adm, user, body):
    a, _ = adm
    a.put(A + "/v2/users/%s" % quote(user.user_id), body).expect(400, "M_INVALID_PARAM")


def test_user_put_threepids_and_external_ids(adm, api_r0, user):
    """Synapse replaces the account's 3PIDs and SSO links with the lists given: missing ones
    are removed, new ones added (validated now); another account's answers 409."""
    a, _ = adm
    path = A + "/v2/users/%s" % quote(user.user_id)
    mail = "%s@example.test" % unique_localpart("m")
    before = int(time.time() * 1000) - 1000
    r = a.put(path, {"threepids": [{"medium": "email", "address": mail}],
                     "external_ids": [{"auth_provider": "oidc", "external_id": mail}]}).expect(200)
    tp = r.body["threepids"]
    assert [(t["medium"], t["address"]) for t in tp] == [("email", mail)]
    assert tp[0]["added_at"] >= before and tp[0]["validated_at"] >= before
    assert r.body["external_ids"] == [{"auth_provider": "oidc", "external_id": mail}]
    got = user.api().get("/account/3pid").expect(200).body["threepids"]
    assert [(t["medium"], t["address"]) for t in got] == [("email", mail)]
    # The same list again (synapse-admin sends back what it read, with added_at...): no change.
    a.put(path, {"threepids": tp, "external_ids": r.body["external_ids"]}).expect(200)
    assert a.get(path).expect(200).body["threepids"] == tp
    # Another account may not take them.
    other = A + "/v2/users/%s" % quote(api_r0.register().user_id)
    a.put(other, {"threepids": [{"medium": "email", "address": mail}]}).expect(
        409, "M_THREEPID_IN_USE")
    a.put(other, {"external_ids": [{"auth_provider": "oidc", "external_id": mail}]}).expect(
        409, "M_UNKNOWN")
    a.put(other, {"threepids": [{"medium": "email"}]}).expect(400, "M_MISSING_PARAM")
    a.put(other, {"external_ids": [{"auth_provider": "oidc"}]}).expect(400, "M_MISSING_PARAM")
    # Empty lists remove them; absent lists leave them alone.
    a.put(path, {"displayname": "kept"}).expect(200)
    assert len(a.get(path).expect(200).body["threepids"]) == 1
    r = a.put(path, {"threepids": [], "external_ids": []}).expect(200)
    assert r.body["threepids"] == [] and r.body["external_ids"] == []
    assert user.api().get("/account/3pid").expect(200).body["threepids"] == []


def test_user_put_canonicalises_emails(adm, api_r0):
    """Synapse lower-cases an email set through the admin API (canonicalise_email), so the
    address logs in and is found however it was typed; an unparsable one is refused."""
    a, _ = adm
    u = api_r0.register()
    path = A + "/v2/users/%s" % quote(u.user_id)
    local = unique_localpart("Mixed")
    r = a.put(path, {"threepids": [{"medium": "email",
                                    "address": "%s@Example.TEST" % local}]}).expect(200)
    assert [t["address"] for t in r.body["threepids"]] == ["%s@example.test" % local.lower()]
    # The same address in another case is the same 3PID: another account may not take it.
    other = A + "/v2/users/%s" % quote(api_r0.register().user_id)
    a.put(other, {"threepids": [{"medium": "email", "address": "%s@EXAMPLE.test" % local}]}
          ).expect(409, "M_THREEPID_IN_USE")
    a.put(other, {"threepids": [{"medium": "email", "address": "no-at-sign"}]}).expect(
        400, "M_INVALID_PARAM")


def test_user_put_errors(adm):
    a, admin_id = adm
    a.put(A + "/v2/users/%s" % quote("@x:elsewhere.test"), {}).expect(400, "M_INVALID_PARAM")
    a.put(A + "/v2/users/%s" % quote(admin_id), {"admin": False}).expect(403, "M_FORBIDDEN")
    a.put(A + "/v2/users/%s" % quote(admin_id), "[]").expect(400, ("M_NOT_JSON", "M_BAD_JSON"))


def test_deactivate_with_erase(adm, api_r0, user):
    a, _ = adm
    owner = api_r0.register()
    room = create_room(owner.api(), preset="public_chat")
    join(user.api(), room).expect(200)
    r = a.post(A + "/v1/deactivate/%s" % quote(user.user_id), {"erase": True}).expect(200)
    assert r.body == {"id_server_unbind_result": "success"}
    api_r0.login_raw({"type": "m.login.password", "identifier": {"type": "m.id.user",
                      "user": user.user_id}, "password": user.password}).expect(
        403, "M_USER_DEACTIVATED")
    d = a.get(A + "/v2/users/%s" % quote(user.user_id)).expect(200).body
    assert d["deactivated"] == 1 and d["erased"] is True and d["displayname"] is None
    joined = owner.api().get("/rooms/%s/joined_members" % quote(room)).expect(200).body["joined"]
    assert user.user_id not in joined


def test_deactivate_errors(adm, user):
    a, _ = adm
    a.post(A + "/v1/deactivate/%s" % quote(user.user_id), {"erase": "yes"}).expect(400, "M_BAD_JSON")
    a.post(A + "/v1/deactivate/%s" % quote(uid(unique_localpart("no"))), {}).expect(404, "M_NOT_FOUND")
    a.post(A + "/v1/deactivate/%s" % quote("@a:elsewhere.test"), {}).expect(400, "M_INVALID_PARAM")


def test_reset_password(adm, api_r0, user):
    a, _ = adm
    path = A + "/v1/reset_password/%s" % quote(user.user_id)
    a.post(path, {"new_password": "pw-reset-1"}).expect(200)
    api_r0.as_user(user).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    u2 = api_r0.login(user.user_id, "pw-reset-1")
    a.post(path, {"new_password": "pw-reset-2", "logout_devices": False}).expect(200)
    api_r0.as_user(u2).get("/account/whoami").expect(200)
    api_r0.login(user.user_id, "pw-reset-2")
    a.post(path, {}).expect(400, "M_MISSING_PARAM")
    a.post(A + "/v1/reset_password/%s" % quote(uid(unique_localpart("no"))),
           {"new_password": "x"}).expect(404, "M_NOT_FOUND")


def test_whois(adm, user):
    a, _ = adm
    r = a.get(A + "/v1/whois/%s" % quote(user.user_id)).expect(200)
    assert r.body["user_id"] == user.user_id
    assert user.device_id in r.body["devices"]


def test_devices(adm, api_r0, user):
    a, _ = adm
    base = A + "/v2/users/%s/devices" % quote(user.user_id)
    r = a.get(base).expect(200)
    assert r.body["total"] == 1 and r.body["devices"][0]["device_id"] == user.device_id
    dev = r.body["devices"][0]
    for key in ("display_name", "last_seen_ip", "last_seen_ts", "last_seen_user_agent", "user_id"):
        assert key in dev
    a.post(base, {"device_id": "ADMINMADE"}).expect(200)
    a.post(base, {"device_id": "ADMINMADE"}).expect(200)  # existing: unchanged
    assert a.get(base).expect(200).body["total"] == 2
    a.put(base + "/ADMINMADE", {"display_name": "Named"}).expect(200)
    assert a.get(base + "/ADMINMADE").expect(200).body["display_name"] == "Named"
    a.get(base + "/NOSUCH").expect(404, "M_NOT_FOUND")
    a.put(base + "/NOSUCH", {"display_name": "x"}).expect(404, "M_NOT_FOUND")
    a.delete(base + "/ADMINMADE", {}).expect(200)
    a.delete(base + "/ADMINMADE", {}).expect(200)  # as Synapse: already gone is fine
    a.post(A + "/v2/users/%s/delete_devices" % quote(user.user_id),
           {"devices": [user.device_id]}).expect(200)
    api_r0.as_user(user).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    assert a.get(base).expect(200).body["total"] == 0
    a.post(base, {}).expect(400, "M_MISSING_PARAM")
    a.post(A + "/v2/users/%s/delete_devices" % quote(user.user_id), {"devices": [1]}).expect(
        400, "M_INVALID_PARAM")
    a.get(A + "/v2/users/%s/devices" % quote(uid(unique_localpart("no")))).expect(404, "M_NOT_FOUND")


def test_joined_rooms(adm, user):
    a, _ = adm
    rooms = sorted(create_room(user.api()) for _ in range(2))
    r = a.get(A + "/v1/users/%s/joined_rooms" % quote(user.user_id)).expect(200)
    assert sorted(r.body["joined_rooms"]) == rooms and r.body["total"] == 2


def test_user_media_list_and_delete(adm, api_r0, user):
    a, _ = adm
    ids = [upload(user.api(), b"x" * (10 + i)) for i in range(3)]
    base = A + "/v1/users/%s/media" % quote(user.user_id)
    r = a.get(base).expect(200)
    assert r.body["total"] == 3 and sorted(m["media_id"] for m in r.body["media"]) == sorted(ids)
    m = r.body["media"][0]
    for key in ("media_id", "media_type", "media_length", "upload_name", "created_ts",
                "last_access_ts", "quarantined_by", "safe_from_quarantine"):
        assert key in m
    r = a.get(base, params={"limit": 1, "order_by": "media_length", "dir": "b"}).expect(200)
    assert r.body["media"][0]["media_length"] == 12 and r.body["next_token"] == 1
    a.get(base, params={"order_by": "nope"}).expect(400, "M_INVALID_PARAM")
    r = a.delete(base, {}).expect(200)
    assert sorted(r.body["deleted_media"]) == sorted(ids) and r.body["total"] == 3
    api_r0.get("/_matrix/media/r0/download/%s/%s" % (SERVER_NAME, ids[0])).expect(404, "M_NOT_FOUND")
    assert a.get(base).expect(200).body["total"] == 0


def test_login_as_user(adm, api_r0, user):
    a, admin_id = adm
    r = a.post(A + "/v1/users/%s/login" % quote(user.user_id), {}).expect(200)
    who = api_r0.with_token(r.body["access_token"]).get("/account/whoami").expect(200)
    assert who.body["user_id"] == user.user_id
    a.post(A + "/v1/users/%s/login" % quote(admin_id), {}).expect(400, "M_UNKNOWN")
    a.post(A + "/v1/users/%s/login" % quote(uid(unique_localpart("no"))), {}).expect(404, "M_NOT_FOUND")


def test_admin_flag(adm, api_r0, user):
    a, admin_id = adm
    path = A + "/v1/users/%s/admin" % quote(user.user_id)
    assert a.get(path).expect(200).body == {"admin": False}
    a.put(path, {"admin": True}).expect(200)
    assert a.get(path).expect(200).body == {"admin": True}
    user.api().get(A + "/v2/users").expect(200)
    a.put(path, {"admin": False}).expect(200)
    user.api().get(A + "/v2/users").expect(403, "M_FORBIDDEN")
    a.put(path, {}).expect(400, "M_MISSING_PARAM")
    a.put(A + "/v1/users/%s/admin" % quote(admin_id), {"admin": False}).expect(403, "M_FORBIDDEN")


# ---- rooms --------------------------------------------------------------------------------

def test_rooms_list(adm, api_r0):
    a, _ = adm
    tag = unique_localpart("room")
    owner = api_r0.register()
    small = create_room(owner.api(), name="%s small" % tag)
    big = create_room(owner.api(), name="%s big" % tag, preset="public_chat")
    for _ in range(2):
        join(api_r0.register().api(), big)
    r = a.get(A + "/v1/rooms", params={"search_term": tag}).expect(200)
    assert r.body["total_rooms"] == 2 and r.body["offset"] == 0
    assert [x["room_id"] for x in r.body["rooms"]] == [big, small]  # by name
    entry = next(x for x in r.body["rooms"] if x["room_id"] == big)
    assert entry["joined_members"] == 3 and entry["joined_local_members"] == 3
    assert entry["name"] == "%s big" % tag and entry["creator"] == owner.user_id
    assert entry["join_rules"] == "public" and entry["public"] is False
    for key in ("canonical_alias", "version", "encryption", "federatable", "guest_access",
                "history_visibility", "state_events", "room_type"):
        assert key in entry
    r = a.get(A + "/v1/rooms", params={"search_term": tag, "order_by": "joined_members"})
    assert [x["room_id"] for x in r.expect(200).body["rooms"]] == [big, small]
    r = a.get(A + "/v1/rooms", params={"search_term": tag, "order_by": "joined_members",
                                       "dir": "b"})
    assert [x["room_id"] for x in r.expect(200).body["rooms"]] == [small, big]
    r = a.get(A + "/v1/rooms", params={"search_term": tag, "limit": 1}).expect(200)
    assert len(r.body["rooms"]) == 1 and r.body["next_batch"] == 1
    r = a.get(A + "/v1/rooms", params={"search_term": tag, "from": 1, "limit": 1}).expect(200)
    assert [x["room_id"] for x in r.body["rooms"]] == [small] and "next_batch" not in r.body
    assert r.body["prev_batch"] == 0
    # By room ID, case-insensitively.
    r = a.get(A + "/v1/rooms", params={"search_term": small.upper()}).expect(200)
    assert [x["room_id"] for x in r.body["rooms"]] == [small]
    a.get(A + "/v1/rooms", params={"order_by": "size_of_shoe"}).expect(400, "M_INVALID_PARAM")
    a.get(A + "/v1/rooms", params={"dir": "x"}).expect(400, "M_INVALID_PARAM")


def test_room_details_members_state(adm, api_r0):
    a, _ = adm
    owner = api_r0.register()
    room = create_room(owner.api(), name="Details", topic="A topic")
    r = a.get(A + "/v1/rooms/%s" % quote(room)).expect(200)
    assert r.body["room_id"] == room and r.body["topic"] == "A topic"
    assert r.body["name"] == "Details" and r.body["joined_local_devices"] == 1
    assert "avatar" in r.body
    r = a.get(A + "/v1/rooms/%s/members" % quote(room)).expect(200)
    assert r.body == {"members": [owner.user_id], "total": 1}
    r = a.get(A + "/v1/rooms/%s/state" % quote(room)).expect(200)
    types = {e["type"] for e in r.body["state"]}
    assert {"m.room.create", "m.room.member", "m.room.power_levels", "m.room.name",
            "m.room.topic"} <= types
    unknown = "!nosuchroom:%s" % SERVER_NAME
    for suffix in ("", "/members", "/state"):
        a.get(A + "/v1/rooms/%s%s" % (quote(unknown), suffix)).expect(404, "M_NOT_FOUND")
    a.get(A + "/v1/rooms/%s" % quote("#alias:x")).expect(400, "M_INVALID_PARAM")


def room_gone(a, api, owner, room):
    a.get(A + "/v1/rooms/%s" % quote(room)).expect(404, "M_NOT_FOUND")
    ids = [x["room_id"] for x in a.get(A + "/v1/rooms", params={"limit": 10000}).expect(200)
           .body["rooms"]]
    assert room not in ids
    owner.api().get("/rooms/%s/messages" % quote(room), params={"from": "s1_0", "dir": "b"}).expect(
        (403, 404))


def test_delete_room_v1_purge(adm, api_r0):
    a, _ = adm
    owner, member = api_r0.register(), api_r0.register()
    alias = "#%s:%s" % (unique_localpart("del"), SERVER_NAME)
    room = create_room(owner.api(), room_alias_name=alias[1:].split(":")[0],
                       preset="public_chat")
    join(member.api(), room).expect(200)
    send(owner.api(), room, {"msgtype": "m.text", "body": "bye"})
    r = a.delete(A + "/v1/rooms/%s" % quote(room), {"purge": True}).expect(200)
    assert sorted(r.body["kicked_users"]) == sorted([owner.user_id, member.user_id])
    assert r.body["failed_to_kick_users"] == [] and r.body["local_aliases"] == [alias]
    assert r.body["new_room_id"] is None
    room_gone(a, api_r0, owner, room)
    api_r0.get("/directory/room/%s" % quote(alias)).expect(404, "M_NOT_FOUND")
    assert room not in owner.api().get("/joined_rooms").expect(200).body["joined_rooms"]
    # Not blocked: the ID may be used again... and an unknown room is 404 without block.
    a.delete(A + "/v1/rooms/%s" % quote(room), {}).expect(404, "M_NOT_FOUND")


def test_delete_room_block_without_purge(adm, api_r0):
    a, _ = adm
    owner, other = api_r0.register(), api_r0.register()
    room = create_room(owner.api(), preset="public_chat")
    r = a.post(A + "/v1/rooms/%s/delete" % quote(room), {"block": True, "purge": False}).expect(200)
    assert r.body["kicked_users"] == [owner.user_id]
    # Not purged: the room is still listed, with nobody in it; blocked: nobody may join.
    d = a.get(A + "/v1/rooms/%s" % quote(room)).expect(200).body
    assert d["joined_members"] == 0
    assert a.get(A + "/v1/rooms/%s/block" % quote(room)).expect(200).body["block"] is True
    join_r = other.api().post("/rooms/%s/join" % quote(room), {})
    join_r.expect(403, "M_FORBIDDEN")
    # Synapse lets an admin block a room it has never seen.
    never = "!neverseen%s:%s" % (unique_localpart(""), SERVER_NAME)
    r = a.delete(A + "/v1/rooms/%s" % quote(never), {"block": True}).expect(200)
    assert r.body["kicked_users"] == []


def test_delete_room_v2_and_status(adm, api_r0):
    a, _ = adm
    owner = api_r0.register()
    room = create_room(owner.api())
    r = a.delete(A + "/v2/rooms/%s" % quote(room), {"purge": True}).expect(200)
    did = r.body["delete_id"]
    r = a.get(A + "/v2/rooms/%s/delete_status" % quote(room)).expect(200)
    res = r.body["results"]
    assert len(res) == 1 and res[0]["delete_id"] == did and res[0]["status"] == "complete"
    assert res[0]["shutdown_room"]["kicked_users"] == [owner.user_id]
    r = a.get(A + "/v2/rooms/delete_status/%s" % did).expect(200)
    assert r.body["status"] == "complete"
    room_gone(a, api_r0, owner, room)
    a.get(A + "/v2/rooms/delete_status/nosuch").expect(404, "M_NOT_FOUND")
    a.get(A + "/v2/rooms/%s/delete_status" % quote("!none:" + SERVER_NAME)).expect(404, "M_NOT_FOUND")


@pytest.mark.parametrize("body", [{"block": "yes"}, {"purge": 1}, {"new_room_user_id": "@a:b"}])
def test_delete_room_bad_body(adm, api_r0, body):
    a, _ = adm
    room = create_room(api_r0.register().api())
    err = "M_BAD_JSON" if "new_room_user_id" not in body else "M_INVALID_PARAM"
    a.delete(A + "/v1/rooms/%s" % quote(room), body).expect(400, err)
    a.get(A + "/v1/rooms/%s" % quote(room)).expect(200)


def test_purge_removes_events_from_storage(adm, api_r0, server):
    """The room's events are really gone: a fetch of an event by ID answers 404."""
    a, _ = adm
    owner = api_r0.register()
    room = create_room(owner.api())
    ev = send(owner.api(), room, {"msgtype": "m.text", "body": "secret"})
    a.delete(A + "/v1/rooms/%s" % quote(room), {}).expect(200)
    # The admin rejoining is impossible (no room); the old event is unknown.
    owner.api().get("/rooms/%s/event/%s" % (quote(room), quote(ev))).expect((403, 404))
    a.get(A + "/v1/event_reports", params={"room_id": room}).expect(200)


def db_rows(srv):
    """(table, row text) for every row of the stopped server's database: SQLite's dump, or
    pg_dump of its schema as one INSERT per row."""
    import os
    import re
    import sqlite3
    import subprocess
    import harness
    if harness.TEST_PG:
        p = harness.pg_params()
        text = subprocess.run(
            ["pg_dump", "-h", p.get("host", ""), "-p", p.get("port", "5432"), "-U",
             p.get("user", "postgres"), "-d", p.get("dbname", "postgres"), "--data-only",
             "--inserts", "-n", harness.pg_schema_for(srv.data_dir)],
            check=True, capture_output=True, text=True).stdout
        lines = text.splitlines()
    else:
        with sqlite3.connect(os.path.join(srv.data_dir, "homeserver.db")) as db:
            lines = list(db.iterdump())
    rows = []
    for line in lines:
        m = re.match(r'INSERT INTO (?:"?\w+"?\.)?"?(\w+)"?', line)
        if m:
            rows.append((m.group(1), line))
    return rows


def test_purge_removes_the_room_from_every_table(server_factory):
    """After a purge, nothing of the room is left in the database: no row names it and its
    messages' text is gone, from the search index too; its push rows and the keys backed up
    for it (as Synapse) go as well. Checked on a dump of the stopped server's database."""
    from test_key_backup import create as create_backup, key, put_session
    srv = server_factory()
    a, _ = make_admin(srv.api("r0"))
    owner, member = srv.api().register(), srv.api().register()
    room = create_room(owner.api(), preset="public_chat")
    join(member.api(), room).expect(200)
    secret = "purgeable" + unique_localpart("w")[-8:]
    send(owner.api(), room, {"msgtype": "m.text", "body": "the word is " + secret})
    send(member.api(), room, {"msgtype": "m.text", "body": "noted"})
    found = owner.api().post("/search", {"search_categories": {"room_events": {"search_term": secret}}})
    assert found.expect(200).body["search_categories"]["room_events"]["count"] == 1
    version = create_backup(owner.api())
    put_session(owner.api(), version, room, "session1", key()).expect(200)

    def naming(rows):
        return sorted({t for t, line in rows if room in line or secret in line})

    srv.stop()
    before = naming(db_rows(srv))
    # The test can fail: each table the purge must now empty holds the room beforehand.
    for table in ("events", "push_events", "push_counts", "push_rooms", "event_search_rooms",
                  "e2e_room_keys"):
        assert table in before, before
    assert any(t.startswith("event_search") and t != "event_search_rooms" for t in before), before
    srv.start()
    a.delete(A + "/v1/rooms/%s" % quote(room), {"purge": True}).expect(200)
    srv.stop()
    assert naming(db_rows(srv)) == []


def test_block_room(adm, api_r0):
    a, admin_id = adm
    owner, other = api_r0.register(), api_r0.register()
    room = create_room(owner.api(), preset="public_chat")
    path = A + "/v1/rooms/%s/block" % quote(room)
    assert a.get(path).expect(200).body == {"block": False}
    assert a.put(path, {"block": True}).expect(200).body == {"block": True}
    assert a.get(path).expect(200).body == {"block": True, "user_id": admin_id}
    other.api().post("/join/%s" % quote(room), {}).expect(403, "M_FORBIDDEN")
    a.put(path, {"block": False}).expect(200)
    join(other.api(), room).expect(200)
    a.put(path, {}).expect(400, "M_BAD_JSON")
    a.get(A + "/v1/rooms/%s/block" % quote("nonsense")).expect(400, "M_INVALID_PARAM")


def test_make_room_admin(adm, api_r0):
    a, admin_id = adm
    owner, target = api_r0.register(), api_r0.register()
    room = create_room(owner.api())  # private: the target gets an invite
    a.post(A + "/v1/rooms/%s/make_room_admin" % quote(room), {"user_id": target.user_id}).expect(200)
    pl = owner.api().get("/rooms/%s/state/m.room.power_levels" % quote(room)).expect(200).body
    assert pl["users"][target.user_id] == 100
    join(target.api(), room).expect(200)
    # Default target: the caller; by alias too.
    alias = "#%s:%s" % (unique_localpart("mra"), SERVER_NAME)
    room2 = create_room(owner.api(), room_alias_name=alias[1:].split(":")[0], preset="public_chat")
    a.post(A + "/v1/rooms/%s/make_room_admin" % quote(alias), {}).expect(200)
    pl = owner.api().get("/rooms/%s/state/m.room.power_levels" % quote(room2)).expect(200).body
    assert pl["users"][admin_id] == 100
    a.post(A + "/v1/rooms/%s/make_room_admin" % quote("!none:" + SERVER_NAME), {}).expect(
        404, "M_NOT_FOUND")
    a.post(A + "/v1/rooms/%s/make_room_admin" % quote(room), {"user_id": "@x:elsewhere.test"}).expect(
        400, "M_INVALID_PARAM")


def test_make_room_admin_without_local_admin(adm, api_r0):
    a, _ = adm
    owner = api_r0.register()
    room = create_room(owner.api())
    owner.api().post("/rooms/%s/leave" % quote(room), {}).expect(200)
    a.post(A + "/v1/rooms/%s/make_room_admin" % quote(room), {}).expect(400, "M_INVALID_PARAM")


# ---- media --------------------------------------------------------------------------------

def test_delete_media_by_id(adm, api_r0, user):
    a, _ = adm
    mid = upload(user.api(), b"delete me")
    r = a.delete(A + "/v1/media/%s/%s" % (SERVER_NAME, mid), {}).expect(200)
    assert r.body == {"deleted_media": [mid], "total": 1}
    api_r0.get("/_matrix/media/r0/download/%s/%s" % (SERVER_NAME, mid)).expect(404, "M_NOT_FOUND")
    a.delete(A + "/v1/media/%s/%s" % (SERVER_NAME, mid), {}).expect(404, "M_NOT_FOUND")
    a.delete(A + "/v1/media/elsewhere.test/%s" % mid, {}).expect(400, "M_INVALID_PARAM")


def test_delete_media_shared_content_keeps_other_copy(adm, api_r0, user):
    a, _ = adm
    one = upload(user.api(), b"same bytes")
    two = upload(user.api(), b"same bytes")
    a.delete(A + "/v1/media/%s/%s" % (SERVER_NAME, one), {}).expect(200)
    r = api_r0.get("/_matrix/media/r0/download/%s/%s" % (SERVER_NAME, two), validate=False)
    assert r.status == 200 and r.raw.content == b"same bytes"


def test_delete_media_by_date_and_size(adm, api_r0, user):
    a, _ = adm
    small = upload(user.api(), b"s")
    big = upload(user.api(), b"b" * 5000)
    avatar = upload(user.api(), b"a" * 6000)
    user.api().put("/profile/%s/avatar_url" % quote(user.user_id),
                   {"avatar_url": "mxc://%s/%s" % (SERVER_NAME, avatar)}).expect(200)
    now = int(time.time() * 1000) + 1000
    path = A + "/v1/media/%s/delete" % SERVER_NAME
    r = a.post(path, {}, params={"before_ts": now, "size_gt": 4000}).expect(200)
    assert big in r.body["deleted_media"] and small not in r.body["deleted_media"]
    assert avatar not in r.body["deleted_media"]  # keep_profiles defaults to true
    assert r.body["total"] == len(r.body["deleted_media"])
    r = a.post(path, {}, params={"before_ts": now, "size_gt": 4000, "keep_profiles": "false"})
    assert avatar in r.expect(200).body["deleted_media"]
    a.post(path, {}).expect(400, "M_MISSING_PARAM")
    a.post(path, {}, params={"before_ts": 1000}).expect(400, "M_INVALID_PARAM")
    a.post(path, {}, params={"before_ts": now, "size_gt": -1}).expect(400, "M_INVALID_PARAM")
    # Old enough cut-off: the small one, made just now, stays.
    r = a.post(path, {}, params={"before_ts": now - 3600000}).expect(200)
    assert small not in r.body["deleted_media"]


def test_protect_media_from_quarantine(adm, api_r0, user):
    a, _ = adm
    mid = upload(user.api(), b"protected content")
    a.post(A + "/v1/media/protect/%s" % mid, {}).expect(200)
    a.post(A + "/v1/media/quarantine/%s/%s" % (SERVER_NAME, mid), {}).expect(200)
    api_r0.get("/_matrix/media/r0/download/%s/%s" % (SERVER_NAME, mid), validate=False).expect(200)
    r = a.get(A + "/v1/users/%s/media" % quote(user.user_id)).expect(200)
    assert r.body["media"][0]["safe_from_quarantine"] is True
    a.post(A + "/v1/media/unprotect/%s" % mid, {}).expect(200)
    a.post(A + "/v1/media/quarantine/%s/%s" % (SERVER_NAME, mid), {}).expect(200)
    api_r0.get("/_matrix/media/r0/download/%s/%s" % (SERVER_NAME, mid)).expect(404, "M_NOT_FOUND")
    a.post(A + "/v1/media/protect/nosuchmedia", {}).expect(404, "M_NOT_FOUND")


def test_purge_media_cache(adm):
    a, _ = adm
    r = a.post(A + "/v1/purge_media_cache", {}, params={"before_ts": int(time.time() * 1000)})
    assert r.expect(200).body == {"deleted": 0}
    a.post(A + "/v1/purge_media_cache", {}).expect(400, "M_MISSING_PARAM")


# ---- event reports ------------------------------------------------------------------------

def test_event_reports(adm, api_r0):
    a, _ = adm
    owner, reporter = api_r0.register(), api_r0.register()
    room = create_room(owner.api(), name="Reported room", preset="public_chat")
    join(reporter.api(), room).expect(200)
    ev = send(owner.api(), room, {"msgtype": "m.text", "body": "bad"})
    reporter.api().post("/rooms/%s/report/%s" % (quote(room), quote(ev)),
                        {"score": -100, "reason": "spam"}).expect(200)
    reporter.api().post("/rooms/%s/report/%s" % (quote(room), quote(ev)),
                        {"score": -50, "reason": "again"}).expect(200)
    r = a.get(A + "/v1/event_reports", params={"room_id": room}).expect(200)
    assert r.body["total"] == 2
    newest = r.body["event_reports"][0]
    assert newest["reason"] == "again"  # newest first by default (dir=b)
    assert newest["score"] == -50 and newest["sender"] == owner.user_id
    assert newest["user_id"] == reporter.user_id and newest["event_id"] == ev
    assert newest["name"] == "Reported room" and "canonical_alias" in newest
    r = a.get(A + "/v1/event_reports", params={"room_id": room, "dir": "f", "limit": 1}).expect(200)
    assert r.body["event_reports"][0]["reason"] == "spam" and r.body["next_token"] == 1
    r = a.get(A + "/v1/event_reports", params={"user_id": reporter.user_id}).expect(200)
    assert r.body["total"] == 2
    rid = newest["id"]
    d = a.get(A + "/v1/event_reports/%d" % rid).expect(200).body
    assert d["event_json"]["content"]["body"] == "bad" and d["event_json"]["room_id"] == room
    a.delete(A + "/v1/event_reports/%d" % rid, {}).expect(200)
    a.get(A + "/v1/event_reports/%d" % rid).expect(404, "M_NOT_FOUND")
    a.delete(A + "/v1/event_reports/%d" % rid, {}).expect(404, "M_NOT_FOUND")
    a.get(A + "/v1/event_reports/abc").expect(400, "M_INVALID_PARAM")
    assert a.get(A + "/v1/event_reports", params={"room_id": room}).expect(200).body["total"] == 1


# ---- what synapse-admin's pages also read -------------------------------------------------

def test_media_statistics(adm, api_r0):
    a, _ = adm
    tag = unique_localpart("stat")
    big = api_r0.register(username=tag + "big")
    small = api_r0.register(username=tag + "small")
    for _ in range(2):
        upload(big.api(), b"x" * 1000)
    upload(small.api(), b"y" * 10)
    r = a.get(A + "/v1/statistics/users/media", params={"search_term": tag}).expect(200)
    assert r.body["total"] == 2
    assert [(u["user_id"], u["media_count"], u["media_length"]) for u in r.body["users"]] == [
        (small.user_id, 1, 10), (big.user_id, 2, 2000)]
    assert r.body["users"][0]["displayname"] == small.localpart
    r = a.get(A + "/v1/statistics/users/media",
              params={"search_term": tag, "order_by": "media_count", "dir": "b", "limit": 1})
    assert [u["user_id"] for u in r.expect(200).body["users"]] == [big.user_id]
    assert r.body["next_token"] == 1
    a.get(A + "/v1/statistics/users/media", params={"order_by": "x"}).expect(400, "M_INVALID_PARAM")


def test_room_media(adm, api_r0):
    a, _ = adm
    owner = api_r0.register()
    room = create_room(owner.api())
    mid = upload(owner.api(), b"picture")
    local = "mxc://%s/%s" % (SERVER_NAME, mid)
    send(owner.api(), room, {"msgtype": "m.image", "body": "p.png", "url": local})
    send(owner.api(), room, {"msgtype": "m.image", "body": "q.png", "url": "mxc://other.test/abc"})
    r = a.get(A + "/v1/room/%s/media" % quote(room)).expect(200)
    assert r.body == {"local": [local], "remote": ["mxc://other.test/abc"]}
    a.get(A + "/v1/room/%s/media" % quote("!none:" + SERVER_NAME)).expect(404, "M_NOT_FOUND")


def test_forward_extremities(adm, api_r0):
    a, _ = adm
    owner = api_r0.register()
    room = create_room(owner.api())
    ev = send(owner.api(), room)
    r = a.get(A + "/v1/rooms/%s/forward_extremities" % quote(room)).expect(200)
    assert r.body["count"] == 1 and r.body["results"][0]["event_id"] == ev
    a.get(A + "/v1/rooms/%s/forward_extremities" % quote("!none:" + SERVER_NAME)).expect(
        404, "M_NOT_FOUND")


def test_pushers_and_federation_destinations(adm, user):
    """No pushers can exist in this tree (push notifications come with another feature) and
    Hearth does not federate: both lists are empty, in Synapse's shape."""
    a, _ = adm
    r = a.get(A + "/v1/users/%s/pushers" % quote(user.user_id)).expect(200)
    assert r.body == {"pushers": [], "total": 0}
    a.get(A + "/v1/users/%s/pushers" % quote(uid(unique_localpart("no")))).expect(404, "M_NOT_FOUND")
    assert a.get(A + "/v1/federation/destinations").expect(200).body == {"destinations": [],
                                                                         "total": 0}
