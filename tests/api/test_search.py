"""POST /search (search.yaml; modules/search.rst): the room_events category.

Each test registers its own users, so a user's searchable rooms are only the rooms the test
made: results can be checked exactly. Words are made unique per test where other tests could
collide (they cannot across users, but a test may search twice).

Where the spec leaves a choice, the tests pin Hearth's (documented in src/api/search.c and
src/store/store_search.h): every word must match (as Synapse), "quoted phrases", `or`,
`-word`, `word*` prefixes (Synapse has none), unicode61 tokenizing with Latin accents folded,
results limited by filter.limit (default 10, at most 100), next_batch for both orders.
"""

import os
import secrets
import signal
import sqlite3
import time

import pytest

import harness
from harness import HearthServer, quote
from roomlib import (create_room, invite, join, leave, put_state, redact, send, get_event)

ALL_KEYS = ["content.body", "content.name", "content.topic"]


def search_raw(api, body, next_batch=None):
    params = {"next_batch": next_batch} if next_batch is not None else None
    return api.post("/search", body, params=params)


def search(api, term, next_batch=None, **criteria):
    body = {"search_categories": {"room_events": dict(criteria, search_term=term)}}
    r = search_raw(api, body, next_batch).expect(200)
    return r.body["search_categories"]["room_events"]


def ids(res):
    return [x["result"]["event_id"] for x in res["results"]]


def msg(api, room, body):
    return send(api, room, {"msgtype": "m.text", "body": body})


def word():
    """A word no other message contains."""
    return "w" + secrets.token_hex(5)


@pytest.fixture
def alice(server):
    return server.api("r0").register()


@pytest.fixture
def bob(server):
    return server.api("r0").register()


# ---- matching --------------------------------------------------------------------------

def test_word_match_both_prefixes(api, alice):
    a = alice.api(api.prefix)
    room = create_room(a)
    w = word()
    e1 = msg(a, room, "the %s landed" % w)
    msg(a, room, "nothing to see here")
    res = search(a, w)
    assert ids(res) == [e1]
    assert res["count"] == 1
    assert res["highlights"] == [w]
    hit = res["results"][0]
    assert isinstance(hit["rank"], float) and hit["rank"] > 0
    # The result is written out like any other endpoint's event.
    direct = get_event(a, room, e1).expect(200).body
    for k in ("event_id", "type", "content", "sender", "room_id", "origin_server_ts"):
        assert hit["result"][k] == direct[k], k
    assert "age" in hit["result"]["unsigned"]
    # No next page, no groups, no state unless asked.
    assert "next_batch" not in res and "groups" not in res and "state" not in res


def test_case_insensitive_and_all_words_must_match(alice):
    a = alice.api()
    room = create_room(a)
    w1, w2 = word(), word()
    both = msg(a, room, "%s and %s" % (w1.upper(), w2))
    msg(a, room, "only %s" % w1)
    msg(a, room, "only %s" % w2)
    assert ids(search(a, "%s %s" % (w1, w2))) == [both]
    assert sorted(ids(search(a, w1.upper()))) == sorted(ids(search(a, w1)))
    assert len(search(a, w1)["results"]) == 2


def test_phrase(alice):
    a = alice.api()
    room = create_room(a)
    w1, w2 = word(), word()
    adjacent = msg(a, room, "%s %s here" % (w1, w2))
    msg(a, room, "%s is not next to %s" % (w1, w2))
    msg(a, room, "%s %s reversed" % (w2, w1))
    assert ids(search(a, '"%s %s"' % (w1, w2))) == [adjacent]
    assert len(search(a, "%s %s" % (w1, w2))["results"]) == 3


def test_prefix(alice):
    """word* matches words starting with it (a Hearth extension; Synapse has no prefix
    search). Without the star only whole words match."""
    a = alice.api()
    room = create_room(a)
    stem = word()
    e1 = msg(a, room, "%sing all day" % stem)
    e2 = msg(a, room, "%s" % stem)
    assert sorted(ids(search(a, stem + "*"))) == sorted([e1, e2])
    assert ids(search(a, stem)) == [e2]
    assert sorted(search(a, stem + "*")["highlights"]) == sorted([stem, stem + "ing"])


def test_or_and_negation(alice):
    a = alice.api()
    room = create_room(a)
    w1, w2, w3 = word(), word(), word()
    e1 = msg(a, room, w1)
    e2 = msg(a, room, w2)
    e3 = msg(a, room, "%s %s" % (w1, w3))
    assert sorted(ids(search(a, "%s OR %s" % (w1, w2)))) == sorted([e1, e2, e3])
    assert sorted(ids(search(a, "%s or %s" % (w1, w2)))) == sorted([e1, e2, e3])
    assert ids(search(a, "%s -%s" % (w1, w3))) == [e1]
    assert ids(search(a, '%s -"%s"' % (w1, w3))) == [e1]
    # Only negations: nothing to subtract from, nothing found.
    assert search(a, "-%s" % w1)["results"] == []


def test_keys_and_event_types(alice):
    """content.body of m.room.message, content.name of m.room.name, content.topic of
    m.room.topic; nothing else is searched."""
    a = alice.api()
    w = word()
    room = create_room(a, name="room %s" % w, topic="topic %s" % w)
    body_ev = msg(a, room, "body %s" % w)
    send(a, room, {"msgtype": "m.text", "body": "custom %s" % w}, event_type="org.example.custom")
    put_state(a, room, "org.example.state", {"name": w, "topic": w, "body": w})
    send(a, room, {"msgtype": "m.notice", "body": "notice", "format": "x", "formatted_body": w})
    res = search(a, w)
    types = sorted(x["result"]["type"] for x in res["results"])
    assert types == ["m.room.message", "m.room.name", "m.room.topic"]
    assert ids(search(a, w, keys=["content.body"])) == [body_ev]
    only_name = search(a, w, keys=["content.name"])["results"]
    assert [x["result"]["type"] for x in only_name] == ["m.room.name"]
    only_topic = search(a, w, keys=["content.topic"])["results"]
    assert [x["result"]["type"] for x in only_topic] == ["m.room.topic"]
    two = search(a, w, keys=["content.name", "content.topic"])["results"]
    assert sorted(x["result"]["type"] for x in two) == ["m.room.name", "m.room.topic"]
    assert search(a, w, keys=[])["results"] == []
    assert search(a, w, keys=ALL_KEYS)["count"] == 3


def test_non_latin_and_diacritics(alice):
    a = alice.api()
    room = create_room(a)
    tag = word()
    cyr = msg(a, room, "%s Привет, мир! Как дела?" % tag)
    greek = msg(a, room, "%s Καλημέρα κόσμε" % tag)
    latin = msg(a, room, "%s Ein naïve Café, résumé déjà vu" % tag)
    hebrew = msg(a, room, "%s שלום עולם" % tag)
    cjk = msg(a, room, "%s 日本語 テキスト" % tag)
    # Cyrillic and Greek fold case, accented letters included.
    assert ids(search(a, "ПРИВЕТ")) == [cyr]
    assert ids(search(a, "мир")) == [cyr]
    assert ids(search(a, "ΚΑΛΗΜΈΡΑ")) == [greek]
    assert ids(search(a, "κόσμε")) == [greek]
    # Latin accents fold both ways (remove_diacritics).
    assert ids(search(a, "naive")) == [latin]
    assert ids(search(a, "CAFE RESUME")) == [latin]
    assert ids(search(a, "déjà")) == [latin]
    assert ids(search(a, "deja")) == [latin]
    assert ids(search(a, "שלום")) == [hebrew]
    # Scripts without spaces: a run is one token; a prefix finds it.
    assert ids(search(a, "日本語")) == [cjk]
    assert ids(search(a, "日本*")) == [cjk]
    # Highlights are the words as written in the event.
    hl = search(a, "cafe naive")["highlights"]
    assert sorted(hl) == sorted(["Café", "naïve"])
    assert len(search(a, tag)["results"]) == 5


def test_punctuation_separates_words(alice):
    """A word is a run of letters and digits, as SQLite's unicode61 cuts them, on PostgreSQL
    too: a host name, a URL, an e-mail address or a user ID is several words (PostgreSQL's
    parser kept them whole, so a search for "example" did not find https://example.com/x)."""
    a = alice.api()
    room = create_room(a)
    host, mail, user, ver = word(), word(), word(), word()
    link = msg(a, room, "see https://%s.example.org/some-page_two?q=1 now" % host)
    addr = msg(a, room, "mail %s@example.net or ping @%s:hearth.test" % (mail, user))
    num = msg(a, room, "release %s-3.14, it's done" % ver)
    assert ids(search(a, host)) == [link]
    assert ids(search(a, "example")) == [addr, link] or ids(search(a, "example")) == [link, addr]
    assert ids(search(a, "page")) == [link]
    assert ids(search(a, "two")) == [link]
    assert ids(search(a, "%s.example.org" % host)) == [link]
    assert ids(search(a, "example.org/some-page")) == [link]
    assert ids(search(a, mail)) == [addr]
    assert ids(search(a, "%s@example.net" % mail)) == [addr]
    assert ids(search(a, user)) == [addr]
    assert ids(search(a, "hearth")) == [addr]
    assert ids(search(a, "@%s:hearth.test" % user)) == [addr]
    assert ids(search(a, "14")) == [num]
    assert ids(search(a, "%s-3.14" % ver)) == [num]
    assert ids(search(a, "it's")) == [num]
    assert ids(search(a, "exam*")) == [addr, link] or ids(search(a, "exam*")) == [link, addr]
    assert sorted(search(a, "example")["highlights"]) == ["example"]


def test_terms_are_not_query_syntax(alice):
    """Whatever the user types is words: no FTS syntax error (a 500), no column filters, no
    operators beyond the documented ones."""
    a = alice.api()
    room = create_room(a)
    w = word()
    e = msg(a, room, "near %s body %s name topic" % (w, w))
    for term in ['NEAR(%s near)' % w, 'body:%s' % w, '{body} : %s' % w, '^%s' % w, '"%s' % w,
                 '%s"' % w, '(%s)' % w, '%s AND' % w, "%s +" % w, "%s ," % w, "%s:" % w]:
        assert ids(search(a, term)) == [e], term
    for term in ['"', '*', '-', '()', '{}', ':', 'NOT', 'AND', 'OR', 'NEAR', '\\', "'",
                 '%s NOT' % w, '👍', '— «»', '""""', '" "', '-"" *', '\x01\x02', 'a' * 4000]:
        r = search_raw(a, {"search_categories": {"room_events": {"search_term": term}}})
        r.expect(200)


def test_empty_and_unsearchable_terms(alice):
    a = alice.api()
    room = create_room(a)
    msg(a, room, "something")
    for term in ["", "   ", "👍👍", "!!!"]:
        res = search(a, term)
        assert res["results"] == [] and res["count"] == 0, term


# ---- ordering and pagination -----------------------------------------------------------

def test_rank_order(alice):
    a = alice.api()
    room = create_room(a)
    w = word()
    filler = " ".join("filler%d" % i for i in range(40))
    weak = msg(a, room, "%s %s" % (w, filler))
    strong = msg(a, room, "%s %s %s" % (w, w, w))
    middle = msg(a, room, "%s and a few other words" % w)
    res = search(a, w)  # rank is the default
    assert ids(res) == [strong, middle, weak]
    ranks = [x["rank"] for x in res["results"]]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[-1]
    assert ids(search(a, w, order_by="rank")) == [strong, middle, weak]


def test_recent_order(alice):
    a = alice.api()
    room = create_room(a)
    w = word()
    sent = [msg(a, room, "%s %s" % (w, " ".join([w] * (i % 3)))) for i in range(5)]
    res = search(a, w, order_by="recent")
    assert ids(res) == list(reversed(sent))
    ts = [x["result"]["origin_server_ts"] for x in res["results"]]
    assert ts == sorted(ts, reverse=True)
    assert all(isinstance(x["rank"], float) for x in res["results"])


@pytest.mark.parametrize("order", ["rank", "recent"])
def test_pagination_until_exhausted(api, alice, order):
    a = alice.api(api.prefix)
    rooms = [create_room(a) for _ in range(2)]
    w = word()
    sent = set()
    for i in range(23):
        sent.add(msg(a, rooms[i % 2], "%s %s" % (w, "x" * (i % 4))))
    seen = []
    token = None
    pages = 0
    while True:
        res = search(a, w, next_batch=token, order_by=order, filter={"limit": 5})
        pages += 1
        assert res["count"] == 23
        assert len(res["results"]) <= 5
        seen.extend(ids(res))
        if "next_batch" not in res:
            break
        assert len(res["results"]) == 5
        token = res["next_batch"]
        assert pages < 10
    assert pages == 5
    assert len(seen) == len(set(seen)), "duplicates across pages"
    assert set(seen) == sent, "gaps across pages"
    if order == "recent":
        full = search(a, w, order_by="recent", filter={"limit": 100})
        assert ids(full) == seen
    else:
        full = search(a, w, filter={"limit": 100})
        assert ids(full) == seen


def test_pagination_skips_nothing_after_new_messages_recent(alice):
    """Recent-order tokens are positions: messages sent between pages do not shift them."""
    a = alice.api()
    room = create_room(a)
    w = word()
    old = [msg(a, room, w) for _ in range(6)]
    first = search(a, w, order_by="recent", filter={"limit": 3})
    newer = [msg(a, room, w) for _ in range(2)]
    second = search(a, w, next_batch=first["next_batch"], order_by="recent", filter={"limit": 3})
    assert ids(first) + ids(second) == list(reversed(old))
    assert "next_batch" not in second
    assert not set(newer) & set(ids(second))


def test_limit_default_and_cap(alice):
    a = alice.api()
    room = create_room(a)
    w = word()
    for _ in range(12):
        msg(a, room, w)
    res = search(a, w)
    assert len(res["results"]) == 10 and "next_batch" in res and res["count"] == 12
    res = search(a, w, filter={"limit": 0})
    assert res["results"] == [] and res["count"] == 12 and "next_batch" not in res


def test_next_batch_errors(alice):
    a = alice.api()
    room = create_room(a)
    w = word()
    for _ in range(3):
        msg(a, room, w)
    body = {"search_categories": {"room_events": {"search_term": w, "filter": {"limit": 1}}}}
    for bad in ["", "x", "r", "r-1", "rabc", "t", "t1x", "r1_", "r1_Xabc", "r1_R", "r1_R!!!!",
                "s5", "r1_R" + "_" * 3]:
        search_raw(a, body, bad).expect(400, "M_INVALID_PARAM")
    tok = search(a, w, filter={"limit": 1})["next_batch"]
    # A rank token in a recent search (the request must be the same).
    recent = {"search_categories": {"room_events": {"search_term": w, "order_by": "recent"}}}
    search_raw(a, recent, tok).expect(400, "M_INVALID_PARAM")


# ---- filter ----------------------------------------------------------------------------

def test_filter_rooms_senders_types(alice, bob):
    a, b = alice.api(), bob.api()
    r1 = create_room(a, preset="public_chat")
    r2 = create_room(a, preset="public_chat")
    join(b, r1).expect(200)
    join(b, r2).expect(200)
    w = word()
    topic = put_state(a, r1, "m.room.topic", {"topic": w})
    a1 = msg(a, r1, w)
    b1 = msg(b, r1, w)
    a2 = msg(a, r2, w)
    b2 = msg(b, r2, w)
    img = send(b, r2, {"msgtype": "m.image", "body": w, "url": "mxc://hearth.test/abc"})

    def found(f):
        return set(ids(search(a, w, filter=f)))

    assert found({}) == {topic, a1, b1, a2, b2, img}
    assert found({"rooms": [r1]}) == {topic, a1, b1}
    assert found({"not_rooms": [r1]}) == {a2, b2, img}
    assert found({"rooms": [r1, r2], "not_rooms": [r2], "types": ["m.room.message"]}) == {a1, b1}
    assert found({"senders": [bob.user_id]}) == {b1, b2, img}
    assert found({"not_senders": [bob.user_id], "types": ["m.room.message"]}) == {a1, a2}
    assert found({"types": ["m.room.topic"]}) == {topic}
    assert found({"types": ["m.room.*"], "not_types": ["m.room.message"]}) == {topic}
    assert found({"not_types": ["*"]}) == set()
    assert found({"contains_url": True}) == {img}
    assert found({"contains_url": False}) == {topic, a1, b1, a2, b2}
    assert found({"rooms": []}) == set()
    # A room the user is not in stays out even when named.
    other = create_room(b)
    msg(b, other, w)
    assert found({"rooms": [other]}) == set()


def test_filter_and_body_errors(alice):
    a = alice.api()
    create_room(a)

    def bad(body, errcode="M_BAD_JSON"):
        search_raw(a, body).expect(400, errcode)

    def re(**kw):
        d = {"search_term": "x"}
        d.update(kw)
        return {"search_categories": {"room_events": d}}

    bad({}, "M_MISSING_PARAM")
    bad({"search_categories": []})
    bad({"search_categories": "room_events"})
    bad({"search_categories": {"room_events": {"search_term": "x"}, "rooms": {}}})
    bad({"search_categories": {"groups": {}}})
    bad({"search_categories": {"room_events": []}})
    bad({"search_categories": {"room_events": {}}}, "M_MISSING_PARAM")
    bad({"search_categories": {"room_events": {"search_term": 5}}})
    bad({"search_categories": {"room_events": {"search_term": None}}})
    bad(re(search_term="x" * 5000))
    bad(re(keys="content.body"))
    bad(re(keys=["content.url"]))
    bad(re(keys=[1]))
    bad(re(filter=[]))
    bad(re(filter={"rooms": "!x:y"}))
    bad(re(filter={"limit": -1}))
    bad(re(filter={"limit": "5"}))
    bad(re(filter={"senders": [5]}))
    bad(re(order_by="oldest"))
    bad(re(order_by=1))
    bad(re(event_context=True))
    bad(re(event_context={"before_limit": -1}))
    bad(re(event_context={"after_limit": "2"}))
    bad(re(event_context={"include_profile": "yes"}))
    bad(re(include_state="true"))
    bad(re(groupings=[]))
    bad(re(groupings={"group_by": {"key": "room_id"}}))
    bad(re(groupings={"group_by": [{"key": "type"}]}))
    bad(re(groupings={"group_by": ["room_id"]}))
    bad(re(groupings={"group_by": [{}]}))
    # Not JSON at all.
    r = a.request("POST", "/search", data="{not json", headers={"Content-Type": "application/json"})
    r.expect(400, "M_NOT_JSON")
    # No category asked for: nothing to search, nothing found.
    r = search_raw(a, {"search_categories": {}}).expect(200)
    assert r.body == {"search_categories": {}}
    # null filter is no filter.
    search_raw(a, re(filter=None)).expect(200)


def test_auth_required_and_no_guests(api, server):
    body = {"search_categories": {"room_events": {"search_term": "x"}}}
    api.post("/search", body).expect(401, "M_MISSING_TOKEN")
    api.with_token("not-a-token").post("/search", body).expect(401, "M_UNKNOWN_TOKEN")
    g = server.api(api.prefix).register_raw({}, kind="guest").expect(200)
    guest = server.api(api.prefix, g.body["access_token"])
    guest.post("/search", body).expect(403, "M_GUEST_ACCESS_FORBIDDEN")


# ---- visibility ------------------------------------------------------------------------

def test_room_never_joined_is_not_searched(alice, bob):
    a, b = alice.api(), bob.api()
    w = word()
    private = create_room(b)
    msg(b, private, w)
    public = create_room(b, preset="public_chat", initial_state=[
        {"type": "m.room.history_visibility", "content": {"history_visibility": "world_readable"}}])
    msg(b, public, w)
    res = search(a, w)
    assert res["results"] == [] and res["count"] == 0
    assert search(b, w)["count"] == 2


def test_left_user_does_not_find_later_messages(alice, bob):
    a, b = alice.api(), bob.api()
    room = create_room(a, preset="public_chat")
    w = word()
    before = msg(a, room, "%s before" % w)
    join(b, room).expect(200)
    during = msg(a, room, "%s during" % w)
    leave(b, room).expect(200)
    after = msg(a, room, "%s after" % w)
    name_after = put_state(a, room, "m.room.name", {"name": "%s name" % w})
    res = search(b, w, order_by="recent")
    assert ids(res) == [during, before]  # shared visibility: history before the join too
    assert res["count"] == 2
    assert after not in ids(search(b, "%s after" % w)) and name_after not in ids(res)
    # Context stops at what the user could see.
    res = search(b, w, order_by="recent", event_context={"after_limit": 10, "before_limit": 0})
    ctx_ids = [e["event_id"] for e in res["results"][0]["context"]["events_after"]]
    assert after not in ctx_ids and name_after not in ctx_ids
    # Joining again shows everything (shared history).
    join(b, room).expect(200)
    assert set(ids(search(b, w))) == {before, during, after, name_after}


@pytest.mark.parametrize("visibility", ["joined", "invited", "shared"])
def test_history_visibility(alice, bob, visibility):
    a, b = alice.api(), bob.api()
    room = create_room(a, preset="private_chat", initial_state=[
        {"type": "m.room.history_visibility", "content": {"history_visibility": visibility}}])
    w = word()
    before_invite = msg(a, room, "%s one" % w)
    invite(a, room, bob.user_id).expect(200)
    after_invite = msg(a, room, "%s two" % w)
    # Invited, not joined yet.
    invited_sees = set(ids(search(b, w)))
    join(b, room).expect(200)
    after_join = msg(a, room, "%s three" % w)
    joined_sees = set(ids(search(b, w)))
    if visibility == "joined":
        assert invited_sees == set()
        assert joined_sees == {after_join}
    elif visibility == "invited":
        assert invited_sees == {after_invite}
        assert joined_sees == {after_invite, after_join}
    else:
        assert invited_sees == set()
        assert joined_sees == {before_invite, after_invite, after_join}
    assert search(b, w)["count"] == len(joined_sees)


def test_forgotten_room_is_not_searched(alice, bob):
    a, b = alice.api(), bob.api()
    room = create_room(a, preset="public_chat")
    join(b, room).expect(200)
    w = word()
    msg(a, room, w)
    assert search(b, w)["count"] == 1
    leave(b, room).expect(200)
    assert search(b, w)["count"] == 1
    b.post("/rooms/%s/forget" % quote(room), {}).expect(200)
    assert search(b, w)["count"] == 0


def test_redaction_removes_from_results(alice):
    a = alice.api()
    room = create_room(a)
    w = word()
    keep = msg(a, room, "%s keep" % w)
    gone = msg(a, room, "%s gone" % w)
    assert sorted(ids(search(a, w))) == sorted([keep, gone])
    redact(a, room, gone).expect(200)
    res = search(a, w)
    assert ids(res) == [keep] and res["count"] == 1
    assert search(a, "gone %s" % w)["results"] == []
    # Redacting again, or redacting an event that was never indexed, changes nothing.
    redact(a, room, gone).expect(200)
    custom = send(a, room, {"body": w}, event_type="org.example.custom")
    redact(a, room, custom).expect(200)
    assert ids(search(a, w)) == [keep]
    redact(a, room, keep).expect(200)
    res = search(a, w)
    assert res["results"] == [] and res["count"] == 0


def test_encrypted_events_are_not_indexed(alice):
    a = alice.api()
    room = create_room(a, initial_state=[
        {"type": "m.room.encryption", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
    w = word()
    send(a, room, {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": w, "body": w,
                   "sender_key": "k", "session_id": "s", "device_id": "D"},
         event_type="m.room.encrypted")
    assert search(a, w)["count"] == 0
    # Plaintext events of the room are searchable, as on Synapse (the spec's "will not include
    # rooms that are end to end encrypted" holds because their messages are m.room.encrypted).
    plain = msg(a, room, "%s plain" % w)
    assert ids(search(a, w)) == [plain]


def test_ignored_users_messages_hidden(alice, bob):
    a, b = alice.api(), bob.api()
    room = create_room(a, preset="public_chat")
    join(b, room).expect(200)
    w = word()
    mine = msg(a, room, w)
    msg(b, room, w)
    a.put("/user/%s/account_data/m.ignored_user_list" % quote(alice.user_id),
          {"ignored_users": {bob.user_id: {}}}).expect(200)
    assert ids(search(a, w)) == [mine]


# ---- context, state, groups ------------------------------------------------------------

def test_event_context_and_profiles(api, alice, bob):
    a, b = alice.api(api.prefix), bob.api(api.prefix)
    room = create_room(a, preset="public_chat")
    join(b, room).expect(200)
    put_state(b, room, "m.room.member", {"membership": "join", "displayname": "Bob Early",
                                         "avatar_url": "mxc://hearth.test/early"}, bob.user_id)
    w = word()
    seq = []
    for i in range(9):
        who = (a, b)[i % 2]
        seq.append(msg(who, room, ("%s hit" % w) if i == 4 else "plain %d" % i))
    # Later renames are not the "historic" profile of the context.
    put_state(b, room, "m.room.member", {"membership": "join", "displayname": "Bob Late"},
              bob.user_id)
    res = search(a, w, event_context={"before_limit": 2, "after_limit": 3, "include_profile": True})
    assert ids(res) == [seq[4]]
    ctx = res["results"][0]["context"]
    assert [e["event_id"] for e in ctx["events_before"]] == [seq[3], seq[2]]
    assert [e["event_id"] for e in ctx["events_after"]] == seq[5:8]
    assert isinstance(ctx["start"], str) and isinstance(ctx["end"], str)
    prof = ctx["profile_info"]
    assert set(prof) == {alice.user_id, bob.user_id}
    assert prof[bob.user_id] == {"displayname": "Bob Early", "avatar_url": "mxc://hearth.test/early"}
    assert prof[alice.user_id]["displayname"] == alice.localpart
    # The tokens page on with /messages from where the context stops.
    more = a.get("/rooms/%s/messages" % quote(room), params={"from": ctx["end"], "dir": "f",
                                                             "limit": 1}).expect(200).body
    assert [e["event_id"] for e in more["chunk"]] == [seq[8]]
    back = a.get("/rooms/%s/messages" % quote(room), params={"from": ctx["start"], "dir": "b",
                                                              "limit": 1}).expect(200).body
    assert [e["event_id"] for e in back["chunk"]] == [seq[1]]
    # Defaults: 5 each way, no profiles.
    res = search(a, w, event_context={})
    ctx = res["results"][0]["context"]
    assert len(ctx["events_before"]) == 5 and len(ctx["events_after"]) == 5
    assert "profile_info" not in ctx
    # Without event_context, no context.
    assert "context" not in search(a, w)["results"][0]
    # The search filter applies to the context too.
    res = search(a, w, event_context={"before_limit": 3, "after_limit": 3},
                 filter={"senders": [alice.user_id]})
    ctx = res["results"][0]["context"]
    assert all(e["sender"] == alice.user_id for e in ctx["events_before"] + ctx["events_after"])
    res = search(a, w, event_context={"before_limit": 0, "after_limit": 0})
    ctx = res["results"][0]["context"]
    assert ctx["events_before"] == [] and ctx["events_after"] == []


def test_include_state(alice, bob):
    a, b = alice.api(), bob.api()
    w = word()
    r1 = create_room(a, name="first")
    r2 = create_room(a, name="second")
    r3 = create_room(a, name="third")
    msg(a, r1, w)
    msg(a, r2, w)
    msg(a, r3, "other")
    res = search(a, w, include_state=True)
    assert set(res["state"]) == {r1, r2}
    names = {rid: [e for e in evs if e["type"] == "m.room.name"][0]["content"]["name"]
             for rid, evs in res["state"].items()}
    assert names == {r1: "first", r2: "second"}
    assert all("state_key" in e for evs in res["state"].values() for e in evs)
    assert "state" not in search(a, w, include_state=False)
    # A user who left sees the state as it was when they left.
    shared = create_room(a, preset="public_chat", name="old name")
    join(b, shared).expect(200)
    msg(a, shared, w)
    leave(b, shared).expect(200)
    put_state(a, shared, "m.room.name", {"name": "new name"})
    res = search(b, w, include_state=True)
    st = res["state"][shared]
    assert [e["content"]["name"] for e in st if e["type"] == "m.room.name"] == ["old name"]


def test_groupings(api, alice, bob):
    a, b = alice.api(api.prefix), bob.api(api.prefix)
    r1 = create_room(a, preset="public_chat")
    r2 = create_room(a, preset="public_chat")
    join(b, r1).expect(200)
    w = word()
    a1 = msg(a, r1, w)
    b1 = msg(b, r1, w)
    a2 = msg(a, r2, w)
    res = search(a, w, order_by="recent", groupings={"group_by": [{"key": "room_id"},
                                                                   {"key": "sender"}]})
    assert ids(res) == [a2, b1, a1]
    by_room = res["groups"]["room_id"]
    assert by_room[r2] == {"order": 1, "results": [a2]}
    assert by_room[r1] == {"order": 2, "results": [b1, a1]}
    by_sender = res["groups"]["sender"]
    assert by_sender[alice.user_id] == {"order": 1, "results": [a2, a1]}
    assert by_sender[bob.user_id] == {"order": 2, "results": [b1]}
    only_room = search(a, w, groupings={"group_by": [{"key": "room_id"}]})
    assert set(only_room["groups"]) == {"room_id"}


def test_group_next_batch_stays_in_group(alice, bob):
    a, b = alice.api(), bob.api()
    r1 = create_room(a, preset="public_chat")
    r2 = create_room(a)
    join(b, r1).expect(200)
    w = word()
    in_r1 = []
    for i in range(8):
        in_r1.append(msg((a, b)[i % 2], r1, w))
        msg(a, r2, w)
    res = search(a, w, order_by="recent", filter={"limit": 4},
                 groupings={"group_by": [{"key": "room_id"}, {"key": "sender"}]})
    assert "next_batch" in res
    g = res["groups"]["room_id"][r1]
    assert "next_batch" in g
    seen = list(g["results"])
    token = g["next_batch"]
    while token:
        page = search(a, w, next_batch=token, order_by="recent", filter={"limit": 4},
                      groupings={"group_by": [{"key": "room_id"}]})
        assert set(page["groups"]["room_id"]) <= {r1}
        seen.extend(ids(page))
        token = page.get("next_batch")
    assert seen == list(reversed(in_r1))
    # A sender's token keeps to that sender.
    sg = res["groups"]["sender"][bob.user_id]
    page = search(a, w, next_batch=sg["next_batch"], order_by="recent", filter={"limit": 50})
    assert page["results"] and all(x["result"]["sender"] == bob.user_id for x in page["results"])
    # Without more results, groups carry no next_batch.
    full = search(a, w, filter={"limit": 50}, groupings={"group_by": [{"key": "room_id"}]})
    assert "next_batch" not in full
    assert all("next_batch" not in v for v in full["groups"]["room_id"].values())


# ---- the index on disk -----------------------------------------------------------------

def test_migration_backfills_existing_events(server_factory):
    """Migration 11 indexes the events stored before it: message bodies, names and topics;
    not redacted events, not encrypted ones. Simulated by dropping the index and its schema
    row, so the next start runs migration 11 again over the stored events."""
    srv = server_factory()
    u = srv.api("r0").register()
    a = u.api()
    w = word()
    room = create_room(a, name="%s name" % w, topic="%s topic" % w)
    keep = msg(a, room, "%s keep" % w)
    gone = msg(a, room, "%s gone" % w)
    redact(a, room, gone).expect(200)
    send(a, room, {"algorithm": "x", "ciphertext": w, "body": w}, event_type="m.room.encrypted")
    before = search(a, w)
    assert before["count"] == 3
    srv.stop()
    if harness.TEST_PG:
        schema = harness.pg_schema_for(srv.data_dir)
        harness.pg_psql("SET search_path = %s; DROP TABLE event_search; DROP TABLE event_search_rooms;"
                        "DROP TEXT SEARCH CONFIGURATION hearth_search;"
                        "DELETE FROM schema_version WHERE version = 11;" % schema)
    else:
        db = sqlite3.connect(os.path.join(srv.data_dir, "homeserver.db"))
        db.executescript("DROP TABLE event_search; DROP TABLE event_search_rooms;"
                         "DELETE FROM schema_version WHERE version = 11;")
        db.close()
    srv.start()
    after = search(a, w)
    assert sorted(ids(after)) == sorted(ids(before))
    assert keep in ids(after) and gone not in ids(after)
    # New events after the backfill are indexed in the rooms it numbered.
    newer = msg(a, room, "%s newer" % w)
    assert newer in ids(search(a, w))
    other = create_room(a)
    in_new_room = msg(a, other, w)
    assert in_new_room in ids(search(a, w))


@pytest.mark.skipif(not harness.TEST_PG, reason="migration 21 changes PostgreSQL's index only")
def test_migration_21_cuts_stored_words_at_punctuation(server_factory):
    """Migration 21 (PostgreSQL): the vectors already stored are made again with words cut at
    punctuation. Simulated by writing them back as before it (text parsed whole: the host name
    is one token) and dropping its schema row, so the next start runs it again."""
    srv = server_factory()
    a = srv.api("r0").register().api()
    host = word()
    room = create_room(a)
    e = msg(a, room, "see https://%s.example.org/page" % host)
    assert ids(search(a, host)) == [e]
    old = ("UPDATE event_search SET vec = "
           "setweight(to_tsvector('hearth_search', COALESCE(body, '')), 'A') || "
           "setweight(to_tsvector('hearth_search', COALESCE(name, '')), 'B') || "
           "setweight(to_tsvector('hearth_search', COALESCE(topic, '')), 'C');")
    srv.stop()
    db_script(srv, old)
    srv.start()
    assert ids(search(a, host)) == []  # as before the migration
    srv.stop()
    db_script(srv, "DELETE FROM schema_version WHERE version = 21;")
    srv.start()
    assert ids(search(a, host)) == [e]
    assert ids(search(a, "page")) == [e]


# ---- deferred indexing (issue 3) ---------------------------------------------------------
# A send does not write the index; a background catch-up does, in batches, after a stored mark
# (counters 'search_indexed'). A search first indexes everything committed before it, so what
# a client sees is as if each send indexed its event.

def db_rows(srv, sql):
    """Rows of a query on the server's database, as tuples of strings (both engines)."""
    if harness.TEST_PG:
        out = harness.pg_psql("SET search_path = %s; %s" % (harness.pg_schema_for(srv.data_dir), sql))
        return [tuple(line.split("|")) for line in out.splitlines() if line]
    db = sqlite3.connect(os.path.join(srv.data_dir, "homeserver.db"))
    try:
        return [tuple(str(c) for c in row) for row in db.execute(sql).fetchall()]
    finally:
        db.close()


def db_script(srv, sql):
    if harness.TEST_PG:
        harness.pg_psql("SET search_path = %s; %s" % (harness.pg_schema_for(srv.data_dir), sql))
        return
    db = sqlite3.connect(os.path.join(srv.data_dir, "homeserver.db"))
    try:
        db.executescript(sql)
    finally:
        db.close()


def positions(srv, event_ids):
    rows = db_rows(srv, "SELECT stream_pos FROM events WHERE event_id IN (%s)"
                   % ",".join("'%s'" % e for e in event_ids))
    assert len(rows) == len(event_ids)
    return sorted(int(r[0]) for r in rows)


def mark(srv):
    return int(db_rows(srv, "SELECT value FROM counters WHERE name = 'search_indexed'")[0][0])


def indexed(srv, event_ids):
    """How many of these events have a row in the index."""
    return int(db_rows(srv, "SELECT COUNT(*) FROM event_search WHERE rowid IN (SELECT r.nid * "
                       "1099511627776 + e.stream_pos FROM events e JOIN event_search_rooms r ON "
                       "r.room_id = e.room_id WHERE e.event_id IN (%s))"
                       % ",".join("'%s'" % e for e in event_ids))[0][0])


def unindex_after(srv, pos):
    """What a server killed before its catch-up leaves: the mark at pos, nothing after it
    indexed (the index and the mark move together, so this is a state a crash can leave)."""
    db_script(srv, "DELETE FROM event_search WHERE rowid IN (SELECT r.nid * 1099511627776 + "
              "e.stream_pos FROM events e JOIN event_search_rooms r ON r.room_id = e.room_id "
              "WHERE e.stream_pos > %d); UPDATE counters SET value = %d WHERE name = "
              "'search_indexed';" % (pos, pos))


def wait_for(pred, what, timeout=30.0):
    """Polls pred (the background indexer works on its own time); not a timing assertion."""
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, what
        time.sleep(0.05)


def test_search_right_after_send_finds_it(api, alice):
    a = alice.api(api.prefix)
    room = create_room(a)
    w = word()
    sent = []
    for i in range(5):
        sent.append(msg(a, room, "%s number%d" % (w, i)))
        # Each search right after the send's answer: before the background catch-up's delay.
        res = search(a, "number%d" % i)
        assert ids(res) == [sent[-1]] and res["count"] == 1
    for i in range(30):
        sent.append(msg(a, room, "%s burst" % w))
    res = search(a, w, filter={"limit": 100})
    assert sorted(ids(res)) == sorted(sent) and res["count"] == 35
    put_state(a, room, "m.room.topic", {"topic": "%s topical" % w})
    assert search(a, "topical", keys=["content.topic"])["count"] == 1


def test_send_leaves_indexing_to_the_background(server_factory):
    """The index reaches every event without any search asking (the catch-up after a send),
    and the stored mark moves with it."""
    srv = server_factory()
    a = srv.api("r0").register().api()
    room = create_room(a)
    w = word()
    sent = [msg(a, room, "%s quiet" % w) for _ in range(3)]
    top = positions(srv, sent)[-1]
    wait_for(lambda: mark(srv) >= top and indexed(srv, sent) == 3, "the background catch-up")
    assert search(a, w)["count"] == 3


def test_redacting_an_event_not_indexed_yet(alice):
    """Redactions right after the send, before the background catch-up's delay: the event never
    shows, whichever of the redaction and the indexing comes first."""
    a = alice.api()
    room = create_room(a)
    w = word()
    keep = msg(a, room, "%s keep" % w)
    for _ in range(5):
        gone = msg(a, room, "%s gone" % w)
        redact(a, room, gone).expect(200)
        res = search(a, w)
        assert ids(res) == [keep] and res["count"] == 1
    assert search(a, "gone")["count"] == 0


@pytest.mark.parametrize("how", ["kill", "term"])
def test_backlog_after_restart_is_indexed(server_factory, how):
    """A server stopped before its catch-up (SIGKILL, or SIGTERM: it does not index on the
    way out) leaves events unindexed; the next start indexes them in the background, and a
    search finds them anyway. A redaction of an unindexed event after the restart keeps it out.
    The backlog is made certain by moving the mark back over the test's events."""
    srv = server_factory()
    a = srv.api("r0").register().api()
    room = create_room(a, name="lost name")
    w = word()
    sent = [msg(a, room, "%s backlog %d" % (w, i)) for i in range(8)]
    doomed = msg(a, room, "%s doomed" % w)
    named = db_rows(srv, "SELECT event_id FROM events WHERE room_id = '%s' AND type = "
                    "'m.room.name'" % room)[0][0]
    srv.stop(sig=signal.SIGKILL if how == "kill" else signal.SIGTERM, check=how == "term")
    pos = positions(srv, sent + [doomed, named])
    unindex_after(srv, pos[0] - 1)
    assert indexed(srv, sent + [doomed, named]) == 0
    srv.start()
    redact(a, room, doomed).expect(200)
    res = search(a, w, filter={"limit": 100})
    assert sorted(ids(res)) == sorted(sent) and res["count"] == 8
    assert ids(search(a, "lost", keys=["content.name"])) == [named]
    wait_for(lambda: mark(srv) >= pos[-1], "the catch-up after the restart")
    assert indexed(srv, sent + [named]) == 9 and indexed(srv, [doomed]) == 0


def test_backlog_at_start_is_indexed_without_a_search(server_factory):
    srv = server_factory()
    a = srv.api("r0").register().api()
    room = create_room(a)
    w = word()
    sent = [msg(a, room, "%s unasked %d" % (w, i)) for i in range(4)]
    srv.stop()
    pos = positions(srv, sent)
    unindex_after(srv, pos[0] - 1)
    srv.start()
    wait_for(lambda: mark(srv) >= pos[-1] and indexed(srv, sent) == 4, "the catch-up at start")
    assert search(a, w)["count"] == 4
