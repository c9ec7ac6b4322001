"""The offline admin commands (issue 14): deactivate-user, reset-password, set-admin,
purge-room, purge-media, backup, config-reference. They run against a stopped server's config
(a locked-out admin's way back in); the server sees their changes when it starts again."""

import os
import threading
import time

import pytest

from harness import SERVER_NAME, TEST_PG, quote, run_cli
from roomlib import create_room, join, send

A = "/_synapse/admin"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli(srv, *args):
    return run_cli(args[0], "--config", srv.config_path, *args[1:])


def test_deactivate_user_offline(server_factory):
    srv = server_factory()
    api = srv.api("r0")
    owner, u = api.register(), api.register()
    room = create_room(owner.api(), preset="public_chat")
    join(u.api(), room).expect(200)
    srv.stop()
    r = cli(srv, "deactivate-user", "--erase", u.localpart)
    assert r.returncode == 0, r.stderr
    assert "deactivated %s" % u.user_id in r.stdout
    srv.start()
    api.login_raw({"type": "m.login.password", "identifier": {"type": "m.id.user",
                   "user": u.user_id}, "password": u.password}).expect(403, "M_USER_DEACTIVATED")
    api.as_user(u).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    joined = owner.api().get("/rooms/%s/joined_members" % quote(room)).expect(200).body["joined"]
    assert u.user_id not in joined
    assert api.get("/profile/%s" % quote(u.user_id)).expect(200).body.get("displayname") is None


def test_reset_password_and_set_admin_offline(server_factory):
    srv = server_factory()
    api = srv.api("r0")
    u = api.register()
    srv.stop()
    r = cli(srv, "reset-password", u.user_id, "pw-from-cli")
    assert r.returncode == 0, r.stderr
    r = cli(srv, "set-admin", u.localpart, "true")
    assert r.returncode == 0 and "a server admin" in r.stdout, r.stderr
    srv.start()
    api.as_user(u).get("/account/whoami").expect(401, "M_UNKNOWN_TOKEN")
    u2 = api.login(u.user_id, "pw-from-cli")
    u2.api().get(A + "/v2/users").expect(200)
    srv.stop()
    assert cli(srv, "set-admin", u.localpart, "false").returncode == 0
    srv.start()
    u2.api().get(A + "/v2/users").expect(403, "M_FORBIDDEN")


@pytest.mark.parametrize("args", [("reset-password", "nobody-here", "pw"),
                                  ("deactivate-user", "nobody-here"),
                                  ("set-admin", "nobody-here", "true"),
                                  ("reset-password", "@someone:elsewhere.test", "pw")])
def test_unknown_user_fails(server_factory, args):
    srv = server_factory(start=False)
    srv.write_config()
    r = cli(srv, *args)
    assert r.returncode == 1 and r.stderr.strip(), r


@pytest.mark.parametrize("args", [("set-admin", "u", "maybe"), ("reset-password", "u"),
                                  ("purge-room", "not-a-room"), ("purge-media",),
                                  ("purge-media", "--before-days", "x"), ("backup",)])
def test_usage_errors(server_factory, args):
    srv = server_factory(start=False)
    srv.write_config()
    assert cli(srv, *args).returncode == 2


def test_purge_room_offline(server_factory):
    srv = server_factory()
    api = srv.api("r0")
    owner, other = api.register(), api.register()
    admin = api.register()
    room = create_room(owner.api(), preset="public_chat")
    send(owner.api(), room)
    srv.stop()
    r = cli(srv, "purge-room", "--block", room)
    assert r.returncode == 0, r.stderr
    assert cli(srv, "set-admin", admin.localpart, "true").returncode == 0
    srv.start()
    admin.api().get(A + "/v1/rooms/%s" % quote(room)).expect(404, "M_NOT_FOUND")
    assert room not in owner.api().get("/joined_rooms").expect(200).body["joined_rooms"]
    assert admin.api().get(A + "/v1/rooms/%s/block" % quote(room)).expect(200).body["block"] is True
    other.api().post("/rooms/%s/join" % quote(room), {}).expect((403, 404))


def media_count(srv):
    """Every local media on the server, from the admin API's per-uploader statistics (the
    server may not start empty: make backup-check seeds it from a backup)."""
    from test_synapse_admin import make_admin
    a, _ = make_admin(srv.api("r0"))
    r = a.get(A + "/v1/statistics/users/media", params={"limit": 100000}).expect(200)
    return sum(u["media_count"] for u in r.body["users"])


def deleted(r):
    assert r.returncode == 0, r
    words = r.stdout.split()
    assert words[0] == "deleted" and words[2] == "media", r
    return int(words[1])


def test_purge_media_offline(server_factory):
    srv = server_factory()
    u = srv.api("r0").register()
    r = u.api().post("/_matrix/media/r0/upload", data=b"old media",
                     headers={"Content-Type": "text/plain"}).expect(200)
    mid = r.body["content_uri"].rsplit("/", 1)[1]
    r = u.api().post("/_matrix/media/r0/upload", data=b"sm",
                     headers={"Content-Type": "text/plain"}).expect(200)
    small = r.body["content_uri"].rsplit("/", 1)[1]
    before = media_count(srv)
    srv.stop()
    # Nothing of ours is a day old; whatever the command says it deleted is really gone.
    n = deleted(cli(srv, "purge-media", "--before-days", "1"))
    srv.start()
    mid_count = media_count(srv)
    assert before - mid_count == n
    srv.api("r0").get("/_matrix/media/r0/download/%s/%s" % (SERVER_NAME, mid)).expect(200)
    srv.stop()
    time.sleep(0.01)
    n = deleted(cli(srv, "purge-media", "--before-days", "0", "--size-gt", "3"))
    assert n >= 1  # ours at least
    srv.start()
    assert mid_count - media_count(srv) == n
    srv.api("r0").get("/_matrix/media/r0/download/%s/%s" % (SERVER_NAME, mid)).expect(404, "M_NOT_FOUND")
    # Not larger than 3 bytes: kept.
    srv.api("r0").get("/_matrix/media/r0/download/%s/%s" % (SERVER_NAME, small)).expect(200)


@pytest.mark.skipif(not TEST_PG, reason="PostgreSQL only: the backup command points to pg_dump")
def test_backup_on_postgres_points_to_pg_dump(server_factory):
    srv = server_factory(start=False)
    srv.write_config()
    r = cli(srv, "backup", "--to", os.path.join(srv.data_dir, "b.db"))
    assert r.returncode == 2 and "pg_dump" in r.stderr


@pytest.mark.skipif(bool(TEST_PG), reason="SQLite's online backup; PostgreSQL uses pg_dump")
def test_backup_under_load_restores(server_factory, tmp_path):
    srv = server_factory()
    api = srv.api("r0")
    u = api.register()
    room = create_room(u.api())
    sent = [send(u.api(), room, {"msgtype": "m.text", "body": "before %d" % i}) for i in range(5)]
    stop = threading.Event()
    during = []

    def load():
        writer = api.register()
        while not stop.is_set():
            r = writer.api().put("/rooms/%s/send/m.room.message/t%d" % (quote(room), len(during)),
                                 {"msgtype": "m.text", "body": "during"}, validate=False)
            if r.status == 403:  # not a member: join once
                join(writer.api(), room)
                u.api().post("/rooms/%s/invite" % quote(room), {"user_id": writer.user_id})
                join(writer.api(), room)
                continue
            during.append(r.status)

    t = threading.Thread(target=load)
    t.start()
    time.sleep(0.3)
    target = str(tmp_path / "backup.db")
    r = cli(srv, "backup", "--to", target)
    time.sleep(0.2)
    stop.set()
    t.join(30)
    assert r.returncode == 0, r.stderr
    assert during and all(s == 200 for s in during), during[:5]
    assert cli(srv, "backup", "--to", target).returncode == 1  # never overwrites
    srv.stop()
    # A new server on the copy (same signing key; its own media store).
    restored = server_factory({"database": {"name": "sqlite3", "args": {"database": target}},
                               "signing_key_path": srv.config["signing_key_path"]})
    rapi = restored.api("r0")
    rapi.as_user(u).get("/account/whoami").expect(200)
    rapi.login(u.user_id, u.password)
    flt = '{"room":{"timeline":{"limit":5000}}}'
    sync = rapi.as_user(u).get("/sync", params={"filter": flt}).expect(200).body
    events = sync["rooms"]["join"][room]["timeline"]["events"]
    ids = [e["event_id"] for e in events]
    assert set(sent) <= set(ids)  # everything committed before the backup began
    n_during = sum(1 for e in events if e.get("content", {}).get("body") == "during")
    assert n_during <= len(during)
    # The restored server works: it takes new events and answers them.
    new = send(rapi.as_user(u), room, {"msgtype": "m.text", "body": "after restore"})
    sync = rapi.as_user(u).get("/sync", params={"filter": flt}).expect(200).body
    assert new in [e["event_id"] for e in sync["rooms"]["join"][room]["timeline"]["events"]]
    assert room in rapi.as_user(u).get("/joined_rooms").expect(200).body["joined_rooms"]


def test_config_reference_is_up_to_date():
    """docs/configuration.md is generated by `hearth config-reference` from the parser's key
    tables; regenerate it when a key changes."""
    r = run_cli("config-reference")
    assert r.returncode == 0
    with open(os.path.join(REPO, "docs", "configuration.md")) as f:
        assert f.read() == r.stdout, "docs/configuration.md is stale: run " \
            "`build/hearth config-reference > docs/configuration.md`"
