"""A room of each version 1-7 (specification/rooms/v1..v6.rst, v1.1 rooms/v7.md): create, join, converse, read
back; event ID format per version; v6's strict canonical JSON."""

import pytest

from harness import quote
from roomlib import (EVENT_ID_V1_RE, EVENT_ID_V3_RE, EVENT_ID_V4_RE, create_room, get_event,
                     join, put_state, redact, send, send_raw, state_content, timeline)

VERSIONS = ["1", "2", "3", "4", "5", "6", "7"]


def id_pattern(version):
    # v1/v2: "$opaque:server"; v3: "$" + unpadded standard base64 of the reference hash (43
    # characters for SHA-256); v4+: the URL-safe alphabet ("-" and "_" for "+" and "/").
    return {"1": EVENT_ID_V1_RE, "2": EVENT_ID_V1_RE, "3": EVENT_ID_V3_RE}.get(version, EVENT_ID_V4_RE)


@pytest.fixture(scope="module")
def users(server):
    api = server.api("r0")
    return [api.register() for _ in range(2)]


@pytest.fixture(scope="module")
def capabilities(server, users):
    return users[0].api().get("/capabilities").expect(200).body["capabilities"]["m.room_versions"]


def test_capabilities_list_versions(capabilities):
    for v in VERSIONS:
        assert capabilities["available"].get(v) == "stable", capabilities


@pytest.mark.parametrize("version", VERSIONS)
def test_conversation_in_each_version(server, users, version):
    alice, bob = users
    r = create_room(alice.api(), room_version=version, preset="private_chat", name="v" + version,
                    invite=[bob.user_id])
    assert state_content(alice.api(), r, "m.room.create")["room_version"] == version
    join(bob.api(), r).expect(200)
    sent = []
    for i in range(6):
        who = (alice, bob)[i % 2]
        sent.append(send(who.api(), r, {"msgtype": "m.text", "body": "v%s #%d" % (version, i)}))
    sid = put_state(alice.api(), r, "m.room.topic", {"topic": "t" + version})
    pat = id_pattern(version)
    for eid in sent + [sid]:
        assert pat.match(eid), (version, eid)
        if version in ("1", "2"):
            assert eid.endswith(":" + server.server_name)
    tl = timeline(bob.api(), r)
    for e in tl:
        assert pat.match(e["event_id"]), (version, e["event_id"])
    ids = [e["event_id"] for e in tl]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i in sent] == sent
    for eid in sent:
        ev = get_event(bob.api(), r, eid).expect(200).body
        assert ev["event_id"] == eid
        assert ev["room_id"] == r
    # Redaction works in every version.
    rid = redact(alice.api(), r, sent[0]).expect(200).body["event_id"]
    assert pat.match(rid)
    ev = get_event(bob.api(), r, sent[0]).expect(200).body
    assert ev["content"] == {}
    assert ev["unsigned"]["redacted_because"]["event_id"] == rid


@pytest.mark.parametrize("version", ["3", "4", "5", "6", "7"])
def test_hash_event_ids_distinct_and_path_safe(server, users, version):
    """Reference-hash event IDs round-trip through the URL path, including "+" and "/" in v3."""
    alice = users[0]
    r = create_room(alice.api(), room_version=version)
    special = None
    seen = set()
    for i in range(60):
        eid = send(alice.api(), r, {"msgtype": "m.text", "body": "n%d" % i})
        assert eid not in seen
        seen.add(eid)
        if version == "3" and ("/" in eid or "+" in eid):
            special = eid
            break
        if version != "3":
            assert "/" not in eid and "+" not in eid
            special = eid
            if i >= 3:
                break
    assert special is not None, "no event ID with '+' or '/' in 60 tries (p ~ 1e-36)"
    ev = get_event(alice.api(), r, special).expect(200).body
    assert ev["event_id"] == special
    r2 = alice.api().get("/rooms/%s/context/%s" % (quote(r), quote(special)), params={"limit": 1})
    assert r2.expect(200).body["event"]["event_id"] == special


def test_v6_rejects_floats(server, users):
    # rooms/v6.rst: "Servers MUST strictly enforce the JSON format ... a 400 M_BAD_JSON error on
    # most endpoints ... the Client Server API's /send/{eventType} endpoint would return a
    # M_BAD_JSON error." Canonical JSON allows no floats and integers only in
    # [-(2**53)+1, (2**53)-1].
    alice = users[0]
    r = create_room(alice.api(), room_version="6")
    send_raw(alice.api(), r, {"msgtype": "m.text", "body": "x", "f": 1.5}).expect(400, "M_BAD_JSON")
    send_raw(alice.api(), r, {"msgtype": "m.text", "body": "x", "big": 2 ** 53}).expect(400, "M_BAD_JSON")
    send_raw(alice.api(), r, {"msgtype": "m.text", "body": "x", "small": -(2 ** 53)}).expect(400, "M_BAD_JSON")
    r2 = alice.api().put("/rooms/%s/state/org.example.f" % quote(r), {"f": 0.5})
    r2.expect(400, "M_BAD_JSON")
    # Boundary values are fine.
    eid = send(alice.api(), r, {"msgtype": "m.text", "body": "x", "max": 2 ** 53 - 1, "min": -(2 ** 53) + 1})
    c = get_event(alice.api(), r, eid).expect(200).body["content"]
    assert c["max"] == 2 ** 53 - 1 and c["min"] == -(2 ** 53) + 1


def test_default_version_is_advertised_default(server, users, capabilities):
    alice = users[0]
    r = create_room(alice.api())
    assert state_content(alice.api(), r, "m.room.create")["room_version"] == capabilities["default"]
    # SPEC: v1.1 rooms/_index.md: the default room version is 6 (r0.6.1 said 5).
    assert capabilities["default"] == "6"
    # Versions 8 and 9 are not in v1.1.
    assert "8" not in capabilities["available"]
