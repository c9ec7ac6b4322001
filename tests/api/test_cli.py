"""The hearth binary's command line: version, generate-config, register-user, serve (config
errors, signals, signing key, persistence)."""

import os
import re
import signal
import socket
import subprocess
import time

import pytest
import yaml

import harness
from harness import HearthServer, SERVER_NAME, run_cli


def test_version():
    r = run_cli("version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip(), "hearth version printed nothing"
    assert re.search(r"\d+\.\d+", r.stdout), r.stdout


def test_unknown_subcommand():
    r = run_cli("no-such-command")
    assert r.returncode != 0
    assert r.stderr.strip()


def test_no_arguments():
    r = run_cli()
    assert r.returncode != 0


def test_serve_without_config_argument():
    r = run_cli("serve")
    assert r.returncode != 0
    assert "config" in r.stderr.lower()


def test_serve_missing_config_file(tmp_path):
    r = run_cli("serve", "--config", str(tmp_path / "nope.yaml"), timeout=20)
    assert r.returncode != 0
    assert "nope.yaml" in r.stderr


def generate(tmp_path, server_name="gen.example"):
    data = tmp_path / "data"
    data.mkdir()
    r = run_cli("generate-config", "--server-name", server_name, "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    assert isinstance(cfg, dict)
    return data, cfg, r.stdout


def test_generate_config(tmp_path):
    data, cfg, text = generate(tmp_path)
    assert cfg["server_name"] == "gen.example"
    assert cfg["database"]["name"] == "sqlite3"
    assert cfg["database"]["args"]["database"].startswith(str(data))
    assert any(l.get("type") == "http" for l in cfg["listeners"])
    assert "#" in text, "generate-config output should be commented"
    # A fresh secret each time (if it generates one at all).
    r2 = run_cli("generate-config", "--server-name", "gen.example", "--data-dir", str(data))
    cfg2 = yaml.safe_load(r2.stdout)
    if cfg.get("registration_shared_secret"):
        assert cfg["registration_shared_secret"] != cfg2.get("registration_shared_secret")


def test_generate_config_requires_arguments(tmp_path):
    r = run_cli("generate-config", "--data-dir", str(tmp_path))
    assert r.returncode != 0
    r = run_cli("generate-config", "--server-name", "x.example")
    assert r.returncode != 0


def start_from_generated(tmp_path, extra=None):
    data, cfg, _ = generate(tmp_path)
    port = harness.free_port()
    cfg["listeners"] = [dict(cfg["listeners"][0], port=port, bind_addresses=["127.0.0.1"])]
    # The generated defaults are Synapse's tight login limits; the test logs in several times.
    cfg["rc_login"] = {k: dict(harness.GENEROUS_RC) for k in ("address", "account", "failed_attempts")}
    cfg.update(extra or {})
    return HearthServer(str(data), raw_config=cfg, server_name="gen.example")


def test_server_starts_from_generated_config(tmp_path):
    srv = start_from_generated(tmp_path)
    srv.start()
    try:
        srv.api().get("/_matrix/client/versions").expect(200)
        srv.api().get("/login").expect(200)
    finally:
        srv.stop()


def test_register_user_then_login(tmp_path):
    srv = start_from_generated(tmp_path)
    srv.write_config()
    r = run_cli("register-user", "--config", srv.config_path, "cliuser", "cli-password-1")
    assert r.returncode == 0, r.stderr
    r = run_cli("register-user", "--config", srv.config_path, "--admin", "cliadmin", "cli-password-2")
    assert r.returncode == 0, r.stderr
    # Same name again fails.
    r = run_cli("register-user", "--config", srv.config_path, "cliuser", "other")
    assert r.returncode != 0
    # Invalid name fails.
    r = run_cli("register-user", "--config", srv.config_path, "Not Valid", "pw")
    assert r.returncode != 0
    assert "cli-password-1" not in r.stderr + r.stdout
    srv.start()
    try:
        api = srv.api()
        u = api.login("cliuser", "cli-password-1")
        assert u.user_id == "@cliuser:gen.example"
        a = api.login("@cliadmin:gen.example", "cli-password-2")
        assert a.user_id == "@cliadmin:gen.example"
        api.login_raw({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "cliuser"},
                       "password": "wrong"}).expect(403, "M_FORBIDDEN")
        # register-user while the server runs (SQLite shared with the server).
        r = run_cli("register-user", "--config", srv.config_path, "liveuser", "cli-password-3")
        assert r.returncode == 0, r.stderr
        api.login("liveuser", "cli-password-3")
    finally:
        srv.stop()
    assert "cli-password-1" not in srv.stderr()


def test_register_user_bad_config(tmp_path):
    r = run_cli("register-user", "--config", str(tmp_path / "missing.yaml"), "x", "y")
    assert r.returncode != 0


@pytest.mark.parametrize("key,value,needle", [
    (("listeners",), [{"port": "abc", "bind_addresses": ["127.0.0.1"], "type": "http"}], "port"),
    (("listeners",), [{"port": 70000, "bind_addresses": ["127.0.0.1"], "type": "http"}], "port"),
    (("enable_registration",), "maybe", "enable_registration"),
    (("rc_login", "address", "per_second"), "fast", "per_second"),
    (("rc_message",), "lots", "rc_message"),
    (("max_request_size",), "huge", "max_request_size"),
    (("event_cache_size",), "lots", "event_cache_size"),
    (("event_cache_size",), "17M", "event_cache_size"),
    (("server_name",), ["a", "b"], "server_name"),
    (("database", "name"), "oracle", "database"),
    (("default_room_version",), "99", "default_room_version"),
])
def test_bad_config_value(tmp_path, key, value, needle):
    srv = HearthServer(str(tmp_path / "d"))
    node = srv.config
    for k in key[:-1]:
        node = node.setdefault(k, {})
    node[key[-1]] = value
    srv.write_config()
    r = run_cli("serve", "--config", srv.config_path, timeout=30)
    assert r.returncode != 0, "serve accepted %s=%r" % (".".join(key), value)
    assert needle in r.stderr, "error does not name %r:\n%s" % (needle, r.stderr)
    assert harness.sanitizer_report(r.stderr) is None, r.stderr


def test_missing_server_name(tmp_path):
    srv = HearthServer(str(tmp_path / "d"))
    del srv.config["server_name"]
    srv.write_config()
    r = run_cli("serve", "--config", srv.config_path, timeout=30)
    assert r.returncode != 0
    assert "server_name" in r.stderr


@pytest.mark.parametrize("text", ["listeners: [", "server_name: x\n\tbad: indent", "- just\n- a list\n", "",
                                  "\x00\x01\x02"])
def test_invalid_yaml(tmp_path, text):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    r = run_cli("serve", "--config", str(p), timeout=30)
    assert r.returncode != 0
    assert r.stderr.strip()
    assert harness.sanitizer_report(r.stderr) is None, r.stderr


def test_unknown_key_is_a_warning(server_factory):
    srv = server_factory({"some_unknown_key_xyz": 1, "experimental_features": {"a": True}})
    srv.api().get("/_matrix/client/versions").expect(200)
    assert "some_unknown_key_xyz" in srv.stderr()


def test_port_in_use(tmp_path):
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    try:
        srv = HearthServer(str(tmp_path / "d"))
        srv.config["listeners"][0]["port"] = blocker.getsockname()[1]
        srv.write_config()
        r = run_cli("serve", "--config", srv.config_path, timeout=30)
        assert r.returncode != 0
        assert r.stderr.strip()
    finally:
        blocker.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_zero(server_factory, sig):
    srv = server_factory()
    srv.api().register()
    rc = srv.stop(sig=sig, check=False)
    assert rc == 0, srv.stderr()[-3000:]
    srv.check_clean_exit(rc)


def test_sigterm_drains_in_flight_request(server_factory):
    # A request in flight when SIGTERM arrives still gets its answer (registration is slow:
    # password hashing).
    import threading

    srv = server_factory()
    api = srv.api()
    result = {}

    def reg():
        try:
            result["r"] = api.register_raw({"username": harness.unique_localpart(), "password": "pw-drain",
                                            "auth": {"type": "m.login.dummy"}}, validate=False)
        except Exception as e:  # noqa: BLE001
            result["e"] = e

    t = threading.Thread(target=reg)
    t.start()
    time.sleep(0.02)
    rc = srv.stop(check=False)
    t.join(10)
    assert rc == 0, srv.stderr()[-3000:]
    srv.check_clean_exit(rc)
    if "r" in result:
        assert result["r"].status == 200, result["r"]
    # (If the request had not reached the server before the listener closed, the client sees
    # a connection error: that is fine.)


def test_signing_key_generated_and_kept(server_factory):
    srv = server_factory()
    path = srv.config["signing_key_path"]
    assert os.path.exists(path), "no signing key at %s" % path
    with open(path) as f:
        content = f.read()
    # Synapse's format: "ed25519 <key_id> <unpadded base64 of the 32-byte seed>"
    line = content.strip().splitlines()[0]
    m = re.match(r"^ed25519 ([a-zA-Z0-9_]+) ([A-Za-z0-9+/]{43})$", line)
    assert m, "signing key file is not in Synapse's format: %r" % line
    srv.stop()
    srv.start()
    with open(path) as f:
        assert f.read() == content, "the signing key changed on restart"


def test_existing_signing_key_is_used(server_factory):
    srv = server_factory(start=False)
    key = "ed25519 a_test wBmmhiyCzrDHsXMXKuYhsuIO5m1JfIbEYKb2xg0GXEk\n"
    with open(srv.config["signing_key_path"], "w") as f:
        f.write(key)
    srv.start()
    with open(srv.config["signing_key_path"]) as f:
        assert f.read() == key


def test_data_persists_across_restart(server_factory):
    srv = server_factory()
    api = srv.api()
    user = api.register(device_id="PERSISTDEV", initial_device_display_name="Persist")
    srv.stop()
    srv.start()
    api = srv.api()
    api.as_user(user).get("/account/whoami").expect(200)
    d = api.as_user(user).get("/devices/PERSISTDEV").expect(200).body
    assert d["display_name"] == "Persist"
    api.login(user)
    api.get("/register/available", params={"username": user.localpart}).expect(400, "M_USER_IN_USE")
