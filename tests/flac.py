"""Write 16 kHz mono float samples to a FLAC file (tests and benchmarks make their recordings with this)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


def write_flac(path: Path, samples: np.ndarray | Iterable[np.ndarray]) -> None:
    """``samples``: float32 in [-1, 1] at 16 kHz, one array (written a minute at a time) or the pieces of the
    recording in order (written one by one, never joined): memory stays bounded."""
    import av

    step = SAMPLE_RATE * 60
    pieces = ((samples[i:i + step] for i in range(0, samples.shape[0], step)) if isinstance(samples, np.ndarray)
              else samples)
    with av.open(str(path), "w", format="flac") as container:
        stream = container.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
        for piece in pieces:
            pcm = np.clip(piece * 32768.0, -32768, 32767).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
