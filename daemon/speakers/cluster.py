"""Who is who: agglomerative clustering of window embeddings, and matching a cluster to an enrolled voice.

Ward-linkage agglomerative clustering of the unit embeddings (squared Euclidean distance = 2 - 2 cosine).
A cluster is carried as (mean, count), so a merge costs one row update. Ward, unlike average linkage,
does not peel off a few odd windows (a cough, a partial word) as a "speaker": splitting one voice gives
two halves with near-identical centroids, which the one-voice check then merges. Above MICRO_BLOCK windows
the windows are first merged within consecutive blocks into micro-clusters (neighbouring windows are
mostly one voice), level by level, so an hour of speech costs about as much as a few minutes.

Two clusters whose centroids' cosine exceeds SAME_VOICE are one voice. Measured on built sessions of
ten LibriSpeech readers (docs/BENCHMARKS.md): one reader split in two 0.59-0.88 (5th percentile 0.62),
two readers at most 0.33; a prototype on real conversation saw two people at up to 0.56. The two errors are
not equally bad: one voice split in two gives "Speaker 1/2" and an enrolment match that is refused (both
halves resemble the voiceprint), while two voices merged could put one person's words under the other's
role; so the threshold sits above the two-person values, and ``Clustering.sure`` flags the band between.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from hushnote.daemon.speakers.embedder import Embeddings

MICRO_BLOCK = 150  # windows clustered exactly at once; above this, micro-clusters first
MICRO_KEEP = 30  # micro-clusters kept per block
SAME_VOICE = 0.6  # centroid cosine above which two clusters are one voice
UNSURE = 0.1  # a similarity within this of SAME_VOICE makes the speaker count unsure
ENROL_MARGIN = 0.25  # the enrolled voice's cluster must beat the next by this much cosine
ENROL_MIN = 0.55  # ... and be at least this similar to the enrolled voice
ENROL_SOLO = 0.7  # with one cluster only, it is the enrolled voice only if at least this similar
# More voices than asked for: clustered into one group more, the closest two groups' centroids are at most
# this similar. Measured (docs/BENCHMARKS.md): a third reader among two gave at most 0.36, one reader's
# halves (two readers asked for three groups) at least 0.59.
EXTRA_VOICE = 0.45

Labels = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Clustering:
    """``labels[i]`` is window i's speaker (0..count-1, numbered by first appearance);
    ``centroids[k]`` the unit mean embedding of speaker k; ``similarity`` the highest cosine between two
    clusters' centroids before the one-voice check (1.0 with fewer than two windows)."""

    labels: Labels
    centroids: Embeddings
    similarity: float

    @property
    def count(self) -> int:
        return len(self.centroids)

    @property
    def sure(self) -> bool:
        """False when the speaker count is a close call (similarity within UNSURE of SAME_VOICE)."""
        return abs(self.similarity - SAME_VOICE) > UNSURE


def _ward_costs(means: Floats, size: Floats, i: int) -> Floats:
    """Ward's merge cost of cluster ``i`` with every cluster."""
    dist = ((means - means[i]) ** 2).sum(axis=1)
    return np.asarray(size * size[i] / (size + size[i]) * dist, dtype=np.float64)


def _merge_to(means: Floats, counts: Floats, target: int) -> Labels:
    """Ward merges of clusters (mean vectors, sizes) until ``target`` remain. Returns, for each input
    cluster, its merged group (0..target-1)."""
    n = len(means)
    mu, size = means.copy(), counts.astype(np.float64).copy()
    sq = (mu**2).sum(axis=1)
    cost = size[:, None] * size[None, :] / (size[:, None] + size[None, :]) * (sq[:, None] + sq[None, :] - 2 * mu @ mu.T)
    np.fill_diagonal(cost, np.inf)
    group = np.arange(n)
    alive = np.ones(n, dtype=bool)
    for _ in range(n - max(target, 1)):
        i, j = divmod(int(np.argmin(cost)), n)
        mu[i] = (size[i] * mu[i] + size[j] * mu[j]) / (size[i] + size[j])
        size[i] += size[j]
        alive[j] = False
        row = np.where(alive, _ward_costs(mu, size, i), np.inf)
        row[i] = np.inf
        cost[i], cost[:, i] = row, row
        cost[j], cost[:, j] = np.inf, np.inf
        group[group == j] = i
    return np.unique(group, return_inverse=True)[1].astype(np.int64)


def _group_means(vectors: Floats, weights: Floats, groups: Labels) -> tuple[Floats, Floats]:
    k = int(groups.max()) + 1
    sums = np.zeros((k, vectors.shape[1]))
    np.add.at(sums, groups, vectors * weights[:, None])
    totals = np.bincount(groups, weights=weights, minlength=k).astype(np.float64)
    return sums / totals[:, None], totals


def _agglomerate(emb: Floats, k: int) -> Labels:
    """Window labels 0..k-1 by Ward linkage, with micro-clusters by blocks above MICRO_BLOCK windows."""
    means, counts = emb, np.ones(len(emb))
    member = np.arange(len(emb))  # window -> current cluster
    while len(means) > MICRO_BLOCK:
        groups = np.empty(len(means), dtype=np.int64)
        offset = 0
        for a in range(0, len(means), MICRO_BLOCK):
            g = _merge_to(means[a : a + MICRO_BLOCK], counts[a : a + MICRO_BLOCK], MICRO_KEEP)
            groups[a : a + MICRO_BLOCK] = g + offset
            offset += int(g.max()) + 1
        means, counts = _group_means(means, counts, groups)
        member = groups[member]
    return _merge_to(means, counts, k)[member]


def _centroids(emb: Floats, labels: Labels) -> Floats:
    sums = np.zeros((int(labels.max()) + 1, emb.shape[1]))
    np.add.at(sums, labels, emb)
    return np.asarray(sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12), dtype=np.float64)


def _renumber(labels: Labels) -> Labels:
    """Dense labels, numbered in order of first appearance."""
    order = list(dict.fromkeys(labels.tolist()))
    remap = np.zeros(int(labels.max()) + 1, dtype=np.int64)
    remap[order] = np.arange(len(order))
    return remap[labels]


def _fold_same_voice(emb: Floats, labels: Labels, same_voice: float) -> tuple[Labels, float]:
    """Merge the most similar pair of clusters while their centroids' cosine exceeds ``same_voice``.
    Returns the labels and the highest centroid cosine before any merge."""
    first: float | None = None
    while int(labels.max()) >= 1:
        cent = _centroids(emb, labels)
        sim = cent @ cent.T
        np.fill_diagonal(sim, -np.inf)
        i, j = divmod(int(np.argmax(sim)), len(cent))
        first = float(sim[i, j]) if first is None else first
        if sim[i, j] <= same_voice:
            break
        labels = _renumber(np.where(labels == j, i, labels))
    return labels, 1.0 if first is None else first


def cluster(embeddings: Embeddings, k: int = 2, same_voice: float = SAME_VOICE) -> Clustering:
    """Group unit window embeddings (n, 192), in time order, into at most ``k`` speakers.

    Fewer speakers come back when clusters are one voice (centroid cosine > ``same_voice``); no windows
    give zero speakers.
    """
    emb = np.asarray(embeddings, dtype=np.float64)
    if len(emb) == 0:
        return Clustering(np.zeros(0, dtype=np.int64), np.zeros((0, emb.shape[1]), dtype=np.float32), 1.0)
    labels = np.zeros(len(emb), dtype=np.int64)
    similarity = 1.0
    if len(emb) > 1 and k > 1:
        labels, similarity = _fold_same_voice(emb, _agglomerate(emb, min(k, len(emb))), same_voice)
    labels = _renumber(labels)
    return Clustering(labels, _centroids(emb, labels).astype(np.float32), similarity)


@dataclass(frozen=True)
class EnrolmentMatch:
    """Which cluster is the enrolled voice. ``speaker`` is None when no cluster clearly is;
    ``scores[k]`` is cluster k's cosine to the voiceprint; ``margin`` the best minus the runner-up (the
    best score itself when there is one cluster)."""

    speaker: int | None
    scores: tuple[float, ...]
    margin: float


def match_enrolled(centroids: Embeddings, voiceprint: Embeddings) -> EnrolmentMatch:
    """The cluster whose centroid (rows of ``centroids``) is the enrolled ``voiceprint`` (192,), if clear.

    Chosen only when its cosine is at least ENROL_MIN and beats every other cluster by ENROL_MARGIN (a
    lone cluster: at least ENROL_SOLO, since it may be two voices merged); otherwise ``speaker`` is None
    (label Speaker 1/2, never a guessed role). Measured: the right cluster scored 0.74 or more with a
    margin of 0.50 or more; a third person's voiceprint scored at most 0.37.
    """
    if len(centroids) == 0:
        return EnrolmentMatch(None, (), 0.0)
    vp = np.asarray(voiceprint, dtype=np.float64)
    vp = vp / max(float(np.linalg.norm(vp)), 1e-12)
    scores = np.asarray(centroids, dtype=np.float64) @ vp
    order = np.argsort(-scores)
    best = float(scores[order[0]])
    margin = best - float(scores[order[1]]) if len(scores) > 1 else best
    ok = best >= ENROL_MIN and margin >= ENROL_MARGIN if len(scores) > 1 else best >= ENROL_SOLO
    return EnrolmentMatch(int(order[0]) if ok else None, tuple(float(s) for s in scores), margin)
