"""keys.yaml and modules/end_to_end_encryption.rst: POST /keys/upload, /keys/query, /keys/claim,
GET /keys/changes, and the module's /sync extensions (device_lists, device_one_time_keys_count).

Device keys must name the uploading device and carry a valid signature by its own ed25519 key;
a one-time key ID is never reused for other content; a claimed key is handed out once (also
under concurrent claims); device_lists.changed lists users sharing a room whose devices or keys
changed and users who came to share a room, device_lists.left those who no longer share any."""

import threading

import pytest

from e2e_lib import (Device, canonical, changes, claim, deep, device_lists, otk_counts, query,
                     upload)
from harness import quote
from roomlib import create_room, invite, join, leave
from synclib import Background, own_session, sync, sync_ok

OFF = "offline"  # keep presence out of the syncs


def since_of(user, prefix="r0"):
    return sync_ok(user.api(prefix), set_presence=OFF)["next_batch"]


def next_sync(user, since, prefix="r0", **kw):
    return sync_ok(user.api(prefix), since=since, set_presence=OFF, **kw)


def with_keys(server, n_otks=0):
    """A new user whose device has uploaded its keys (and n_otks signed one-time keys)."""
    u = server.api("r0").register()
    d = Device(u)
    upload(u.api(), d.device_keys(), d.otks(n_otks) if n_otks else None).expect(200)
    return u, d


def pair_in_room(server, preset="public_chat"):
    a = server.api("r0").register()
    b = server.api("r0").register()
    room = create_room(a.api(), preset=preset, invite=[b.user_id])
    join(b.api(), room).expect(200)
    return a, b, room


# ---- upload ----

def test_upload_then_query_returns_the_signed_keys(server, api):
    u = api.register()
    d = Device(u)
    keys = d.device_keys()
    r = upload(u.api(api.prefix), keys, d.otks(5)).expect(200)
    assert r.body["one_time_key_counts"] == {"signed_curve25519": 5}
    other = api.register()
    r = query(other.api(api.prefix), [u.user_id]).expect(200)
    got = r.body["device_keys"][u.user_id][u.device_id]
    # SPEC: "the same as uploaded via /keys/upload, with the addition of an unsigned property".
    unsigned = got.pop("unsigned")
    assert isinstance(unsigned, dict)
    assert got == keys
    assert r.body["failures"] == {}


def test_counts_per_algorithm(server, api):
    u = api.register()
    d = Device(u)
    r = upload(u.api(api.prefix), one_time_keys=d.otks(2, "curve25519")).expect(200)
    # Synapse always lists signed_curve25519 (clients rely on it), so do we.
    assert r.body["one_time_key_counts"] == {"curve25519": 2, "signed_curve25519": 0}
    r = upload(u.api(api.prefix), one_time_keys=d.otks(3)).expect(200)
    assert r.body["one_time_key_counts"] == {"curve25519": 2, "signed_curve25519": 3}
    r = upload(u.api(api.prefix)).expect(200)
    assert r.body["one_time_key_counts"] == {"curve25519": 2, "signed_curve25519": 3}


def test_counts_are_per_device(server):
    u = server.api("r0").register()
    u2 = server.api("r0").login(u)
    upload(u.api(), one_time_keys=Device(u).otks(4)).expect(200)
    r = upload(u2.api(), one_time_keys=Device(u2).otks(1)).expect(200)
    assert r.body["one_time_key_counts"]["signed_curve25519"] == 1
    assert otk_counts(sync_ok(u.api(), set_presence=OFF))["signed_curve25519"] == 4
    assert otk_counts(sync_ok(u2.api(), set_presence=OFF))["signed_curve25519"] == 1


@pytest.mark.parametrize("field,value", [
    ("user_id", "@someone:hearth.test"),
    ("device_id", "OTHERDEVICE"),
])
def test_device_keys_must_name_this_device(server, api, field, value):
    u = api.register()
    d = Device(u)
    keys = d.device_keys(**{field: value})  # signed, but for the wrong owner
    upload(u.api(api.prefix), keys).expect(400, "M_INVALID_PARAM")
    assert query(u.api(api.prefix), [u.user_id]).expect(200).body["device_keys"][u.user_id] == {}


def test_device_keys_bad_signature(server, api):
    u = api.register()
    d = Device(u)
    keys = d.device_keys()
    # Changed after signing: the signature no longer holds.
    keys["algorithms"] = ["m.olm.v1.curve25519-aes-sha2"]
    upload(u.api(api.prefix), keys).expect(400, "M_INVALID_PARAM")
    # Signed by a key other than the one it publishes.
    keys = Device(u).device_keys()
    keys["keys"]["ed25519:" + u.device_id] = d.ed25519
    upload(u.api(api.prefix), keys).expect(400, "M_INVALID_PARAM")
    # A garbled signature.
    keys = d.device_keys()
    keys["signatures"][u.user_id]["ed25519:" + u.device_id] = "AAAA"
    upload(u.api(api.prefix), keys).expect(400, "M_INVALID_PARAM")
    # Signed under another user's name.
    keys = d.device_keys()
    keys["signatures"] = {"@other:hearth.test": keys["signatures"][u.user_id]}
    upload(u.api(api.prefix), keys).expect(400, "M_INVALID_PARAM")
    assert query(u.api(api.prefix), [u.user_id]).expect(200).body["device_keys"][u.user_id] == {}


def test_device_keys_need_their_ed25519_key(server):
    u = server.api("r0").register()
    d = Device(u)
    keys = d.device_keys(keys={"curve25519:" + u.device_id: d.curve25519})
    upload(u.api(), keys).expect(400, "M_INVALID_PARAM")
    keys = d.device_keys(keys={"ed25519:" + u.device_id: "not base64!"})
    upload(u.api(), keys).expect(400, "M_INVALID_PARAM")


@pytest.mark.parametrize("mutate", [
    lambda k: k.pop("signatures"),
    lambda k: k.pop("algorithms"),
    lambda k: k.pop("keys"),
    lambda k: k.pop("user_id"),
    lambda k: k.__setitem__("algorithms", "m.megolm.v1.aes-sha2"),
    lambda k: k.__setitem__("algorithms", [1]),
    lambda k: k.__setitem__("keys", {"ed25519:X": 5}),
    lambda k: k.__setitem__("signatures", {"@a:b": "sig"}),
])
def test_device_keys_malformed(server, mutate):
    u = server.api("r0").register()
    keys = Device(u).device_keys()
    mutate(keys)
    upload(u.api(), keys).expect(400, "M_BAD_JSON")


def test_device_keys_not_an_object(server):
    u = server.api("r0").register()
    upload(u.api(), ["x"]).expect(400, "M_BAD_JSON")
    upload(u.api(), one_time_keys=["x"]).expect(400, "M_BAD_JSON")


def test_unsigned_of_the_upload_is_not_kept(server):
    u = server.api("r0").register()
    d = Device(u)
    keys = d.device_keys()
    keys["unsigned"] = {"device_display_name": "forged", "x": 1}
    upload(u.api(), keys).expect(200)
    got = query(u.api(), [u.user_id]).expect(200).body["device_keys"][u.user_id][u.device_id]
    assert "x" not in got["unsigned"] and got["unsigned"].get("device_display_name") != "forged"


def test_device_keys_reupload_replaces(server):
    u, d = with_keys(server)
    d.curve25519 = "B" * 43
    new = d.device_keys()
    upload(u.api(), new).expect(200)
    got = query(u.api(), [u.user_id]).expect(200).body["device_keys"][u.user_id][u.device_id]
    got.pop("unsigned")
    assert got == new


def test_otk_same_again_is_accepted(server):
    u = server.api("r0").register()
    d = Device(u)
    keys = d.otks(3)
    upload(u.api(), one_time_keys=keys).expect(200)
    r = upload(u.api(), one_time_keys=deep(keys)).expect(200)
    assert r.body["one_time_key_counts"]["signed_curve25519"] == 3


def test_otk_other_content_under_an_existing_id_is_refused(server, api):
    u = api.register()
    d = Device(u)
    keys = d.otks(2)
    upload(u.api(api.prefix), one_time_keys=keys).expect(200)
    name = sorted(keys)[0]
    changed = dict(d.otks(1))  # one new key, plus the old ID with new content
    changed[name] = d.sign({"key": "C" * 43})
    upload(u.api(api.prefix), one_time_keys=changed).expect(400, "M_INVALID_PARAM")
    # Nothing of the refused upload was stored, and the old key is intact.
    r = upload(u.api(api.prefix)).expect(200)
    assert r.body["one_time_key_counts"]["signed_curve25519"] == 2
    other = api.register()
    got = {}
    for _ in range(2):
        c = claim(other.api(api.prefix), {u.user_id: {u.device_id: "signed_curve25519"}}).expect(200)
        got.update(c.body["one_time_keys"][u.user_id][u.device_id])
    assert got == keys


@pytest.mark.parametrize("name", ["signed_curve25519", ":AAAA", "signed_curve25519:", "x" * 300 + ":A"])
def test_otk_bad_names(server, name):
    u = server.api("r0").register()
    upload(u.api(), one_time_keys={name: "key"}).expect(400, "M_INVALID_PARAM")


@pytest.mark.parametrize("value", [5, None, ["k"], True])
def test_otk_bad_values(server, value):
    u = server.api("r0").register()
    upload(u.api(), one_time_keys={"curve25519:AAAA": value}).expect(400, "M_BAD_JSON")


def test_keys_need_auth(server, api):
    upload(api, {}).expect(401, "M_MISSING_TOKEN")
    query(api, []).expect(401, "M_MISSING_TOKEN")
    claim(api, {}).expect(401, "M_MISSING_TOKEN")
    api.get("/keys/changes", params={"from": "s0", "to": "s0"}).expect(401, "M_MISSING_TOKEN")


# ---- query ----

def test_query_listed_devices_and_display_name(server, api):
    u = api.register()
    u2 = api.login(u)
    d1, d2 = Device(u), Device(u2)
    upload(u.api(), d1.device_keys()).expect(200)
    upload(u2.api(), d2.device_keys()).expect(200)
    u.api().put("/devices/%s" % quote(u2.device_id), {"display_name": "Phone"}).expect(200)
    viewer = api.register()
    r = query(viewer.api(api.prefix), {u.user_id: [u2.device_id, "NOSUCHDEVICE"]}).expect(200)
    assert list(r.body["device_keys"][u.user_id]) == [u2.device_id]
    # SPEC: unsigned.device_display_name: "The display name which the user set on the device".
    assert r.body["device_keys"][u.user_id][u2.device_id]["unsigned"] == {"device_display_name": "Phone"}
    r = query(viewer.api(api.prefix), [u.user_id]).expect(200)
    assert set(r.body["device_keys"][u.user_id]) == {u.device_id, u2.device_id}


def test_query_unknown_and_remote_users(server, api):
    u = api.register()
    r = query(u.api(api.prefix), ["@nobody-here:" + server.server_name, "@bob:elsewhere.example"],
              timeout=1000, token="s0").expect(200)
    # SPEC: an unknown user is missing from device_keys (an empty map, as Synapse); an
    # unreachable server is recorded in failures (no federation here).
    assert r.body["device_keys"].get("@nobody-here:" + server.server_name, {}) == {}
    assert "@bob:elsewhere.example" not in r.body["device_keys"]
    assert "elsewhere.example" in r.body["failures"]


def test_query_device_without_keys_is_left_out(server):
    u = server.api("r0").register()
    r = query(u.api(), [u.user_id]).expect(200)
    assert r.body["device_keys"][u.user_id] == {}


@pytest.mark.parametrize("body,errcode", [
    ({}, "M_MISSING_PARAM"),
    ({"device_keys": []}, "M_BAD_JSON"),
    ({"device_keys": {"@a:hearth.test": "DEV"}}, "M_BAD_JSON"),
    ({"device_keys": {"@a:hearth.test": [1]}}, "M_BAD_JSON"),
    ({"device_keys": {"not-a-user": []}}, "M_INVALID_PARAM"),
    ({"device_keys": {}, "timeout": "10"}, "M_BAD_JSON"),
    ({"device_keys": {}, "token": 5}, "M_BAD_JSON"),
])
def test_query_errors(server, body, errcode):
    u = server.api("r0").register()
    u.api().post("/keys/query", body).expect(400, errcode)


# ---- claim ----

def test_claim_hands_out_each_key_once(server, api):
    u, d = with_keys(server, 0)
    keys = d.otks(3)
    upload(u.api(), one_time_keys=keys).expect(200)
    c = api.register()
    got = {}
    for left in (2, 1, 0):
        r = claim(c.api(api.prefix), {u.user_id: {u.device_id: "signed_curve25519"}}).expect(200)
        one = r.body["one_time_keys"][u.user_id][u.device_id]
        assert len(one) == 1
        name, key = next(iter(one.items()))
        assert name not in got and keys[name] == key
        got[name] = key
        # The count goes down with every claim (SPEC: discard it once given out).
        assert otk_counts(sync_ok(u.api(), set_presence=OFF))["signed_curve25519"] == left
    assert got == keys
    r = claim(c.api(api.prefix), {u.user_id: {u.device_id: "signed_curve25519"}}).expect(200)
    assert r.body["one_time_keys"].get(u.user_id, {}).get(u.device_id, {}) == {}
    assert r.body["failures"] == {}


def test_claim_by_algorithm_and_device(server):
    u = server.api("r0").register()
    u2 = server.api("r0").login(u)
    upload(u.api(), one_time_keys=Device(u).otks(1, "curve25519")).expect(200)
    upload(u2.api(), one_time_keys=Device(u2).otks(1)).expect(200)
    c = server.api("r0").register()
    r = claim(c.api(), {u.user_id: {u.device_id: "signed_curve25519", u2.device_id: "signed_curve25519"},
                        "@x:remote.example": {"D": "signed_curve25519"}}).expect(200)
    got = r.body["one_time_keys"][u.user_id]
    assert u.device_id not in got or got[u.device_id] == {}  # it has only curve25519 keys
    assert len(got[u2.device_id]) == 1
    assert "remote.example" in r.body["failures"]
    r = claim(c.api(), {u.user_id: {u.device_id: "curve25519", "NOSUCH": "curve25519"}}).expect(200)
    assert list(r.body["one_time_keys"][u.user_id]) == [u.device_id]
    name, key = next(iter(r.body["one_time_keys"][u.user_id][u.device_id].items()))
    assert name.startswith("curve25519:") and isinstance(key, str)


@pytest.mark.parametrize("body,errcode", [
    ({}, "M_MISSING_PARAM"),
    ({"one_time_keys": []}, "M_BAD_JSON"),
    ({"one_time_keys": {"@a:hearth.test": ["D"]}}, "M_BAD_JSON"),
    ({"one_time_keys": {"@a:hearth.test": {"D": 1}}}, "M_BAD_JSON"),
    ({"one_time_keys": {"bad": {"D": "signed_curve25519"}}}, "M_INVALID_PARAM"),
    ({"one_time_keys": {}, "timeout": 1.5}, "M_BAD_JSON"),
])
def test_claim_errors(server, body, errcode):
    u = server.api("r0").register()
    u.api().post("/keys/claim", body).expect(400, errcode)


def test_concurrent_claims_never_share_a_key(server):
    pool = 60
    claimers = 90
    u = server.api("r0").register()
    d = Device(u)
    keys = {}
    for _ in range(3):
        batch = d.otks(pool // 3)
        keys.update(batch)
        upload(u.api(), one_time_keys=batch).expect(200)
    c = server.api("r0").register()
    results = []
    lock = threading.Lock()
    start = threading.Barrier(claimers)

    def one():
        api = own_session(c.api())
        start.wait()
        r = claim(api, {u.user_id: {u.device_id: "signed_curve25519"}}).expect(200)
        with lock:
            results.append(r.body["one_time_keys"].get(u.user_id, {}).get(u.device_id, {}))

    threads = [threading.Thread(target=one) for _ in range(claimers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == claimers
    got = [name for res in results for name in res]
    assert len(got) == len(set(got)) == pool, "a key was handed out twice or lost"
    assert set(got) == set(keys)
    assert sum(1 for res in results if not res) == claimers - pool
    assert otk_counts(sync_ok(u.api(), set_presence=OFF))["signed_curve25519"] == 0


# ---- device deletion and logout ----

def test_deleted_device_loses_its_keys(server, api):
    u = api.register()
    u2 = api.login(u)
    d2 = Device(u2)
    upload(u2.api(), d2.device_keys(), d2.otks(2)).expect(200)
    r = api.as_user(u).uia("DELETE", "/devices/%s" % quote(u2.device_id), {}, u)
    r.expect(200)
    c = api.register()
    assert u2.device_id not in query(c.api(), [u.user_id]).expect(200).body["device_keys"][u.user_id]
    r = claim(c.api(), {u.user_id: {u2.device_id: "signed_curve25519"}}).expect(200)
    assert r.body["one_time_keys"].get(u.user_id, {}).get(u2.device_id, {}) == {}


def test_logout_removes_keys_and_relogin_starts_clean(server):
    u = server.api("r0").register()
    d = Device(u)
    upload(u.api(), d.device_keys(), d.otks(2)).expect(200)
    u.api().post("/logout", {}).expect(200)
    again = server.api("r0").login(u, device_id=u.device_id)
    assert again.device_id == u.device_id
    assert query(again.api(), [u.user_id]).expect(200).body["device_keys"][u.user_id] == {}
    assert otk_counts(sync_ok(again.api(), set_presence=OFF)) == {"signed_curve25519": 0}


def test_deactivation_removes_keys(server):
    u = server.api("r0").register()
    d = Device(u)
    upload(u.api(), d.device_keys(), d.otks(2)).expect(200)
    viewer = server.api("r0").register()
    server.api("r0").as_user(u).uia("POST", "/account/deactivate", {}, u).expect(200)
    assert query(viewer.api(), [u.user_id]).expect(200).body["device_keys"].get(u.user_id, {}) == {}
    r = claim(viewer.api(), {u.user_id: {u.device_id: "signed_curve25519"}}).expect(200)
    assert r.body["one_time_keys"].get(u.user_id, {}) == {}


# ---- /sync: device_one_time_keys_count, device_lists ----

def test_sync_counts_and_initial_device_lists(server, api):
    u = api.register()
    body = sync_ok(u.api(api.prefix), set_presence=OFF)
    assert otk_counts(body) == {"signed_curve25519": 0}
    # SPEC: device_lists is only populated on an incremental sync.
    assert device_lists(body) == (set(), set())
    upload(u.api(), one_time_keys=Device(u).otks(7)).expect(200)
    body = next_sync(u, body["next_batch"], api.prefix)
    assert otk_counts(body) == {"signed_curve25519": 7}


def test_key_upload_of_a_room_member_is_a_change(server, api):
    a, b, room = pair_in_room(server)
    since = since_of(a, api.prefix)
    db = Device(b)
    upload(b.api(), db.device_keys()).expect(200)
    changed, left = device_lists(next_sync(a, since, api.prefix))
    assert b.user_id in changed and not left
    # The same keys again change nothing.
    since = since_of(a)
    upload(b.api(), deep(db.device_keys())).expect(200)
    assert b.user_id not in device_lists(next_sync(a, since))[0]
    # One-time keys alone are not a device-list change.
    upload(b.api(), one_time_keys=db.otks(3)).expect(200)
    assert b.user_id not in device_lists(next_sync(a, since))[0]


def test_change_wakes_a_long_poll(server):
    a, b, room = pair_in_room(server)
    since = since_of(a)
    bg = Background(lambda: sync(own_session(a.api()), since=since, timeout=20000,
                                 set_presence=OFF).expect(200).body)
    upload(b.api(), Device(b).device_keys()).expect(200)
    body, elapsed = bg.result(60)
    assert b.user_id in device_lists(body)[0]
    assert elapsed < 15, "the long-poll was not woken by the device-list change"


def test_new_device_deleted_device_and_rename_are_changes(server):
    a, b, room = pair_in_room(server)
    since = since_of(a)
    b2 = server.api("r0").login(b)
    assert b.user_id in device_lists(next_sync(a, since))[0]
    since = since_of(a)
    b2.api().put("/devices/%s" % quote(b2.device_id), {"display_name": "Laptop"}).expect(200)
    assert b.user_id in device_lists(next_sync(a, since))[0]
    since = since_of(a)
    server.api("r0").as_user(b).uia("DELETE", "/devices/%s" % quote(b2.device_id), {}, b).expect(200)
    assert b.user_id in device_lists(next_sync(a, since))[0]
    since = since_of(a)
    b3 = server.api("r0").login(b)
    since = since_of(a)
    b3.api().post("/logout", {}).expect(200)
    assert b.user_id in device_lists(next_sync(a, since))[0]


def test_own_new_device_is_a_change(server):
    a = server.api("r0").register()
    since = since_of(a)
    a2 = server.api("r0").login(a)
    upload(a2.api(), Device(a2).device_keys()).expect(200)
    assert a.user_id in device_lists(next_sync(a, since))[0]


def test_strangers_are_not_listed(server):
    a = server.api("r0").register()
    since = since_of(a)
    s = server.api("r0").register()
    upload(s.api(), Device(s).device_keys()).expect(200)
    server.api("r0").login(s)
    body = next_sync(a, since)
    assert s.user_id not in device_lists(body)[0]


def test_join_and_leave_of_others(server, api):
    a, b, room = pair_in_room(server)
    c = server.api("r0").register()
    since = since_of(a, api.prefix)
    join(c.api(), room).expect(200)
    changed, left = device_lists(next_sync(a, since, api.prefix))
    # SPEC: users who now share a room with the client are in changed.
    assert c.user_id in changed and b.user_id not in changed
    since = since_of(a, api.prefix)
    leave(c.api(), room).expect(200)
    changed, left = device_lists(next_sync(a, since, api.prefix))
    # SPEC: left: "users with whom we do not share any ... rooms anymore".
    assert c.user_id in left and c.user_id not in changed


def test_leaving_one_of_two_shared_rooms_is_not_left(server):
    a, b, room = pair_in_room(server)
    room2 = create_room(a.api(), preset="public_chat")
    join(b.api(), room2).expect(200)
    since = since_of(a)
    leave(b.api(), room2).expect(200)
    assert b.user_id not in device_lists(next_sync(a, since))[1]


def test_joining_a_room_lists_its_members(server):
    a = server.api("r0").register()
    d = server.api("r0").register()
    e = server.api("r0").register()
    room = create_room(d.api(), preset="public_chat")
    join(e.api(), room).expect(200)
    since = since_of(a)
    join(a.api(), room).expect(200)
    changed, left = device_lists(next_sync(a, since))
    assert {d.user_id, e.user_id} <= changed
    since = since_of(a)
    leave(a.api(), room).expect(200)
    changed, left = device_lists(next_sync(a, since))
    assert {d.user_id, e.user_id} <= left


def test_profile_change_is_not_a_join(server):
    a, b, room = pair_in_room(server)
    since = since_of(a)
    b.api().put("/profile/%s/displayname" % quote(b.user_id), {"displayname": "B!"}).expect(200)
    body = next_sync(a, since)
    assert b.user_id not in device_lists(body)[0]


def test_invite_alone_is_not_sharing(server):
    a = server.api("r0").register()
    x = server.api("r0").register()
    room = create_room(a.api(), preset="private_chat")
    since = since_of(a)
    invite(a.api(), room, x.user_id).expect(200)
    upload(x.api(), Device(x).device_keys()).expect(200)
    changed, left = device_lists(next_sync(a, since))
    assert x.user_id not in changed


# ---- /keys/changes ----

def test_keys_changes_between_tokens(server, api):
    a, b, room = pair_in_room(server)
    c = server.api("r0").register()
    join(c.api(), room).expect(200)
    t0 = since_of(a, api.prefix)
    upload(b.api(), Device(b).device_keys()).expect(200)
    t1 = since_of(a, api.prefix)
    leave(c.api(), room).expect(200)
    t2 = since_of(a, api.prefix)
    r = changes(a.api(api.prefix), t0, t1).expect(200)
    assert b.user_id in r.body["changed"] and r.body["left"] == []
    r = changes(a.api(api.prefix), t1, t2).expect(200)
    assert b.user_id not in r.body["changed"] and c.user_id in r.body["left"]
    r = changes(a.api(api.prefix), t0, t2).expect(200)
    assert b.user_id in r.body["changed"] and c.user_id in r.body["left"]
    r = changes(a.api(api.prefix), t2, t2).expect(200)
    assert r.body == {"changed": [], "left": []}


def test_keys_changes_errors(server, api):
    u = api.register()
    t = since_of(u)
    u.api(api.prefix).get("/keys/changes", params={"from": t}).expect(400, "M_MISSING_PARAM")
    u.api(api.prefix).get("/keys/changes", params={"to": t}).expect(400, "M_MISSING_PARAM")
    u.api(api.prefix).get("/keys/changes", params={"from": "bogus", "to": t}).expect(400, "M_INVALID_PARAM")
    u.api(api.prefix).get("/keys/changes", params={"from": t, "to": "s-1"}).expect(400, "M_INVALID_PARAM")


def test_guests(server):
    r = server.api("r0").post("/register", {}, params={"kind": "guest"}).expect(200)
    g = server.api("r0").with_token(r.body["access_token"])

    class G:
        user_id = r.body["user_id"]
        device_id = r.body["device_id"]

    # SPEC: guest_access.rst lets guests upload, query and claim keys; /keys/changes is not
    # among the endpoints it lists.
    upload(g, Device(G).device_keys()).expect(200)
    query(g, [G.user_id]).expect(200)
    claim(g, {G.user_id: {G.device_id: "signed_curve25519"}}).expect(200)
    g.get("/keys/changes", params={"from": "s0", "to": "s0"}).expect(403, "M_GUEST_ACCESS_FORBIDDEN")


def test_canonical_helper_matches_the_spec_example():
    # The signing helper's canonical JSON (appendices/signing_json.rst example).
    assert canonical({"b": "2", "a": "1"}) == b'{"a":"1","b":"2"}'
    assert canonical({"a": "\u65e5"}) == '{"a":"\u65e5"}'.encode("utf-8")
