"""Third-party invites (third_party_membership.yaml, modules/third_party_invites.rst; the
third_party_signed join of joining.yaml; create_room.yaml invite_3pid) against an identity
server on 127.0.0.1 (threepid_lib.IdentityServer): hashed v2 lookup, store-invite, signed
invitations, key validity, and the identity server's onbind call when the invitee binds the
address (server_server_api "3PID invites"; Hearth answers it for its own users)."""

import pytest
import requests

import harness
import roomlib as rl
import threepid_lib as tl
from harness import quote


@pytest.fixture(scope="module")
def idsrv():
    s = tl.IdentityServer().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def tp_server(module_server_factory, idsrv):
    srv = tl.start_server(module_server_factory, {})
    idsrv.trust_homeserver(srv)
    return srv


def invite_body(idsrv, address, **extra):
    body = {"id_server": idsrv.name, "id_access_token": idsrv.token, "medium": "email", "address": address}
    body.update(extra)
    return body


def invite_3pid(api, room_id, body):
    return api.post("/rooms/%s/invite" % quote(room_id), body)


def bind(api, idsrv, address):
    sid, secret = idsrv.add_session("email", address)
    api.post("/account/3pid/bind", {"sid": sid, "client_secret": secret, "id_server": idsrv.name,
                                    "id_access_token": idsrv.token}).expect(200)


def test_invite_bound_address(tp_server, idsrv, prefix):
    api = tp_server.api(prefix)
    alice, bob = api.register(), api.register()
    address = tl.unique_email("bob")
    bind(api.as_user(bob), idsrv, address)
    room = rl.create_room(api.as_user(alice))
    # SPEC: "If the identity server did know the Matrix user identifier for the third party
    # identifier, the homeserver will append a m.room.member event to the room."
    invite_3pid(api.as_user(alice), room, invite_body(idsrv, address.upper())).expect(200)
    assert rl.membership(api.as_user(alice), room, bob.user_id) == "invite"
    # The lookup was hashed (sha256 with the server's pepper), authorised by the access token.
    call = idsrv.calls("/_matrix/identity/v2/lookup")[-1]
    assert b'"algorithm":"sha256"' in call["body"].replace(b" ", b"")
    assert call["headers"]["Authorization"] == "Bearer " + idsrv.token
    rl.join(api.as_user(bob), room).expect(200)


def test_invite_bound_address_plain_lookup(tp_server, idsrv):
    # An identity server that only offers algorithm "none".
    api = tp_server.api()
    alice, bob = api.register(), api.register()
    address = tl.unique_email("plain")
    bind(api.as_user(bob), idsrv, address)
    room = rl.create_room(api.as_user(alice))
    idsrv.algorithms = ["none"]
    try:
        invite_3pid(api.as_user(alice), room, invite_body(idsrv, address)).expect(200)
    finally:
        idsrv.algorithms = ["none", "sha256"]
    assert rl.membership(api.as_user(alice), room, bob.user_id) == "invite"


def test_invite_unbound_address_then_bind(tp_server, idsrv, prefix):
    api = tp_server.api(prefix)
    alice, carol = api.register(), api.register()
    a = api.as_user(alice)
    room = rl.create_room(a, name="Tea party")
    address = tl.unique_email("carol")
    invite_3pid(a, room, invite_body(idsrv, address)).expect(200)
    # The identity server was asked to store the invite, with the room's details.
    stored = [i for i in idsrv.invites if i["address"] == address]
    assert len(stored) == 1
    inv = stored[0]
    assert inv["room_id"] == room and inv["sender"] == alice.user_id and inv["room_name"] == "Tea party"
    assert inv["room_join_rules"] == "invite"
    # SPEC: "the homeserver must ... emit a valid m.room.third_party_invite event to the room".
    tpi = rl.state_content(a, room, "m.room.third_party_invite", inv["token"])
    # SPEC: "the third party identifier is not put in any event, rather an opaque display name".
    assert tpi["display_name"] and address not in tpi["display_name"]
    assert tpi["public_key"] == idsrv.public_key
    assert tpi["key_validity_url"].endswith("/_matrix/identity/v2/pubkey/isvalid")
    assert [k["public_key"] for k in tpi["public_keys"]] == [idsrv.public_key, idsrv.ephemeral_public]
    # Carol binds the address: the identity server tells this server (onbind), which turns the
    # third-party invite into an invite of carol, carrying the signed proof.
    bind(api.as_user(carol), idsrv, address)
    assert idsrv.onbind_status == 200
    member = rl.state_content(a, room, "m.room.member", carol.user_id)
    assert member["membership"] == "invite"
    assert member["third_party_invite"]["signed"]["token"] == inv["token"]
    assert member["third_party_invite"]["display_name"] == tpi["display_name"]
    rl.join(api.as_user(carol), room).expect(200)


def unbound_invite(api, idsrv, inviter):
    room = rl.create_room(api.as_user(inviter))
    address = tl.unique_email("dave")
    invite_3pid(api.as_user(inviter), room, invite_body(idsrv, address)).expect(200)
    inv = [i for i in idsrv.invites if i["address"] == address][0]
    idsrv.invites.remove(inv)  # handled by hand below, not by onbind
    return room, inv


def test_join_with_third_party_signed(tp_server, idsrv, prefix):
    api = tp_server.api(prefix)
    alice, dave = api.register(), api.register()
    room, inv = unbound_invite(api, idsrv, alice)
    signed = idsrv.signed_invite(inv, dave.user_id)
    # SPEC: joining.yaml "If a third_party_signed was supplied, the homeserver must verify that it
    # matches a pending m.room.third_party_invite event in the room, and perform key validity
    # checking if required by the event."
    r = api.as_user(dave).post("/rooms/%s/join" % quote(room), {"third_party_signed": signed}).expect(200)
    assert r.body["room_id"] == room
    assert rl.membership(api.as_user(alice), room, dave.user_id) == "join"
    assert idsrv.calls("/_matrix/identity/v2/pubkey/isvalid")


def test_third_party_signed_errors(tp_server, idsrv):
    api = tp_server.api()
    alice, dave, eve = api.register(), api.register(), api.register()
    room, inv = unbound_invite(api, idsrv, alice)
    d = api.as_user(dave)
    path = "/rooms/%s/join" % quote(room)
    good = idsrv.signed_invite(inv, dave.user_id)
    # Malformed.
    d.post(path, {"third_party_signed": "x"}).expect(400, "M_BAD_JSON")
    d.post(path, {"third_party_signed": {k: v for k, v in good.items() if k != "signatures"}}).expect(400, "M_BAD_JSON")
    # For someone else (auth rules 5.c.i.4: mxid must be the invitee).
    d.post(path, {"third_party_signed": idsrv.signed_invite(inv, eve.user_id)}).expect(403, "M_FORBIDDEN")
    # Signature does not verify (changed after signing).
    d.post(path, {"third_party_signed": dict(good, token=good["token"] + "x")}).expect(403, "M_FORBIDDEN")
    bad = dict(good, signatures={idsrv.name: {"ed25519:0": "A" * 86}})
    d.post(path, {"third_party_signed": bad}).expect(403, "M_FORBIDDEN")
    # Wrong inviter named.
    d.post(path, {"third_party_signed": dict(good, sender=eve.user_id)}).expect(403, "M_FORBIDDEN")
    # The key was revoked (key_validity_url answers valid: false).
    idsrv.revoked.update({idsrv.public_key, idsrv.ephemeral_public})
    try:
        d.post(path, {"third_party_signed": good}).expect(403, "M_FORBIDDEN")
    finally:
        idsrv.revoked.clear()
    assert rl.membership(api.as_user(alice), room, dave.user_id) is None
    d.post(path, {"third_party_signed": good}).expect(200)


def test_invite_by_email_errors(tp_server, idsrv):
    api = tp_server.api()
    alice, outsider = api.register(), api.register()
    a = api.as_user(alice)
    room = rl.create_room(a)
    full = invite_body(idsrv, tl.unique_email())
    for key in full:
        invite_3pid(a, room, {k: v for k, v in full.items() if k != key}).expect(400, "M_MISSING_PARAM")
    invite_3pid(a, room, dict(full, medium=5)).expect(400, "M_BAD_JSON")
    invite_3pid(a, room, dict(full, address="not-an-address")).expect(400, "M_INVALID_PARAM")
    invite_3pid(a, room, dict(full, id_server="evil.example/x")).expect(400, "M_SERVER_NOT_TRUSTED")
    # The identity server refuses the access token: proxied.
    invite_3pid(a, room, dict(full, id_access_token="bad")).expect(401, "M_UNAUTHORIZED")
    # Nobody listens there.
    invite_3pid(a, room, dict(full, id_server="127.0.0.1:%d" % harness.free_port())).expect(502, "M_UNKNOWN")
    # Only members invite; unknown rooms are 404 (or 403), before the identity server is asked.
    n = len(idsrv.calls("/_matrix/identity/v2/hash_details"))
    invite_3pid(api.as_user(outsider), room, full).expect(403, "M_FORBIDDEN")
    invite_3pid(a, "!nope:" + harness.SERVER_NAME, full).expect((403, 404), ("M_FORBIDDEN", "M_NOT_FOUND"))
    assert len(idsrv.calls("/_matrix/identity/v2/hash_details")) == n


def test_invite_by_email_needs_invite_power(tp_server, idsrv):
    api = tp_server.api()
    alice, bob = api.register(), api.register()
    a = api.as_user(alice)
    room = rl.create_room(a, preset="public_chat", power_level_content_override={"invite": 50})
    rl.join(api.as_user(bob), room).expect(200)
    address = tl.unique_email()
    invite_3pid(api.as_user(bob), room, invite_body(idsrv, address)).expect(403, "M_FORBIDDEN")
    assert not [i for i in idsrv.invites if i["address"] == address]
    invite_3pid(a, room, invite_body(idsrv, address)).expect(200)


def test_create_room_invite_3pid(tp_server, idsrv):
    api = tp_server.api()
    alice, bob = api.register(), api.register()
    bound = tl.unique_email("bound")
    bind(api.as_user(bob), idsrv, bound)
    unbound = tl.unique_email("unbound")
    a = api.as_user(alice)
    room = rl.create_room(a, invite_3pid=[invite_body(idsrv, bound), invite_body(idsrv, unbound)])
    assert rl.membership(a, room, bob.user_id) == "invite"
    inv = [i for i in idsrv.invites if i["address"] == unbound][0]
    assert rl.state_content(a, room, "m.room.third_party_invite", inv["token"])["public_key"] == idsrv.public_key
    # Bad entries are refused before the room is made.
    a.post("/createRoom", {"invite_3pid": [{"medium": "email"}]}).expect(400, "M_MISSING_PARAM")
    a.post("/createRoom", {"invite_3pid": ["x"]}).expect(400, "M_BAD_JSON")
    a.post("/createRoom", {"invite_3pid": [invite_body(idsrv, "x@example.org", id_server="a/b")]}).expect(
        400, "M_SERVER_NOT_TRUSTED")


def test_onbind_validation(tp_server):
    base = tp_server.base_url + "/_matrix/federation/v1/3pid/onbind"
    r = requests.put(base, json={"invites": []}, timeout=10)
    assert r.status_code == 400 and r.json()["errcode"] == "M_BAD_JSON"
    r = requests.put(base, json={"mxid": "@x:elsewhere.example", "invites": []}, timeout=10)
    assert r.status_code == 400 and r.json()["errcode"] == "M_INVALID_PARAM"
    # Invitations that do not verify are skipped, not trusted.
    user = tp_server.api().register()
    room = rl.create_room(tp_server.api().as_user(user))
    bogus = {"room_id": room, "sender": user.user_id,
             "signed": {"mxid": "@victim:" + harness.SERVER_NAME, "token": "t", "signatures": {}}}
    r = requests.put(base, json={"mxid": "@victim:" + harness.SERVER_NAME, "invites": [bogus]}, timeout=10)
    assert r.status_code == 200
    assert rl.membership(tp_server.api().as_user(user), room, "@victim:" + harness.SERVER_NAME) is None
