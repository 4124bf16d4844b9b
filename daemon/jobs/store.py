"""The job store: one SQLite database (WAL) holding the queue, and the only module that speaks SQL.

States::

    ingesting ──► queued ──claim──► running ──► done
                    ▲  ▲              │  │
                    │  └──release─────┘  ├──► failed   (bad input, or the 3rd interrupted/errored attempt)
                    │                    │
                    └──retry── failed / cancelled ◄──cancel── queued

``ingesting`` is internal: the row exists (with the target store path) *before* the file is moved out of
the inbox, so a crash at any instant leaves the file either in the inbox (row dropped at startup, the
inbox scan re-ingests it) or in the store with its row (row marked queued at startup). See
``reconcile_ingesting``.

Claims happen in one ``BEGIN IMMEDIATE`` transaction, so two connections (or processes) never claim the
same job. A claim carries a lease that the worker renews; ``recover_running`` puts jobs whose worker
died back in the queue with ``attempts + 1``; after ``MAX_ATTEMPTS`` such attempts the job fails.

Timestamps come from an injectable clock (``hushnote.daemon.core.datatypes.Clock``) and are stored as fixed-width UTC
ISO-8601 strings, so they sort and compare as text. The original file name is kept here only to name
the outputs; it is never logged. ``last_error`` holds an error code and generic text, never a name.

Names live no longer than the audio: the original name, the stem and every path that carries it are
cleared when the audio is deleted (``record_deletion``; only a transcript retention will still delete keeps
its path until then). ``secure_delete`` makes SQLite overwrite what it frees with zeros, and the WAL is
checkpointed and truncated after each such deletion, so the cleared bytes leave ``queue.db`` and
``queue.db-wal`` too. A database from before this is compacted once (``VACUUM``) to clear old free pages.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hushnote.daemon.core.datatypes import Clock, utc_now
from hushnote.daemon.core.errors import HushnoteError
from hushnote.daemon.core.paths import OUTPUT_SUFFIXES
from hushnote.daemon.jobs.reasons import plain_reason
from hushnote.daemon.privacy.vault import encrypted_name

MAX_ATTEMPTS = 3
PRIORITY = {"recording": 10, "inbox": 0}
KINDS = tuple(PRIORITY)
STATES = ("queued", "running", "done", "failed", "cancelled")

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,  -- FIFO order within a priority
    id             TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL,
    priority       INTEGER NOT NULL,
    state          TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    lease_owner    TEXT,
    lease_expires  TEXT,
    created        TEXT NOT NULL,
    updated        TEXT NOT NULL,
    finished       TEXT,            -- when it became done / failed / cancelled
    last_error     TEXT,            -- "code: generic text"; never a file name or transcript text
    original_name  TEXT NOT NULL,   -- only for naming outputs; never logged
    ext            TEXT NOT NULL,
    stem           TEXT NOT NULL,   -- reserved output stem in the notes folder
    source_path    TEXT,            -- where the file came from (inbox), while ingesting
    store_path     TEXT NOT NULL,   -- <data>/store/<id><ext>
    audio_path     TEXT,            -- where the audio is (or is being moved to) now
    note_path      TEXT,
    transcript_path TEXT,
    audio_deleted  TEXT,            -- when retention deleted (or found gone) the audio
    transcript_deleted TEXT,
    rejected       INTEGER NOT NULL DEFAULT 0, -- not audio: moved to Inbox/failed/, never deleted
    warning        TEXT             -- a done job's "code: generic text", e.g. the audio ended early; no name
);
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs(state, priority DESC, seq);
CREATE INDEX IF NOT EXISTS jobs_stem ON jobs(stem);
CREATE TABLE IF NOT EXISTS deletions (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id  TEXT NOT NULL,
    what    TEXT NOT NULL,          -- "audio" | "transcript"
    at      TEXT NOT NULL,
    why     TEXT NOT NULL           -- the rule, e.g. "retention.audio_days=3 after the note was written"
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""




class JobNotFound(HushnoteError):
    exit_code = 3


class JobConflict(HushnoteError):
    exit_code = 3


def iso(t: dt.datetime) -> str:
    """Fixed-width UTC ISO-8601 (sorts as text)."""
    if t.tzinfo is None:
        raise ValueError("naive datetime: the clock must return aware datetimes")
    return t.astimezone(dt.UTC).isoformat(timespec="microseconds")


def parse_iso(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s)


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


def safe_stem(name: str) -> str:
    """The output stem for an original file name: control characters and separators replaced."""
    stem = Path(name).stem if "." in name.lstrip(".") else name
    stem = "".join("_" if (ord(c) < 32 or c in "/\\\x7f") else c for c in stem).strip()
    return stem or "recording"


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    priority: int
    state: str
    attempts: int
    lease_owner: str | None
    lease_expires: str | None
    created: str
    updated: str
    finished: str | None
    last_error: str | None
    original_name: str
    ext: str
    stem: str
    source_path: str | None
    store_path: str
    audio_path: str | None
    note_path: str | None
    transcript_path: str | None
    audio_deleted: str | None
    transcript_deleted: str | None
    rejected: bool
    warning: str | None = None

    @property
    def retryable(self) -> bool:
        """Could ``retry`` take it back (failed or cancelled, real audio, not deleted)? Without checking the
        disk: ``Store.retry`` has the last word."""
        return self.state in ("failed", "cancelled") and not self.rejected and self.audio_deleted is None

    def public(self) -> dict[str, Any]:
        """The shape the ``queue`` IPC op returns: no paths. ``session`` (the note's name, from the original
        file's stem) is for local display only (the socket is this user's); it is never logged.
        ``error`` is the stored code and text, ``reason`` the same in plain words."""
        return {"id": self.id, "kind": self.kind, "state": self.state, "priority": self.priority,
                "attempts": self.attempts, "created": self.created, "updated": self.updated,
                "error": self.last_error, "warning": self.warning, "reason": plain_reason(self.last_error),
                "session": self.stem or None, "retryable": self.retryable}


@dataclass(frozen=True)
class Receipt:
    job_id: str
    what: str
    at: str
    why: str


_COLS = ("id", "kind", "priority", "state", "attempts", "lease_owner", "lease_expires", "created", "updated",
         "finished", "last_error", "original_name", "ext", "stem", "source_path", "store_path", "audio_path",
         "note_path", "transcript_path", "audio_deleted", "transcript_deleted", "rejected", "warning")
_SELECT = "SELECT " + ", ".join(_COLS) + " FROM jobs"  # noqa: S608 - fixed column names


def _job(row: tuple[Any, ...]) -> Job:
    d = dict(zip(_COLS, row, strict=True))
    d["rejected"] = bool(d["rejected"])
    return Job(**d)


class Store:
    """The queue database. Thread-safe (one connection behind a lock); open one per process or thread
    group. Several ``Store``s (connections) on one file are safe too: claims are serialised by SQLite."""

    def __init__(self, db_path: Path, *, store_dir: Path | None = None, clock: Clock = utc_now,
                 busy_timeout_s: float = 30.0) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.store_dir = Path(store_dir) if store_dir is not None else self.db_path.parent / "store"
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.db_path), timeout=busy_timeout_s, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA secure_delete=ON")  # freed bytes (a cleared name) are overwritten with zeros
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a committed transition survives power loss too
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            fresh = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'jobs'").fetchone() is None
            self._db.executescript(_SCHEMA)
            if "warning" not in {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}:
                self._db.execute("ALTER TABLE jobs ADD COLUMN warning TEXT")  # a database from before
            self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            if fresh:
                self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('secure_delete', '1')")
        self._compact_once()

    # ------------------------------------------------------------------------- plumbing

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> str:
        return iso(self.clock())

    def _compact_once(self) -> None:
        """A database made before ``secure_delete`` may hold old names in its free space: rebuild it once.
        Busy (another connection is reading): tried again at the next start."""
        with self._lock:
            if self._db.execute("SELECT 1 FROM meta WHERE key = 'secure_delete'").fetchone():
                return
            try:
                self._db.execute("VACUUM")
                self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('secure_delete', '1')")
            except sqlite3.OperationalError:
                return
        self.flush_wal()

    def flush_wal(self) -> bool:
        """Copy the WAL into ``queue.db`` and truncate it to 0 bytes, so bytes cleared there (a name) are gone
        from the WAL file too. False if a reader kept part of it (tried again after the next deletion)."""
        with self._lock:
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return not busy

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with ``BEGIN IMMEDIATE`` (the write lock up front)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _get(self, db: sqlite3.Connection, job_id: str) -> Job | None:
        row = db.execute(_SELECT + " WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def _require(self, db: sqlite3.Connection, job_id: str) -> Job:
        job = self._get(db, job_id)
        if job is None or job.state == "ingesting":
            raise JobNotFound(f"There is no job with the id {job_id[:40]!r}.",
                              "List the jobs with `hushnote queue`.")
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._get(self._db, job_id)

    # ------------------------------------------------------------------------- stems

    def _stem_taken(self, db: sqlite3.Connection, stem: str, ext: str, notes_dir: Path) -> bool:
        # a stem is taken by an unfinished job (its outputs are still to come) or by files on disk
        row = db.execute("SELECT 1 FROM jobs WHERE stem = ? AND state != 'done' LIMIT 1", (stem,)).fetchone()
        if row:
            return True
        names = [f"{stem}{s}" for s in OUTPUT_SUFFIXES]
        if ext:  # the audio beside the note: NAME.wav.hushnote (encrypted) or NAME.wav
            names += [f"{stem}{ext}", encrypted_name(f"{stem}{ext}")]
        return any(os.path.lexists(notes_dir / n) for n in names)

    def _reserve_stem(self, db: sqlite3.Connection, base: str, ext: str, notes_dir: Path) -> str:
        candidate, n = base, 1
        while self._stem_taken(db, candidate, ext, notes_dir):
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    # ------------------------------------------------------------------------- ingest

    def begin_ingest(self, kind: str, source: Path, original_name: str, notes_dir: Path, *,
                     priority: int | None = None) -> Job:
        """Insert an ``ingesting`` row (target store path and reserved stem) before the file is moved."""
        if kind not in PRIORITY:
            raise ValueError(f"unknown job kind {kind!r}")
        ext = Path(original_name).suffix.lower() if "." in original_name.lstrip(".") else ""
        job_id = new_job_id()
        now = self.now()
        store_path = self.store_dir / f"{job_id}{ext}"
        with self._tx() as db:
            stem = self._reserve_stem(db, safe_stem(original_name), ext, notes_dir)
            db.execute(
                "INSERT INTO jobs(id, kind, priority, state, created, updated, original_name, ext, stem, "
                "source_path, store_path, audio_path) VALUES (?, ?, ?, 'ingesting', ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, kind, PRIORITY[kind] if priority is None else priority, now, now, original_name, ext,
                 stem, str(source), str(store_path), str(store_path)))
            job = self._get(db, job_id)
        assert job is not None  # noqa: S101 - just inserted
        return job

    def finish_ingest(self, job_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET state = 'queued', source_path = NULL, updated = ? "
                       "WHERE id = ? AND state = 'ingesting'", (self.now(), job_id))

    def drop_ingest(self, job_id: str) -> None:
        """The move did not happen (the file is still where it was): forget the row."""
        with self._tx() as db:
            db.execute("DELETE FROM jobs WHERE id = ? AND state = 'ingesting'", (job_id,))

    def ingesting(self) -> list[Job]:
        with self._lock:
            return [_job(r) for r in self._db.execute(_SELECT + " WHERE state = 'ingesting' ORDER BY seq")]

    def reconcile_ingesting(self) -> dict[str, str]:
        """At startup: finish or undo every ingest a crash interrupted. Returns {job id: outcome}.

        store file present -> queued (an inbox copy left by a cross-device move is removed: the store copy
        is complete, it was fsynced before it was renamed into place); else inbox file present -> row
        dropped (the inbox scan ingests the file again); else -> failed ``lost`` (cannot happen with
        atomic renames; reported rather than hidden).
        """
        out: dict[str, str] = {}
        for job in self.ingesting():
            store = Path(job.store_path)
            src = Path(job.source_path) if job.source_path else None
            if store.exists():
                if src is not None and src.exists() and _same_size(src, store):
                    with contextlib.suppress(OSError):
                        src.unlink()
                self.finish_ingest(job.id)
                out[job.id] = "queued"
            elif src is not None and os.path.lexists(src):
                self.drop_ingest(job.id)
                out[job.id] = "dropped"
            else:
                with self._tx() as db:
                    db.execute("UPDATE jobs SET state = 'failed', finished = ?, updated = ?, last_error = ? "
                               "WHERE id = ?", (self.now(), self.now(),
                                                "lost: the file disappeared while it was being taken in", job.id))
                out[job.id] = "lost"
        return out

    def add_rejected(self, source: Path, original_name: str, failed_path: Path, notes_dir: Path, error: str) -> Job:
        """A file that is not usable audio: a failed job, ``rejected`` (it goes to Inbox/failed/ and is never
        deleted). The row is written before the move and keeps ``source_path`` until ``finish_reject``, so
        ``unfinished_rejects`` can complete a move a crash interrupted (no second report for one file)."""
        ext = Path(original_name).suffix.lower() if "." in original_name.lstrip(".") else ""
        job_id = new_job_id()
        now = self.now()
        with self._tx() as db:
            stem = self._reserve_stem(db, safe_stem(original_name), ext, notes_dir)
            db.execute(
                "INSERT INTO jobs(id, kind, priority, state, created, updated, finished, last_error, original_name, "
                "ext, stem, source_path, store_path, audio_path, rejected) "
                "VALUES (?, 'inbox', ?, 'failed', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (job_id, PRIORITY["inbox"], now, now, now, error, original_name, ext, stem, str(source),
                 str(failed_path), str(failed_path)))
            job = self._get(db, job_id)
        assert job is not None  # noqa: S101
        return job

    def finish_reject(self, job_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET source_path = NULL WHERE id = ? AND rejected = 1", (job_id,))

    def unfinished_rejects(self) -> list[Job]:
        with self._lock:
            return [_job(r) for r in self._db.execute(
                _SELECT + " WHERE rejected = 1 AND source_path IS NOT NULL ORDER BY seq")]

    # ------------------------------------------------------------------------- the queue

    def claim(self, owner: str, lease_s: float) -> Job | None:
        """Take the next queued job (highest priority, then oldest) with a lease, atomically."""
        now_dt = self.clock()
        now, expires = iso(now_dt), iso(now_dt + dt.timedelta(seconds=lease_s))
        with self._tx() as db:
            row = db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY priority DESC, seq ASC LIMIT 1"
                             ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires = ?, updated = ? "
                       "WHERE id = ? AND state = 'queued'", (owner, expires, now, row[0]))
            return self._get(db, row[0])

    def renew(self, job_id: str, owner: str, lease_s: float) -> bool:
        expires = iso(self.clock() + dt.timedelta(seconds=lease_s))
        with self._tx() as db:
            cur = db.execute("UPDATE jobs SET lease_expires = ? WHERE id = ? AND state = 'running' "
                             "AND lease_owner = ?", (expires, job_id, owner))
            return cur.rowcount == 1

    def release(self, job_id: str, owner: str | None = None) -> bool:
        """Back to queued without counting an attempt (graceful stop)."""
        with self._tx() as db:
            q = ("UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires = NULL, updated = ? "
                 "WHERE id = ? AND state = 'running'")
            args: tuple[Any, ...] = (self.now(), job_id)
            if owner is not None:
                q += " AND lease_owner = ?"
                args += (owner,)
            return db.execute(q, args).rowcount == 1

    def set_audio_path(self, job_id: str, path: Path) -> None:
        """Record where the audio is about to be moved (before the move: a crash leaves it findable)."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET audio_path = ?, updated = ? WHERE id = ?", (str(path), self.now(), job_id))

    def complete(self, job_id: str, *, note_path: Path, transcript_path: Path, audio_path: Path | None,
                 warning: str | None = None) -> bool:
        """running -> done. ``warning``: "code: generic text" the clinician should know (no name)."""
        now = self.now()
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires = NULL, updated = ?, finished = ?, "
                "last_error = NULL, note_path = ?, transcript_path = ?, audio_path = ?, warning = ? "
                "WHERE id = ? AND state = 'running'",
                (now, now, str(note_path), str(transcript_path), str(audio_path) if audio_path else None, warning,
                 job_id))
            return cur.rowcount == 1

    def fail(self, job_id: str, error: str) -> bool:
        """Failed for good (bad input, or out of attempts)."""
        now = self.now()
        with self._tx() as db:
            cur = db.execute("UPDATE jobs SET state = 'failed', lease_owner = NULL, lease_expires = NULL, "
                             "updated = ?, finished = ?, last_error = ? WHERE id = ? AND state = 'running'",
                             (now, now, error, job_id))
            return cur.rowcount == 1

    def fail_attempt(self, job_id: str, error: str, max_attempts: int = MAX_ATTEMPTS) -> str:
        """An attempt ended in an unexpected error: attempts+1; back to queued, or failed after the last.
        Returns the new state ("queued" or "failed"; "" if the job was not running)."""
        now = self.now()
        with self._tx() as db:
            job = self._get(db, job_id)
            if job is None or job.state != "running":
                return ""
            attempts = job.attempts + 1
            state = "failed" if attempts >= max_attempts else "queued"
            db.execute("UPDATE jobs SET state = ?, attempts = ?, lease_owner = NULL, lease_expires = NULL, "
                       "updated = ?, finished = ?, last_error = ? WHERE id = ?",
                       (state, attempts, now, now if state == "failed" else None, error, job_id))
            return state

    def recover_running(self, *, expired_only: bool = False, max_attempts: int = MAX_ATTEMPTS) -> list[Job]:
        """Jobs whose worker died (all ``running`` rows at startup, or those whose lease expired):
        back to queued with attempts+1, or ``failed`` once they reach ``max_attempts``.
        Returns the jobs that became failed (the caller writes their error reports)."""
        now = self.now()
        failed: list[str] = []
        with self._tx() as db:
            q = _SELECT + " WHERE state = 'running'"
            args: tuple[Any, ...] = ()
            if expired_only:
                q += " AND (lease_expires IS NULL OR lease_expires < ?)"
                args = (now,)
            for job in [_job(r) for r in db.execute(q, args).fetchall()]:
                attempts = job.attempts + 1
                if attempts >= max_attempts:
                    db.execute("UPDATE jobs SET state = 'failed', attempts = ?, lease_owner = NULL, "
                               "lease_expires = NULL, updated = ?, finished = ?, last_error = ? WHERE id = ?",
                               (attempts, now, now, f"interrupted: processing stopped {attempts} times before "
                                "it could finish", job.id))
                    failed.append(job.id)
                else:
                    db.execute("UPDATE jobs SET state = 'queued', attempts = ?, lease_owner = NULL, "
                               "lease_expires = NULL, updated = ? WHERE id = ?", (attempts, now, job.id))
            return [j for j in (self._get(db, i) for i in failed) if j is not None]

    def retry(self, job_id: str) -> Job:
        """failed/cancelled -> queued with attempts reset."""
        with self._tx() as db:
            job = self._require(db, job_id)
            if job.state not in ("failed", "cancelled"):
                raise JobConflict(f"Job {job_id} is {job.state}; only a failed or cancelled job can be retried.")
            if job.rejected:
                raise JobConflict(f"Job {job_id} was not a usable audio file, so it cannot be retried. "
                                  "Fix the file and put it into the inbox again.")
            if job.audio_deleted or not any(p and os.path.exists(p) for p in (job.audio_path, job.store_path)):
                raise JobConflict(f"The audio of job {job_id} is no longer kept, so it cannot be retried.")
            db.execute("UPDATE jobs SET state = 'queued', attempts = 0, finished = NULL, last_error = NULL, "
                       "updated = ? WHERE id = ?", (self.now(), job_id))
            got = self._get(db, job_id)
        assert got is not None  # noqa: S101
        return got

    def cancel(self, job_id: str) -> Job:
        """queued -> cancelled (a running job cannot be cancelled: it is about to finish or fail)."""
        now = self.now()
        with self._tx() as db:
            job = self._require(db, job_id)
            if job.state != "queued":
                raise JobConflict(f"Job {job_id} is {job.state}; only a queued job can be cancelled.")
            db.execute("UPDATE jobs SET state = 'cancelled', updated = ?, finished = ? WHERE id = ?",
                       (now, now, job_id))
            got = self._get(db, job_id)
        assert got is not None  # noqa: S101
        return got

    # ------------------------------------------------------------------------- pause (persisted)

    def set_paused(self, paused: bool) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO meta(key, value) VALUES ('paused', ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", ("1" if paused else "0",))

    def is_paused(self) -> bool:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'paused'").fetchone()
        return bool(row and row[0] == "1")

    # ------------------------------------------------------------------------- reading

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        with self._lock:
            for state, n in self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
                if state in out:
                    out[state] = n
        return out

    def jobs(self, states: tuple[str, ...] = STATES, limit: int | None = None) -> list[Job]:
        q = _SELECT + f" WHERE state IN ({','.join('?' * len(states))}) ORDER BY seq"
        args: tuple[Any, ...] = tuple(states)
        if limit is not None:
            q += " LIMIT ?"
            args += (limit,)
        with self._lock:
            return [_job(r) for r in self._db.execute(q, args)]

    def job_for_note(self, note: Path, named_job: str | None = None) -> Job | None:
        """The done job that wrote ``note`` (the same file, however the path is spelt), or None.

        ``named_job``: the job the note names (``job:`` in its front matter). It is taken when its row still
        points at this note, or when its audio is gone and with it the note's path (names live no longer
        than the audio): then there is nothing of it left to delete, and the job id links the signature."""
        try:
            want = note.resolve()
        except OSError:
            return None
        named = self.get(named_job) if named_job else None
        if named is not None and named.state == "done" and named.note_path is None and named.audio_deleted:
            return named
        with self._lock:
            rows = self._db.execute(_SELECT + " WHERE state = 'done' AND note_path IS NOT NULL ORDER BY seq DESC")
            jobs = [_job(r) for r in rows]
        for job in jobs:
            p = Path(str(job.note_path))
            if p.name == note.name and p.resolve() == want:
                return job
        return None

    def recent_failed(self, since: dt.datetime, limit: int) -> list[Job]:
        """Failed jobs that finished at or after ``since``, newest first (the tray's list of failures)."""
        with self._lock:
            return [_job(r) for r in self._db.execute(
                _SELECT + " WHERE state = 'failed' AND COALESCE(finished, updated) >= ? ORDER BY seq DESC LIMIT ?",
                (iso(since), limit))]

    def has_queued(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM jobs WHERE state = 'queued' LIMIT 1").fetchone() is not None

    # ------------------------------------------------------------------------- retention

    def retention_candidates(self) -> list[Job]:
        """Jobs that still own a file retention may delete: done jobs' audio or transcript; failed or
        cancelled jobs' audio (not rejected non-audio files, which are never deleted)."""
        with self._lock:
            return [_job(r) for r in self._db.execute(
                _SELECT + " WHERE (state = 'done' AND (audio_deleted IS NULL OR transcript_deleted IS NULL)) "
                "OR (state IN ('failed', 'cancelled') AND rejected = 0 AND audio_deleted IS NULL) ORDER BY seq")]

    def record_deletion(self, job_id: str, what: str, why: str, *, deleted: bool = True,
                        transcript_due: bool = False) -> Receipt | None:
        """Mark ``what`` ("audio"/"transcript") of a job as gone; with ``deleted`` also write a receipt.

        Once the audio is gone the job's names are cleared (``forget_names``); ``transcript_due``: retention
        will still delete the transcript, so its path is kept until then."""
        if what not in ("audio", "transcript"):
            raise ValueError(what)
        now = self.now()
        with self._tx() as db:
            db.execute(f"UPDATE jobs SET {what}_deleted = ? WHERE id = ?", (now, job_id))  # noqa: S608 - fixed names
            forgot = self._forget_names(db, transcript_due, job_id)
            if deleted:
                db.execute("INSERT INTO deletions(job_id, what, at, why) VALUES (?, ?, ?, ?)",
                           (job_id, what, now, why))
        if forgot:
            self.flush_wal()
        return Receipt(job_id, what, now, why) if deleted else None

    def forget_names(self, *, transcript_due: bool) -> int:
        """Clear the names of every job whose audio is gone (e.g. deleted by an earlier version); returns how
        many rows changed. ``transcript_due``: keep the path of a transcript retention will still delete."""
        with self._tx() as db:
            n = self._forget_names(db, transcript_due)
        if n:
            self.flush_wal()
        return n

    @staticmethod
    def _forget_names(db: sqlite3.Connection, transcript_due: bool, job_id: str | None = None) -> int:
        """The original name, the stem and every path that carries them, cleared for jobs whose audio is gone.
        (``store_path`` is ``<data>/store/<job id><ext>``: no name.)"""
        keep_tr = "CASE WHEN ? AND transcript_deleted IS NULL THEN transcript_path END"
        where = ("audio_deleted IS NOT NULL AND (original_name != '' OR stem != '' OR source_path IS NOT NULL "
                 "OR audio_path IS NOT NULL OR note_path IS NOT NULL OR transcript_path IS NOT "
                 f"({keep_tr}))")
        args: tuple[Any, ...] = (transcript_due, transcript_due)
        if job_id is not None:
            where += " AND id = ?"
            args += (job_id,)
        cur = db.execute(f"UPDATE jobs SET original_name = '', stem = '', source_path = NULL, "  # noqa: S608
                         f"audio_path = NULL, note_path = NULL, transcript_path = {keep_tr} WHERE {where}", args)
        return cur.rowcount

    def deletions(self) -> list[Receipt]:
        with self._lock:
            return [Receipt(*r) for r in self._db.execute("SELECT job_id, what, at, why FROM deletions ORDER BY seq")]

    def failed_audio_kept(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('failed', 'cancelled') "
                                   "AND rejected = 0 AND audio_deleted IS NULL").fetchone()
        return int(row[0])


def _same_size(a: Path, b: Path) -> bool:
    """Is the store file ``b`` a complete copy of the inbox file ``a``? For an encrypted copy (encryption
    at rest), its plaintext size is compared."""
    try:
        sa, sb = a.stat().st_size, b.stat().st_size
    except OSError:
        return False
    if sa == sb:
        return True
    from hushnote.daemon.privacy.vault import is_encrypted, plaintext_size

    return is_encrypted(b) and not is_encrypted(a) and plaintext_size(b) == sa
