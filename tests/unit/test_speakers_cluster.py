"""Clustering, more voices than asked for, enrolment matching and an enrolment clip's odd windows, on unit
vectors with known groups (the real embeddings are tested in
tests/integration/test_speakers_diarize.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hushnote.daemon.speakers.cluster import (
    ENROL_MARGIN,
    ENROL_SOLO,
    EXTRA_VOICE,
    MICRO_BLOCK,
    SAME_VOICE,
    cluster,
    match_enrolled,
)
from hushnote.daemon.speakers.diarize import Diarizer
from hushnote.daemon.speakers.embedder import Window
from hushnote.daemon.speakers.enrol import OTHER_VOICE, rest_similarity, unlike_the_rest


def voices(n: int, k: int, spread: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n unit vectors around k random unit 'voices' (in runs, like turns), their voice, and the voices."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, 192))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    truth = np.repeat(np.arange(n // 10 + 1) % k, 10)[:n]
    x = centres[truth] + rng.standard_normal((n, 192)) * spread / np.sqrt(192)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), truth, centres


def agreement(labels: np.ndarray, truth: np.ndarray) -> float:
    return max(float(np.mean(labels == truth)), float(np.mean(labels != truth)))


@pytest.mark.parametrize("n", [40, MICRO_BLOCK * 8])
def test_two_voices_are_found(n: int) -> None:
    x, truth, _ = voices(n, 2, spread=1.2)
    found = cluster(x, k=2)
    assert found.count == 2 and found.similarity < SAME_VOICE and found.sure
    assert agreement(found.labels, truth) > 0.99
    assert found.labels[0] == 0  # numbered by first appearance
    assert np.allclose(np.linalg.norm(found.centroids, axis=1), 1.0, atol=1e-5)


def test_one_voice_gives_one_speaker_even_when_asked_for_three() -> None:
    x, _, _ = voices(300, 1, spread=1.0)
    found = cluster(x, k=3)
    assert found.count == 1 and set(found.labels.tolist()) == {0}
    assert found.similarity > SAME_VOICE


def test_three_voices_with_k3_and_degenerate_inputs() -> None:
    x, truth, _ = voices(90, 3, spread=1.0)
    found = cluster(x, k=3)
    assert found.count == 3
    assert len({(int(a), int(b)) for a, b in zip(found.labels, truth, strict=True)}) == 3
    assert cluster(np.zeros((0, 192), dtype=np.float32)).count == 0
    assert cluster(x[:1]).count == 1


def test_enrolled_voice_is_the_clearly_closest_cluster_and_nothing_else() -> None:
    x, truth, centres = voices(60, 2, spread=1.0)
    found = cluster(x, k=2)
    first_voice = int(found.labels[np.argmax(truth == 0)])
    match = match_enrolled(found.centroids, centres[0].astype(np.float32))
    assert match.speaker == first_voice and match.margin >= ENROL_MARGIN
    between = (centres[0] + centres[1]).astype(np.float32)  # resembles both: no clear margin
    assert match_enrolled(found.centroids, between).speaker is None
    stranger = np.random.default_rng(9).standard_normal(192).astype(np.float32)
    assert match_enrolled(found.centroids, stranger).speaker is None


def test_a_lone_cluster_is_the_enrolled_voice_only_when_very_close() -> None:
    x, _, centres = voices(60, 1, spread=0.5)
    one = cluster(x, k=2)
    assert one.count == 1
    assert match_enrolled(one.centroids, centres[0].astype(np.float32)).speaker == 0
    blurred = one.centroids[0] + 1.5 * np.random.default_rng(3).standard_normal(192).astype(np.float32) / np.sqrt(192)
    blurred_match = match_enrolled(one.centroids, blurred)
    assert blurred_match.scores[0] < ENROL_SOLO and blurred_match.speaker is None
    assert match_enrolled(np.zeros((0, 192), dtype=np.float32), centres[0]).speaker is None


def _windows(n: int) -> list[Window]:
    return [Window(0.75 * i, 0.75 * i + 1.5) for i in range(n)]


@pytest.mark.parametrize(("voices_heard", "more"), [(1, None), (2, None), (3, 3), (4, 3)])
def test_more_voices_than_asked_for_are_noticed(voices_heard: int, more: int | None) -> None:
    x, _, _ = voices(120, voices_heard, spread=1.0)
    found = Diarizer(k=2).cluster_windows(_windows(len(x)), x)  # no model: the windows are already embedded
    assert found.speakers == min(voices_heard, 2)
    assert (found.more.speakers if found.more is not None else None) == more
    if found.more is not None:
        assert found.more.clustering.similarity <= EXTRA_VOICE and found.more.scores.shape == (120, 3)


def test_one_voice_split_in_three_is_not_a_third_voice() -> None:
    x, truth, centres = voices(120, 2, spread=1.0)
    rng = np.random.default_rng(1)
    # half of the first voice's windows around a centre at cosine 0.7 to it (one reader's halves: 0.59-0.88)
    side = rng.standard_normal(192)
    side -= (side @ centres[0]) * centres[0]
    near = 0.7 * centres[0] + np.sqrt(1 - 0.49) * side / np.linalg.norm(side)
    idx = np.flatnonzero(truth == 0)[: int((truth == 0).sum()) // 2]
    y = near + rng.standard_normal((len(idx), 192)) * 1.0 / np.sqrt(192)
    x[idx] = y / np.linalg.norm(y, axis=1, keepdims=True)
    groups = cluster(x, k=3, same_voice=1.0)  # three groups, none folded: the split is really there
    assert groups.count == 3 and groups.similarity > EXTRA_VOICE
    assert Diarizer(k=2).cluster_windows(_windows(len(x)), x).more is None


def test_an_enrolment_window_unlike_the_rest_is_someone_else() -> None:
    x, _, centres = voices(30, 1, spread=1.0)
    assert unlike_the_rest(x) == [] and rest_similarity(x).min() > OTHER_VOICE
    other = voices(30, 1, spread=1.0, seed=7)[0][:2]  # two windows of another voice
    mixed = np.concatenate([x[:10], other[:1], x[10:20], other[1:], x[20:]])
    assert unlike_the_rest(mixed) == [10, 21]
