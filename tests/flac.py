"""Write 16 kHz mono float samples to a FLAC file (tests and benchmarks make their recordings with this)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


def write_flac(path: Path, samples: np.ndarray) -> None:
    """``samples``: float32 in [-1, 1] at 16 kHz; written a minute at a time (bounded memory)."""
    import av

    with av.open(str(path), "w", format="flac") as container:
        stream = container.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
        step = SAMPLE_RATE * 60
        for i in range(0, samples.shape[0], step):
            pcm = np.clip(samples[i:i + step] * 32768.0, -32768, 32767).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
