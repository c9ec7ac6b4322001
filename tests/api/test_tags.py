"""GET /user/{userId}/rooms/{roomId}/tags, PUT/DELETE .../tags/{tag} (tags.yaml,
modules/tags.rst): tags are the room's m.tag account data {"tags": {...}}, delivered by /sync
as room account data."""

import pytest

from ephemeral_lib import shared_room
from harness import quote
from synclib import joined, sync_ok


def tags_path(user_id, room_id, tag=None):
    p = "/user/%s/rooms/%s/tags" % (quote(user_id), quote(room_id))
    return p if tag is None else p + "/" + quote(tag)


def m_tag(body, room_id):
    room = joined(body, room_id) or {}
    evs = [e for e in room.get("account_data", {}).get("events", []) if e["type"] == "m.tag"]
    return evs[0]["content"] if evs else None


def test_tags_lifecycle(server, prefix):
    (a,), r = shared_room(server, 1)
    api = a.api(prefix)
    assert api.get(tags_path(a.user_id, r)).expect(200).body == {"tags": {}}
    since = sync_ok(api, set_presence="offline")["next_batch"]
    api.put(tags_path(a.user_id, r, "u.work"), {"order": 0.25}).expect(200)
    api.put(tags_path(a.user_id, r, "m.favourite"), {}).expect(200)
    assert api.get(tags_path(a.user_id, r)).expect(200).body == {
        "tags": {"u.work": {"order": 0.25}, "m.favourite": {}}}
    body = sync_ok(api, since=since, set_presence="offline")
    assert m_tag(body, r) == {"tags": {"u.work": {"order": 0.25}, "m.favourite": {}}}
    api.delete(tags_path(a.user_id, r, "u.work")).expect(200)
    assert api.get(tags_path(a.user_id, r)).expect(200).body == {"tags": {"m.favourite": {}}}
    body = sync_ok(api, since=body["next_batch"], set_presence="offline")
    assert m_tag(body, r) == {"tags": {"m.favourite": {}}}
    # Deleting a tag the room does not have is fine.
    api.delete(tags_path(a.user_id, r, "u.none")).expect(200)
    # A re-put replaces the tag's content.
    api.put(tags_path(a.user_id, r, "m.favourite"), {"order": 1}).expect(200)
    assert api.get(tags_path(a.user_id, r)).expect(200).body == {"tags": {"m.favourite": {"order": 1}}}


def test_tags_in_initial_sync(server):
    (a,), r = shared_room(server, 1)
    a.api().put(tags_path(a.user_id, r, "m.lowpriority"), {"order": 0.5}).expect(200)
    assert m_tag(sync_ok(a.api()), r) == {"tags": {"m.lowpriority": {"order": 0.5}}}


def test_tags_of_others_are_forbidden(server):
    (a, b), r = shared_room(server)
    b.api().get(tags_path(a.user_id, r)).expect(403, "M_FORBIDDEN")
    b.api().put(tags_path(a.user_id, r, "u.x"), {}).expect(403, "M_FORBIDDEN")
    b.api().delete(tags_path(a.user_id, r, "u.x")).expect(403, "M_FORBIDDEN")


@pytest.mark.parametrize("body", [{"order": "first"}, {"order": True}, {"order": None}])
def test_tag_order_must_be_a_number(server, body):
    (a,), r = shared_room(server, 1)
    a.api().put(tags_path(a.user_id, r, "u.x"), body).expect(400, "M_BAD_JSON")


def test_tags_bad_room_id(server):
    a = server.api("r0").register()
    a.api().get(tags_path(a.user_id, "nope")).expect(400, "M_INVALID_PARAM")
