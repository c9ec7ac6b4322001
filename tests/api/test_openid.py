"""openid.yaml: POST /user/{userId}/openid/request_token, and the federation API's
GET /_matrix/federation/v1/openid/userinfo that integrations use to check such a token
(server_server_api "OpenID"): {"sub": user_id}, or 401 M_UNKNOWN_TOKEN."""

import pytest

from harness import SERVER_NAME, quote

USERINFO = "/_matrix/federation/v1/openid/userinfo"


def request_token(api, user_id, body=None):
    return api.post("/user/%s/openid/request_token" % quote(user_id), {} if body is None else body)


def userinfo(api, token):
    return api.with_token(None).get(USERINFO, params={"access_token": token} if token is not None else None)


def test_request_and_check_token(api):
    u = api.register()
    r = request_token(u.api(api.prefix), u.user_id).expect(200).body
    assert r["token_type"] == "Bearer"
    assert r["matrix_server_name"] == SERVER_NAME
    assert r["expires_in"] == 3600
    assert isinstance(r["access_token"], str) and len(r["access_token"]) >= 20
    assert userinfo(api, r["access_token"]).expect(200).body == {"sub": u.user_id}
    # Usable more than once until it expires.
    assert userinfo(api, r["access_token"]).expect(200).body == {"sub": u.user_id}


def test_tokens_are_distinct(api, shared_user):
    me = shared_user.api(api.prefix)
    t1 = request_token(me, shared_user.user_id).expect(200).body["access_token"]
    t2 = request_token(me, shared_user.user_id).expect(200).body["access_token"]
    assert t1 != t2
    assert userinfo(api, t1).expect(200).body == {"sub": shared_user.user_id}
    assert userinfo(api, t2).expect(200).body == {"sub": shared_user.user_id}


def test_openid_token_is_not_an_access_token(api, shared_user):
    # SPEC: openid.yaml: "The access token generated is only valid for the OpenID API."
    t = request_token(shared_user.api(api.prefix), shared_user.user_id).expect(200).body["access_token"]
    api.with_token(t).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    request_token(api.with_token(t), shared_user.user_id).expect(401, "M_UNKNOWN_TOKEN")


def test_access_token_is_not_an_openid_token(api, shared_user):
    userinfo(api, shared_user.access_token).expect(401, "M_UNKNOWN_TOKEN")


@pytest.mark.parametrize("token", ["", "nonsense", "x" * 500])
def test_unknown_token(api, token):
    userinfo(api, token).expect(401, ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN") if token == "" else "M_UNKNOWN_TOKEN")


def test_missing_token(api):
    userinfo(api, None).expect(401, "M_MISSING_TOKEN")


def test_only_for_oneself(api, shared_user):
    other = api.register()
    request_token(other.api(api.prefix), shared_user.user_id).expect(403, "M_FORBIDDEN")


def test_needs_access_token(api, shared_user):
    request_token(api.with_token(None), shared_user.user_id).expect(401, "M_MISSING_TOKEN")


def test_body_must_be_json_object(api, shared_user):
    me = shared_user.api(api.prefix)
    path = "/user/%s/openid/request_token" % quote(shared_user.user_id)
    me.post(path, data="nope", headers={"Content-Type": "application/json"}).expect(400, "M_NOT_JSON")


def test_guests_may_not(server, prefix):
    r = server.api(prefix).register_raw({}, kind="guest").expect(200)
    request_token(server.api(prefix, r.body["access_token"]), r.body["user_id"]).expect(
        403, "M_GUEST_ACCESS_FORBIDDEN")
