"""Two-speaker "sessions" built from real read speech of two readers, with the truth of who spoke when.

Turns alternate between the readers; each turn is a random stretch (1-7 s) of one of the reader's clips,
with its own loudness (-12..0 dB) and spectral tilt (-3..+3 dB per octave) so that level or colour never
give the speaker away, separated by 0.1-1.0 s pauses over a faint noise floor. ``stereo`` puts each
reader on a channel of their own with the other leaking in (bleed). Used by the speaker tests and by
bench/bench_speakers.py; the readers are in tests/data/speakers (``reader_audio``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hushnote.daemon.speakers.labels import Word

SAMPLE_RATE = 16000
NOISE_DB = -60.0
READERS = Path(__file__).resolve().parents[1] / "data" / "speakers"
FEMALE = ("367", "533")
MALE = ("2033", "2414")


def reader_audio(reader: str, part: str = "session") -> np.ndarray:
    """16 kHz float32 of tests/data/speakers/<reader>-<part>.flac (part: session or enrol)."""
    from hushnote.daemon.speech.audio import decode_all

    return np.asarray(decode_all(READERS / f"{reader}-{part}.flac"), dtype=np.float32)


@dataclass(frozen=True)
class Session:
    """Built audio (16 kHz mono float32) and its turns: (start s, end s, reader index)."""

    audio: np.ndarray
    turns: list[tuple[float, float, int]]

    def speaker_at(self, t: float) -> int | None:
        """The reader speaking at ``t`` seconds (None in a pause)."""
        for a, b, who in self.turns:
            if a <= t < b:
                return who
        return None

    def reader_near(self, t: float) -> int:
        """The reader of the turn nearest ``t`` (a recogniser's word time may fall in a pause)."""
        return min(self.turns, key=lambda turn: max(turn[0] - t, t - turn[1], 0.0))[2]


def _tilt(piece: np.ndarray, db_per_octave: float) -> np.ndarray:
    spec = np.fft.rfft(piece)
    freqs = np.fft.rfftfreq(len(piece), 1 / SAMPLE_RATE)
    octaves = np.log2(np.maximum(freqs, 50.0) / 1000.0)
    return np.fft.irfft(spec * 10 ** (db_per_octave * octaves / 20), n=len(piece)).astype(np.float32)


def _fade(piece: np.ndarray, ms: float = 10.0) -> np.ndarray:
    n = min(len(piece) // 2, int(SAMPLE_RATE * ms / 1000))
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    out = piece.copy()
    out[:n] *= ramp
    out[len(out) - n :] *= ramp[::-1]
    return out


def _pieces(
    clips: Sequence[np.ndarray], rng: np.random.Generator, lo: float, hi: float
) -> Iterator[np.ndarray]:
    """Endless random stretches of ``clips``, each lo..hi seconds (or a whole shorter clip)."""
    while True:
        clip = clips[int(rng.integers(len(clips)))]
        length = min(len(clip), int(rng.uniform(lo, hi) * SAMPLE_RATE))
        start = int(rng.integers(0, len(clip) - length + 1))
        yield clip[start : start + length]


def build_session(
    readers: Sequence[Sequence[np.ndarray]],
    seconds: float,
    seed: int = 0,
    turn_s: tuple[float, float] = (1.0, 7.0),
) -> Session:
    """About ``seconds`` of alternating turns by ``readers`` (each a list of 16 kHz clips)."""
    rng = np.random.default_rng(seed)
    sources = [_pieces(clips, rng, *turn_s) for clips in readers]
    parts: list[np.ndarray] = []
    turns: list[tuple[float, float, int]] = []
    t = 0
    who = 0
    while t < seconds * SAMPLE_RATE:
        gap = np.zeros(int(rng.uniform(0.1, 1.0) * SAMPLE_RATE), dtype=np.float32)
        piece = _fade(_tilt(next(sources[who]), rng.uniform(-3, 3))) * 10 ** (rng.uniform(-12, 0) / 20)
        parts += [gap, piece.astype(np.float32)]
        t += len(gap)
        turns.append((t / SAMPLE_RATE, (t + len(piece)) / SAMPLE_RATE, who))
        t += len(piece)
        who = (who + 1) % len(readers)
    audio = np.concatenate(parts)
    audio += rng.standard_normal(len(audio)).astype(np.float32) * 10 ** (NOISE_DB / 20)
    return Session(audio, turns)


def stereo(
    session: Session, bleed_db: float = -12.0, echo_db: float = -25.0, gain1_db: float = -6.0, delay_s: float = 0.02
) -> np.ndarray:
    """(n, 2): reader 0 on channel 0 (a microphone) with reader 1 leaking in at ``bleed_db`` after
    ``delay_s`` (a loud laptop speaker); reader 1 on channel 1 (the call audio) with a faint echo of reader 0
    at ``echo_db``; channel 1 ``gain1_db`` quieter overall. Each channel has its own noise floor."""
    own = [np.zeros_like(session.audio), np.zeros_like(session.audio)]
    for a, b, who in session.turns:
        i, j = int(a * SAMPLE_RATE), int(b * SAMPLE_RATE)
        own[who][i:j] = session.audio[i:j]
    lag = int(delay_s * SAMPLE_RATE)

    def late(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros(lag, dtype=np.float32), x[: len(x) - lag]])

    noise = session.audio - own[0] - own[1]
    ch0 = own[0] + late(own[1]) * 10 ** (bleed_db / 20) + noise
    ch1 = (own[1] + late(own[0]) * 10 ** (echo_db / 20)) * 10 ** (gain1_db / 20) + noise[::-1]
    return np.stack([ch0, ch1], axis=1).astype(np.float32)


def pseudo_words(session: Session, word_s: float = 0.4) -> tuple[list[Word], list[int]]:
    """Word-sized pieces (``word_s``) of each turn that carry speech (RMS within 30 dB of the turn's loudest
    piece), and the reader of each: a stand-in for recogniser word timestamps with exact truth."""
    words: list[Word] = []
    truth: list[int] = []
    for a, b, who in session.turns:
        edges = np.arange(a, b, word_s)
        rms = [
            float(np.sqrt(np.mean(session.audio[int(s * SAMPLE_RATE) : int(min(s + word_s, b) * SAMPLE_RATE)] ** 2)))
            for s in edges
        ]
        floor = max(rms) * 10 ** (-30 / 20)
        for s, level in zip(edges, rms, strict=True):
            if level >= floor:
                words.append(Word(float(s), float(min(s + word_s, b)), "w"))
                truth.append(who)
    return words, truth


def best_mapping_accuracy(labels: Sequence[int | None], truth: Sequence[int]) -> float:
    """Fraction of ``labels`` equal to ``truth`` under the best one-to-one renaming of the labels (None is
    always wrong)."""
    from itertools import permutations

    names = sorted({t for t in truth})
    found = sorted({x for x in labels if x is not None})
    best = 0
    for perm in permutations(names, len(found)) if len(found) <= len(names) else []:
        rename = dict(zip(found, perm, strict=True))
        best = max(best, sum(1 for x, t in zip(labels, truth, strict=True) if x is not None and rename[x] == t))
    if len(found) > len(names):  # more speakers found than exist: map each to its majority truth
        for x in found:
            votes = [t for y, t in zip(labels, truth, strict=True) if y == x]
            best += max(votes.count(n) for n in names)
    return best / max(len(truth), 1)


def feed_live(live: Any, audio: np.ndarray, window_s: float = 25.0) -> None:
    """Give 16 kHz float32 ``audio`` to a ``LiveTranscriber`` as the recorder does: int16 windows of at
    most ``window_s`` seconds, each ended at a pause (``cuts.pick_cut`` with the live transcriber's VAD,
    from 0.6 of the window on), then the rest, then the end of the recording."""
    from hushnote.daemon.recording.cuts import pick_cut

    pcm = np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)
    hi = int(window_s * SAMPLE_RATE)
    offset = 0
    while pcm.shape[0] - offset >= hi:
        cut = pick_cut(pcm[offset:offset + hi], int(0.6 * hi), hi, live.speech_chunks)
        live.on_window(pcm[offset:offset + cut].astype(np.float32) / 32768.0, offset / SAMPLE_RATE)
        offset += cut
    if offset < pcm.shape[0]:
        live.on_window(pcm[offset:].astype(np.float32) / 32768.0, offset / SAMPLE_RATE)
    live.on_end(pcm.shape[0] / SAMPLE_RATE, True)


def word_labels(words: Sequence[Any], labelled: Any) -> list[str | None]:
    """Each recognised word's (``Transcript.words``, before labelling) speaker in the ``labelled``
    transcript, whose segments are runs of those words."""
    out: list[str | None] = []
    for w in words:
        mid = (w.start + w.end) / 2
        seg = next((s for s in labelled.segments if s.start - 0.01 <= mid <= s.end + 0.01), None)
        out.append(seg.speaker if seg is not None else None)
    return out


def labelled_accuracy(session: Session, words: Sequence[Any], labelled: Any) -> float:
    """The share of ``words`` given their reader in ``labelled`` after the best renaming of its speakers."""
    names = list(labelled.speakers)
    labels = [names.index(x) if x in names else None for x in word_labels(words, labelled)]
    return best_mapping_accuracy(labels, [session.reader_near((w.start + w.end) / 2) for w in words])
