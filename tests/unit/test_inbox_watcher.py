"""The inbox watcher on a fake clock, driven pass by pass with ``tick()`` (no thread, no watchdog, no sleeps):
a file is taken in once it has been unchanged for the settle time, exactly once; ignored names and subfolders
stay; files already there or moved in later are found by the scans; bad inputs get reports and go to failed/.

The same rules in real time, with inotify's close-after-write events, are in tests/integration/test_inbox.py.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hushnote.daemon.jobs.inbox import EMPTY_SETTLE_S, InboxWatcher

from tests.support.clock import FakeClock
from tests.support.jobs import InboxRig
from tests.support.speech import wav

SETTLE_S = 2.0
RESCAN_S = 10.0


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[InboxRig]:
    e = InboxRig(tmp_path)
    yield e
    e.store.close()


def watcher(env: InboxRig, clock: FakeClock) -> InboxWatcher:
    return env.watcher(use_watchdog=False, clock=clock.monotonic, settle_s=SETTLE_S, rescan_s=RESCAN_S)


def run(w: InboxWatcher, clock: FakeClock, seconds: float, step: float = 0.25) -> None:
    """Let ``seconds`` pass on the fake clock, one watcher pass every ``step``."""
    for _ in range(round(seconds / step)):
        clock.advance(seconds=step)
        w.tick()


def test_drop_is_ingested_once_and_ignored_names_left_alone(env: InboxRig, clock: FakeClock) -> None:
    w = watcher(env, clock)
    src = wav(env.inbox.parent / "session one.wav", 2.0)
    shutil.copy(src, env.inbox / "session one.wav")
    for name in (".hidden.wav", "a.wav.part", "b.crdownload", "c.tmp", "~$d.wav"):
        (env.inbox / name).write_bytes(b"RIFF....WAVE")
    (env.inbox / "sub").mkdir()
    (env.inbox / "sub" / "inner.wav").write_bytes(src.read_bytes())
    w.tick()  # found by the first scan
    run(w, clock, SETTLE_S - 0.25)
    assert env.queued == [], "taken in before it was unchanged for the settle time"
    run(w, clock, 0.5)
    assert len(env.queued) == 1
    run(w, clock, 3 * RESCAN_S)  # more passes and rescans: still once
    assert len(env.queued) == 1 and w.idle()
    job = env.store.get(env.queued[0])
    assert job is not None and job.state == "queued" and job.stem == "session one" and job.ext == ".wav"
    assert [p.name for p in env.store_files()] == [f"{job.id}.wav"]
    assert Path(job.store_path).read_bytes() == src.read_bytes()
    left = sorted(p.name for p in env.inbox.iterdir())
    assert left == [".hidden.wav", "a.wav.part", "b.crdownload", "c.tmp", "sub", "~$d.wav"]
    assert (env.inbox / "sub" / "inner.wav").exists()


def test_a_growing_file_waits_until_it_stops_changing(env: InboxRig, clock: FakeClock) -> None:
    w = watcher(env, clock)
    target = env.inbox / "long session.wav"
    data = wav(env.inbox.parent / "src.wav", 3.0).read_bytes()
    with target.open("wb") as fh:
        for i in range(0, len(data), 8000):  # a copier that pauses 1.5 s between blocks
            fh.write(data[i:i + 8000])
            fh.flush()
            w.tick()
            run(w, clock, SETTLE_S - 0.5)
            assert env.queued == [], "taken in while still changing"
    run(w, clock, SETTLE_S + 0.5)
    assert len(env.queued) == 1
    job = env.store.get(env.queued[0])
    assert job is not None and Path(job.store_path).read_bytes() == data


def test_an_empty_file_gets_longer_to_start_being_written(env: InboxRig, clock: FakeClock) -> None:
    w = watcher(env, clock)
    (env.inbox / "empty.wav").write_bytes(b"")
    w.tick()
    run(w, clock, EMPTY_SETTLE_S - 0.5)
    assert not (env.inbox / "failed").exists() and (env.inbox / "empty.wav").exists()
    run(w, clock, 1.0)
    assert (env.inbox / "failed" / "empty.wav").exists()  # still empty: refused, with a report
    assert (env.notes / "empty.error.txt").exists()


def test_startup_scan_and_moved_in_files(env: InboxRig, clock: FakeClock, tmp_path: Path) -> None:
    wav(env.inbox / "before.wav")
    outside = wav(tmp_path / "outside.wav")
    w = watcher(env, clock)
    w.tick()
    run(w, clock, SETTLE_S + 0.5)
    assert len(env.queued) == 1
    os.replace(outside, env.inbox / "moved.wav")  # a rename: without watchdog, only a rescan finds it
    run(w, clock, RESCAN_S - SETTLE_S - 1.0)
    assert len(env.queued) == 1
    run(w, clock, SETTLE_S + 1.5)
    assert len(env.queued) == 2 and w.idle()
    assert not [p for p in env.inbox.iterdir() if p.is_file()]
    assert len(env.store_files()) == 2


def test_bad_inputs_get_reports_and_go_to_failed(env: InboxRig, clock: FakeClock) -> None:
    w = watcher(env, clock)
    good = wav(env.inbox.parent / "good.wav")
    (env.inbox / "empty.wav").write_bytes(b"")
    (env.inbox / "random.wav").write_bytes(os.urandom(4096))
    (env.inbox / "x.wav").mkdir()
    (env.inbox / "link.wav").symlink_to(good)
    (env.inbox / "odd name\nwith newline ü.mp3").write_bytes(b"not really mp3 data")
    (env.inbox / "letter.pdf").write_bytes(b"%PDF-1.4")
    wav(env.inbox / "zero.wav", seconds=0)
    shutil.copy(good, env.inbox / "next good.wav")
    w.tick()
    run(w, clock, EMPTY_SETTLE_S + 0.5)
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
    assert len(env.queued) == 1


def test_a_file_that_cannot_be_taken_in_is_tried_again_a_minute_later(env: InboxRig, clock: FakeClock,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    w = watcher(env, clock)
    wav(env.inbox / "session.wav")
    real = env.ingestor.ingest
    attempts: list[float] = []

    def flaky(path: Path) -> object:
        attempts.append(clock.monotonic())
        if len(attempts) == 1:
            raise OSError("the disk is busy")
        return real(path)

    monkeypatch.setattr(env.ingestor, "ingest", flaky)
    w.tick()
    run(w, clock, SETTLE_S + 0.5)
    assert len(attempts) == 1 and env.queued == []
    run(w, clock, 59.0)
    assert len(attempts) == 1, "tried again before a minute had passed"
    run(w, clock, 2.0)
    assert len(attempts) == 2 and len(env.queued) == 1
    assert attempts[1] - attempts[0] >= 60.0
