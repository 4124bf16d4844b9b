"""Retention: delete audio (and, if configured, transcripts) once their time is up. Notes are never deleted.

Rules (days may be fractional)::

    done job       audio       retention.audio_days after the note was written
                   transcript  retention.transcript_days after the note was written ("keep": never)
    failed or      audio       retention.max_audio_days after the job failed / was cancelled
    cancelled job               (files rejected as not audio at all are never deleted)

The sweep is idempotent and keyed on timestamps in the database, so *when* it runs only decides how
soon after its due time a file goes: a sweep after a week asleep deletes everything that fell due
meanwhile. It runs on the service's scheduler (``hushnote.daemon.core.schedule``, APScheduler):

* at start, and at the **next due time**, computed from the database after every sweep and whenever a
  job finishes (``poke``): a file goes within moments of its due time;
* every ``retention.sweep_interval_s``, a safety net;
* after the machine wakes: a check every ``tick_s`` sees the wall clock jump ahead of the monotonic
  clock (which stops during suspend). Runs missed while asleep collapse into one prompt run.

A file whose deletion failed is tried again ``tick_s`` later (never in a tight loop).

Each deletion leaves a receipt (job id, what, when, why; never a name) in the ``deletions`` table and
the log. When the audio goes, the job's names go from the database too (``Store.record_deletion``): only the
path of a transcript retention will still delete is kept, until then. An encrypted file (encryption at rest) is crypto-shredded: its wrapped key is destroyed first,
then the file (``hushnote.daemon.privacy.at_rest.shred``); the vault reports ``key.destroyed`` to the audit log. The clock is injected.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from hushnote.daemon.core.config import Config
from hushnote.daemon.core.datatypes import Clock
from hushnote.daemon.core.schedule import Scheduler
from hushnote.daemon.jobs.inbox import FAILED_DIR
from hushnote.daemon.jobs.store import Job, JobConflict, JobNotFound, Receipt, Store, parse_iso

if TYPE_CHECKING:
    from hushnote.daemon.privacy.vault import Vault

log = logging.getLogger("hushnote.retention")

WAKE_JUMP_S = 60.0  # wall clock ahead of the monotonic clock by more than this: we were asleep


def _days(v: object) -> float | None:
    return None if v == "keep" else float(v)  # type: ignore[arg-type]


JOB_DUE, JOB_INTERVAL, JOB_WAKE = "retention.due", "retention.interval", "retention.wake"


class Retention:
    """The rules, the sweep, ``delete_now`` and the schedule. Started (``start``/``with``), it plans its
    sweeps on ``scheduler`` (the service's), or on a scheduler of its own when none is given."""

    def __init__(self, store: Store, cfg: Config, *, clock: Clock | None = None,
                 interval_s: float | None = None, tick_s: float = 30.0,
                 on_receipt: Callable[[Receipt], None] | None = None, vault: Vault | None = None,
                 scheduler: Scheduler | None = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.vault = vault  # hushnote.daemon.privacy.vault.Vault: encrypted files are crypto-shredded (key first, then file)
        self.data_dir = cfg.path("paths.data")
        self.on_receipt = on_receipt  # e.g. the service's audit log (deletion.receipt); must not raise
        self.clock = clock or store.clock
        self.monotonic = monotonic
        self.audio_days = float(cfg["retention.audio_days"])
        self.transcript_days = _days(cfg["retention.transcript_days"])
        self.max_audio_days = float(cfg["retention.max_audio_days"])
        self.interval_s = float(interval_s if interval_s is not None else cfg["retention.sweep_interval_s"])
        self.tick_s = min(tick_s, self.interval_s)
        # only files in these folders are ever deleted (a guard against a bad path in the database)
        self.roots = [cfg.path("paths.notes"), store.store_dir, cfg.path("paths.inbox") / FAILED_DIR]
        self._own_scheduler = scheduler is None
        self.scheduler = scheduler if scheduler is not None else Scheduler(clock=self.clock)
        self._sweep_lock = threading.Lock()
        self._plan_lock = threading.Lock()
        self._closed = False
        self._wall_minus_mono = self._offset()
        self.sweeps = 0

    # -------------------------------------------------------------------- the rules

    @property
    def _tr_due(self) -> bool:
        """Retention deletes transcripts too: a job's transcript path is kept (in the database) until then."""
        return self.transcript_days is not None

    def _due(self, job: Job) -> list[tuple[str, dt.datetime, str]]:
        """(what, due time, why) for each file of ``job`` retention still has to delete."""
        base = parse_iso(job.finished or job.updated)
        out: list[tuple[str, dt.datetime, str]] = []
        if job.state == "done":
            if job.audio_deleted is None:
                out.append(("audio", base + dt.timedelta(days=self.audio_days),
                            f"retention.audio_days={self.audio_days:g} after the note was written"))
            if job.transcript_deleted is None and self.transcript_days is not None:
                out.append(("transcript", base + dt.timedelta(days=self.transcript_days),
                            f"retention.transcript_days={self.transcript_days:g} after the note was written"))
        elif job.state in ("failed", "cancelled") and not job.rejected and job.audio_deleted is None:
            out.append(("audio", base + dt.timedelta(days=self.max_audio_days),
                        f"retention.max_audio_days={self.max_audio_days:g} after the job {job.state}"))
        return out

    def next_due(self) -> dt.datetime | None:
        """When the next file falls due (it goes at the first sweep after that), or None."""
        dues = [due for job in self.store.retention_candidates() for _, due, _ in self._due(job)]
        return min(dues) if dues else None

    def _path(self, job: Job, what: str) -> Path | None:
        p = job.audio_path if what == "audio" else job.transcript_path
        return Path(p) if p else None

    def _allowed(self, path: Path) -> bool:
        try:
            parent = path.parent.resolve()
        except OSError:
            return False
        return any(parent == r.resolve() for r in self.roots)

    def _delete(self, path: Path) -> None:
        """Unlink a plain file; crypto-shred an encrypted one (its wrapped key destroyed first, then the
        file overwritten and unlinked: on SSDs only the destroyed key makes the data unrecoverable)."""
        from hushnote.daemon.privacy.at_rest import shred

        shred(path, vault=self.vault, data_dir=self.data_dir)

    def delete_now(self, job_id: str, why: str = "deleted by the user") -> Receipt | None:
        """The clinician deletes a finished, failed or cancelled job's audio now (``hushnote delete ID``),
        crypto-shredded like a retention deletion. Returns the receipt (None: the file was already gone)."""
        with self._sweep_lock:
            job = self.store.get(job_id)
            if job is None or job.state == "ingesting":
                raise JobNotFound(f"There is no job with the id {job_id[:40]!r}.", "List the jobs with `hushnote queue`.")
            if job.state in ("queued", "running"):
                raise JobConflict(f"Job {job_id} is {job.state}: its audio is still needed.",
                                  "Cancel it first (`hushnote cancel`), or wait until its note is written.")
            if job.rejected:
                raise JobConflict(f"Job {job_id} was not a recording; hushnote never deletes such files.",
                                  "Delete it yourself from the inbox's failed folder if you do not need it.")
            if job.audio_deleted:
                raise JobConflict(f"The audio of job {job_id} was already deleted.")
            path = self._path(job, "audio")
            if path is None or not os.path.lexists(path):
                self.store.record_deletion(job.id, "audio", why, deleted=False, transcript_due=self._tr_due)
                return None
            if not self._allowed(path) or path.is_dir():
                raise JobConflict(f"The audio of job {job_id} is not where hushnote keeps files, so it was left alone.")
            self._delete(path)
            receipt = self.store.record_deletion(job.id, "audio", why, transcript_due=self._tr_due)
            log.info("deleted audio of job %s at the user's request", job.id)
            return receipt

    def sweep(self) -> list[Receipt]:
        """Delete everything due now. Idempotent; safe to call from any thread."""
        receipts: list[Receipt] = []
        with self._sweep_lock:
            now = self.clock()
            self.store.forget_names(transcript_due=self._tr_due)  # e.g. rows of audio an older version deleted
            for job in self.store.retention_candidates():
                for what, due, why in self._due(job):
                    if now < due:
                        continue
                    path = self._path(job, what)
                    if path is None or not os.path.lexists(path):
                        self.store.record_deletion(job.id, what, why, deleted=False, transcript_due=self._tr_due)
                        log.info("retention: %s of job %s was already gone (or no longer tracked)", what, job.id)
                        continue
                    if not self._allowed(path) or path.is_dir():
                        log.error("retention: %s of job %s is not where hushnote keeps files; left alone",
                                  what, job.id)
                        self.store.record_deletion(job.id, what, "left alone: unexpected location", deleted=False,
                                                   transcript_due=self._tr_due)
                        continue
                    try:
                        self._delete(path)
                    except (OSError, ValueError) as exc:
                        log.error("retention: deleting %s of job %s failed (%s); will try again",
                                  what, job.id, type(exc).__name__)
                        continue
                    r = self.store.record_deletion(job.id, what, why, transcript_due=self._tr_due)
                    if r is not None:
                        receipts.append(r)
                        if self.on_receipt is not None:
                            self.on_receipt(r)
                        log.info("retention: deleted %s of job %s at %s (%s)", r.what, r.job_id, r.at, r.why)
            self.sweeps += 1
        return receipts

    # -------------------------------------------------------------------- the schedule

    def start(self) -> Retention:
        self._closed = False
        if self._own_scheduler:
            self.scheduler.start()
        self._wall_minus_mono = self._offset()
        self.scheduler.every(JOB_INTERVAL, self.interval_s, functools.partial(self._safe_sweep, "interval"))
        self.scheduler.every(JOB_WAKE, self.tick_s, self.check_wake)
        self.scheduler.at(JOB_DUE, self.clock(), functools.partial(self._safe_sweep, "start"))
        return self

    def close(self) -> None:
        with self._plan_lock:
            self._closed = True  # a sweep still running plans nothing more
            for job in (JOB_DUE, JOB_INTERVAL, JOB_WAKE):
                self.scheduler.cancel(job)
        if self._own_scheduler:
            self.scheduler.close()
        with self._sweep_lock:  # a sweep the shared scheduler is running ends before this returns
            pass

    def __enter__(self) -> Retention:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def poke(self) -> None:
        """A job finished (its files now have due times): plan the next sweep for the next due time."""
        self.plan()

    def plan(self, retry_s: float = 0.0) -> dt.datetime | None:
        """Plan the sweep for the next due time (not before ``retry_s`` from now); returns that time."""
        with self._plan_lock:  # the newest look at the database wins, whichever thread asks
            if self._closed:
                return None
            due = self.next_due()
            if due is None:
                self.scheduler.cancel(JOB_DUE)
                return None
            when = max(due, self.clock() + dt.timedelta(seconds=retry_s))
            if self.scheduler.planned(JOB_DUE) != when:  # (most pokes change nothing)
                self.scheduler.at(JOB_DUE, when, functools.partial(self._safe_sweep, "due"))
            return when

    def _offset(self) -> float:
        return self.clock().timestamp() - self.monotonic()

    def check_wake(self) -> bool:
        """Sweep now if the machine slept since the last check (True then)."""
        offset = self._offset()
        drift, self._wall_minus_mono = offset - self._wall_minus_mono, offset
        if drift <= WAKE_JUMP_S:
            return False
        self._safe_sweep("after wake")
        return True

    def _safe_sweep(self, why: str) -> None:
        try:
            n = len(self.sweep())
            if n:
                log.info("retention sweep (%s): %d file(s) deleted", why, n)
        except Exception as exc:  # noqa: BLE001 - retention must never take the service down
            log.error("retention sweep failed (%s)", type(exc).__name__)
        try:
            self.plan(retry_s=self.tick_s)  # what is still due now (a failed deletion) waits a tick
        except Exception as exc:  # noqa: BLE001 - the interval safety net still runs
            log.error("planning the next retention sweep failed (%s)", type(exc).__name__)
