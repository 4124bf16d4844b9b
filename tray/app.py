"""The tray icon: a thin client of the hushnote service. No audio, no models, no queue logic here.

``main(cfg)`` (``hushnote tray``, or ``python -m hushnote.tray.app``) shows the icon and blocks until
"Quit tray". The parts: ``backend`` (which pystray backend), ``controller`` (the service link and the menu's
actions), ``ui`` (pystray), ``state`` (what is shown), ``icons``, ``desktop`` (folders, starting the service).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hushnote.tray.controller import TrayController
from hushnote.tray.system.backend import choose_backend
from hushnote.tray.ui import PystrayUI

if TYPE_CHECKING:
    from hushnote.daemon.core.config import Config

log = logging.getLogger("hushnote.tray")


def run(endpoint: Path, cfg: Config | None = None, *, notes_dir: Path | None = None,
        inbox_dir: Path | None = None) -> int:
    """Show the tray until "Quit tray" (or SIGINT/SIGTERM). Returns an exit code; 3 when another tray of this
    user and service is already running (two would double every icon and notification)."""
    from hushnote.tray.system.single import TrayAlreadyRunning, tray_lock

    try:
        lock = tray_lock(endpoint).acquire()
    except TrayAlreadyRunning as exc:
        print(f"hushnote: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        return _run(endpoint, cfg, notes_dir=notes_dir, inbox_dir=inbox_dir)
    finally:
        lock.release()


def _run(endpoint: Path, cfg: Config | None, *, notes_dir: Path | None, inbox_dir: Path | None) -> int:
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
    if backend in ("gtk", "appindicator"):
        _desktop_extras(ui, controller)
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


def _desktop_extras(ui: PystrayUI, controller: TrayController) -> None:
    """On GTK desktops: notifications with the app's name that open the note, and questions as dialogs."""
    from hushnote.tray.system.dialogs import GtkAsker
    from hushnote.tray.system.notifier import DesktopNotifier

    controller.asker = GtkAsker().ask
    try:
        ui.notifier = DesktopNotifier(controller.open_file)
    except Exception as exc:  # noqa: BLE001 - no session bus: pystray's notifications, or none
        log.info("desktop notifications unavailable: %s", exc.__class__.__name__)


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
