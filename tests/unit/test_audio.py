"""Decoding every common format, rejecting every kind of bad input clearly, and choosing where to cut a window
(the windows the VAD model finds are tested in tests/integration/test_audio_vad.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hushnote.daemon.cli import main as cli
from hushnote.daemon.core.errors import InputError
from hushnote.daemon.speech import audio

from tests.support.speech import FFMPEG, ffmpeg

needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg (the command) is needed to make test files")


@pytest.fixture(scope="module")
def jfk(eval_dir: Path) -> Path:
    return eval_dir / "speech" / "faster_whisper_tests" / "jfk.flac"


@pytest.fixture(scope="module")
def formats(tmp_path_factory: pytest.TempPathFactory, jfk: Path) -> dict[str, Path]:
    """jfk.flac (11 s, 44.1 kHz) converted to each common format."""
    if FFMPEG is None:
        pytest.skip("ffmpeg (the command) is needed to make test files")
    d = tmp_path_factory.mktemp("formats")
    out = {"flac": jfk}
    codecs = {"wav": [], "mp3": [], "m4a": [], "ogg": ["-c:a", "libvorbis"], "opus": [], "webm": ["-c:a", "libopus"],
              "mp4": ["-c:a", "aac"]}
    for ext, extra in codecs.items():
        p = d / f"jfk.{ext}"
        ffmpeg("-i", str(jfk), *extra, str(p))
        out[ext] = p
    stereo = d / "stereo48k.wav"
    ffmpeg("-i", str(jfk), "-ac", "2", "-ar", "48000", str(stereo))
    out["stereo-48k-wav"] = stereo
    video = d / "with-video.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=64x64:d=11", "-i", str(jfk), "-shortest", "-c:a", "aac",
           "-c:v", "libx264", str(video))
    out["video-with-sound"] = video
    return out


@pytest.mark.parametrize("kind", ["flac", "wav", "mp3", "m4a", "ogg", "opus", "webm", "mp4", "stereo-48k-wav",
                                  "video-with-sound"])
def test_decodes_every_common_format_to_16k_mono(kind: str, formats: dict[str, Path]) -> None:
    pcm = audio.decode_all(formats[kind])
    assert pcm.dtype == np.float32 and pcm.ndim == 1
    assert pcm.shape[0] / audio.SAMPLE_RATE == pytest.approx(11.0, abs=0.15)
    assert 0.02 < float(np.sqrt(np.mean(pcm ** 2))) < 0.5  # real sound, sensible level
    assert float(np.abs(pcm).max()) <= 1.0


def test_samples_match_faster_whisper_decode_audio(jfk: Path) -> None:
    from faster_whisper import decode_audio

    ours = audio.decode_all(jfk)
    theirs = decode_audio(str(jfk), sampling_rate=audio.SAMPLE_RATE)
    assert ours.shape == theirs.shape
    assert float(np.abs(ours - theirs).max()) < 1e-3


def test_streaming_decode_yields_bounded_blocks(tmp_path: Path, jfk: Path) -> None:
    info = audio.Decoded()
    blocks = list(audio.iter_pcm(jfk, info, block_s=2.0))
    assert len(blocks) >= 5
    assert max(b.shape[0] for b in blocks) < 3.0 * audio.SAMPLE_RATE
    assert info.decoded_s == pytest.approx(11.0, abs=0.05)
    assert info.declared_s == pytest.approx(11.0, abs=0.05)


# ----------------------------------------------------------------------------- bad inputs

def _expect_input_error(path: Path, *words: str) -> InputError:
    with pytest.raises(InputError) as exc_info:
        audio.decode_all(path)
    err = exc_info.value
    text = str(err)
    assert "\n" not in text and "Traceback" not in text
    assert path.name in text
    for w in words:
        assert w in text.lower(), text
    assert err.hint
    return err


def test_missing_file(tmp_path: Path) -> None:
    _expect_input_error(tmp_path / "nowhere.wav", "does not exist")


def test_directory(tmp_path: Path) -> None:
    d = tmp_path / "session.wav"
    d.mkdir()
    _expect_input_error(d, "folder")


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    _expect_input_error(p, "empty")


def test_random_bytes_named_wav(tmp_path: Path) -> None:
    p = tmp_path / "noise.wav"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    _expect_input_error(p, "not an audio file")


def test_text_file_named_mp3(tmp_path: Path) -> None:
    p = tmp_path / "notes.mp3"
    p.write_text("this is not audio\n" * 200)
    _expect_input_error(p, "not an audio file")


@pytest.mark.parametrize("kind", ["wav", "flac", "mp3"])
def test_truncated_file_is_decoded_as_far_as_it_goes(kind: str, formats: dict[str, Path], tmp_path: Path) -> None:
    data = formats[kind].read_bytes()
    p = tmp_path / f"cut-short.{kind}"
    p.write_bytes(data[: len(data) // 2])
    info = audio.Decoded()
    pcm = np.concatenate(list(audio.iter_pcm(p, info)))
    assert 4.0 < pcm.shape[0] / audio.SAMPLE_RATE < 7.0 and info.ended_early  # (tests/test_audio_truncated.py)


def test_truncated_m4a_with_its_index_at_the_end_cannot_be_read(formats: dict[str, Path], tmp_path: Path) -> None:
    data = formats["m4a"].read_bytes()
    p = tmp_path / "cut-short.m4a"
    p.write_bytes(data[: len(data) // 2])
    _expect_input_error(p, "incomplete")


def test_truncated_wav_header_only(formats: dict[str, Path], tmp_path: Path) -> None:
    p = tmp_path / "header-only.wav"
    p.write_bytes(formats["wav"].read_bytes()[:44])
    _expect_input_error(p, "incomplete")


@needs_ffmpeg
def test_video_without_sound(tmp_path: Path) -> None:
    p = tmp_path / "silent-video.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=64x64:d=1", str(p))
    _expect_input_error(p, "no sound track")


@needs_ffmpeg
def test_zero_second_audio(tmp_path: Path) -> None:
    p = tmp_path / "zero.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "0", str(p))
    assert p.stat().st_size > 0
    _expect_input_error(p, "0 seconds")


def test_fifo_is_not_a_regular_file(tmp_path: Path) -> None:
    p = tmp_path / "pipe.wav"
    os.mkfifo(p)
    _expect_input_error(p, "not a regular file")  # and it must not block waiting for a writer


@pytest.fixture()
def unreadable_file(jfk: Path) -> Iterator[Path]:
    """A real recording with mode 000 in a world-searchable folder."""
    d = Path(tempfile.mkdtemp(prefix="hn-unreadable-"))
    try:
        d.chmod(0o755)
        p = d / "locked.flac"
        shutil.copyfile(jfk, p)
        p.chmod(0o000)
        yield p
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _decode_as(uid: int, gid: int, path: Path) -> str:
    """Run ``audio.decode_all(path)`` in a forked child that has dropped to ``uid``; return what happened."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        status = 0
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            try:
                audio.decode_all(path)
                msg = "DECODED"
            except InputError as exc:
                msg = f"INPUTERROR {exc}"
            os.write(w, msg.encode())
        except BaseException:  # noqa: BLE001 - report anything, then leave
            status = 1
        finally:
            os._exit(status)
    os.close(w)
    chunks = []
    while data := os.read(r, 4096):
        chunks.append(data)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return b"".join(chunks).decode()


def test_unreadable_file(unreadable_file: Path) -> None:
    """chmod 000 does not stop root, so the check runs as ``nobody`` in a forked child."""
    if os.geteuid() == 0:
        try:
            import pwd

            nobody = pwd.getpwnam("nobody")
        except (KeyError, ImportError):
            pytest.skip("running as root and there is no 'nobody' user to drop to")
        out = _decode_as(nobody.pw_uid, nobody.pw_gid, unreadable_file)
        assert out.startswith("INPUTERROR"), out
        assert "permission denied" in out and "locked.flac" in out
    else:
        _expect_input_error(unreadable_file, "permission denied")


def test_cli_reports_bad_audio_in_one_line(tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "broken.wav"
    p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    code = cli.main(["process", str(p), "--quiet", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == InputError.exit_code
    assert err.startswith("hushnote: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "broken.wav" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# ----------------------------------------------------------------------------- windows cut at pauses

def test_choose_cut_prefers_the_longest_pause_in_range() -> None:
    probs = np.full(100, 0.9, dtype=np.float32)
    probs[10:13] = 0.1  # 3-frame pause
    probs[40:48] = 0.05  # 8-frame pause: the longest
    probs[70:72] = 0.2
    assert audio.choose_cut(probs, 5, 100) == 44
    assert audio.choose_cut(probs, 50, 100) == 71  # only the short pause is in range
    assert audio.choose_cut(probs, 44, 100) == 46  # a pause cut by the range counts only its part inside


def test_choose_cut_in_continuous_speech_uses_the_quietest_frame() -> None:
    probs = np.full(100, 0.95, dtype=np.float32)
    probs[30] = 0.6
    probs[80] = 0.55
    assert audio.choose_cut(probs, 20, 100) == 80
    assert audio.choose_cut(probs, 20, 60) == 30
