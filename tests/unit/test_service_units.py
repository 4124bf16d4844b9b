"""Start-at-login files: rendered templates are valid for their platform, and install/uninstall/status
round-trip in an isolated home. Nothing here runs systemctl, launchctl or schtasks, or starts systemd."""

from __future__ import annotations

import configparser
import os
import plistlib
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hushnote.daemon.cli import main as cli
from hushnote.daemon.service import install as service_install
from hushnote.daemon.service.install import (
    command_words,
    plan,
    render_desktop,
    render_plist,
    render_systemd,
    render_task,
)

TASK_NS = "{http://schemas.microsoft.com/windows/2004/02/mit/task}"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(not (sys.platform.startswith("linux") and SYSTEMD_ANALYZE),
                                   reason="systemd-analyze is not installed (apt install systemd)")


def real_exe() -> list[str]:
    words = command_words()
    assert Path(words[0]).is_file() and os.access(words[0], os.X_OK), words
    return words


def systemd_verify(unit: Path) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze --user verify`` on one file: loads it in an offline test manager; starts nothing."""
    assert SYSTEMD_ANALYZE
    runtime = tempfile.mkdtemp(prefix="hn-sd-")
    try:
        env = {**os.environ, "XDG_RUNTIME_DIR": runtime, "SYSTEMD_LOG_TARGET": "console"}
        return subprocess.run([SYSTEMD_ANALYZE, "--user", "verify", "--man=no", str(unit)],
                              env=env, capture_output=True, text=True, timeout=120, check=False)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def assert_verifies(unit: Path) -> None:
    r = systemd_verify(unit)
    assert r.returncode == 0 and r.stderr == "", f"rc={r.returncode}\n{r.stderr}"


# ----------------------------------------------------------------------------- systemd

@needs_systemd
def test_systemd_unit_verifies_with_the_real_executable(tmp_path: Path) -> None:
    unit = tmp_path / "hushnote.service"
    unit.write_text(render_systemd(real_exe()), encoding="utf-8")
    text = unit.read_text()
    assert f"ExecStart={real_exe()[0]} daemon" in text
    for line in ("Restart=on-failure", "KillSignal=SIGTERM", "TimeoutStopSec=120", "NoNewPrivileges=yes",
                 "RestrictAddressFamilies=AF_UNIX", "WantedBy=default.target", "HF_HUB_OFFLINE=1"):
        assert line in text
    assert "{exe}" not in text
    assert_verifies(unit)


@needs_systemd
def test_systemd_unit_verifies_with_python_fallback_and_awkward_path(tmp_path: Path) -> None:
    unit = tmp_path / "hushnote.service"
    unit.write_text(render_systemd([sys.executable, "-m", "hushnote.daemon.cli"]), encoding="utf-8")
    assert_verifies(unit)

    odd = tmp_path / "my tools 100% $HOME"  # a space, a specifier and a variable sign
    odd.mkdir()
    (odd / "hushnote").symlink_to(real_exe()[0])
    unit.write_text(render_systemd([str(odd / "hushnote")]), encoding="utf-8")
    assert 'ExecStart="' in unit.read_text() and "100%%" in unit.read_text()
    assert_verifies(unit)


@needs_systemd
@pytest.mark.parametrize(("old", "new"), [
    ("Restart=on-failure", "Restart=sometimes"),  # bad value: systemd only warns (exit 0)
    ("KillSignal=SIGTERM", "KillSignal=SIGTERM\nRestartSecs=5"),  # unknown key: only a warning
    ("[Service]", "[Servce]"),  # misspelt section
])
def test_a_broken_unit_fails_the_same_check(tmp_path: Path, old: str, new: str) -> None:
    unit = tmp_path / "hushnote.service"
    text = render_systemd(real_exe())
    assert old in text
    unit.write_text(text.replace(old, new, 1), encoding="utf-8")
    r = systemd_verify(unit)
    assert r.returncode != 0 or r.stderr != "", "the verify check cannot tell a broken unit from a good one"


@needs_systemd
def test_a_unit_with_a_missing_executable_fails(tmp_path: Path) -> None:
    unit = tmp_path / "hushnote.service"
    unit.write_text(render_systemd([str(tmp_path / "not-there" / "hushnote")]), encoding="utf-8")
    assert systemd_verify(unit).returncode != 0


# ----------------------------------------------------------------------------- the other formats

def test_desktop_entry_parses() -> None:
    words = real_exe()
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(render_desktop(words))
    e = cp["Desktop Entry"]
    assert e["Type"] == "Application"
    assert e["Exec"] == f"{words[0]} tray"
    assert e["Terminal"] == "false" and e["Name"]


def test_desktop_exec_quoting() -> None:
    text = render_desktop(["/opt/my apps/100%/hushnote"])
    assert 'Exec="/opt/my apps/100%%/hushnote" tray' in text


@pytest.mark.parametrize(("name", "last"), [("com.hushnote.daemon.plist", "daemon"),
                                            ("com.hushnote.tray.plist", "tray")])
def test_launchd_plists(name: str, last: str) -> None:
    home = Path("/Users/Dr <Smith> & co")
    words = ["/Users/Dr <Smith> & co/.venv/bin/python", "-m", "hushnote.daemon.cli"]
    data = plistlib.loads(render_plist(name, words, home).encode())
    assert data["Label"] == name.removesuffix(".plist")
    args = data["ProgramArguments"]
    assert isinstance(args, list) and all(isinstance(a, str) for a in args)
    assert args == [*words, last]
    assert data["RunAtLoad"] is True
    assert data["KeepAlive"] == {"SuccessfulExit": False}
    assert isinstance(data["EnvironmentVariables"], dict) and data["EnvironmentVariables"]["HF_HUB_OFFLINE"] == "1"
    assert data["StandardErrorPath"].startswith(str(home / "Library" / "Logs" / "hushnote") + "/")
    if last == "daemon":
        assert data["ExitTimeOut"] == 120 and data["Umask"] == 0o077


@pytest.mark.parametrize(("name", "last"), [("hushnote-task.xml", "daemon"), ("hushnote-tray-task.xml", "tray")])
def test_task_scheduler_xml(name: str, last: str) -> None:
    words = [r"C:\Program Files\hushnote & co\python.exe", "-m", "hushnote.daemon.cli"]
    root = ET.fromstring(render_task(name, words, Path(r"C:\Users\dr"), r"CLINIC\dr").encode())  # noqa: S314 - our own output
    assert root.tag == f"{TASK_NS}Task"
    trigger = root.find(f"{TASK_NS}Triggers/{TASK_NS}LogonTrigger")
    assert trigger is not None and trigger.findtext(f"{TASK_NS}UserId") == r"CLINIC\dr"
    settings = root.find(f"{TASK_NS}Settings")
    assert settings is not None
    assert settings.findtext(f"{TASK_NS}ExecutionTimeLimit") == "PT0S"
    assert settings.find(f"{TASK_NS}RestartOnFailure/{TASK_NS}Count") is not None
    ex = root.find(f"{TASK_NS}Actions/{TASK_NS}Exec")
    assert ex is not None
    assert ex.findtext(f"{TASK_NS}Command") == words[0]
    assert ex.findtext(f"{TASK_NS}Arguments") == f"-m hushnote.daemon.cli {last}"
    principal = root.find(f"{TASK_NS}Principals/{TASK_NS}Principal")
    assert principal is not None and principal.findtext(f"{TASK_NS}LogonType") == "InteractiveToken"


# ----------------------------------------------------------------------------- install / uninstall / status

def service(*args: str) -> int:
    return cli.main(["service", *args])


def test_linux_round_trip(home: Path, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_install, "current_platform", lambda: "linux")
    unit = home / "config" / "systemd" / "user" / "hushnote.service"
    desktop = home / "config" / "autostart" / "hushnote-tray.desktop"

    assert service("install", "--tray", "--dry-run") == 0
    out = capsys.readouterr().out
    assert str(unit) in out and str(desktop) in out and "ExecStart=" in out
    assert not unit.exists() and not desktop.exists() and not (home / "config" / "systemd").exists()

    assert service("install") == 0
    out = capsys.readouterr().out
    assert unit.is_file() and not desktop.exists()
    assert "systemctl --user enable --now hushnote.service" in out
    assert not list(unit.parent.glob(".*.tmp"))

    assert service("status") == 0
    out = capsys.readouterr().out
    assert f"service: installed: {unit}" in out and "tray at login: not installed" in out

    assert service("install", "--tray") == 0
    assert desktop.is_file() and unit.is_file()
    capsys.readouterr()

    # what `systemctl --user enable` would have made: uninstall removes it with the unit
    wants = unit.parent / "default.target.wants"
    wants.mkdir()
    (wants / "hushnote.service").symlink_to(unit)
    assert service("status") == 0
    assert "enabled: yes" in capsys.readouterr().out

    assert service("uninstall", "--dry-run") == 0
    assert unit.exists() and desktop.exists() and (wants / "hushnote.service").is_symlink()
    capsys.readouterr()

    assert service("uninstall") == 0
    out = capsys.readouterr().out
    assert not unit.exists() and not desktop.exists() and not (wants / "hushnote.service").is_symlink()
    assert "systemctl --user stop hushnote.service" in out

    assert service("uninstall") == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_install_never_overwrites_a_file_it_did_not_write(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(service_install, "current_platform", lambda: "linux")
    unit = home / "config" / "systemd" / "user" / "hushnote.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/my/own/hushnote daemon\n")
    assert service("install") != 0
    assert "not written by hushnote" in capsys.readouterr().err
    assert service("uninstall") == 0
    assert unit.read_text() == "[Service]\nExecStart=/my/own/hushnote daemon\n"


def test_macos_round_trip(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(service_install, "current_platform", lambda: "darwin")
    agents = home / "Library" / "LaunchAgents"
    assert service("install", "--tray") == 0
    out = capsys.readouterr().out
    daemon_plist = plistlib.loads((agents / "com.hushnote.daemon.plist").read_bytes())
    assert daemon_plist["ProgramArguments"] == [*command_words(), "daemon"]
    assert (agents / "com.hushnote.tray.plist").is_file()
    assert (home / "Library" / "Logs" / "hushnote").is_dir()
    assert "launchctl bootstrap gui/$(id -u)" in out
    assert service("uninstall") == 0
    assert "launchctl bootout gui/$(id -u)/com.hushnote.daemon" in capsys.readouterr().out
    assert list(agents.iterdir()) == []


def test_windows_round_trip(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(service_install, "current_platform", lambda: "win32")
    monkeypatch.setenv("USERNAME", "dr")
    monkeypatch.delenv("USERDOMAIN", raising=False)
    assert service("install") == 0
    out = capsys.readouterr().out
    [artifact] = plan("win32", tray=False)
    assert artifact.path.is_file() and str(artifact.path).startswith(str(home))
    raw = artifact.path.read_bytes()
    assert raw[:2] == b"\xff\xfe"  # UTF-16 with a BOM, as schtasks wants
    root = ET.fromstring(raw)  # noqa: S314 - our own output
    assert root.findtext(f"{TASK_NS}Triggers/{TASK_NS}LogonTrigger/{TASK_NS}UserId") == "dr"
    assert f'schtasks /Create /XML "{artifact.path}" /TN hushnote' in out
    assert service("status") == 0
    assert "service: installed" in capsys.readouterr().out
    assert service("uninstall") == 0
    assert "schtasks /Delete /TN hushnote /F" in capsys.readouterr().out
    assert not artifact.path.exists()


def test_command_words_prefers_this_installation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "argv", ["/somewhere/pytest"])
    words = command_words()
    assert words == [str(Path(sys.executable).parent / "hushnote")] or words[1:] == ["-m", "hushnote.daemon.cli"]
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert command_words() == [str(tmp_path / "python"), "-m", "hushnote.daemon.cli"]


def test_nothing_is_ever_started(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """install/uninstall/status must not run a process (systemctl, launchctl, schtasks)."""
    def forbidden(*a: object, **k: object) -> None:
        raise AssertionError(f"tried to run a process: {a}")

    for name in ("run", "Popen", "call", "check_call", "check_output"):
        monkeypatch.setattr(subprocess, name, forbidden)
    monkeypatch.setattr(os, "system", forbidden)
    for platform in ("linux", "darwin", "win32"):
        monkeypatch.setattr(service_install, "current_platform", lambda p=platform: p)
        assert service("install", "--tray") == 0
        assert service("status") == 0
        assert service("uninstall") == 0
