"""The service's timed work on one APScheduler 3.x ``BackgroundScheduler``.

Jobs (each named by an id; adding one with an id already used replaces it):

* ``at(id, when, fn)``: once, at ``when`` (the retention sweep at the next due time);
* ``after(id, seconds, fn)``: once, that long from now (model idle unload);
* ``every(id, seconds, fn)``: repeatedly (the retention safety net, the wake check).

Every job has ``coalesce=True`` and ``misfire_grace_time=None``: runs missed while the machine slept
collapse into one run, made promptly after the wake, and a run is never dropped as too late (with a
grace time, a sweep that fell due during a week asleep would be skipped). ``max_instances=2``: a job
that comes due again while it runs (a date job replaced by its own run) waits instead of being dropped.

Times are given in the caller's ``clock`` (a fake one in tests); the scheduler waits the difference to
that clock's "now" in real time. A job that raises is logged by its id, class and place, never its
message (it may hold PHI); the scheduler goes on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from hushnote.daemon.core.datatypes import Clock, utc_now
from hushnote.daemon.core.threads import where

log = logging.getLogger("hushnote.schedule")

JOB_DEFAULTS = {"coalesce": True, "misfire_grace_time": None, "max_instances": 2}


def _real_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Scheduler:
    """One ``BackgroundScheduler`` (its own thread, and a small pool the jobs run on); a context manager."""

    def __init__(self, *, clock: Clock = utc_now, workers: int = 3) -> None:
        self.clock = clock
        self._aps = BackgroundScheduler(
            timezone=dt.UTC, job_defaults=dict(JOB_DEFAULTS),
            executors={"default": ThreadPoolExecutor(workers, pool_kwargs={"thread_name_prefix": "hushnote-timed"})})
        self._planned: dict[str, dt.datetime] = {}  # date jobs: when, in the caller's clock

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Start the scheduler's thread; jobs added before run from now on."""
        self._aps.start()
        return self

    def close(self) -> None:
        """Stop planning, wait for running jobs to finish. Idempotent."""
        if self._aps.running:
            self._aps.shutdown(wait=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ jobs

    def at(self, job_id: str, when: dt.datetime, fn: Callable[[], object]) -> None:
        """Run ``fn`` once at ``when`` (the caller's clock); a time already past runs at once."""
        delay = when - self.clock()
        self._planned[job_id] = when
        self._add(job_id, fn, "date", run_date=_real_now() + max(delay, dt.timedelta(0)))

    def after(self, job_id: str, seconds: float, fn: Callable[[], object]) -> None:
        """Run ``fn`` once, ``seconds`` from now."""
        self.at(job_id, self.clock() + dt.timedelta(seconds=max(0.0, seconds)), fn)

    def every(self, job_id: str, seconds: float, fn: Callable[[], object]) -> None:
        """Run ``fn`` every ``seconds`` (the first run one interval from now)."""
        self._add(job_id, fn, "interval", seconds=seconds)

    def cancel(self, job_id: str) -> None:
        """Forget a job (no error if there is none)."""
        self._planned.pop(job_id, None)
        self._remove(job_id)

    def _add(self, job_id: str, fn: Callable[[], object], trigger: str, **trigger_args: Any) -> None:
        if not self._aps.running:
            self._remove(job_id)  # before start, APScheduler would keep both (it replaces only when running)
        self._aps.add_job(self._guarded(job_id, fn), trigger, id=job_id, name=job_id, replace_existing=True,
                          **trigger_args)

    def _remove(self, job_id: str) -> None:
        with contextlib.suppress(JobLookupError):
            while True:
                self._aps.remove_job(job_id)

    def planned(self, job_id: str) -> dt.datetime | None:
        """When a job made with ``at``/``after`` will run, in the caller's clock; None when it is not planned
        (never, or already run)."""
        if self._aps.get_job(job_id) is None:
            return None
        return self._planned.get(job_id)

    @staticmethod
    def _guarded(job_id: str, fn: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - one failed run must not stop the timer; no PHI in the log
                log.error("timed job %s failed: %s at %s", job_id, type(exc).__name__, where(exc))

        return run
