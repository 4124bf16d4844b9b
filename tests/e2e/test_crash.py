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
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import Daemon, everything_accounted_for
from tests.support.speech import speech
from tests.support.waiting import wait_for


@pytest.fixture()
def daemon(tmp_path: Path, home: Path) -> Iterator[Daemon]:
    """The model stays loaded between jobs: the trials are about the queue, not about loading."""
    d = Daemon(tmp_path / "hn", home, models={"idle_unload_s": 600})
    yield d
    d.cleanup()


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
