"""A truncated recording says so: a file cut short (half copied) in every common format is decoded as far as it
goes and flagged as ended early; a complete one is not. Real files made with ffmpeg from the LJ Speech clips in
tests/data/eval, cut with a byte count. (The note and the job saying so: tests/integration/test_audio_truncated.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from hushnote.daemon.core.errors import InputError
from hushnote.daemon.speech import audio

from tests.support.speech import FFMPEG, READING_FORMATS, READING_S, cut, ffmpeg, reading_in_formats

FULL_S = READING_S


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory, eval_dir: Path) -> dict[str, Path]:
    """A 50-second reading in each format, whole."""
    if FFMPEG is None:
        pytest.skip("ffmpeg (the command) is needed to make test files")
    return reading_in_formats(tmp_path_factory.mktemp("sessions"), eval_dir)


@pytest.mark.parametrize("kind", list(READING_FORMATS))
def test_a_cut_short_file_is_decoded_as_far_as_it_goes_and_says_so(kind: str, sessions: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    whole = audio.Decoded()
    n = sum(b.shape[0] for b in audio.iter_pcm(sessions[kind], whole))
    assert n / audio.SAMPLE_RATE == pytest.approx(FULL_S, abs=0.2)
    assert not whole.ended_early and whole.expected_s is None  # a complete file is not flagged
    info = audio.Decoded()
    n = sum(b.shape[0] for b in audio.iter_pcm(cut(sessions[kind], tmp_path / f"half.{kind}"), info))
    assert 20.0 < n / audio.SAMPLE_RATE < 30.0  # about half of it, decoded
    assert info.ended_early
    if kind in ("ogg", "opus"):  # Ogg's length comes from its last page: known only that it is cut
        assert info.expected_s is None
    else:
        assert info.expected_s == pytest.approx(FULL_S, abs=0.2)


def test_a_cut_m4a_with_its_index_at_the_end_is_a_clear_error(sessions: dict[str, Path], tmp_path: Path) -> None:
    m4a = tmp_path / "index-last.m4a"
    ffmpeg("-i", str(sessions["wav"]), str(m4a))
    with pytest.raises(InputError) as exc:
        audio.decode_all(cut(m4a, tmp_path / "Cut.m4a"))
    text = str(exc.value)
    assert "Cut.m4a" in text and "incomplete" in text and "\n" not in text
