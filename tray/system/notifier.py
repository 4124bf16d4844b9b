"""Desktop notifications on Linux: org.freedesktop.Notifications over the session bus, through Gio.

pystray's own notifier sends an empty application name (a notification then says nothing of who sent it),
offers no action, and reuses one id (each notification replaces the last). This one sends ``Notice.app``
("hushnote") as the application name, gives a notice that ``opens`` a file (the note, the error report) a
default action, so a click on it opens that file, and keeps each notification. Servers without the
"actions" capability still show it; the menu is then the way to the note.

Calls are made, and the ActionInvoked/NotificationClosed signals delivered, on the GLib main loop the gtk
and appindicator backends run. Nothing is logged but error class names.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from hushnote.tray.state import Notice

log = logging.getLogger("hushnote.tray")

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
INTERFACE = BUS_NAME
DEFAULT_ACTION = "default"
OPEN_LABEL = "Open"


class DesktopNotifier:
    """Show ``Notice``s; ``on_open(path)`` runs when a notification that opens a file is clicked."""

    def __init__(self, on_open: Callable[[str], None], *, icon: str = "", bus: Any = None) -> None:
        from gi.repository import Gio

        self._gio = Gio
        self._bus = bus if bus is not None else Gio.bus_get_sync(Gio.BusType.SESSION, None)
        self._on_open = on_open
        self._icon = icon
        self._lock = threading.Lock()
        self._opens: dict[int, str] = {}  # notification id -> the file its default action opens
        self._actions: bool | None = None  # does the server offer actions (asked once)
        self._subs = [self._bus.signal_subscribe(BUS_NAME, INTERFACE, name, OBJECT_PATH, None,
                                                 Gio.DBusSignalFlags.NONE, handler, None)
                      for name, handler in (("ActionInvoked", self._invoked), ("NotificationClosed", self._closed))]

    def close(self) -> None:
        for sub in self._subs:
            self._bus.signal_unsubscribe(sub)
        self._subs = []

    def notify(self, notice: Notice) -> int:
        """Show ``notice``; returns the server's id for it (0 if it could not be shown)."""
        from gi.repository import GLib

        actions = [DEFAULT_ACTION, OPEN_LABEL] if notice.opens and self._has_actions() else []
        params = GLib.Variant("(susssasa{sv}i)", (notice.app, 0, self._icon, notice.title, notice.message, actions,
                                                  {}, -1))
        try:
            reply = self._bus.call_sync(BUS_NAME, OBJECT_PATH, INTERFACE, "Notify", params,
                                        GLib.VariantType.new("(u)"), self._gio.DBusCallFlags.NONE, 5000, None)
        except GLib.Error as exc:
            log.info("notification not shown: %s", exc.__class__.__name__)
            return 0
        nid = int(reply.unpack()[0])
        if actions and notice.opens:
            with self._lock:
                self._opens[nid] = notice.opens
        return nid

    def _has_actions(self) -> bool:
        if self._actions is None:
            from gi.repository import GLib

            try:
                caps = self._bus.call_sync(BUS_NAME, OBJECT_PATH, INTERFACE, "GetCapabilities", None,
                                           GLib.VariantType.new("(as)"), self._gio.DBusCallFlags.NONE, 5000,
                                           None).unpack()[0]
            except GLib.Error:
                caps = []
            self._actions = "actions" in caps
        return self._actions

    def _invoked(self, _conn: Any, _sender: str, _path: str, _iface: str, _signal: str, params: Any,
                 _data: Any) -> None:
        nid, key = params.unpack()
        with self._lock:
            path = self._opens.pop(int(nid), None) if key == DEFAULT_ACTION else None
        if path is not None:
            try:
                self._on_open(path)
            except Exception as exc:  # noqa: BLE001 - a failed open must not break the main loop
                log.info("opening from a notification failed: %s", exc.__class__.__name__)

    def _closed(self, _conn: Any, _sender: str, _path: str, _iface: str, _signal: str, params: Any,
                _data: Any) -> None:
        nid = int(params.unpack()[0])
        with self._lock:
            self._opens.pop(nid, None)
