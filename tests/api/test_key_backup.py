"""key_backup.yaml and modules/end_to_end_encryption.md "Server-side key backups" (Matrix v1.1):
backup versions (create, latest, by version, update, delete; etag and count), room keys by
room and session (put with the spec's replacement rules, get, delete), M_WRONG_ROOM_KEYS_VERSION
for a version other than the current one and M_NOT_FOUND for unknown ones."""

import pytest

from harness import quote

ALG = "m.megolm_backup.v1.curve25519-aes-sha2"
ROOM = "!room:hearth.test"
ROOM2 = "!other:hearth.test"


def auth_data(tag="a"):
    return {"public_key": "pk" + tag, "signatures": {"@x:hearth.test": {"ed25519:D": "sig"}}}


def create(api, tag="a"):
    r = api.post("/room_keys/version", {"algorithm": ALG, "auth_data": auth_data(tag)}).expect(200)
    assert isinstance(r.body["version"], str)
    return r.body["version"]


def key(fmi=0, fwd=0, verified=False, data="c"):
    return {"first_message_index": fmi, "forwarded_count": fwd, "is_verified": verified,
            "session_data": {"ephemeral": "e", "ciphertext": data, "mac": "m"}}


def put_session(api, version, room, session, k):
    return api.put("/room_keys/keys/%s/%s" % (quote(room), quote(session)), k,
                   params={"version": version})


def get_session(api, version, room, session):
    return api.get("/room_keys/keys/%s/%s" % (quote(room), quote(session)),
                   params={"version": version})


@pytest.fixture
def user(api):
    return api.register().api(api.prefix)


# ---- versions ----

def test_no_backup_yet(user):
    r = user.get("/room_keys/version").expect(404, "M_NOT_FOUND")
    user.get("/room_keys/version/1").expect(404, "M_NOT_FOUND")


def test_create_and_get(user):
    v = create(user)
    for path in ("/room_keys/version", "/room_keys/version/" + v):
        r = user.get(path).expect(200)
        assert r.body["version"] == v
        assert r.body["algorithm"] == ALG
        assert r.body["auth_data"] == auth_data()
        assert r.body["count"] == 0
        assert isinstance(r.body["etag"], str)


def test_latest_is_the_newest(user):
    v1 = create(user, "1")
    v2 = create(user, "2")
    assert v1 != v2
    r = user.get("/room_keys/version").expect(200)
    assert r.body["version"] == v2 and r.body["auth_data"] == auth_data("2")
    assert user.get("/room_keys/version/" + v1).expect(200).body["auth_data"] == auth_data("1")


def test_versions_are_per_user(server, api):
    a = api.register().api(api.prefix)
    b = api.register().api(api.prefix)
    v = create(a)
    b.get("/room_keys/version").expect(404, "M_NOT_FOUND")
    b.get("/room_keys/version/" + v).expect(404, "M_NOT_FOUND")
    put_session(b, v, ROOM, "S", key()).expect(404, "M_NOT_FOUND")


@pytest.mark.parametrize("body,errcode", [
    ({"auth_data": {}}, "M_MISSING_PARAM"),
    ({"algorithm": ALG}, "M_MISSING_PARAM"),
    ({"algorithm": 5, "auth_data": {}}, "M_BAD_JSON"),
    ({"algorithm": ALG, "auth_data": "x"}, "M_BAD_JSON"),
])
def test_create_malformed(user, body, errcode):
    user.post("/room_keys/version", body).expect(400, errcode)


def test_update(user):
    v = create(user)
    user.put("/room_keys/version/" + v, {"algorithm": ALG, "auth_data": auth_data("new")}).expect(200)
    assert user.get("/room_keys/version/" + v).expect(200).body["auth_data"] == auth_data("new")
    # SPEC: version in the body "must be the same as the version in the path parameter".
    user.put("/room_keys/version/" + v, {"algorithm": ALG, "auth_data": {}, "version": v}).expect(200)
    user.put("/room_keys/version/" + v,
             {"algorithm": ALG, "auth_data": {}, "version": "999"}).expect(400, "M_INVALID_PARAM")
    # SPEC: algorithm "Must be the same as the algorithm currently used by the backup."
    user.put("/room_keys/version/" + v,
             {"algorithm": "other", "auth_data": {}}).expect(400, "M_INVALID_PARAM")
    user.put("/room_keys/version/999", {"algorithm": ALG, "auth_data": {}}).expect(404, "M_NOT_FOUND")
    user.put("/room_keys/version/nonsense",
             {"algorithm": ALG, "auth_data": {}}).expect(404, "M_NOT_FOUND")


def test_delete(user):
    v1 = create(user, "1")
    v2 = create(user, "2")
    put_session(user, v2, ROOM, "S", key()).expect(200)
    user.delete("/room_keys/version/" + v2).expect(200)
    user.get("/room_keys/version/" + v2).expect(404, "M_NOT_FOUND")
    # The latest remaining one becomes current again.
    assert user.get("/room_keys/version").expect(200).body["version"] == v1
    # SPEC: "If the backup was previously deleted, the call should succeed".
    user.delete("/room_keys/version/" + v2).expect(200)
    user.delete("/room_keys/version/999").expect(404, "M_NOT_FOUND")
    user.get("/room_keys/keys", params={"version": v2}).expect(404, "M_NOT_FOUND")
    # A new version never reuses a deleted one's number.
    v3 = create(user, "3")
    assert v3 not in (v1, v2)
    assert user.get("/room_keys/keys", params={"version": v3}).expect(200).body == {"rooms": {}}


# ---- keys ----

def test_put_and_get_three_ways(user):
    v = create(user)
    r = put_session(user, v, ROOM, "S1", key(data="1")).expect(200)
    assert r.body["count"] == 1 and isinstance(r.body["etag"], str)
    r = user.put("/room_keys/keys/" + quote(ROOM), {"sessions": {"S2": key(data="2")}},
                 params={"version": v}).expect(200)
    assert r.body["count"] == 2
    r = user.put("/room_keys/keys", {"rooms": {ROOM2: {"sessions": {"S3": key(data="3")}}}},
                 params={"version": v}).expect(200)
    assert r.body["count"] == 3
    assert get_session(user, v, ROOM, "S1").expect(200).body == key(data="1")
    r = user.get("/room_keys/keys/" + quote(ROOM), params={"version": v}).expect(200)
    assert r.body == {"sessions": {"S1": key(data="1"), "S2": key(data="2")}}
    r = user.get("/room_keys/keys", params={"version": v}).expect(200)
    assert r.body == {"rooms": {ROOM: {"sessions": {"S1": key(data="1"), "S2": key(data="2")}},
                                ROOM2: {"sessions": {"S3": key(data="3")}}}}
    assert user.get("/room_keys/version").expect(200).body["count"] == 3


def test_get_missing(user):
    v = create(user)
    get_session(user, v, ROOM, "nope").expect(404, "M_NOT_FOUND")
    # A room without keys has no sessions (as Synapse answers).
    r = user.get("/room_keys/keys/" + quote(ROOM), params={"version": v}).expect(200)
    assert r.body == {"sessions": {}}
    user.get("/room_keys/keys", params={"version": "999"}).expect(404, "M_NOT_FOUND")
    user.get("/room_keys/keys").expect(400, "M_MISSING_PARAM")


@pytest.mark.parametrize("old,new,kept", [
    # SPEC: "if the keys have different values for is_verified, then it will keep the key that
    # has is_verified set to true"
    (key(verified=False, fmi=0, data="old"), key(verified=True, fmi=5, data="new"), "new"),
    (key(verified=True, fmi=5, data="old"), key(verified=False, fmi=0, data="new"), "old"),
    # "if they have the same values for is_verified, then it will keep the key with a lower
    # first_message_index"
    (key(fmi=3, data="old"), key(fmi=1, fwd=9, data="new"), "new"),
    (key(fmi=1, data="old"), key(fmi=3, data="new"), "old"),
    # "is_verified and first_message_index are equal, then it will keep the key with a lower
    # forwarded_count"
    (key(fwd=2, data="old"), key(fwd=1, data="new"), "new"),
    (key(fwd=1, data="old"), key(fwd=2, data="new"), "old"),
    (key(fwd=1, data="old"), key(fwd=1, data="new"), "old"),
])
def test_replacement_rules(user, old, new, kept):
    v = create(user)
    put_session(user, v, ROOM, "S", old).expect(200)
    etag = user.get("/room_keys/version").expect(200).body["etag"]
    r = put_session(user, v, ROOM, "S", new).expect(200)
    assert r.body["count"] == 1
    want = new if kept == "new" else old
    assert get_session(user, v, ROOM, "S").expect(200).body == want
    # The etag changes exactly when the stored keys do.
    assert (r.body["etag"] != etag) == (kept == "new")


def test_wrong_version(user):
    v1 = create(user, "1")
    v2 = create(user, "2")
    r = put_session(user, v1, ROOM, "S", key()).expect(403, "M_WRONG_ROOM_KEYS_VERSION")
    # SPEC: the error carries current_version.
    assert r.body["current_version"] == v2
    r = put_session(user, "999", ROOM, "S", key()).expect(403, "M_WRONG_ROOM_KEYS_VERSION")
    assert r.body["current_version"] == v2
    assert user.get("/room_keys/keys", params={"version": v1}).expect(200).body == {"rooms": {}}


def test_put_without_backup(user):
    put_session(user, "1", ROOM, "S", key()).expect(404, "M_NOT_FOUND")
    user.put("/room_keys/keys/%s/S" % quote(ROOM), key()).expect(400, "M_MISSING_PARAM")


@pytest.mark.parametrize("mutate", [
    lambda k: k.pop("first_message_index"),
    lambda k: k.pop("forwarded_count"),
    lambda k: k.pop("is_verified"),
    lambda k: k.pop("session_data"),
    lambda k: k.__setitem__("is_verified", "yes"),
    lambda k: k.__setitem__("first_message_index", "0"),
    lambda k: k.__setitem__("session_data", "x"),
])
def test_put_malformed(user, mutate):
    v = create(user)
    k = key()
    mutate(k)
    put_session(user, v, ROOM, "S", k).expect(400, "M_BAD_JSON")
    user.put("/room_keys/keys", {"rooms": {ROOM: {"sessions": {"S": k}}}},
             params={"version": v}).expect(400, "M_BAD_JSON")
    user.put("/room_keys/keys", {"rooms": {ROOM: []}}, params={"version": v}).expect(400, "M_BAD_JSON")
    user.put("/room_keys/keys", {"rooms": 1}, params={"version": v}).expect(400, "M_BAD_JSON")
    assert user.get("/room_keys/version").expect(200).body["count"] == 0


def test_one_bad_key_stores_nothing(user):
    v = create(user)
    bad = key()
    del bad["is_verified"]
    user.put("/room_keys/keys", {"rooms": {ROOM: {"sessions": {"A": key(), "B": bad}}}},
             params={"version": v}).expect(400, "M_BAD_JSON")
    assert user.get("/room_keys/version").expect(200).body["count"] == 0


def test_delete_keys_three_ways(user):
    v = create(user)
    user.put("/room_keys/keys", {"rooms": {
        ROOM: {"sessions": {"A": key(), "B": key()}},
        ROOM2: {"sessions": {"C": key(), "D": key()}}}}, params={"version": v}).expect(200)
    etag = user.get("/room_keys/version").expect(200).body["etag"]
    r = user.delete("/room_keys/keys/%s/A" % quote(ROOM), params={"version": v}).expect(200)
    assert r.body["count"] == 3 and r.body["etag"] != etag
    r = user.delete("/room_keys/keys/" + quote(ROOM2), params={"version": v}).expect(200)
    assert r.body["count"] == 1
    assert user.get("/room_keys/keys", params={"version": v}).expect(200).body == \
        {"rooms": {ROOM: {"sessions": {"B": key()}}}}
    r = user.delete("/room_keys/keys", params={"version": v}).expect(200)
    assert r.body["count"] == 0
    user.delete("/room_keys/keys", params={"version": "999"}).expect(404, "M_NOT_FOUND")


def test_requires_auth(api):
    api.get("/room_keys/version").expect(401, "M_MISSING_TOKEN")
    api.get("/room_keys/keys", params={"version": "1"}).expect(401, "M_MISSING_TOKEN")
