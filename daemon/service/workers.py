"""Pipeline workers: claim a job, run audio → transcript → note, put the outputs and the audio in place.

One thread per ``worker.count`` (default 2: on 2 cores, two files at once are ~2x faster than one at a time
with both cores, because beam search gains little from a second thread; see docs/BENCHMARKS.md). ``Workers``
is a context manager; each thread (``core.threads.BackgroundThread``) stops on a sentinel from its wake queue.
Models load on the first job, stay loaded while work remains, and are unloaded after ``models.idle_unload_s``
without work (timed on the service's scheduler, ``core.schedule``). In the service (``model_process``), each
worker runs that model work in its own child process (``hushnote.daemon.runner.process``), and "unloaded"
means the child exits, so the service never holds model memory (live transcription has a model process of its
own: ``recording.controller``). Used in-process (tests, a library caller), the models load in this process
and ``_unload_models`` frees them. With several workers and ``threads = 0``, each model process gets an equal
share of the cores.

A job, step by step (each step safe to repeat after a crash)::

    claim (lease) → transcribe → draft → write transcript, then note (atomic, at the reserved stem,
    unique=False) → record the audio's new place → move the audio beside the note → done

A retry after a crash finds its own note at the reserved stem and only finishes the remaining steps, so a
job never makes a second note. Bad input (``InputError``, ``TooLittleSpeech``) fails the job at once:
the audio goes to ``Inbox/failed/`` (kept, never deleted there except by ``retention.max_audio_days``) and
an error report ``Notes/<stem>.error.txt`` is written. An unexpected error counts an attempt; after
``store.MAX_ATTEMPTS`` the job fails the same way. A graceful stop releases the current job (queued again,
no attempt counted) at the next progress callback.

Logs carry job ids and exception class names only: never file names, paths or transcript text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hushnote.daemon.core.config import Config
from hushnote.daemon.core.crashpoints import crashpoint
from hushnote.daemon.core.datatypes import Note, Transcript
from hushnote.daemon.core.errors import HushnoteError, InputError, ModelError, TooLittleSpeech
from hushnote.daemon.core.paths import ERROR_SUFFIX, NOTE_SUFFIX, TRANSCRIPT_SUFFIX
from hushnote.daemon.core.schedule import Scheduler
from hushnote.daemon.core.threads import BackgroundThread
from hushnote.daemon.jobs.inbox import FAILED_DIR, move_file, unique_path, write_error_report
from hushnote.daemon.jobs.reasons import plain_reason
from hushnote.daemon.jobs.store import Job, Store
from hushnote.daemon.notes import pipeline, subtitles
from hushnote.daemon.privacy.vault import encrypted_name, is_encrypted
from hushnote.daemon.runner.process import ModelRunner, RunnerCrashed
from hushnote.daemon.service.progress import JobProgress

if TYPE_CHECKING:
    from hushnote.daemon.privacy.vault import Vault

log = logging.getLogger("hushnote.worker")

EventSink = Callable[[str, dict[str, Any]], None]
LEASE_S = 120.0
POLL_S = 30.0
JOB_UNLOAD = "models.idle_unload"
_STOP = object()
_WAKE = object()


class _Released(Exception):  # noqa: N818 - control flow, not an error
    """Raised from the progress callback when the service is stopping: the job goes back to the queue."""


def _no_event(event: str, data: dict[str, Any]) -> None:
    return None


def locate_audio(job: Job, notes: Path) -> Path | None:
    """Where the job's audio is now: the recorded place, the store, or already beside the note (encrypted
    ``NAME.wav.hushnote``, or ``NAME.wav`` as older versions named it)."""
    beside = f"{job.stem}{job.ext}"
    for p in (job.audio_path, job.store_path, str(notes / encrypted_name(beside)), str(notes / beside)):
        if p and os.path.lexists(p):
            return Path(p)
    return None


def kept_name(name: str, audio: Path) -> str:
    """The name audio is kept under where the clinician sees it: ``NAME.wav.hushnote`` when it is encrypted."""
    return encrypted_name(name) if is_encrypted(audio) else name


def done_event(job: Job, notes: Path, drafted: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``job.done`` event for a finished job: ``{id, state, session}`` plus, when failed, ``reason``
    (plain words), ``retryable`` and ``report`` (the error report's path, if there is one); when done,
    ``note`` (its path), ``empty`` (True: no section of the note had anything from the session; None: not
    known, e.g. a retry that found an earlier attempt's note) and any ``warning`` (e.g. the audio ended
    early: times only). Local subscribers only: never logged."""
    data: dict[str, Any] = {"id": job.id, "state": job.state, "session": job.stem or None}  # "": names forgotten
    if job.state == "failed":
        data["reason"] = plain_reason(job.last_error)
        data["retryable"] = job.retryable
        report = notes / f"{job.stem}{ERROR_SUFFIX}"
        data["report"] = str(report) if report.exists() else None
    if job.state == "done":
        data["note"] = job.note_path
        data["empty"] = drafted.get("empty") if drafted else None
        if job.warning:
            data["warning"] = job.warning
    return data


def file_failed_job(store: Store, job: Job, cfg: Config, what: str, hint: str) -> Path | None:
    """Put a failed job's audio into ``Inbox/failed/`` (kept) and write its error report.
    Call before or after ``store.fail``; safe to repeat."""
    notes = cfg.path("paths.notes")
    failed_dir = cfg.path("paths.inbox") / FAILED_DIR
    audio = locate_audio(job, notes)
    kept = audio
    if audio is not None and audio.parent != failed_dir:
        failed_dir.mkdir(parents=True, exist_ok=True)
        kept = unique_path(failed_dir, kept_name(job.original_name.replace("/", "_") or f"{job.id}{job.ext}", audio))
        store.set_audio_path(job.id, kept)
        move_file(audio, kept)
    fresh = store.get(job.id) or job
    write_error_report(notes, fresh, what, hint, kept)
    return kept


def _remove_stale_temps(notes: Path, stem: str) -> None:
    """Temp files a killed earlier attempt left while writing this job's outputs (hidden ``.name.*.tmp``)."""
    prefixes = tuple(f".{stem}{s}." for s in (NOTE_SUFFIX, TRANSCRIPT_SUFFIX))
    try:
        names = os.listdir(notes)
    except OSError:
        return
    for name in names:
        if name.startswith(prefixes) and name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                (notes / name).unlink()


def _unload_models() -> None:
    """Drop loaded models (only modules already imported: nothing heavy is imported to unload)."""
    tr = sys.modules.get("hushnote.daemon.speech.transcribe")
    if tr is not None and hasattr(tr, "unload_all"):
        tr.unload_all()
    for name in ("hushnote.daemon.drafting.engine", "hushnote.daemon.drafting.llm"):
        mod = sys.modules.get(name)
        fn = getattr(mod, "unload_all", None) or getattr(mod, "unload", None)
        if callable(fn):
            with contextlib.suppress(Exception):
                fn()
    gc.collect()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)  # give freed model memory back to the OS


class Workers:
    """The pipeline worker threads of the service."""

    def __init__(self, store: Store, cfg: Config, *, count: int | None = None, on_event: EventSink = _no_event,
                 lease_s: float = LEASE_S, idle_unload_s: float | None = None,
                 progress_interval_s: float = 0.5, vault: Vault | None = None, scheduler: Scheduler | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.cfg = cfg
        self.count = int(count if count is not None else cfg["worker.count"])
        self.on_event = on_event
        self.lease_s = lease_s
        self.idle_unload_s = float(idle_unload_s if idle_unload_s is not None else cfg["models.idle_unload_s"])
        self.progress_interval_s = progress_interval_s
        self.vault = vault  # hushnote.daemon.privacy.vault.Vault: opens encrypted audio in memory; writes notes if notes.encrypt
        self._vault_kw: dict[str, Any] = {"vault": vault} if vault is not None else {}
        self.notes = cfg.path("paths.notes")
        self._wake: queue.Queue[object] = queue.Queue()
        self._stopping = threading.Event()
        self._threads: list[BackgroundThread] = []
        self._lock = threading.Lock()
        self._unload_lock = threading.Lock()
        self._current: dict[str, dict[str, Any]] = {}  # owner -> {id, kind, stage, fraction, session}
        self._paused = store.is_paused()
        self._loaded = False
        self.monotonic = monotonic
        self._last_work = monotonic()
        # the idle unload is timed by the service's scheduler, or by one of our own (tests, a library user)
        self._own_scheduler = scheduler is None
        self.scheduler = scheduler if scheduler is not None else Scheduler()
        self._busy = 0
        self._drafted: dict[str, dict[str, Any]] = {}  # job id -> the job.drafted event's facts (audit)
        # recorder: the transcript made while recording, if usable (else None: transcribe the file)
        self.transcript_for: Callable[[Job, Callable[..., None]], pipeline.LiveTranscript | None] | None = None
        # True (the service): each worker runs its models in its own child process (hushnote.daemon.runner.process), which
        # is stopped after idle_unload_s, so the idle service never holds model memory. False: in-process.
        self.model_process = False
        self._runners: dict[str, ModelRunner] = {}

    # -------------------------------------------------------------------- lifecycle

    def start(self) -> Workers:
        if self._own_scheduler:
            self.scheduler.start()
        for i in range(self.count):
            owner = f"{os.getpid()}-{i}"
            self._threads.append(BackgroundThread(f"hushnote-worker-{i}", functools.partial(self._run, owner),
                                                  wake=functools.partial(self._wake.put, _STOP),
                                                  stopping=self._stopping).start())
        return self

    def close(self, timeout: float = 30.0) -> bool:
        """Stop: the current job is released at its next progress report (or finishes first).
        Returns False if a worker did not stop in time (its job is then released here)."""
        self._stopping.set()
        self.scheduler.cancel(JOB_UNLOAD)
        for t in self._threads:
            t.stop()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in self._threads if t.alive]
        if alive:
            with self._lock:
                running = list(self._current.items())
            for owner, cur in running:
                self.store.release(cur["id"], owner)
                log.warning("job %s: released while its worker was still busy", cur["id"])
        self._threads = alive
        if self._own_scheduler:
            self.scheduler.close()
        with self._unload_lock:  # an idle unload running now on the scheduler finishes first
            self._stop_runners(kill_busy=bool(alive))
            if self._loaded and not self._threads:
                _unload_models()
                self._loaded = False
        return not alive

    def __enter__(self) -> Workers:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def notify(self) -> None:
        """New work may be waiting."""
        for _ in range(max(1, self.count)):
            self._wake.put(_WAKE)

    # -------------------------------------------------------------------- control

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        self.store.set_paused(True)
        self._paused = True
        self.on_event("state", {"state": "paused"})

    def resume(self) -> None:
        self.store.set_paused(False)
        self._paused = False
        self.on_event("state", {"state": "running"})
        self.notify()

    def current(self) -> dict[str, Any] | None:
        """The first running job (``running()`` lists them all)."""
        jobs = self.running()
        return jobs[0] if jobs else None

    def running(self) -> list[dict[str, Any]]:
        """Every running job: ``{id, kind, stage, fraction, session}``; ``fraction`` is the whole job's share
        done (``hushnote.daemon.service.progress``), ``session`` its note's name (local display only)."""
        with self._lock:
            jobs = sorted(self._current.values(), key=lambda c: float(c["started"]))
            return [{k: v for k, v in cur.items() if k != "started"} for cur in jobs]

    def idle(self) -> bool:
        with self._lock:
            return not self._current

    @property
    def models_loaded(self) -> bool:
        return self._loaded

    # -------------------------------------------------------------------- the thread

    def _run(self, owner: str) -> None:
        while not self._stopping.is_set():
            job = None
            if not self._paused:
                try:
                    job = self.store.claim(owner, self.lease_s)
                except Exception as exc:  # noqa: BLE001 - e.g. a locked database: try again shortly
                    log.error("claiming a job failed (%s)", type(exc).__name__)
            if job is not None:
                self._work(owner, job)
                continue
            try:
                token = self._wake.get(timeout=POLL_S)  # a safety net: wake-ups are the normal path
            except queue.Empty:
                token = None
            if token is _STOP:
                break

    # -------------------------------------------------------------------- idle unload (on the scheduler)

    def _plan_unload(self) -> None:
        if not self._stopping.is_set():
            self.scheduler.after(JOB_UNLOAD, self._last_work + self.idle_unload_s - self.monotonic(),
                                 self.unload_if_idle)

    def unload_if_idle(self) -> bool:
        """Unload the models (end the model processes) once no job has run for ``idle_unload_s``; if that
        time is not up yet, look again when it is. True if they were unloaded now."""
        with self._unload_lock:
            with self._lock:
                busy = bool(self._current)
            if busy or not self._loaded or self._stopping.is_set():
                return False  # a job running now plans the next look when it ends
            if self.monotonic() - self._last_work < self.idle_unload_s:
                self._plan_unload()
                return False
            _unload_models()
            self._stop_runners()
            self._loaded = False
        log.info("models unloaded after %.0f s idle", self.idle_unload_s)
        return True

    def _work(self, owner: str, job: Job) -> None:
        with self._lock:
            self._current[owner] = {"id": job.id, "kind": job.kind, "stage": "start", "fraction": 0.0,
                                    "session": job.stem, "started": time.monotonic()}
        log.info("job %s: started (attempt %d)", job.id, job.attempts + 1)
        self._loaded = True
        state = "queued"
        try:
            state = self._process(owner, job)
        except _Released:
            self.store.release(job.id, owner)
            log.info("job %s: released (service stopping)", job.id)
        except (InputError, TooLittleSpeech) as exc:
            code = "too_little_speech" if isinstance(exc, TooLittleSpeech) else "input_error"
            state = self._fail(job, code, exc)
        except ModelError as exc:
            self.store.release(job.id, owner)
            log.error("job %s: the speech model is not usable (%s); processing paused until `hushnote resume`",
                      job.id, type(exc).__name__)
            self.pause()
        except Exception as exc:  # noqa: BLE001 - one job's bug must not stop the service
            state = self.store.fail_attempt(job.id, f"internal: an unexpected {type(exc).__name__} while processing")
            log.error("job %s: attempt failed (%s); now %s", job.id, type(exc).__name__, state)
            if state == "failed":
                with contextlib.suppress(Exception):
                    file_failed_job(self.store, self.store.get(job.id) or job, self.cfg,
                                    f"processing failed {job.attempts + 1} times with an unexpected error.",
                                    "Try again with `hushnote retry`, or report this to support "
                                    "with the hushnote log.")
        finally:
            with self._lock:
                self._current.pop(owner, None)
            self._last_work = self.monotonic()
            self._plan_unload()
        drafted = self._drafted.pop(job.id, None)
        if state in ("done", "failed"):
            if drafted and state == "done":  # what was used to draft it (no PHI): the audit log's draft.made
                self.on_event("job.drafted", {"id": job.id, **drafted})
            self.on_event("job.done", done_event(self.store.get(job.id) or job, self.notes, drafted))

    def _transcribe_and_draft(self, owner: str, job: Job, audio: Path, live: pipeline.LiveTranscript | None,
                              progress: Callable[..., None]) -> tuple[Transcript, Note]:
        """The model work of a job: here, or (``model_process``) in this worker's model process. ``live``: the
        transcript made while recording (its speakers are labelled here, from its voice windows)."""
        voiceprint = pipeline.enrolled_voiceprint(self.cfg, self.vault)
        if not self.model_process:
            if live is None:  # not a recording transcribed live: transcribe the file
                transcript = pipeline.transcribe_file(audio, self.cfg, progress, **self._vault_kw,
                                                      voiceprint=voiceprint)
            else:
                transcript = pipeline.label_recorded(audio, live.transcript, self.cfg, live.voices,
                                                     progress=progress, voiceprint=voiceprint, **self._vault_kw)
            transcript = dataclasses.replace(transcript, source=job.original_name)
            return transcript, pipeline.draft_note(transcript, self.cfg, progress=progress)
        runner = self._runners.get(owner)
        if runner is None:
            from hushnote.daemon.privacy.audit import FILENAME as AUDIT_LOG

            runner = self._runners[owner] = ModelRunner(
                guard=bool(self.cfg["guard.enabled"]), audit_log=self.cfg.path("paths.data") / AUDIT_LOG)
        data_key = None
        if live is None or live.transcript.words:  # the child reads the file: an encrypted one needs its key
            from hushnote.daemon.privacy.at_rest import data_key_for

            data_key = data_key_for(self.vault, audio)
        with runner.lock:
            try:
                return runner.process(audio, self._job_cfg(), source=job.original_name, data_key=data_key,
                                      transcript=live.transcript if live else None, progress=progress,
                                      voiceprint=voiceprint, voices=live.voices if live else None)
            except RunnerCrashed:
                if self._stopping.is_set():
                    raise _Released() from None  # killed because the service is stopping
                raise

    def _job_cfg(self) -> Config:
        """Several workers share the cores for speech recognition: with transcription.threads = 0 (all
        cores), each gets cores / workers. (Beam search gains little from a second thread, much from a second
        file at once; drafting keeps all cores, since an llm does use them and drafts rarely overlap.)"""
        if self.count <= 1 or self.cfg["transcription.threads"]:
            return self.cfg
        return self.cfg.with_overrides(transcription__threads=max(1, (os.cpu_count() or 1) // self.count))

    def _stop_runners(self, kill_busy: bool = False) -> None:
        """Stop the idle model processes: they exit and give all their memory back. One still working is
        left alone, or killed with ``kill_busy`` (at close, a worker that did not stop in time)."""
        for runner in list(self._runners.values()):
            runner.stop_if_idle(kill_busy)  # a killed one: its worker then sees the end and lets go

    def _fail(self, job: Job, code: str, exc: HushnoteError) -> str:
        audio = locate_audio(job, self.notes)
        what = exc.message
        if audio is not None:  # the message names our store file; the user knows the original name
            what = what.replace(str(audio), job.original_name).replace(audio.name, job.original_name)
        file_failed_job(self.store, job, self.cfg, what, exc.hint or "Check the recording.")
        self.store.fail(job.id, f"{code}: the recording could not be made into a note")
        log.warning("job %s: failed (%s); audio kept in the inbox's failed folder", job.id, code)
        return "failed"

    def _progress_for(self, owner: str, job: Job) -> Callable[..., None]:
        """The pipeline's progress callback for one job: stage fractions become one whole-job fraction."""
        last_pub = [0.0]
        last_renew = [time.monotonic()]
        whole = JobProgress()

        def progress(stage: str, fraction: float, detail: str = "") -> None:
            if self._stopping.is_set():
                raise _Released()
            frac = round(whole.update(stage, float(fraction)), 4)
            with self._lock:
                cur = self._current.get(owner)
                if cur is not None:
                    stage_changed = cur["stage"] != stage
                    cur.update(stage=stage, fraction=frac)
            now = time.monotonic()
            if now - last_renew[0] >= self.lease_s / 3:
                self.store.renew(job.id, owner, self.lease_s)
                last_renew[0] = now
            if cur is not None and (stage_changed or now - last_pub[0] >= self.progress_interval_s or frac >= 1.0):
                last_pub[0] = now
                self.on_event("job.progress", {"id": job.id, "stage": stage, "fraction": frac, "session": job.stem})

        return progress

    def _process(self, owner: str, job: Job) -> str:
        notes = self.notes
        n_path = notes / f"{job.stem}{NOTE_SUFFIX}"
        t_path = notes / f"{job.stem}{TRANSCRIPT_SUFFIX}"
        audio = locate_audio(job, notes)
        beside = notes / f"{job.stem}{job.ext}"
        if audio is not None:
            beside = notes / kept_name(beside.name, audio)
        _remove_stale_temps(notes, job.stem)
        warning = None  # (a retry that finds its note already written does not know it again)
        if not (n_path.exists() and t_path.exists()):
            if audio is None:
                raise InputError(f"{job.original_name} is no longer where hushnote kept it.",
                                 "Put the recording into the inbox again.")
            progress = self._progress_for(owner, job)
            live = self.transcript_for(job, progress) if self.transcript_for is not None else None
            transcript, note = self._transcribe_and_draft(owner, job, audio, live, progress)
            self._drafted[job.id] = {"engine": note.engine, "template": note.template, "model": note.model,
                                     "model_sha256": note.model_sha256, "speech_model": transcript.model,
                                     "unverified": note.unverified_count, "risk_quotes": len(note.risk),
                                     "empty": not any(sec.sentences for sec in note.sections)}
            warning = pipeline.ended_early_warning(transcript)
            if warning:
                log.warning("job %s: the audio ended early; the note covers only that part", job.id)
            progress("write", 1.0, "")
            t_path, n_path = pipeline.write_outputs(transcript, note, notes, job.stem, unique=False,
                                                    vault=self.vault if self.cfg["notes.encrypt"] else None,
                                                    job_id=job.id)
            subtitles.write_exports(transcript, notes, job.stem, pipeline.configured_exports(self.cfg))
        # else: an earlier attempt wrote this job's note (the stem is reserved for it): finish the rest
        crashpoint("job.written")
        final = audio
        if audio is not None and audio.parent != notes:  # (already beside the note: left under its name)
            if not os.path.lexists(beside):
                self.store.set_audio_path(job.id, beside)
                move_file(audio, beside)
                final = beside
            # else: something else has that name: the audio stays where it is (retention still applies)
        crashpoint("job.moved")
        with contextlib.suppress(OSError):
            (notes / f"{job.stem}{ERROR_SUFFIX}").unlink()  # a stale report from an earlier failed attempt
        self.store.complete(job.id, note_path=n_path, transcript_path=t_path, audio_path=final, warning=warning)
        log.info("job %s: done", job.id)
        return "done"
