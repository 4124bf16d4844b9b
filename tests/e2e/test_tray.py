"""End to end: the real tray process, a real X server with a system tray, real clicks, a real IPC server.

Xvfb + a session bus + trayer come from ``tests/support/xdesktop.py``. The tray runs as ``python -m hushnote.tray.app``
against an in-test ``IpcServer``; ``xdotool`` clicks the embedded icon and its menu, and the service side
checks which ops arrived. Screenshots of each state go to ``test-artifacts/tray/``.
"""

from __future__ import annotations

import time
from pathlib import Path

from hushnote.ipc.server import IpcServer

from tests.support.tray import (
    ARTIFACTS,
    FakeService,
    amberish,
    bluish,
    colour_share,
    reddish,
    start_tray,
    stop_tray,
)
from tests.support.waiting import wait_until
from tests.support.xdesktop import XDesktop


def test_gtk_tray_under_trayer(desk: XDesktop, runtime: Path, tmp_path: Path) -> None:
    sock = runtime / "hushnote" / "ipc.sock"
    svc = FakeService()
    log = tmp_path / "tray.log"
    proc = start_tray(desk, runtime, "gtk", log)
    try:
        # no service yet: the warning triangle
        icon = desk.wait_tray_icon("hushnote")
        wait_until(lambda: colour_share(desk.pixels(icon), amberish) > 0.1, timeout=10)
        desk.screenshot(ARTIFACTS / "gtk-1-no-service.png")
        with IpcServer(sock, svc) as server:
            wait_until(lambda: server.subscribers == 1, timeout=10)  # it found the service by itself
            wait_until(lambda: colour_share(desk.pixels(icon), amberish) < 0.02, timeout=5)
            desk.screenshot(ARTIFACTS / "gtk-2-idle.png")

            # left click: consent is required, so it opens the menu instead of recording; its first item,
            # "Start recording (client has consented)", is the clinician's confirmation
            desk.click(icon, button=1)
            menu = desk.wait_window("hushnote", lambda w: w["height"] > 100 and w["width"] > 100)
            time.sleep(0.3)
            desk.screenshot(ARTIFACTS / "gtk-3-menu-from-left-click.png")
            assert svc.ops() == []
            desk.click_at(menu["x"] + 40, menu["y"] + 14, button=1)
            wait_until(lambda: "record.start" in svc.ops(), timeout=5)
            assert ("record.start", {"consent_confirmed": True, "source": "tray"}) in svc.calls
            wait_until(lambda: colour_share(desk.pixels(icon), reddish) > 0.3, timeout=5)
            desk.screenshot(ARTIFACTS / "gtk-4-recording.png")

            # while recording, a left click stops
            desk.click(icon, button=1)
            wait_until(lambda: "record.stop" in svc.ops(), timeout=5)
            assert svc.ops() == ["record.start", "record.stop"]
            wait_until(lambda: colour_share(desk.pixels(icon), reddish) < 0.05, timeout=5)

            # a job in progress, then done: the ring, then a desktop notification
            svc.current = {"id": "j1", "kind": "recording", "stage": "transcribe", "fraction": 0.5}
            server.publish("job.progress", {"id": "j1", "stage": "transcribe", "fraction": 0.5})
            wait_until(lambda: colour_share(desk.pixels(icon), bluish) > 0.1, timeout=5)
            desk.screenshot(ARTIFACTS / "gtk-5-processing.png")
            svc.current = None
            server.publish("job.done", {"id": "j1", "state": "done"})
            wait_until(lambda: any(n["summary"] == "Draft note ready" for n in desk.notifications()), timeout=5)
        # the service stops: back to the warning triangle
        wait_until(lambda: colour_share(desk.pixels(icon), amberish) > 0.1, timeout=10)
        desk.screenshot(ARTIFACTS / "gtk-6-service-stopped.png")
        assert proc.poll() is None
        # "Quit tray", the menu's last item, ends the process cleanly
        desk.click(icon, button=3)
        menu = desk.wait_window("hushnote", lambda w: w["height"] > 100 and w["width"] > 100)
        time.sleep(0.3)
        desk.click_at(menu["x"] + 40, menu["y"] + menu["height"] - 14, button=1)
        proc.wait(timeout=10)
    finally:
        code = stop_tray(proc, log)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()


def test_appindicator_backend_falls_back_to_the_xembed_tray(desk: XDesktop, runtime: Path, tmp_path: Path) -> None:
    """Without a StatusNotifier host, libayatana-appindicator shows an XEmbed icon; a click opens the menu."""
    sock = runtime / "hushnote" / "ipc.sock"
    svc = FakeService()
    log = tmp_path / "tray.log"
    with IpcServer(sock, svc) as server:
        proc = start_tray(desk, runtime, "appindicator", log)
        try:
            wait_until(lambda: server.subscribers == 1, timeout=15)
            icon = desk.wait_tray_icon("hushnote")
            desk.click(icon, button=1)  # appindicator: any click opens the menu (no default action)
            menu = desk.wait_window("hushnote", lambda w: w["height"] > 100 and w["width"] > 100)
            time.sleep(0.3)
            desk.screenshot(ARTIFACTS / "appindicator-menu.png")
            desk.click_at(menu["x"] + 40, menu["y"] + 14, button=1)  # "Start recording (client has consented)"
            wait_until(lambda: "record.start" in svc.ops(), timeout=5)
            assert ("record.start", {"consent_confirmed": True, "source": "tray"}) in svc.calls
        finally:
            code = stop_tray(proc, log)
    assert code == 0, log.read_text()
