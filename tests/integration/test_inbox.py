"""The inbox in real time, with real watchdog (inotify) and real SQLite: a slow copy, written with pauses longer than
the settle time, is taken in once, after it finishes (the other inbox rules run on a fake clock in the unit tier)."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.jobs import InboxRig
from tests.support.speech import wav
from tests.support.waiting import wait_for


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[InboxRig]:
    e = InboxRig(tmp_path)
    yield e
    e.store.close()


def test_slow_100mb_copy_taken_in_once_after_it_finishes(env: InboxRig) -> None:
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
