"""Which pystray backend the tray uses (``PYSTRAY_BACKEND`` is set before pystray is imported, which fails
without a display otherwise).

Linux uses ``appindicator`` when a StatusNotifier host is on the session bus (GNOME with the AppIndicator
extension, KDE, XFCE...), else ``gtk`` (an XEmbed tray icon: a left click stops a recording, and opens the
menu otherwise; it starts one only if ``recording.require_consent`` is off), both through
PyGObject (``pip install 'hushnote[tray-gtk]'``). Without PyGObject, ``xorg`` is the last resort: it has no
menu and no notifications and may drop clicks, so the tray then only shows the state and a click only
*stops* a recording (starting one needs the menu's consent wording). macOS and Windows use their native
backends; macOS runs the icon on the main thread.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping


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
