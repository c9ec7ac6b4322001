"""The public room directory: GET/POST /publicRooms, GET/PUT /directory/list/room/{roomId}
(list_public_rooms.yaml, definitions/public_rooms_response.yaml)."""

import secrets

import pytest

import harness
from harness import quote
from roomlib import create_room, join, put_state


@pytest.fixture(scope="module")
def users(server):
    api = server.api("r0")
    return [api.register() for _ in range(4)]


@pytest.fixture(scope="module")
def tag():
    return "zq" + secrets.token_hex(5)


@pytest.fixture(scope="module")
def published(server, users, tag):
    """Five public rooms whose name contains the tag, with 1..4 joined members (one with 2 has
    a pending invite that must not count); plus a private room with the tag that must never
    show up."""
    alice = users[0]
    rooms = {}
    for i, n_members in enumerate([1, 3, 2, 4, 2]):
        local = harness.unique_localpart("pr")
        r = create_room(alice.api(), visibility="public", preset="public_chat",
                        name="%s room %d" % (tag, i), topic="topic %d of %s" % (i, tag),
                        room_alias_name=local)
        for u in users[1:n_members]:
            join(u.api(), r).expect(200)
        rooms[r] = {"n": n_members, "alias": "#%s:%s" % (local, server.server_name), "i": i}
    # The second 2-member room gets an invite that must not count.
    r4 = [r for r, v in rooms.items() if v["i"] == 4][0]
    extra = server.api("r0").register()
    alice.api().post("/rooms/%s/invite" % quote(r4), {"user_id": extra.user_id}).expect(200)
    private = create_room(alice.api(), visibility="private", name="%s private" % tag)
    return rooms, private


def search(api, term, **body):
    body = dict(body)
    body["filter"] = {"generic_search_term": term}
    return api.post("/publicRooms", body).expect(200).body


def test_entries(server, prefix, users, tag, published):
    rooms, private = published
    body = search(users[0].api(prefix), tag)
    chunk = body["chunk"]
    by_id = {e["room_id"]: e for e in chunk}
    assert set(by_id) == set(rooms), body
    assert private not in by_id
    for r, info in rooms.items():
        e = by_id[r]
        assert e["name"] == "%s room %d" % (tag, info["i"])
        assert e["topic"] == "topic %d of %s" % (info["i"], tag)
        assert e["canonical_alias"] == info["alias"]
        assert e["num_joined_members"] == info["n"]
        # public_chat: guest_access forbidden, history shared.
        assert e["world_readable"] is False
        assert e["guest_can_join"] is False
        if "aliases" in e:
            assert info["alias"] in e["aliases"]
    # "The rooms are ordered by the number of joined members, with the largest rooms first."
    counts = [e["num_joined_members"] for e in chunk]
    assert counts == sorted(counts, reverse=True)


def test_get_lists_public_rooms_without_auth(server, prefix, tag, published):
    rooms, private = published
    api = server.api(prefix)
    seen = set()
    since = None
    for _ in range(200):
        params = {"limit": 50}
        if since:
            params["since"] = since
        body = api.get("/publicRooms", params=params).expect(200).body
        ids = [e["room_id"] for e in body["chunk"]]
        assert not set(ids) & seen, "a room appeared on two pages"
        seen.update(ids)
        since = body.get("next_batch")
        if not since:
            break
    assert set(rooms) <= seen
    assert private not in seen


def test_post_requires_token(api):
    api.post("/publicRooms", {}).expect(401, "M_MISSING_TOKEN")


def test_search_term_matches_topic_and_alias(server, users, tag, published):
    rooms, _ = published
    api = users[0].api()
    # The topic of room 2 only.
    body = search(api, "topic 2 of " + tag)
    assert [e["room_id"] for e in body["chunk"]] == [r for r, v in rooms.items() if v["i"] == 2]
    # The canonical alias of room 3.
    r3 = [r for r, v in rooms.items() if v["i"] == 3][0]
    local = rooms[r3]["alias"][1:].split(":")[0]
    body = search(api, local)
    assert [e["room_id"] for e in body["chunk"]] == [r3]
    # Nothing matches.
    assert search(api, tag + "-nothing-matches")["chunk"] == []


def test_pagination(server, users, tag, published):
    rooms, _ = published
    api = users[0].api()
    first = search(api, tag, limit=2)
    assert len(first["chunk"]) == 2
    assert "prev_batch" not in first, "the first batch has no previous batch"
    assert first.get("next_batch")
    seen = [e["room_id"] for e in first["chunk"]]
    pages = [first]
    body = first
    while body.get("next_batch"):
        body = search(api, tag, limit=2, since=body["next_batch"])
        assert body.get("prev_batch"), "a later batch has a prev_batch"
        assert 1 <= len(body["chunk"]) <= 2
        seen.extend(e["room_id"] for e in body["chunk"])
        pages.append(body)
        assert len(pages) < 10
    assert len(seen) == len(set(seen)) == len(rooms)
    assert set(seen) == set(rooms)
    # Ordering holds across pages.
    counts = [rooms[r]["n"] for r in seen]
    assert counts == sorted(counts, reverse=True)
    # prev_batch of the second page leads back to the first page.
    back = search(api, tag, limit=2, since=pages[1]["prev_batch"])
    assert [e["room_id"] for e in back["chunk"]] == [e["room_id"] for e in first["chunk"]]


def test_get_limit_and_since(server, tag, published):
    api = server.api("r0")
    body = api.get("/publicRooms", params={"limit": 1}).expect(200).body
    assert len(body["chunk"]) == 1
    assert body.get("next_batch")
    nxt = api.get("/publicRooms", params={"limit": 1, "since": body["next_batch"]}).expect(200).body
    assert len(nxt["chunk"]) == 1
    assert nxt["chunk"][0]["room_id"] != body["chunk"][0]["room_id"]
    assert nxt.get("prev_batch")


def test_total_room_count_estimate(server, users, tag, published):
    rooms, _ = published
    body = server.api("r0").get("/publicRooms").expect(200).body
    assert isinstance(body.get("total_room_count_estimate"), int)
    assert body["total_room_count_estimate"] >= len(rooms)


def test_include_all_networks(server, users, tag, published):
    rooms, _ = published
    body = users[0].api().post("/publicRooms", {"include_all_networks": True,
                                                "filter": {"generic_search_term": tag}}).expect(200).body
    assert {e["room_id"] for e in body["chunk"]} == set(rooms)


def test_world_readable_and_guest_flags(server, users, tag):
    alice = users[0]
    r = create_room(alice.api(), visibility="public", preset="private_chat", name=tag + " flags",
                    initial_state=[{"type": "m.room.history_visibility",
                                    "content": {"history_visibility": "world_readable"}}])
    body = search(alice.api(), tag + " flags")
    e = [x for x in body["chunk"] if x["room_id"] == r][0]
    assert e["world_readable"] is True
    assert e["guest_can_join"] is True  # private_chat: guest_access can_join
    put_state(alice.api(), r, "m.room.avatar", {"url": "mxc://example.org/avatar"})
    put_state(alice.api(), r, "m.room.guest_access", {"guest_access": "forbidden"})
    e = [x for x in search(alice.api(), tag + " flags")["chunk"] if x["room_id"] == r][0]
    assert e["avatar_url"] == "mxc://example.org/avatar"
    assert e["guest_can_join"] is False


def test_directory_visibility(server, prefix, users, tag):
    alice = users[0]
    api = alice.api(prefix)
    r = create_room(alice.api(), name=tag + " toggled")
    # GET needs no access token.
    anon = server.api(prefix)
    assert anon.get("/directory/list/room/" + quote(r)).expect(200).body == {"visibility": "private"}
    assert search(api, tag + " toggled")["chunk"] == []
    api.put("/directory/list/room/" + quote(r), {"visibility": "public"}).expect(200)
    assert anon.get("/directory/list/room/" + quote(r)).expect(200).body == {"visibility": "public"}
    assert [e["room_id"] for e in search(api, tag + " toggled")["chunk"]] == [r]
    api.put("/directory/list/room/" + quote(r), {"visibility": "private"}).expect(200)
    assert anon.get("/directory/list/room/" + quote(r)).expect(200).body == {"visibility": "private"}
    assert search(api, tag + " toggled")["chunk"] == []


def test_directory_visibility_defaults_to_public(server, users, tag):
    # "visibility: The new visibility setting for the room. Defaults to 'public'."
    alice = users[0]
    r = create_room(alice.api(), name=tag + " default")
    alice.api().put("/directory/list/room/" + quote(r), {}).expect(200)
    assert alice.api().get("/directory/list/room/" + quote(r)).expect(200).body == {"visibility": "public"}


def test_directory_visibility_unknown_room(server, users):
    room = "!nosuchroom:" + server.server_name
    server.api("r0").get("/directory/list/room/" + quote(room)).expect(404, "M_NOT_FOUND")
    users[0].api().put("/directory/list/room/" + quote(room), {"visibility": "public"}).expect(404, "M_NOT_FOUND")


def test_directory_visibility_invalid(server, users):
    alice = users[0]
    r = create_room(alice.api())
    alice.api().put("/directory/list/room/" + quote(r), {"visibility": "secret"}).expect(
        400, ("M_INVALID_PARAM", "M_BAD_JSON"))


def test_directory_visibility_needs_permission(server, users, tag):
    # "Servers may choose to implement additional access control checks here, for instance that
    # room visibility can only be changed by the room creator or a server administrator."
    # A user with no power in the room (or not in it) must not publish it.
    alice, bob = users[0], users[1]
    r = create_room(alice.api(), preset="public_chat", name=tag + " guarded")
    bob.api().put("/directory/list/room/" + quote(r), {"visibility": "public"}).expect(403, "M_FORBIDDEN")
    join(bob.api(), r).expect(200)
    bob.api().put("/directory/list/room/" + quote(r), {"visibility": "public"}).expect(403, "M_FORBIDDEN")
    assert alice.api().get("/directory/list/room/" + quote(r)).expect(200).body == {"visibility": "private"}


def test_directory_visibility_requires_token(api, server, users):
    r = create_room(users[0].api())
    api.put("/directory/list/room/" + quote(r), {"visibility": "public"}).expect(401, "M_MISSING_TOKEN")
