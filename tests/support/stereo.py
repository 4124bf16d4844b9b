"""Two-channel recordings in tests: read them, find a played clip in a channel, per-channel levels, clicks."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

RATE = 16_000


def read_stereo(src: Path | bytes) -> np.ndarray:
    """A FLAC file (a path, or its bytes) as int16 frames of shape (n, channels); fails if not 2 channels."""
    import av

    with av.open(str(src) if isinstance(src, Path) else io.BytesIO(src), "r") as f:
        stream = f.streams.audio[0]
        channels = stream.channels
        assert stream.sample_rate == RATE, stream.sample_rate
        pieces = [fr.to_ndarray().reshape(-1) for fr in f.decode(audio=0)]  # packed s16: L R L R ...
    assert channels == 2, f"the recording has {channels} channel(s), not 2"
    return np.concatenate(pieces).reshape(-1, 2)


def locate(channel: np.ndarray, clip: np.ndarray) -> tuple[int, float]:
    """Where ``clip`` (float, -1..1) sits in ``channel`` (int16), by FFT cross-correlation, and the
    normalised correlation there (1.0 = the same samples)."""
    x = channel.astype(np.float64) / 32768.0
    y = clip.astype(np.float64)
    n = 1 << int(np.ceil(np.log2(x.shape[0] + y.shape[0])))
    corr = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(y, n)), n)[: x.shape[0]]
    pos = int(np.argmax(corr))
    seg = x[pos:pos + y.shape[0]]
    denom = float(np.linalg.norm(seg) * np.linalg.norm(y[: seg.shape[0]])) or 1.0
    return pos, float(np.dot(seg, y[: seg.shape[0]]) / denom)


def frame_db(x: np.ndarray, frame: int = RATE // 20) -> np.ndarray:
    """RMS level per ``frame`` samples in dBFS, floored at -120 (int16 or float -1..1 input)."""
    f = x.astype(np.float64) / (32768.0 if x.dtype == np.int16 else 1.0)
    n = f.shape[0] // frame
    rms = np.sqrt(np.mean(np.square(f[: n * frame].reshape(n, frame)), axis=1))
    return np.asarray(20 * np.log10(np.maximum(rms, 1e-6)), dtype=np.float64)


def click_train(count: int, spacing_s: float, lead_s: float = 0.2) -> np.ndarray:
    """``count`` 1-ms clicks ``spacing_s`` apart (float samples)."""
    out = np.zeros(int((lead_s + count * spacing_s) * RATE), dtype=np.float32)
    for k in range(count):
        at = int((lead_s + k * spacing_s) * RATE)
        out[at:at + RATE // 1000] = 0.9
    return out


def onsets(x: np.ndarray, min_gap: int = RATE // 4) -> list[int]:
    """Where clicks start: samples above a third of the peak, at least ``min_gap`` after the previous one."""
    a = np.abs(x.astype(np.float64))
    out: list[int] = []
    for i in np.flatnonzero(a > a.max() / 3):
        if not out or i - out[-1] > min_gap:
            out.append(int(i))
    return out
