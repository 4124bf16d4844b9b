"""The tray starts the service through systemd when ``hushnote service install`` set up its user unit, and looks
for that unit where install wrote it: under ``$XDG_CONFIG_HOME`` when set (it used to look only in
``~/.config``, so with XDG_CONFIG_HOME set it started a second, unmanaged service). Nothing is run here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hushnote.daemon.core.paths import systemd_user_unit, xdg_config_home
from hushnote.daemon.service import install
from hushnote.tray.system.desktop import systemd_start_command


@pytest.fixture()
def fake_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``systemctl`` first on PATH that is never run (the test only asks which command would be)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "systemctl"
    exe.write_text("#!/bin/sh\nexit 99\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return exe


def test_the_tray_finds_the_unit_install_wrote_under_xdg_config_home(home: Path, fake_systemctl: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert os.environ["XDG_CONFIG_HOME"] == str(home / "config")  # not ~/.config
    assert systemd_start_command("linux") is None  # nothing installed: `hushnote daemon` instead
    assert install.install("linux", tray=False, dry_run=False) == 0
    unit = home / "config" / "systemd" / "user" / "hushnote.service"
    assert unit.is_file() and not (home / ".config").exists()
    assert systemd_start_command("linux") == [str(fake_systemctl), "--user", "start", "hushnote.service"]
    assert systemd_start_command("darwin") is None


def test_a_unit_left_in_dot_config_is_not_the_installed_one(home: Path, fake_systemctl: Path) -> None:
    stale = home / ".config" / "systemd" / "user" / "hushnote.service"
    stale.parent.mkdir(parents=True)
    stale.write_text("[Unit]\n")
    assert systemd_start_command("linux") is None


def test_the_unit_path_follows_the_xdg_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert systemd_user_unit(tmp_path) == tmp_path / "cfg" / "systemd" / "user" / "hushnote.service"
    assert install.plan("linux", tray=False, words=["hushnote"], home=tmp_path)[0].path == systemd_user_unit(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/cfg")  # not absolute: ignored, as the spec says
    assert xdg_config_home(tmp_path) == tmp_path / ".config"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert systemd_user_unit(tmp_path) == tmp_path / ".config" / "systemd" / "user" / "hushnote.service"
