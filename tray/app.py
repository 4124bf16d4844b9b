"""The tray icon: a thin client of the hushnote service. No audio, no models, no queue logic here.

``main(cfg)`` shows the icon and blocks until "Quit tray". Two threads talk to the service (both stopped on
a sentinel when the tray quits):

- ``hushnote-tray-ipc`` subscribes to events and polls ``status``/``record.status`` about once a second;
  when the service goes away it shows "not running" and reconnects with a backoff (0.5 s doubling to 5 s);
- ``hushnote-tray-actions`` runs menu clicks (IPC calls, opening folders, starting the service) so the
  desktop's event loop never waits on the service.

Everything shown is computed by ``tray.state.view``; this module only moves data between the service,
that function and pystray. Logs carry operation names and error classes, never content (no PHI).

Backends (``PYSTRAY_BACKEND`` is set before pystray is imported, which fails without a display otherwise):
Linux uses ``appindicator`` when a StatusNotifier host is on the session bus (GNOME with the AppIndicator
extension, KDE, XFCE...), else ``gtk`` (an XEmbed tray icon: a left click stops a recording, and opens the
menu otherwise; it starts one only if ``recording.require_consent`` is off), both through
PyGObject (``pip install 'hushnote[tray-gtk]'``). Without PyGObject, ``xorg`` is the last resort: it has no
menu and no notifications and may drop clicks, so the tray then only shows the state and a click only
*stops* a recording (starting one needs the menu's consent wording). macOS and Windows use their native
backends; macOS runs the icon on the main thread.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import queue
import shutil
import subprocess  # noqa: S404 - fixed argument lists, no shell
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hushnote.daemon.core.threads import BackgroundThread
from hushnote.tray.state import Action, Notice, TrayModel, TrayView, view

if TYPE_CHECKING:
    from hushnote.daemon.core.config import Config

log = logging.getLogger("hushnote.tray")

POLL_INTERVAL = 1.0
BACKOFF_START = 0.5
BACKOFF_MAX = 5.0
CALL_TIMEOUT = 3.0
SERVICE_START_GRACE = 15.0  # seconds to wait for a started service before saying it failed

Render = Callable[[TrayView, list[Notice]], None]
Opener = Callable[[Path], None]
Spawner = Callable[[], "subprocess.Popen[bytes] | None"]


# ----------------------------------------------------------------------------- platform helpers

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
    cmd = open_command(path)
    if cmd is None:
        os.startfile(path)  # type: ignore[attr-defined]  # noqa: S606 - Windows only, a folder we own
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


def start_service(cfg: Config | None) -> subprocess.Popen[bytes] | None:
    """Start the service in the background, detached from the tray (it keeps running after "Quit tray").

    If ``hushnote service install`` set up a systemd user unit, ask systemd (so there is one service, with
    its restart policy); otherwise run ``hushnote daemon`` in a new session. Returns the process to watch.
    """
    unit = Path.home() / ".config" / "systemd" / "user" / "hushnote.service"
    systemctl = shutil.which("systemctl")
    if sys.platform.startswith("linux") and unit.exists() and systemctl:
        return subprocess.Popen([systemctl, "--user", "start", "hushnote.service"],  # noqa: S603
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kwargs: dict[str, Any] = {}
    if sys.platform == "win32":
        kwargs["creationflags"] = getattr(subprocess, "DETACHED_PROCESS", 0) | getattr(
            subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
    else:
        kwargs["start_new_session"] = True
    return subprocess.Popen(service_command(cfg), stdin=subprocess.DEVNULL,  # noqa: S603
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True, **kwargs)


# ----------------------------------------------------------------------------- the controller

class TrayController:
    """Keeps a ``TrayModel`` in step with the service and runs the menu's actions.

    ``render(view, notices)`` is called (from a worker thread) whenever what is shown may have changed;
    the pystray adapter (``PystrayUI``) is one such renderer, the tests use a recording one.
    """

    def __init__(self, endpoint: Path | Any, render: Render, *, cfg: Config | None = None,
                 notes_dir: Path | None = None, inbox_dir: Path | None = None,
                 opener: Opener = open_folder, spawner: Spawner | None = None,
                 on_quit: Callable[[], None] | None = None, poll_interval: float = POLL_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        from hushnote.ipc.client import IpcClient

        self._client = IpcClient(endpoint, timeout=CALL_TIMEOUT)
        self._render = render
        self._cfg = cfg
        self._notes = notes_dir or (cfg.path("paths.notes") if cfg is not None else None)
        self._inbox = inbox_dir or (cfg.path("paths.inbox") if cfg is not None else None)
        self._opener = opener
        self._spawner: Spawner = spawner or (lambda: start_service(cfg))
        self._on_quit = on_quit
        self._poll_interval = poll_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._model = TrayModel()
        self._view = view(self._model, clock())
        self._stop = threading.Event()
        self._poke = threading.Event()  # poll now (after an action)
        self._actions: queue.Queue[Action | None] = queue.Queue()
        self._threads: list[BackgroundThread] = []
        self._sub: Any = None
        self._started_proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._children: list[subprocess.Popen[bytes]] = []
        self.default_start_allowed = True  # False on a backend without a menu (xorg): click only stops

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> TrayController:
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
        return True

    def _lost(self) -> None:
        self._update(lambda m: m.disconnected())
        proc = self._started_proc
        if proc is None:
            return
        code = proc.poll()
        if (code is not None and code != 0) or self._clock() - self._started_at > SERVICE_START_GRACE:
            self._started_proc = None
            self._update(lambda m: m.with_busy(None))
            self._notify_start_failed()

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
                continue
            if self._poke.is_set() or self._clock() >= next_poll:
                self._poke.clear()
                if not self._poll():
                    return
                next_poll = self._clock() + self._poll_interval

    # ------------------------------------------------------------------ actions (menu clicks)

    def activate(self, action: Action) -> None:
        """Called by the UI on a click: queue the action, return at once."""
        if self._stop.is_set():
            return
        if action is Action.QUIT:
            self._quit()
            return
        self._actions.put(action)

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
            action = self._actions.get()
            if action is None or self._stop.is_set():
                return
            try:
                self._run_action(action)
            except Exception as exc:  # noqa: BLE001 - a failed click is reported, the tray keeps running
                log.warning("tray action %s failed: %s", action.value, exc.__class__.__name__)
                self._fail(f"Something went wrong ({exc.__class__.__name__}). Try again, or use the "
                           "`hushnote` command.")

    def _fail(self, message: str, title: str = "hushnote") -> None:
        self._update(lambda m: m.with_error(message))
        self._publish([Notice(title, message)])

    def _run_action(self, action: Action) -> None:
        from hushnote.ipc.client import ConnectionLost, DaemonNotRunning, IpcError, ServiceTimeout

        entry = self.current_view.entry(Action.RECORD if action is Action.CLICK else action)
        if not entry.enabled or not entry.visible:
            return  # e.g. a left click (default action) while the service is down
        model = self.model
        try:
            if action is Action.CLICK:  # the icon: stop; start only where no consent confirmation is asked for
                if model.recording:
                    self._client.call("record.stop")
                elif entry.default and not model.consent_required:
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
                self._update(lambda m: m.with_error(None))
            elif action in (Action.OPEN_NOTES, Action.OPEN_INBOX):
                self._open(self._notes if action is Action.OPEN_NOTES else self._inbox)
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


def _apply_event(m: TrayModel, *, name: str, data: dict[str, Any], now: float) -> tuple[TrayModel, list[Notice]]:
    return m.with_event(name, data, now)


def _without_default(v: TrayView) -> TrayView:
    from dataclasses import replace

    return replace(v, menu=tuple(replace(e, default=False) if e.action is Action.RECORD else e for e in v.menu))


# ----------------------------------------------------------------------------- pystray

def choose_backend(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> str | None:
    """The pystray backend to use, or None to let pystray pick (macOS, Windows). Respects PYSTRAY_BACKEND."""
    if environ.get("PYSTRAY_BACKEND"):
        return environ["PYSTRAY_BACKEND"]
    if platform in ("darwin", "win32"):
        return None
    try:
        import gi  # noqa: F401
    except ImportError:
        return "xorg"
    return "appindicator" if _has_status_notifier_host() else "gtk"


def _has_status_notifier_host() -> bool:
    """Is a StatusNotifier (AppIndicator) host on the session bus? Without one, an XEmbed tray is likelier."""
    try:
        from gi.repository import Gio

        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        names = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                              "ListNames", None, None, Gio.DBusCallFlags.NONE, 2000, None).unpack()[0]
    except Exception:  # noqa: BLE001 - no bus, no GLib: fall back to the XEmbed tray
        return False
    return any(n in names for n in ("org.kde.StatusNotifierWatcher", "org.freedesktop.StatusNotifierWatcher"))


class PystrayUI:
    """Draws ``TrayView``s on a pystray ``Icon`` and sends its clicks to the controller."""

    def __init__(self, icon_cls: Any, menu_cls: Any, item_cls: Any) -> None:
        self._Icon, self._Menu, self._Item = icon_cls, menu_cls, item_cls
        self.icon: Any = None
        self.controller: TrayController | None = None
        self._shown: tuple[Any, ...] = ()
        self._menu_shown: tuple[Any, ...] | None = None
        self._lock = threading.Lock()

    @property
    def has_menu(self) -> bool:
        """False on xorg: no menu is shown, but the default item still answers a click."""
        return bool(getattr(self._Icon, "HAS_MENU", True))

    def create(self, first: TrayView) -> Any:
        from hushnote.tray.icons import icon_image

        self.icon = self._Icon("hushnote", icon_image(first.icon, first.fraction), first.title,
                               menu=self._menu(first))
        self._shown = (first.icon, _pct(first.fraction), first.title)
        self._menu_shown = first.menu
        return self.icon

    def _menu(self, v: TrayView) -> Any:
        # first, hidden: what a click on the icon does (pystray runs the first default item); the visible
        # record item keeps its bold "default" look where that is what a click does
        items: list[Any] = [self._Item("click", self._clicked, default=True, visible=False)]
        for e in v.menu:
            if e.separator_before:
                items.append(self._Menu.SEPARATOR)
            items.append(self._Item(e.label, self._handler(e.action), default=e.default, enabled=e.enabled,
                                    visible=e.visible,
                                    checked=None if e.checked is None else (lambda _i, c=e.checked: c)))
        return self._Menu(*items)

    def _handler(self, action: Action) -> Callable[[Any, Any], None]:
        def handler(_icon: Any, _item: Any) -> None:
            if self.controller is not None:
                self.controller.activate(action)
        return handler

    def _clicked(self, _icon: Any, _item: Any) -> None:
        if self.controller is not None and not self.controller.click():
            self.open_menu()

    def open_menu(self) -> None:
        """Show the menu (gtk's XEmbed icon; appindicator opens it on any click itself, xorg has none)."""
        icon = self.icon
        handle, status_icon = getattr(icon, "_menu_handle", None), getattr(icon, "_status_icon", None)
        if handle is None or status_icon is None:
            return
        from gi.repository import Gtk

        # called from the icon's "activate" handler, in GTK's loop: the click is the current event
        handle.popup(None, None, Gtk.StatusIcon.position_menu, status_icon, 0, Gtk.get_current_event_time())

    def render(self, v: TrayView, notices: list[Notice]) -> None:
        from hushnote.tray.icons import icon_image

        icon = self.icon
        if icon is None:
            return
        with self._lock:
            if (v.icon, _pct(v.fraction)) != self._shown[:2]:
                icon.icon = icon_image(v.icon, v.fraction)
            if v.title != self._shown[2]:
                icon.title = v.title
                _set_tooltip(icon, v.title)
            self._shown = (v.icon, _pct(v.fraction), v.title)
            if v.menu != self._menu_shown:
                icon.menu = self._menu(v)
                self._menu_shown = v.menu
        if notices and getattr(icon, "HAS_NOTIFICATION", False):
            n = notices[-1]
            try:
                icon.notify(n.message, n.title)
            except Exception as exc:  # noqa: BLE001 - no notification service: the icon still shows it
                log.info("notification failed: %s", exc.__class__.__name__)


def _pct(f: float | None) -> int | None:
    return None if f is None else round(f * 20)


def _set_tooltip(icon: Any, text: str) -> None:
    """pystray's gtk backend sets only the StatusIcon's title; the hover tooltip is what people see."""
    status_icon = getattr(icon, "_status_icon", None)
    if status_icon is None:
        return
    from gi.repository import GLib

    GLib.idle_add(lambda: status_icon.set_tooltip_text(text) and False)


def run(endpoint: Path, cfg: Config | None = None, *, notes_dir: Path | None = None,
        inbox_dir: Path | None = None) -> int:
    """Show the tray until "Quit tray" (or SIGINT/SIGTERM). Returns an exit code."""
    backend = choose_backend()
    if backend:
        os.environ["PYSTRAY_BACKEND"] = backend
    if backend in ("gtk", "appindicator"):
        with contextlib.suppress(Exception):  # the name desktops show (WM_CLASS), before GTK starts
            from gi.repository import GLib

            GLib.set_prgname("hushnote")
            GLib.set_application_name("hushnote")
    try:
        import pystray
    except Exception as exc:  # noqa: BLE001 - explain instead of a traceback
        print("hushnote: the tray icon cannot start here: no desktop tray is available "
              f"({exc.__class__.__name__}). On Linux install the GTK extra: pip install 'hushnote[tray-gtk]'. "
              "The service works without the tray: use `hushnote status`.", file=sys.stderr)
        return 1
    if backend == "xorg":
        print("hushnote: using the basic X11 tray (no menu, no notifications; clicks may be missed). "
              "Install the GTK extra for the full menu: pip install 'hushnote[tray-gtk]'.", file=sys.stderr)
    ui = PystrayUI(pystray.Icon, pystray.Menu, pystray.MenuItem)
    controller = TrayController(endpoint, ui.render, cfg=cfg, notes_dir=notes_dir, inbox_dir=inbox_dir,
                                on_quit=lambda: ui.icon.stop())
    controller.default_start_allowed = ui.has_menu
    ui.controller = controller
    icon = ui.create(controller.current_view)

    def setup(ic: Any) -> None:
        ic.visible = True
        controller.start()  # its status poll (1 s) also moves the recording clock in the title

    _quit_on_sigterm(backend, icon)
    try:
        icon.run(setup)
    except Exception as exc:  # noqa: BLE001 - e.g. the notification service vanished at exit
        log.info("tray loop ended with %s", exc.__class__.__name__)
    finally:
        controller.stop()
    return 0


def _quit_on_sigterm(backend: str | None, icon: Any) -> None:
    """Leave the GLib loop cleanly on SIGTERM (a Python handler would not run inside it)."""
    if backend not in ("gtk", "appindicator"):
        return
    import signal

    from gi.repository import GLib

    def on_term() -> bool:
        icon.stop()
        return False

    with contextlib.suppress(Exception):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, on_term)


def main(cfg: Config) -> int:
    """``hushnote tray``: the tray icon for the service configured by ``cfg``."""
    from hushnote.ipc.paths import endpoint

    return run(endpoint(cfg), cfg)


def _cli(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hushnote.tray.app", description="the hushnote tray icon")
    p.add_argument("--config", metavar="FILE")
    args = p.parse_args(argv)
    from hushnote.daemon.core import config

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return main(config.load(args.config))


if __name__ == "__main__":
    raise SystemExit(_cli())
