"""The running service: lock, queue, inbox watcher, workers, retention and the IPC server, wired together.

``run_foreground(cfg)`` is ``hushnote daemon``. Start order: folders → instance lock (a second instance
refuses) → database → recovery (jobs left ``running`` by a crash go back to the queue with attempts+1,
or fail after the 3rd) → workers → retention → inbox watcher (recovers interrupted ingests, then scans)
→ IPC. SIGTERM/SIGINT stop it gracefully: no new files are taken in, the current job is released at its
next progress report (back to queued, no attempt counted), and the exit code is 0.

IPC ops are a registry (``Service.register``): the recorder adds ``record.*`` the same way.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from daemon import __version__
from daemon.config import Config
from daemon.inbox import InboxWatcher, Ingestor
from daemon.lock import InstanceLock
from daemon.queue import Job, JobConflict, JobNotFound, Store, iso
from daemon.retention import Retention
from daemon.worker import Workers, file_failed_job

log = logging.getLogger("hushnote.service")

DB_NAME = "queue.db"
LOCK_NAME = "service.lock"


class Service:
    """In-process service (tests use it directly); ``ipc=False`` runs it without a socket."""

    def __init__(self, cfg: Config, *, ipc: bool = True, inbox_opts: dict[str, Any] | None = None) -> None:
        self.cfg = cfg
        self.inbox_dir = cfg.path("paths.inbox")
        self.notes_dir = cfg.path("paths.notes")
        self.data_dir = cfg.path("paths.data")
        self.use_ipc = ipc
        self.inbox_opts = inbox_opts or {}
        self.lock = InstanceLock(self.data_dir / LOCK_NAME)
        self.store: Store | None = None
        self.workers: Workers | None = None
        self.retention: Retention | None = None
        self.watcher: InboxWatcher | None = None
        self.server: Any = None
        self.router: Any = None
        self._extra_ops: list[tuple[str, Callable[..., dict[str, Any]], dict[str, Any]]] = []
        # Parts owned by later issues, created in _start (None when switched off or not yet started):
        self.audit: Any = None  # daemon.audit.AuditLog: the hash-chained audit log (privacy)
        self.vault: Any = None  # daemon.vault.Vault: encryption at rest, when storage.encrypt_audio (privacy)
        self.recorder: Any = None  # daemon.recorder.Recorder: the microphone (recorder issue)

    # -------------------------------------------------------------------- lifecycle

    def start(self) -> Service:
        for d in (self.inbox_dir, self.notes_dir, self.data_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        self.store = store = Store(self.data_dir / DB_NAME)
        for job in store.recover_running():
            log.warning("job %s: failed after repeated interruptions", job.id)
            try:
                file_failed_job(store, job, self.cfg, "processing was interrupted 3 times before it could finish.",
                                "Try again with `hushnote retry`; if it keeps failing, report it with the log.")
            except Exception as exc:  # noqa: BLE001 - the job stays failed; the audio stays in the store
                log.error("job %s: could not file the failed job (%s)", job.id, type(exc).__name__)
        self.workers = Workers(store, self.cfg, on_event=self._event).start()
        self.retention = Retention(store, self.cfg).start()
        self.watcher = InboxWatcher(Ingestor(store, self.inbox_dir, self.notes_dir,
                                             on_queued=lambda job: self._queued(job)),
                                    **self.inbox_opts).start()
        if store.has_queued():
            self.workers.notify()
        if self.use_ipc:
            from ipc.paths import endpoint
            from ipc.server import IpcServer, Router

            self.router = Router()
            for op, fn in (("status", self.status), ("queue", self.queue), ("pause", self.pause),
                           ("resume", self.resume), ("retry", self.retry), ("cancel", self.cancel)):
                self.router.register(op, fn)
            for op, fn, kw in self._extra_ops:
                self.router.register(op, fn, **kw)
            self.server = IpcServer(endpoint(self.cfg), self.router).start()

    def close(self) -> None:
        """Stop taking files in, release or finish the current job, stop everything, unlock."""
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None
        if self.workers is not None:
            self.workers.close()
            self.workers = None
        if self.retention is not None:
            self.retention.close()
            self.retention = None
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.store is not None:
            self.store.close()
            self.store = None
        self.lock.release()

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def register(self, op: str, fn: Callable[..., dict[str, Any]], **kw: Any) -> None:
        """Add an IPC op (e.g. the recorder's ``record.start``); before or after ``start``."""
        if self.router is not None:
            self.router.register(op, fn, **kw)
        else:
            self._extra_ops.append((op, fn, kw))

    def add_recording(self, audio: Path, original_name: str) -> Job:
        """Queue a finished recording already in the store (kind ``recording``: ahead of inbox files)."""
        assert self.store is not None  # noqa: S101
        job = self.store.add_job("recording", audio, original_name, self.notes_dir)
        self._queued(job)
        return job

    # -------------------------------------------------------------------- wiring

    def audit_event(self, event: str, **data: Any) -> None:
        """Append to the audit log (audit.py keeps only allow-listed ids, codes and numbers: no PHI).
        Never raises: a full disk must not stop a recording; the failure is logged by class name."""
        if self.audit is None:
            return
        try:
            self.audit.append(event, **data)
        except Exception as exc:  # noqa: BLE001 - auditing must not take the service down
            log.error("audit entry %s could not be written (%s)", event, type(exc).__name__)

    def _queued(self, job: Job) -> None:
        if self.workers is not None:
            self.workers.notify()

    def _event(self, event: str, data: dict[str, Any]) -> None:
        if event == "job.done" and self.retention is not None:
            self.retention.poke()
        if self.server is not None:
            self.server.publish(event, data)

    # -------------------------------------------------------------------- IPC ops (quick: listener thread)

    def _s(self) -> Store:
        if self.store is None:
            from ipc.protocol import IpcError

            raise IpcError("internal", "The hushnote service is stopping.")
        return self.store

    def status(self) -> dict[str, Any]:
        store = self._s()
        nxt = self.retention.next_due() if self.retention is not None else None
        return {
            "state": "paused" if self.workers is not None and self.workers.paused else "running",
            "pid": os.getpid(),
            "version": __version__,
            "queue": store.counts(),
            "current": self.workers.current() if self.workers is not None else None,
            "next_retention": iso(nxt) if nxt is not None else None,
            "failed_audio_kept": store.failed_audio_kept(),
        }

    def queue(self) -> dict[str, Any]:
        return {"jobs": [j.public() for j in self._s().jobs()]}

    def pause(self) -> dict[str, Any]:
        assert self.workers is not None  # noqa: S101
        self.workers.pause()
        return {"state": "paused"}

    def resume(self) -> dict[str, Any]:
        assert self.workers is not None  # noqa: S101
        self.workers.resume()
        return {"state": "running"}

    def retry(self, id: str) -> dict[str, Any]:  # noqa: A002 - the protocol's argument name
        job = self._call(self._s().retry, id)
        if self.workers is not None:
            self.workers.notify()
        return {"id": job.id, "state": job.state}

    def cancel(self, id: str) -> dict[str, Any]:  # noqa: A002
        job = self._call(self._s().cancel, id)
        return {"id": job.id, "state": job.state}

    @staticmethod
    def _call(fn: Callable[[str], Job], job_id: str) -> Job:
        from ipc.protocol import IpcError

        try:
            return fn(job_id)
        except JobNotFound as exc:
            raise IpcError("not_found", exc.message) from None
        except JobConflict as exc:
            raise IpcError("conflict", exc.message) from None


def _setup_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    hn = logging.getLogger("hushnote")
    if root.getEffectiveLevel() > logging.INFO:
        hn.setLevel(logging.INFO)


def run_foreground(cfg: Config) -> int:
    """``hushnote daemon``: run until SIGTERM/SIGINT, then stop gracefully and return 0."""
    _setup_logging()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with Service(cfg):
            log.info("service running (pid %d, version %s)", os.getpid(), __version__)
            print(f"hushnote service running (pid {os.getpid()}). Stop it with Ctrl+C.", file=sys.stderr, flush=True)
            while not stop.wait(1.0):
                pass
            log.info("stopping")
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    log.info("stopped")
    return 0
