"""cross_signing.yaml and modules/end_to_end_encryption.md "Cross-signing" (Matrix v1.1):
POST /keys/device_signing/upload (user-interactive auth; the self-signing and user-signing keys
must be signed by the master key), POST /keys/signatures/upload (every signature checked, failures
reported per key), the keys and signatures in /keys/query (user-signing keys only for their
owner), and the device-list changes they cause."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from e2e_lib import Device, b64, canonical, deep, device_lists, query, upload
from roomlib import create_room, join
from synclib import sync_ok

OFF = "offline"


class Key:
    """An ed25519 cross-signing key pair."""

    def __init__(self):
        self.priv = Ed25519PrivateKey.generate()
        self.pub = b64(self.priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
        self.key_id = "ed25519:" + self.pub

    def sign(self, obj, user_id):
        to_sign = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
        sig = b64(self.priv.sign(canonical(to_sign)))
        obj.setdefault("signatures", {}).setdefault(user_id, {})[self.key_id] = sig
        return obj


class CrossSigning:
    """A user's master, self-signing and user-signing keys, as a client makes them."""

    def __init__(self, user):
        self.user = user
        self.master, self.ssk, self.usk = Key(), Key(), Key()

    def key_obj(self, key, usage, signer=None):
        obj = {"user_id": self.user.user_id, "usage": [usage], "keys": {key.key_id: key.pub}}
        if signer is not None:
            signer.sign(obj, self.user.user_id)
        return obj

    def body(self):
        return {
            "master_key": self.key_obj(self.master, "master"),
            "self_signing_key": self.key_obj(self.ssk, "self_signing", self.master),
            "user_signing_key": self.key_obj(self.usk, "user_signing", self.master),
        }


def device_signing_upload(api, user, body):
    """Runs the upload through m.login.password UIA."""
    return api.uia("POST", "/keys/device_signing/upload", body, user)


def setup_user(server, prefix="r0"):
    """A user with device keys and all three cross-signing keys uploaded."""
    u = server.api(prefix).register()
    d = Device(u)
    upload(u.api(prefix), d.device_keys()).expect(200)
    xs = CrossSigning(u)
    device_signing_upload(u.api(prefix), u, xs.body()).expect(200)
    return u, d, xs


def sig_upload(api, body):
    return api.post("/keys/signatures/upload", body)


# ---- /keys/device_signing/upload ----

def test_upload_needs_user_interactive_auth(server, api):
    u = api.register()
    xs = CrossSigning(u)
    r = u.api(api.prefix).post("/keys/device_signing/upload", xs.body()).expect(401)
    # SPEC: "This API endpoint uses the User-Interactive Authentication API."
    assert ["m.login.password"] in [f["stages"] for f in r.body["flows"]]
    assert "session" in r.body
    # Nothing is stored before the authentication is complete.
    got = query(u.api(api.prefix), [u.user_id]).expect(200).body
    assert u.user_id not in got["master_keys"]


def test_upload_wrong_password(server, api):
    u = api.register()
    xs = CrossSigning(u)
    a = u.api(api.prefix)
    r = a.post("/keys/device_signing/upload", xs.body()).expect(401)
    body = xs.body()
    body["auth"] = a.password_auth(u, r.body["session"], password="wrong")
    r = a.post("/keys/device_signing/upload", body).expect(401)
    assert r.body["errcode"] == "M_FORBIDDEN"
    assert u.user_id not in query(a, [u.user_id]).expect(200).body["master_keys"]


def test_upload_then_query(server, api):
    u, d, xs = setup_user(server, api.prefix)
    body = xs.body()
    got = query(u.api(api.prefix), [u.user_id]).expect(200).body
    assert got["master_keys"][u.user_id] == body["master_key"]
    assert got["self_signing_keys"][u.user_id] == body["self_signing_key"]
    # SPEC: keys.yaml: user_signing_keys: "the user that made the request".
    assert got["user_signing_keys"][u.user_id] == body["user_signing_key"]
    other = server.api(api.prefix).register()
    got = query(other.api(api.prefix), [u.user_id]).expect(200).body
    assert got["master_keys"][u.user_id] == body["master_key"]
    assert got["self_signing_keys"][u.user_id] == body["self_signing_key"]
    assert u.user_id not in got["user_signing_keys"]


def test_self_signing_key_signed_by_stored_master(server, api):
    u, d, xs = setup_user(server, api.prefix)
    # SPEC: "or by the user's most recently uploaded master key if no master key is included".
    new_ssk = Key()
    body = {"self_signing_key": xs.key_obj(new_ssk, "self_signing", xs.master)}
    device_signing_upload(u.api(api.prefix), u, body).expect(200)
    got = query(u.api(api.prefix), [u.user_id]).expect(200).body
    assert got["self_signing_keys"][u.user_id]["keys"] == {new_ssk.key_id: new_ssk.pub}


@pytest.mark.parametrize("field,usage", [("self_signing_key", "self_signing"),
                                         ("user_signing_key", "user_signing")])
def test_subkey_with_bad_signature(server, field, usage):
    u = server.api("r0").register()
    xs = CrossSigning(u)
    body = xs.body()
    body[field] = xs.key_obj(Key(), usage, Key())  # signed by a key that is not the master
    r = device_signing_upload(u.api(), u, body)
    r.expect(400, "M_INVALID_SIGNATURE")
    body = xs.body()
    body[field]["usage"].append("extra")  # changed after signing
    device_signing_upload(u.api(), u, body).expect(400, "M_INVALID_SIGNATURE")
    got = query(u.api(), [u.user_id]).expect(200).body
    assert u.user_id not in got["master_keys"]


def test_subkey_without_master(server):
    u = server.api("r0").register()
    xs = CrossSigning(u)
    body = xs.body()
    del body["master_key"]
    # SPEC: 400 M_MISSING_PARAM "No master key is available".
    device_signing_upload(u.api(), u, body).expect(400, "M_MISSING_PARAM")


def test_new_master_needs_new_signatures(server):
    u, d, xs = setup_user(server)
    # A subkey signed by the old master, uploaded with a new master: refused.
    new = CrossSigning(u)
    body = {"master_key": new.key_obj(new.master, "master"),
            "self_signing_key": xs.key_obj(Key(), "self_signing", xs.master)}
    device_signing_upload(u.api(), u, body).expect(400, "M_INVALID_SIGNATURE")
    device_signing_upload(u.api(), u, new.body()).expect(200)
    got = query(u.api(), [u.user_id]).expect(200).body
    assert got["master_keys"][u.user_id]["keys"] == {new.master.key_id: new.master.pub}


@pytest.mark.parametrize("mutate,errcode", [
    (lambda b: b["master_key"].__setitem__("user_id", "@other:hearth.test"), "M_INVALID_PARAM"),
    (lambda b: b["master_key"].__setitem__("usage", ["self_signing"]), "M_INVALID_PARAM"),
    (lambda b: b["master_key"].__setitem__("usage", "master"), "M_BAD_JSON"),
    (lambda b: b["master_key"].__setitem__("keys", {}), "M_INVALID_PARAM"),
    (lambda b: b["master_key"]["keys"].__setitem__("ed25519:other", "other"), "M_INVALID_PARAM"),
    (lambda b: b["master_key"].__setitem__("keys", {"curve25519:abc": "abc"}), "M_INVALID_PARAM"),
    (lambda b: b["master_key"].pop("keys"), "M_BAD_JSON"),
    (lambda b: b["master_key"].pop("user_id"), "M_BAD_JSON"),
    (lambda b: b.__setitem__("master_key", "key"), "M_BAD_JSON"),
])
def test_malformed_keys(server, mutate, errcode):
    u = server.api("r0").register()
    body = CrossSigning(u).body()
    mutate(body)
    device_signing_upload(u.api(), u, body).expect(400, errcode)


def test_key_named_like_a_device_is_forbidden(server):
    u = server.api("r0").register()
    xs = CrossSigning(u)
    # A device whose ID is the master public key.
    server.api("r0").login(u, device_id=xs.master.pub)
    r = device_signing_upload(u.api(), u, xs.body())
    # SPEC: 403 "The public key of one of the keys is the same as one of the user's device IDs".
    r.expect(403, "M_FORBIDDEN")


def test_upload_is_a_device_list_change(server, api):
    a = server.api(api.prefix).register()
    b = server.api(api.prefix).register()
    room = create_room(a.api(api.prefix), preset="public_chat")
    join(b.api(api.prefix), room).expect(200)
    since = sync_ok(a.api(api.prefix), set_presence=OFF)["next_batch"]
    device_signing_upload(b.api(api.prefix), b, CrossSigning(b).body()).expect(200)
    body = sync_ok(a.api(api.prefix), since=since, set_presence=OFF)
    assert b.user_id in device_lists(body)[0]


# ---- /keys/signatures/upload ----

def test_self_signing_a_device(server, api):
    u, d, xs = setup_user(server, api.prefix)
    dk = d.device_keys()
    signed = xs.ssk.sign(deep(dk), u.user_id)
    r = sig_upload(u.api(api.prefix), {u.user_id: {u.device_id: signed}}).expect(200)
    assert r.body["failures"] == {}
    got = query(server.api(api.prefix).register().api(api.prefix), [u.user_id]).expect(200).body
    sigs = got["device_keys"][u.user_id][u.device_id]["signatures"][u.user_id]
    assert sigs[xs.ssk.key_id] == signed["signatures"][u.user_id][xs.ssk.key_id]
    assert sigs["ed25519:" + u.device_id] == dk["signatures"][u.user_id]["ed25519:" + u.device_id]


def test_device_signing_the_master_key(server):
    u, d, xs = setup_user(server)
    master = xs.body()["master_key"]
    d.sign(master)
    r = sig_upload(u.api(), {u.user_id: {xs.master.pub: master}}).expect(200)
    assert r.body["failures"] == {}
    got = query(server.api().register().api(), [u.user_id]).expect(200).body
    sigs = got["master_keys"][u.user_id]["signatures"][u.user_id]
    assert sigs["ed25519:" + u.device_id] == master["signatures"][u.user_id]["ed25519:" + u.device_id]


def test_user_signing_another_user(server, api):
    a, da, xa = setup_user(server, api.prefix)
    b, db, xb = setup_user(server, api.prefix)
    b_master = xb.body()["master_key"]
    signed = xa.usk.sign(deep(b_master), a.user_id)
    r = sig_upload(a.api(api.prefix), {b.user_id: {xb.master.pub: signed}}).expect(200)
    assert r.body["failures"] == {}
    # The signer sees the signature on b's master key...
    got = query(a.api(api.prefix), [b.user_id]).expect(200).body
    assert got["master_keys"][b.user_id]["signatures"][a.user_id][xa.usk.key_id] == \
        signed["signatures"][a.user_id][xa.usk.key_id]
    # ...a third user does not (Synapse: another user's verification is private to them).
    c = server.api(api.prefix).register()
    got = query(c.api(api.prefix), [b.user_id]).expect(200).body
    assert a.user_id not in got["master_keys"][b.user_id].get("signatures", {})


def test_bad_signatures_are_reported_per_key(server, api):
    a, da, xa = setup_user(server, api.prefix)
    b, db, xb = setup_user(server, api.prefix)
    good = xa.ssk.sign(da.device_keys(), a.user_id)
    bad_dev = Key().sign(deep(xb.body()["master_key"]), a.user_id)  # not a's user-signing key
    body = {
        a.user_id: {a.device_id: good, "NOSUCHDEVICE": deep(good)},
        b.user_id: {xb.master.pub: bad_dev, "notthemaster": deep(bad_dev)},
        "@someone:elsewhere.test": {"DEV": deep(good)},
    }
    r = sig_upload(a.api(api.prefix), body).expect(200)
    f = r.body["failures"]
    # SPEC: "If a signature was invalid, the errcode will be set to M_INVALID_SIGNATURE."
    assert f[b.user_id][xb.master.pub]["errcode"] == "M_INVALID_SIGNATURE"
    assert f[b.user_id]["notthemaster"]["errcode"]
    assert f[a.user_id]["NOSUCHDEVICE"]["errcode"]
    assert a.device_id not in f.get(a.user_id, {})
    assert "DEV" in f["@someone:elsewhere.test"]
    got = query(a.api(api.prefix), [a.user_id, b.user_id]).expect(200).body
    assert xa.ssk.key_id in got["device_keys"][a.user_id][a.device_id]["signatures"][a.user_id]
    assert a.user_id not in got["master_keys"][b.user_id].get("signatures", {})


def test_device_signature_must_be_by_self_signing_key(server):
    u, d, xs = setup_user(server)
    # Signed by the user-signing key instead: not a valid self-signature.
    signed = xs.usk.sign(d.device_keys(), u.user_id)
    r = sig_upload(u.api(), {u.user_id: {u.device_id: signed}}).expect(200)
    assert r.body["failures"][u.user_id][u.device_id]["errcode"] == "M_INVALID_SIGNATURE"
    # Signed by the self-signing key, but over different content than the stored keys.
    changed = d.device_keys(algorithms=["x"])
    xs.ssk.sign(changed, u.user_id)
    r = sig_upload(u.api(), {u.user_id: {u.device_id: changed}}).expect(200)
    assert r.body["failures"][u.user_id][u.device_id]["errcode"] == "M_INVALID_SIGNATURE"
    got = query(u.api(), [u.user_id]).expect(200).body
    assert set(got["device_keys"][u.user_id][u.device_id]["signatures"][u.user_id]) == \
        {"ed25519:" + u.device_id}


def test_signing_without_cross_signing_keys(server):
    u = server.api("r0").register()
    d = Device(u)
    upload(u.api(), d.device_keys()).expect(200)
    signed = Key().sign(d.device_keys(), u.user_id)
    r = sig_upload(u.api(), {u.user_id: {u.device_id: signed}}).expect(200)
    assert r.body["failures"][u.user_id][u.device_id]["errcode"] == "M_NOT_FOUND"


@pytest.mark.parametrize("body", [{"@a:hearth.test": "x"}, {"@a:hearth.test": {"K": 1}}])
def test_signatures_upload_malformed(server, body):
    u = server.api("r0").register()
    sig_upload(u.api(), body).expect(400, "M_BAD_JSON")


def test_signature_is_a_device_list_change(server, api):
    a = server.api(api.prefix).register()
    u, d, xs = setup_user(server, api.prefix)
    room = create_room(a.api(api.prefix), preset="public_chat")
    join(u.api(api.prefix), room).expect(200)
    since = sync_ok(a.api(api.prefix), set_presence=OFF)["next_batch"]
    signed = xs.ssk.sign(d.device_keys(), u.user_id)
    sig_upload(u.api(api.prefix), {u.user_id: {u.device_id: signed}}).expect(200)
    body = sync_ok(a.api(api.prefix), since=since, set_presence=OFF)
    assert u.user_id in device_lists(body)[0]


def test_requires_auth(server, api):
    api.post("/keys/signatures/upload", {}).expect(401, "M_MISSING_TOKEN")
    api.post("/keys/device_signing/upload", {}).expect(401, "M_MISSING_TOKEN")
