"""GET /_matrix/client/versions (versions.yaml, client_server_api.rst §API Standards)."""

EXPECTED = ["r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1"]


def test_versions_lists_r0_releases(api_r0):
    r = api_r0.get("/_matrix/client/versions").expect(200)
    versions = r.body["versions"]
    for v in EXPECTED:
        assert v in versions, "missing %s in %r" % (v, versions)
    # Values take the form rX.Y.Z (versions.yaml); later Matrix versions use vX.Y.
    for v in versions:
        assert isinstance(v, str) and (v.startswith("r") or v.startswith("v")), versions


def test_versions_unstable_features_are_booleans(api_r0):
    r = api_r0.get("/_matrix/client/versions").expect(200)
    for k, v in r.body.get("unstable_features", {}).items():
        assert isinstance(v, bool), (k, v)


def test_versions_is_json(api_r0):
    r = api_r0.get("/_matrix/client/versions").expect(200)
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/json"


def test_versions_needs_no_auth_and_ignores_bad_token(api_r0):
    # /versions has no security requirement in versions.yaml, so a stale token must not
    # make it fail.
    api_r0.get("/_matrix/client/versions", token="not-a-valid-token").expect(200)
    api_r0.get("/_matrix/client/versions", params={"access_token": "nope"}).expect(200)


def test_versions_rejects_post(api_r0):
    api_r0.post("/_matrix/client/versions", {}).expect(405, "M_UNRECOGNIZED")


def test_versions_advertises_v1_1(api_r0):
    # SPEC: v1.1 versions.yaml / content/_index.md "Specification Versions": a server lists the
    # versions it supports; Hearth implements everything v1.1 added for servers (issue 15).
    versions = api_r0.get("/_matrix/client/versions").expect(200).body["versions"]
    assert "v1.1" in versions
    # Versions after v1.1 (v1.2 brought room versions 8 and 9, not implemented) are not claimed.
    assert not [v for v in versions if v.startswith("v") and v != "v1.1"], versions
