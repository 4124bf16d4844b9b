"""Retention with a fake clock: audio deleted on time, notes kept, transcripts per setting, failed-job audio
kept until the maximum age, catch-up after a week asleep, receipts without names. No sleeps."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from hushnote.daemon.core.schedule import Scheduler
from hushnote.daemon.jobs.retention import JOB_DUE, Retention
from hushnote.daemon.jobs.store import Store

from tests.support.clock import FakeClock
from tests.support.config import make_cfg
from tests.support.jobs import done_job, failed_job


def test_audio_deleted_on_time_notes_and_transcripts_kept(tmp_path: Path, clock: FakeClock,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    cfg = make_cfg(tmp_path, retention__audio_days=3)
    with Store(cfg.path("paths.data") / "q.db", clock=clock) as store:
        ret = Retention(store, cfg)
        jid, note, tr, audio = done_job(store, cfg, "Jane Doe session.m4a")
        assert ret.next_due() == clock.t + dt.timedelta(days=3)
        clock.advance(days=2, hours=23, minutes=59)
        assert ret.sweep() == [] and audio.exists()
        clock.advance(minutes=1)
        with caplog.at_level(logging.INFO, logger="hushnote"):
            receipts = ret.sweep()
        assert [(r.job_id, r.what) for r in receipts] == [(jid, "audio")]
        assert not audio.exists() and note.exists() and tr.exists()
        assert "audio_days=3" in receipts[0].why
        assert store.deletions() == receipts
        assert ret.sweep() == []  # idempotent
        assert ret.next_due() is None  # transcripts kept: nothing else due
        clock.advance(days=3650)
        assert ret.sweep() == [] and note.exists() and tr.exists()
        # receipts and logs carry the job id, never the name
        assert jid in caplog.text and "Jane" not in caplog.text
        for r in store.deletions():
            assert "Jane" not in f"{r}"


def test_fractional_days_and_transcript_days(tmp_path: Path, clock: FakeClock) -> None:
    cfg = make_cfg(tmp_path, retention__audio_days=0.5, retention__transcript_days=7)
    with Store(cfg.path("paths.data") / "q.db", clock=clock) as store:
        ret = Retention(store, cfg)
        jid, note, tr, audio = done_job(store, cfg, "a.wav")
        clock.advance(hours=12)
        assert [r.what for r in ret.sweep()] == ["audio"]
        clock.advance(days=6)
        assert ret.sweep() == [] and tr.exists()
        clock.advance(hours=12)
        assert [r.what for r in ret.sweep()] == ["transcript"]
        assert not tr.exists() and note.exists()


def test_failed_audio_kept_until_max_age(tmp_path: Path, clock: FakeClock) -> None:
    cfg = make_cfg(tmp_path, retention__audio_days=1, retention__max_audio_days=30)
    with Store(cfg.path("paths.data") / "q.db", clock=clock) as store:
        ret = Retention(store, cfg)
        jid, audio = failed_job(store, cfg, "b.wav")
        rejected = cfg.path("paths.inbox") / "failed" / "doc.txt"
        rejected.write_text("not audio")
        store.add_rejected(Path("/x/doc.txt"), "doc.txt", rejected, cfg.path("paths.notes"), "not_audio: x")
        assert store.failed_audio_kept() == 1
        clock.advance(days=29)
        assert ret.sweep() == [] and audio.exists()
        clock.advance(days=1)
        receipts = ret.sweep()
        assert [(r.job_id, r.what) for r in receipts] == [(jid, "audio")]
        assert "max_audio_days=30" in receipts[0].why
        assert not audio.exists() and rejected.exists()  # a rejected non-audio file is never deleted
        assert store.failed_audio_kept() == 0


def test_catch_up_after_a_week_asleep(tmp_path: Path, clock: FakeClock) -> None:
    cfg = make_cfg(tmp_path, retention__audio_days=3, retention__transcript_days=5)
    with Store(cfg.path("paths.data") / "q.db", clock=clock) as store:
        ret = Retention(store, cfg)
        jobs = []
        for i in range(4):
            jobs.append(done_job(store, cfg, f"s{i}.wav"))
            clock.advance(hours=6)
            assert ret.sweep() == []  # nothing due yet
        clock.advance(days=7)  # the machine slept through every scheduled sweep
        receipts = ret.sweep()
        assert sorted((r.job_id, r.what) for r in receipts) == sorted(
            [(j[0], "audio") for j in jobs] + [(j[0], "transcript") for j in jobs])
        assert all(j[1].exists() for j in jobs)


def test_missing_file_is_recorded_without_a_receipt(tmp_path: Path, clock: FakeClock) -> None:
    cfg = make_cfg(tmp_path, retention__audio_days=1)
    with Store(cfg.path("paths.data") / "q.db", clock=clock) as store:
        ret = Retention(store, cfg)
        jid, note, tr, audio = done_job(store, cfg, "c.wav")
        audio.unlink()  # the user moved it away
        clock.advance(days=2)
        assert ret.sweep() == [] and store.deletions() == []
        assert ret.next_due() is None


def test_the_sweep_is_planned_for_the_next_due_time(tmp_path: Path, clock: FakeClock) -> None:
    """Not only every sweep_interval_s: the next sweep is planned when the next file falls due (the scheduler
    is not running here; what it was asked to do is checked with the fake clock)."""
    cfg = make_cfg(tmp_path, retention__audio_days=3, retention__transcript_days=5)
    with Store(cfg.path("paths.data") / "q.db", clock=clock) as store:
        sched = Scheduler(clock=clock)
        ret = Retention(store, cfg, scheduler=sched).start()
        assert sched.planned(JOB_DUE) == clock.t  # the sweep at start
        assert ret.plan() is None and sched.planned(JOB_DUE) is None  # nothing kept: nothing planned
        finished = clock.t
        _, _, tr, audio = done_job(store, cfg, "a.wav")
        ret.poke()  # a job finished
        assert sched.planned(JOB_DUE) == finished + dt.timedelta(days=3)
        clock.advance(days=1)
        done_job(store, cfg, "b.wav")
        ret.poke()
        assert sched.planned(JOB_DUE) == finished + dt.timedelta(days=3)  # still the earliest
        clock.advance(days=2)
        assert [r.what for r in ret.sweep()] == ["audio"] and not audio.exists()
        assert ret.plan() == finished + dt.timedelta(days=4)  # b's audio next
        assert sched.planned(JOB_DUE) == finished + dt.timedelta(days=4)
        clock.advance(days=10)
        # something already due waits retry_s (after a sweep: a failed deletion is not retried in a tight loop)
        assert ret.plan(retry_s=30) == clock.t + dt.timedelta(seconds=30)
        ret.close()
        assert sched.planned(JOB_DUE) is None
        assert ret.plan() is None  # closed: plans nothing more


def test_a_wake_from_sleep_sweeps_at_once(tmp_path: Path, clock: FakeClock) -> None:
    """The wall clock jumps ahead of the monotonic one (which stops during suspend): sweep now."""
    cfg = make_cfg(tmp_path, retention__audio_days=1)
    mono = [1000.0]
    with Store(cfg.path("paths.data") / "q.db", clock=clock) as store:
        ret = Retention(store, cfg, monotonic=lambda: mono[0])
        _, note, _, audio = done_job(store, cfg, "w.wav")
        for _ in range(3):  # awake: both clocks move together
            clock.advance(seconds=30)
            mono[0] += 30
            assert not ret.check_wake()
        clock.advance(days=2)  # asleep for two days
        mono[0] += 30
        assert ret.check_wake()
        assert not audio.exists() and note.exists() and ret.sweeps == 1
        clock.advance(seconds=30)
        mono[0] += 30
        assert not ret.check_wake()  # one jump, one sweep
