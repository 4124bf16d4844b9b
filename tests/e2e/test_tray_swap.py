"""End to end: "Swap speakers in the last note" in the real tray (gtk backend, Xvfb + trayer + a session bus),
clicked through with the keyboard as a user would, against an in-test ``IpcServer``; the swap itself is the
real ``hushnote speakers swap`` command the tray runs, on a note that ``hushnote draft`` wrote from a
labelled transcript. Checked where a user sees it: the question dialog, the notification's sentence, the
transcript and the note on disk; then a signed note, which the menu no longer offers to change.
Screenshots go to ``test-artifacts/tray/swap-*.png``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from hushnote.daemon.notes import notefile
from hushnote.ipc.server import IpcServer

from tests.support.cli import home_env, run_cli
from tests.support.config import make_cfg, write_toml
from tests.support.tray import (
    ARTIFACTS,
    FakeService,
    amberish,
    colour_share,
    keys,
    notices,
    open_menu,
    start_tray,
    stop_tray,
)
from tests.support.waiting import wait_for, wait_until
from tests.support.xdesktop import XDesktop

SESSION = "Session 2026-11-30 10-00"
# A short made-up session, labelled by channel (as a two-channel recording would be)
TRANSCRIPT = """---
source: "Session 2026-11-30 10-00.flac"
duration: 80.0
language: "en"
model: "tiny.en"
speakers: "Therapist/Client (by channel)"
---

# Transcript

[00:00:02] Therapist: How have you been sleeping since our last session?
[00:00:08] Client: I have been sleeping about four hours a night and I wake up around three.
[00:00:17] Therapist: What goes through your mind when you wake up at three?
[00:00:23] Client: Mostly worry about work, my manager wants the report by Friday and I feel behind.
[00:00:35] Therapist: Last time we talked about writing the worries down before bed. Did you try that?
[00:00:43] Client: I tried it twice and it helped a little on the second night.
[00:00:52] Therapist: Let's keep the worry journal going and add a fixed wake time of seven.
[00:01:02] Client: Okay, I can set an alarm for seven and keep the journal on the nightstand.
[00:01:12] Therapist: We will review the journal and your sleep diary next week.
"""
SLEEP = "I have been sleeping about four hours a night"


def who_said(note: Path, words: str) -> str | None:
    """The role a note's quote containing ``words`` is given (``- Client stated: "…"``), or None."""
    for line in note.read_text(encoding="utf-8").splitlines():
        m = re.match(r'^- (\w+)(?: stated)?: "(.*)"', line)
        if m and words in m.group(2):
            return m.group(1)
    return None


def speakers_line(note: Path) -> str:
    return str(notefile.parse_front_matter(note.read_text(encoding="utf-8"))[0].get("speakers"))


def test_swap_speakers_in_the_last_note_from_the_menu(desk: XDesktop, runtime: Path, tmp_path: Path) -> None:
    cfg = write_toml(make_cfg(tmp_path / "hn", drafting__engine="extractive"), tmp_path / "config.toml")
    notes = tmp_path / "hn" / "Notes"
    notes.mkdir(parents=True)
    transcript = notes / f"{SESSION}.transcript.md"
    transcript.write_text(TRANSCRIPT, encoding="utf-8")
    env = home_env(tmp_path / "home")
    r = run_cli("draft", "--config", str(cfg), str(transcript), env=env)
    assert r.returncode == 0, r.stderr
    note = notes / f"{SESSION}.note.md"
    before = [s.speaker for s in notefile.read_transcript(transcript).segments]
    assert who_said(note, SLEEP) == "Client" and speakers_line(note) == "Therapist/Client (by channel)"

    log = tmp_path / "tray.log"
    with IpcServer(runtime / "hushnote" / "ipc.sock", FakeService()) as server:
        proc = start_tray(desk, runtime, "gtk", log, config=cfg)
        try:
            icon = desk.wait_tray_icon("hushnote")
            wait_until(lambda: server.subscribers == 1, timeout=15)
            wait_until(lambda: colour_share(desk.pixels(icon), amberish) < 0.02, timeout=10)
            open_menu(desk, icon)
            desk.screenshot(ARTIFACTS / "swap-1-menu.png")
            keys(desk, "Down", "Down", "Down", "Return")  # Start recording, the note ▸, Swap speakers…
            desk.wait_window("hushnote", lambda w: w["width"] > 300 and 80 < w["height"] < 400)
            time.sleep(0.5)
            desk.screenshot(ARTIFACTS / "swap-2-question.png")
            assert [s.speaker for s in notefile.read_transcript(transcript).segments] == before, \
                "nothing is swapped before the clinician says so"
            keys(desk, "Tab", "Return")  # from the default (Cancel) to "Swap speakers"
            assert wait_for(lambda: notices(desk, "Speakers swapped"), 120), (desk.notifications(), log.read_text())
            [done] = notices(desk, "Speakers swapped")
            assert done["summary"] == f"Speakers swapped: {SESSION}" and done["app"] == "hushnote"
            assert done["body"] == f"Therapist and Client swapped in {SESSION}; the note was drafted again."

            # on disk: every labelled line has the other role, and the note was drafted from that
            after = [s.speaker for s in notefile.read_transcript(transcript).segments]
            assert after == [{"Therapist": "Client", "Client": "Therapist"}[s] for s in before if s]
            assert speakers_line(note) == speakers_line(transcript) == "Therapist/Client (swapped by the clinician)"
            assert who_said(note, SLEEP) == "Therapist" and 'status: "draft"' in note.read_text(encoding="utf-8")
            assert not list(notes.glob("*-2.note.md")), "a draft is replaced, not copied"

            # signed: the menu says it cannot be changed, and the note stays as signed
            r = run_cli("sign", "--config", str(cfg), str(note), "--name", "Dr Test", env=env)
            assert r.returncode == 0, r.stderr
            signed = note.read_bytes()
            time.sleep(6)  # the tray reads the notes folder every few seconds
            open_menu(desk, icon)
            desk.screenshot(ARTIFACTS / "swap-3-signed-menu.png")
            keys(desk, "Escape")
            assert note.read_bytes() == signed
        finally:
            code = stop_tray(proc, log)
    assert code == 0, log.read_text()
    tray_log = log.read_text()
    assert "Traceback" not in tray_log and SESSION not in tray_log and "sleeping" not in tray_log
