"""Speaker labels on words: the word types, smoothing of implausibly short runs, and speaker turns.

A speaker is an int (0, 1, ...: cluster number, or channel number for two-channel recordings) or None
(nobody could be told: no speech window near the word). Names (Therapist/Client, Speaker 1/2) are given
later, by whoever knows the roles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

MIN_RUN_S = 0.4  # a run of words shorter than this between two runs of one other speaker is relabelled
MIN_RUN_WORDS = 1  # ... if it has at most this many words
MAX_GAP_S = 1.0  # ... and follows and precedes them within this time (a word alone between pauses is kept)


@dataclass(frozen=True)
class Word:
    """A recognised word: start and end in seconds, and its text as the recogniser wrote it."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class LabelledWord:
    """A word and who said it (None: unknown)."""

    start: float
    end: float
    text: str
    speaker: int | None


@dataclass(frozen=True)
class Turn:
    """Consecutive words of one speaker: times in seconds, the words' texts joined by single spaces."""

    speaker: int | None
    start: float
    end: float
    text: str


def _runs(words: Sequence[LabelledWord]) -> list[tuple[int, int]]:
    """[start, stop) index ranges of consecutive words with one speaker."""
    runs: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(words) + 1):
        if i == len(words) or words[i].speaker != words[start].speaker:
            runs.append((start, i))
            start = i
    return runs


def smooth(words: Sequence[LabelledWord]) -> list[LabelledWord]:
    """Relabel short runs (at most MIN_RUN_WORDS words and under MIN_RUN_S seconds) that sit, with no pause
    longer than MAX_GAP_S, between two runs of the same other speaker: 1.5-second windows cannot resolve
    them, so they are mostly noise. Unknown (None) runs between two runs of one speaker take that speaker."""
    out = list(words)
    runs = _runs(out)
    for (a, b), (prev_a, _), (next_a, _) in zip(runs[1:-1], runs[:-2], runs[2:], strict=True):
        left, right = out[prev_a].speaker, out[next_a].speaker
        if left is None or left != right:
            continue
        short = b - a <= MIN_RUN_WORDS and out[b - 1].end - out[a].start < MIN_RUN_S
        close = out[a].start - out[a - 1].end <= MAX_GAP_S and out[b].start - out[b - 1].end <= MAX_GAP_S
        if (short and close) or out[a].speaker is None:
            out[a:b] = [replace(w, speaker=left) for w in out[a:b]]
    return out


def turns(words: Sequence[LabelledWord]) -> list[Turn]:
    """Split labelled words into speaker turns (consecutive words of one speaker)."""
    return [
        Turn(
            words[a].speaker,
            words[a].start,
            words[b - 1].end,
            " ".join(t for w in words[a:b] if (t := w.text.strip())),
        )
        for a, b in _runs(words)
    ]
