"""A throwaway X desktop for end-to-end tray tests: Xvfb + a session D-Bus + trayer (an XEmbed system tray)
+ a stand-in notification service that records what it is asked to show.

    with xdesktop(tmp_path) as desk:
        proc = subprocess.Popen([...], env={**os.environ, **desk.env})
        wid = desk.wait_tray_icon("hushnote")
        desk.click(wid, button=1)
        desk.screenshot(path)

Every process started here is a direct child (no ``--fork``) and is killed and reaped on exit, so the
conftest leak guard stays green. Needs: Xvfb, dbus-daemon, trayer, xdotool, imagemagick ``import``,
python-xlib (a pystray dependency on Linux) and PyGObject for the notification stand-in.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

TOOLS = ("Xvfb", "dbus-daemon", "trayer", "xdotool", "import", "gdbus")

# A minimal org.freedesktop.Notifications: appends each Notify call as a JSON line to argv[1]. It offers actions;
# its extra method Click(id, key) stands in for the user clicking a notification (ActionInvoked, then closed).
_NOTIFIER = r'''
import json, sys
from gi.repository import Gio, GLib
XML = """<node><interface name="org.freedesktop.Notifications">
<method name="Notify"><arg type="s" direction="in"/><arg type="u" direction="in"/><arg type="s" direction="in"/>
<arg type="s" direction="in"/><arg type="s" direction="in"/><arg type="as" direction="in"/>
<arg type="a{sv}" direction="in"/><arg type="i" direction="in"/><arg type="u" direction="out"/></method>
<method name="CloseNotification"><arg type="u" direction="in"/></method>
<method name="GetCapabilities"><arg type="as" direction="out"/></method>
<method name="GetServerInformation"><arg type="s" direction="out"/><arg type="s" direction="out"/>
<arg type="s" direction="out"/><arg type="s" direction="out"/></method>
<method name="Click"><arg type="u" direction="in"/><arg type="s" direction="in"/></method>
<signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
<signal name="NotificationClosed"><arg type="u"/><arg type="u"/></signal>
</interface></node>"""
out = sys.argv[1]
info = Gio.DBusNodeInfo.new_for_xml(XML).interfaces[0]
count = [0]
def call(conn, sender, path, iface, method, params, inv):
    if method == "Notify":
        a = params.unpack()
        count[0] += 1
        with open(out, "a") as f:
            f.write(json.dumps({"id": count[0], "app": a[0], "summary": a[3], "body": a[4],
                                "actions": a[5]}) + "\n")
        inv.return_value(GLib.Variant("(u)", (count[0],)))
    elif method == "GetCapabilities":
        inv.return_value(GLib.Variant("(as)", (["body", "actions"],)))
    elif method == "Click":
        nid, key = params.unpack()
        conn.emit_signal(None, path, iface, "ActionInvoked", GLib.Variant("(us)", (nid, key)))
        conn.emit_signal(None, path, iface, "NotificationClosed", GLib.Variant("(uu)", (nid, 2)))
        inv.return_value(None)
    elif method == "GetServerInformation":
        inv.return_value(GLib.Variant("(ssss)", ("fake", "hushnote-tests", "1", "1.2")))
    else:
        inv.return_value(None)
def acquired(conn, name):
    open(out + ".ready", "w").close()
def bus(conn, name):
    conn.register_object("/org/freedesktop/Notifications", info, call, None, None)
Gio.bus_own_name(Gio.BusType.SESSION, "org.freedesktop.Notifications", Gio.BusNameOwnerFlags.NONE,
                 bus, acquired, None)
GLib.MainLoop().run()
'''


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


@dataclass
class XDesktop:
    display: str
    env: dict[str, str]
    workdir: Path
    notifications_file: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # ------------------------------------------------------------------ X queries (python-xlib)

    def _x(self) -> Any:
        from Xlib import display

        return display.Display(self.display)

    def tray_owner(self) -> int:
        d = self._x()
        try:
            owner = d.get_selection_owner(d.intern_atom("_NET_SYSTEM_TRAY_S0"))
            return 0 if owner in (0, None) else int(owner.id)
        finally:
            d.close()

    def windows(self, wm_class: str) -> list[dict[str, int]]:
        """Viewable windows whose WM_CLASS contains ``wm_class``, with root-relative geometry."""
        d = self._x()
        found: list[dict[str, int]] = []
        try:
            root = d.screen().root

            def walk(w: Any) -> None:
                for child in w.query_tree().children:
                    try:
                        cls = child.get_wm_class() or ()
                        attrs = child.get_attributes()
                        geo = child.get_geometry()
                    except Exception:  # noqa: BLE001, S112 - a window vanished meanwhile
                        continue
                    if wm_class in cls and attrs.map_state == 2 and geo.width > 4:
                        pos = child.translate_coords(root, 0, 0)
                        found.append({"id": int(child.id), "x": -pos.x, "y": -pos.y, "width": geo.width,
                                      "height": geo.height})
                    walk(child)

            walk(root)
        finally:
            d.close()
        return found

    def wait_tray_icon(self, wm_class: str, timeout: float = 15.0) -> dict[str, int]:
        """The tray icon window embedded in trayer's panel (not a top-level window)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for w in self.windows(wm_class):
                if w["y"] < 40 and w["width"] <= 64:  # trayer is the 32 px strip at the top
                    return w
            time.sleep(0.1)
        raise AssertionError(f"no tray icon of class {wm_class!r} appeared in the tray")

    def wait_window(self, wm_class: str, pred: Any, timeout: float = 10.0) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for w in self.windows(wm_class):
                if pred(w):
                    return w
            time.sleep(0.1)
        raise AssertionError(f"no such window of class {wm_class!r}")

    # ------------------------------------------------------------------ input and pictures

    def xdotool(self, *args: str) -> str:
        return subprocess.run(["xdotool", *args], env={**os.environ, **self.env}, check=True,
                              capture_output=True, timeout=10).stdout.decode()

    def click_at(self, x: int, y: int, button: int = 1) -> None:
        self.xdotool("mousemove", str(x), str(y))
        time.sleep(0.1)
        self.xdotool("click", str(button))

    def click(self, win: dict[str, int], button: int = 1) -> None:
        self.click_at(win["x"] + win["width"] // 2, win["y"] + win["height"] // 2, button)

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["import", "-display", self.display, "-window", "root", str(path)], check=True,
                       capture_output=True, timeout=20)
        return path

    def pixels(self, win: dict[str, int]) -> Any:
        """The window's area of the screen as a Pillow image."""
        from PIL import Image

        shot = self.screenshot(self.workdir / "probe.png")
        with Image.open(shot) as im:
            return im.convert("RGB").crop((win["x"], win["y"], win["x"] + win["width"],
                                           win["y"] + win["height"]))

    def click_notification(self, nid: int, key: str = "default") -> None:
        """The user clicks notification ``nid`` (the stand-in emits ActionInvoked and NotificationClosed)."""
        subprocess.run(["gdbus", "call", "--session", "--dest", "org.freedesktop.Notifications", "--object-path",
                        "/org/freedesktop/Notifications", "--method", "org.freedesktop.Notifications.Click",
                        str(nid), key], env={**os.environ, **self.env}, check=True, capture_output=True, timeout=10)

    def notifications(self) -> list[dict[str, Any]]:
        if not self.notifications_file.exists():
            return []
        return [json.loads(line) for line in self.notifications_file.read_text().splitlines() if line]


def _start(cmd: list[str], procs: list[subprocess.Popen[bytes]], env: dict[str, str],
           log: Path | None = None, **kw: Any) -> subprocess.Popen[bytes]:
    kw.setdefault("stdout", subprocess.DEVNULL)
    with contextlib.ExitStack() as stack:
        kw["stderr"] = stack.enter_context(log.open("wb")) if log else subprocess.DEVNULL
        p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, **kw)
    procs.append(p)
    return p


def _stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
    for p in reversed(procs):
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
        if p.stdout is not None:
            p.stdout.close()


def _wait_x(display: str, timeout: float = 10.0) -> None:
    from Xlib import display as xdisplay
    from Xlib.error import DisplayError

    deadline = time.monotonic() + timeout
    while True:
        try:
            xdisplay.Display(display).close()
            return
        except DisplayError:
            if time.monotonic() > deadline:
                raise AssertionError(f"Xvfb {display} does not accept connections") from None
            time.sleep(0.05)


def start_xvfb(procs: list[subprocess.Popen[bytes]], env: dict[str, str]) -> str:
    """Start Xvfb on a free display (it writes the number to a pipe); returns ``:N`` once it takes clients."""
    r, w = os.pipe()
    try:
        _start(["Xvfb", "-displayfd", str(w), "-screen", "0", "800x600x24", "-nolisten", "tcp"], procs,
               env, pass_fds=(w,))
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as f:
        num = f.readline().decode().strip()
    if not num.isdigit():
        raise AssertionError("Xvfb did not start")
    _wait_x(f":{num}")
    return f":{num}"


@contextlib.contextmanager
def xserver() -> Iterator[str]:
    """Only a virtual X server (no tray, no D-Bus): yields its ``DISPLAY``; killed and reaped on exit."""
    if shutil.which("Xvfb") is None:
        pytest.skip("not installed: Xvfb")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield start_xvfb(procs, {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")})
    finally:
        _stop_all(procs)


@contextlib.contextmanager
def xdesktop(workdir: Path) -> Iterator[XDesktop]:
    """Start the desktop; on exit kill (and reap) every process it started."""
    if missing := missing_tools():
        pytest.skip(f"not installed: {', '.join(missing)}")
    workdir.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    base = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY",
                                                              "DBUS_SESSION_BUS_ADDRESS")}
    try:
        display = start_xvfb(procs, base)
        env = {**base, "DISPLAY": display, "NO_AT_BRIDGE": "1", "GDK_BACKEND": "x11"}

        bus = _start(["dbus-daemon", "--session", "--nofork", "--print-address=1"], procs, env,
                     stdout=subprocess.PIPE)
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        if not address:
            raise AssertionError("dbus-daemon did not start")
        env["DBUS_SESSION_BUS_ADDRESS"] = address

        notes = workdir / "notifications.jsonl"
        _start([sys.executable, "-c", _NOTIFIER, str(notes)], procs, env, workdir / "notifier.log")

        trayer = ["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel", "--width", "200",
                  "--height", "32", "--SetDockType", "true", "--transparent", "false", "--tint", "0x808080"]
        tray = _start(trayer, procs, env, workdir / "trayer.log")
        desk = XDesktop(display, {k: env[k] for k in ("DISPLAY", "NO_AT_BRIDGE", "GDK_BACKEND",
                                                      "DBUS_SESSION_BUS_ADDRESS")}, workdir, notes, procs)
        deadline = time.monotonic() + 15
        restarts = 0
        while not desk.tray_owner() or not Path(str(notes) + ".ready").exists():
            if tray.poll() is not None and restarts < 3:  # seen once: "cannot open display" right at start
                restarts += 1
                time.sleep(0.2)
                tray = _start(trayer, procs, env, workdir / "trayer.log")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"trayer owns the tray: {bool(desk.tray_owner())}, notification stand-in ready: "
                    f"{Path(str(notes) + '.ready').exists()}; exits: {[p.poll() for p in procs]}; "
                    f"trayer: {(workdir / 'trayer.log').read_text()[-500:]!r}; "
                    f"notifier: {(workdir / 'notifier.log').read_text()[-500:]!r}")
            time.sleep(0.05)
        yield desk
    finally:
        _stop_all(procs)
