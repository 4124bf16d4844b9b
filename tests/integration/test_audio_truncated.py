"""A truncated recording says so, through the real service (tiny.en): a half-copied m4a and ogg are transcribed as
far as they go, and the note's front matter, the note itself, the transcript and the job's status (queue, IPC)
say the audio ended early; a whole file says nothing of the kind."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hushnote.daemon.cli.control import format_queue
from hushnote.daemon.notes import notefile
from hushnote.daemon.service.service import Service

from tests.support.config import TINY, make_cfg
from tests.support.service import FAST_INBOX
from tests.support.speech import FFMPEG, cut, reading_in_formats
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory, eval_dir: Path) -> dict[str, Path]:
    if FFMPEG is None:
        pytest.skip("ffmpeg (the command) is needed to make test files")
    return reading_in_formats(tmp_path_factory.mktemp("sessions"), eval_dir)


def test_a_truncated_recording_is_transcribed_and_the_note_and_job_say_it_ended_early(
        home: Path, sessions: dict[str, Path]) -> None:
    cfg = make_cfg(home, **TINY)
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
    assert m4a.public()["warning"] == m4a.warning and queue.count("Note: The recording ended early at 00:00:2") == 2
    assert "audio_ended_early" not in queue  # plain words in `hushnote queue`, not the stored code
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
