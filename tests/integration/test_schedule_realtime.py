"""The service's scheduler (APScheduler 3.x) in real time: a job already due runs once at once; runs missed while
nothing ran (as in a suspend) collapse into one prompt run, and an overdue one still runs; a failing job is
logged without PHI and the scheduler goes on. Short waits on events; the planning itself is unit-tested."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import pytest
from hushnote.daemon.core.schedule import Scheduler

from tests.support.clock import FakeClock


def test_a_time_already_past_runs_once_at_once_even_days_late() -> None:
    clock = FakeClock()  # 2025: everything it names is long past in real time
    ran: list[str] = []
    done = threading.Event()

    def job() -> None:
        ran.append("sweep")
        done.set()

    with Scheduler(clock=clock) as s:
        s.at("sweep", clock.t - dt.timedelta(days=7), job)  # fell due a week ago (the machine slept)
        assert done.wait(5)
        assert s.planned("sweep") is None  # a one-off: gone once run
    assert ran == ["sweep"]


def test_missed_runs_collapse_into_one_prompt_run() -> None:
    """While nothing ran (as in a suspend), an interval job missed ~15 runs and a one-off fell 1.5 s overdue:
    after the wake the interval job runs once, promptly (not 15 times), and the overdue one still runs
    (APScheduler's default 1 s misfire grace would drop it: the sweep that fell due during the sleep)."""
    runs: list[float] = []
    first, late = threading.Event(), threading.Event()

    def job() -> None:
        runs.append(time.monotonic())
        first.set()

    with Scheduler() as s:
        s._aps.pause()  # the machine "sleeps": the scheduler processes nothing
        s.every("net", 0.1, job)
        s.after("due", 0.1, late.set)
        time.sleep(1.6)
        resumed = time.monotonic()
        s._aps.resume()
        assert first.wait(5) and late.wait(5)
        prompt = runs[0] - resumed
        s.cancel("net")
        n_soon = len([t for t in runs if t - resumed < 0.05])
    assert prompt < 1.0
    assert n_soon == 1  # the missed runs became one


def test_a_failing_job_is_logged_without_its_message_and_the_scheduler_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    second = threading.Event()

    def bad() -> None:
        raise OSError("/home/x/Jane Doe session.flac is gone")

    with caplog.at_level(logging.ERROR, logger="hushnote"), Scheduler() as s:
        s.at("bad", s.clock(), bad)
        s.at("good", s.clock() + dt.timedelta(seconds=0.2), second.set)
        assert second.wait(5)
    assert "timed job bad failed: OSError at test_schedule_realtime.py:" in caplog.text
    assert "Jane" not in caplog.text and "apscheduler" not in caplog.text.lower()
