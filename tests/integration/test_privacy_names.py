"""No client names outlive their audio: a recording named like a client goes through the real service (or the
real ingest and retention with a fake clock), and once retention has deleted its audio every byte of the data
folder (queue.db, its -wal and -shm, the audit log, the receipts, the keys) is scanned for the name."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hushnote.daemon.jobs import store as store_mod
from hushnote.daemon.jobs.inbox import Ingestor
from hushnote.daemon.jobs.retention import Retention
from hushnote.daemon.jobs.store import Store
from hushnote.daemon.notes.notefile import parse_front_matter
from hushnote.daemon.privacy import at_rest
from hushnote.daemon.service.service import Service

from tests.support.clock import FakeClock
from tests.support.config import TINY, make_cfg
from tests.support.service import FAST_INBOX
from tests.support.speech import JFK, WAV
from tests.support.waiting import wait_for

CLIENT = "Jane Doe 2026-11-02"
T = "2025-01-06T09:00:00.000000+00:00"


@pytest.fixture(autouse=True)
def sqlite_without_secure_delete(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Many SQLite builds (not Debian's) leave freed bytes in place by default: connections start that way here
    too, so these tests hold wherever hushnote runs."""
    real = sqlite3.connect

    def connect(*args: Any, **kw: Any) -> sqlite3.Connection:
        db = real(*args, **kw)
        db.execute("PRAGMA secure_delete=OFF")
        return db

    monkeypatch.setattr(store_mod.sqlite3, "connect", connect)
    yield


def found_in(root: Path, text: str = "Jane Doe") -> list[str]:
    """Every file under ``root`` (hidden ones too) holding ``text`` as UTF-8 or UTF-16 bytes."""
    needles = (text.encode("utf-8"), text.encode("utf-16-le"))
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and any(n in p.read_bytes() for n in needles))


def test_the_service_keeps_no_client_name_once_the_audio_is_deleted(home: Path, eval_dir: Path) -> None:
    cfg = make_cfg(home, **TINY, retention__audio_days=0)  # the audio goes at the first sweep after the note
    data, notes = cfg.path("paths.data"), cfg.path("paths.notes")
    with Service(cfg, ipc=False, inbox_opts=FAST_INBOX) as svc:
        assert svc.store is not None and svc.workers is not None
        store = svc.store
        svc.workers.pause()
        shutil.copy(eval_dir / "speech" / WAV, cfg.path("paths.inbox") / f"{CLIENT}.wav")
        assert wait_for(lambda: store.counts()["queued"] == 1, 30)
        assert found_in(data), "the scan sees the name while the audio is kept"
        svc.workers.resume()
        assert wait_for(lambda: store.deletions(), 120), store.jobs()
        assert found_in(data) == [], "while the service runs (queue.db, -wal, -shm)"
        [job] = store.jobs()
        assert job.state == "done" and job.audio_deleted
        assert (job.original_name, job.stem, job.audio_path, job.note_path, job.transcript_path) == ("", "", None,
                                                                                                    None, None)
        assert [r.job_id for r in store.deletions()] == [job.id]  # the receipt stays, without a name
    assert found_in(data) == []
    assert (notes / f"{CLIENT}.note.md").exists() and not list(notes.glob("*.hushnote"))  # the note stays
    fields, _ = parse_front_matter((notes / f"{CLIENT}.note.md").read_text(encoding="utf-8"))
    assert fields["job"] == job.id  # how `hushnote sign` still finds the job, without its name


def test_a_transcript_still_due_keeps_only_its_path_until_it_goes(home: Path, eval_dir: Path) -> None:
    cfg = make_cfg(home, **TINY, retention__audio_days=1, retention__transcript_days=2)
    data, notes, inbox = cfg.path("paths.data"), cfg.path("paths.notes"), cfg.path("paths.inbox")
    for d in (notes, inbox):
        d.mkdir(parents=True)
    clock, v = FakeClock(), at_rest.open_vault(cfg)
    with Store(data / "queue.db", clock=clock) as store:
        ingest = Ingestor(store, inbox, notes, vault=v)
        jobs = []
        for name in (f"{CLIENT}.flac", "Richard Roe.flac"):
            shutil.copy(eval_dir / "speech" / JFK, inbox / name)
            job = ingest.ingest(inbox / name)
            assert job is not None and store.claim("w", 60) is not None
            beside = notes / f"{job.stem}.flac.hushnote"
            shutil.move(job.store_path, beside)  # as the worker leaves it
            note, tr = notes / f"{job.stem}.note.md", notes / f"{job.stem}.transcript.md"
            note.write_text("note")
            tr.write_text("transcript")
            assert store.complete(job.id, note_path=note, transcript_path=tr, audio_path=beside)
            jobs.append(job)
            clock.advance(hours=12)  # Richard Roe's audio is due half a day later
        ret = Retention(store, cfg, vault=v, clock=clock)
        clock.advance(days=0.01)  # a day after her note: Jane Doe's audio is due, Richard Roe's is not yet
        assert [r.job_id for r in ret.sweep()] == [jobs[0].id]
        jane = store.get(jobs[0].id)
        assert jane is not None and (jane.original_name, jane.stem, jane.note_path) == ("", "", None)
        assert jane.transcript_path == str(notes / f"{CLIENT}.transcript.md")  # retention still deletes it
        assert store.get(jobs[1].id).original_name == "Richard Roe.flac"  # type: ignore[union-attr]
        clock.advance(days=1.5)
        assert {r.what for r in ret.sweep()} == {"audio", "transcript"}
        assert not (notes / f"{CLIENT}.transcript.md").exists() and (notes / f"{CLIENT}.note.md").exists()
        assert found_in(data) == []
    assert found_in(data) == [] and found_in(data, "Richard Roe") == []


def test_a_database_from_before_keeps_no_old_names_after_the_first_sweep(home: Path) -> None:
    """Rows whose audio an older version deleted still named the client, and SQLite's free pages kept copies."""
    cfg = make_cfg(home)
    data, notes = cfg.path("paths.data"), cfg.path("paths.notes")
    data.mkdir(parents=True, exist_ok=True)
    old = sqlite3.connect(data / "queue.db", isolation_level=None)  # as the previous version made it
    old.execute("PRAGMA journal_mode=WAL")
    old.executescript(store_mod._SCHEMA)
    old.execute("INSERT INTO meta(key, value) VALUES ('schema', '1')")
    for i in range(40):  # updates leave stale copies of the row in free space
        old.execute("INSERT INTO jobs(id, kind, priority, state, created, updated, finished, original_name, ext, "
                    "stem, store_path, audio_path, note_path, audio_deleted) VALUES (?, 'inbox', 0, 'done', ?, ?, ?, ?, "
                    "'.wav', ?, ?, ?, ?, ?)",
                    (f"job{i}", T, T, T, f"{CLIENT} {i}.wav", f"{CLIENT} {i}", str(data / "store" / f"job{i}.wav"),
                     str(notes / f"{CLIENT} {i}.wav"), str(notes / f"{CLIENT} {i}.note.md"), T))
        old.execute("UPDATE jobs SET stem = ? WHERE id = ?", (f"{CLIENT} {i} moved elsewhere", f"job{i}"))
    old.execute("DELETE FROM jobs WHERE id = 'job0'")
    old.close()
    assert found_in(data)
    with Store(data / "queue.db") as store:
        Retention(store, cfg).sweep()
        assert found_in(data) == []
        assert store.get("job1") is not None
    assert found_in(data) == []
