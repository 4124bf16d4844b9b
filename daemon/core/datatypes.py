"""The small set of value types shared by the pipeline, the daemon and the tray."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Segment:
    """One stretch of speech: seconds from the start of the recording, and what was said."""

    start: float
    end: float
    text: str
    speaker: str | None = None  # only set when real speaker labels exist; never guessed


@dataclass(frozen=True)
class Word:
    """One recognised word (only while speakers are being labelled): seconds, its text as recognised (with
    its leading space), and the index of the segment it belongs to."""

    start: float
    end: float
    text: str
    segment: int


# How a transcript's speakers were told apart (``Transcript.speaker_basis``). Only ROLE_BASES know the
# roles: then ``speakers[0]`` is the therapist and the others are clients.
ENROLLED = "enrolled voice"
CHANNEL = "by channel"
UNKNOWN_ROLES = "roles unknown"
MORE_VOICES = "more voices than expected, roles unknown"  # more people than speakers.count: Speaker 1/2/3
ANONYMOUS_BASES = (UNKNOWN_ROLES, MORE_VOICES)  # lines say Speaker 1, Speaker 2...
ONE_VOICE = "one voice"  # a single voice was heard: no labels
TOO_ALIKE = "voices too alike"  # two clusters too close to be sure: no labels
TOO_LITTLE = "too little speech"  # nothing to tell voices apart by: no labels
SWAPPED = "swapped by the clinician"  # `hushnote speakers swap`: the clinician set the roles
ROLE_BASES = (ENROLLED, CHANNEL, SWAPPED)
_UNLABELLED_WHY = {
    ONE_VOICE: "only one voice was heard",
    TOO_ALIKE: "the voices were too alike to tell apart with confidence",
    TOO_LITTLE: "too little speech to tell voices apart",
}


@dataclass(frozen=True)
class Transcript:
    segments: tuple[Segment, ...]
    language: str
    duration: float  # seconds of audio
    model: str  # model name (e.g. "base", "tiny.en") or directory name
    source: str = ""  # the audio file's name (never logged)
    timed: bool = True  # False for a plain-text dialogue: Segment.start is then the line number
    ended_early: bool = False  # the audio file was cut short: transcribed as far as it goes (``duration``)
    expected_duration: float | None = None  # how long the cut-short file said the recording was, if it said
    speakers: tuple[str, ...] = ()  # the names on the lines, in order (roles known: the therapist first)
    speaker_basis: str = ""  # how they were told apart (ENROLLED, CHANNEL, ...); "" = no speaker labelling
    words: tuple[Word, ...] = ()  # word timings, only between recognition and labelling (never written)

    @property
    def roles_known(self) -> bool:
        return self.speaker_basis in ROLE_BASES and len(self.speakers) >= 2

    def role_of(self, speaker: str | None) -> str | None:
        """"clinician" / "client" for a line's speaker when the roles are known (enrolled voice, or by
        channel), else None: a "Speaker 1" is never given a role."""
        if not speaker or not self.roles_known or speaker not in self.speakers:
            return None
        return "clinician" if speaker == self.speakers[0] else "client"

    @property
    def speakers_line(self) -> str:
        """The front matter's ``speakers:`` value (``Therapist/Client (enrolled voice)``, ``Speaker 1/2 (roles
        unknown)``, ``one speaker, lines not labelled: only one voice was heard``); "" when not labelled."""
        return describe_speakers(self.speakers, self.speaker_basis)

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    @property
    def word_count(self) -> int:
        return sum(len(s.text.split()) for s in self.segments)


def describe_speakers(names: tuple[str, ...], basis: str) -> str:
    """See ``Transcript.speakers_line``; ``parse_speakers`` reads it back."""
    if basis in _UNLABELLED_WHY:
        return f"one speaker, lines not labelled: {_UNLABELLED_WHY[basis]}"
    if not basis or not names:
        return ""
    if basis in ANONYMOUS_BASES:
        return "Speaker " + "/".join(n.removeprefix("Speaker ") for n in names) + f" ({basis})"
    return "/".join(names) + f" ({basis})"


def parse_speakers(line: str) -> tuple[tuple[str, ...], str]:
    """(names, basis) from a ``speakers:`` front matter value; ((), "") for anything else."""
    line = line.strip()
    for basis, why in _UNLABELLED_WHY.items():
        if line.endswith(why):
            return (), basis
    for basis in (*ROLE_BASES, *ANONYMOUS_BASES):
        tail = f" ({basis})"
        if line.endswith(tail):
            names = tuple(n.strip() for n in line.removesuffix(tail).split("/"))
            if basis in ANONYMOUS_BASES:
                names = tuple(n if n.startswith("Speaker ") else f"Speaker {n}" for n in names)
            return (names, basis) if all(names) else ((), "")
    return (), ""


def stamp(seconds: float, timed: bool = True) -> str:
    """``[hh:mm:ss]`` for audio, ``[line N]`` for a plain-text dialogue."""
    if not timed:
        return f"[line {int(seconds)}]"
    s = max(0, int(seconds))
    return f"[{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}]"


@dataclass(frozen=True)
class Evidence:
    """A quote from the transcript with its timestamp, used as support for a note sentence."""

    text: str
    start: float
    timed: bool = True
    category: str = ""  # for risk quotes: what it matched, e.g. "self-harm"
    speaker: str | None = None  # who said it, only when the roles are known (``Transcript.role_of``)

    def __str__(self) -> str:
        tail = f" — {self.category}" if self.category else ""
        who = f"{self.speaker}: " if self.speaker else ""
        return f'{who}"{self.text}" {stamp(self.start, self.timed)}{tail}'


@dataclass
class NoteSentence:
    text: str
    support: float = 1.0  # 0..1 grounding score against the transcript
    unverified: bool = False
    reasons: list[str] = field(default_factory=list)  # e.g. ["number 40 not in transcript"]


@dataclass
class NoteSection:
    key: str  # e.g. "subjective"
    title: str  # e.g. "Subjective"
    sentences: list[NoteSentence] = field(default_factory=list)


@dataclass
class Note:
    template: str
    sections: list[NoteSection]
    engine: str  # "extractive" | "llm"
    model: str = ""  # model file name for llm, "" for extractive
    model_sha256: str = ""
    risk: list[Evidence] = field(default_factory=list)  # "For clinician review" quotes
    strategy: str = "single"  # "single" or "map-reduce (N windows)"
    quotes: str = ""  # extractive: "clean verbatim" or "verbatim"; "" when the engine does not quote

    @property
    def unverified_count(self) -> int:
        return sum(1 for sec in self.sections for s in sec.sentences if s.unverified)


class Clock(Protocol):
    def __call__(self) -> dt.datetime: ...


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# progress(stage, fraction 0..1, detail) -- stage is "decode", "transcribe", "draft", "write"
Progress = Callable[[str, float, str], None]


def no_progress(stage: str, fraction: float, detail: str = "") -> None:
    return None
