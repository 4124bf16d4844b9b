"""The tray's small platform helpers: which pystray backend, how to open a folder, how to start the service."""

from __future__ import annotations

from pathlib import Path

from hushnote.tray.system.backend import choose_backend
from hushnote.tray.system.desktop import open_command, service_command


def test_choose_backend() -> None:
    assert choose_backend({"PYSTRAY_BACKEND": "xorg"}, "linux") == "xorg"
    assert choose_backend({}, "darwin") is None
    assert choose_backend({}, "win32") is None
    assert choose_backend({}, "linux") in ("gtk", "appindicator")  # PyGObject is installed here


def test_open_command_and_service_command() -> None:
    assert open_command(Path("/n"), "linux") == ["xdg-open", "/n"]
    assert open_command(Path("/n"), "darwin") == ["open", "/n"]
    assert open_command(Path("/n"), "win32") is None
    assert service_command(None)[1:] == ["-m", "hushnote.daemon.cli", "daemon"]


def test_open_file_refuses_what_is_not_there(tmp_path: Path) -> None:
    import pytest
    from hushnote.tray.system.desktop import open_file

    with pytest.raises(FileNotFoundError):
        open_file(tmp_path / "gone.note.md")
    with pytest.raises(FileNotFoundError):
        open_file(tmp_path)  # a folder is not a note
    assert list(tmp_path.iterdir()) == [], "nothing is created (open_folder makes a missing folder; this does not)"
