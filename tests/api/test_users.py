"""users.yaml: POST /user_directory/search. The server "MUST at a minimum consider the users
the requesting user shares a room with and those who reside in public rooms"; Hearth searches
exactly those (or every account with user_directory.search_all_users, as Synapse), matching
user IDs and display names case-insensitively."""

import secrets

import pytest

from roomlib import create_room, invite, join, leave, put_state


def search(api, term, **extra):
    body = {"search_term": term}
    body.update(extra)
    return api.post("/user_directory/search", body)


def found(api, term, **extra):
    r = search(api, term, **extra).expect(200)
    assert isinstance(r.body["limited"], bool)
    return [e["user_id"] for e in r.body["results"]]


def named(api, name):
    u = api.register()
    u.api(api.prefix).put("/profile/%s/displayname" % u.user_id, {"displayname": name}).expect(200)
    return u


def tag():
    return "q" + secrets.token_hex(4)


def test_finds_room_sharer_by_display_name_and_user_id(api):
    t = tag()
    alice = api.register()
    bob = named(api, "Bob %s Builder" % t.upper())
    a = alice.api(api.prefix)
    room = create_room(a)  # private
    invite(a, room, bob.user_id).expect(200)
    join(bob.api(api.prefix), room).expect(200)
    r = search(a, t).expect(200)
    assert r.body == {"results": [{"user_id": bob.user_id, "display_name": "Bob %s Builder" % t.upper()}],
                      "limited": False}
    # Case-insensitive, on the user ID too.
    assert found(a, bob.localpart.upper()) == [bob.user_id]
    assert found(a, "%s BUILDER" % t) == [bob.user_id]


def test_avatar_url_in_results(api):
    t = tag()
    alice, bob = api.register(), named(api, "Avatar " + t)
    bob.api(api.prefix).put("/profile/%s/avatar_url" % bob.user_id, {"avatar_url": "mxc://x/" + t}).expect(200)
    room = create_room(bob.api(api.prefix), preset="public_chat")
    join(alice.api(api.prefix), room).expect(200)
    res = search(alice.api(api.prefix), t).expect(200).body["results"]
    assert res == [{"user_id": bob.user_id, "display_name": "Avatar " + t, "avatar_url": "mxc://x/" + t}]


def test_stranger_not_found(api):
    t = tag()
    alice = api.register()
    named(api, "Hidden " + t)  # shares no room, in no public room
    hermit_room_owner = named(api, "Private " + t)
    create_room(hermit_room_owner.api(api.prefix))  # private room without alice
    assert found(alice.api(api.prefix), t) == []


def test_public_room_members_found_until_they_leave(api):
    t = tag()
    alice, carol = api.register(), named(api, "Carol " + t)
    c = carol.api(api.prefix)
    room = create_room(c, preset="public_chat")
    assert found(alice.api(api.prefix), t) == [carol.user_id]
    # Switching the room to invite-only hides its members again.
    put_state(c, room, "m.room.join_rules", {"join_rule": "invite"})
    assert found(alice.api(api.prefix), t) == []
    put_state(c, room, "m.room.join_rules", {"join_rule": "public"})
    assert found(alice.api(api.prefix), t) == [carol.user_id]
    leave(c, room).expect(200)
    assert found(alice.api(api.prefix), t) == []


def test_only_the_join_rule_itself_counts(api):
    # A nested "join_rule": "public" elsewhere in the content does not make the room public.
    t = tag()
    alice, dave = api.register(), named(api, "Dave " + t)
    d = dave.api(api.prefix)
    room = create_room(d)
    put_state(d, room, "m.room.join_rules", {"a": {"join_rule": "public"}, "join_rule": "invite"})
    assert found(alice.api(api.prefix), t) == []


def test_invited_users_do_not_count(api):
    t = tag()
    alice, erin = api.register(), named(api, "Erin " + t)
    a = alice.api(api.prefix)
    room = create_room(a)
    invite(a, room, erin.user_id).expect(200)
    assert found(a, t) == []


def test_limit_and_limited(api):
    t = tag()
    owner = named(api, "Owner " + t)
    o = owner.api(api.prefix)
    room = create_room(o, preset="public_chat")
    others = [named(api, "Member %d %s" % (i, t)) for i in range(3)]
    for u in others:
        join(u.api(api.prefix), room).expect(200)
    r = search(o, t, limit=2).expect(200).body
    assert len(r["results"]) == 2 and r["limited"] is True
    r = search(o, t, limit=4).expect(200).body
    assert len(r["results"]) == 4 and r["limited"] is False
    assert {e["user_id"] for e in r["results"]} == {owner.user_id} | {u.user_id for u in others}
    r = search(o, t, limit=0).expect(200).body
    assert r == {"results": [], "limited": True}
    # Default limit is 10: four results fit.
    assert len(search(o, t).expect(200).body["results"]) == 4


def test_prefix_matches_rank_first(api):
    t = tag()
    owner = named(api, "zz " + t + " middle")
    o = owner.api(api.prefix)
    room = create_room(o, preset="public_chat")
    first = named(api, t + " at the start")
    join(first.api(api.prefix), room).expect(200)
    assert found(o, t) == [first.user_id, owner.user_id]


@pytest.mark.parametrize("wild", ["%", "_", "\\"])
def test_like_wildcards_are_literal(api, wild):
    t = tag()
    owner = named(api, "Wild " + t)
    o = owner.api(api.prefix)
    create_room(o, preset="public_chat")
    assert owner.user_id not in found(o, wild)
    literal = named(api, "Lit%s%s" % (wild, t))
    join(literal.api(api.prefix), create_room(o, preset="public_chat")).expect(200)
    assert found(o, wild + t) == [literal.user_id]


def test_missing_search_term(api, shared_user):
    shared_user.api(api.prefix).post("/user_directory/search", {"limit": 5}).expect(400, "M_MISSING_PARAM")


@pytest.mark.parametrize("body", [{"search_term": 5}, {"search_term": None}, {"search_term": "a", "limit": -1},
                                  {"search_term": "a", "limit": "5"}, {"search_term": "a", "limit": 1.5}])
def test_bad_types(api, shared_user, body):
    shared_user.api(api.prefix).post("/user_directory/search", body).expect(400, "M_BAD_JSON")


def test_not_json(api, shared_user):
    shared_user.api(api.prefix).post("/user_directory/search", data="{",
                                     headers={"Content-Type": "application/json"}).expect(400, "M_NOT_JSON")


def test_needs_access_token(api):
    search(api.with_token(None), "x").expect(401, "M_MISSING_TOKEN")


def test_guests_may_not_search(server, prefix):
    r = server.api(prefix).register_raw({}, kind="guest").expect(200)
    search(server.api(prefix, r.body["access_token"]), "x").expect(403, "M_GUEST_ACCESS_FORBIDDEN")


def test_search_all_users(server_factory):
    srv = server_factory({"user_directory": {"search_all_users": True}})
    api = srv.api("r0")
    t = tag()
    alice, hermit = api.register(), named(api, "Hermit " + t)
    assert found(alice.api(), t) == [hermit.user_id]
    assert found(alice.api(), hermit.localpart) == [hermit.user_id]
