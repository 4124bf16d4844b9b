"""The tray's controller against a real IPC server on a real Unix socket (the process edge), no display.

The service side is a small in-test handler behind ``ipc.server.IpcServer``; the tray side is
``tray.controller.TrayController`` with a renderer that records what would be shown.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYSTRAY_BACKEND", "dummy")

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hushnote.ipc.protocol import IpcError
from hushnote.ipc.server import IpcServer
from hushnote.tray.controller import TrayController
from hushnote.tray.state import NOTE_READY, START_LABEL, Action, IconState, Notice, TrayView
from hushnote.tray.ui import PystrayUI

from tests.support.paths import REPO
from tests.support.tray import FakeService
from tests.support.waiting import wait_until


class Screen:
    """A renderer that keeps what the tray would show, and lets a test wait for it."""

    def __init__(self) -> None:
        self.views: list[TrayView] = []
        self.notices: list[Notice] = []
        self.cond = threading.Condition()

    def __call__(self, v: TrayView, notices: list[Notice]) -> None:
        with self.cond:
            self.views.append(v)
            self.notices.extend(notices)
            self.cond.notify_all()

    @property
    def view(self) -> TrayView:
        with self.cond:
            return self.views[-1]

    def wait(self, pred: Callable[[TrayView], bool], timeout: float = 5.0) -> TrayView:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not (self.views and pred(self.views[-1])):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"tray never showed that; last: {self.views[-1] if self.views else None}")
                self.cond.wait(left)
            return self.views[-1]

    def wait_notice(self, pred: Callable[[Notice], bool], timeout: float = 5.0) -> Notice:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for n in self.notices:
                    if pred(n):
                        return n
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no such notification; got {self.notices}")
                self.cond.wait(left)


@pytest.fixture()
def sock() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="hnt", dir="/tmp"))  # short: a socket path must fit 104 bytes
    try:
        yield d / "run" / "ipc.sock"
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture()
def service(sock: Path) -> Iterator[FakeService]:
    svc = FakeService()
    with IpcServer(sock, svc) as server:
        svc.server = server  # type: ignore[attr-defined]
        yield svc


def controller(sock: Path, screen: Screen, **kw: Any) -> TrayController:
    kw.setdefault("notes_dir", sock.parent / "Notes")
    kw.setdefault("inbox_dir", sock.parent / "Inbox")
    return TrayController(sock, screen, poll_interval=0.2, **kw)


def idle(v: TrayView) -> bool:
    return v.icon is IconState.IDLE


# ----------------------------------------------------------------------------- against the server

def test_record_start_and_stop_send_the_right_ops(sock: Path, service: FakeService) -> None:
    screen = Screen()
    with controller(sock, screen) as c:
        v = screen.wait(idle)
        assert v.entry(Action.RECORD).label == START_LABEL
        assert not v.entry(Action.RECORD).default, "consent is required: a click on the icon does not start"
        assert not c.click()  # ... it opens the menu instead
        c.activate(Action.RECORD)
        v = screen.wait(lambda v: v.icon is IconState.RECORDING)
        assert "Recording 1:0" in v.title  # the service said ~65 s
        assert ("record.start", {"consent_confirmed": True, "source": "tray"}) in service.calls
        assert v.entry(Action.RECORD).label.startswith("Stop recording")
        c.activate(Action.RECORD)
        screen.wait(idle)
    assert service.ops() == ["record.start", "record.stop"]


def test_events_update_progress_and_note_ready_notifies(sock: Path, service: FakeService) -> None:
    screen = Screen()
    with controller(sock, screen):
        screen.wait(idle)
        wait_until(lambda: service.server.subscribers == 1)  # type: ignore[attr-defined]
        service.current = {"id": "j1", "kind": "inbox", "stage": "transcribe", "fraction": 0.1}
        service.server.publish("job.progress", {"id": "j1", "stage": "transcribe", "fraction": 0.42})  # type: ignore[attr-defined]
        v = screen.wait(lambda v: v.icon is IconState.PROCESSING)
        service.current = None
        service.server.publish("job.done", {"id": "j1", "state": "done"})  # type: ignore[attr-defined]
        assert screen.wait_notice(lambda n: n == NOTE_READY)
        v = screen.wait(lambda v: idle(v) and "last note ready" in v.title)
        assert "last note ready" in v.entry(Action.STATUS).label


def test_progress_percent_in_title(sock: Path, service: FakeService) -> None:
    service.current = {"id": "j1", "kind": "recording", "stage": "draft", "fraction": 0.42}
    service.queued = 2
    screen = Screen()
    with controller(sock, screen):
        v = screen.wait(lambda v: v.icon is IconState.PROCESSING)
        assert "42%" in v.title and "2 more waiting" in v.title and v.fraction == pytest.approx(0.42)


def test_pause_and_resume(sock: Path, service: FakeService) -> None:
    screen = Screen()
    with controller(sock, screen) as c:
        screen.wait(idle)
        c.activate(Action.PAUSE)
        v = screen.wait(lambda v: v.icon is IconState.PAUSED)
        assert v.entry(Action.PAUSE).label == "Resume processing"
        c.activate(Action.PAUSE)
        screen.wait(idle)
    assert service.ops() == ["pause", "resume"]


def test_reconnects_after_the_service_restarts(sock: Path) -> None:
    svc = FakeService()
    screen = Screen()
    with controller(sock, screen) as c:
        with IpcServer(sock, svc) as server:
            screen.wait(idle)
            wait_until(lambda: server.subscribers == 1)
        v = screen.wait(lambda v: v.icon is IconState.ATTENTION, timeout=5)
        assert v.entry(Action.START_SERVICE).enabled and not v.entry(Action.RECORD).enabled
        c.activate(Action.RECORD)  # a left click now does nothing (no call, no crash)
        svc2 = FakeService()
        with IpcServer(sock, svc2) as server2:
            screen.wait(idle, timeout=8)
            wait_until(lambda: server2.subscribers == 1, timeout=8)  # events flow again
            server2.publish("state", {"state": "paused"})
            screen.wait(lambda v: v.icon is IconState.PAUSED)
            c.activate(Action.RECORD)
            wait_until(lambda: "record.start" in svc2.ops())
        screen.wait(lambda v: v.icon is IconState.ATTENTION)
    assert svc.ops() == []


def test_lost_while_recording_warns(sock: Path) -> None:
    svc = FakeService()
    svc.recording, svc.started = True, time.monotonic()
    screen = Screen()
    with controller(sock, screen):
        with IpcServer(sock, svc):
            screen.wait(lambda v: v.icon is IconState.RECORDING)
        screen.wait_notice(lambda n: n.title == "Recording interrupted")


def test_no_service_then_start_service(sock: Path) -> None:
    screen = Screen()
    svc = FakeService()
    servers: list[IpcServer] = []

    def spawner() -> None:  # stands in for `hushnote daemon`: the service appears
        servers.append(IpcServer(sock, svc).start())

    try:
        with controller(sock, screen, spawner=spawner) as c:
            v = screen.wait(lambda v: v.icon is IconState.ATTENTION)
            assert "not running" in v.title and v.entry(Action.START_SERVICE).enabled
            c.activate(Action.START_SERVICE)
            screen.wait(idle, timeout=8)
    finally:
        for s in servers:
            s.close()


def test_a_service_that_fails_to_start_is_reported(sock: Path) -> None:
    screen = Screen()

    def spawner() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"])

    with controller(sock, screen, spawner=spawner) as c:
        screen.wait(lambda v: v.icon is IconState.ATTENTION)
        c.activate(Action.START_SERVICE)
        n = screen.wait_notice(lambda n: n.title == "The service did not start", timeout=8)
        assert "hushnote daemon" in n.message
        v = screen.wait(lambda v: v.entry(Action.START_SERVICE).enabled)
        assert "not running" in v.title


def test_record_start_refused_shows_the_services_reason(sock: Path, service: FakeService) -> None:
    service.start_error = IpcError("conflict", "No microphone was found. Plug one in and try again.")
    screen = Screen()
    with controller(sock, screen) as c:
        screen.wait(idle)
        c.activate(Action.RECORD)
        n = screen.wait_notice(lambda n: "microphone" in n.message)
        assert n.title == "The recording did not work"
        v = screen.wait(lambda v: v.icon is IconState.ATTENTION)
        assert v.entry(Action.DISMISS).visible
        c.activate(Action.DISMISS)
        screen.wait(idle)


def test_service_without_a_recorder(sock: Path) -> None:
    svc = FakeService(recorder=False)
    screen = Screen()
    with IpcServer(sock, svc), controller(sock, screen) as c:
        v = screen.wait(lambda v: idle(v) and not v.entry(Action.RECORD).enabled)
        assert "not available" in v.entry(Action.RECORD).label
        c.activate(Action.RECORD)  # the default action is disabled: nothing is sent
        time.sleep(0.3)
    assert "record.start" not in svc.ops()


def test_open_folders(sock: Path, service: FakeService) -> None:
    opened: list[Path] = []
    screen = Screen()
    with controller(sock, screen, opener=opened.append) as c:
        screen.wait(idle)
        c.activate(Action.OPEN_NOTES)
        c.activate(Action.OPEN_INBOX)
        wait_until(lambda: len(opened) == 2)
    assert opened == [sock.parent / "Notes", sock.parent / "Inbox"]

    def broken(_p: Path) -> None:
        raise FileNotFoundError("xdg-open")

    screen = Screen()
    with controller(sock, screen, opener=broken) as c:
        screen.wait(idle)
        c.activate(Action.OPEN_NOTES)
        n = screen.wait_notice(lambda n: n.title == "Could not open the folder")
        assert str(sock.parent / "Notes") in n.message


def test_quit_stops_threads_and_calls_back(sock: Path, service: FakeService) -> None:
    quit_called = threading.Event()
    screen = Screen()
    c = controller(sock, screen, on_quit=quit_called.set).start()
    screen.wait(idle)
    c.activate(Action.QUIT)
    assert quit_called.is_set()
    c.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("hushnote-tray")]


# ----------------------------------------------------------------------------- the pystray adapter

class FakeIcon:
    """Just enough of ``pystray.Icon`` to check what the adapter sets."""

    HAS_MENU = True
    HAS_NOTIFICATION = True

    def __init__(self, name: str, icon: Any, title: str, menu: Any = None) -> None:
        self.name, self.icon, self.title, self.menu = name, icon, title, menu
        self.notified: list[tuple[str, str | None]] = []

    def notify(self, message: str, title: str | None = None) -> None:
        self.notified.append((message, title))

    def __call__(self) -> None:  # the default action, as pystray does it
        self.menu(self)


def pystray_ui(sock: Path) -> tuple[TrayController, Screen, FakeIcon]:
    """A controller drawing on a ``FakeIcon`` through the real ``PystrayUI`` adapter (and on a ``Screen``)."""
    import pystray

    ui = PystrayUI(FakeIcon, pystray.Menu, pystray.MenuItem)
    screen = Screen()

    def render(v: TrayView, notices: list[Notice]) -> None:
        ui.render(v, notices)
        screen(v, notices)

    c = controller(sock, render)  # type: ignore[arg-type]
    ui.controller = c
    return c, screen, ui.create(c.current_view)


def test_pystray_adapter_draws_views_and_routes_clicks(sock: Path, service: FakeService) -> None:
    import pystray

    c, screen, icon = pystray_ui(sock)
    assert icon.title.startswith("hushnote: The hushnote service is not running")
    with c:
        screen.wait(idle)
        items = list(icon.menu)
        texts = [i.text for i in items if i is not pystray.Menu.SEPARATOR]
        assert texts == [START_LABEL, "Ready", "Open notes folder", "Open inbox", "Pause processing (recording still works)",
                         "Service is running", "Quit tray"]
        assert [i.enabled for i in items if i.text in ("Ready", "Service is running")] == [False, False]
        first_image = icon.icon
        icon()  # left click: consent is required, so it does not start a recording (it would open the menu)
        time.sleep(0.3)
        assert "record.start" not in service.ops()
        next(iter(icon.menu))(icon)  # the menu item "Start recording (client has consented)"
        screen.wait(lambda v: v.icon is IconState.RECORDING)
        assert ("record.start", {"consent_confirmed": True, "source": "tray"}) in service.calls
        wait_until(lambda: icon.icon is not first_image and icon.title.startswith("hushnote: Recording"))
        assert next(iter(icon.menu)).text.startswith("Stop recording")
        service.server.publish("record.warning", {"code": "silence",  # type: ignore[attr-defined]
                                                  "message": "The microphone hears nothing."})
        wait_until(lambda: ("The microphone hears nothing.", "Recording warning") in icon.notified)
        icon()  # left click again: stop
        wait_until(lambda: "record.stop" in service.ops())


def test_click_starts_only_without_required_consent(sock: Path, service: FakeService) -> None:
    """recording.require_consent = false: a click on the icon starts (no consent claimed) and stops."""
    service.require_consent = False
    c, screen, icon = pystray_ui(sock)
    with c:
        v = screen.wait(lambda v: idle(v) and v.entry(Action.RECORD).default)
        assert "Click to start recording" in v.title
        icon()
        screen.wait(lambda v: v.icon is IconState.RECORDING)
        assert ("record.start", {"consent_confirmed": False, "source": "tray"}) in service.calls
        icon()
        wait_until(lambda: "record.stop" in service.ops())


def test_no_default_start_without_a_menu(sock: Path, service: FakeService) -> None:
    """xorg has no menu, so the consent wording is never seen: a click may stop, never start, a recording."""
    service.require_consent = False
    screen = Screen()
    c = controller(sock, screen)
    c.default_start_allowed = False
    with c:
        v = screen.wait(idle)
        assert not v.entry(Action.RECORD).default
        assert not c.click()
        service.recording, service.started = True, time.monotonic()
        v = screen.wait(lambda v: v.icon is IconState.RECORDING)
        assert v.entry(Action.RECORD).default




# ----------------------------------------------------------------------------- a tray a clinician can trust

NOT_AUDIO = "The file is not audio (or is damaged)."


def test_failures_are_listed_retried_and_their_reports_opened(sock: Path, service: FakeService) -> None:
    report = sock.parent / "Notes" / "Tuesday group.error.txt"
    service.failed_recent = [
        {"id": "j2", "state": "failed", "session": "Session 2", "reason": "There is too little speech in the "
         "recording to write a note.", "retryable": True, "report": None},
        {"id": "j1", "state": "failed", "session": "Tuesday group", "reason": NOT_AUDIO, "retryable": False,
         "report": str(report)}]
    opened: list[Path] = []
    screen = Screen()
    with controller(sock, screen, file_opener=opened.append) as c:
        v = screen.wait(lambda v: v.icon is IconState.FAILED)
        assert [e.label for e in v.entries(Action.FAILURE)] == [
            "No note for Session 2: There is too little speech in the recording to write a note.",
            f"No note for Tuesday group: {NOT_AUDIO}"]
        c.activate(Action.SHOW_REPORT, str(report))
        wait_until(lambda: opened == [report])
        c.activate(Action.RETRY, "j1")  # a rejected file: its Retry is greyed out, a stray click does nothing
        c.activate(Action.DISMISS)
        v = screen.wait(idle)
        assert [e.arg for e in v.entries(Action.FAILURE)] == ["j2", "j1"], "dismissing keeps the list"
        c.activate(Action.RETRY, "j2")
        n = screen.wait_notice(lambda n: n.title == "Trying again: Session 2")
        assert "back in the queue" in n.message
        v = screen.wait(lambda v: [e.arg for e in v.entries(Action.FAILURE)] == ["j1"])
        assert v.icon is IconState.IDLE
    assert [op for op in service.ops()] == ["retry"] and ("retry", {"id": "j2"}) in service.calls


def test_quit_while_recording_asks_first(sock: Path, service: FakeService) -> None:
    service.recording, service.started = True, time.monotonic()
    asked: list[Any] = []
    quit_called = threading.Event()
    screen = Screen()
    with controller(sock, screen, on_quit=quit_called.set,
                    asker=lambda q, answer: asked.append((q, answer))) as c:
        screen.wait(lambda v: v.icon is IconState.RECORDING)
        c.activate(Action.QUIT)
        [(q, answer)] = asked
        assert q.action is Action.QUIT and "goes on in the hushnote service" in q.message
        answer(False)
        assert not quit_called.is_set() and service.recording
        c.activate(Action.QUIT)
        asked[-1][1](True)
        assert quit_called.is_set()
    assert "record.stop" not in service.ops(), "quitting the tray leaves the recording to the service"
    # without dialogs the question is asked in the menu
    quit_called.clear()
    screen = Screen()
    with controller(sock, screen, on_quit=quit_called.set) as c:
        screen.wait(lambda v: v.icon is IconState.RECORDING)
        c.activate(Action.QUIT)
        v = screen.wait(lambda v: v.menu[0].action is Action.QUESTION)
        assert v.entry(Action.CONFIRM).label == "Quit tray, keep recording"
        c.activate(Action.CANCEL)
        screen.wait(lambda v: v.menu[0].action is Action.RECORD)
        assert not quit_called.is_set()
        c.activate(Action.QUIT)
        screen.wait(lambda v: v.menu[0].action is Action.QUESTION)
        c.activate(Action.CONFIRM)
        assert quit_called.is_set()


def test_last_notes_open_sign_and_copy_with_the_real_command(sock: Path, service: FakeService, home: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The notes folder as the menu shows it; Sign… (after the question) and Copy run `hushnote sign|copy`
    (copying to a real clipboard is in tests/e2e)."""
    for var in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    notes = sock.parent / "Notes"
    subprocess.run([sys.executable, "-m", "hushnote.daemon.cli", "draft", str(REPO / "samples" / "sample-session.txt"),
                    "--out", str(notes)], check=True, capture_output=True, timeout=120)
    older = notes / "older.note.md"
    older.write_text('---\nstatus: "draft"\n---\n# DRAFT\n')
    os.utime(older, (1_600_000_000, 1_600_000_000))
    note = notes / "sample-session.note.md"
    asked: list[Any] = []
    opened: list[Path] = []
    screen = Screen()
    with controller(sock, screen, file_opener=opened.append, asker=lambda q, a: asked.append((q, a))) as c:
        v = screen.wait(lambda v: len(v.entries(Action.NOTE)) == 2)
        assert [e.label.split(" (")[0] for e in v.entries(Action.NOTE)] == ["sample-session", "older"], "newest first"
        assert v.entries(Action.NOTE)[0].label.startswith("sample-session (draft, ")
        c.activate(Action.OPEN_NOTE, str(note))
        wait_until(lambda: opened == [note])
        c.activate(Action.SIGN_NOTE, str(note))
        [(q, answer)] = asked
        assert q.title == "Sign the note sample-session?" and q.arg == str(note)
        answer(True)
        n = screen.wait_notice(lambda n: n.title.startswith(("Signed", "Not signed")), timeout=60)
        assert n.title == "Signed: sample-session", n
        assert str(note) not in n.message
        v = screen.wait(lambda v: v.entries(Action.NOTE)[0].label.startswith("sample-session (signed, "))
        assert not v.entry(Action.SIGN_NOTE, str(note)).enabled
        assert 'status: "signed"' in note.read_text() and note.stat().st_mode & 0o222 == 0  # read-only
        c.activate(Action.COPY_NOTE, str(note))  # no X display here: the command says so, plainly
        n = screen.wait_notice(lambda n: n.title.startswith(("Copied", "Not copied")), timeout=60)
        assert n.title == "Not copied: sample-session" and "no desktop session here" in n.message, n
