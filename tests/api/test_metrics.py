"""Metrics (issue 14): Prometheus text (exposition format 0.0.4) on a listener of its own
(`listeners` entry with `type: metrics`). The text is parsed strictly: HELP and TYPE lines
before a family's samples, metric and label names, label value escapes, values, histograms
with cumulative buckets ending in le="+Inf" equal to _count."""

import math
import re
import socket
import threading
import time

import pytest
import requests

from harness import free_port, quote
from roomlib import create_room, send

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE_RE = re.compile(r"^(%s)(?:\{((?:%s)(?:,%s)*)?\})? (\S+)(?: (-?\d+))?$" % (NAME, LABEL, LABEL))
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"')
HELP_RE = re.compile(r"^# HELP (%s) (.*)$" % NAME)
TYPE_RE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)


def unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], v)


def parse_value(s):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    assert re.match(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$", s), "bad value %r" % s
    return float(s)


def parse(text):
    """Parses the exposition text strictly; returns {family: {"type", "help", "samples":
    [(name, labels dict, value)]}}."""
    assert text.endswith("\n"), "the text must end with a newline"
    families = {}
    current = None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        assert line, "line %d is empty" % n
        if line.startswith("#"):
            m = HELP_RE.match(line)
            if m:
                fam = families.setdefault(m.group(1), {"samples": []})
                assert "help" not in fam, "second HELP for %s" % m.group(1)
                assert not fam["samples"], "HELP after samples of %s" % m.group(1)
                fam["help"] = m.group(2)
                current = m.group(1)
                continue
            m = TYPE_RE.match(line)
            assert m, "line %d is neither HELP nor TYPE: %r" % (n, line)
            fam = families.setdefault(m.group(1), {"samples": []})
            assert "type" not in fam, "second TYPE for %s" % m.group(1)
            assert not fam["samples"], "TYPE after samples of %s" % m.group(1)
            fam["type"] = m.group(2)
            current = m.group(1)
            continue
        m = SAMPLE_RE.match(line)
        assert m, "line %d is not a sample: %r" % (n, line)
        name, labels_text, value = m.group(1), m.group(2), m.group(3)
        fam_name = name
        if current and families[current].get("type") == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                if name == current + suffix:
                    fam_name = current
        assert fam_name == current, "sample %s outside its family's block (in %s)" % (name, current)
        assert "type" in families[current], "sample of %s before its TYPE" % name
        labels = {}
        for lm in LABEL_RE.finditer(labels_text or ""):
            assert lm.group(1) not in labels, "label %s twice in %r" % (lm.group(1), line)
            labels[lm.group(1)] = unescape(lm.group(2))
        families[current]["samples"].append((name, labels, parse_value(value)))
    for name, fam in families.items():
        assert "type" in fam and "help" in fam, "%s lacks HELP or TYPE" % name
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
        elif fam["type"] == "counter":
            assert all(v >= 0 for _, _, v in fam["samples"]), name
    return families


def check_histogram(name, samples):
    series = {}
    for sname, labels, value in samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if sname == name + "_bucket":
            assert "le" in labels, "bucket without le in %s" % name
            s["buckets"].append((parse_value(labels["le"]), value))
        elif sname == name + "_sum":
            s["sum"] = value
        elif sname == name + "_count":
            s["count"] = value
        else:
            raise AssertionError("unexpected sample %s in histogram %s" % (sname, name))
    assert series, "histogram %s has no series" % name
    for key, s in series.items():
        les = [le for le, _ in s["buckets"]]
        counts = [c for _, c in s["buckets"]]
        assert les and les[-1] == math.inf, "%s%s: last bucket is not +Inf" % (name, key)
        assert les == sorted(les) and len(set(les)) == len(les), "%s: le not increasing" % name
        assert counts == sorted(counts), "%s%s: buckets not cumulative: %s" % (name, key, counts)
        assert s["count"] is not None and s["sum"] is not None, "%s lacks _sum/_count" % name
        assert counts[-1] == s["count"], "%s: +Inf bucket != _count" % name


def value(fams, name, **labels):
    total = None
    for sname, l, v in fams.get(name, {"samples": []})["samples"]:
        if sname == name and all(l.get(k) == str(want) for k, want in labels.items()):
            total = (total or 0) + v
    return total


def hist_count(fams, name, **labels):
    return value(fams, name + "_count", **labels) if False else sum(
        v for sname, l, v in fams[name]["samples"]
        if sname == name + "_count" and all(l.get(k) == str(w) for k, w in labels.items()))


@pytest.fixture(scope="module")
def msrv(module_server_factory):
    srv = module_server_factory(start=False)
    srv.metrics_port = free_port()
    srv.config["listeners"].append({"type": "metrics", "port": srv.metrics_port,
                                    "bind_addresses": ["127.0.0.1"]})
    srv.start()
    return srv


def scrape(srv, path="/metrics"):
    r = requests.get("http://127.0.0.1:%d%s" % (srv.metrics_port, path), timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(r.text)


def test_exposition_is_well_formed(msrv):
    api = msrv.api("r0")
    u = api.register()
    u.api().get("/account/whoami").expect(200)
    fams = scrape(msrv)
    for name, kind in (("hearth_http_requests_total", "counter"),
                       ("hearth_http_request_duration_seconds", "histogram"),
                       ("hearth_db_transaction_duration_seconds", "histogram"),
                       ("hearth_db_transactions_total", "counter"),
                       ("hearth_sync_waiters", "gauge"),
                       ("hearth_cache_lookups_total", "counter"),
                       ("process_resident_memory_bytes", "gauge"),
                       ("process_open_fds", "gauge"),
                       ("process_cpu_seconds_total", "counter"),
                       ("process_start_time_seconds", "gauge")):
        assert fams[name]["type"] == kind, name
    assert value(fams, "process_resident_memory_bytes") > 1e6
    assert value(fams, "process_open_fds") >= 3
    assert abs(value(fams, "process_start_time_seconds") - time.time()) < 3600
    # Also at Synapse's path.
    scrape(msrv, "/_synapse/metrics")


def test_requests_counted_by_route_template(msrv):
    api = msrv.api("r0")
    u = api.register()
    room = create_room(u.api())
    route = "/_matrix/client/{version}/rooms/{roomId}/state"
    before = value(scrape(msrv), "hearth_http_requests_total", method="GET", route=route,
                   code=200) or 0
    for prefix in ("r0", "v3"):
        u.api(prefix).get("/rooms/%s/state" % quote(room)).expect(200)
    fams = scrape(msrv)
    assert value(fams, "hearth_http_requests_total", method="GET", route=route, code=200) == before + 2
    assert hist_count(fams, "hearth_http_request_duration_seconds", method="GET", route=route) >= 2
    # Raw paths (room IDs, user IDs) never become label values.
    for _, labels, _ in fams["hearth_http_requests_total"]["samples"]:
        assert room not in labels["route"] and "@" not in labels["route"]
    u.api().get("/no/such/endpoint").expect(404)
    fams = scrape(msrv)
    assert value(fams, "hearth_http_requests_total", route="(unmatched)", code=404) >= 1


def test_events_and_transactions_counted(msrv):
    u = msrv.api("r0").register()
    room = create_room(u.api())
    fams = scrape(msrv)
    ev0 = value(fams, "hearth_events_persisted_total")
    tx0 = hist_count(fams, "hearth_db_transaction_duration_seconds")
    for _ in range(3):
        send(u.api(), room)
    fams = scrape(msrv)
    assert value(fams, "hearth_events_persisted_total") == ev0 + 3
    assert hist_count(fams, "hearth_db_transaction_duration_seconds") >= tx0 + 3
    assert value(fams, "hearth_db_transactions_total", result="ok") >= 3


def test_token_cache_hits(msrv):
    u = msrv.api("r0").register()
    hits0 = value(scrape(msrv), "hearth_cache_lookups_total", cache="access_token", result="hit") or 0
    for _ in range(3):
        u.api().get("/account/whoami").expect(200)
    fams = scrape(msrv)
    assert value(fams, "hearth_cache_lookups_total", cache="access_token", result="hit") >= hits0 + 2
    assert value(fams, "hearth_cache_lookups_total", cache="access_token", result="miss") >= 1


def test_sync_waiters(msrv):
    u = msrv.api("r0").register()
    since = u.api().get("/sync").expect(200).body["next_batch"]
    done = threading.Event()

    def poll():
        s = requests.Session()
        s.get(msrv.base_url + "/_matrix/client/r0/sync", params={"since": since, "timeout": 3000},
              headers={"Authorization": "Bearer " + u.access_token}, timeout=30)
        done.set()

    t = threading.Thread(target=poll)
    t.start()
    deadline = time.time() + 2.5
    seen = 0
    while time.time() < deadline and not seen:
        seen = value(scrape(msrv), "hearth_sync_waiters")
        time.sleep(0.05)
    assert seen >= 1
    t.join(30)
    assert done.is_set()
    assert value(scrape(msrv), "hearth_sync_waiters") == 0


def test_not_on_the_client_listener(msrv):
    r = requests.get(msrv.base_url + "/metrics", timeout=5)
    assert r.status_code == 404
    r = requests.get("http://127.0.0.1:%d/other" % msrv.metrics_port, timeout=5)
    assert r.status_code == 404
    r = requests.post("http://127.0.0.1:%d/metrics" % msrv.metrics_port, timeout=5)
    assert r.status_code == 405


def test_without_metrics_listener_nothing_listens(server_factory):
    srv = server_factory()
    assert all(l.get("type", "http") == "http" for l in srv.config["listeners"])
    srv.api("r0").get("/account/whoami").expect(401)


def test_metrics_listener_needs_own_port(server_factory):
    srv = server_factory(start=False)
    srv.config["listeners"].append({"type": "metrics", "port": srv.port})
    with pytest.raises(AssertionError):
        srv.start()
    srv.proc = None
    assert "port of its own" in srv.stderr()


# ---- logging (issue 14): request IDs, no secrets ----------------------------------------

def test_metrics_listener_connection_timeout(server_factory):
    """listeners[].connection_timeout applies to the metrics listener too: a connection that
    sends nothing is closed after it (it was fixed at 30 s)."""
    srv = server_factory(start=False)
    srv.metrics_port = free_port()
    srv.config["listeners"].append({"type": "metrics", "port": srv.metrics_port,
                                    "bind_addresses": ["127.0.0.1"],
                                    "connection_timeout": "1s"})
    srv.start()
    scrape(srv)
    s = socket.create_connection(("127.0.0.1", srv.metrics_port), timeout=10)
    try:
        t0 = time.monotonic()
        s.settimeout(10)
        try:
            got = s.recv(1)
        except ConnectionResetError:
            got = b""
        assert got == b""  # closed by the server (socket.timeout here: it was not)
        assert time.monotonic() - t0 < 8
    finally:
        s.close()
    scrape(srv)


def test_access_log_has_request_ids_and_no_secrets(server_factory):
    srv = server_factory()
    api = srv.api("r0")
    u = api.register(password="very-secret-password-123")
    api.with_token(u.access_token).get("/account/whoami", query_token=True).expect(200)
    api.get("/account/whoami", params={"access_token": "hth_not-a-real-token-xyz"}).expect(401)
    api.login(u.user_id, "very-secret-password-123")
    log = srv.stderr()
    assert u.access_token not in log
    assert "hth_not-a-real-token-xyz" not in log
    assert "very-secret-password-123" not in log
    assert "access_token=<redacted>" in log
    lines = [l for l in log.splitlines() if "/account/whoami" in l]
    assert lines and all(re.search(r" INFO \[[a-z0-9]+-\d+\] ", l) for l in lines), lines
    ids = [re.search(r"\[([a-z0-9]+-\d+)\]", l).group(1) for l in lines]
    assert len(set(ids)) == len(ids)


def test_log_level_from_config(server_factory):
    srv = server_factory({"log_level": "warning"})
    srv.api("r0").get("/account/whoami").expect(401)
    assert "/account/whoami" not in srv.stderr()


def test_x_forwarded_client_address(server_factory):
    """Behind a proxy (listener x_forwarded: true) the client address, in the log and in a
    device's last_seen_ip, is X-Forwarded-For's first; otherwise the header is ignored."""
    srv = server_factory(start=False)
    srv.config["listeners"][0]["x_forwarded"] = True
    srv.start()
    api = srv.api("r0")
    u = api.register()
    h = {"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}
    api.as_user(u).get("/account/whoami", headers=h).expect(200)
    api.as_user(u).get("/account/whoami", headers={"X-Forwarded-For": "not-an-ip"}).expect(200)
    log = srv.stderr()
    assert re.search(r"\] 203\.0\.113\.7 GET /_matrix/client/r0/account/whoami 200", log), log[-2000:]
    assert re.search(r"\] 127\.0\.0\.1 GET /_matrix/client/r0/account/whoami 200", log)
    plain = server_factory()
    papi = plain.api("r0")
    v = papi.register()
    papi.as_user(v).get("/account/whoami", headers=h).expect(200)
    assert "203.0.113.7" not in plain.stderr()


def test_appservice_queue_length(server_factory, tmp_path):
    """hearth_appservice_queue_length{appservice}: transactions an application service has not
    accepted yet (issue 13's queue); it grows while the service is down."""
    from aslib import FakeAS, write_reg
    from test_application_service import IRC_USERS, room_with_ghost

    fake = FakeAS().start()
    try:
        reg = write_reg(tmp_path, fake, as_id="irc", sender="_irc_bot", users=IRC_USERS)
        srv = server_factory({"app_service_config_files": [reg]}, start=False)
        srv.metrics_port = free_port()
        srv.config["listeners"].append({"type": "metrics", "port": srv.metrics_port})
        srv.start()
        assert value(scrape(srv), "hearth_appservice_queue_length", appservice="irc") == 0
        user = srv.api().register()
        room = room_with_ghost(srv, fake, user)
        fake.stop()
        send(user.api(), room)
        deadline = time.time() + 20
        queued = 0
        while time.time() < deadline and not queued:
            queued = value(scrape(srv), "hearth_appservice_queue_length", appservice="irc")
            time.sleep(0.1)
        assert queued >= 1
    finally:
        fake.stop()
