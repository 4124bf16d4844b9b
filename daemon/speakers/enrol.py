"""A voiceprint from an enrolment clip: the unit mean embedding of its speech windows, after checking the
clip has enough speech and only one voice.

Two checks for a second voice: the clip's windows split in two groups (Ward) that are not one voice
(TWO_VOICES), which finds a second person who speaks for a good part of the clip; and windows unlike the
rest of the clip (cosine to the mean of all the other windows below OTHER_VOICE), which finds one who says
only a sentence or two, too little for a group of its own in Ward's split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from hushnote.daemon.core.errors import InputError
from hushnote.daemon.speakers.cluster import cluster
from hushnote.daemon.speakers.diarize import MIN_CLUSTER_S, Region, make_windows
from hushnote.daemon.speakers.embedder import Embedder, Embeddings, embed_windows
from hushnote.daemon.speakers.fbank import Audio

MIN_SPEECH_S = 8.0  # less speech than this gives an unreliable voiceprint
MIN_WINDOWS = 6
# Two halves of one voice in a 20-30 s clip measured 0.49 or more, two voices at most 0.43: a lower bar
# than SAME_VOICE, since a short clip gives noisier halves and a refused sample is easy to record again.
TWO_VOICES = 0.45
# A window of the speaker's own voice scored 0.50 or more against the rest of a one-voice clip, a second
# person's window at most 0.41 (docs/BENCHMARKS.md); more than MAX_OTHER such windows: two voices.
OTHER_VOICE = 0.45
MAX_OTHER = 1


def voiceprint(audio: Audio, regions: Sequence[Region], embedder: Embedder) -> Embeddings:
    """The (192,) unit voiceprint of the one person speaking in ``regions`` of 16 kHz mono ``audio``.

    Raises InputError when the clip has no speech, under MIN_SPEECH_S seconds of it, or two voices.
    """
    speech = sum(max(0.0, b - a) for a, b in regions)
    windows = [w for w in make_windows(regions) if w.duration >= MIN_CLUSTER_S]
    if not windows:
        raise InputError("The voice sample has no speech in it (silence, noise or music only).",
                         "Record 20 to 30 seconds of yourself speaking normally, in a quiet room, and check that "
                         "the microphone is not muted.")
    if speech < MIN_SPEECH_S or len(windows) < MIN_WINDOWS:
        raise InputError(
            f"The voice sample has only {speech:.0f} seconds of speech; at least {MIN_SPEECH_S:.0f} are needed.",
            "Record 20 to 30 seconds of yourself speaking normally, in a quiet room.",
        )
    emb = embed_windows(audio, windows, embedder)
    if cluster(emb, k=2, same_voice=TWO_VOICES).count > 1 or len(unlike_the_rest(emb)) > MAX_OTHER:
        raise InputError(
            "The voice sample contains more than one voice.",
            "Record 20 to 30 seconds of only yourself speaking, with nobody else talking.",
        )
    mean = emb.mean(axis=0)
    return np.asarray(mean / max(float(np.linalg.norm(mean)), 1e-12), dtype=np.float32)


def rest_similarity(emb: Embeddings) -> npt.NDArray[np.float64]:
    """Each unit window embedding's cosine to the mean of all the other windows."""
    e = np.asarray(emb, dtype=np.float64)
    rest = e.sum(axis=0)[None, :] - e
    rest /= np.maximum(np.linalg.norm(rest, axis=1, keepdims=True), 1e-12)
    return np.asarray((rest * e).sum(axis=1), dtype=np.float64)


def unlike_the_rest(emb: Embeddings) -> list[int]:
    """The windows whose cosine to the rest of the clip is below OTHER_VOICE (someone else speaking)."""
    return [int(i) for i in np.flatnonzero(rest_similarity(emb) < OTHER_VOICE)]
