"""Who spoke when, from one microphone: speech regions -> 1.5 s windows -> embeddings -> clusters -> words.

Windows of WINDOW_S seconds every SHIFT_S seconds are cut inside each speech region (a region shorter
than a window is one window of its own length; regions under MIN_REGION_S are too short to embed). Each
window's cosine to each speaker centroid is spread over the words it overlaps, weighted by the overlap;
a word takes the speaker with the highest score, short runs are smoothed (:mod:`hushnote.daemon.speakers.labels`).

More voices than ``k``: when ``k`` voices are found, the windows are also clustered into ``k + 1`` groups;
if the closest two of those are still clearly different voices (centroid cosine at most EXTRA_VOICE), the
recording has more voices than it was expected to have (``WindowLabels.more``): with two people asked
for, a third person's words would otherwise be given, with confidence, to one of the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from hushnote.daemon.speakers.cluster import EXTRA_VOICE, Clustering, cluster
from hushnote.daemon.speakers.embedder import (
    EMBEDDING_DIM,
    WINDOW_S,
    Embedder,
    Embeddings,
    Window,
    embed_windows,
)
from hushnote.daemon.speakers.fbank import Audio
from hushnote.daemon.speakers.labels import LabelledWord, Word, smooth

SHIFT_S = 0.75  # window hop: every moment of speech is in about two windows
MIN_REGION_S = 0.5  # shorter speech regions are not embedded (their words borrow a neighbour's label)
MIN_CLUSTER_S = 1.0  # shorter windows are too noisy to shape the clusters; they are only scored against them
NEAREST_S = 1.0  # a word outside every window takes the nearest window's scores if it is this close

Region = tuple[float, float]


def make_windows(regions: Sequence[Region], window_s: float = WINDOW_S, shift_s: float = SHIFT_S) -> list[Window]:
    """Windows (seconds) covering each speech region, in time order; the last one in a region ends with it."""
    out: list[Window] = []
    for start, end in regions:
        length = end - start
        if length < MIN_REGION_S:
            continue
        if length <= window_s:
            out.append(Window(start, end))
            continue
        count = int(np.ceil((length - window_s) / shift_s)) + 1
        starts = [min(start + i * shift_s, end - window_s) for i in range(count)]
        out.extend(Window(s, s + window_s) for s in starts)
    return out


@dataclass(frozen=True)
class WindowLabels:
    """The windows that were embedded, their speakers and the clustering.

    ``scores[i, k]`` is window i's cosine to speaker k's centroid; ``clustering.labels[i]`` its speaker.
    """

    windows: list[Window]
    scores: npt.NDArray[np.float32]
    clustering: Clustering
    more: WindowLabels | None = None  # the windows in k + 1 groups, when that many clearly different voices spoke

    @property
    def speakers(self) -> int:
        """How many speakers were found (0 with no speech, 1 when every window is one voice)."""
        return self.clustering.count


def _overlaps(words: Sequence[Word], windows: Sequence[Window]) -> npt.NDArray[np.float64]:
    """(words, windows) seconds of overlap."""
    ws = np.array([[w.start, w.end] for w in words], dtype=np.float64).reshape(-1, 2)
    wins = np.array([[w.start, w.end] for w in windows], dtype=np.float64).reshape(-1, 2)
    lo = np.maximum(ws[:, None, 0], wins[None, :, 0])
    hi = np.minimum(ws[:, None, 1], wins[None, :, 1])
    return np.asarray(np.clip(hi - lo, 0.0, None), dtype=np.float64)


def _nearest(word: Word, windows: Sequence[Window]) -> int | None:
    mid = (word.start + word.end) / 2
    gaps = [max(w.start - mid, mid - w.end, 0.0) for w in windows]
    best = int(np.argmin(gaps))
    return best if gaps[best] <= NEAREST_S else None


def words_from_windows(words: Sequence[Word], labelled: WindowLabels) -> list[LabelledWord]:
    """Each word's speaker from the windows it overlaps (overlap-weighted cosine to each centroid), then
    :func:`~hushnote.daemon.speakers.labels.smooth`. Words near no window are unknown (None)."""
    if labelled.speakers == 0 or not words:
        return [LabelledWord(w.start, w.end, w.text, None) for w in words]
    out: list[LabelledWord] = []
    for start in range(0, len(words), 512):  # bounded (words x windows) matrix
        chunk = words[start : start + 512]
        weight = _overlaps(chunk, labelled.windows)
        score = weight @ labelled.scores
        for i, w in enumerate(chunk):
            speaker: int | None = int(np.argmax(score[i])) if weight[i].sum() > 0 else None
            if speaker is None and (near := _nearest(w, labelled.windows)) is not None:
                speaker = int(np.argmax(labelled.scores[near]))
            out.append(LabelledWord(w.start, w.end, w.text, speaker))
    return smooth(out)


def _grouped(windows: list[Window], embeddings: Embeddings, full: npt.NDArray[np.bool_], k: int) -> WindowLabels:
    """``windows`` in at most ``k`` speakers, clustered on the ``full`` ones (the others take their nearest)."""
    found = cluster(embeddings[full], k)
    scores = (embeddings @ found.centroids.T).astype(np.float32)
    labels = found.labels.copy()
    if not full.all() and found.count:
        labels = np.argmax(scores, axis=1).astype(np.int64)
        labels[full] = found.labels
    return WindowLabels(windows, scores, Clustering(labels, found.centroids, found.similarity))


class Gathered:
    """Embedded windows collected piece by piece (pieces of a long file, or a recording's live windows), in
    recording time, to be clustered once with :meth:`Diarizer.cluster_windows`. 192 float32 per window:
    an hour of speech in 1.5 s windows every 0.75 s is about 3 MB."""

    def __init__(self) -> None:
        self.windows: list[Window] = []
        self._parts: list[Embeddings] = []

    def add(self, windows: Sequence[Window], embeddings: Embeddings, offset_s: float = 0.0) -> None:
        """Add ``windows`` (seconds from ``offset_s``) and their (len(windows), 192) ``embeddings``."""
        if len(windows) != len(embeddings):
            raise ValueError("one embedding per window")
        self.windows.extend(Window(w.start + offset_s, w.end + offset_s) for w in windows)
        self._parts.append(np.asarray(embeddings, dtype=np.float32).reshape(len(windows), EMBEDDING_DIM))

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def embeddings(self) -> Embeddings:
        """(len(self), 192) float32, in the order the windows were added."""
        if len(self._parts) > 1:
            self._parts = [np.concatenate(self._parts)]
        return self._parts[0] if self._parts else np.zeros((0, EMBEDDING_DIM), dtype=np.float32)


class Diarizer:
    """Speaker labels for one-microphone audio. ``k``: how many speakers to look for (fewer when voices are
    the same). The embedder is loaded on first use unless one is given."""

    def __init__(self, embedder: Embedder | None = None, k: int = 2) -> None:
        self._embedder = embedder
        self.k = k

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder()
        return self._embedder

    def embed(self, audio: Audio, regions: Sequence[Region], offset_s: float = 0.0) -> tuple[list[Window], Embeddings]:
        """The windows cut from ``regions`` (seconds into ``audio``, 16 kHz mono float32) and their embeddings.

        ``offset_s``: where ``audio`` starts in the recording; the windows come back in recording time, so a
        long or live recording can be embedded piece by piece and clustered once with :meth:`cluster_windows`.
        """
        windows = make_windows(regions)
        emb = embed_windows(audio, windows, self.embedder)
        return [Window(w.start + offset_s, w.end + offset_s) for w in windows], emb

    def cluster_gathered(self, gathered: Gathered) -> WindowLabels | None:
        """Cluster windows gathered piece by piece; None when there is no speech window at all."""
        return self.cluster_windows(gathered.windows, gathered.embeddings) if len(gathered) else None

    def label_windows(self, audio: Audio, regions: Sequence[Region]) -> WindowLabels:
        """Embed and cluster the speech windows of ``audio`` (16 kHz mono float32) in ``regions``."""
        windows, emb = self.embed(audio, regions)
        return self.cluster_windows(windows, emb)

    def cluster_windows(self, windows: list[Window], embeddings: Embeddings) -> WindowLabels:
        """Cluster already-embedded windows (e.g. embedded while recording) into speakers. Windows shorter
        than MIN_CLUSTER_S are left out of the clustering and take their nearest centroid. With ``k``
        voices found, ``more`` tells whether there were more (see the module)."""
        full = np.array([w.duration >= MIN_CLUSTER_S for w in windows], dtype=bool)
        if full.sum() < 2:
            full[:] = True
        found = _grouped(windows, embeddings, full, self.k)
        if found.speakers < self.k:
            return found
        more = _grouped(windows, embeddings, full, self.k + 1)
        if more.speakers > self.k and more.clustering.similarity <= EXTRA_VOICE:
            return replace(found, more=more)
        return found

    def label_words(self, audio: Audio, words: Sequence[Word], regions: Sequence[Region]) -> list[LabelledWord]:
        """Who said each word: ``words`` (start, end in seconds, text) of 16 kHz mono float32 ``audio`` whose
        speech is in ``regions``. Speakers are numbered 0, 1, ... by first appearance; None is unknown."""
        return words_from_windows(words, self.label_windows(audio, regions))
