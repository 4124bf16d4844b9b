"""Retention: delete audio (and, if configured, transcripts) once their time is up. Notes are never deleted.

Rules (days may be fractional)::

    done job       audio       retention.audio_days after the note was written
                   transcript  retention.transcript_days after the note was written ("keep": never)
    failed or      audio       retention.max_audio_days after the job failed / was cancelled
    cancelled job               (files rejected as not audio at all are never deleted)

The sweep is idempotent and keyed on timestamps in the database, so *when* it runs only decides how
soon after its due time a file goes: a sweep after a week asleep deletes everything that fell due
meanwhile. It runs at start, every ``retention.sweep_interval_s``, after the machine wakes (the wall
clock jumped ahead of the monotonic clock, which stops during suspend), and when poked (a job finished).

Why a plain thread rather than APScheduler: with an idempotent sweep the scheduler's only job is "run
soon after each interval and after a wake". One thread waiting on an event does that, with no job store,
no executor pool and nothing to import at idle; ``coalesce``/``misfire_grace_time`` semantics hold by
construction (missed runs collapse into the next one, and no run is ever skipped as too late).

Each deletion leaves a receipt (job id, what, when, why; never a name) in the ``deletions`` table and
the log. When the audio goes, the job's names go from the database too (``Store.record_deletion``): only the
path of a transcript retention will still delete is kept, until then. An encrypted file (encryption at rest) is crypto-shredded: its wrapped key is destroyed first,
then the file (``hushnote.daemon.privacy.at_rest.shred``); the vault reports ``key.destroyed`` to the audit log. The clock is injected.
"""

from __future__ import annotations

import datetime as dt
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
from hushnote.daemon.core.threads import BackgroundThread
from hushnote.daemon.jobs.inbox import FAILED_DIR
from hushnote.daemon.jobs.store import Job, JobConflict, JobNotFound, Receipt, Store, parse_iso

if TYPE_CHECKING:
    from hushnote.daemon.privacy.vault import Vault

log = logging.getLogger("hushnote.retention")

WAKE_JUMP_S = 60.0  # wall clock ahead of the monotonic clock by more than this: we were asleep


def _days(v: object) -> float | None:
    return None if v == "keep" else float(v)  # type: ignore[arg-type]


class Retention:
    def __init__(self, store: Store, cfg: Config, *, clock: Clock | None = None,
                 interval_s: float | None = None, tick_s: float = 30.0,
                 on_receipt: Callable[[Receipt], None] | None = None, vault: Vault | None = None) -> None:
        self.store = store
        self.vault = vault  # hushnote.daemon.privacy.vault.Vault: encrypted files are crypto-shredded (key first, then file)
        self.data_dir = cfg.path("paths.data")
        self.on_receipt = on_receipt  # e.g. the service's audit log (deletion.receipt); must not raise
        self.clock = clock or store.clock
        self.audio_days = float(cfg["retention.audio_days"])
        self.transcript_days = _days(cfg["retention.transcript_days"])
        self.max_audio_days = float(cfg["retention.max_audio_days"])
        self.interval_s = float(interval_s if interval_s is not None else cfg["retention.sweep_interval_s"])
        self.tick_s = min(tick_s, self.interval_s)
        # only files in these folders are ever deleted (a guard against a bad path in the database)
        self.roots = [cfg.path("paths.notes"), store.store_dir, cfg.path("paths.inbox") / FAILED_DIR]
        self._poke = threading.Event()
        self._loop = BackgroundThread("hushnote-retention", self._run, wake=self._poke.set)
        self._sweep_lock = threading.Lock()
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

    def poke(self) -> None:
        self._poke.set()

    def start(self) -> Retention:
        self._loop.start()
        return self

    def close(self) -> None:
        self._loop.close()

    def __enter__(self) -> Retention:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _safe_sweep(self, why: str) -> None:
        try:
            n = len(self.sweep())
            if n:
                log.info("retention sweep (%s): %d file(s) deleted", why, n)
        except Exception as exc:  # noqa: BLE001 - retention must never take the service down
            log.error("retention sweep failed (%s)", type(exc).__name__)

    def _run(self) -> None:
        self._safe_sweep("start")
        last = time.monotonic()
        wall_minus_mono = time.time() - time.monotonic()
        stopping = self._loop.stopping
        while not stopping.is_set():
            poked = self._poke.wait(self.tick_s)
            if stopping.is_set():
                break
            self._poke.clear()
            now_m = time.monotonic()
            drift = (time.time() - now_m) - wall_minus_mono
            wall_minus_mono = time.time() - now_m
            if drift > WAKE_JUMP_S:
                self._safe_sweep("after wake")
                last = now_m
            elif poked or now_m - last >= self.interval_s:
                self._safe_sweep("poke" if poked else "interval")
                last = now_m
