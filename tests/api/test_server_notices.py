"""Server notices (modules/server_notices.rst): Synapse's admin API
POST /_synapse/admin/v1/send_server_notice, config server_notices. A notice arrives as an invite
from the system user to the user's one notices room, tagged m.server_notice; later notices
reuse the room; the room cannot be left (M_CANNOT_LEAVE_SERVER_NOTICE_ROOM)."""

import pytest

from harness import SERVER_NAME, SHARED_SECRET, User, admin_mac, quote, unique_localpart
from roomlib import join, leave, messages, now_token, send_raw
from synclib import invited, joined, sync_ok, sync_until, tl_events

NOTICE_PATH = "/_synapse/admin/v1/send_server_notice"
SYSTEM_LP = "notices"
SYSTEM_ID = "@%s:%s" % (SYSTEM_LP, SERVER_NAME)
ROOM_NAME = "Hearth notices"
NOTICES_CONFIG = {"server_notices": {
    "system_mxid_localpart": SYSTEM_LP,
    "system_mxid_display_name": "Hearth Admins",
    "system_mxid_avatar_url": "mxc://%s/notices" % SERVER_NAME,
    "room_name": ROOM_NAME,
}}


def make_admin(srv):
    api = srv.api("r0")
    nonce = api.get("/_synapse/admin/v1/register").expect(200).body["nonce"]
    name, pw = unique_localpart("admin"), "pw-admin-1"
    r = api.post("/_synapse/admin/v1/register", {
        "nonce": nonce, "username": name, "password": pw, "admin": True,
        "mac": admin_mac(SHARED_SECRET, nonce, name, pw, True)}).expect(200)
    return User.from_response(r.body, pw, srv)


def notice(admin, user_id, body="hello", **extra):
    payload = {"user_id": user_id, "content": {"msgtype": "m.server_notice", "body": body}}
    payload.update(extra)
    return admin.api().post(NOTICE_PATH, payload)


def tags(api, user_id, room_id):
    return api.get("/user/%s/rooms/%s/tags" % (quote(user_id), quote(room_id))).expect(200).body["tags"]


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(NOTICES_CONFIG)


@pytest.fixture(scope="module")
def admin(srv):
    return make_admin(srv)


def invite_to_notices(user, since=None):
    """Syncs until the user is invited to a room; returns (room_id, invite entry, next_batch)."""
    pred = lambda b: bool((b.get("rooms") or {}).get("invite"))  # noqa: E731
    body, _ = sync_until(user.api(), since, pred)
    [(room_id, entry)] = body["rooms"]["invite"].items()
    return room_id, entry, body["next_batch"]


def test_needs_a_server_admin(srv):
    u = srv.api("r0").register()
    other = srv.api("r0").register()
    notice(u, other.user_id).expect(403, "M_FORBIDDEN")
    notice(u, u.user_id).expect(403, "M_FORBIDDEN")
    srv.api("r0").post(NOTICE_PATH, {"user_id": u.user_id, "content": {}}).expect(401, "M_MISSING_TOKEN")


def test_not_configured(server):
    admin = make_admin(server)
    u = server.api("r0").register()
    notice(admin, u.user_id).expect(400)


def test_bad_requests(srv, admin):
    u = srv.api("r0").register()
    api = admin.api()
    api.post(NOTICE_PATH, {"user_id": u.user_id}).expect(400, "M_MISSING_PARAM")
    api.post(NOTICE_PATH, {"content": {"body": "x"}}).expect(400, "M_MISSING_PARAM")
    api.post(NOTICE_PATH, {"user_id": u.user_id, "content": "x"}).expect(400, "M_BAD_JSON")
    api.post(NOTICE_PATH, {"user_id": 5, "content": {}}).expect(400, "M_BAD_JSON")
    notice(admin, "@ghost-%s:%s" % (unique_localpart(), SERVER_NAME)).expect(404, "M_NOT_FOUND")
    notice(admin, "@bob:elsewhere.example").expect(400)
    notice(admin, "not-a-user").expect(400)
    notice(admin, SYSTEM_ID).expect(400)


def test_notice_invites_to_tagged_room_and_reuses_it(srv, admin):
    u = srv.api("r0").register()
    since = sync_ok(u.api())["next_batch"]
    first = notice(admin, u.user_id, "first notice").expect(200).body["event_id"]
    assert first.startswith("$")

    room_id, entry, since = invite_to_notices(u, since)
    state = {(e["type"], e.get("state_key")): e for e in entry["invite_state"]["events"]}
    assert state[("m.room.name", "")]["content"]["name"] == ROOM_NAME
    me = state[("m.room.member", u.user_id)]
    assert me["content"]["membership"] == "invite" and me["sender"] == SYSTEM_ID
    # SPEC: the room is identified by the m.server_notice tag.
    assert tags(u.api(), u.user_id, room_id) == {"m.server_notice": {}}

    join(u.api(), room_id).expect(200)
    body = sync_ok(u.api())
    room = joined(body, room_id)
    notices = [e for e in tl_events(room) if e["type"] == "m.room.message"]
    assert [e["event_id"] for e in notices] == [first]
    assert notices[0]["sender"] == SYSTEM_ID
    assert notices[0]["content"] == {"msgtype": "m.server_notice", "body": "first notice"}
    tag_events = [e for e in room["account_data"]["events"] if e["type"] == "m.tag"]
    assert tag_events and "m.server_notice" in tag_events[0]["content"]["tags"]
    # The system user's profile from the config.
    members = {e["state_key"]: e for e in room["state"]["events"] + tl_events(room)
               if e["type"] == "m.room.member"}
    assert members[SYSTEM_ID]["content"]["displayname"] == "Hearth Admins"
    assert members[SYSTEM_ID]["content"]["avatar_url"] == "mxc://%s/notices" % SERVER_NAME

    # A second notice goes to the same room, and wakes the user's sync.
    since = body["next_batch"]
    second = notice(admin, u.user_id, "second notice").expect(200).body["event_id"]
    body, _ = sync_until(u.api(), since, lambda b: joined(b, room_id) is not None)
    assert second in [e["event_id"] for e in tl_events(joined(body, room_id))]
    assert not (body.get("rooms") or {}).get("invite")
    chunk = messages(u.api(), room_id, now_token(u.api(), room_id)).body["chunk"]
    assert [e["event_id"] for e in chunk if e["type"] == "m.room.message"] == [second, first]


def test_cannot_reject_or_leave(srv, admin):
    u = srv.api("r0").register()
    notice(admin, u.user_id).expect(200)
    room_id, _, _ = invite_to_notices(u)
    # SPEC: "Attempting to reject the invite must result in a M_CANNOT_LEAVE_SERVER_NOTICE_ROOM
    # error."
    leave(u.api(), room_id).expect(403, "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM")
    join(u.api(), room_id).expect(200)
    leave(u.api(), room_id).expect(403, "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM")
    body = sync_ok(u.api())
    assert joined(body, room_id) is not None and invited(body, room_id) is None


def test_users_only_read_the_room(srv, admin):
    u = srv.api("r0").register()
    notice(admin, u.user_id).expect(200)
    room_id, _, _ = invite_to_notices(u)
    join(u.api(), room_id).expect(200)
    send_raw(u.api(), room_id, {"msgtype": "m.text", "body": "hi"}).expect(403, "M_FORBIDDEN")


def test_type_and_state_key(srv, admin):
    # Active notices are pinned events (modules/server_notices.rst).
    u = srv.api("r0").register()
    first = notice(admin, u.user_id).expect(200).body["event_id"]
    r = admin.api().post(NOTICE_PATH, {"user_id": u.user_id, "type": "m.room.pinned_events",
                                       "state_key": "", "content": {"pinned": [first]}})
    pin = r.expect(200).body["event_id"]
    room_id, _, _ = invite_to_notices(u)
    join(u.api(), room_id).expect(200)
    ev = u.api().get("/rooms/%s/state/m.room.pinned_events" % quote(room_id)).expect(200).body
    assert ev == {"pinned": [first]}
    assert pin.startswith("$")


def test_separate_rooms_per_user(srv, admin):
    a, b = srv.api("r0").register(), srv.api("r0").register()
    notice(admin, a.user_id).expect(200)
    notice(admin, b.user_id).expect(200)
    room_a, _, _ = invite_to_notices(a)
    room_b, _, _ = invite_to_notices(b)
    assert room_a != room_b
    # b cannot join a's room: it is invite-only.
    join(b.api(), room_a).expect(403, "M_FORBIDDEN")
