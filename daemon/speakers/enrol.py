"""A voiceprint from an enrolment clip: the unit mean embedding of its speech windows, after checking the
clip has enough speech and only one voice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
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


def voiceprint(audio: Audio, regions: Sequence[Region], embedder: Embedder) -> Embeddings:
    """The (192,) unit voiceprint of the one person speaking in ``regions`` of 16 kHz mono ``audio``.

    Raises InputError when the clip has under MIN_SPEECH_S seconds of speech or holds two voices.
    """
    speech = sum(max(0.0, b - a) for a, b in regions)
    windows = [w for w in make_windows(regions) if w.duration >= MIN_CLUSTER_S]
    if speech < MIN_SPEECH_S or len(windows) < MIN_WINDOWS:
        raise InputError(
            f"The voice sample has only {speech:.0f} seconds of speech; at least {MIN_SPEECH_S:.0f} are needed.",
            "Record 20 to 30 seconds of yourself speaking normally, in a quiet room.",
        )
    emb = embed_windows(audio, windows, embedder)
    groups = cluster(emb, k=2, same_voice=TWO_VOICES)
    if groups.count > 1:
        raise InputError(
            "The voice sample contains more than one voice.",
            "Record 20 to 30 seconds of only yourself speaking, with nobody else talking.",
        )
    mean = emb.mean(axis=0)
    return np.asarray(mean / max(float(np.linalg.norm(mean)), 1e-12), dtype=np.float32)
