"""Workers in-process: real pipeline (tiny.en) for the happy path, injected failures for the rest."""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hushnote.daemon.core.config import Config
from hushnote.daemon.notes import notefile, pipeline

from tests.support.jobs import Rig
from tests.support.speech import JFK, wav
from tests.support.waiting import wait_for


@pytest.fixture()
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.store.close()


def test_job_done_outputs_and_audio_beside(rig: Rig, eval_dir: Path) -> None:
    (rig.notes / "jfk.note.md").write_text("an older note with the same name")
    jid = rig.queued_job(eval_dir / "speech" / JFK)
    with rig.workers(idle_unload_s=0.3) as w:
        w.notify()
        assert wait_for(lambda: rig.state(jid) == "done", 120)
        assert wait_for(lambda: not w.models_loaded, 10)  # unloaded once idle
    assert (rig.notes / "jfk.note.md").read_text() == "an older note with the same name"  # never overwritten
    note = rig.notes / "jfk-2.note.md"
    fields, body = notefile.parse_front_matter(note.read_text())
    assert fields["source"] == "jfk.flac" and "# DRAFT" in body
    assert "country" in (rig.notes / "jfk-2.transcript.md").read_text().lower()
    assert (rig.notes / "jfk-2.flac").read_bytes() == (eval_dir / "speech" / JFK).read_bytes()
    job = rig.store.get(jid)
    assert job is not None and job.audio_path == str(rig.notes / "jfk-2.flac")
    assert not list((rig.cfg.path("paths.data") / "store").iterdir())
    names = [e for e, _ in rig.events]
    assert "job.progress" in names
    [done] = [d for e, d in rig.events if e == "job.done"]
    # JFK's "ask not what your country…" has nothing a SOAP note asks for: every section is empty
    assert done == {"id": jid, "state": "done", "session": "jfk-2", "note": str(note), "empty": True}
    tr = sys.modules.get("hushnote.daemon.speech.transcribe")
    assert tr is not None and not any(t.loaded for t in tr._cache.values())


def test_retry_after_crash_finishes_without_a_second_note(rig: Rig, eval_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    jid = rig.queued_job(eval_dir / "speech" / JFK, "s.flac")
    job = rig.store.claim("dead-worker", 60)
    assert job is not None
    # the crashed attempt got as far as writing the note
    (rig.notes / "s.transcript.md").write_text("---\n---\n# Transcript\n")
    (rig.notes / "s.note.md").write_text("---\n---\n# DRAFT\n")
    rig.store.recover_running()

    def boom(*a: Any, **k: Any) -> None:
        raise AssertionError("must not transcribe again")

    monkeypatch.setattr(pipeline, "transcribe_file", boom)
    with rig.workers() as w:
        w.notify()
        assert wait_for(lambda: rig.state(jid) == "done", 30)
    assert sorted(p.name for p in rig.notes.iterdir()) == ["s.flac", "s.note.md", "s.transcript.md"]


def test_too_little_speech_fails_with_report_and_keeps_audio(rig: Rig, tmp_path: Path) -> None:
    silence = wav(tmp_path / "quiet room.wav", 3.0)
    jid = rig.queued_job(silence)
    good_after = rig.queued_job(silence, "second.wav")
    with rig.workers() as w:
        w.notify()
        assert wait_for(lambda: rig.state(jid) == "failed" and rig.state(good_after) == "failed", 120)
    report = (rig.notes / "quiet room.error.txt").read_text()
    assert "quiet room.wav" in report and "What to do" in report and jid in report
    assert (rig.inbox / "failed" / "quiet room.wav").exists()
    assert not list(rig.notes.glob("*.note.md"))
    job = rig.store.get(jid)
    assert job is not None and job.last_error and job.last_error.startswith("too_little_speech")
    assert "quiet" not in job.last_error
    assert rig.store.failed_audio_kept() == 2
    failed = [d for e, d in rig.events if e == "job.done" and d["id"] == jid]
    assert failed == [{"id": jid, "state": "failed", "session": "quiet room", "retryable": True,
                       "reason": "There is too little speech in the recording to write a note.",
                       "report": str(rig.notes / "quiet room.error.txt")}]


def test_unexpected_errors_count_attempts_then_fail(rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def broken(path: Path, cfg: Config, progress: Any, **kw: Any) -> None:
        calls.append(path)
        raise RuntimeError("a bug")

    monkeypatch.setattr(pipeline, "transcribe_file", broken)
    jid = rig.queued_job(wav(tmp_path / "b.wav"))
    with rig.workers() as w:
        w.notify()
        assert wait_for(lambda: rig.state(jid) == "failed", 30)
    assert len(calls) == 3
    job = rig.store.get(jid)
    assert job is not None and job.attempts == 3 and job.last_error == "internal: an unexpected RuntimeError while processing"
    assert (rig.notes / "b.error.txt").exists() and (rig.inbox / "failed" / "b.wav").exists()
    # retry from Inbox/failed/ works once the bug is gone, and removes the stale report
    monkeypatch.undo()
    monkeypatch.setattr(pipeline, "transcribe_file", _fake_transcribe)
    rig.store.retry(jid)
    with rig.workers() as w:
        w.notify()
        assert wait_for(lambda: rig.state(jid) == "done", 30)
    assert (rig.notes / "b.note.md").exists() and (rig.notes / "b.wav").exists()
    assert not (rig.notes / "b.error.txt").exists() and not (rig.inbox / "failed" / "b.wav").exists()


def _fake_transcribe(path: Path, cfg: Config, progress: Any, **kw: Any) -> Any:
    from hushnote.daemon.core.datatypes import Segment, Transcript

    words = "the client said she has been sleeping better and walking every morning with her sister"
    return Transcript((Segment(0.0, 5.0, words),), "en", 5.0, "fake", source=path.name)


def test_graceful_stop_releases_the_current_job(rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = []

    def slow(path: Path, cfg: Config, progress: Any, **kw: Any) -> None:
        started.append(1)
        while True:
            progress("transcribe", 0.5, "")
            time.sleep(0.01)

    monkeypatch.setattr(pipeline, "transcribe_file", slow)
    jid = rig.queued_job(wav(tmp_path / "long.wav"))
    w = rig.workers().start()
    w.notify()
    assert wait_for(lambda: bool(started))
    cur = w.current()
    assert cur is not None and cur["id"] == jid and cur["stage"] == "transcribe"
    assert w.close(timeout=10)
    job = rig.store.get(jid)
    assert job is not None and job.state == "queued" and job.attempts == 0


def test_pause_and_resume(rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "transcribe_file", _fake_transcribe)
    rig.store.set_paused(True)
    jid = rig.queued_job(wav(tmp_path / "p.wav"))
    rec = rig.queued_job(wav(tmp_path / "r.wav"), kind="recording")
    with rig.workers() as w:
        assert w.paused
        w.notify()
    # closing queued a stop after that wake-up: the worker took the wake-up first and, paused, claimed nothing
    assert rig.state(jid) == rig.state(rec) == "queued" and rig.events == []
    with rig.workers() as w:
        assert w.paused  # the pause is kept in the store
        w.resume()
        assert wait_for(lambda: rig.state(jid) == "done" and rig.state(rec) == "done", 30)
    done = [d["id"] for e, d in rig.events if e == "job.done"]
    assert done == [rec, jid]  # the recording first
    assert ("state", {"state": "running"}) in rig.events


def test_models_unload_is_planned_on_the_scheduler_after_the_last_job(rig: Rig, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The idle unload is a scheduler job planned when a job ends; fake clocks, the scheduler not running."""
    from hushnote.daemon.core.schedule import Scheduler
    from hushnote.daemon.service.workers import JOB_UNLOAD

    from tests.support.clock import FakeClock

    monkeypatch.setattr(pipeline, "transcribe_file", _fake_transcribe)
    clock = FakeClock()
    sched = Scheduler(clock=clock)  # never started: jobs are planned, none runs
    jid = rig.queued_job(wav(tmp_path / "u.wav"))
    with rig.workers(idle_unload_s=300, scheduler=sched, monotonic=clock.monotonic) as w:
        assert sched.planned(JOB_UNLOAD) is None
        w.notify()
        assert wait_for(lambda: rig.state(jid) == "done", 30)
        assert wait_for(lambda: sched.planned(JOB_UNLOAD) is not None, 5)
        due = clock.t + dt.timedelta(seconds=300)
        assert sched.planned(JOB_UNLOAD) == due and w.models_loaded
        sched.cancel(JOB_UNLOAD)
        clock.advance(seconds=299)  # a look a second early (the scheduler's clock ran ahead)
        assert not w.unload_if_idle() and w.models_loaded
        assert sched.planned(JOB_UNLOAD) == due  # looks again when it is due
        clock.advance(seconds=1)
        assert w.unload_if_idle() and not w.models_loaded
        assert not w.unload_if_idle()  # nothing loaded: nothing to do
    assert sched.planned(JOB_UNLOAD) is None  # close forgets it


def test_progress_is_one_rising_number_per_job_and_every_running_job_is_listed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers, two jobs at once: ``running()`` lists both with their session names; each job's
    progress events carry one whole-job fraction that only goes up across decode, transcribe, draft and write."""
    both = threading.Barrier(2, timeout=20)
    release = threading.Event()

    def staged(path: Path, cfg: Config, progress: Any, **kw: Any) -> Any:
        for stage in ("decode", "transcribe"):
            for f in (0.0, 0.5, 1.0):
                progress(stage, f, "")
                if stage == "transcribe" and f == 0.5:
                    both.wait()  # both jobs are mid-transcription here
                    assert release.wait(20)
        return _fake_transcribe(path, cfg, progress)

    monkeypatch.setattr(pipeline, "transcribe_file", staged)
    rig = Rig(tmp_path, worker__count=2)
    try:
        a = rig.queued_job(wav(tmp_path / "Monday intake.wav"))
        b = rig.queued_job(wav(tmp_path / "Tuesday follow-up.wav"))
        with rig.workers(progress_interval_s=0.0) as w:
            w.notify()
            assert wait_for(lambda: len(w.running()) == 2 and all(c["stage"] == "transcribe" for c in w.running()))
            running = w.running()
            assert {c["session"] for c in running} == {"Monday intake", "Tuesday follow-up"}
            assert all(c["fraction"] == pytest.approx(0.475) for c in running), running
            assert set(running[0]) == {"id", "kind", "stage", "fraction", "session"}
            assert w.current() == running[0]
            release.set()
            assert wait_for(lambda: rig.state(a) == "done" and rig.state(b) == "done", 30)
            assert w.running() == [] and w.current() is None
    finally:
        rig.store.close()
    for jid, session in ((a, "Monday intake"), (b, "Tuesday follow-up")):
        events = [d for e, d in rig.events if e == "job.progress" and d["id"] == jid]
        fractions = [d["fraction"] for d in events]
        assert fractions == sorted(fractions), fractions
        assert fractions[0] == 0.0 and fractions[-1] == 1.0
        assert {d["stage"] for d in events} >= {"decode", "transcribe", "draft", "write"}
        assert all(d["session"] == session for d in events)
        # the number does not start again when a stage starts
        first_draft = next(d["fraction"] for d in events if d["stage"] == "draft")
        assert first_draft >= 0.85
    done = [d for e, d in rig.events if e == "job.done"]
    assert [d["empty"] for d in done] == [False, False], "the fake session talks about sleep and walking"
