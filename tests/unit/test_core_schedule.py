"""The service's scheduler (APScheduler 3.x): jobs are planned in the caller's clock and replaced by id. A fake
clock and a scheduler that is not running: no time passes (the real-time checks are in the integration tier)."""

from __future__ import annotations

import datetime as dt

from hushnote.daemon.core.schedule import Scheduler

from tests.support.clock import FakeClock


def test_jobs_are_planned_in_the_callers_clock_and_replaced_by_id() -> None:
    clock = FakeClock()
    s = Scheduler(clock=clock)
    s.at("sweep", clock.t + dt.timedelta(days=3), lambda: None)
    assert s.planned("sweep") == clock.t + dt.timedelta(days=3)
    s.at("sweep", clock.t + dt.timedelta(hours=1), lambda: None)  # the same id: replaced, not added
    assert s.planned("sweep") == clock.t + dt.timedelta(hours=1)
    s.after("unload", 300, lambda: None)
    assert s.planned("unload") == clock.t + dt.timedelta(seconds=300)
    for job in ("sweep", "unload"):
        s.cancel(job)
        assert s.planned(job) is None
    s.cancel("never-made")  # no error
