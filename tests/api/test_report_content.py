"""POST /rooms/{roomId}/report/{eventId} (report_content.yaml; modules/report_content.rst)."""

import pytest

from harness import quote
from roomlib import create_room, join, send


@pytest.fixture(scope="module")
def setup(server):
    api = server.api("r0")
    alice, bob = api.register(), api.register()
    r = create_room(alice.api(), preset="public_chat")
    join(bob.api(), r).expect(200)
    eid = send(alice.api(), r, {"msgtype": "m.text", "body": "offensive"})
    return alice, bob, r, eid


def report(api, room_id, event_id, body):
    return api.post("/rooms/%s/report/%s" % (quote(room_id), quote(event_id)), body)


@pytest.mark.parametrize("score", [-100, -50, 0])
def test_report(server, prefix, setup, score):
    alice, bob, r, eid = setup
    resp = report(bob.api(prefix), r, eid, {"score": score, "reason": "this makes me sad"}).expect(200)
    assert resp.body == {}


def test_report_empty_reason(server, setup):
    alice, bob, r, eid = setup
    report(bob.api(), r, eid, {"score": -10, "reason": ""}).expect(200)


@pytest.mark.parametrize("score", [-101, 1, 100, -1000])
def test_report_score_out_of_range(server, setup, score):
    # "score: The score to rate this content as where -100 is most offensive and 0 is
    # inoffensive."
    alice, bob, r, eid = setup
    report(bob.api(), r, eid, {"score": score, "reason": "x"}).expect(400, ("M_INVALID_PARAM", "M_BAD_JSON"))


@pytest.mark.parametrize("body", [{"score": "-5", "reason": "x"}, {"score": -5.5, "reason": "x"},
                                  {"score": -5, "reason": 12}, {"score": None, "reason": "x"}])
def test_report_wrong_types(server, setup, body):
    alice, bob, r, eid = setup
    report(bob.api(), r, eid, body).expect(400, ("M_BAD_JSON", "M_INVALID_PARAM"))


@pytest.mark.parametrize("body", [{"reason": "x"}, {"score": -5}, {}])
def test_report_optional_fields(server, setup, body):
    # SPEC: v1.1 report_content.yaml (MSC2414): reason and score are optional (r0.6.1 required
    # both; a v1.1 server accepts either or neither).
    alice, bob, r, eid = setup
    report(bob.api(), r, eid, body).expect(200)


def test_report_unknown_event(server, setup):
    alice, bob, r, eid = setup
    report(bob.api(), r, "$nosuchevent:" + server.server_name, {"score": -1, "reason": "x"}) \
        .expect(404, "M_NOT_FOUND")


def test_report_event_not_visible(server, setup):
    alice, bob, r, eid = setup
    outsider = server.api("r0").register()
    # Reporting an event one cannot see must not reveal it (nor be accepted).
    report(outsider.api(), r, eid, {"score": -1, "reason": "x"}).expect((403, 404), ("M_FORBIDDEN", "M_NOT_FOUND"))


def test_report_requires_token(api, setup):
    alice, bob, r, eid = setup
    report(api, r, eid, {"score": -1, "reason": "x"}).expect(401, "M_MISSING_TOKEN")
