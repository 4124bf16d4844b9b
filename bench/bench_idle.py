"""Idle cost of the daemon: CPU% and RSS over 60 s with no work (models never loaded), then again after one
job once the models were unloaded (models.idle_unload_s = 5). Also the drop-to-note latency of a 1-minute
file (cold: first job loads the model; warm: a second file right after), default model (base).

The daemon runs its models in child processes (``hushnote.daemon.runner.process``) that exit after ``models.idle_unload_s``:
``rss_mb`` is the daemon process alone, ``tree_rss_mb`` the daemon plus its children (the model processes
while they live), ``children`` how many there are. The load average is printed with the result.

    /opt/hn-venv/bin/python bench/bench_idle.py [--seconds 60] [--model base]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.daemon import Daemon  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

SAMPLE = REPO / "samples" / "sample-session.flac"
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6


def children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


def tree_rss_mb(pid: int) -> float:
    total = rss_mb(pid)
    for c in children(pid):
        try:
            total += tree_rss_mb(c)
        except OSError:
            continue
    return total


def measure(pid: int, seconds: float) -> dict[str, float]:
    c0, t0 = cpu_ticks(pid), time.monotonic()
    peak = 0.0
    while time.monotonic() - t0 < seconds:
        peak = max(peak, tree_rss_mb(pid))
        time.sleep(1.0)
    cpu = (cpu_ticks(pid) - c0) / TICK / (time.monotonic() - t0) * 100
    return {"cpu_percent": round(cpu, 3), "rss_mb": round(rss_mb(pid), 1), "tree_rss_mb": round(tree_rss_mb(pid), 1),
            "tree_rss_peak_mb": round(peak, 1), "children": len(children(pid)),
            "load": round(os.getloadavg()[0], 2)}


def one_minute_wav(dst: Path) -> None:
    import av

    with av.open(str(SAMPLE)) as c:
        res = av.AudioResampler(format="s16", layout="mono", rate=16000)
        pcm = b"".join(bytes(f.planes[0])[: f.samples * 2] for fr in c.decode(audio=0) for f in res.resample(fr))
    with wave.open(str(dst), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm[: 16000 * 2 * 60])


def latency(d: Daemon, src: Path, name: str) -> float:
    t0 = time.monotonic()
    (d.inbox / name).write_bytes(src.read_bytes())
    note = d.notes / f"{Path(name).stem}.note.md"
    assert wait_for(note.exists, 600, 0.05)
    return round(time.monotonic() - t0, 2)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--model", default="base")
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="hn-bench-"))
    home = root / "home"
    for sub in ("config", "data"):
        (home / sub).mkdir(parents=True)
    d = Daemon(root / "daemon", home, transcription={"model": a.model, "beam_size": 5}, models={"idle_unload_s": 5},
               drafting={"min_words": 25})
    proc = d.start()
    time.sleep(3)
    out: dict[str, object] = {"model": a.model, "idle_fresh": measure(proc.pid, a.seconds)}
    clip = root / "one minute.wav"
    one_minute_wav(clip)
    out["latency_1min_cold_s"] = latency(d, clip, "first.wav")
    out["rss_after_job_mb"] = round(rss_mb(proc.pid), 1)
    out["tree_rss_after_job_mb"] = round(tree_rss_mb(proc.pid), 1)
    out["latency_1min_warm_s"] = latency(d, clip, "second.wav")
    time.sleep(10)  # past idle_unload_s: models unloaded
    out["idle_after_unload"] = measure(proc.pid, a.seconds)
    d.stop()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
