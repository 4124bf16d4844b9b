"""A truncated recording says so: a file cut short (half copied) in every common format is transcribed as far as it
goes, and the note's front matter, the note itself, the transcript and the job's status say the audio ended early.
Real files made with ffmpeg from the LJ Speech clips in tests/data/eval, cut with a byte count; real service."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hushnote.daemon.cli.control import format_queue
from hushnote.daemon.core.errors import InputError
from hushnote.daemon.notes import notefile
from hushnote.daemon.service.service import Service
from hushnote.daemon.speech import audio

from tests.test_audio import FFMPEG, ffmpeg
from tests.test_daemon_e2e import wait_for
from tests.test_privacy_service import FAST_INBOX, make_cfg

# ffmpeg options per format; m4a with its index first (as many recorders and `-movflags +faststart` write it)
FORMATS = {"wav": [], "flac": [], "mp3": [], "m4a": ["-movflags", "+faststart"], "ogg": ["-c:a", "libvorbis"],
           "opus": [], "webm": ["-c:a", "libopus"]}
FULL_S = 50.33  # eight LJ Speech clips end to end


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory, eval_dir: Path) -> dict[str, Path]:
    """A 50-second reading in each format, whole."""
    if FFMPEG is None:
        pytest.skip("ffmpeg (the command) is needed to make test files")
    d = tmp_path_factory.mktemp("sessions")
    clips = sorted((eval_dir / "speech" / "ljspeech").glob("*.flac"))[:8]
    inputs = [a for c in clips for a in ("-i", str(c))]
    joined = "".join(f"[{i}:a]" for i in range(len(clips))) + f"concat=n={len(clips)}:v=0:a=1[a]"
    src = d / "session.wav"
    ffmpeg(*inputs, "-filter_complex", joined, "-map", "[a]", str(src))
    out = {}
    for ext, extra in FORMATS.items():
        out[ext] = d / f"session.{ext}"
        if ext != "wav":
            ffmpeg("-i", str(src), *extra, str(out[ext]))
    return out


def cut(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@pytest.mark.parametrize("kind", list(FORMATS))
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


def test_a_truncated_recording_is_transcribed_and_the_note_and_job_say_it_ended_early(
        home: Path, sessions: dict[str, Path]) -> None:
    cfg = make_cfg(home)
    inbox, notes = cfg.path("paths.inbox"), cfg.path("paths.notes")
    inbox.mkdir(parents=True)
    with Service(cfg, ipc=False, inbox_opts=FAST_INBOX) as svc:
        assert svc.store is not None
        store = svc.store
        cut(sessions["m4a"], inbox / "half copied.m4a")
        cut(sessions["ogg"], inbox / "half copied too.ogg")
        shutil.copy(sessions["flac"], inbox / "whole.flac")
        assert wait_for(lambda: store.counts()["done"] == 3, 240), store.jobs()
        jobs = {j.stem: j for j in store.jobs()}
        queue = format_queue({"jobs": [j.public() for j in store.jobs()]})
    m4a, ogg = jobs["half copied"], jobs["half copied too"]
    assert m4a.warning is not None and m4a.warning.startswith("audio_ended_early: the recording ended early at 00:00:2")
    assert " of 00:00:50 " in m4a.warning
    assert ogg.warning is not None and "ended early at 00:00:2" in ogg.warning
    assert jobs["whole"].warning is None
    assert m4a.public()["warning"] == m4a.warning and queue.count("Note: audio_ended_early") == 2
    fields, body = notefile.parse_front_matter((notes / "half copied.note.md").read_text(encoding="utf-8"))
    assert str(fields["audio"]).startswith("ended early at 00:00:2") and str(fields["audio"]).endswith(" of 00:00:50")
    assert "> The recording ended early at 00:00:2" in body and "covers only the part before that" in body
    assert 20.0 < float(fields["duration"]) < 30.0
    fields, _ = notefile.parse_front_matter((notes / "half copied too.note.md").read_text(encoding="utf-8"))
    assert str(fields["audio"]).startswith("ended early at 00:00:2") and " of " not in str(fields["audio"])
    transcript = notefile.read_transcript(notes / "half copied.transcript.md")
    assert transcript.ended_early and transcript.expected_duration == 50.0  # read back (a later re-draft keeps it)
    assert transcript.word_count > 20
    fields, body = notefile.parse_front_matter((notes / "whole.note.md").read_text(encoding="utf-8"))
    assert "audio" not in fields and "ended early" not in body
