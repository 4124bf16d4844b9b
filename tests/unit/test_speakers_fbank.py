"""The numpy Kaldi fbank against kaldi-native-fbank's output (stored), and its framing and normalisation."""

from __future__ import annotations

import numpy as np
from hushnote.daemon.speakers import fbank

from tests.support.speakers import READERS, reader_audio


def test_matches_kaldi_native_fbank_on_real_speech() -> None:
    reference = np.load(READERS / "fbank_reference.npy")
    ours = fbank.fbank(reader_audio("367", "enrol")[:16000])
    assert ours.shape == reference.shape == (98, 80)
    assert float(np.abs(ours - reference).max()) < 1e-3


def test_frames_are_whole_25ms_frames_every_10ms() -> None:
    assert fbank.num_frames(399) == 0
    assert fbank.num_frames(400) == 1
    assert fbank.num_frames(24000) == 148  # a 1.5 s window
    assert fbank.fbank(np.zeros(300, dtype=np.float32)).shape == (0, 80)
    assert fbank.utterance_features(np.zeros(300, dtype=np.float32)).shape == (0, 80)


def test_loudness_is_a_constant_log_offset_and_features_are_mean_normalised() -> None:
    x = reader_audio("2033", "enrol")[32000:56000]
    floor = float(np.log(np.finfo(np.float32).eps)) + 5.0  # away from the log floor (pauses, empty bands)
    loud, quiet = fbank.fbank(x), fbank.fbank(x * np.float32(0.5))
    clear = (loud > floor) & (quiet > floor)
    assert clear.mean() > 0.3
    assert np.allclose((loud - quiet)[clear], np.log(4.0), atol=1e-3)
    assert np.allclose(fbank.utterance_features(x).mean(axis=0), 0.0, atol=1e-4)


def test_silence_is_floored_not_minus_infinity() -> None:
    feats = fbank.fbank(np.zeros(16000, dtype=np.float32))
    assert np.isfinite(feats).all()
    assert np.allclose(feats, np.log(np.finfo(np.float32).eps))
