"""third_party_lookup.yaml on a server without application services (the default test server),
so without third-party protocols: /thirdparty/protocols is {}; a named protocol is unknown (404
M_NOT_FOUND, as the spec says for an unknown protocol and for lookups that find nothing; Synapse
answers [] to the lookups); the reverse lookups by alias or user ID find no third-party entities
([]). With application services: test_application_service.py."""

import pytest

from harness import SERVER_NAME


@pytest.fixture(scope="module")
def guest_token(server):
    return server.api("r0").register_raw({}, kind="guest").expect(200).body["access_token"]


def test_protocols_empty(api, shared_user):
    assert shared_user.api(api.prefix).get("/thirdparty/protocols").expect(200).body == {}


@pytest.mark.parametrize("path", ["/thirdparty/protocol/irc", "/thirdparty/location/irc",
                                  "/thirdparty/user/irc", "/thirdparty/location/gitter?searchFields=x",
                                  "/thirdparty/user/irc?nick=bob&server=irc.example.org"])
def test_unknown_protocol(api, shared_user, path):
    shared_user.api(api.prefix).get(path).expect(404, "M_NOT_FOUND")


def test_location_by_alias(api, shared_user):
    r = shared_user.api(api.prefix).get("/thirdparty/location", params={"alias": "#x:" + SERVER_NAME})
    assert r.expect(200).body == []


def test_user_by_id(api, shared_user):
    r = shared_user.api(api.prefix).get("/thirdparty/user", params={"userid": shared_user.user_id})
    assert r.expect(200).body == []


@pytest.mark.parametrize("path", ["/thirdparty/location", "/thirdparty/user"])
def test_reverse_lookup_needs_its_parameter(api, shared_user, path):
    shared_user.api(api.prefix).get(path).expect(400, "M_MISSING_PARAM")


@pytest.mark.parametrize("path", ["/thirdparty/protocols", "/thirdparty/protocol/irc",
                                  "/thirdparty/location/irc", "/thirdparty/user/irc",
                                  "/thirdparty/location?alias=%23a:b", "/thirdparty/user?userid=@a:b"])
def test_needs_access_token(api, path):
    api.get(path).expect(401, "M_MISSING_TOKEN")


def test_guests_allowed(api, guest_token):
    # Synapse lets guests read these (allow_guest=True).
    g = api.with_token(guest_token)
    assert g.get("/thirdparty/protocols").expect(200).body == {}
    g.get("/thirdparty/protocol/irc").expect(404, "M_NOT_FOUND")
