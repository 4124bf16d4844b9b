"""The recorder inside the service: the ``record.*`` IPC ops, the crash-safe hand-off of a finished
recording to the queue, the audit entries, and the live transcript given to the worker.

Hand-off (``hand_off``, called by the recorder after Stop and by ``recover()`` at start), like an inbox
ingest: a job row ``ingesting`` with its store path is committed first, then the assembled file is moved
into the store (``os.replace``), then the row becomes ``queued``. The recording's folder is only cleaned
after ``hand_off`` returned (``chunks.hand_off_and_clean``). A crash at any instant therefore
leaves either the file in the recordings folder and no live row (``reconcile_ingesting`` drops a row whose
file was not moved; recovery hands the file over again), or the file in the store with its row (queued at
start; recovery sees the file gone and only cleans up): never lost, never queued twice. The service runs
``Store.reconcile_ingesting`` before ``recover()`` for that reason.

Live transcription: with ``recording.live_transcription`` each recording gets a ``LiveTranscriber`` that
transcribes completed windows while the session goes on. It is kept by recording id, then by job id once
the recording is queued; the worker asks ``transcript_for(job, progress)`` and uses the live transcript
(labelling its speakers from the voice windows embedded while recording, or, for two channels, from the
file's channels) when it is complete and covers the whole file, else (a failed window, a restart of the
service, a transcript that does not cover the recording) it transcribes the file as usual. The windows are
transcribed in a model process of their own (``hushnote.daemon.runner.process``), started at the first window and
stopped when the live transcription ends: the service process itself never loads a speech model.

Logs and events carry recording ids, job ids, numbers and reasons only (no paths, no names, no text).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from hushnote.daemon.core.config import Config
from hushnote.daemon.core.datatypes import Progress
from hushnote.daemon.jobs.inbox import move_file
from hushnote.daemon.jobs.store import Job, Store
from hushnote.daemon.notes.pipeline import LiveTranscript
from hushnote.daemon.recording.chunks import RecordingStore
from hushnote.daemon.recording.live import LiveTranscriber
from hushnote.daemon.recording.recorder import Recorder, RecorderError
from hushnote.daemon.runner.process import ModelRunner

log = logging.getLogger("hushnote.recording")

SOURCES = ("cli", "tray")
EventSink = Callable[[str, dict[str, Any]], None]


def recording_name(rec_id: str) -> str:
    """The name a recording's note and transcript are given: ``Session 2025-01-02 14-05.flac`` (local
    time of the start, read from the id ``rec-YYYYmmddTHHMMSSZ-xxxxxx``); the id itself if unreadable."""
    try:
        started = dt.datetime.strptime(rec_id.split("-")[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except (IndexError, ValueError):
        return f"{rec_id}.flac"
    return f"Session {started.astimezone():%Y-%m-%d %H-%M}.flac"


class _Live:
    """A ``LiveTranscriber`` as the recorder's window consumer; ``ended`` is called after its last window."""

    def __init__(self, live: LiveTranscriber, ended: Callable[[], None]) -> None:
        self.live = live
        self.on_ended = ended
        self.seconds: float | None = None  # the saved recording's length (set at the hand-off)
        self.ended = threading.Event()  # the last window was handled, or live transcription was interrupted

    def on_window(self, samples: np.ndarray, offset_s: float) -> None:
        self.live.on_window(samples, offset_s)

    def on_end(self, duration_s: float, complete: bool) -> None:
        try:
            self.live.on_end(duration_s, complete)
        finally:
            self.ended.set()
            self.on_ended()

    def speech_chunks(self, samples: np.ndarray) -> list[dict[str, int]]:
        """Where the recorder may end a window (see ``cuts.pick_cut``)."""
        return self.live.speech_chunks(samples)

    def done_s(self) -> float:
        return max((w["offset_s"] + w["seconds"] for w in self.live.windows), default=0.0)


class _InModelProcess:
    """``LiveTranscriber``'s transcriber, in a model process of its own (``hushnote.daemon.runner.process``): the service
    process never loads a speech model, so it is as small after a recording as before one."""

    def __init__(self, runner: ModelRunner, cfg: Config) -> None:
        self.runner = runner
        self.cfg = cfg

    def transcribe_window(self, samples: np.ndarray, source: str) -> LiveTranscript:
        with self.runner.lock:
            return self.runner.transcribe_window(samples, self.cfg, source=source)

    def speech_chunks(self, samples: np.ndarray) -> list[dict[str, int]]:
        with self.runner.lock:
            return self.runner.speech_chunks(samples)


class RecordingControl:
    """Owns the service's ``Recorder``; its methods are the ``record.*`` ops (quick: listener thread)."""

    def __init__(self, cfg: Config, store: Store, notes_dir: Path, *, publish: EventSink,
                 audit: Callable[..., None], queued: Callable[[Job], None], is_paused: Callable[[], bool],
                 recorder_kw: dict[str, Any] | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.notes_dir = notes_dir
        self.publish = publish
        self.audit = audit
        self.queued = queued
        self.is_paused = is_paused
        self._lock = threading.Lock()
        self._runner: ModelRunner | None = None  # live transcription's model process, made on first use
        self._live: dict[str, _Live] = {}  # recording id, then job id -> live transcription
        self._job_of: dict[str, str] = {}  # recording id -> job id (until record.stopped is published)
        self._source = "cli"
        self._pending: _Live | None = None
        self.recorder = Recorder(cfg, on_event=self._on_event, on_finished=self.hand_off,
                                 consent_hook=self._consent, **(recorder_kw or {}))

    # ------------------------------------------------------------------ lifecycle

    def recover(self) -> list[Path]:
        """Queue recordings a crash left unfinished (call after ``Store.reconcile_ingesting``)."""
        found = self.recorder.recover()
        if found:
            log.info("%d interrupted recording(s) recovered and queued", len(found))
        return found

    def close(self) -> None:
        """Stop a running recording (it is saved and queued), end live transcription."""
        self.recorder.close()
        with self._lock:
            self._live.clear()
        self._stop_runner(kill_busy=True)

    def _live_transcriber(self) -> _InModelProcess:
        with self._lock:
            if self._runner is None:
                from hushnote.daemon.privacy.audit import FILENAME as AUDIT_LOG

                self._runner = ModelRunner(guard=bool(self.cfg["guard.enabled"]),
                                           audit_log=self.cfg.path("paths.data") / AUDIT_LOG)
            return _InModelProcess(self._runner, self.cfg)

    def _stop_runner(self, kill_busy: bool = False) -> None:
        """End the live model process (all its memory goes back); one in the middle of a window is left to
        finish, or killed with ``kill_busy`` (the service is closing)."""
        if self._runner is not None and self._runner.stop_if_idle(kill_busy):
            log.info("live transcription ended; its model process was stopped")

    # ------------------------------------------------------------------ IPC ops

    def start(self, consent_confirmed: bool = False, source: str = "cli") -> dict[str, Any]:
        from hushnote.ipc.protocol import IpcError

        if source not in SOURCES:
            raise IpcError("bad_request", f"'record.start': source must be one of {', '.join(SOURCES)}.")
        live = None
        if bool(self.cfg["recording.live_transcription"]):
            live = _Live(LiveTranscriber(self.cfg, transcriber=self._live_transcriber()), self._live_ended)
        with self._lock:
            self._source, self._pending = source, live
        try:
            st = self.recorder.start(consent_confirmed, window_consumer=live)
        except RecorderError as exc:
            with self._lock:
                for k in [k for k, v in self._live.items() if v is live and live is not None]:
                    del self._live[k]
            raise IpcError("conflict", str(exc)) from None
        finally:
            with self._lock:
                self._pending = None
        return {**st, "paused": self.is_paused()}

    def stop(self) -> dict[str, Any]:
        from hushnote.ipc.protocol import IpcError

        try:
            self.recorder.stop(wait=False)
        except RecorderError as exc:
            raise IpcError("conflict", str(exc)) from None
        st = self.recorder.status()
        return {"id": st["id"], "recording": False, "state": st["state"], "elapsed_s": st["elapsed_s"]}

    def status(self) -> dict[str, Any]:
        return {**self.recorder.status(), "require_consent": bool(self.cfg["recording.require_consent"]),
                "live_transcription": bool(self.cfg["recording.live_transcription"])}

    # ------------------------------------------------------------------ recorder callbacks

    def _live_ended(self) -> None:
        """A live transcription has its last window: end its model process unless a new recording uses it."""
        if self.recorder.status()["state"] in ("idle", "finalising"):
            self._stop_runner()

    def _consent(self, rec_id: str, confirmed: bool) -> None:
        """Called by ``Recorder.start`` with the new id before any audio is captured."""
        with self._lock:
            source, live = self._source, self._pending
            if live is not None:
                self._live[rec_id] = live
        if confirmed:
            self.audit("consent.confirmed", recording_id=rec_id, method=source)

    def hand_off(self, path: Path, rec_id: str) -> None:
        """Queue an assembled recording (see the module docstring: row, move, queued)."""
        job = self.store.begin_ingest("recording", path, recording_name(rec_id), self.notes_dir)
        try:
            move_file(path, Path(job.store_path))
        except BaseException:
            self.store.drop_ingest(job.id)  # the file is still where it was: recovery retries it
            raise
        self.store.finish_ingest(job.id)
        with self._lock:
            live = self._live.pop(rec_id, None)
            if live is not None:
                self._live[job.id] = live
                seconds = RecordingStore(path.parent, rec_id).read_meta().get("seconds")
                live.seconds = float(seconds) if isinstance(seconds, int | float) else None
            self._job_of[rec_id] = job.id
        log.info("recording %s queued as job %s", rec_id, job.id)
        self.queued(self.store.get(job.id) or job)

    def _on_event(self, event: str, data: dict[str, Any]) -> None:
        rec_id = str(data.get("id") or "")
        if event == "record.started":
            device = re.sub(r"[^\w.+:-]+", "_", str(data.get("device") or "default"), flags=re.ASCII).strip("_")
            self.audit("recording.start", recording_id=rec_id, device=device[:64] or "default", durable=True)
        elif event == "record.stopped":
            seconds = float(data.get("seconds") or 0.0)
            reason = str(data.get("reason") or "")
            self.audit("recording.stop", recording_id=rec_id, duration_s=round(seconds, 1), reason=reason)
            with self._lock:
                job_id = self._job_of.pop(rec_id, None)
            data = {k: v for k, v in data.items() if k != "path"}  # a path is no business of a client
            data["job_id"] = job_id
            log.info("recording %s stopped (%s, %.0f s)", rec_id, reason or "user", seconds)
        self.publish(event, data)

    # ------------------------------------------------------------------ the worker's hook

    def forget(self, job_id: str) -> None:
        """The job finished or was cancelled: drop its live transcript (if any)."""
        with self._lock:
            self._live.pop(job_id, None)

    def transcript_for(self, job: Job, progress: Progress) -> LiveTranscript | None:
        """The live transcript of a recording job (with its word times and voice windows when speakers are
        wanted: the worker labels them), waiting for it to catch up; None = transcribe the file."""
        if job.kind != "recording":
            return None
        with self._lock:
            live = self._live.pop(job.id, None)
        if live is None:
            return None
        while not live.ended.wait(0.5):  # catching up after Stop; progress() releases the job on shutdown
            total = live.seconds or 0.0
            progress("transcribe", min(0.99, live.done_s() / total) if total else 0.0, "")
        try:
            got = live.live.finish_live(0)
        except RecorderError as exc:
            log.info("job %s: live transcript not usable (%s); transcribing the file", job.id, type(exc).__name__)
            return None
        if live.seconds is None or abs(got.transcript.duration - live.seconds) > 0.5:
            log.info("job %s: live transcript does not cover the recording; transcribing the file", job.id)
            return None
        progress("transcribe", 1.0, "")
        log.info("job %s: using the transcript made while recording", job.id)
        return got
