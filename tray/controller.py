"""The tray's controller: keeps a ``TrayModel`` in step with the service and runs the menu's actions.

Two threads talk to the service (``core.threads.BackgroundThread``, both stopped when the tray quits):

- ``hushnote-tray-ipc`` subscribes to events and polls ``status``/``record.status`` about once a second;
  when the service goes away it shows "not running" and reconnects with a backoff (0.5 s doubling to 5 s);
- ``hushnote-tray-actions`` runs menu clicks (IPC calls, opening folders and notes, signing and copying a
  note with the ``hushnote`` command, starting the service) so the desktop's event loop never waits.

The notes folder is read (``tray.notes``) every few seconds and after a note is made or signed, for the
menu's last notes. Quit while recording, Sign… and Swap speakers ask first: through ``asker`` (a dialog) where the UI has
one, else in the menu itself (``TrayModel.with_question``).

Everything shown is computed by ``tray.state.view``; this module only moves data between the service, that
function and a renderer (``tray.ui.PystrayUI``, or the tests' recording one). Logs carry operation names and
error classes, never content (no PHI).
"""

from __future__ import annotations

import functools
import logging
import queue
import subprocess  # noqa: S404 - only to watch a started service process
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hushnote.daemon.core.threads import BackgroundThread
from hushnote.tray.notes import recent_notes
from hushnote.tray.state import (
    Action,
    Ask,
    NoteInfo,
    Notice,
    TrayModel,
    TrayView,
    quit_question,
    sign_question,
    swap_question,
    view,
)
from hushnote.tray.system.desktop import open_file, open_folder, start_service
from hushnote.tray.system.notecmd import run_note_command

if TYPE_CHECKING:
    from hushnote.daemon.core.config import Config

log = logging.getLogger("hushnote.tray")

POLL_INTERVAL = 1.0
BACKOFF_START = 0.5
BACKOFF_MAX = 5.0
CALL_TIMEOUT = 3.0
SERVICE_START_GRACE = 15.0  # seconds to wait for a started service before saying it failed
NOTES_SCAN_S = 5.0  # how often the notes folder is read for the menu's last notes

Render = Callable[[TrayView, list[Notice]], None]
Opener = Callable[[Path], None]
Spawner = Callable[[], "subprocess.Popen[bytes] | None"]
Asker = Callable[[Ask, Callable[[bool], None]], None]  # show a question; the callback gets True for "yes"
NoteRunner = Callable[[str, Path], Notice]  # ("sign" | "copy" | "swap", note) -> what happened


@dataclass(frozen=True)
class _Click:
    """A queued action: ``arg`` is what it applies to; ``direct``: it needs no menu entry (a notification's
    click, a confirmed question) and skips the enabled check."""

    action: Action
    arg: str | None = None
    direct: bool = False


class TrayController:
    """Keeps a ``TrayModel`` in step with the service and runs the menu's actions.

    ``render(view, notices)`` is called (from a worker thread) whenever what is shown may have changed;
    the pystray adapter (``PystrayUI``) is one such renderer, the tests use a recording one.
    """

    def __init__(self, endpoint: Path | Any, render: Render, *, cfg: Config | None = None,
                 notes_dir: Path | None = None, inbox_dir: Path | None = None,
                 opener: Opener = open_folder, file_opener: Opener = open_file, spawner: Spawner | None = None,
                 note_runner: NoteRunner | None = None, asker: Asker | None = None,
                 on_quit: Callable[[], None] | None = None, poll_interval: float = POLL_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        from hushnote.ipc.client import IpcClient

        self._client = IpcClient(endpoint, timeout=CALL_TIMEOUT)
        self._render = render
        self._cfg = cfg
        self._notes = notes_dir or (cfg.path("paths.notes") if cfg is not None else None)
        self._inbox = inbox_dir or (cfg.path("paths.inbox") if cfg is not None else None)
        self._opener = opener
        self._file_opener = file_opener
        self._spawner: Spawner = spawner or (lambda: start_service(cfg))
        self._note_runner: NoteRunner = note_runner or (lambda verb, note: run_note_command(verb, note, cfg))
        self.asker = asker  # None: questions are asked in the menu
        self._notes_scanned = float("-inf")
        self._on_quit = on_quit
        self._poll_interval = poll_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._model = TrayModel()
        self._view = view(self._model, clock())
        self._stop = threading.Event()
        self._poke = threading.Event()  # poll now (after an action)
        self._actions: queue.Queue[_Click | None] = queue.Queue()
        self._threads: list[BackgroundThread] = []
        self._sub: Any = None
        self._started_proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._children: list[subprocess.Popen[bytes]] = []
        self.default_start_allowed = True  # False on a backend without a menu (xorg): click only stops

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> TrayController:
        self._refresh_notes(force=True)
        self._publish([])
        self._threads = [
            BackgroundThread("hushnote-tray-ipc", self._ipc_loop, wake=self._poke.set, stopping=self._stop),
            BackgroundThread("hushnote-tray-actions", self._action_loop,
                             wake=functools.partial(self._actions.put, None), stopping=self._stop),  # the sentinel
        ]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        for t in self._threads:
            t.stop()
        self._stop.set()  # also when never started: a late click is ignored
        with self._lock:
            sub = self._sub
        if sub is not None:
            sub.close()
        for t in self._threads:
            t.join(CALL_TIMEOUT + 2)  # never the calling thread itself
        self._threads.clear()

    def __enter__(self) -> TrayController:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def model(self) -> TrayModel:
        with self._lock:
            return self._model

    @property
    def current_view(self) -> TrayView:
        with self._lock:
            return self._view

    # ------------------------------------------------------------------ model updates

    def _update(self, fn: Callable[[TrayModel], TrayModel | tuple[TrayModel, list[Notice]]]) -> None:
        with self._lock:
            out = fn(self._model)
            model, notices = out if isinstance(out, tuple) else (out, [])
            self._model = model
        self._publish(notices)

    def _publish(self, notices: list[Notice]) -> None:
        with self._lock:
            v = view(self._model, self._clock())
            if not self.default_start_allowed and not self._model.recording:
                v = _without_default(v)
            self._view = v
        try:
            self._render(v, notices)
        except Exception as exc:  # noqa: BLE001 - a drawing failure must not stop the service link
            log.warning("tray update failed: %s", exc.__class__.__name__)

    # ------------------------------------------------------------------ the service link

    def _poll(self) -> bool:
        """Ask for status and recorder status; True if the service answered."""
        from hushnote.ipc.client import ConnectionLost, DaemonNotRunning, IpcError, ServiceTimeout
        from hushnote.ipc.transport import EndpointError

        try:
            status = self._client.call("status")
        except (DaemonNotRunning, ConnectionLost, ServiceTimeout, EndpointError, IpcError, OSError) as exc:
            log.debug("status failed: %s", exc.__class__.__name__)
            self._lost()
            return False
        rec: dict[str, Any] | None
        try:
            rec = self._client.call("record.status")
        except IpcError as exc:
            rec = None if exc.code == "unknown_op" else {}
        except (DaemonNotRunning, ConnectionLost, ServiceTimeout, OSError):
            self._lost()
            return False
        now = self._clock()

        def apply(m: TrayModel) -> TrayModel:
            m = m.with_status(status)
            return m if rec == {} else m.with_record_status(rec, now)

        self._update(apply)
        self._started_proc = None
        self._reap()
        self._refresh_notes()
        return True

    def _lost(self) -> None:
        self._update(lambda m: m.disconnected())
        self._refresh_notes()
        proc = self._started_proc
        if proc is None:
            return
        code = proc.poll()
        if (code is not None and code != 0) or self._clock() - self._started_at > SERVICE_START_GRACE:
            self._started_proc = None
            self._update(lambda m: m.with_busy(None))
            self._notify_start_failed()

    def _refresh_notes(self, force: bool = False) -> None:
        """Read the notes folder for the menu's last notes (every ``NOTES_SCAN_S``, or now with ``force``)."""
        now = self._clock()
        if self._notes is None or (not force and now - self._notes_scanned < NOTES_SCAN_S):
            return
        self._notes_scanned = now
        notes = recent_notes(self._notes)
        if notes != list(self.model.notes):
            self._update(lambda m: m.with_notes(notes))

    def _reap(self) -> None:
        """Collect started service processes that have ended (no zombies while the tray runs)."""
        self._children = [p for p in self._children if p.poll() is None]

    def _notify_start_failed(self) -> None:
        self._publish([Notice("The service did not start",
                              "hushnote could not start its service. Open a terminal and run "
                              "`hushnote daemon` to see why.")])

    def _ipc_loop(self) -> None:
        from hushnote.ipc.client import ConnectionLost, DaemonNotRunning, IpcError, ServiceTimeout
        from hushnote.ipc.transport import EndpointError

        backoff = BACKOFF_START
        while not self._stop.is_set():
            if not self._poll():
                self._stop.wait(backoff)
                backoff = min(BACKOFF_MAX, backoff * 2)
                continue
            try:
                sub = self._client.subscribe()
            except (DaemonNotRunning, ConnectionLost, ServiceTimeout, EndpointError, IpcError, OSError) as exc:
                log.debug("subscribe failed: %s", exc.__class__.__name__)
                self._stop.wait(backoff)
                backoff = min(BACKOFF_MAX, backoff * 2)
                continue
            backoff = BACKOFF_START
            with self._lock:
                self._sub = sub
            if self._stop.is_set():
                sub.close()
            try:
                self._follow(sub)
            finally:
                with self._lock:
                    self._sub = None
                sub.close()

    def _follow(self, sub: Any) -> None:
        """Read events until the stream ends; poll status every ``poll_interval`` (and right after actions)."""
        from hushnote.ipc.client import ConnectionLost

        next_poll = self._clock() + self._poll_interval
        while not self._stop.is_set():
            wait = max(0.05, min(next_poll - self._clock(), self._poll_interval))
            if self._poke.is_set():
                wait = 0.0
            try:
                ev = sub.get(timeout=wait) if wait > 0 else None
            except ConnectionLost:
                if not self._stop.is_set():
                    self._poll()  # shows "not running" (or a quick restart)
                return
            if ev is not None:
                name = ev.name
                self._update(functools.partial(_apply_event, name=name, data=ev.data, now=self._clock()))
                if name in ("record.stopped", "job.done"):
                    self._poke.set()
                if name == "job.done":
                    self._notes_scanned = float("-inf")  # the new note is listed at the next poll
                continue
            if self._poke.is_set() or self._clock() >= next_poll:
                self._poke.clear()
                if not self._poll():
                    return
                next_poll = self._clock() + self._poll_interval

    # ------------------------------------------------------------------ actions (menu clicks)

    def activate(self, action: Action, arg: str | None = None) -> None:
        """Called by the UI on a click: queue the action (on ``arg``), return at once. Quit and Sign… ask
        first where they must."""
        if self._stop.is_set():
            return
        if action is Action.QUIT:
            self._ask_or(quit_question(self.model), self._quit)
        elif action in (Action.SIGN_NOTE, Action.SWAP_NOTE):
            note = next((n for n in self.model.notes if n.path == arg), None) or NoteInfo(str(arg), _session(arg), 0)
            question = sign_question(note) if action is Action.SIGN_NOTE else swap_question(note)
            self._ask_or(question, lambda: self._actions.put(_Click(action, arg, direct=True)))
        elif action is Action.CONFIRM:
            ask = self.model.asking
            self._update(lambda m: m.with_question(None))
            if ask is not None and ask.action is Action.QUIT:
                self._quit()
            elif ask is not None:
                self._actions.put(_Click(ask.action, ask.arg, direct=True))
        elif action is Action.CANCEL:
            self._update(lambda m: m.with_question(None))
        else:
            self._actions.put(_Click(action, arg))

    def open_file(self, path: str) -> None:
        """Open a file a notification named (its note, its error report), from the actions thread."""
        if not self._stop.is_set():
            self._actions.put(_Click(Action.OPEN_NOTE, path, direct=True))

    def _ask_or(self, question: Ask | None, act: Callable[[], None]) -> None:
        """``act`` now if there is nothing to ask; else once the clinician says yes."""
        if question is None:
            act()
        elif self.asker is not None:
            self.asker(question, lambda yes: act() if yes and not self._stop.is_set() else None)
        else:
            self._update(lambda m: m.with_question(question))

    def click(self) -> bool:
        """A click on the icon itself (the backend's default action). Returns False when the menu should open
        instead: starting a recording needs the menu's consent wording unless the service has
        ``recording.require_consent`` off; stopping one is always a click away."""
        e = self.current_view.entry(Action.RECORD)
        if not (e.default and e.enabled):
            return False
        self.activate(Action.CLICK)
        return True

    def _quit(self) -> None:
        self._stop.set()
        self._actions.put(None)
        if self._on_quit is not None:
            self._on_quit()

    def _action_loop(self) -> None:
        while True:
            click = self._actions.get()
            if click is None or self._stop.is_set():
                return
            try:
                self._run_action(click)
            except Exception as exc:  # noqa: BLE001 - a failed click is reported, the tray keeps running
                log.warning("tray action %s failed: %s", click.action.value, exc.__class__.__name__)
                self._fail(f"Something went wrong ({exc.__class__.__name__}). Try again, or use the "
                           "`hushnote` command.")

    def _fail(self, message: str, title: str = "hushnote") -> None:
        self._update(lambda m: m.with_error(message))
        self._publish([Notice(title, message)])

    def _enabled(self, click: _Click) -> bool:
        """Is the entry clicked still there and enabled (the menu may have changed since it was drawn)?"""
        if click.direct:
            return True
        try:
            entry = self.current_view.entry(Action.RECORD if click.action is Action.CLICK else click.action,
                                            click.arg)
        except KeyError:
            return False
        return entry.enabled and entry.visible

    def _run_action(self, click: _Click) -> None:
        from hushnote.ipc.client import ConnectionLost, DaemonNotRunning, IpcError, ServiceTimeout

        if not self._enabled(click):
            return  # e.g. a left click (default action) while the service is down
        action, arg = click.action, click.arg
        entry = self.current_view.entry(Action.RECORD) if action is Action.CLICK else None
        model = self.model
        try:
            if action is Action.CLICK:  # the icon: stop; start only where no consent confirmation is asked for
                if model.recording:
                    self._client.call("record.stop")
                elif entry is not None and entry.default and not model.consent_required:
                    self._client.call("record.start", consent_confirmed=False, source="tray")
                self._poke.set()
            elif action is Action.RECORD:  # the menu item "Start recording (client has consented)"
                if model.recording:
                    self._client.call("record.stop")
                else:
                    self._client.call("record.start", consent_confirmed=True, source="tray")
                self._poke.set()
            elif action is Action.PAUSE:
                paused = (model.status or {}).get("state") == "paused"
                result = self._client.call("resume" if paused else "pause")
                state = result.get("state")
                self._update(lambda m: m.with_event("state", {"state": state}, self._clock())[0])
            elif action is Action.DISMISS:
                self._update(lambda m: m.dismissed())
            elif action in (Action.OPEN_NOTES, Action.OPEN_INBOX):
                self._open(self._notes if action is Action.OPEN_NOTES else self._inbox)
            elif action in (Action.OPEN_NOTE, Action.SHOW_REPORT) and arg:
                self._open_file(Path(arg))
            elif action in _NOTE_VERBS and arg:
                self._note_command(_NOTE_VERBS[action], Path(arg))
            elif action is Action.RETRY and arg:
                self._retry(arg)
            elif action is Action.START_SERVICE:
                self._start_service()
        except IpcError as exc:
            verb = {Action.RECORD: "The recording", Action.CLICK: "The recording"}.get(action, "That")
            self._fail(exc.message, f"{verb} did not work")
        except (DaemonNotRunning, ConnectionLost, ServiceTimeout) as exc:
            self._fail(exc.message + (f" {exc.hint}" if exc.hint else ""), "The service did not answer")
            self._poke.set()

    def _open(self, folder: Path | None) -> None:
        if folder is None:
            return
        try:
            self._opener(folder)
        except (OSError, subprocess.SubprocessError) as exc:
            log.info("opening a folder failed: %s", exc.__class__.__name__)
            self._publish([Notice("Could not open the folder",
                                  f"Open it in your file manager instead: {folder}")])

    def _open_file(self, path: Path) -> None:
        try:
            self._file_opener(path)
        except FileNotFoundError:
            self._publish([Notice("That file is gone", f"{path.name} is no longer in the notes folder.")])
        except (OSError, subprocess.SubprocessError) as exc:
            log.info("opening a file failed: %s", exc.__class__.__name__)
            self._publish([Notice("Could not open the file", f"Open it from the notes folder instead: {path.name}")])

    def _note_command(self, verb: str, note: Path) -> None:
        """``hushnote sign|copy|speakers swap NOTE``; what it said becomes a notification; the notes list is
        read again."""
        self._update(lambda m: m.with_busy(_BUSY[verb]))
        try:
            notice = self._note_runner(verb, note)
        finally:
            self._update(lambda m: m.with_busy(None))
        self._refresh_notes(force=True)
        self._publish([notice])

    def _retry(self, job_id: str) -> None:
        self._client.call("retry", id=job_id)
        session = next((f.session for f in self.model.failures if f.id == job_id), "the recording")
        self._publish([Notice(f"Trying again: {session}", "It is back in the queue; you will be told when its "
                              "note is ready.")])
        self._poke.set()

    def _start_service(self) -> None:
        self._update(lambda m: m.with_busy("Starting the service…"))
        try:
            proc = self._spawner()
        except OSError as exc:
            log.warning("starting the service failed: %s", exc.__class__.__name__)
            self._update(lambda m: m.with_busy(None))
            self._notify_start_failed()
            return
        self._started_proc = proc
        self._started_at = self._clock()
        if proc is not None:
            self._children.append(proc)
        self._poke.set()


_NOTE_VERBS = {Action.SIGN_NOTE: "sign", Action.COPY_NOTE: "copy", Action.SWAP_NOTE: "swap"}
_BUSY = {"sign": "Signing the note…", "copy": "Copying the note…", "swap": "Swapping the speakers…"}


def _session(path: str | None) -> str:
    return Path(str(path)).name.removesuffix(".note.md")


def _apply_event(m: TrayModel, *, name: str, data: dict[str, Any], now: float) -> tuple[TrayModel, list[Notice]]:
    return m.with_event(name, data, now)


def _without_default(v: TrayView) -> TrayView:
    from dataclasses import replace

    return replace(v, menu=tuple(replace(e, default=False) if e.action is Action.RECORD else e for e in v.menu))
