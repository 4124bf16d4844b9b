"""Recording through the service, Stop → note on disk: the clinician's path, measured end to end.

Starts the real daemon (``hushnote daemon``, default models unless ``--model``) against a private
PulseAudio server (tests/support/pulse.py), starts a recording over IPC (``record.start``), plays real speech (the
shared eval clips repeated to ``--minutes``, joined by 0.6 s pauses) in real time into the microphone,
then ``record.stop`` and measures:

* Stop → ``record.stopped`` (saved and queued), Stop → ``job.done`` (the note is on disk by then);
* whether the live transcript was used (the daemon's log says so; otherwise the file was transcribed);
* the daemon's resident memory (VmRSS) before recording, at the end of the session, 5 s after the note and
  once idle (``models.idle_unload_s`` = 20 s here), its idle CPU over 10 s, and whether model processes are
  left (live transcription and jobs run in model processes that end when their work is done);
* with ``--compare``, the same session with ``recording.live_transcription = false`` (transcribe after Stop).

    python bench/bench_service_recording.py --minutes 7 [--model base] [--compare] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hushnote.ipc.client import IpcClient, Subscription  # noqa: E402

from bench.bench_live_recording import speech  # noqa: E402
from tests.support.daemon import Daemon  # noqa: E402
from tests.support.pulse import PulseServer, pulse_server  # noqa: E402
from tests.support.speech import write_wav  # noqa: E402
from tests.support.wer import wer  # noqa: E402

IDLE_UNLOAD_S = 20.0  # models.idle_unload_s for this run (default 300): the idle service is measured after it


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def child_pids(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def until(sub: Subscription, name: str, timeout: float) -> tuple[float, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = sub.get(timeout=max(0.05, deadline - time.monotonic()))
        if ev is not None and ev.name == name:
            return time.monotonic(), dict(ev.data)
    raise TimeoutError(name)


def run(pulse: PulseServer, wav: Path, ref: str, root: Path, model: str, live: bool) -> dict[str, Any]:
    home = root / "home"
    home.mkdir(parents=True)
    d = Daemon(root / "hn", home, transcription={"model": model, "beam_size": 5},
               recording={"live_transcription": live}, models={"idle_unload_s": IDLE_UNLOAD_S})
    d.env["PULSE_SERVER"] = pulse.server
    d.start()
    assert d.proc is not None
    pid = d.proc.pid
    try:
        rss_idle = rss_mb(pid)
        with IpcClient(d.sock, timeout=20).subscribe() as sub:
            d.call("record.start", consent_confirmed=True)
            pulse.play_and_wait(wav, timeout=3600)
            rss_session = rss_mb(pid)
            t_stop = time.monotonic()
            d.call("record.stop")
            t_saved, stopped = until(sub, "record.stopped", 120)
            t_done, done = until(sub, "job.done", 3600)
        assert list(d.notes.glob("*.note.md")), "no note on disk"  # written before the job is marked done
        transcript = next(d.notes.glob("*.transcript.md"))
        from hushnote.daemon.notes import notefile

        text = notefile.read_transcript(transcript).text
        time.sleep(5.0)
        rss_after = rss_mb(pid)
        time.sleep(max(0.0, t_done + IDLE_UNLOAD_S + 5.0 - time.monotonic()))  # the idle service: models unloaded
        cpu0, t0 = cpu_s(pid), time.monotonic()
        time.sleep(10.0)
        idle_cpu = 100 * (cpu_s(pid) - cpu0) / (time.monotonic() - t0)
        rss_unloaded, children = rss_mb(pid), child_pids(pid)
        log = d.log.read_text(errors="replace")
        return {
            "model": model, "live_transcription": live, "audio_s": stopped.get("seconds"),
            "job_state": done.get("state"),
            "stop_to_saved_s": round(t_saved - t_stop, 2),
            "stop_to_note_s": round(t_done - t_stop, 2),  # job.done: note and transcript already on disk
            "live_transcript_used": "using the transcript made while recording" in log,
            "wer": round(wer(ref, text), 4),
            "rss_idle_mb": rss_idle, "rss_end_of_session_mb": rss_session, "rss_5s_after_note_mb": rss_after,
            "rss_idle_after_unload_mb": rss_unloaded, "idle_cpu_percent": round(idle_cpu, 2),
            "model_processes_left": len(children),
        }
    finally:
        d.stop()
        shutil.rmtree(d.runtime, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=7.0)
    ap.add_argument("--model", default="base")
    ap.add_argument("--compare", action="store_true", help="also run without live transcription")
    ap.add_argument("--eval-dir", type=Path, default=REPO / "tests" / "data" / "eval")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    samples, ref = speech(args.eval_dir, args.minutes)
    results = []
    with tempfile.TemporaryDirectory(prefix="hn-bench-") as tmp, pulse_server() as srv:
        wav = write_wav(Path(tmp) / "speech.wav", samples)
        for live in ([True, False] if args.compare else [True]):
            r = run(srv, wav, ref, Path(tmp) / f"run-{live}", args.model, live)
            results.append(r)
            print(json.dumps(r), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
