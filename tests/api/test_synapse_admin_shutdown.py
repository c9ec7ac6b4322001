"""Synapse's room deletion with `new_room_user_id` (issue 14): DELETE /_synapse/admin/v1/rooms/
{roomId}, POST /v1/rooms/{roomId}/delete and DELETE /v2/rooms/{roomId} with `new_room_user_id`,
`room_name`, `message`. As Synapse's docs/admin_api/rooms.md (Delete Room API) and its
RoomShutdownHandler: a new room is created by that local user (preset public_chat, the name,
users_default -10 so the moved users cannot speak), each local member leaves the old room and
joins the new one, the message is posted there as the new owner, and the local aliases move to
the new room. The answer lists kicked_users, failed_to_kick_users, local_aliases and
new_room_id. Not part of the Matrix spec."""

import pytest

from harness import SERVER_NAME, quote, unique_localpart
from roomlib import create_room, get_event, join, send, state_content, timeline
from test_synapse_admin import A, make_admin

DEFAULT_NAME = "Content Violation Notification"
DEFAULT_MESSAGE = ("Sharing illegal content on this server is not permitted and rooms in "
                   "violation will be blocked.")


@pytest.fixture(scope="module")
def adm(server):
    return make_admin(server.api("r0"))


def setup_room(api_r0):
    owner, member, notices = api_r0.register(), api_r0.register(), api_r0.register()
    local = unique_localpart("shut")
    alias = "#%s:%s" % (local, SERVER_NAME)
    room = create_room(owner.api(), room_alias_name=local, preset="public_chat")
    join(member.api(), room).expect(200)
    send(owner.api(), room, {"msgtype": "m.text", "body": "bad content"})
    return owner, member, notices, room, alias


def check_new_room(api_r0, owner, member, notices, old, new, alias, name, message):
    assert new.startswith("!") and new.endswith(":" + SERVER_NAME) and new != old
    for u in (owner, member):
        rooms = u.api().get("/joined_rooms").expect(200).body["joined_rooms"]
        assert new in rooms and old not in rooms
    joined = member.api().get("/rooms/%s/joined_members" % quote(new)).expect(200).body["joined"]
    assert sorted(joined) == sorted([owner.user_id, member.user_id, notices.user_id])
    api = member.api()
    assert state_content(api, new, "m.room.name")["name"] == name
    assert state_content(api, new, "m.room.create")["creator"] == notices.user_id
    assert state_content(api, new, "m.room.join_rules")["join_rule"] == "public"
    pl = state_content(api, new, "m.room.power_levels")
    assert pl["users_default"] == -10 and pl["users"] == {notices.user_id: 100}
    msgs = [e for e in timeline(api, new) if e["type"] == "m.room.message"]
    assert len(msgs) == 1 and msgs[0]["sender"] == notices.user_id
    assert msgs[0]["content"] == {"msgtype": "m.text", "body": message}
    # users_default -10 < events_default 0: the moved users cannot speak.
    api.put("/rooms/%s/send/m.room.message/t1" % quote(new),
            {"msgtype": "m.text", "body": "x"}).expect(403, "M_FORBIDDEN")
    # The alias moved to the new room.
    assert api_r0.get("/directory/room/%s" % quote(alias)).expect(200).body["room_id"] == new


@pytest.mark.parametrize("how", ["v1_delete", "v1_post"])
def test_delete_moves_users_to_new_room(adm, api_r0, how):
    a, _ = adm
    owner, member, notices, room, alias = setup_room(api_r0)
    body = {"new_room_user_id": notices.user_id, "room_name": "Moved here",
            "message": "This room was shut down."}
    if how == "v1_delete":
        r = a.delete(A + "/v1/rooms/%s" % quote(room), body).expect(200)
    else:
        r = a.post(A + "/v1/rooms/%s/delete" % quote(room), body).expect(200)
    assert sorted(r.body["kicked_users"]) == sorted([owner.user_id, member.user_id])
    assert r.body["failed_to_kick_users"] == [] and r.body["local_aliases"] == [alias]
    new = r.body["new_room_id"]
    check_new_room(api_r0, owner, member, notices, room, new, alias, "Moved here",
                   "This room was shut down.")
    a.get(A + "/v1/rooms/%s" % quote(room)).expect(404, "M_NOT_FOUND")  # purged (default)
    d = a.get(A + "/v1/rooms/%s" % quote(new)).expect(200).body
    assert d["joined_local_members"] == 3 and d["name"] == "Moved here"


def test_delete_v2_defaults_and_status(adm, api_r0):
    a, _ = adm
    owner, member, notices, room, alias = setup_room(api_r0)
    r = a.delete(A + "/v2/rooms/%s" % quote(room),
                 {"new_room_user_id": notices.user_id, "block": True}).expect(200)
    st = a.get(A + "/v2/rooms/delete_status/%s" % r.body["delete_id"]).expect(200).body
    assert st["status"] == "complete"
    res = st["shutdown_room"]
    assert sorted(res["kicked_users"]) == sorted([owner.user_id, member.user_id])
    assert res["failed_to_kick_users"] == [] and res["local_aliases"] == [alias]
    check_new_room(api_r0, owner, member, notices, room, res["new_room_id"], alias, DEFAULT_NAME,
                   DEFAULT_MESSAGE)
    # block: nobody may join the old room ID again.
    assert a.get(A + "/v1/rooms/%s/block" % quote(room)).expect(200).body["block"] is True


def test_new_owner_was_a_member(adm, api_r0):
    """The new owner leaves the old room too and is in the new one once."""
    a, _ = adm
    owner, member, notices, room, alias = setup_room(api_r0)
    r = a.delete(A + "/v1/rooms/%s" % quote(room),
                 {"new_room_user_id": member.user_id, "purge": False}).expect(200)
    assert sorted(r.body["kicked_users"]) == sorted([owner.user_id, member.user_id])
    new = r.body["new_room_id"]
    joined = member.api().get("/rooms/%s/joined_members" % quote(new)).expect(200).body["joined"]
    assert sorted(joined) == sorted([owner.user_id, member.user_id])
    assert a.get(A + "/v1/rooms/%s" % quote(room)).expect(200).body["joined_members"] == 0
    # The old events stay readable to the admin API (not purged), the new room has the message.
    ev = [e for e in timeline(owner.api(), new) if e["type"] == "m.room.message"][0]
    get_event(owner.api(), new, ev["event_id"]).expect(200)


def test_without_new_room_user_id_no_new_room(adm, api_r0):
    a, _ = adm
    owner, member, notices, room, alias = setup_room(api_r0)
    r = a.delete(A + "/v1/rooms/%s" % quote(room), {"new_room_user_id": None}).expect(200)
    assert r.body["new_room_id"] is None and r.body["local_aliases"] == [alias]
    assert member.api().get("/joined_rooms").expect(200).body["joined_rooms"] == []
    api_r0.get("/directory/room/%s" % quote(alias)).expect(404, "M_NOT_FOUND")


@pytest.mark.parametrize("body,status,err", [
    ({"new_room_user_id": "@someone:elsewhere.test"}, 400, "M_INVALID_PARAM"),
    ({"new_room_user_id": "not-a-user-id"}, 400, "M_INVALID_PARAM"),
    ({"new_room_user_id": "@nobody-%s:%s" % (unique_localpart(""), SERVER_NAME)}, 400,
     "M_INVALID_PARAM"),
    ({"new_room_user_id": 5}, 400, "M_BAD_JSON"),
    ({"new_room_user_id": "@x:" + SERVER_NAME, "room_name": 5}, 400, "M_BAD_JSON"),
    ({"new_room_user_id": "@x:" + SERVER_NAME, "message": ["m"]}, 400, "M_BAD_JSON"),
])
def test_bad_new_room_params(adm, api_r0, body, status, err):
    a, _ = adm
    owner = api_r0.register()
    room = create_room(owner.api())
    a.delete(A + "/v1/rooms/%s" % quote(room), body).expect(status, err)
    a.delete(A + "/v2/rooms/%s" % quote(room), body).expect(status, err)
    # Nothing happened.
    assert room in owner.api().get("/joined_rooms").expect(200).body["joined_rooms"]


def test_deactivated_new_owner_refused(adm, api_r0):
    a, _ = adm
    owner, gone = api_r0.register(), api_r0.register()
    room = create_room(owner.api())
    a.post(A + "/v1/deactivate/%s" % quote(gone.user_id), {}).expect(200)
    a.delete(A + "/v1/rooms/%s" % quote(room), {"new_room_user_id": gone.user_id}).expect(
        400, "M_INVALID_PARAM")
    assert room in owner.api().get("/joined_rooms").expect(200).body["joined_rooms"]


@pytest.mark.parametrize("new_owner", [True, False])
def test_kicked_users_forget_the_room(adm, api_r0, new_owner):
    """As Synapse's RoomShutdownHandler: each local member leaves and then forgets the room, so
    a room kept (purge false) does not come back in their syncs' leave section."""
    a, _ = adm
    owner, member, notices, room, _alias = setup_room(api_r0)
    body = {"purge": False}
    if new_owner:
        body["new_room_user_id"] = notices.user_id
    r = a.delete(A + "/v1/rooms/%s" % quote(room), body).expect(200)
    assert sorted(r.body["kicked_users"]) == sorted([owner.user_id, member.user_id])
    flt = '{"room": {"include_leave": true}}'
    for u in (owner, member):
        left = u.api().get("/sync", params={"filter": flt}).expect(200).body.get(
            "rooms", {}).get("leave", {})
        assert room not in left
    # A member who only left (not through the deletion) still sees it: forgetting is specific.
    other = api_r0.register()
    kept = create_room(other.api(), preset="public_chat")
    other.api().post("/rooms/%s/leave" % quote(kept), {}).expect(200)
    left = other.api().get("/sync", params={"filter": flt}).expect(200).body["rooms"]["leave"]
    assert kept in left
