"""Optional libraries as loadable modules (issue 12, memory): libvips (thumbnails), libxml2 (URL
previews), libpq (PostgreSQL), libcurl (outgoing HTTP) and libcrypto (HMAC-SHA1, RS256) live in
hearth-vips.so, hearth-xml.so, hearth-pg.so, hearth-curl.so and hearth-crypto.so, loaded on
first use (src/core/module.c). A module that cannot be loaded gives a clear log line
and a Matrix error for the request that needed it (or a failed start for PostgreSQL), never a
crash. HEARTH_MODULE_DIR, when set, is the only place modules are looked for."""
import glob
import os
import shutil
import subprocess

import pytest

import harness
from test_content_repo import PIXEL, Pages, image_bytes, thumbnail, upload


@pytest.fixture
def no_modules(tmp_path, monkeypatch):
    """Servers started while this is active look for their modules in an empty directory."""
    empty = tmp_path / "no-modules"
    empty.mkdir()
    monkeypatch.setenv("HEARTH_MODULE_DIR", str(empty))
    return empty


@pytest.mark.skipif(harness.TEST_PG != "", reason="a PostgreSQL server needs hearth-pg.so to start")
def test_missing_vips_and_xml_modules_give_errors_not_crashes(server_factory, no_modules):
    # Outgoing HTTP works (hearth-curl.so and hearth-crypto.so are there), so the page is
    # fetched and the HTML parser is what is missing.
    built = os.path.dirname(os.path.realpath(harness.hearth_bin()))
    for name in ("hearth-curl.so", "hearth-crypto.so"):
        os.symlink(os.path.join(built, name), no_modules / name)
    srv = server_factory({"url_preview_enabled": True,
                          "url_preview_ip_range_whitelist": ["127.0.0.1"]})
    api = srv.api("r0").register().api("r0")
    mxc = upload(api, image_bytes(200, 100), "image/png")
    r = thumbnail(api, mxc, 32, 32, "scale")
    r.expect(500, "M_UNKNOWN")
    assert "hearth-vips" in r.body["error"]
    # The upload itself is still served, and the server keeps answering.
    api.get("/_matrix/media/r0/download/" + mxc[len("mxc://"):]).expect(200)
    thumbnail(api, mxc, 32, 32, "crop").expect(500, "M_UNKNOWN")
    pages = Pages()
    try:
        pages.add("/img.png", PIXEL, "image/png")
        url = pages.add("/page.html", b"<html><head><title>T</title></head></html>")
        r = api.get("/_matrix/media/r0/preview_url", params={"url": url})
        r.expect(500, "M_UNKNOWN")
        assert "hearth-xml" in r.body["error"]
        assert pages.hits["/page.html"] == 1
    finally:
        pages.close()
    srv.assert_alive()
    log = srv.stderr()
    assert "cannot load hearth-vips.so" in log
    assert "cannot load hearth-xml.so" in log
    assert str(no_modules) in log


def test_missing_pg_module_fails_start_clearly(server_factory, no_modules):
    # The module is looked for before any connection is made, so no PostgreSQL is needed.
    srv = server_factory({"database": {"name": "psycopg2",
                                       "args": {"database": harness.DELETE, "options": harness.DELETE,
                                                "host": "127.0.0.1", "port": 1, "dbname": "x"}}},
                         start=False)
    srv.write_config()
    p = subprocess.run([harness.hearth_bin(), "serve", "--config", srv.config_path],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "cannot load hearth-pg.so" in p.stderr
    assert not harness.sanitizer_report(p.stderr)


def test_modules_found_in_lib_hearth(server_factory, tmp_path, monkeypatch):
    # The `make install` layout: bin/hearth and lib/hearth/hearth-*.so.
    built = harness.hearth_bin()
    src_dir = os.path.dirname(os.path.realpath(built))
    mods = glob.glob(os.path.join(src_dir, "hearth-*.so"))
    assert {os.path.basename(m) for m in mods} >= {"hearth-vips.so", "hearth-xml.so", "hearth-pg.so",
                                                   "hearth-curl.so", "hearth-crypto.so"}
    (tmp_path / "bin").mkdir()
    (tmp_path / "lib" / "hearth").mkdir(parents=True)
    shutil.copy2(built, tmp_path / "bin" / "hearth")
    for m in mods:
        shutil.copy2(m, tmp_path / "lib" / "hearth")
    monkeypatch.setenv("HEARTH_BIN", str(tmp_path / "bin" / "hearth"))
    monkeypatch.delenv("HEARTH_MODULE_DIR", raising=False)
    srv = server_factory()
    api = srv.api("r0").register().api("r0")
    mxc = upload(api, image_bytes(200, 100), "image/png")
    r = thumbnail(api, mxc, 32, 32, "scale")
    r.expect(200)
    assert r.raw.headers["Content-Type"] == "image/png" or r.raw.headers["Content-Type"] == "image/jpeg"
    assert "module: loaded hearth-vips.so" in srv.stderr()


@pytest.mark.skipif(harness.TEST_PG != "", reason="PostgreSQL maps libpq (and libcrypto) at start")
def test_idle_server_maps_no_optional_library(server_factory):
    srv = server_factory()
    user = srv.api("r0").register()
    api = user.api("r0")
    room = api.post("/_matrix/client/r0/createRoom", {}).expect(200).body["room_id"]
    api.put("/_matrix/client/r0/rooms/%s/send/m.room.message/t1" % room,
            {"msgtype": "m.text", "body": "hi"}).expect(200)
    api.get("/_matrix/client/r0/sync").expect(200)
    with open("/proc/%d/maps" % srv.proc.pid) as f:
        maps = f.read()
    for lib in ("libvips", "libxml2", "libpq", "libcurl", "libcrypto", "libssl", "hearth-"):
        assert lib not in maps, lib
    # A thumbnail maps libvips (through hearth-vips.so), and only then.
    mxc = upload(api, image_bytes(200, 100), "image/png")
    thumbnail(api, mxc, 32, 32, "scale").expect(200)
    with open("/proc/%d/maps" % srv.proc.pid) as f:
        maps = f.read()
    assert "hearth-vips.so" in maps and "libvips" in maps


@pytest.mark.skipif(harness.TEST_PG != "", reason="a PostgreSQL server needs hearth-pg.so to start")
def test_missing_curl_module_fails_previews_only(server_factory, no_modules):
    srv = server_factory({"url_preview_enabled": True,
                          "url_preview_ip_range_whitelist": ["127.0.0.1"]})
    api = srv.api("r0").register().api("r0")
    pages = Pages()
    try:
        url = pages.add("/page.html", b"<html><head><title>T</title></head></html>")
        r = api.get("/_matrix/media/r0/preview_url", params={"url": url})
        r.expect(500, "M_UNKNOWN")
        assert "hearth-curl" in r.body["error"]
        assert pages.hits["/page.html"] == 0
    finally:
        pages.close()
    api.get("/_matrix/client/r0/account/whoami").expect(200)
    assert "cannot load hearth-curl.so" in srv.stderr()
