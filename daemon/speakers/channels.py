"""Who spoke when, from a two-channel recording: channel 0 one person (the microphone), channel 1 the other
(the call's audio output). Each word goes to the channel that leads over it.

Neither the channels' gains nor the leaks between them are known: a loud laptop speaker puts the client
into the microphone (bleed, typically -25 to -12 dB), the microphone may be quieter than the call audio.
So "leads" is learnt from the recording: the level difference (channel 0 minus channel 1, dB) of the
active 20 ms frames has two modes, one per person talking (e.g. +31 dB and -6 dB for a -12 dB bleed into
a microphone 6 dB louder than the call); each word goes to the likelier mode of a two-Gaussian fit (a
quiet word of the wide mode's person, whose echo sinks into the other channel's noise, still lands on
the right side). Call :func:`label_words_by_channel` only when :func:`channels_differ` says so.

Everything works on the 20 ms frames' powers, so a long recording is read block by block into
:class:`FramePowers` (800 bytes per second of audio: 4.3 MB for 90 minutes) and never held whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from hushnote.daemon.speakers.fbank import SAMPLE_RATE
from hushnote.daemon.speakers.labels import LabelledWord, Word, smooth

FRAME_S = 0.02
SEPARATION_DB = 12.0  # the two modes must be this far apart for the channels to carry different voices
MIN_SIDE_SHARE = 0.05  # ... and each mode must hold at least this share of the active frames
ACTIVE_DB = 30.0  # active frames: within this many dB of the recording's loudest frames

Stereo = npt.NDArray[np.float32]
Floats = npt.NDArray[np.float64]


def _as_channels(stereo: Stereo) -> npt.NDArray[np.float32]:
    """(2, n) from (n, 2) or (2, n)."""
    x = np.asarray(stereo, dtype=np.float32)
    if x.ndim != 2 or 2 not in x.shape:
        raise ValueError("expected two-channel audio, shape (n, 2) or (2, n)")
    return x if x.shape[0] == 2 and x.shape[1] != 2 else x.T


class FramePowers:
    """The mean power of each 20 ms frame of each channel, gathered block by block (``add``) from 16 kHz
    two-channel audio; ``powers`` is (frames, 2). A last partial frame is dropped."""

    def __init__(self) -> None:
        self._hop = int(FRAME_S * SAMPLE_RATE)
        self._rest = np.zeros((2, 0), dtype=np.float32)
        self._parts: list[Floats] = []

    def add(self, block: Stereo) -> None:
        x = np.concatenate([self._rest, _as_channels(block)], axis=1) if self._rest.shape[1] else _as_channels(block)
        count = x.shape[1] // self._hop
        used = count * self._hop
        self._parts.append((x[:, :used].astype(np.float64) ** 2).reshape(2, count, self._hop).mean(axis=2).T)
        self._rest = x[:, used:].copy()

    @property
    def powers(self) -> Floats:
        if not self._parts:
            return np.zeros((0, 2))
        if len(self._parts) > 1:
            self._parts = [np.concatenate(self._parts)]
        return self._parts[0]


def frame_powers(stereo: Stereo) -> Floats:
    """(frames, 2) mean power of each 20 ms frame of each channel."""
    acc = FramePowers()
    acc.add(stereo)
    return acc.powers


def _levels(powers: Floats) -> Floats:
    return np.asarray(10.0 * np.log10(powers + 1e-12), dtype=np.float64)


def _active_differences(levels: Floats) -> Floats:
    """Channel 0 minus channel 1 (dB) over the frames within ACTIVE_DB of the loudest."""
    loud = levels.max(axis=1)
    if len(loud) == 0:
        return np.zeros(0)
    active = loud > np.percentile(loud, 99) - ACTIVE_DB
    return np.asarray(levels[active, 0] - levels[active, 1], dtype=np.float64)


@dataclass(frozen=True)
class Modes:
    """Two Gaussians over the level differences (dB): channel 1's person talking (``low``), channel 0's
    (``high``); ``high_weight`` is the share of active frames in the high one."""

    low: float
    high: float
    low_sd: float
    high_sd: float
    high_weight: float

    @property
    def share(self) -> float:
        """The smaller mode's share of the active frames."""
        return min(self.high_weight, 1.0 - self.high_weight)

    def says_channel0(self, diff: float) -> bool:
        """Whether a level difference ``diff`` (dB) is likelier from channel 0's person talking."""
        high = _log_density(diff, self.high, self.high_sd, self.high_weight)
        return high > _log_density(diff, self.low, self.low_sd, 1.0 - self.high_weight)


def _log_density(x: float, mean: float, sd: float, weight: float) -> float:
    return float(np.log(max(weight, 1e-6)) - np.log(sd) - 0.5 * ((x - mean) / sd) ** 2)


def two_modes(diff: Floats) -> Modes:
    """A two-Gaussian fit (EM, started from the 10th and 90th percentiles) of the level differences."""
    if len(diff) < 2:
        return Modes(0.0, 0.0, 1.0, 1.0, 0.5)
    mean = np.array([np.percentile(diff, 10), np.percentile(diff, 90)])
    sd = np.full(2, max(float(diff.std()) / 2, 1.0))
    weight = np.array([0.5, 0.5])
    for _ in range(30):
        dens = weight / sd * np.exp(-0.5 * ((diff[:, None] - mean) / sd) ** 2) + 1e-300
        resp = dens / dens.sum(axis=1, keepdims=True)
        weight = resp.mean(axis=0)
        mean = (resp * diff[:, None]).sum(axis=0) / np.maximum(resp.sum(axis=0), 1e-9)
        var = (resp * (diff[:, None] - mean) ** 2).sum(axis=0) / np.maximum(resp.sum(axis=0), 1e-9)
        sd = np.sqrt(np.maximum(var, 1.0))  # at least 1 dB: a mode of identical frames stays a mode
    lo, hi = (0, 1) if mean[0] <= mean[1] else (1, 0)
    return Modes(float(mean[lo]), float(mean[hi]), float(sd[lo]), float(sd[hi]), float(weight[hi]))


def channels_differ(stereo: Stereo) -> bool:
    """True when the two channels carry different voices: their level difference has two modes at least
    SEPARATION_DB apart, each holding MIN_SIDE_SHARE of the active frames. False for ordinary stereo."""
    return powers_differ(frame_powers(stereo))


def powers_differ(powers: Floats) -> bool:
    """:func:`channels_differ` on frame powers (:class:`FramePowers`)."""
    modes = two_modes(_active_differences(_levels(powers)))
    return modes.high - modes.low >= SEPARATION_DB and modes.share >= MIN_SIDE_SHARE


def _word_power(powers: Floats, word: Word) -> tuple[float, float]:
    """Mean power of each channel over the frames the word overlaps."""
    a = max(0, int(word.start / FRAME_S))
    b = min(powers.shape[0], int(np.ceil(word.end / FRAME_S)))
    if b <= a:
        return 0.0, 0.0
    seg = powers[a:b]
    return float(seg[:, 0].mean()), float(seg[:, 1].mean())


def label_words_by_channel(stereo: Stereo, words: Sequence[Word]) -> list[LabelledWord]:
    """Speaker 0 or 1 for each word: the side of the recording's boundary (see the module) that the
    word's level difference falls on, then :func:`~hushnote.daemon.speakers.labels.smooth`. A word over
    digital silence or past the end is unknown (None). ``stereo``: 16 kHz float32, (n, 2) or (2, n)."""
    return label_words_by_power(frame_powers(stereo), words)


def label_words_by_power(powers: Floats, words: Sequence[Word]) -> list[LabelledWord]:
    """:func:`label_words_by_channel` on frame powers (:class:`FramePowers`)."""
    modes = two_modes(_active_differences(_levels(powers)))
    out: list[LabelledWord] = []
    for w in words:
        p0, p1 = _word_power(powers, w)
        diff = 10 * float(np.log10((p0 + 1e-12) / (p1 + 1e-12)))
        speaker = None if p0 == p1 == 0.0 else int(not modes.says_channel0(diff))
        out.append(LabelledWord(w.start, w.end, w.text, speaker))
    return smooth(out)
