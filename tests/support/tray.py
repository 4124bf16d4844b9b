"""The tray's test doubles and process helpers.

``FakeService`` answers the ops the tray uses, like the daemon would (serve it with ``IpcServer(sock, svc)``);
``start_tray``/``stop_tray`` run the real tray process on an X desktop (tests/support/xdesktop.py); the colour
helpers read the icon's state from its pixels. Screenshots go to ``ARTIFACTS``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hushnote.ipc.protocol import IpcError

from tests.support.paths import REPO
from tests.support.xdesktop import XDesktop

ARTIFACTS = REPO / "test-artifacts" / "tray"


class FakeService:
    """Answers the ops the tray uses, like the daemon would, and remembers every call."""

    def __init__(self, *, recorder: bool = True) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.state = "running"
        self.recording = False
        self.started = 0.0
        self.recorder = recorder
        self.require_consent = True
        self.start_error: IpcError | None = None
        self.current: dict[str, Any] | None = None
        self.queued = 0
        self.failed_recent: list[dict[str, Any]] = []  # job.done data of failed jobs, as the daemon lists them
        self.lock = threading.Lock()

    def ops(self) -> list[str]:
        with self.lock:
            return [op for op, _ in self.calls if op not in ("status", "record.status")]

    def __call__(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append((op, dict(args)))
        if op == "status":
            return {"state": self.state, "pid": 1, "version": "0.1.0",
                    "queue": {"queued": self.queued, "running": 1 if self.current else 0, "done": 0, "failed": 0,
                              "cancelled": 0},
                    "current": self.current, "running": [self.current] if self.current else [],
                    "failed_recent": list(self.failed_recent), "next_retention": None, "failed_audio_kept": 0}
        if op == "retry":
            with self.lock:
                job = next((f for f in self.failed_recent if f["id"] == args.get("id")), None)
                if job is None or not job.get("retryable"):
                    raise IpcError("conflict", "This job cannot be retried.")
                self.failed_recent.remove(job)
            return {"id": job["id"], "state": "queued"}
        if op in ("pause", "resume"):
            self.state = "paused" if op == "pause" else "running"
            return {"state": self.state}
        if op.startswith("record.") and not self.recorder:
            raise IpcError("unknown_op", f"The hushnote service does not offer '{op}'.")
        if op == "record.status":
            return {"recording": self.recording, "id": "r1" if self.recording else None,
                    "elapsed_s": time.monotonic() - self.started if self.recording else 0.0,
                    "level_db": -30.0 if self.recording else None, "device": "default",
                    "require_consent": self.require_consent}
        if op == "record.start":
            if self.start_error is not None:
                raise self.start_error
            if args.get("source") != "tray" or (self.require_consent and args.get("consent_confirmed") is not True):
                raise IpcError("conflict", "consent not confirmed")
            self.recording, self.started = True, time.monotonic() - 65
            return {"id": "r1", "recording": True}
        if op == "record.stop":
            self.recording = False
            return {"id": "r1", "recording": False}
        raise IpcError("unknown_op", f"The hushnote service does not offer '{op}'.")


def start_tray(desk: XDesktop, runtime: Path, backend: str, log: Path, *, config: Path | None = None,
               env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """The real tray process on ``desk`` (``config``: a daemon's settings file; ``env`` on top, e.g. that
    daemon's environment or a PATH with a stand-in ``xdg-open``)."""
    full = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime), **(env or {}), **desk.env,
            "PYSTRAY_BACKEND": backend, "PYTHONPATH": str(REPO)}
    full.pop("HUSHNOTE_CONFIG", None)
    cmd = [sys.executable, "-m", "hushnote.tray.app", *(["--config", str(config)] if config else [])]
    with log.open("ab") as f:
        return subprocess.Popen(cmd, env=full, cwd=REPO, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)


def stop_tray(proc: subprocess.Popen[bytes], log: Path) -> int:
    if proc.poll() is None:
        proc.terminate()  # SIGTERM: the tray leaves its loop cleanly
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
        raise AssertionError(f"the tray did not stop on SIGTERM; its log:\n{log.read_text()}") from None


def open_menu(desk: XDesktop, icon: dict[str, int], button: int = 3) -> dict[str, int]:
    """Click the tray icon and wait for its menu window (returned, root-relative)."""
    desk.click(icon, button)
    menu = desk.wait_window("hushnote", lambda w: w["height"] > 100 and w["width"] > 100)
    time.sleep(0.4)
    return menu


def keys(desk: XDesktop, *names: str) -> None:
    """Keyboard through the open menu (arrow keys skip greyed-out lines, as for a user)."""
    for k in names:
        desk.xdotool("key", k)
        time.sleep(0.2)


def notices(desk: XDesktop, prefix: str) -> list[dict[str, object]]:
    """The notifications shown so far whose summary starts with ``prefix``."""
    return [n for n in desk.notifications() if str(n["summary"]).startswith(prefix)]


def colour_share(img: object, pred: Callable[[tuple[int, int, int]], bool]) -> float:
    raw: bytes = img.tobytes()  # type: ignore[attr-defined]  # RGB
    px = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]
    return sum(1 for p in px if pred(p)) / max(1, len(px))


def reddish(p: tuple[int, int, int]) -> bool:
    return p[0] > 170 and p[1] < 90 and p[2] < 90


def amberish(p: tuple[int, int, int]) -> bool:
    return p[0] > 200 and 140 < p[1] < 210 and p[2] < 60


def bluish(p: tuple[int, int, int]) -> bool:
    return p[2] > 170 and p[0] < 80
