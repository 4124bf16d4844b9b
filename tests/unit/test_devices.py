"""The streaming resampler and the level meter (the devices themselves: tests/e2e/test_devices.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hushnote.daemon.recording.devices import (
    StreamResampler,
    level_db,
)


def _run(rs: StreamResampler, x: np.ndarray, step: int) -> np.ndarray:
    return np.concatenate([rs.process(x[i:i + step]) for i in range(0, x.shape[0], step)] + [rs.flush()])


@pytest.mark.parametrize("rate", [48000, 44100, 22050, 8000, 16000])
def test_resampler_keeps_speech_band_and_removes_aliases(rate: int) -> None:
    t = np.arange(rate * 2) / rate
    x = 10000 * np.sin(2 * np.pi * 440 * t) + 3000 * np.sin(2 * np.pi * 3000 * t)
    if rate > 16000:
        x = x + 10000 * np.sin(2 * np.pi * 9500 * t)  # above 8 kHz: must not fold back into the band
    out = _run(StreamResampler(rate), x.astype(np.float32), 1234)
    assert out.shape[0] == 32000
    n = np.arange(out.shape[0]) / 16000
    ref = 10000 * np.sin(2 * np.pi * 440 * n) + 3000 * np.sin(2 * np.pi * 3000 * n)
    err = np.abs(out - ref)[300:-300].max()
    assert err < 60, err  # < -55 dB of the signal


def test_resampler_output_does_not_depend_on_block_sizes() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 3000, 44100 * 3).astype(np.float32)
    a = _run(StreamResampler(44100), x, 441)
    b = _run(StreamResampler(44100), x, 17_000)
    assert a.shape == b.shape == (48000,)
    assert np.allclose(a, b, atol=0.05)


def test_level_db() -> None:
    assert level_db(np.zeros(8000, dtype=np.int16)) == -120.0
    assert level_db(np.zeros(0, dtype=np.int16)) == -120.0
    sine = (32767 * np.sin(np.arange(8000) * 2 * np.pi / 80)).astype(np.int16)
    assert -3.2 < level_db(sine) < -2.8
    assert -43.5 < level_db((sine // 100).astype(np.int16)) < -42.5
