"""The tray's desktop notifications against a real session bus and a stand-in notification server
(tests/xdesktop.py): the app name is sent, and a click on a "note ready" notification opens the note."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.xdesktop import XDesktop, xdesktop

gi = pytest.importorskip("gi")


@pytest.fixture()
def desk(tmp_path: Path) -> Iterator[XDesktop]:
    with xdesktop(tmp_path / "x") as d:
        yield d


def pump(until: Callable[[], bool], timeout: float = 10.0) -> bool:
    from gi.repository import GLib

    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while ctx.pending():
            ctx.iteration(False)
        if until():
            return True
        time.sleep(0.02)
    return until()


def test_notifications_carry_the_app_name_and_open_the_note(desk: XDesktop) -> None:
    from gi.repository import Gio
    from hushnote.tray.state import Notice
    from hushnote.tray.system.notifier import DesktopNotifier

    bus = Gio.DBusConnection.new_for_address_sync(
        desk.env["DBUS_SESSION_BUS_ADDRESS"],
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
    opened: list[str] = []
    notifier = DesktopNotifier(opened.append, bus=bus)
    try:
        ready = notifier.notify(Notice("Draft note ready: Session 1", "Click to open it.", opens="/n/S1.note.md"))
        plain = notifier.notify(Notice("Recording saved", "The recording is saved."))
        assert ready > 0 and plain > 0 and ready != plain, "each notification is its own"
        shown = desk.notifications()
        assert [(n["app"], n["summary"], n["actions"]) for n in shown] == [
            ("hushnote", "Draft note ready: Session 1", ["default", "Open"]),
            ("hushnote", "Recording saved", [])]
        desk.click_notification(plain)  # nothing to open
        desk.click_notification(ready)
        assert pump(lambda: opened == ["/n/S1.note.md"]), opened
        desk.click_notification(ready)  # already closed: not opened twice
        pump(lambda: False, 0.5)
        assert opened == ["/n/S1.note.md"]
    finally:
        notifier.close()
        bus.close_sync(None)
