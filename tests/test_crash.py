"""kill -9 at any moment: after a restart every input yields exactly one note, none partial, nothing lost.

Two kinds of trial against the real daemon subprocess:
* deterministic: the daemon dies (``os._exit``, same as kill -9) exactly at each named step of ingest,
  rejection and job completion (``HUSHNOTE_TEST_CRASH_AT``);
* random: 20 kill -9 at random moments, half soon after files are dropped (while they settle and are
  taken in), half later (while they are transcribed, drafted, written, moved).
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from tests.test_daemon_e2e import Daemon, speech, wait_for


@pytest.fixture()
def daemon(tmp_path: Path, home: Path) -> Daemon:
    d = Daemon(tmp_path / "hn", home, models={"idle_unload_s": 600})
    yield d  # type: ignore[misc]
    if d.proc is not None:
        d.proc.kill()
        d.proc.wait(10)


def everything_accounted_for(d: Daemon, good: list[str], bad: list[str] = ()) -> None:  # type: ignore[assignment]
    """Each good input: exactly one note + transcript + audio beside. Each bad one: one report, file kept."""
    by_source = d.notes_by_source()  # also: every note parses, none partial
    assert sorted(by_source) == sorted(good), (sorted(by_source), sorted(good))
    for name, notes in by_source.items():
        assert len(notes) == 1, (name, notes)
        stem = notes[0].name.removesuffix(".note.md")
        assert (d.notes / f"{stem}.transcript.md").exists()
        assert (d.notes / f"{stem}{Path(name).suffix}").exists(), f"audio of {name} lost"
    visible = [p.name for p in d.notes.iterdir() if not p.name.startswith(".")]
    assert not [n for n in visible if n.endswith(".tmp")]
    assert not [p for p in d.notes.iterdir() if p.name.endswith(".tmp")], "temp files left behind"
    for name in bad:
        assert len(list(d.notes.glob(f"{Path(name).stem}*.error.txt"))) == 1
        assert (d.inbox / "failed" / name).exists()
    assert [p.name for p in d.inbox.iterdir() if p.name != "failed"] == []
    assert list((d.data / "store").iterdir()) == []
    c = d.counts()
    assert c["queued"] == c["running"] == 0 and c["done"] == len(good)


@pytest.mark.parametrize("point", ["ingest.row", "ingest.moved", "reject.row", "job.written", "job.moved"])
def test_crash_at_each_step(daemon: Daemon, eval_dir: Path, point: str) -> None:
    daemon.start(wait=True, HUSHNOTE_TEST_CRASH_AT=point)
    proc = daemon.proc
    assert proc is not None
    if point == "reject.row":
        (daemon.inbox / "bad.wav").write_bytes(os.urandom(3000))
    else:
        daemon.drop(speech(eval_dir, 0), "one.flac")
    assert proc.wait(120) == 137  # died at the crash point
    daemon.proc = None
    daemon.start()
    if point == "reject.row":
        assert wait_for(lambda: (daemon.inbox / "failed" / "bad.wav").exists() and daemon.counts()["failed"] == 1, 30)
        time.sleep(1.5)  # a wrongly re-ingested file would show up as a second report now
        everything_accounted_for(daemon, [], ["bad.wav"])
    else:
        assert wait_for(lambda: daemon.counts()["done"] == 1, 120), daemon.call("queue")
        everything_accounted_for(daemon, ["one.flac"])
        if point in ("job.written", "job.moved"):
            assert daemon.call("queue")["jobs"][0]["attempts"] == 1  # the crashed attempt was counted
    assert daemon.stop() == 0


def test_random_kill_9_trials(daemon: Daemon, eval_dir: Path) -> None:
    rng = random.Random(int(os.environ.get("HUSHNOTE_CRASH_SEED", "1234")))
    trials = int(os.environ.get("HUSHNOTE_CRASH_TRIALS", "20"))
    good: list[str] = []
    n = 0
    daemon.start()
    for trial in range(trials):
        for _ in range(rng.choice((1, 2))):
            src = speech(eval_dir, n)
            name = f"t{trial:02d} clip {n}{src.suffix}"
            daemon.drop(src, name)
            good.append(name)
            n += 1
        # even trials: die while files settle / are taken in; odd: while jobs are processed
        delay = rng.uniform(0.0, 1.2) if trial % 2 == 0 else rng.uniform(1.2, 4.0)
        time.sleep(delay)
        daemon.kill()
        daemon.start()
        # let this trial's files finish, so that no job is killed 3 times (that fails it, by design)
        assert wait_for(lambda: daemon.counts()["done"] == len(good), 60, 0.1), (
            trial, [(j["state"], j["attempts"], j["error"]) for j in daemon.call("queue")["jobs"]])
    time.sleep(1.0)
    everything_accounted_for(daemon, good)
    assert daemon.stop() == 0
