"""Kaldi-compatible 80-bin log-mel filterbank features (the input CAM++ was trained on), in numpy.

Matches Kaldi's ``compute-fbank-feats`` / ``torchaudio.compliance.kaldi.fbank`` defaults as 3D-Speaker uses
them: 16 kHz, 25 ms frames every 10 ms (``snip_edges``: only whole frames), dither 0, DC offset removed per
frame, pre-emphasis 0.97, Povey window, 512-point FFT, power spectrum, 80 triangular mel bins from 20 Hz to
Nyquist, natural log floored at float32 epsilon. Samples are floats in [-1, 1] (3D-Speaker reads audio
that way). :func:`utterance_features` then subtracts the per-utterance mean of each bin, as 3D-Speaker does.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
FRAME_LENGTH = 400  # 25 ms
FRAME_SHIFT = 160  # 10 ms
FFT_SIZE = 512
NUM_BINS = 80
LOW_FREQ = 20.0
PREEMPHASIS = 0.97
_EPS = float(np.finfo(np.float32).eps)

Audio = npt.NDArray[np.float32]
Features = npt.NDArray[np.float32]


def num_frames(num_samples: int) -> int:
    """How many whole 25 ms frames, every 10 ms, fit in ``num_samples`` samples."""
    if num_samples < FRAME_LENGTH:
        return 0
    return 1 + (num_samples - FRAME_LENGTH) // FRAME_SHIFT


def _mel(freq: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return 1127.0 * np.log(1.0 + np.asarray(freq, dtype=np.float64) / 700.0)


@lru_cache(maxsize=1)
def _mel_banks() -> npt.NDArray[np.float32]:
    """(257, 80) weights: Kaldi's triangles, equally spaced on the mel scale, Nyquist bin unused."""
    nyquist = SAMPLE_RATE / 2.0
    mel_low, mel_high = _mel(LOW_FREQ), _mel(nyquist)
    delta = (mel_high - mel_low) / (NUM_BINS + 1)
    edges = mel_low + delta * np.arange(NUM_BINS + 2)
    left, center, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fft_mel = _mel(SAMPLE_RATE / FFT_SIZE * np.arange(FFT_SIZE // 2))[None, :]
    up = (fft_mel - left) / (center - left)
    down = (right - fft_mel) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))  # (80, 256)
    return np.concatenate([banks, np.zeros((NUM_BINS, 1))], axis=1).T.astype(np.float32)


@lru_cache(maxsize=1)
def _povey_window() -> npt.NDArray[np.float64]:
    n = np.arange(FRAME_LENGTH)
    return np.power(0.5 - 0.5 * np.cos(2.0 * np.pi * n / (FRAME_LENGTH - 1)), 0.85)


def fbank(samples: Audio) -> Features:
    """(frames, 80) float32 log-mel energies of 16 kHz mono ``samples`` (no mean normalisation).

    Fewer than 400 samples give a (0, 80) array.
    """
    count = num_frames(len(samples))
    if count == 0:
        return np.zeros((0, NUM_BINS), dtype=np.float32)
    x = np.asarray(samples, dtype=np.float64)
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME_LENGTH)[::FRAME_SHIFT][:count]
    frames = frames - frames.mean(axis=1, keepdims=True)
    emphasised = np.empty_like(frames)
    emphasised[:, 1:] = frames[:, 1:] - PREEMPHASIS * frames[:, :-1]
    emphasised[:, 0] = frames[:, 0] * (1.0 - PREEMPHASIS)
    spectrum = np.fft.rfft(emphasised * _povey_window(), n=FFT_SIZE, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    energies = power @ _mel_banks()
    return np.asarray(np.log(np.maximum(energies, _EPS)), dtype=np.float32)


def utterance_features(samples: Audio) -> Features:
    """:func:`fbank` with each bin's mean over the utterance subtracted: what CAM++ takes as input."""
    feats = fbank(samples)
    if len(feats):
        feats -= feats.mean(axis=0, keepdims=True)
    return feats
