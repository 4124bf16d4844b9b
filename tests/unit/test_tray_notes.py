"""The notes folder as the tray lists it: real files, real modification times."""

from __future__ import annotations

import os
from pathlib import Path

from hushnote.tray.notes import front_matter_value, note_status, recent_notes

DRAFT = '---\nsource: "x.flac"\nstatus: "draft"\n---\n# DRAFT\n'
SIGNED = '---\nsource: "x.flac"\nstatus: "signed"\nsigned_at: "2025-03-04T10:00:00+00:00"\n---\n# Note\n'


def write(folder: Path, name: str, text: str | bytes, mtime: float) -> Path:
    p = folder / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    os.utime(p, (mtime, mtime))
    return p


def test_recent_notes_newest_first_with_their_status(tmp_path: Path) -> None:
    t = 1_700_000_000.0
    write(tmp_path, "Session 2025-03-03 09-00.note.md", SIGNED, t)
    write(tmp_path, "Session 2025-03-04 10-00.note.md", DRAFT, t + 100)
    write(tmp_path, "intake.note.md", b"HNVAULT\x01" + os.urandom(64), t + 50)
    write(tmp_path, "intake.transcript.md", DRAFT, t + 500)  # not a note
    write(tmp_path, "intake.error.txt", "x", t + 600)
    write(tmp_path, ".hidden.note.md.tmp", DRAFT, t + 700)
    write(tmp_path, ".half.note.md", DRAFT, t + 800)  # hidden: a temp name
    (tmp_path / "linked.note.md").symlink_to(tmp_path / "intake.transcript.md")
    (tmp_path / "folder.note.md").mkdir()
    notes = recent_notes(tmp_path)
    assert [(n.session, n.status) for n in notes] == [("Session 2025-03-04 10-00", "draft"),
                                                     ("intake", "encrypted"),
                                                     ("Session 2025-03-03 09-00", "signed")]
    assert notes[0].path == str(tmp_path / "Session 2025-03-04 10-00.note.md") and notes[0].modified == t + 100
    assert [n.session for n in recent_notes(tmp_path, limit=1)] == ["Session 2025-03-04 10-00"]


def test_a_missing_or_odd_folder_has_no_notes(tmp_path: Path) -> None:
    assert recent_notes(tmp_path / "nope") == []
    assert recent_notes(write(tmp_path, "file", "x", 1.0)) == []
    assert note_status(tmp_path / "gone.note.md") == "draft"


def test_front_matter_value() -> None:
    assert front_matter_value(SIGNED, "status") == "signed"
    assert front_matter_value(DRAFT, "missing") is None
    assert front_matter_value("# no front matter\nstatus: signed\n", "status") is None
    assert front_matter_value("---\nstatus: signed\n---\n", "status") == "signed"  # not JSON: as written
    assert front_matter_value("---\nbody: 1\n---\nstatus: \"signed\"\n", "status") is None  # only the head


def test_a_listed_note_carries_its_speakers_line(tmp_path: Path) -> None:
    labelled = '---\nsource: "x.flac"\nstatus: "draft"\nspeakers: "Therapist/Client (by channel)"\n---\n# DRAFT\n'
    write(tmp_path, "a.note.md", labelled, 2.0)
    write(tmp_path, "b.note.md", DRAFT, 1.0)
    write(tmp_path, "c.note.md", b"HNVAULT\x01" + os.urandom(64), 0.5)
    notes = recent_notes(tmp_path)
    assert [(n.session, n.speakers, n.roles) for n in notes] == [
        ("a", "Therapist/Client (by channel)", ("Therapist", "Client")), ("b", "", None), ("c", "", None)]
