"""Who spoke when, from a two-channel recording: channel 0 one person (the microphone), channel 1 the other
(the call's audio output). Each word goes to the channel that is louder over it.

A loud speaker leaks one person into the other's channel (bleed, typically -25 to -12 dB); comparing the
levels of the two channels over a word still picks the right one, because the source channel is always the
louder. The channels' gains need not match: each channel's level is first referred to its own speech level
(the median level of the frames where it clearly leads), so a quiet microphone does not lose every word.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from daemon.speakers.fbank import SAMPLE_RATE
from daemon.speakers.labels import LabelledWord, Word, smooth

FRAME_S = 0.02
LEAD_DB = 6.0  # a channel "clearly leads" a frame by this much
MAX_GAIN_DB = 12.0  # the largest gain difference between channels corrected for
DISTINCT_SHARE = 0.6  # channels carry different voices if one clearly leads this share of active frames ...
MIN_SIDE_SHARE = 0.05  # ... and each channel leads at least this share
ACTIVE_DB = 30.0  # active frames: within this many dB of the recording's loudest frames

Stereo = npt.NDArray[np.float32]


def _as_channels(stereo: Stereo) -> npt.NDArray[np.float32]:
    """(2, n) from (n, 2) or (2, n)."""
    x = np.asarray(stereo, dtype=np.float32)
    if x.ndim != 2 or 2 not in x.shape:
        raise ValueError("expected two-channel audio, shape (n, 2) or (2, n)")
    return x if x.shape[0] == 2 and x.shape[1] != 2 else x.T


def frame_levels(stereo: Stereo) -> npt.NDArray[np.float64]:
    """(frames, 2) level in dB of each 20 ms frame of each channel."""
    x = _as_channels(stereo)
    hop = int(FRAME_S * SAMPLE_RATE)
    count = x.shape[1] // hop
    power = (x[:, : count * hop].astype(np.float64) ** 2).reshape(2, count, hop).mean(axis=2)
    return 10.0 * np.log10(power.T + 1e-12)


def _active(levels: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    loud = levels.max(axis=1)
    if len(loud) == 0:
        return np.zeros(0, dtype=bool)
    return loud > np.percentile(loud, 99) - ACTIVE_DB


def gain_offset(levels: npt.NDArray[np.float64]) -> float:
    """dB to add to channel 1 so both channels' own speech sits at the same level (clamped to
    ±MAX_GAIN_DB); 0 when either channel never clearly leads."""
    active = _active(levels)
    offset = 0.0
    for _ in range(3):
        diff = levels[:, 0] - (levels[:, 1] + offset)
        lead0 = active & (diff > LEAD_DB)
        lead1 = active & (diff < -LEAD_DB)
        if not lead0.any() or not lead1.any():
            return offset
        own0 = float(np.median(levels[lead0, 0]))
        own1 = float(np.median(levels[lead1, 1]))
        offset = float(np.clip(own0 - own1, -MAX_GAIN_DB, MAX_GAIN_DB))
    return offset


def channels_differ(stereo: Stereo) -> bool:
    """True when the two channels carry different voices (one channel clearly leads most active frames,
    and each channel leads some of them); False for ordinary stereo of one microphone."""
    levels = frame_levels(stereo)
    active = _active(levels)
    if active.sum() == 0:
        return False
    diff = (levels[:, 0] - levels[:, 1] - gain_offset(levels))[active]
    lead0, lead1 = float(np.mean(diff > LEAD_DB)), float(np.mean(diff < -LEAD_DB))
    return lead0 + lead1 >= DISTINCT_SHARE and min(lead0, lead1) >= MIN_SIDE_SHARE


def _word_power(x: npt.NDArray[np.float32], word: Word) -> tuple[float, float]:
    a = max(0, int(word.start * SAMPLE_RATE))
    b = min(x.shape[1], int(word.end * SAMPLE_RATE))
    if b <= a:
        return 0.0, 0.0
    seg = x[:, a:b].astype(np.float64)
    return float(np.mean(seg[0] ** 2)), float(np.mean(seg[1] ** 2))


def label_words_by_channel(stereo: Stereo, words: Sequence[Word]) -> list[LabelledWord]:
    """Speaker 0 or 1 for each word: the channel with more energy over the word after gain correction,
    then :func:`~daemon.speakers.labels.smooth`. A word over digital silence or past the end is unknown
    (None). ``stereo``: 16 kHz float32, shape (n, 2) or (2, n)."""
    x = _as_channels(stereo)
    gain = 10 ** (gain_offset(frame_levels(x)) / 10)  # channel 1's power correction
    out: list[LabelledWord] = []
    for w in words:
        p0, p1 = _word_power(x, w)
        p1 *= gain
        out.append(LabelledWord(w.start, w.end, w.text, None if p0 == p1 else int(p1 > p0)))
    return smooth(out)
