"""Installing Hearth (issue 14, docs/install.md): `make install` stages the binary, the systemd
unit and the docs, and the unit passes `systemd-analyze verify`."""

import os
import shutil
import subprocess

import pytest

from harness import hearth_bin

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(REPO, "contrib", "systemd", "hearth.service")


def test_make_install_stages_files(tmp_path):
    dest = tmp_path / "root"
    r = subprocess.run(["make", "-C", REPO, "install", "DESTDIR=%s" % dest, "PREFIX=/usr",
                        "BIN=%s" % os.path.abspath(hearth_bin())],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    binary = dest / "usr" / "bin" / "hearth"
    assert os.access(binary, os.X_OK)
    assert subprocess.run([str(binary), "version"], capture_output=True, text=True).stdout.startswith("hearth ")
    unit = (dest / "etc" / "systemd" / "system" / "hearth.service").read_text()
    assert "ExecStart=/usr/bin/hearth serve --config /etc/hearth/homeserver.yaml" in unit
    assert "@PREFIX@" not in unit
    for doc in ("install.md", "configuration.md", "reverse_proxy.md", "postgresql.md",
                "backup.md", "upgrading.md", "admin.md", "metrics.md"):
        assert (dest / "usr" / "share" / "doc" / "hearth" / doc).exists(), doc


def test_unit_runs_as_its_own_user_in_a_sandbox():
    text = open(UNIT).read()
    for line in ("User=hearth", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                 "PrivateTmp=yes", "PrivateDevices=yes", "CapabilityBoundingSet=",
                 "StateDirectory=hearth", "SystemCallFilter=@system-service",
                 "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"):
        assert line + "\n" in text, line


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (Debian package systemd)")
def test_unit_verifies(tmp_path):
    # verify checks that ExecStart's binary exists: point it at this build.
    text = open(UNIT).read().replace("@PREFIX@/bin/hearth", os.path.abspath(hearth_bin()))
    text = text.replace("@PREFIX@", "/usr/local")
    unit = tmp_path / "hearth.service"
    unit.write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    # Unknown keys and bad values are only warnings: none may name the unit.
    assert "hearth.service" not in r.stderr, r.stderr
