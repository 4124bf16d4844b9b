"""Where a live window ends (``recording.cuts.pick_cut``): in the widest pause whose middle is in [lo, hi],
never inside speech; with no pause detector, at the quietest 100 ms. Synthetic signals, no model."""

from __future__ import annotations

import numpy as np
from hushnote.daemon.recording.cuts import pick_cut
from hushnote.daemon.recording.devices import SAMPLE_RATE

S = SAMPLE_RATE


def tone(seconds: float, quiet: tuple[float, float] | None = None) -> np.ndarray:
    """A loud 220 Hz tone (int16), silent between ``quiet`` (seconds)."""
    t = np.arange(int(seconds * S)) / S
    pcm = (np.sin(2 * np.pi * 220 * t) * 12000).astype(np.int16)
    if quiet is not None:
        pcm[int(quiet[0] * S): int(quiet[1] * S)] = 0
    return pcm


def test_the_widest_pause_in_range_wins() -> None:
    chunks = [{"start": 0, "end": 3 * S}, {"start": 4 * S, "end": 8 * S},
              {"start": int(8.5 * S), "end": 12 * S}, {"start": 16 * S, "end": 20 * S}]

    def finder(audio: np.ndarray) -> list[dict[str, int]]:
        return chunks

    pcm = tone(20)
    # pauses: 3-4 s (1 s), 8-8.5 s (0.5 s), 12-16 s (4 s, middle 14 s)
    assert pick_cut(pcm, 2 * S, 10 * S, finder) == int(3.5 * S)  # 14 s is out of range: the 1 s pause
    assert pick_cut(pcm, 2 * S, 20 * S, finder) == 14 * S
    assert pick_cut(pcm, 5 * S, 10 * S, finder) == int(8.25 * S)  # the only pause in range


def test_all_silence_is_cut_at_the_end() -> None:
    assert pick_cut(np.zeros(10 * S, dtype=np.int16), 6 * S, 10 * S, lambda a: []) == 10 * S


def test_without_a_pause_detector_the_quietest_100_ms_in_range() -> None:
    def broken(audio: np.ndarray) -> list[dict[str, int]]:
        raise RuntimeError("no VAD here")

    pcm = tone(10, quiet=(7.0, 7.3))
    cut = pick_cut(pcm, 6 * S, 10 * S, broken)
    assert 7.0 * S <= cut <= 7.3 * S
    assert pick_cut(pcm, 8 * S, 8 * S + 10, broken) == 8 * S + 10  # no whole frame in range: the end
