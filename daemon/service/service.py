"""The running service: lock, queue, inbox watcher, workers, retention and the IPC server, wired together.

``run_foreground(cfg)`` is ``hushnote daemon``. Start order: folders → instance lock (a second instance
refuses) → audit log, vault → database → recovery (jobs left ``running`` by a crash go back to the queue
with attempts+1, or fail after the 3rd) → scheduler (APScheduler: the retention sweeps, the wake check,
the models' idle unload) → recorder → workers → retention → inbox watcher (recovers interrupted ingests,
then scans) → IPC. A failure part-way closes what was started, in reverse. SIGTERM/SIGINT stop it gracefully: no new files are taken in, the current job is released at its
next progress report (back to queued, no attempt counted), and the exit code is 0.

IPC ops are a registry (``Service.register``): the recorder adds ``record.*`` the same way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from hushnote.daemon import __version__
from hushnote.daemon.core.config import Config
from hushnote.daemon.core.schedule import Scheduler
from hushnote.daemon.jobs.inbox import InboxWatcher, Ingestor, reconcile_ingests
from hushnote.daemon.jobs.retention import Retention
from hushnote.daemon.jobs.store import Job, JobConflict, JobNotFound, Store, iso
from hushnote.daemon.service.lock import InstanceLock
from hushnote.daemon.service.workers import Workers, done_event, file_failed_job

if TYPE_CHECKING:
    from hushnote.daemon.privacy.vault import Vault

log = logging.getLogger("hushnote.service")

DB_NAME = "queue.db"
FAILED_SHOWN = 5  # failures `status` lists (the tray's menu)
FAILED_SHOWN_DAYS = 7
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
        self.scheduler: Scheduler | None = None
        self.watcher: InboxWatcher | None = None
        self.server: Any = None
        self.router: Any = None
        self._extra_ops: list[tuple[str, Callable[..., dict[str, Any]], dict[str, Any]]] = []
        self._stack = contextlib.ExitStack()  # what start() started, closed by close() in reverse
        # Parts made in _start (None when switched off or not yet started):
        self.audit: Any = None  # hushnote.daemon.privacy.audit.AuditLog: the hash-chained audit log (privacy)
        self.vault: Vault | None = None  # hushnote.daemon.privacy.vault.Vault: encryption at rest, when storage.encrypt_audio (privacy)
        self.recorder: Any = None  # hushnote.daemon.recording.recorder.Recorder: the microphone
        self.recording: Any = None  # hushnote.daemon.recording.controller.RecordingControl: record.* ops, hand-off, live transcripts
        self.recorder_opts: dict[str, Any] = {}  # extra Recorder(...) arguments (tests)
        self.passphrase: str | None = None  # the master key's passphrase, if not from $HUSHNOTE_PASSPHRASE/a tty

    # -------------------------------------------------------------------- lifecycle

    def start(self) -> Service:
        """Start the parts in order; if one fails, those already started are closed again (in reverse)."""
        for d in (self.inbox_dir, self.notes_dir, self.data_dir):
            d.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            self.lock.acquire()
            stack.callback(self.lock.release)
            self._start(stack)
            self._stack = stack.pop_all()
        return self

    def _start(self, stack: contextlib.ExitStack) -> None:
        stack.callback(self._stop_audit)
        self._start_audit()
        self._start_vault()
        self.store = store = Store(self.data_dir / DB_NAME)
        stack.callback(self._close_part, "store")
        # closed in the reverse order: first the recording (saved and queued), then the inbox, the workers (the
        # current job released or finished), retention, and the socket last, so clients see all of it
        for part in ("server", "scheduler", "retention", "workers", "watcher", "recording"):
            stack.callback(self._close_part, part)
        self._recover_jobs(store)
        self.scheduler = Scheduler(clock=store.clock).start()  # the timed work: retention, wake check, idle unload
        self._start_recorder(store)
        self.workers = Workers(store, self.cfg, on_event=self._event, vault=self.vault, scheduler=self.scheduler)
        self.workers.transcript_for = self.recording.transcript_for
        self.workers.model_process = True  # models in child processes: the idle service stays small
        self.workers.start()
        self.retention = Retention(store, self.cfg, on_receipt=self._on_receipt, vault=self.vault,
                                   scheduler=self.scheduler).start()
        self.watcher = InboxWatcher(Ingestor(store, self.inbox_dir, self.notes_dir,
                                             on_queued=self._inbox_queued,
                                             consent_covered=bool(self.cfg["inbox.consent_covered"]),
                                             vault=self.vault if self.cfg["storage.encrypt_audio"] else None,
                                             on_ingest=self._on_ingest, on_rejected=self._on_rejected),
                                    **self.inbox_opts).start()
        if store.has_queued():
            self.workers.notify()
        if self.use_ipc:
            self._start_ipc()

    def _recover_jobs(self, store: Store) -> None:
        """Jobs a crash left running go back to the queue, or fail after their 3rd interruption."""
        for job in store.recover_running():
            log.warning("job %s: failed after repeated interruptions", job.id)
            try:
                file_failed_job(store, job, self.cfg, "processing was interrupted 3 times before it could finish.",
                                "Try again with `hushnote retry`; if it keeps failing, report it with the log.")
            except Exception as exc:  # noqa: BLE001 - the job stays failed; the audio stays in the store
                log.error("job %s: could not file the failed job (%s)", job.id, type(exc).__name__)

    def _start_ipc(self) -> None:
        from hushnote.ipc.paths import endpoint
        from hushnote.ipc.server import IpcServer, Router

        self.router = Router()
        for op, fn in (("status", self.status), ("queue", self.queue), ("pause", self.pause),
                       ("resume", self.resume), ("retry", self.retry), ("cancel", self.cancel),
                       ("delete", self.delete)):
            self.router.register(op, fn)
        for op, fn, kw in self._extra_ops:
            self.router.register(op, fn, **kw)
        self.server = self._ipc_server(endpoint(self.cfg), self.router, IpcServer)

    def close(self) -> None:
        """Stop a recording (saved and queued), stop taking files in, release or finish the current job,
        stop everything, unlock."""
        self._stack.close()

    def _close_part(self, name: str) -> None:
        part = getattr(self, name)
        if part is not None:
            part.close()
            setattr(self, name, None)
            if name == "recording":
                self.recorder = None

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

    # -------------------------------------------------------------------- wiring

    def _start_recorder(self, store: Store) -> None:
        """The microphone (opened only by ``record.start``); recordings a crash interrupted are queued now,
        after interrupted ingests are reconciled (see ``recording.controller`` for why that order)."""
        from hushnote.daemon.recording.controller import RecordingControl

        self.recording = RecordingControl(
            self.cfg, store, self.notes_dir, publish=self._event, audit=self.audit_event, queued=self._queued,
            is_paused=lambda: bool(self.workers is not None and self.workers.paused), recorder_kw=self.recorder_opts)
        self.recorder = self.recording.recorder
        reconcile_ingests(store, self.vault)
        self.recording.recover()
        for op, fn in (("record.start", self.recording.start), ("record.stop", self.recording.stop),
                       ("record.status", self.recording.status)):
            self.register(op, fn)

    def audit_event(self, event: str, /, **data: Any) -> None:
        """Append to the audit log (audit.py keeps only allow-listed ids, codes and numbers: no PHI).
        Never raises: a full disk must not stop a recording; the failure is logged by class name."""
        if self.audit is None:
            return
        try:
            self.audit.append(event, **data)
        except Exception as exc:  # noqa: BLE001 - auditing must not take the service down
            log.error("audit entry %s could not be written (%s)", event, type(exc).__name__)

    # -------------------------------------------------------------------- privacy wiring

    def _start_audit(self) -> None:
        """The audit log, first: the guard's refusals, deletions, drafts and this start are recorded in it."""
        from hushnote.daemon.privacy import audit_head, guard
        from hushnote.daemon.privacy.audit import FILENAME

        # its head is kept a second time (keyring or settings folder): a log cut short is noticed
        self.audit = audit_head.audit_log(self.data_dir / FILENAME)
        g = guard.status()
        if g["installed"]:  # installed by `hushnote` first thing (hushnote.daemon.cli.main); a library user may not have
            guard.add_callback(self._on_guard_block)
        self.audit_event("service.start", version=__version__, pid=os.getpid(),
                         guard=bool(g["installed"] and not g["allow_network"]),
                         inbox_consent_covered=bool(self.cfg["inbox.consent_covered"]))

    def _start_vault(self) -> None:
        """Encryption at rest (``privacy.at_rest``): load or make the master key before anything touches
        audio. A missing, wrong, damaged or locked key stops the start with one plain message."""
        from hushnote.daemon.privacy import at_rest

        if not at_rest.vault_needed(self.cfg):
            return
        self.vault = at_rest.open_vault(self.cfg, on_event=lambda e, d: self.audit_event(e, **d),
                                        passphrase=self.passphrase)
        if self.cfg["storage.encrypt_audio"]:
            self.recorder_opts.setdefault("vault", self.vault)  # chunks encrypted as they are captured

    def _on_ingest(self, job: Job, facts: dict[str, Any]) -> None:
        self.audit_event("ingest", job_id=job.id, source="inbox", **facts)

    def _on_rejected(self, job: Job) -> None:
        """An inbox file that is not usable audio: a failed job like any other, so the tray names it."""
        self._event("job.done", done_event(job, self.notes_dir))

    def _stop_audit(self) -> None:
        from hushnote.daemon.privacy import guard

        guard.remove_callback(self._on_guard_block)
        if self.audit is not None:
            self.audit_event("service.stop", reason="stopped")
            self.audit = None

    def _on_guard_block(self, event: str, reason: str, total: int) -> None:
        self.audit_event("network.blocked", event=event, reason=reason, total=total)

    @staticmethod
    def _guard_status() -> dict[str, Any]:
        from hushnote.daemon.privacy import guard

        st = guard.status()
        return {k: st[k] for k in ("installed", "blocked", "allow_network", "allowed_egress")}

    def _on_receipt(self, r: Any) -> None:
        """A retention deletion (``jobs.store.Receipt``): its rule's setting name is the reason, never a path."""
        rule = str(r.why).split("=", 1)[0]
        self.audit_event("deletion.receipt", job_id=r.job_id, kind=r.what,
                         reason=rule if rule.startswith("retention.") else "retention")

    def _inbox_queued(self, job: Job) -> None:
        """An inbox file was taken in: only when ``inbox.consent_covered`` (else it is held, not queued)."""
        self.audit_event("consent.confirmed", job_id=job.id, method="inbox_consent_covered")
        self._queued(job)

    def _audit_drafted(self, d: dict[str, Any]) -> None:
        """A job's note was drafted (not sent when a retry found an earlier attempt's note)."""
        from hushnote.daemon.models import registry as models

        speech = str(d.get("speech_model") or "")
        known = {models.TINY_EN: models.TINY_EN_SHA256, models.BASE: models.BASE_SHA256}
        facts = {"job_id": d.get("id"), "engine": d.get("engine"), "template": d.get("template"),
                 "model": d.get("model"), "model_sha256": d.get("model_sha256"), "speech_model": speech,
                 "speech_model_sha256": known.get(speech), "unverified": d.get("unverified"),
                 "risk_quotes": d.get("risk_quotes")}
        self.audit_event("draft.made", **{k: v for k, v in facts.items() if v not in (None, "")})

    def _ipc_server(self, where: Path, router: Any, server_cls: Any) -> Any:
        """Check the socket's folder and file before binding (refuse a folder other users can change or
        do not own, and a socket someone else owns); then only this user's processes may connect."""
        if sys.platform == "win32":  # loopback TCP with a per-start token file (ipc.transport)
            return server_cls(where, router).start()
        from hushnote.ipc import peercred

        if where.parent.exists() or where.parent.is_symlink():
            peercred.check_socket_path(where)
        server = server_cls(where, router, peer_check=peercred.same_user).start()
        try:
            peercred.check_socket_path(where)  # the folder the transport just made, and our socket in it
        except BaseException:
            server.close()
            raise
        return server

    def _queued(self, job: Job) -> None:
        if self.workers is not None:
            self.workers.notify()

    def _event(self, event: str, data: dict[str, Any]) -> None:
        if event == "job.done" and self.recording is not None:
            self.recording.forget(str(data.get("id")))
        if event == "job.done" and self.retention is not None:
            self.retention.poke()
        if event == "job.drafted":
            self._audit_drafted(data)
        if self.server is not None:
            self.server.publish(event, data)

    # -------------------------------------------------------------------- IPC ops (quick: listener thread)

    def _s(self) -> Store:
        if self.store is None:
            from hushnote.ipc.protocol import IpcError

            raise IpcError("internal", "The hushnote service is stopping.")
        return self.store

    def status(self) -> dict[str, Any]:
        store = self._s()
        nxt = self.retention.next_due() if self.retention is not None else None
        running = self.workers.running() if self.workers is not None else []
        return {
            "state": "paused" if self.workers is not None and self.workers.paused else "running",
            "pid": os.getpid(),
            "version": __version__,
            "queue": store.counts(),
            "current": running[0] if running else None,
            "running": running,
            "failed_recent": self._failed_recent(store),
            "next_retention": iso(nxt) if nxt is not None else None,
            "failed_audio_kept": store.failed_audio_kept(),
            "guard": self._guard_status(),
            "recording": self.recording.status() if self.recording is not None else None,
        }

    def _failed_recent(self, store: Store) -> list[dict[str, Any]]:
        """The last few failures (``FAILED_SHOWN`` within ``FAILED_SHOWN_DAYS``), newest first, as ``job.done``
        events describe them: the tray lists them with Retry and Show report."""
        since = store.clock() - dt.timedelta(days=FAILED_SHOWN_DAYS)
        return [done_event(job, self.notes_dir) for job in store.recent_failed(since, FAILED_SHOWN)]

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
        if self.recording is not None:
            self.recording.forget(job.id)
        return {"id": job.id, "state": job.state}

    def delete(self, id: str) -> dict[str, Any]:  # noqa: A002
        """``hushnote delete ID``: the job's audio, now; encrypted audio is crypto-shredded (key first)."""
        from hushnote.ipc.protocol import IpcError

        if self.retention is None:
            raise IpcError("internal", "The hushnote service is stopping.")
        try:
            receipt = self.retention.delete_now(id)
        except JobNotFound as exc:
            raise IpcError("not_found", exc.message) from None
        except JobConflict as exc:
            raise IpcError("conflict", f"{exc.message} {exc.hint}".strip()) from None
        except OSError as exc:
            raise IpcError("internal", f"The audio could not be deleted ({type(exc).__name__}).") from None
        if receipt is not None:
            self.audit_event("deletion.receipt", job_id=id, kind="audio", reason="user")
        return {"id": id, "deleted": receipt is not None}

    @staticmethod
    def _call(fn: Callable[[str], Job], job_id: str) -> Job:
        from hushnote.ipc.protocol import IpcError

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
