"""Word labels: smoothing of short runs, speaker turns, and the windows cut from speech regions."""

from __future__ import annotations

import pytest
from hushnote.daemon.speakers.diarize import MIN_REGION_S, make_windows
from hushnote.daemon.speakers.labels import MIN_RUN_S, LabelledWord, smooth, turns


def words(*spec: tuple[float, float, str, int | None]) -> list[LabelledWord]:
    return [LabelledWord(a, b, t, s) for a, b, t, s in spec]


def speakers(ws: list[LabelledWord]) -> list[int | None]:
    return [w.speaker for w in ws]


def test_a_one_word_blip_inside_another_speakers_run_is_relabelled() -> None:
    ws = words((0.0, 0.4, "I", 0), (0.4, 0.7, "slept", 1), (0.7, 1.0, "badly", 0))
    assert 0.3 < MIN_RUN_S
    assert speakers(smooth(ws)) == [0, 0, 0]


def test_a_word_set_apart_by_pauses_is_kept() -> None:
    ws = words((0.0, 0.4, "so", 0), (2.0, 2.3, "yes", 1), (4.0, 4.4, "well", 0))
    assert speakers(smooth(ws)) == [0, 1, 0]


def test_a_long_word_and_a_run_between_different_speakers_are_kept() -> None:
    long_word = words((0.0, 0.4, "I", 0), (0.4, 1.4, "mmmhmm", 1), (1.4, 1.8, "see", 0))
    assert speakers(smooth(long_word)) == [0, 1, 0]
    at_change = words((0.0, 0.4, "so", 0), (0.4, 0.6, "yes", 1), (0.6, 1.0, "right", 2))
    assert speakers(smooth(at_change)) == [0, 1, 2]


def test_unknown_words_between_one_speaker_take_that_speaker_and_stay_unknown_otherwise() -> None:
    ws = words((0, 1, "a", 0), (1, 2, "b", None), (2, 3, "c", None), (3, 4, "d", 0), (4, 5, "e", None))
    assert speakers(smooth(ws)) == [0, 0, 0, 0, None]


def test_turns_join_consecutive_words_of_one_speaker() -> None:
    ws = words((0.0, 0.5, " How", 0), (0.5, 0.9, " are", 0), (0.9, 1.2, " you?", 0), (2.0, 2.4, " Tired.", 1))
    got = turns(ws)
    assert [(t.speaker, t.start, t.end, t.text) for t in got] == [(0, 0.0, 1.2, "How are you?"), (1, 2.0, 2.4, "Tired.")]
    assert turns([]) == []


def test_windows_cover_each_region_and_end_with_it() -> None:
    windows = make_windows([(0.0, 4.0), (10.0, 11.0), (20.0, 20.0 + MIN_REGION_S / 2)])
    first = [w for w in windows if w.end <= 4.0]
    assert first[0].start == 0.0 and first[-1].end == pytest.approx(4.0)
    assert all(w.duration == pytest.approx(1.5) for w in first)
    assert all(b.start - a.start <= 0.75 + 1e-9 for a, b in zip(first, first[1:], strict=False))
    assert [(w.start, w.end) for w in windows if w.start >= 10.0] == [(10.0, 11.0)]  # short region: one window
