"""End to end with nothing faked: the real tray process (gtk backend under Xvfb + trayer + a session bus), the
real daemon subprocess recording from a private PulseAudio server, real speech, the tiny.en model.

``xdotool`` clicks the icon and its menu; whether the daemon records is checked over IPC; screenshots of each
state go to ``test-artifacts/tray/daemon-*.png``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import Daemon, pulse_daemon
from tests.support.pulse import PulseServer
from tests.support.speech import joined_clips, write_wav
from tests.support.tray import ARTIFACTS, amberish, colour_share, reddish, start_tray, stop_tray
from tests.support.waiting import wait_for
from tests.support.xdesktop import XDesktop


@pytest.fixture()
def daemon(tmp_path: Path, home: Path, pulse: PulseServer) -> Iterator[Daemon]:
    """A daemon recording from the module's PulseAudio server."""
    with pulse_daemon(tmp_path / "hn", home, pulse) as d:
        yield d


def test_tray_records_through_the_real_daemon(desk: XDesktop, daemon: Daemon, pulse: PulseServer,
                                              eval_dir: Path, tmp_path: Path) -> None:
    samples, _ = joined_clips(eval_dir, ["jfk"])
    wav = write_wav(tmp_path / "jfk.wav", samples)
    daemon.start()
    log = tmp_path / "tray.log"
    proc = start_tray(desk, daemon.runtime, "gtk", log)  # the daemon's XDG_RUNTIME_DIR: its socket
    try:
        icon = desk.wait_tray_icon("hushnote")
        wait_for(lambda: colour_share(desk.pixels(icon), amberish) < 0.02, 15)  # connected: idle
        desk.screenshot(ARTIFACTS / "daemon-1-idle.png")

        # consent is required (the default): a left click opens the menu; its first item starts
        desk.click(icon, button=1)
        menu = desk.wait_window("hushnote", lambda w: w["height"] > 100 and w["width"] > 100)
        time.sleep(0.3)
        desk.screenshot(ARTIFACTS / "daemon-2-menu.png")
        assert not daemon.call("record.status")["recording"], "opening the menu does not record"
        desk.click_at(menu["x"] + 40, menu["y"] + 14, button=1)  # "Start recording (client has consented)"
        assert wait_for(lambda: daemon.call("record.status")["recording"], 10), "the daemon is recording"
        assert wait_for(lambda: colour_share(desk.pixels(icon), reddish) > 0.3, 10)
        pulse.play_and_wait(wav)
        desk.screenshot(ARTIFACTS / "daemon-3-recording.png")
        rec_id = daemon.call("record.status")["id"]

        # while recording, a left click stops
        desk.click(icon, button=1)
        assert wait_for(lambda: not daemon.call("record.status")["recording"], 10), "the daemon stopped"
        assert wait_for(lambda: daemon.counts()["done"] == 1, 120), daemon.call("queue")
        # named by the session; JFK's speech has nothing a progress note asks for, so it may say "Empty note"
        ready = ("Draft note ready: Session ", "Empty note: Session ")
        assert wait_for(lambda: any(n["summary"].startswith(ready) and n["app"] == "hushnote"
                                    for n in desk.notifications()), 10), desk.notifications()
        assert wait_for(lambda: colour_share(desk.pixels(icon), reddish) < 0.05, 10)
        desk.screenshot(ARTIFACTS / "daemon-4-note-ready.png")
        assert len(list(daemon.notes.glob("*.note.md"))) == 1
        assert rec_id.startswith("rec-")
    finally:
        code = stop_tray(proc, log)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    assert daemon.stop() == 0
