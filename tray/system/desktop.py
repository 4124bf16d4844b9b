"""The tray's reach into the desktop: open a folder or a file, start the service in the background."""

from __future__ import annotations

import os
import shutil
import subprocess  # noqa: S404 - fixed argument lists, no shell
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hushnote.daemon.core.paths import SYSTEMD_UNIT, systemd_user_unit

if TYPE_CHECKING:
    from hushnote.daemon.core.config import Config


def open_command(path: Path, platform: str = sys.platform) -> list[str] | None:
    """The command that opens ``path`` in the file manager; None on Windows (``os.startfile``)."""
    if platform == "win32":
        return None
    if platform == "darwin":
        return ["open", str(path)]
    return ["xdg-open", str(path)]


def open_folder(path: Path) -> None:
    """Open ``path`` (created if missing) in the desktop's file manager. Raises ``OSError`` on failure."""
    path.mkdir(parents=True, exist_ok=True)
    _open(path)


def open_file(path: Path) -> None:
    """Open the file ``path`` (a note, an error report) in the desktop's default application for it.
    Raises ``FileNotFoundError`` if it is gone, ``OSError`` on other failures."""
    if not path.is_file():
        raise FileNotFoundError(str(path))
    _open(path)


def _open(path: Path) -> None:
    cmd = open_command(path)
    if cmd is None:
        os.startfile(path)  # type: ignore[attr-defined]  # noqa: S606 - Windows only, a file or folder of ours
        return
    exe = shutil.which(cmd[0])
    if exe is None:
        raise FileNotFoundError(cmd[0])
    subprocess.run([exe, *cmd[1:]], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,  # noqa: S603
                   stderr=subprocess.DEVNULL, timeout=20, check=True)


def service_command(cfg: Config | None) -> list[str]:
    """``hushnote daemon`` with this tray's settings file, run by this Python."""
    cmd = [sys.executable, "-m", "hushnote.daemon.cli", "daemon"]
    if cfg is not None and cfg.source != "(defaults)":
        cmd += ["--config", cfg.source]
    return cmd


def systemd_start_command(platform: str = sys.platform) -> list[str] | None:
    """``systemctl --user start hushnote.service`` when ``hushnote service install`` set up the user unit
    (so there is one service, with its restart policy); None otherwise."""
    systemctl = shutil.which("systemctl")
    if platform.startswith("linux") and systemctl and systemd_user_unit().exists():
        return [systemctl, "--user", "start", SYSTEMD_UNIT]
    return None


def start_service(cfg: Config | None) -> subprocess.Popen[bytes] | None:
    """Start the service in the background, detached from the tray (it keeps running after "Quit tray"):
    through systemd if its unit is installed, otherwise ``hushnote daemon`` in a new session. Returns the
    process to watch."""
    systemd = systemd_start_command()
    if systemd is not None:
        return subprocess.Popen(systemd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,  # noqa: S603
                                stderr=subprocess.DEVNULL)
    kwargs: dict[str, Any] = {}
    if sys.platform == "win32":
        kwargs["creationflags"] = getattr(subprocess, "DETACHED_PROCESS", 0) | getattr(
            subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
    else:
        kwargs["start_new_session"] = True
    return subprocess.Popen(service_command(cfg), stdin=subprocess.DEVNULL,  # noqa: S603
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True, **kwargs)
