"""The tray drawn with pystray: ``TrayView``s onto an ``Icon`` and its menu, clicks back to the controller.

A menu that changes only in the text of its informational lines (the recording's clock and level, a job's
percentage: ``state.menu_shape``) is updated in place on GTK (gtk and appindicator backends), so an open
menu does not flicker or close every second; any other change rebuilds it. Notifications go through
``notifier`` (``tray.system.notifier.DesktopNotifier``: the app's name, a click opens the note) when there is one,
else through pystray.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from hushnote.tray.controller import TrayController
from hushnote.tray.state import Action, MenuEntry, Notice, TrayView, menu_shape

log = logging.getLogger("hushnote.tray")


class PystrayUI:
    """Draws ``TrayView``s on a pystray ``Icon`` and sends its clicks to the controller."""

    def __init__(self, icon_cls: Any, menu_cls: Any, item_cls: Any) -> None:
        self._Icon, self._Menu, self._Item = icon_cls, menu_cls, item_cls
        self.icon: Any = None
        self.controller: TrayController | None = None
        self._shown: tuple[Any, ...] = ()
        self._menu_shown: tuple[MenuEntry, ...] | None = None
        self._lock = threading.Lock()
        self.notifier: Any = None  # tray.system.notifier.DesktopNotifier, where the desktop has one

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
        return self._Menu(self._Item("click", self._clicked, default=True, visible=False), *self._items(v.menu))

    def _items(self, entries: tuple[MenuEntry, ...]) -> list[Any]:
        items: list[Any] = []
        for e in entries:
            if e.separator_before:
                items.append(self._Menu.SEPARATOR)
            action: Any = self._Menu(*self._items(e.submenu)) if e.submenu else self._handler(e.action, e.arg)
            items.append(self._Item(e.label, action, default=e.default, enabled=e.enabled, visible=e.visible,
                                    checked=None if e.checked is None else (lambda _i, c=e.checked: c)))
        return items

    def _handler(self, action: Action, arg: str | None) -> Callable[[Any, Any], None]:
        def handler(_icon: Any, _item: Any) -> None:
            if self.controller is not None:
                self.controller.activate(action, arg)
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
                self._show_menu(icon, v)
        self._notify(icon, notices)

    def _show_menu(self, icon: Any, v: TrayView) -> None:
        """Relabel the open menu in place when only its informational lines changed; else rebuild it."""
        menu = self._menu(v)
        handle = getattr(icon, "_menu_handle", None)
        same = self._menu_shown is not None and menu_shape(v.menu) == menu_shape(self._menu_shown)
        self._menu_shown = v.menu
        if same and handle is not None and hasattr(icon, "_menu"):
            from gi.repository import GLib

            icon._menu = menu  # what pystray would rebuild from; the GTK menu is relabelled instead
            GLib.idle_add(_relabel, handle, menu)
            return
        icon.menu = menu

    def _notify(self, icon: Any, notices: list[Notice]) -> None:
        if not notices:
            return
        try:
            if self.notifier is not None:
                for n in notices:
                    self.notifier.notify(n)
            elif getattr(icon, "HAS_NOTIFICATION", False):
                n = notices[-1]
                icon.notify(n.message, n.title)
        except Exception as exc:  # noqa: BLE001 - no notification service: the icon and menu still show it
            log.info("notification failed: %s", exc.__class__.__name__)


def _relabel(gtk_menu: Any, menu: Any) -> bool:
    """Give each GTK menu item the text of its pystray item (the GTK menu holds the visible items and
    separators in pystray's order); submenus too. Runs on the GLib loop, once."""
    for widget, item in zip(gtk_menu.get_children(), list(menu), strict=False):
        if item is menu.SEPARATOR:
            continue
        if widget.get_label() != item.text:
            widget.set_label(item.text)
        sub = widget.get_submenu()
        if item.submenu and sub is not None:
            _relabel(sub, item.submenu)
    return False


def _pct(f: float | None) -> int | None:
    return None if f is None else round(f * 20)


def _set_tooltip(icon: Any, text: str) -> None:
    """pystray's gtk backend sets only the StatusIcon's title; the hover tooltip is what people see."""
    status_icon = getattr(icon, "_status_icon", None)
    if status_icon is None:
        return
    from gi.repository import GLib

    GLib.idle_add(lambda: status_icon.set_tooltip_text(text) and False)
