"""Sign, copy and swap a note's speakers from the tray: ``hushnote sign NOTE`` / ``hushnote copy NOTE`` /
``hushnote speakers swap NOTE`` run as commands.

The tray may import only ``hushnote.ipc`` and ``hushnote.daemon.core`` (the note work lives in the daemon's
notes room), so it runs the same command a clinician would type, with the tray's settings file, and shows
what it said (``state.note_command_notice``). Nothing is logged but the verb and the exit code.
"""

from __future__ import annotations

import logging
import subprocess  # noqa: S404 - fixed argument lists, no shell
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hushnote.tray.notes import note_status
from hushnote.tray.state import SIGNED_UNCHANGEABLE, Notice, note_command_notice

if TYPE_CHECKING:
    from hushnote.daemon.core.config import Config

log = logging.getLogger("hushnote.tray")

COMMANDS = {"sign": ("sign",), "copy": ("copy",), "swap": ("speakers", "swap")}
VERBS = tuple(COMMANDS)
TIMEOUT_S = 60.0


def note_command(verb: str, note: Path, cfg: Config | None) -> list[str]:
    """``hushnote VERB NOTE`` (``swap``: ``hushnote speakers swap NOTE``) run by this Python, with the tray's
    settings file."""
    if verb not in COMMANDS:
        raise ValueError(verb)
    cmd = [sys.executable, "-m", "hushnote.daemon.cli", *COMMANDS[verb], str(note)]
    if cfg is not None and cfg.source != "(defaults)":
        cmd += ["--config", cfg.source]
    return cmd


def run_note_command(verb: str, note: Path, cfg: Config | None) -> Notice:
    """Run it and say what happened (a notice for the desktop). A signed note's speakers are not swapped
    (``hushnote speakers swap`` would write a new draft beside it): the notice says why."""
    session = note.name.removesuffix(".note.md")
    if verb == "swap" and note_status(note) == "signed":
        return Notice(f"Speakers not swapped: {session}", f"{session} is signed. {SIGNED_UNCHANGEABLE}")
    try:
        done = subprocess.run(note_command(verb, note, cfg), stdin=subprocess.DEVNULL,  # noqa: S603
                              capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("hushnote %s could not run: %s", verb, exc.__class__.__name__)
        return note_command_notice(verb, str(note), session, 1, "", f"`hushnote {verb}` could not run.")
    log.info("hushnote %s exited %d", verb, done.returncode)
    return note_command_notice(verb, str(note), session, done.returncode, done.stdout, done.stderr)
