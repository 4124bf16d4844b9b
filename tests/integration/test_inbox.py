"""The inbox, in-process with real watchdog and real SQLite: stability, ignore rules, bad inputs, slow copies."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hushnote.daemon.jobs.inbox import InboxWatcher, Ingestor
from hushnote.daemon.jobs.store import Store

from tests.support.speech import wav
from tests.support.waiting import wait_for


class Env:
    def __init__(self, root: Path) -> None:
        self.inbox, self.notes, self.data = root / "Inbox", root / "Notes", root / "data"
        for d in (self.inbox, self.notes, self.data):
            d.mkdir(parents=True)
        self.store = Store(self.data / "q.db")
        self.queued: list[str] = []
        self.ingestor = Ingestor(self.store, self.inbox, self.notes, on_queued=lambda j: self.queued.append(j.id))

    def watcher(self, **kw: float) -> InboxWatcher:
        opts: dict[str, float] = {"settle_s": 1.0, "settle_closed_s": 0.3, "poll_s": 0.05}
        opts.update(kw)
        return InboxWatcher(self.ingestor, **opts)  # type: ignore[arg-type]

    def store_files(self) -> list[Path]:
        return sorted((self.data / "store").iterdir())


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.store.close()


def test_drop_is_ingested_once_and_ignored_names_left_alone(env: Env) -> None:
    with env.watcher():
        src = wav(env.inbox.parent / "session one.wav", 2.0)
        shutil.copy(src, env.inbox / "session one.wav")
        for name in (".hidden.wav", "a.wav.part", "b.crdownload", "c.tmp", "~$d.wav"):
            (env.inbox / name).write_bytes(b"RIFF....WAVE")
        (env.inbox / "sub").mkdir()
        (env.inbox / "sub" / "inner.wav").write_bytes(src.read_bytes())
        assert wait_for(lambda: len(env.queued) == 1)
        time.sleep(1.5)  # more events, rescans: still once
    assert len(env.queued) == 1
    job = env.store.get(env.queued[0])
    assert job is not None and job.state == "queued" and job.stem == "session one" and job.ext == ".wav"
    assert [p.name for p in env.store_files()] == [f"{job.id}.wav"]
    assert Path(job.store_path).read_bytes() == src.read_bytes()
    left = sorted(p.name for p in env.inbox.iterdir())
    assert left == [".hidden.wav", "a.wav.part", "b.crdownload", "c.tmp", "sub", "~$d.wav"]
    assert (env.inbox / "sub" / "inner.wav").exists()


def test_startup_scan_and_moved_in_files(env: Env, tmp_path: Path) -> None:
    wav(env.inbox / "before.wav")
    outside = wav(tmp_path / "outside.wav")
    with env.watcher() as w:
        assert wait_for(lambda: len(env.queued) == 1)
        os.replace(outside, env.inbox / "moved.wav")  # a rename: no close-after-write event
        assert wait_for(lambda: len(env.queued) == 2)
        assert wait_for(w.idle)
    assert not [p for p in env.inbox.iterdir() if p.is_file()]
    assert len(env.store_files()) == 2


def test_bad_inputs_get_reports_and_go_to_failed(env: Env) -> None:
    with env.watcher():
        good = wav(env.inbox.parent / "good.wav")
        (env.inbox / "empty.wav").write_bytes(b"")
        (env.inbox / "random.wav").write_bytes(os.urandom(4096))
        (env.inbox / "x.wav").mkdir()
        (env.inbox / "link.wav").symlink_to(good)
        (env.inbox / "odd name\nwith newline ü.mp3").write_bytes(b"not really mp3 data")
        (env.inbox / "letter.pdf").write_bytes(b"%PDF-1.4")
        wav(env.inbox / "zero.wav", seconds=0)
        shutil.copy(good, env.inbox / "next good.wav")
        assert wait_for(lambda: len(list((env.inbox / "failed").glob("*"))) == 7 and len(env.queued) == 1)
    failed = sorted(p.name for p in (env.inbox / "failed").iterdir())
    assert failed == sorted(["empty.wav", "random.wav", "x.wav", "link.wav", "odd name\nwith newline ü.mp3",
                             "letter.pdf", "zero.wav"])
    assert (env.inbox / "failed" / "link.wav").is_symlink() and good.exists()  # the link moved, not its target
    reports = sorted(p.name for p in env.notes.glob("*.error.txt"))
    assert reports == sorted(["empty.error.txt", "random.error.txt", "x.error.txt", "link.error.txt",
                              "odd name_with newline ü.error.txt", "letter.error.txt", "zero.error.txt"])
    text = (env.notes / "empty.error.txt").read_text()
    assert "empty.wav" in text and "What to do" in text and "failed" in text
    assert [p.name for p in env.inbox.iterdir()] == ["failed"]
    assert env.store.counts()["failed"] == 7 and env.store.counts()["queued"] == 1


def test_slow_100mb_copy_taken_in_once_after_it_finishes(env: Env) -> None:
    """A 100 MB file written in chunks with pauses longer than the settle time: not touched while open."""
    chunk = os.urandom(1 << 20)
    total_mb = 100
    digest = hashlib.sha256()
    with env.watcher(settle_s=1.0, settle_closed_s=0.3):
        target = env.inbox / "long session.wav"
        with target.open("wb") as fh:
            header = wav(env.inbox.parent / "h.wav", 0.1).read_bytes()
            fh.write(header)
            digest.update(header)
            for i in range(total_mb):
                fh.write(chunk)
                digest.update(chunk)
                if i % 20 == 19:
                    fh.flush()
                    time.sleep(1.5)  # longer than both settle times
                    assert target.exists() and env.queued == [], "taken while still being written"
        assert wait_for(lambda: len(env.queued) == 1, 20)
        time.sleep(1.0)
    assert len(env.queued) == 1
    job = env.store.get(env.queued[0])
    assert job is not None
    stored = Path(job.store_path)
    assert stored.stat().st_size == len(header) + total_mb * (1 << 20)
    h = hashlib.sha256()
    with stored.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    assert h.hexdigest() == digest.hexdigest()
