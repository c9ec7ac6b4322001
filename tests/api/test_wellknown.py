"""GET /.well-known/matrix/client (wellknown.yaml, client_server_api.rst §Server Discovery)."""

import harness


def test_wellknown_404_without_public_baseurl(server):
    # The default test server has no public_baseurl.
    assert "public_baseurl" not in server.config
    r = server.api().get("/.well-known/matrix/client")
    r.expect(404, "M_NOT_FOUND")
    assert r.headers.get("Access-Control-Allow-Origin") == "*"


def test_wellknown_with_public_baseurl(server_factory):
    srv = server_factory({"public_baseurl": "https://matrix.example.test/"})
    r = srv.api().get("/.well-known/matrix/client").expect(200)
    base = r.body["m.homeserver"]["base_url"]
    assert base.rstrip("/") == "https://matrix.example.test"
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/json"
    # Servers hosting .well-known SHOULD offer CORS headers (§Well-known URI).
    assert r.headers.get("Access-Control-Allow-Origin") == "*"
    # identity server is optional but, if present, must carry base_url (schema checks it).
    # The login response may carry the same well_known object; if it does, it must agree.
    api = srv.api()
    user = api.register()
    r = api.login_raw({"type": "m.login.password",
                       "identifier": {"type": "m.id.user", "user": user.user_id},
                       "password": user.password}).expect(200)
    if "well_known" in r.body:
        assert r.body["well_known"]["m.homeserver"]["base_url"].rstrip("/") == "https://matrix.example.test"


def test_wellknown_only_get(server_factory):
    srv = server_factory({"public_baseurl": "https://matrix.example.test/"})
    srv.api().post("/.well-known/matrix/client", {}).expect(405, "M_UNRECOGNIZED")
