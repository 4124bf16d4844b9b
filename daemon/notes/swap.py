"""``hushnote speakers swap NOTE``: the two roles of a transcript swapped, and its note drafted again.

For when hushnote put the roles the wrong way round (e.g. a call recorded with the microphone on the right
channel). Only a transcript whose two roles are known can be swapped (``Speaker 1/2`` have no roles to
swap). A draft note is replaced, with its transcript; a signed note is never touched: the swapped
transcript and a new draft are written beside it under a new name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hushnote.daemon.core.config import Config
from hushnote.daemon.core.datatypes import SWAPPED, Transcript
from hushnote.daemon.core.errors import InputError
from hushnote.daemon.core.fileio import atomic_write_text, unique_stem
from hushnote.daemon.core.paths import NOTE_SUFFIX, TRANSCRIPT_SUFFIX
from hushnote.daemon.notes import notefile, pipeline
from hushnote.daemon.privacy.at_rest import read_text, write_text
from hushnote.daemon.privacy.vault import is_encrypted

if TYPE_CHECKING:
    from hushnote.daemon.privacy.vault import Vault


@dataclass(frozen=True)
class Swapped:
    transcript_path: Path
    note_path: Path
    replaced: bool  # False: the note was signed, so a new transcript and note were written beside it
    speakers: str  # the transcript's new speakers line


def swap_roles(t: Transcript) -> Transcript:
    """``t`` with its two roles' names exchanged on every line. An ``InputError`` unless exactly two
    speakers with known roles."""
    if not t.roles_known or len(t.speakers) != 2:
        why = t.speakers_line or "its lines name no speakers"
        raise InputError(f"The transcript's speakers cannot be swapped ({why}): only two known roles can be.",
                         "Swap works on a transcript labelled like Therapist/Client.")
    a, b = t.speakers
    other = {a: b, b: a}
    segs = tuple(dataclasses.replace(s, speaker=other.get(s.speaker, s.speaker) if s.speaker else None)
                 for s in t.segments)
    return dataclasses.replace(t, segments=segs, speaker_basis=SWAPPED)


def transcript_of(note_path: Path) -> Path:
    """``<stem>.transcript.md`` beside ``<stem>.note.md``."""
    if not note_path.name.endswith(NOTE_SUFFIX):
        raise InputError(f"{note_path} is not a note (its name does not end in {NOTE_SUFFIX}).",
                         "Give the path of a .note.md file written by hushnote.", path=str(note_path))
    path = note_path.with_name(note_path.name.removesuffix(NOTE_SUFFIX) + TRANSCRIPT_SUFFIX)
    if not path.is_file():
        raise InputError(f"The transcript of {note_path.name} is not beside it ({path.name} is missing).",
                         "Keep a note and its transcript in one folder, under the same name.", path=str(path))
    return path


def _write(path: Path, text: str, vault: Vault | None, kind: str, encrypted: bool) -> None:
    if encrypted:
        if vault is None:
            raise InputError(f"{path.name} is encrypted.", "Check notes.encrypt.", path=str(path))
        write_text(path, text, vault, kind)
    else:
        atomic_write_text(path, text)


def swap_note(note_path: Path, cfg: Config, vault: Vault | None = None) -> Swapped:
    """Swap the roles in ``note_path``'s transcript and draft the note again (see the module)."""
    if not note_path.is_file():
        raise InputError(f"{note_path} does not exist.", "Give the path of a .note.md file.", path=str(note_path))
    t_path = transcript_of(note_path)
    fields, _ = notefile.parse_front_matter(read_text(note_path, vault))
    swapped = swap_roles(notefile.read_transcript(t_path, vault))
    engine = str(fields.get("engine") or cfg["drafting.engine"])
    note = pipeline.draft_note(swapped, cfg, template=str(fields.get("template") or cfg["drafting.template"]),
                               engine=engine if engine in ("extractive", "llm") else None)
    signed = fields.get("status") == "signed"
    encrypted = is_encrypted(note_path)
    if signed:
        folder = note_path.parent
        stem = unique_stem(folder, note_path.name.removesuffix(NOTE_SUFFIX),
                           (NOTE_SUFFIX, TRANSCRIPT_SUFFIX))
        t_path, note_path = folder / f"{stem}{TRANSCRIPT_SUFFIX}", folder / f"{stem}{NOTE_SUFFIX}"
    job = fields.get("job")
    _write(t_path, notefile.render_transcript(swapped), vault, "transcript", encrypted)
    _write(note_path, notefile.render_note(note, swapped, job_id=str(job) if job else None), vault, "note", encrypted)
    return Swapped(t_path, note_path, not signed, swapped.speakers_line)
