"""Audio → transcript → note, in three steps its callers combine:

* ``transcribe_file`` reads the audio (decrypting in memory what is encrypted at rest) and transcribes it;
* ``draft_note`` drafts a grounded note, and refuses to draft from too little speech;
* ``write_outputs`` (transcript and note) and ``write_note`` write the files atomically, encrypted with
  ``notes.encrypt``.

``process`` runs all three (``hushnote process``); ``hushnote draft`` drafts from a transcript file and
writes the note. The service's workers run the first two in a model process (``runner.process``), and write
the files in the service. A recording transcribed while it was made skips the first: its windows went through
``transcribe_window`` as they came (in the live model process), and ``label_recorded`` gives the joined
transcript its speakers after Stop.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from hushnote.daemon.core.config import Config
from hushnote.daemon.core.datatypes import Note, Progress, Transcript, no_progress
from hushnote.daemon.core.errors import InputError, TooLittleSpeech
from hushnote.daemon.core.fileio import unique_stem
from hushnote.daemon.core.paths import NOTE_SUFFIX, TRANSCRIPT_SUFFIX
from hushnote.daemon.notes import notefile
from hushnote.daemon.speakers.diarize import Gathered

if TYPE_CHECKING:
    from hushnote.daemon.notes.labelling import Voiceprint
    from hushnote.daemon.privacy.vault import Vault
    from hushnote.daemon.speech import audio

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class LiveTranscript:
    """A transcript made while recording, of one window or of the whole recording (word times when speakers
    are wanted), and its speech embedded for speaker labels (``voices``: seconds from the start of what was
    transcribed; None: not wanted, or the speaker model failed for a window)."""

    transcript: Transcript
    voices: Gathered | None


@dataclass(frozen=True)
class Result:
    transcript_path: Path
    note_path: Path
    note: Note
    transcript: Transcript
    exports: tuple[Path, ...] = ()  # <stem>.transcript.srt|.vtt|.json


def transcribe_file(path: Path, cfg: Config, progress: Progress = no_progress, *, vault: Vault | None = None,
                    voiceprint: Voiceprint | None = None) -> Transcript:
    """Decode ``path`` (any format PyAV reads) and transcribe it in bounded memory; with ``speakers.enabled``
    each line is then labelled with who said it (``labelling``; ``voiceprint``: the therapist's enrolled voice).

    An encrypted (vault) file is decrypted in memory with ``vault`` (anything with ``open(path)``
    returning a seekable file object, e.g. ``hushnote.daemon.privacy.vault.Vault``); no plaintext is written anywhere."""
    from hushnote.daemon.notes import labelling  # heavy imports, only when needed
    from hushnote.daemon.speech.transcribe import transcriber_for

    opener = _opener(path, vault)
    label = labelling.wanted(cfg)
    transcript = transcriber_for(cfg, words=label).transcribe_path(path, progress=progress, opener=opener)
    if label:
        transcript = labelling.label_file(path, transcript, cfg, opener=opener, voiceprint=voiceprint,
                                          progress=progress)
    return transcript


def _opener(path: Path, vault: Vault | None) -> audio.Opener | None:
    """How to read ``path``: decrypted in memory with ``vault`` when it is encrypted at rest (None: as is)."""
    from hushnote.daemon.privacy.vault import is_encrypted

    if not is_encrypted(path):
        return None
    if vault is None:
        raise InputError(f"{path.name} is encrypted by hushnote, and no key was given to open it.",
                         "Let the hushnote service process it, or use `hushnote open` to get a copy.",
                         path=str(path))
    from hushnote.daemon.privacy.at_rest import decrypting_opener

    return decrypting_opener(vault)


def transcribe_window(samples: npt.NDArray[np.float32], cfg: Config, source: str = "") -> LiveTranscript:
    """One window of a recording, transcribed while the recording goes on (times from the window's start).
    With speaker labels wanted (``labelling.wanted``), the transcript has word times and the window's
    speech is embedded too, for labelling once at Stop (``label_recorded``). A speaker-model failure does
    not lose the window's words: its ``voices`` are then None (the recording is labelled from its file)."""
    from hushnote.daemon.notes import labelling
    from hushnote.daemon.speech.transcribe import transcriber_for

    label = labelling.wanted(cfg)
    transcript = transcriber_for(cfg, words=label).transcribe_audio(samples, source)
    if not label:
        return LiveTranscript(transcript, None)
    voices = Gathered()
    try:
        labelling.embed_speech(labelling.diarizer_for(int(cfg["speakers.count"])), samples, voices)
    except Exception as exc:  # noqa: BLE001 - the words are kept; the speakers come from the file instead
        log.warning("live speaker embedding failed (%s); speakers will be labelled from the file",
                    type(exc).__name__)
        return LiveTranscript(transcript, None)
    return LiveTranscript(transcript, voices)


def label_recorded(path: Path, transcript: Transcript, cfg: Config, voices: Gathered | None, *,
                   vault: Vault | None = None, voiceprint: Voiceprint | None = None,
                   progress: Progress = no_progress) -> Transcript:
    """Speaker labels for a recording transcribed while it was made (``transcript`` with word times): as for
    a file (``labelling.label_file``: by channel for a two-channel recording, else by voice), clustering
    the ``voices`` embedded while recording, or, without them, embedding the saved file's audio."""
    from hushnote.daemon.notes import labelling

    if not labelling.wanted(cfg):
        return dataclasses.replace(transcript, words=())
    return labelling.label_file(path, transcript, cfg, opener=_opener(path, vault), voiceprint=voiceprint,
                                progress=progress, embedded=voices)


def enrolled_voiceprint(cfg: Config, vault: Vault | None) -> Voiceprint | None:
    """The therapist's enrolled voiceprint (``hushnote voice enroll``, kept encrypted in the vault), or None.

    Without one, roles come only from two channels (or are not given). A damaged voice file is not a reason
    to fail the job: it is logged (no name) and the session is labelled Speaker 1/2."""
    from hushnote.daemon.core.errors import HushnoteError
    from hushnote.daemon.speakers import voiceprint_store

    try:
        return voiceprint_store.load_for(cfg, vault)
    except HushnoteError as exc:
        log.warning("the enrolled voice could not be read (%s); speakers are not given roles",
                    type(exc).__name__)
        return None


def ended_early_warning(transcript: Transcript) -> str | None:
    """The job's warning when its audio file was cut short: ``audio_ended_early: the recording ended early at
    00:01:23 of 00:05:00; …`` (times only: no name, no text). None for a complete recording."""
    ended = notefile.audio_ended_early(transcript)
    if ended is None:
        return None
    return f"audio_ended_early: the recording {ended} (its file was cut short); the note covers only that part"


def check_enough_speech(transcript: Transcript, cfg: Config) -> None:
    words = transcript.word_count
    minimum = int(cfg["drafting.min_words"])
    if words < minimum:
        what = "no speech" if words == 0 else f"only {words} word(s) of speech"
        raise TooLittleSpeech(
            f"No note was written: the recording {transcript.source or ''} has {what} "
            f"(at least {minimum} are needed).".replace("  ", " "),
            "Check that the microphone was on and the right file was chosen.",
            path=transcript.source or None,
        )


def draft_note(transcript: Transcript, cfg: Config, *, template: str | None = None,
               engine: str | None = None, progress: Progress = no_progress) -> Note:
    """Draft a grounded note from ``transcript``. Raises ``TooLittleSpeech`` instead of drafting from nothing."""
    from hushnote.daemon.drafting.engine import draft  # imports llama.cpp only when the llm engine is chosen

    check_enough_speech(transcript, cfg)
    return draft(transcript, cfg, template=template or str(cfg["drafting.template"]),
                 engine=engine or str(cfg["drafting.engine"]), progress=progress)


def write_outputs(transcript: Transcript, note: Note, out_dir: Path, stem: str, *,
                  unique: bool = True, vault: Vault | None = None, job_id: str | None = None) -> tuple[Path, Path]:
    """Write transcript then note, each atomically. ``job_id``: the service's job (named in the note).

    ``unique=True`` picks ``stem-2`` etc. rather than overwrite an existing note or transcript (the CLI). The
    daemon passes ``unique=False`` with a stem it reserved when the job was created, so a job retried after a
    crash replaces its own earlier output and never makes a second note. With ``vault`` (``notes.encrypt``)
    both files are written encrypted.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if unique:
        stem = unique_stem(out_dir, stem, (NOTE_SUFFIX, TRANSCRIPT_SUFFIX))
    t_path = out_dir / f"{stem}{TRANSCRIPT_SUFFIX}"
    from hushnote.daemon.privacy.at_rest import write_text  # libsodium: imported when something is written

    write_text(t_path, notefile.render_transcript(transcript), vault, "transcript")
    return t_path, write_note(note, transcript, out_dir, stem, unique=False, vault=vault, job_id=job_id)


def write_note(note: Note, transcript: Transcript, out_dir: Path, stem: str, *,
               unique: bool = True, vault: Vault | None = None, job_id: str | None = None) -> Path:
    """Write ``<stem>.note.md`` atomically (encrypted with ``vault``); ``unique=True`` picks ``stem-2`` etc.
    rather than overwrite a note (``hushnote draft`` beside the transcript it read). ``job_id``: the service's
    job, named in the note."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if unique:
        stem = unique_stem(out_dir, stem, (NOTE_SUFFIX,))
    n_path = out_dir / f"{stem}{NOTE_SUFFIX}"
    from hushnote.daemon.privacy.at_rest import write_text

    write_text(n_path, notefile.render_note(note, transcript, job_id=job_id), vault, "note")
    return n_path


def configured_exports(cfg: Config) -> list[str]:
    """``notes.export``, except with ``notes.encrypt`` (an export would be a copy that is not encrypted)."""
    if cfg["notes.encrypt"] and cfg["notes.export"]:
        log.warning("notes.export is not used while notes.encrypt is on (exports are not encrypted)")
        return []
    return [str(x) for x in cfg["notes.export"]]


def process(path: Path, cfg: Config, *, out_dir: Path | None = None, template: str | None = None,
            engine: str | None = None, progress: Progress = no_progress, stem: str | None = None,
            vault: Vault | None = None, voiceprint: Voiceprint | None = None,
            exports: Sequence[str] = ()) -> Result:
    """The whole job: audio file → ``<stem>.transcript.md`` and ``<stem>.note.md`` in ``out_dir``, and
    ``<stem>.transcript.<format>`` for each of ``exports`` (srt, vtt, json; never encrypted).

    Nothing is written unless a note can be drafted (too little speech raises ``TooLittleSpeech``).
    ``vault`` (``notes.encrypt``): the outputs are written encrypted.
    """
    from hushnote.daemon.notes import subtitles

    subtitles.check_formats(exports)  # a wrong format is reported before any work
    out = out_dir if out_dir is not None else cfg.path("paths.notes")
    transcript = transcribe_file(path, cfg, progress, vault=vault, voiceprint=voiceprint)
    note = draft_note(transcript, cfg, template=template, engine=engine, progress=progress)
    progress("write", 1.0, "")
    t_path, n_path = write_outputs(transcript, note, out, stem or path.stem, vault=vault)
    stem_used = t_path.name.removesuffix(TRANSCRIPT_SUFFIX)
    written = subtitles.write_exports(transcript, out, stem_used, exports)
    return Result(t_path, n_path, note, transcript, tuple(written))
