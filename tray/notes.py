"""The notes folder as the tray's menu lists it: the last notes, newest first, each a draft or signed.

Reads only names, modification times and the first few KiB of each listed note (its front matter's
``status`` and ``speakers``); never the note's text beyond that. Nothing is logged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hushnote.tray.state import RECENT_NOTES, NoteInfo

NOTE_SUFFIX = ".note.md"
ENCRYPTED_MAGIC = b"HNVAULT"  # notes.encrypt: the vault's file header (read with `hushnote open`)
_HEAD = 4096


def recent_notes(folder: Path, limit: int = RECENT_NOTES) -> list[NoteInfo]:
    """The ``limit`` most recently changed ``*.note.md`` files in ``folder``, newest first. A missing or
    unreadable folder has none."""
    found: list[tuple[float, str, Path]] = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name.endswith(NOTE_SUFFIX) and not entry.name.startswith("."):
                    try:
                        if entry.is_file(follow_symlinks=False):
                            found.append((entry.stat(follow_symlinks=False).st_mtime, entry.name, Path(entry.path)))
                    except OSError:
                        continue
    except OSError:
        return []
    found.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [_note_info(p, name[: -len(NOTE_SUFFIX)], mtime) for mtime, name, p in found[:limit]]


def _note_info(path: Path, session: str, mtime: float) -> NoteInfo:
    status, head = _status_and_head(path)
    return NoteInfo(path=str(path), session=session, modified=mtime, status=status,
                    speakers=front_matter_value(head, "speakers") or "")


def _status_and_head(path: Path) -> tuple[str, str]:
    """The note's status and its first few KiB as text ("" when encrypted or unreadable)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEAD)
    except OSError:
        return "draft", ""
    if head.startswith(ENCRYPTED_MAGIC):
        return "encrypted", ""
    text = head.decode("utf-8", "replace")
    return ("signed" if front_matter_value(text, "status") == "signed" else "draft"), text


def note_status(path: Path) -> str:
    """``draft``, ``signed`` or ``encrypted``, from the note's first bytes (``draft`` if unreadable)."""
    return _status_and_head(path)[0]


def front_matter_value(text: str, key: str) -> str | None:
    """One value of a note's front matter (``---`` lines; values are JSON scalars), or None."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return None
    for line in lines[1:]:
        if line.strip() == "---":
            return None
        name, sep, raw = line.partition(":")
        if sep and name.strip() == key:
            try:
                value = json.loads(raw.strip())
            except ValueError:
                value = raw.strip()
            return str(value)
    return None
