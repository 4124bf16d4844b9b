"""Backlog throughput: 20 files dropped into the inbox at once, default model (base), 2 cores.

Reports audio-hours per wall-hour (= x real time) for the daemon, from the drop until the last note, and
for `hushnote process` run file by file (a new process, and a model load, per file).

    /opt/hn-venv/bin/python bench/bench_backlog.py [--files 20] [--model base] [--skip-cli]
        [--workers N] [--beam 5] [--batch 1]

``--workers`` / ``--beam`` / ``--batch`` set worker.count, transcription.beam_size and .batch_size (default:
the shipped defaults). The load average is printed with the result: other work on the machine slows it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.daemon import Daemon  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

SAMPLE = REPO / "samples" / "sample-session.flac"


def seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as c:
        return float(c.duration or 0) / 1_000_000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--model", default="base")
    ap.add_argument("--skip-cli", action="store_true")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--beam", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    a = ap.parse_args()
    from hushnote.daemon.core.config import defaults

    dflt = defaults()
    workers = a.workers or int(dflt["worker.count"])
    beam = a.beam or int(dflt["transcription.beam_size"])
    batch = a.batch or int(dflt["transcription.batch_size"])
    audio_s = seconds(SAMPLE) * a.files
    root = Path(tempfile.mkdtemp(prefix="hn-bench-"))
    home = root / "home"
    for sub in ("config", "data"):
        (home / sub).mkdir(parents=True)
    d = Daemon(root / "daemon", home, transcription={"model": a.model, "beam_size": beam, "batch_size": batch},
               drafting={"min_words": 25}, worker={"count": workers})
    d.start()
    staging = root / "staging"
    staging.mkdir()
    for i in range(a.files):
        (staging / f"session {i:02d}.flac").write_bytes(SAMPLE.read_bytes())
    load0 = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    for p in sorted(staging.iterdir()):
        p.replace(d.inbox / p.name)  # "dropped at once": renamed in
    assert wait_for(lambda: d.counts()["done"] == a.files, 3600, 0.5), d.call("queue")
    wall = time.monotonic() - t0
    load1 = os.getloadavg()[0]
    d.stop()  # the daemon and its model processes are reaped: their CPU time is in RUSAGE_CHILDREN
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    out = {"files": a.files, "model": a.model, "workers": workers, "beam": beam, "batch": batch,
           "audio_s": round(audio_s, 1), "daemon_wall_s": round(wall, 1), "daemon_x_realtime": round(audio_s / wall, 2),
           "cpu_s": round(cpu_s, 1), "cpu_s_per_audio_s": round(cpu_s / audio_s, 3),
           "load_before_after": [round(load0, 2), round(load1, 2)]}
    if not a.skip_cli:
        env = dict(d.env)
        cli_out = root / "cli-out"
        t0 = time.monotonic()
        for _ in range(a.files):  # the same recording each time (the daemon's copies may be encrypted now)
            subprocess.run([sys.executable, "-m", "hushnote.daemon.cli", "process", str(SAMPLE), "--out", str(cli_out), "--quiet",
                            "--config", str(d.config)], env=env, check=True, capture_output=True)
        cwall = time.monotonic() - t0
        out.update({"cli_wall_s": round(cwall, 1), "cli_x_realtime": round(audio_s / cwall, 2)})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
