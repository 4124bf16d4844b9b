"""What crosses the pipe to the model process (errors, transcripts, notes), and how workers split the cores
between model processes; no process is started here."""

from __future__ import annotations

import os
from pathlib import Path

from hushnote.daemon.core.errors import TooLittleSpeech
from hushnote.daemon.runner import process as runner
from hushnote.daemon.runner.process import RemoteError
from hushnote.daemon.service.workers import Workers

from tests.support.jobs import Rig


def test_error_mapping_keeps_hushnote_errors_and_hides_other_messages() -> None:
    back = runner.error_from_dict(runner.error_to_dict(TooLittleSpeech("No note.", "Check.", path="a.wav")))
    assert type(back) is TooLittleSpeech and (back.message, back.hint, back.path) == ("No note.", "Check.", "a.wav")
    reply = runner.error_to_dict(KeyError("the client's name"))
    assert "client" not in repr(reply)
    back2 = runner.error_from_dict(reply)
    assert isinstance(back2, RemoteError) and type(back2).__name__ == "KeyError"
    assert "client" not in str(back2)


def test_values_survive_the_pipe() -> None:
    from hushnote.daemon.core.datatypes import Evidence, Note, NoteSection, NoteSentence, Segment, Transcript

    t = Transcript((Segment(0.0, 1.5, "hello", "A"),), "en", 1.5, "tiny.en", "x.wav", True)
    n = Note("soap", [NoteSection("s", "S", [NoteSentence("Hi.", 0.4, True, ["why"])])], "llm", "m.gguf", "ab",
             [Evidence("quote", 3.0)], "map-reduce (2 windows)")
    assert runner.transcript_from_dict(runner.transcript_to_dict(t)) == t
    assert runner.note_from_dict(runner.note_to_dict(n)) == n


def test_workers_share_the_cores_between_model_processes(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    try:
        two = Workers(rig.store, rig.cfg, count=2)._job_cfg()
        assert two["transcription.threads"] == max(1, (os.cpu_count() or 1) // 2)
        assert two["drafting.threads"] == 0  # an llm uses all cores
        pinned = rig.cfg.with_overrides(transcription__threads=3)
        assert Workers(rig.store, pinned, count=2)._job_cfg()["transcription.threads"] == 3
        assert Workers(rig.store, rig.cfg, count=1)._job_cfg() is rig.cfg
    finally:
        rig.store.close()
