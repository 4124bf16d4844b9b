"""Retention's own thread, in real time: it sweeps when it starts and again when poked (the unit tier drives
every other retention rule with a fake clock)."""

from __future__ import annotations

import time
from pathlib import Path

from hushnote.daemon.jobs.retention import Retention
from hushnote.daemon.jobs.store import Store

from tests.support.clock import FakeClock
from tests.support.config import make_cfg
from tests.support.jobs import done_job


def test_scheduler_thread_sweeps_at_start_and_on_poke(tmp_path: Path, clock: FakeClock) -> None:
    cfg = make_cfg(tmp_path, retention__audio_days=0)
    with Store(cfg.path("paths.data") / "q.db", clock=clock) as store:
        _, _, _, a1 = done_job(store, cfg, "d.wav")
        with Retention(store, cfg, interval_s=3600) as ret:
            deadline = time.monotonic() + 5
            while a1.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not a1.exists()  # the start sweep
            _, _, _, a2 = done_job(store, cfg, "e.wav")
            ret.poke()
            deadline = time.monotonic() + 5
            while a2.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not a2.exists()
