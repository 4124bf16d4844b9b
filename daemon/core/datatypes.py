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
class Transcript:
    segments: tuple[Segment, ...]
    language: str
    duration: float  # seconds of audio
    model: str  # model name (e.g. "base", "tiny.en") or directory name
    source: str = ""  # the audio file's name (never logged)
    timed: bool = True  # False for a plain-text dialogue: Segment.start is then the line number
    ended_early: bool = False  # the audio file was cut short: transcribed as far as it goes (``duration``)
    expected_duration: float | None = None  # how long the cut-short file said the recording was, if it said

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    @property
    def word_count(self) -> int:
        return sum(len(s.text.split()) for s in self.segments)


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

    def __str__(self) -> str:
        tail = f" — {self.category}" if self.category else ""
        return f'"{self.text}" {stamp(self.start, self.timed)}{tail}'


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
