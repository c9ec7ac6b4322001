"""GET /account/whoami (whoami.yaml; client_server_api.rst §Using access tokens, §Soft
logout)."""

import harness


def test_whoami(api, shared_user):
    r = api.with_token(shared_user.access_token).get("/account/whoami").expect(200)
    assert r.body["user_id"] == shared_user.user_id
    # device_id is not in r0.6.1's whoami.yaml (Matrix 1.1 added it); Hearth returns it like
    # Synapse does, per the issue.
    assert r.body["device_id"] == shared_user.device_id


def test_whoami_missing_token(api):
    api.get("/account/whoami").expect(401, "M_MISSING_TOKEN")


def test_whoami_unknown_token(api):
    r = api.get("/account/whoami", token="syt_bogus_token").expect(401, "M_UNKNOWN_TOKEN")
    # r0.6.1 soft logout: the server destroyed (or never had) the session.
    assert r.body.get("soft_logout") is False


def test_whoami_query_token(api, shared_user):
    r = api.get("/account/whoami", token=shared_user.access_token, query_token=True).expect(200)
    assert r.body["user_id"] == shared_user.user_id


def test_whoami_query_token_unknown(api):
    api.get("/account/whoami", params={"access_token": "bogus"}).expect(401, "M_UNKNOWN_TOKEN")


def test_whoami_empty_tokens(api_r0):
    r = api_r0.get("/account/whoami", headers={"Authorization": "Bearer "})
    r.expect(401, ("M_MISSING_TOKEN", "M_UNKNOWN_TOKEN"))
    r = api_r0.get("/account/whoami", params={"access_token": ""})
    r.expect(401, ("M_MISSING_TOKEN", "M_UNKNOWN_TOKEN"))


def test_whoami_non_bearer_scheme(api_r0, shared_user):
    r = api_r0.get("/account/whoami", headers={"Authorization": "Basic " + shared_user.access_token})
    r.expect(401, ("M_MISSING_TOKEN", "M_UNKNOWN_TOKEN"))


def test_whoami_token_prefix_is_not_enough(api_r0, shared_user):
    # Tokens are compared in full, not by prefix.
    tok = shared_user.access_token
    api_r0.get("/account/whoami", token=tok[:-1]).expect(401, "M_UNKNOWN_TOKEN")
    api_r0.get("/account/whoami", token=tok + "x").expect(401, "M_UNKNOWN_TOKEN")
    if tok.swapcase() != tok:
        api_r0.get("/account/whoami", token=tok.swapcase()).expect(401, "M_UNKNOWN_TOKEN")


def test_whoami_huge_token(api_r0):
    api_r0.get("/account/whoami", token="x" * 6000).expect(401, "M_UNKNOWN_TOKEN")


def test_whoami_distinct_tokens(api_r0):
    a = api_r0.register()
    b = api_r0.register()
    assert a.access_token != b.access_token
    assert api_r0.as_user(a).get("/account/whoami").expect(200).body["user_id"] == a.user_id
    assert api_r0.as_user(b).get("/account/whoami").expect(200).body["user_id"] == b.user_id


def test_whoami_wrong_method(api_r0, shared_user):
    api_r0.as_user(shared_user).post("/account/whoami", {}).expect(405, "M_UNRECOGNIZED")
