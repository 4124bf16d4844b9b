"""Where a live-transcription window ends: at a pause, so no word is cut in two."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from hushnote.daemon.recording.devices import SAMPLE_RATE

log = logging.getLogger(__name__)


def pick_cut(pcm: np.ndarray, lo: int, hi: int,
             finder: Callable[[np.ndarray], list[dict[str, int]]] | None = None) -> int:
    """Where to end a live window: the middle of the widest pause (Silero VAD, as the pipeline uses, or
    ``finder``) whose middle lies in [lo, hi]; failing that, the quietest 100 ms in [lo, hi]."""
    audio = pcm.astype(np.float32) / 32768.0
    try:
        if finder is None:
            from hushnote.daemon.speech.audio import speech_chunks

            finder = speech_chunks
        chunks = finder(audio)
    except Exception as exc:  # noqa: BLE001 - no VAD (e.g. a broken install): fall back to energy
        log.debug("VAD unavailable (%s)", exc.__class__.__name__)
        chunks = None
    if chunks is not None:
        if not chunks:
            return hi  # all silence
        gaps = [(0, chunks[0]["start"])] + [(a["end"], b["start"]) for a, b in zip(chunks, chunks[1:], strict=False)]
        if chunks[-1]["end"] < hi - SAMPLE_RATE // 2:
            gaps.append((chunks[-1]["end"], hi))
        best = max(((b - a, (a + b) // 2) for a, b in gaps if lo <= (a + b) // 2 <= hi and b > a), default=None)
        if best is not None:
            return best[1]
    frame = SAMPLE_RATE // 10
    seg = audio[lo:hi]
    n = seg.shape[0] // frame
    if n == 0:
        return hi
    energy = np.square(seg[: n * frame].reshape(n, frame)).mean(axis=1)
    return lo + int(np.argmin(energy)) * frame + frame // 2
