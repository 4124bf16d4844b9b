"""Job-store helpers: jobs in a given state, ``Rig`` (a store + workers) and ``InboxRig`` (a store + the inbox's
ingestor) on a temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hushnote.daemon.core.config import Config
from hushnote.daemon.jobs.inbox import InboxWatcher, Ingestor
from hushnote.daemon.jobs.store import Store
from hushnote.daemon.service.workers import Workers

from tests.support.config import make_cfg

# tiny.en, and one job at a time: the worker tests check order and attempts
RIG_SETTINGS = {"transcription__model": "tiny.en", "drafting__min_words": 5, "worker__count": 1}


def done_job(store: Store, cfg: Config, name: str) -> tuple[str, Path, Path, Path]:
    notes = cfg.path("paths.notes")
    notes.mkdir(parents=True, exist_ok=True)
    job = store.begin_ingest("inbox", Path("/nowhere") / name, name, notes)
    store.finish_ingest(job.id)
    assert store.claim("w", 60) is not None
    stem = job.stem
    note, tr, audio = notes / f"{stem}.note.md", notes / f"{stem}.transcript.md", notes / f"{stem}{job.ext}"
    for p in (note, tr, audio):
        p.write_text("x")
    assert store.complete(job.id, note_path=note, transcript_path=tr, audio_path=audio)
    return job.id, note, tr, audio


def failed_job(store: Store, cfg: Config, name: str) -> tuple[str, Path]:
    failed = cfg.path("paths.inbox") / "failed"
    failed.mkdir(parents=True, exist_ok=True)
    job = store.begin_ingest("inbox", Path("/nowhere") / name, name, cfg.path("paths.notes"))
    store.finish_ingest(job.id)
    store.claim("w", 60)
    audio = failed / name
    audio.write_text("a")
    store.set_audio_path(job.id, audio)
    store.fail(job.id, "input_error: x")
    return job.id, audio


class Rig:
    def __init__(self, tmp: Path, **overrides: Any) -> None:
        self.cfg = make_cfg(tmp, **{**RIG_SETTINGS, **overrides})
        self.notes = self.cfg.path("paths.notes")
        self.inbox = self.cfg.path("paths.inbox")
        for d in (self.notes, self.inbox):
            d.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.cfg.path("paths.data") / "q.db")
        self.events: list[tuple[str, dict[str, Any]]] = []

    def queued_job(self, src: Path, name: str | None = None, kind: str = "inbox") -> str:
        name = name or src.name
        staged = self.inbox.parent / "staging" / name
        staged.parent.mkdir(exist_ok=True)
        shutil.copy(src, staged)
        job = self.store.begin_ingest(kind, staged, name, self.notes)
        staged.replace(job.store_path)
        self.store.finish_ingest(job.id)
        return job.id

    def workers(self, **kw: Any) -> Workers:
        return Workers(self.store, self.cfg, on_event=lambda e, d: self.events.append((e, d)), **kw)

    def state(self, job_id: str) -> str:
        j = self.store.get(job_id)
        return j.state if j else "?"


class InboxRig:
    """A job store and an ingestor on ``root``/Inbox, Notes and data; ``queued`` lists the jobs it queued."""

    def __init__(self, root: Path) -> None:
        self.inbox, self.notes, self.data = root / "Inbox", root / "Notes", root / "data"
        for d in (self.inbox, self.notes, self.data):
            d.mkdir(parents=True)
        self.store = Store(self.data / "q.db")
        self.queued: list[str] = []
        self.ingestor = Ingestor(self.store, self.inbox, self.notes, on_queued=lambda j: self.queued.append(j.id))

    def watcher(self, **kw: Any) -> InboxWatcher:
        """A watcher with short real-time settle periods (``kw`` overrides them, or sets ``clock``)."""
        return InboxWatcher(self.ingestor, **{"settle_s": 1.0, "settle_closed_s": 0.3, "poll_s": 0.05, **kw})

    def store_files(self) -> list[Path]:
        return sorted((self.data / "store").iterdir())


def queued_job(store: Store, tmp_path: Path, name: str, kind: str = "inbox") -> str:
    """A queued job for ``name`` (no file is needed for the store's own tests); its id."""
    notes = tmp_path / "Notes"
    job = store.begin_ingest(kind, tmp_path / name, name, notes)
    store.finish_ingest(job.id)
    return job.id
