"""Two-channel recordings (microphone + call audio): each word goes to the channel its speaker is on,
through speaker bleed and mismatched channel gains; ordinary stereo is recognised as one signal."""

from __future__ import annotations

import numpy as np
import pytest
from hushnote.daemon.speakers.channels import (
    FramePowers,
    channels_differ,
    frame_powers,
    label_words_by_channel,
    label_words_by_power,
    powers_differ,
)
from hushnote.daemon.speakers.labels import Word

from tests.support.speakers import FEMALE, MALE, build_session, pseudo_words, reader_audio, stereo


@pytest.mark.parametrize(("pair", "bleed_db"), [(FEMALE, -12.0), (MALE, -12.0), ((FEMALE[0], MALE[0]), -25.0)])
def test_words_are_labelled_by_channel_through_bleed(pair: tuple[str, str], bleed_db: float) -> None:
    session = build_session([[reader_audio(pair[0])], [reader_audio(pair[1])]], 60, seed=3)
    both = stereo(session, bleed_db=bleed_db, gain1_db=-6.0)
    assert channels_differ(both)
    words, truth = pseudo_words(session)
    labels = [w.speaker for w in label_words_by_channel(both, words)]
    assert np.mean([a == b for a, b in zip(labels, truth, strict=True)]) >= 0.98
    transposed = [w.speaker for w in label_words_by_channel(both.T, words)]
    assert transposed == labels


def test_ordinary_stereo_is_not_two_speakers() -> None:
    session = build_session([[reader_audio(FEMALE[0])], [reader_audio(MALE[1])]], 30, seed=1)
    assert not channels_differ(np.stack([session.audio, 0.7 * session.audio], axis=1))
    assert not channels_differ(np.zeros((16000, 2), dtype=np.float32))


def test_words_over_silence_or_past_the_end_are_unknown() -> None:
    quiet = np.zeros((16000, 2), dtype=np.float32)
    got = label_words_by_channel(quiet, [Word(0.2, 0.5, "hm"), Word(3.0, 3.4, "late")])
    assert [w.speaker for w in got] == [None, None]
    with pytest.raises(ValueError, match="two-channel"):
        label_words_by_channel(np.zeros(100, dtype=np.float32), [])


def test_a_long_recording_is_read_block_by_block_with_the_same_result() -> None:
    session = build_session([[reader_audio(FEMALE[0])], [reader_audio(MALE[0])]], 40, seed=5)
    both = stereo(session, bleed_db=-12.0, gain1_db=-6.0)
    acc = FramePowers()
    for at in range(0, both.shape[0], 16000 * 3 + 7):  # blocks that do not end on a frame
        acc.add(both[at:at + 16000 * 3 + 7])
    assert acc.powers.shape == frame_powers(both).shape
    np.testing.assert_allclose(acc.powers, frame_powers(both), rtol=1e-9, atol=1e-15)
    assert acc.powers.nbytes == acc.powers.shape[0] * 16  # 800 bytes a second, whatever the length
    words, _ = pseudo_words(session)
    assert powers_differ(acc.powers)
    assert label_words_by_power(acc.powers, words) == label_words_by_channel(both, words)
