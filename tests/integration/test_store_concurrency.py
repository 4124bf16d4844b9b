"""The SQLite job store under contention: four connections in four threads claim sixty jobs, none twice."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from hushnote.daemon.jobs.store import Store

from tests.support.jobs import queued_job


def test_concurrent_claims_never_double_claim(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    with Store(db) as s:
        for i in range(60):
            queued_job(s, tmp_path, f"f{i}.wav")
    claimed: list[list[str]] = [[], [], [], []]
    stores = [Store(db) for _ in claimed]
    start = threading.Barrier(len(stores))

    def run(k: int) -> None:
        start.wait()
        while (job := stores[k].claim(f"w{k}", 60)) is not None:
            claimed[k].append(job.id)
            time.sleep(0.001)  # let the others in

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    every = [j for c in claimed for j in c]
    assert len(every) == 60 and len(set(every)) == 60
    assert sum(1 for c in claimed if c) >= 2  # the claims really interleaved
