"""Helpers for the end-to-end encryption tests (keys.yaml, to_device.yaml): a device's keys,
signed as a client signs them (appendices/signing_json.rst: ed25519 over canonical JSON without
`signatures` and `unsigned`), and the key and to-device requests."""

import base64
import copy
import json
import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from harness import quote


def b64(data):
    """Unpadded standard base64 (Matrix's encoding)."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Device:
    """The keys of one logged-in device (user.user_id, user.device_id)."""

    def __init__(self, user):
        self.user = user
        self.user_id = user.user_id
        self.device_id = user.device_id
        self.signing = Ed25519PrivateKey.generate()
        self.ed25519 = b64(self.signing.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
        self.curve25519 = b64(secrets.token_bytes(32))
        self._otk = 0

    def sign(self, obj, user_id=None, key_name=None):
        """Adds this device's signature to obj (in place) and returns it."""
        to_sign = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
        sig = b64(self.signing.sign(canonical(to_sign)))
        obj.setdefault("signatures", {}).setdefault(user_id or self.user_id, {})[
            key_name or "ed25519:" + self.device_id] = sig
        return obj

    def device_keys(self, **override):
        keys = {
            "user_id": self.user_id,
            "device_id": self.device_id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {
                "curve25519:" + self.device_id: self.curve25519,
                "ed25519:" + self.device_id: self.ed25519,
            },
        }
        keys.update(override)
        return self.sign(keys)

    def otks(self, n, algorithm="signed_curve25519"):
        """n new one-time keys {"<algorithm>:<id>": key}; signed ones are KeyObjects."""
        out = {}
        for _ in range(n):
            self._otk += 1
            key_id = "AAAA%06d" % self._otk
            key = b64(secrets.token_bytes(32))
            if algorithm == "signed_curve25519":
                out["%s:%s" % (algorithm, key_id)] = self.sign({"key": key})
            else:
                out["%s:%s" % (algorithm, key_id)] = key
        return out


def upload(api, device_keys=None, one_time_keys=None, **extra):
    body = dict(extra)
    if device_keys is not None:
        body["device_keys"] = device_keys
    if one_time_keys is not None:
        body["one_time_keys"] = one_time_keys
    return api.post("/keys/upload", body)


def query(api, users, **extra):
    """users: {user_id: [device IDs]} or a list of user IDs (all devices)."""
    if not isinstance(users, dict):
        users = {u: [] for u in users}
    body = {"device_keys": users}
    body.update(extra)
    return api.post("/keys/query", body)


def claim(api, wanted, **extra):
    """wanted: {user_id: {device_id: algorithm}}."""
    body = {"one_time_keys": wanted}
    body.update(extra)
    return api.post("/keys/claim", body)


def changes(api, from_token, to_token):
    return api.get("/keys/changes", params={"from": from_token, "to": to_token})


def send_to_device(api, event_type, messages, txn_id=None):
    txn_id = txn_id or secrets.token_hex(8)
    return api.put("/sendToDevice/%s/%s" % (quote(event_type), quote(txn_id)), {"messages": messages})


def to_device_events(body):
    return (body.get("to_device") or {}).get("events") or []


def device_lists(body):
    dl = body.get("device_lists") or {}
    return set(dl.get("changed") or []), set(dl.get("left") or [])


def otk_counts(body):
    return body.get("device_one_time_keys_count") or {}


def deep(obj):
    return copy.deepcopy(obj)
