"""profile.yaml: GET /profile/{userId}, GET/PUT .../displayname and .../avatar_url, and the
"Events on Change of Profile Information" (client_server_api.rst): a change is carried into the
user's m.room.member event in every joined room, and membership events the server makes for its
users carry their profile."""

import pytest

from harness import SERVER_NAME, quote, unique_localpart
from roomlib import (create_room, get_state, invite, join, joined_members, leave, put_state,
                     state_content)
from synclib import joined, sync_ok, sync_until, tl_events


def profile(api, user_id, field=None):
    path = "/profile/%s" % quote(user_id)
    if field:
        path += "/" + field
    return api.get(path)


def set_field(api, user_id, field, value):
    return api.put("/profile/%s/%s" % (quote(user_id), field), {field: value})


def guest(server, prefix="r0"):
    r = server.api(prefix).register_raw({}, kind="guest").expect(200)
    return r.body["user_id"], server.api(prefix, r.body["access_token"])


# --- reading ----------------------------------------------------------------------------------

def test_new_account_has_localpart_as_displayname(api):
    u = api.register()
    assert profile(api, u.user_id).expect(200).body == {"displayname": u.localpart}
    assert profile(api, u.user_id, "displayname").expect(200).body == {"displayname": u.localpart}
    # No avatar yet: the key is left out.
    assert profile(api, u.user_id, "avatar_url").expect(200).body == {}


def test_profile_needs_no_access_token(api, shared_user):
    # SPEC: profile.yaml: the GET endpoints have no security requirement.
    r = api.with_token(None).get("/profile/%s" % quote(shared_user.user_id)).expect(200)
    assert r.body["displayname"] == shared_user.localpart


def test_profile_readable_by_other_users(api, shared_user):
    other = api.register()
    r = other.api(api.prefix).get("/profile/%s" % quote(shared_user.user_id)).expect(200)
    assert r.body["displayname"] == shared_user.localpart


@pytest.mark.parametrize("field", [None, "displayname", "avatar_url"])
def test_unknown_local_user_is_404(api, field):
    uid = "@%s:%s" % (unique_localpart("nobody"), SERVER_NAME)
    profile(api, uid, field).expect(404, "M_NOT_FOUND")


@pytest.mark.parametrize("field", [None, "displayname", "avatar_url"])
def test_remote_user_is_404(api, field):
    # No federation: another server's users are not found here.
    profile(api, "@alice:elsewhere.example", field).expect(404, "M_NOT_FOUND")


@pytest.mark.parametrize("bad", ["alice", "@alice", "@:" + SERVER_NAME, "#room:" + SERVER_NAME])
def test_malformed_user_id_is_400(api, bad):
    profile(api, bad).expect(400, "M_INVALID_PARAM")


# --- setting --------------------------------------------------------------------------------------

def test_set_and_get_displayname(api):
    u = api.register()
    me = u.api(api.prefix)
    set_field(me, u.user_id, "displayname", "Alice Example").expect(200)
    assert profile(api, u.user_id, "displayname").expect(200).body == {"displayname": "Alice Example"}
    assert profile(api, u.user_id).expect(200).body == {"displayname": "Alice Example"}


def test_set_and_get_avatar_url(api):
    u = api.register()
    me = u.api(api.prefix)
    set_field(me, u.user_id, "avatar_url", "mxc://example.org/abc123").expect(200)
    assert profile(api, u.user_id, "avatar_url").expect(200).body == {"avatar_url": "mxc://example.org/abc123"}
    assert profile(api, u.user_id).expect(200).body == {"displayname": u.localpart,
                                                         "avatar_url": "mxc://example.org/abc123"}


def test_empty_string_clears_the_field(api):
    # Synapse's behaviour: "" removes the value; the GETs then leave the key out.
    u = api.register()
    me = u.api(api.prefix)
    set_field(me, u.user_id, "avatar_url", "mxc://example.org/x").expect(200)
    set_field(me, u.user_id, "displayname", "").expect(200)
    set_field(me, u.user_id, "avatar_url", "").expect(200)
    assert profile(api, u.user_id).expect(200).body == {}
    assert profile(api, u.user_id, "displayname").expect(200).body == {}


def test_unicode_displayname(api):
    u = api.register()
    name = "Zoë 🦊 " + "é" * 200
    set_field(u.api(api.prefix), u.user_id, "displayname", name).expect(200)
    assert profile(api, u.user_id, "displayname").expect(200).body["displayname"] == name


def test_displayname_length_limit(api):
    # 256 characters (not bytes) as Synapse counts them.
    u = api.register()
    me = u.api(api.prefix)
    set_field(me, u.user_id, "displayname", "ü" * 256).expect(200)
    set_field(me, u.user_id, "displayname", "x" * 257).expect(400, "M_INVALID_PARAM")
    assert profile(api, u.user_id, "displayname").expect(200).body["displayname"] == "ü" * 256


def test_avatar_url_length_limit(api):
    u = api.register()
    me = u.api(api.prefix)
    base = "mxc://example.org/"
    set_field(me, u.user_id, "avatar_url", base + "a" * (1000 - len(base))).expect(200)
    set_field(me, u.user_id, "avatar_url", base + "a" * (1001 - len(base))).expect(400, "M_INVALID_PARAM")


@pytest.mark.parametrize("field", ["displayname", "avatar_url"])
@pytest.mark.parametrize("value", [None, 42, ["a"], {"a": "b"}, True])
def test_non_string_value_is_400(api, shared_user, field, value):
    set_field(shared_user.api(api.prefix), shared_user.user_id, field, value).expect(400, "M_INVALID_PARAM")


@pytest.mark.parametrize("field", ["displayname", "avatar_url"])
def test_missing_key_is_400(api, shared_user, field):
    shared_user.api(api.prefix).put("/profile/%s/%s" % (quote(shared_user.user_id), field),
                                    {"other": "x"}).expect(400, "M_MISSING_PARAM")


@pytest.mark.parametrize("field", ["displayname", "avatar_url"])
def test_body_must_be_json_object(api, shared_user, field):
    me = shared_user.api(api.prefix)
    path = "/profile/%s/%s" % (quote(shared_user.user_id), field)
    me.put(path, data="not json", headers={"Content-Type": "application/json"}).expect(400, "M_NOT_JSON")
    me.put(path, ["x"]).expect(400, ("M_BAD_JSON", "M_NOT_JSON"))


@pytest.mark.parametrize("field", ["displayname", "avatar_url"])
def test_cannot_set_another_users_profile(api, shared_user, field):
    other = api.register()
    set_field(other.api(api.prefix), shared_user.user_id, field, "mine now").expect(403, "M_FORBIDDEN")
    assert profile(api, shared_user.user_id).expect(200).body == {"displayname": shared_user.localpart}


@pytest.mark.parametrize("field", ["displayname", "avatar_url"])
def test_set_needs_access_token(api, shared_user, field):
    set_field(api.with_token(None), shared_user.user_id, field, "x").expect(401, "M_MISSING_TOKEN")
    set_field(api.with_token("nope"), shared_user.user_id, field, "x").expect(401, "M_UNKNOWN_TOKEN")


def test_guest_may_set_displayname_not_avatar(server, prefix):
    # SPEC: guest_access.rst lists PUT /profile/:user_id/displayname among the guest APIs.
    uid, g = guest(server, prefix)
    set_field(g, uid, "displayname", "Visitor").expect(200)
    assert profile(g, uid).expect(200).body["displayname"] == "Visitor"
    set_field(g, uid, "avatar_url", "mxc://x/y").expect(403, "M_GUEST_ACCESS_FORBIDDEN")


# --- membership events --------------------------------------------------------------------------

def test_join_carries_profile(api):
    alice, bob = api.register(), api.register()
    a, b = alice.api(api.prefix), bob.api(api.prefix)
    set_field(b, bob.user_id, "avatar_url", "mxc://example.org/bob").expect(200)
    room = create_room(a, preset="public_chat")
    join(b, room).expect(200)
    c = state_content(a, room, "m.room.member", bob.user_id)
    assert c == {"membership": "join", "displayname": bob.localpart, "avatar_url": "mxc://example.org/bob"}
    jm = joined_members(a, room).expect(200).body["joined"]
    assert jm[bob.user_id] == {"display_name": bob.localpart, "avatar_url": "mxc://example.org/bob"}


def test_invite_carries_invitees_profile(api):
    alice, bob = api.register(), api.register()
    a, b = alice.api(api.prefix), bob.api(api.prefix)
    set_field(b, bob.user_id, "displayname", "Bob the Invitee").expect(200)
    room = create_room(a)
    invite(a, room, bob.user_id).expect(200)
    c = state_content(a, room, "m.room.member", bob.user_id)
    assert c["membership"] == "invite" and c["displayname"] == "Bob the Invitee"


def test_profile_change_updates_member_events(api):
    alice, bob = api.register(), api.register()
    a, b = alice.api(api.prefix), bob.api(api.prefix)
    r1 = create_room(a, preset="public_chat")
    r2 = create_room(a, preset="public_chat")
    r_left = create_room(a, preset="public_chat")
    r_invited = create_room(a)
    for r in (r1, r2, r_left):
        join(b, r).expect(200)
    leave(b, r_left).expect(200)
    invite(a, r_invited, bob.user_id).expect(200)
    before = {r: get_state(a, r, "m.room.member", bob.user_id).expect(200) for r in (r_left, r_invited)}

    set_field(b, bob.user_id, "displayname", "Robert").expect(200)
    set_field(b, bob.user_id, "avatar_url", "mxc://example.org/robert").expect(200)
    for r in (r1, r2):
        c = state_content(a, r, "m.room.member", bob.user_id)
        assert c == {"membership": "join", "displayname": "Robert", "avatar_url": "mxc://example.org/robert"}
        assert joined_members(a, r).expect(200).body["joined"][bob.user_id]["display_name"] == "Robert"
    # Rooms left or only invited to are not touched.
    for r, old in before.items():
        assert get_state(a, r, "m.room.member", bob.user_id).expect(200).body == old.body


def test_profile_change_reaches_sync(api):
    alice, bob = api.register(), api.register()
    a, b = alice.api(api.prefix), bob.api(api.prefix)
    room = create_room(a, preset="public_chat")
    join(b, room).expect(200)
    since = sync_ok(a)["next_batch"]
    set_field(b, bob.user_id, "displayname", "Bobby Tables").expect(200)

    def has_change(body):
        return any(e["type"] == "m.room.member" and e["state_key"] == bob.user_id
                   and e["content"].get("displayname") == "Bobby Tables"
                   for e in tl_events(joined(body, room)))

    body, _ = sync_until(a, since, has_change)
    ev = [e for e in tl_events(joined(body, room)) if e["type"] == "m.room.member"][-1]
    assert ev["content"]["membership"] == "join"
    assert ev["sender"] == bob.user_id
    # prev_content shows the old name, so clients can render "changed their name".
    prev = (ev.get("unsigned") or {}).get("prev_content")
    if prev is not None:
        assert prev["displayname"] == bob.localpart


def test_profile_change_keeps_other_member_content(api):
    alice = api.register()
    a = alice.api(api.prefix)
    room = create_room(a)
    put_state(a, room, "m.room.member", {"membership": "join", "displayname": alice.localpart,
                                         "org.example.flair": "gold"}, alice.user_id)
    set_field(a, alice.user_id, "displayname", "Alice II").expect(200)
    c = state_content(a, room, "m.room.member", alice.user_id)
    assert c == {"membership": "join", "displayname": "Alice II", "org.example.flair": "gold"}


def test_unchanged_profile_sends_no_new_event(api):
    alice = api.register()
    a = alice.api(api.prefix)
    room = create_room(a)
    set_field(a, alice.user_id, "displayname", "Same").expect(200)
    eid = get_state(a, room, "m.room.member", alice.user_id).expect(200)
    set_field(a, alice.user_id, "displayname", "Same").expect(200)
    assert get_state(a, room, "m.room.member", alice.user_id).expect(200).body == eid.body
