"""synapse-admin compatibility (issue 14). The synapse-admin web UI is not on the npm registry
and cannot be run here, so this file replays, against Hearth, the requests its data provider
and auth provider make, with their paths, query parameters and bodies, and checks the response
fields its pages read, with their types. Read from Awesome-Technologies/synapse-admin:
  src/synapse/dataProvider.ts   (resourceMap: paths, `data`/`total` keys, create/delete
                                 endpoints; getList/getOne/getManyReference/update/delete
                                 build the query {from, limit, order_by, dir, filters} with
                                 query-string's stringify, which drops undefined values)
  src/synapse/authProvider.ts   (POST /_matrix/client/r0/login with device_id null and
                                 initial_device_display_name "Synapse Admin"; whoami for
                                 access-token logins; POST /_matrix/client/r0/logout)
  src/synapse/synapse.ts        (server_version, /_matrix/client/versions, login flows,
                                 media links /_matrix/media/v1/download/...?allow_redirect=true)
  src/components/users.tsx, rooms.tsx, EventReports.tsx, media.tsx (the fields each page
                                 shows and the columns it sorts by: each sortable column
                                 becomes order_by)
Not part of the Matrix spec; the UI's own code is not copied here, only the requests."""

import io
import time

import pytest
from PIL import Image

from harness import SERVER_NAME, quote, unique_localpart
from roomlib import create_room, join, send
from test_synapse_admin import A, make_admin

INT, STR, BOOL, LIST, DICT, NONE = int, str, bool, list, dict, type(None)


def check(obj, fields):
    """Every field the UI reads is there with one of the given types (bool is not an int)."""
    for name, types in fields.items():
        types = types if isinstance(types, tuple) else (types,)
        assert name in obj, "missing %s in %s" % (name, obj)
        v = obj[name]
        ok = any(isinstance(v, t) and not (t is INT and isinstance(v, bool)) for t in types)
        assert ok, "%s = %r is not %s" % (name, v, types)


def ui_query(page=1, per_page=10, field="id", order="ASC", **filters):
    """getList / getManyReference's query: from, limit, order_by, dir (ASC -> f, DESC -> b)
    and the filters that are set."""
    q = {"from": (page - 1) * per_page, "limit": per_page, "order_by": field,
         "dir": "b" if order == "DESC" else "f"}
    q.update({k: ("true" if v is True else "false" if v is False else v)
              for k, v in filters.items() if v is not None})
    return q


def without_nulls(obj):
    """JSON.stringify(data, filterNullValues): null values are dropped, except user_type."""
    return {k: v for k, v in obj.items() if v is not None or k == "user_type"}


def user_record(u):
    """resourceMap.users.map: what the edit form holds and sends back on save."""
    rec = dict(u)
    rec.update(id=u["name"], is_guest=bool(u["is_guest"]), admin=bool(u["admin"]),
               deactivated=bool(u["deactivated"]), creation_ts_ms=u["creation_ts"] * 1000)
    return rec


# The list page's columns (users.tsx UserList) and the edit page's fields (UserEdit). As in
# Synapse, creation_ts is in milliseconds in the list (shown as is) and in seconds for one
# user (the map multiplies it by 1000 into creation_ts_ms for the edit page).
USER_LIST_FIELDS = {"name": STR, "displayname": (STR, NONE), "avatar_url": (STR, NONE),
                    "is_guest": (INT, BOOL), "admin": (INT, BOOL), "deactivated": (INT, BOOL),
                    "locked": BOOL, "creation_ts": INT}
USER_FIELDS = dict(USER_LIST_FIELDS, threepids=LIST, erased=BOOL, shadow_banned=(INT, BOOL),
                   external_ids=LIST, user_type=(STR, NONE))
ROOM_FIELDS = {"room_id": STR, "name": (STR, NONE), "canonical_alias": (STR, NONE),
               "joined_members": INT, "joined_local_members": INT, "version": STR,
               "creator": STR, "encryption": (STR, NONE), "federatable": BOOL, "public": BOOL,
               "join_rules": (STR, NONE), "guest_access": (STR, NONE),
               "history_visibility": (STR, NONE), "state_events": INT}
MEDIA_FIELDS = {"media_id": STR, "created_ts": INT, "last_access_ts": (INT, NONE),
                "media_length": INT, "media_type": STR, "quarantined_by": (STR, NONE),
                "safe_from_quarantine": BOOL, "upload_name": (STR, NONE)}


@pytest.fixture(scope="module")
def ui(server):
    """The admin logged in as the login page does: (client with the UI's token, login body,
    admin password holder)."""
    api = server.api("r0")
    _, admin_id = make_admin(api)
    return login_as_ui(api, admin_id, "pw-admin")


def login_as_ui(api, user, password):
    r = api.post("/_matrix/client/r0/login", {
        "device_id": None, "initial_device_display_name": "Synapse Admin",
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
        "password": password}).expect(200)
    check(r.body, {"home_server": STR, "user_id": STR, "access_token": STR, "device_id": STR})
    assert r.body["home_server"] == SERVER_NAME
    return api.with_token(r.body["access_token"]), r.body


# ---- login page (authProvider.ts, synapse.ts) ---------------------------------------------

def test_login_page_sequence(server, api_r0):
    api = server.api("r0")
    r = api.get(A + "/v1/server_version").expect(200)
    check(r.body, {"server_version": STR})
    assert "r0.6.1" in api.get("/_matrix/client/versions").expect(200).body["versions"]
    flows = api.get("/_matrix/client/r0/login").expect(200).body["flows"]
    assert {"type": "m.login.password"} in [{"type": f["type"]} for f in flows]
    a, admin_id = make_admin(api)
    # The form accepts a localpart or a full user ID.
    c, body = login_as_ui(api, admin_id.split(":")[0][1:], "pw-admin")
    c2, body2 = login_as_ui(api, admin_id, "pw-admin")
    assert body["user_id"] == body2["user_id"] == admin_id
    # The device ID of the first login is stored and sent again on the next login.
    r = api.post("/_matrix/client/r0/login", {
        "device_id": body["device_id"], "initial_device_display_name": "Synapse Admin",
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": admin_id},
        "password": "pw-admin"}).expect(200)
    assert r.body["device_id"] == body["device_id"]
    # Login with an access token: whoami (v3).
    r = api.get("/_matrix/client/v3/account/whoami", token=r.body["access_token"]).expect(200)
    assert r.body["user_id"] == admin_id
    # Wrong password: the error body the UI shows has errcode and error.
    r = api.post("/_matrix/client/r0/login", {
        "device_id": None, "initial_device_display_name": "Synapse Admin",
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": admin_id},
        "password": "wrong"}).expect(403, "M_FORBIDDEN")
    check(r.body, {"errcode": STR, "error": STR})
    # A non-admin logs in but every admin page answers 403 (checkError shows it).
    user = api_r0.register()
    c3, _ = login_as_ui(api, user.user_id, user.password)
    r = c3.get(A + "/v2/users", params=ui_query()).expect(403, "M_FORBIDDEN")
    check(r.body, {"errcode": STR, "error": STR})
    # Logout (the UI's logout button).
    c2.post("/_matrix/client/r0/logout").expect(200)
    c2.get("/_matrix/client/v3/account/whoami").expect(401, "M_UNKNOWN_TOKEN")


# ---- users (users.tsx) --------------------------------------------------------------------

USER_SORTS = ["name", "displayname", "is_guest", "admin", "deactivated", "locked",
              "creation_ts", "avatar_url"]


@pytest.mark.parametrize("field", USER_SORTS)
@pytest.mark.parametrize("order", ["ASC", "DESC"])
def test_users_list_every_sortable_column(ui, field, order):
    c, _ = ui
    r = c.get(A + "/v2/users", params=ui_query(field=field, order=order, guests=True,
                                                 deactivated=False)).expect(200)
    check(r.body, {"users": LIST, "total": INT})
    assert r.body["users"], "the admin at least"
    for u in r.body["users"]:
        check(u, USER_LIST_FIELDS)
    mine = [u for u in r.body["users"] if u["name"] == ui[1]["user_id"]]
    if mine:  # on this page: created just now, in milliseconds
        assert abs(mine[0]["creation_ts"] - time.time() * 1000) < 3600 * 1000


def test_users_list_filters_and_pages(ui, api_r0):
    c, _ = ui
    tag = unique_localpart("uiflt")
    made = [api_r0.register(username="%s%d" % (tag, i)) for i in range(3)]
    q = ui_query(per_page=2, field="name", name=tag, guests=True, deactivated=False)
    r = c.get(A + "/v2/users", params=q).expect(200)
    assert r.body["total"] == 3 and [u["name"] for u in r.body["users"]] == \
        sorted(m.user_id for m in made)[:2]
    r = c.get(A + "/v2/users", params=ui_query(page=2, per_page=2, field="name", name=tag,
                                                 guests=True, deactivated=False)).expect(200)
    assert [u["name"] for u in r.body["users"]] == sorted(m.user_id for m in made)[2:]
    # The user list's "show deactivated" and "guests" toggles.
    c.post(A + "/v1/deactivate/%s" % quote(made[0].user_id), {"erase": True}).expect(200)
    r = c.get(A + "/v2/users", params=ui_query(field="name", name=tag, guests=False,
                                                 deactivated=False))
    assert r.expect(200).body["total"] == 2
    r = c.get(A + "/v2/users", params=ui_query(field="name", name=tag, guests=False,
                                                 deactivated=True))
    assert r.expect(200).body["total"] == 3


def test_user_create_edit_erase(ui, api_r0):
    c, _ = ui
    local = unique_localpart("uinew")
    uid = "@%s:%s" % (local, SERVER_NAME)
    # create: PUT /v2/users/@<encoded localpart>:<home_server>, the form's data as the body.
    body = without_nulls({"id": local, "displayname": "UI made", "password": "ui-pw-1",
                          "user_type": None, "admin": False, "threepids": [],
                          "external_ids": []})
    r = c.put(A + "/v2/users/@%s:%s" % (quote(local), SERVER_NAME), body).expect(201)
    check(r.body, USER_FIELDS)
    assert r.body["name"] == uid and r.body["displayname"] == "UI made"
    login_as_ui(api_r0, uid, "ui-pw-1")
    # show: GET /v2/users/<encodeURIComponent(id)>
    got = c.get(A + "/v2/users/%s" % quote(uid)).expect(200).body
    check(got, USER_FIELDS)
    assert got["creation_ts"] <= time.time() + 60 and got["creation_ts"] > time.time() - 3600, \
        "creation_ts is in seconds (the UI multiplies by 1000)"
    # edit: the whole mapped record goes back, nulls dropped, with the changed fields.
    rec = user_record(got)
    rec.update(displayname="UI edited", admin=True)
    r = c.put(A + "/v2/users/%s" % quote(uid), without_nulls(rec)).expect(200)
    check(r.body, USER_FIELDS)
    again = c.get(A + "/v2/users/%s" % quote(uid)).expect(200).body
    assert again["displayname"] == "UI edited" and again["admin"] in (1, True)
    # The 3PID and SSO tabs: rows added in the form, then the record sent back as read (with
    # added_at and validated_at) leaves them as they are.
    mail = "%s@example.test" % local
    rec = user_record(again)
    rec.update(threepids=[{"medium": "email", "address": mail}],
               external_ids=[{"auth_provider": "oidc", "external_id": local}])
    r = c.put(A + "/v2/users/%s" % quote(uid), without_nulls(rec)).expect(200)
    for t in r.body["threepids"]:
        check(t, {"medium": STR, "address": STR, "added_at": INT, "validated_at": INT})
    again = c.get(A + "/v2/users/%s" % quote(uid)).expect(200).body
    c.put(A + "/v2/users/%s" % quote(uid), without_nulls(user_record(again))).expect(200)
    assert c.get(A + "/v2/users/%s" % quote(uid)).expect(200).body["threepids"] == \
        again["threepids"]
    assert again["external_ids"] == [{"auth_provider": "oidc", "external_id": local}]
    # A password typed in the edit form.
    rec = user_record(again)
    rec["password"] = "ui-pw-2"
    c.put(A + "/v2/users/%s" % quote(uid), without_nulls(rec)).expect(200)
    login_as_ui(api_r0, uid, "ui-pw-2")
    # delete (erase): POST /v1/deactivate/<id> {"erase": true}
    c.post(A + "/v1/deactivate/%s" % quote(uid), {"erase": True}).expect(200)
    gone = c.get(A + "/v2/users/%s" % quote(uid)).expect(200).body
    assert gone["deactivated"] in (1, True) and gone["erased"] is True


def test_user_devices_and_connections(ui, api_r0):
    c, _ = ui
    u = api_r0.register()
    u.api().get("/account/whoami", headers={"User-Agent": "ui-test-agent"}).expect(200)
    r = c.get(A + "/v2/users/%s/devices" % quote(u.user_id),
              params=ui_query(per_page=25, order="DESC")).expect(200)
    check(r.body, {"devices": LIST, "total": INT})
    assert r.body["total"] == 1
    d = r.body["devices"][0]
    check(d, {"device_id": STR, "display_name": (STR, NONE), "last_seen_ip": (STR, NONE),
              "last_seen_ts": (INT, NONE), "user_id": STR})
    assert d["device_id"] == u.device_id and d["user_id"] == u.user_id
    # connections: GET /v1/whois/<id>; the page reads devices[].sessions[0].connections.
    r = c.get(A + "/v1/whois/%s" % quote(u.user_id)).expect(200)
    check(r.body, {"user_id": STR, "devices": DICT})
    conns = [x for dev in r.body["devices"].values() for x in dev["sessions"][0]["connections"]]
    assert conns
    for x in conns:
        check(x, {"ip": STR, "last_seen": INT, "user_agent": STR})
    assert "ui-test-agent" in [x["user_agent"] for x in conns]
    # delete a device: DELETE /v2/users/<user_id>/devices/<device_id>, no body.
    c.delete(A + "/v2/users/%s/devices/%s" % (quote(u.user_id), d["device_id"])).expect(200)
    r = c.get(A + "/v2/users/%s/devices" % quote(u.user_id), params=ui_query()).expect(200)
    assert r.body["total"] == 0


def png():
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 20, 20)).save(buf, "PNG")
    return buf.getvalue()


MEDIA_TAB = ui_query(per_page=50, field="created_ts", order="DESC")  # the tab's default sort
MEDIA_SORTS = ["media_id", "created_ts", "last_access_ts", "media_length", "media_type",
               "upload_name", "quarantined_by"]


def test_user_media_tab(ui, api_r0):
    c, _ = ui
    u = api_r0.register()
    r = u.api().post("/_matrix/media/r0/upload", data=png(), params={"filename": "red.png"},
                     headers={"Content-Type": "image/png"}).expect(200)
    mid = r.body["content_uri"].rsplit("/", 1)[1]
    u.api().post("/_matrix/media/r0/upload", data=b"text", headers={"Content-Type": "text/plain"})
    # The tab's default: 50 per page, created_ts DESC.
    r = c.get(A + "/v1/users/%s/media" % quote(u.user_id),
              params=ui_query(per_page=50, field="created_ts", order="DESC")).expect(200)
    check(r.body, {"media": LIST, "total": INT})
    assert r.body["total"] == 2
    for m in r.body["media"]:
        check(m, MEDIA_FIELDS)
    for field in MEDIA_SORTS:
        for order in ("ASC", "DESC"):
            c.get(A + "/v1/users/%s/media" % quote(u.user_id),
                  params=ui_query(per_page=50, field=field, order=order)).expect(200)
    # The media link (MediaIDField: <home_server>/<media_id>) and the avatar thumbnail URL.
    r = c.get("/_matrix/media/v1/download/%s/%s" % (SERVER_NAME, mid),
              params={"allow_redirect": "true"}, token=None, validate=False).expect(200)
    assert r.raw.content == png()
    r = c.get("/_matrix/media/r0/thumbnail/%s/%s" % (SERVER_NAME, mid), token=None,
              params={"width": 24, "height": 24, "method": "scale"}, query_token=True).expect(200)
    # quarantine / unquarantine, protect / unprotect: POST without a body.
    c.post(A + "/v1/media/quarantine/%s/%s" % (SERVER_NAME, mid)).expect(200)
    m = [x for x in c.get(A + "/v1/users/%s/media" % quote(u.user_id), params=MEDIA_TAB)
         .expect(200).body["media"] if x["media_id"] == mid][0]
    assert m["quarantined_by"] == ui[1]["user_id"]
    c.post(A + "/v1/media/unquarantine/%s/%s" % (SERVER_NAME, mid)).expect(200)
    c.post(A + "/v1/media/protect/%s" % mid).expect(200)
    m = [x for x in c.get(A + "/v1/users/%s/media" % quote(u.user_id), params=MEDIA_TAB)
         .expect(200).body["media"] if x["media_id"] == mid][0]
    assert m["safe_from_quarantine"] is True and m["quarantined_by"] is None
    c.post(A + "/v1/media/unprotect/%s" % mid).expect(200)
    # delete: DELETE /v1/media/<home_server>/<media_id>, no body.
    r = c.delete(A + "/v1/media/%s/%s" % (SERVER_NAME, mid)).expect(200)
    check(r.body, {"deleted_media": LIST, "total": INT})
    assert r.body["deleted_media"] == [mid] and r.body["total"] == 1


def test_delete_media_dialog(ui, api_r0):
    """deleteMedia: POST /v1/media/<home_server>/delete?before_ts=&size_gt=&keep_profiles="""
    c, _ = ui
    u = api_r0.register()
    u.api().post("/_matrix/media/r0/upload", data=b"x" * 3000,
                 headers={"Content-Type": "application/octet-stream"}).expect(200)
    time.sleep(0.01)
    before = int(time.time() * 1000)
    r = c.post(A + "/v1/media/%s/delete" % SERVER_NAME,
               params={"before_ts": before, "size_gt": 2048, "keep_profiles": "true"}).expect(200)
    check(r.body, {"deleted_media": LIST, "total": INT})
    assert r.body["total"] >= 1 and r.body["total"] == len(r.body["deleted_media"])


def test_user_rooms_and_pushers_tabs(ui, api_r0):
    c, _ = ui
    u = api_r0.register()
    room = create_room(u.api(), name="UI room")
    r = c.get(A + "/v1/users/%s/joined_rooms" % quote(u.user_id),
              params=ui_query(per_page=25)).expect(200)
    check(r.body, {"joined_rooms": LIST, "total": INT})
    assert r.body["joined_rooms"] == [room] and r.body["total"] == 1
    # Each row's name comes from getMany("rooms"): GET /v1/rooms/<encodeURIComponent(id)>.
    assert c.get(A + "/v1/rooms/%s" % quote(room)).expect(200).body["name"] == "UI room"
    u.api().post("/pushers/set", {
        "kind": "http", "app_id": "org.example.ui", "app_display_name": "UI app",
        "device_display_name": "UI phone", "pushkey": "ui-key", "lang": "en",
        "profile_tag": "tag", "data": {"url": "https://push.example.test/_matrix/push/v1/notify"}}
    ).expect(200)
    r = c.get(A + "/v1/users/%s/pushers" % quote(u.user_id), params=ui_query()).expect(200)
    check(r.body, {"pushers": LIST, "total": INT})
    assert r.body["total"] == 1
    p = r.body["pushers"][0]
    check(p, {"kind": STR, "app_display_name": STR, "app_id": STR, "data": DICT,
              "device_display_name": STR, "lang": STR, "profile_tag": STR, "pushkey": STR})
    assert p["data"]["url"] == "https://push.example.test/_matrix/push/v1/notify"
    assert p["pushkey"] == "ui-key"


# ---- rooms (rooms.tsx) --------------------------------------------------------------------

ROOM_SORTS = ["encryption", "name", "joined_members", "joined_local_members", "state_events",
              "version", "federatable", "public"]


@pytest.fixture(scope="module")
def ui_room(server):
    api = server.api("r0")
    owner, member = api.register(), api.register()
    local = unique_localpart("uiroom")
    room = create_room(owner.api(), name="UI listed room", topic="about", preset="public_chat",
                       room_alias_name=local)
    join(member.api(), room).expect(200)
    ev = send(owner.api(), room, {"msgtype": "m.text", "body": "report me"})
    return owner, member, room, "#%s:%s" % (local, SERVER_NAME), ev


@pytest.mark.parametrize("field", ROOM_SORTS)
@pytest.mark.parametrize("order", ["ASC", "DESC"])
def test_rooms_list_every_sortable_column(ui, ui_room, field, order):
    c, _ = ui
    r = c.get(A + "/v1/rooms", params=ui_query(field=field, order=order, per_page=1000)).expect(200)
    check(r.body, {"rooms": LIST, "total_rooms": INT})
    assert ui_room[2] in [x["room_id"] for x in r.body["rooms"]]
    for x in r.body["rooms"]:
        check(x, ROOM_FIELDS)


def test_rooms_search_and_show(ui, ui_room):
    c, _ = ui
    owner, member, room, alias, _ = ui_room
    r = c.get(A + "/v1/rooms", params=ui_query(field="name", search_term="UI listed")).expect(200)
    assert [x["room_id"] for x in r.body["rooms"]] == [room] and r.body["total_rooms"] == 1
    d = c.get(A + "/v1/rooms/%s" % quote(room)).expect(200).body
    check(d, dict(ROOM_FIELDS, topic=(STR, NONE), joined_local_devices=INT))
    assert d["name"] == "UI listed room" and d["topic"] == "about"
    assert d["canonical_alias"] == alias and d["creator"] == owner.user_id
    assert d["joined_members"] == 2 and d["join_rules"] == "public"
    # The creator links to the user page: getMany("users") with the creator's ID.
    c.get(A + "/v2/users/%s" % quote(d["creator"])).expect(200)
    # members tab
    r = c.get(A + "/v1/rooms/%s/members" % room, params=ui_query(order="DESC")).expect(200)
    check(r.body, {"members": LIST, "total": INT})
    assert sorted(r.body["members"]) == sorted([owner.user_id, member.user_id])
    assert r.body["total"] == 2
    # state tab: total is state.length
    r = c.get(A + "/v1/rooms/%s/state" % room, params=ui_query(order="DESC")).expect(200)
    check(r.body, {"state": LIST})
    types = set()
    for ev in r.body["state"]:
        check(ev, {"type": STR, "origin_server_ts": INT, "content": DICT, "sender": STR,
                   "event_id": STR, "state_key": STR})
        types.add(ev["type"])
    assert {"m.room.create", "m.room.member", "m.room.name", "m.room.topic"} <= types
    # forward extremities tab
    r = c.get(A + "/v1/rooms/%s/forward_extremities" % room, params=ui_query()).expect(200)
    check(r.body, {"results": LIST, "count": INT})
    assert r.body["count"] == len(r.body["results"]) >= 1
    for fe in r.body["results"]:
        check(fe, {"event_id": STR, "received_ts": INT, "depth": INT, "state_group": (INT, NONE)})


def test_room_directory_publish_buttons(ui, api_r0):
    c, _ = ui
    room = create_room(api_r0.register().api(), name="UI directory room")
    c.put("/_matrix/client/r0/directory/list/room/%s" % quote(room),
          {"visibility": "public"}).expect(200)
    r = c.get("/_matrix/client/r0/publicRooms", params=ui_query(per_page=1000, field="name"))
    r.expect(200)
    check(r.body, {"chunk": LIST, "total_room_count_estimate": INT})
    assert room in [x["room_id"] for x in r.body["chunk"]]
    assert c.get(A + "/v1/rooms/%s" % quote(room)).expect(200).body["public"] is True
    c.put("/_matrix/client/r0/directory/list/room/%s" % quote(room),
          {"visibility": "private"}).expect(200)
    assert c.get(A + "/v1/rooms/%s" % quote(room)).expect(200).body["public"] is False


def test_room_delete_button(ui, api_r0):
    """delete: DELETE /v2/rooms/<room ID, not encoded> {"block": false}."""
    c, _ = ui
    owner = api_r0.register()
    room = create_room(owner.api())
    r = c.delete(A + "/v2/rooms/%s" % room, {"block": False}).expect(200)
    check(r.body, {"delete_id": STR})
    c.get(A + "/v1/rooms/%s" % quote(room)).expect(404, "M_NOT_FOUND")
    assert owner.api().get("/joined_rooms").expect(200).body["joined_rooms"] == []


# ---- reports, statistics, destinations, notices -------------------------------------------

def test_event_reports_pages(ui, ui_room, api_r0):
    c, _ = ui
    owner, member, room, alias, ev = ui_room
    member.api().post("/rooms/%s/report/%s" % (quote(room), quote(ev)),
                      {"score": -100, "reason": "ui report"}).expect(200)
    r = c.get(A + "/v1/event_reports", params=ui_query(field="received_ts", order="DESC"))
    r.expect(200)
    check(r.body, {"event_reports": LIST, "total": INT})
    rep = [x for x in r.body["event_reports"] if x["reason"] == "ui report"][0]
    check(rep, {"id": INT, "received_ts": INT, "room_id": STR, "name": (STR, NONE),
                "event_id": STR, "user_id": STR, "reason": (STR, NONE), "score": (INT, NONE),
                "sender": STR, "canonical_alias": (STR, NONE)})
    assert rep["name"] == "UI listed room" and rep["canonical_alias"] == alias
    r = c.get(A + "/v1/event_reports", params=ui_query(field="received_ts", order="ASC"))
    r.expect(200)
    d = c.get(A + "/v1/event_reports/%d" % rep["id"]).expect(200).body
    check(d, {"event_json": DICT, "sender": STR, "event_id": STR})
    check(d["event_json"], {"origin_server_ts": INT, "type": STR, "content": DICT})
    assert d["event_json"]["content"]["body"] == "report me"
    # delete: no "delete" in resourceMap.reports, so DELETE <path>/<id> with the record as body.
    c.delete(A + "/v1/event_reports/%d" % rep["id"], d).expect(200)
    c.get(A + "/v1/event_reports/%d" % rep["id"]).expect(404, "M_NOT_FOUND")


@pytest.mark.parametrize("field", ["user_id", "displayname", "media_length", "media_count"])
def test_user_media_statistics(ui, api_r0, field):
    c, _ = ui
    u = api_r0.register()
    u.api().post("/_matrix/media/r0/upload", data=b"stats",
                 headers={"Content-Type": "text/plain"}).expect(200)
    for order in ("ASC", "DESC"):
        r = c.get(A + "/v1/statistics/users/media",
                  params=ui_query(per_page=1000, field=field, order=order)).expect(200)
        check(r.body, {"users": LIST, "total": INT})
        for x in r.body["users"]:
            check(x, {"displayname": (STR, NONE), "media_count": INT, "media_length": INT,
                      "user_id": STR})
        assert u.user_id in [x["user_id"] for x in r.body["users"]]
    r = c.get(A + "/v1/statistics/users/media",
              params=ui_query(field=field, search_term=u.localpart)).expect(200)
    assert [x["user_id"] for x in r.body["users"]] == [u.user_id]


def test_federation_destinations_page(ui):
    c, _ = ui
    r = c.get(A + "/v1/federation/destinations", params=ui_query(field="destination"))
    check(r.expect(200).body, {"destinations": LIST, "total": INT})


def test_server_notice_button(server_factory):
    srv = server_factory({"server_notices": {"system_mxid_localpart": "notices"}})
    api = srv.api("r0")
    _, admin_id = make_admin(api)
    c, _ = login_as_ui(api, admin_id, "pw-admin")
    u = api.register()
    r = c.post(A + "/v1/send_server_notice", {
        "user_id": u.user_id, "content": {"msgtype": "m.text", "body": "from the UI"}}).expect(200)
    check(r.body, {"event_id": STR})
