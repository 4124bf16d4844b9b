"""A tray a clinician can trust, tried as a new user would: the real tray process (gtk backend) under Xvfb +
trayer + a session bus, the real daemon as a process, real files in its inbox, real clicks and keys (xdotool).

What it shows is checked where a user sees it: the notifications (the stand-in server records them, with
the application name, and can click them), the icon's pixels, what the tray opens (``xdg-open`` is a
stand-in on PATH that writes down what it was given), the clipboard (``xclip -o``), the files on disk and
the daemon's state over IPC. Screenshots of each state go to ``test-artifacts/tray/trust-*.png``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import Daemon, pulse_daemon
from tests.support.paths import EVAL, REPO
from tests.support.pulse import PulseServer
from tests.support.speech import JFK, joined_clips, write_wav
from tests.support.tray import (
    ARTIFACTS,
    amberish,
    colour_share,
    keys,
    notices,
    open_menu,
    reddish,
    start_tray,
    stop_tray,
)
from tests.support.waiting import wait_for, wait_until
from tests.support.xdesktop import XDesktop

NOT_AUDIO = "The file is not audio (or is damaged)."


def stand_in_opener(root: Path) -> tuple[dict[str, str], Path]:
    """A PATH whose ``xdg-open`` writes its argument to a file (returned) instead of starting an application."""
    bindir = root / "bin"
    bindir.mkdir(parents=True)
    opened = root / "opened.txt"
    script = bindir / "xdg-open"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{opened}"\n')
    script.chmod(0o755)
    return {"PATH": f"{bindir}:{os.environ['PATH']}"}, opened


def opened_files(opened: Path) -> list[str]:
    return opened.read_text().splitlines() if opened.exists() else []


def tray_icons(desk: XDesktop) -> list[dict[str, int]]:
    return [w for w in desk.windows("hushnote") if w["y"] < 40 and w["width"] <= 64]




def test_failures_notes_sign_copy_and_one_tray(desk: XDesktop, tmp_path: Path, home: Path) -> None:
    d = Daemon(tmp_path / "hn", home)
    env, opened = stand_in_opener(tmp_path)
    log, log2 = tmp_path / "tray.log", tmp_path / "tray2.log"
    try:
        d.start()
        proc = start_tray(desk, d.runtime, "gtk", log, config=d.config, env={**d.env, **env})
        try:
            icon = desk.wait_tray_icon("hushnote")
            wait_until(lambda: colour_share(desk.pixels(icon), amberish) < 0.02, timeout=15)  # connected
            # a second tray is refused: one icon, one set of notifications
            second = start_tray(desk, d.runtime, "gtk", log2, config=d.config, env={**d.env, **env})
            assert second.wait(30) == 3
            assert "The hushnote tray is already running" in log2.read_text()
            assert len(tray_icons(desk)) == 1

            # a file that is not audio: a notification naming the session, in plain words, from "hushnote"
            (d.inbox / "Tuesday group.m4a").write_text("a shopping list, not a recording\n")
            assert wait_for(lambda: notices(desk, "No note for"), 30), desk.notifications()
            [failed] = notices(desk, "No note for")
            assert failed["app"] == "hushnote" and failed["summary"] == "No note for: Tuesday group"
            assert str(failed["body"]).startswith(NOT_AUDIO) and failed["actions"] == ["default", "Open"]
            # its icon: the note page with a red cross, not the service-down triangle
            wait_until(lambda: 0.02 < colour_share(desk.pixels(icon), reddish) < 0.2, timeout=10)
            assert colour_share(desk.pixels(icon), amberish) < 0.02
            desk.screenshot(ARTIFACTS / "trust-1-failed-icon.png")
            report = d.notes / "Tuesday group.error.txt"
            assert report.exists()

            # the menu lists it with the reason; Show report opens the error report
            open_menu(desk, icon)
            desk.screenshot(ARTIFACTS / "trust-2-failed-menu.png")
            keys(desk, "Down", "Down", "Down", "Right")  # Start recording, Dismiss, the failure ▸ (Retry greyed)
            desk.screenshot(ARTIFACTS / "trust-3-failure-submenu.png")
            keys(desk, "Return")  # Show report
            assert wait_for(lambda: opened_files(opened) == [str(report)], 10), opened_files(opened)
            # so does a click on the notification
            desk.click_notification(int(str(failed["id"])))
            assert wait_for(lambda: opened_files(opened) == [str(report)] * 2, 10), opened_files(opened)

            # dismissing the warning: the icon calms down, the failure stays in the menu
            open_menu(desk, icon)
            keys(desk, "Down", "Down", "Return")  # Dismiss this warning
            wait_until(lambda: colour_share(desk.pixels(icon), reddish) < 0.01, timeout=10)
            open_menu(desk, icon)
            desk.screenshot(ARTIFACTS / "trust-4-dismissed-failure-kept.png")
            keys(desk, "Escape")

            # two sessions: one with nothing for the note, one with a draft
            shutil.copy(EVAL / "speech" / JFK, d.inbox / "jfk.flac")
            assert wait_for(lambda: notices(desk, "Empty note"), 180), desk.notifications()
            shutil.copy(REPO / "samples" / "sample-session.flac", d.inbox / "sample-session.flac")
            assert wait_for(lambda: notices(desk, "Draft note ready"), 300), desk.notifications()
            [empty], [ready] = notices(desk, "Empty note"), notices(desk, "Draft note ready")
            assert empty["summary"] == "Empty note: jfk" and "not discussed" in str(empty["body"])
            assert ready["summary"] == "Draft note ready: sample-session" and ready["app"] == "hushnote"
            note = d.notes / "sample-session.note.md"
            desk.click_notification(int(str(ready["id"])))  # the notification opens that note
            assert wait_for(lambda: opened_files(opened)[-1:] == [str(note)], 10), opened_files(opened)

            # the last notes, newest first: Sign… asks, then signs
            time.sleep(6)  # the tray reads the notes folder every few seconds
            open_menu(desk, icon)
            keys(desk, "Down", "Down", "Down", "Right", "Down")  # Start, the failure, sample-session ▸ Sign…
            desk.screenshot(ARTIFACTS / "trust-5-note-submenu.png")
            keys(desk, "Return")
            dialog = desk.wait_window("hushnote", lambda w: w["width"] > 300 and 80 < w["height"] < 400)
            time.sleep(0.5)
            desk.screenshot(ARTIFACTS / "trust-6-sign-dialog.png")
            assert 'status: "draft"' in note.read_text(), "nothing is signed before the clinician says so"
            keys(desk, "Tab", "Return")  # from the default (Cancel) to "Sign note"
            assert wait_for(lambda: notices(desk, "Signed"), 60), (desk.notifications(), log.read_text())
            assert 'status: "signed"' in note.read_text() and note.stat().st_mode & 0o222 == 0
            assert str(note) not in str(notices(desk, "Signed")[0]["body"])
            assert dialog["id"] not in [w["id"] for w in desk.windows("hushnote")]

            # Copy for the record: the note as plain text on the clipboard
            open_menu(desk, icon)
            keys(desk, "Down", "Down", "Down", "Right", "Down", "Return")  # ▸ Open, (Signed: greyed), Copy
            assert wait_for(lambda: notices(desk, "Copied for the record"), 60), desk.notifications()
            clip = subprocess.run(["xclip", "-o", "-selection", "clipboard"], env={**os.environ, **desk.env},
                                  capture_output=True, text=True, timeout=10, check=True).stdout
            assert clip.startswith("Subjective") and "Plan" in clip
            assert "##" not in clip and "---" not in clip and "status:" not in clip
            open_menu(desk, icon)
            desk.screenshot(ARTIFACTS / "trust-7-signed-in-menu.png")
            keys(desk, "Escape")
        finally:
            code = stop_tray(proc, log)
        assert code == 0, log.read_text()
        assert "Traceback" not in log.read_text() + log2.read_text()
        assert d.stop() == 0
    finally:
        d.cleanup()
    # the session names were for the clinician's screen only
    assert "Tuesday" not in d.log.read_text() and "sample-session" not in d.log.read_text()


@pytest.fixture()
def recording_daemon(tmp_path: Path, home: Path, pulse: PulseServer) -> Iterator[Daemon]:
    with pulse_daemon(tmp_path / "hn", home, pulse) as d:
        yield d


def test_recording_clock_and_level_and_quit_while_recording(desk: XDesktop, recording_daemon: Daemon,
                                                            pulse: PulseServer, tmp_path: Path) -> None:
    d = recording_daemon
    samples, _ = joined_clips(EVAL, ["jfk"])
    wav = write_wav(tmp_path / "jfk.wav", samples)
    d.start()
    log = tmp_path / "tray.log"
    proc = start_tray(desk, d.runtime, "gtk", log, config=d.config, env=d.env)
    try:
        icon = desk.wait_tray_icon("hushnote")
        wait_until(lambda: colour_share(desk.pixels(icon), amberish) < 0.02, timeout=15)
        open_menu(desk, icon, button=1)
        keys(desk, "Down", "Return")  # Start recording (client has consented)
        assert wait_for(lambda: d.call("record.status")["recording"], 10)
        player = pulse.play(wav)
        time.sleep(3)
        # the menu shows mm:ss and the level; it ticks while it stays open (updated in place, not rebuilt)
        menu = open_menu(desk, icon)
        line = (menu["x"], menu["y"] + 30, menu["x"] + menu["width"], menu["y"] + 55)  # the status line
        first = desk.pixels({"x": line[0], "y": line[1], "width": line[2] - line[0], "height": line[3] - line[1]})
        desk.screenshot(ARTIFACTS / "trust-8-recording-line.png")
        time.sleep(2.2)
        again = desk.pixels({"x": line[0], "y": line[1], "width": line[2] - line[0], "height": line[3] - line[1]})
        assert first.tobytes() != again.tobytes(), "the clock moved in the open menu"
        assert any(w["id"] == menu["id"] for w in desk.windows("hushnote")), "the same menu stayed open"
        keys(desk, "Escape")
        player.wait(60)

        # Quit while recording asks first; Cancel (the default) keeps the tray
        menu = open_menu(desk, icon)
        desk.click_at(menu["x"] + 40, menu["y"] + menu["height"] - 14)  # Quit tray
        desk.wait_window("hushnote", lambda w: w["width"] > 300 and 80 < w["height"] < 400)
        time.sleep(0.5)
        desk.screenshot(ARTIFACTS / "trust-9-quit-while-recording.png")
        keys(desk, "Return")
        time.sleep(1)
        assert proc.poll() is None and d.call("record.status")["recording"]
        # ... and "Quit tray, keep recording" quits it: the recording goes on in the service
        menu = open_menu(desk, icon)
        desk.click_at(menu["x"] + 40, menu["y"] + menu["height"] - 14)
        desk.wait_window("hushnote", lambda w: w["width"] > 300 and 80 < w["height"] < 400)
        time.sleep(0.5)
        keys(desk, "Tab", "Return")
        assert proc.wait(15) == 0
        assert d.call("record.status")["recording"], "quitting the tray did not stop the recording"
        d.call("record.stop")
    finally:
        code = stop_tray(proc, log)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    assert d.stop() == 0
