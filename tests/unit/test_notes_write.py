"""Writing a note (``pipeline.write_note``, used by ``hushnote draft`` and by ``write_outputs``): atomic,
never over an existing note unless asked, encrypted with a vault. Real drafting (extractive), real files."""

from __future__ import annotations

from pathlib import Path

from hushnote.daemon.core.config import defaults
from hushnote.daemon.core.datatypes import Note, Segment, Transcript
from hushnote.daemon.notes import notefile, pipeline
from hushnote.daemon.privacy.vault import Vault, is_encrypted

WORDS = ("I have been sleeping better since we last met. I walk every morning with my sister. "
         "Work is still stressful but I use the breathing exercise when I notice my chest getting tight.")


def body(text: str) -> str:
    return notefile.parse_front_matter(text)[1]  # the front matter has today's date


def drafted() -> tuple[Note, Transcript]:
    tr = Transcript((Segment(0.0, 9.0, WORDS, "Client"),), "en", 9.0, "test", source="s.flac")
    return pipeline.draft_note(tr, defaults().with_overrides(drafting__min_words=5)), tr


def test_write_note_never_overwrites_unless_asked(tmp_path: Path) -> None:
    note, tr = drafted()
    (tmp_path / "s.transcript.md").write_text("the transcript it was drafted from")
    first = pipeline.write_note(note, tr, tmp_path, "s")
    assert first == tmp_path / "s.note.md"  # a transcript of that name is no reason to move aside
    assert body(first.read_text()) == body(notefile.render_note(note, tr))
    second = pipeline.write_note(note, tr, tmp_path, "s")
    assert second == tmp_path / "s-2.note.md" and first.exists()
    first.write_text("edited by the clinician")
    assert pipeline.write_note(note, tr, tmp_path, "s", unique=False) == first  # the daemon's reserved stem
    assert first.read_text() != "edited by the clinician"
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind


def test_write_outputs_moves_both_aside_and_writes_transcript_then_note(tmp_path: Path) -> None:
    note, tr = drafted()
    (tmp_path / "s.transcript.md").write_text("an older transcript")
    t_path, n_path = pipeline.write_outputs(tr, note, tmp_path / "new", "s")
    assert (t_path, n_path) == (tmp_path / "new" / "s.transcript.md", tmp_path / "new" / "s.note.md")
    t_path, n_path = pipeline.write_outputs(tr, note, tmp_path, "s")
    assert (t_path.name, n_path.name) == ("s-2.transcript.md", "s-2.note.md")
    assert (tmp_path / "s.transcript.md").read_text() == "an older transcript"
    assert t_path.read_text() == notefile.render_transcript(tr)


def test_with_a_vault_the_note_is_written_encrypted(tmp_path: Path) -> None:
    note, tr = drafted()
    vault = Vault(tmp_path / "data", b"M" * 32)
    path = pipeline.write_note(note, tr, tmp_path / "notes", "s", vault=vault)
    assert is_encrypted(path) and b"sleeping" not in path.read_bytes()
    assert body(vault.decrypt_to_text(path)) == body(notefile.render_note(note, tr))
