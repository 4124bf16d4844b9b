"""Speed and accuracy of the transcription options on real speech: beam size, batched inference, threads.

    python bench/bench_asr_options.py [--model base] [--minutes 3.6] [--variants b5,b1,b1x8,...] [--speech dialogue]
                                      [--parallel 2]

The recording is the eval clips (real read speech with reference text) joined with short pauses, as in
``bench_long_audio.py``. Each variant runs in its own subprocess: the model is loaded first (not timed),
then the whole file goes through hushnote's own ``Transcriber`` (windows, VAD, options), and the word error
rate against the references is scored as the eval README says. A variant is ``b<beam>[x<batch>][t<threads>]``,
e.g. ``b5`` (beam 5, one piece at a time), ``b1x8`` (beam 1, batches of 8), ``b1t1`` (one thread).

``--parallel N`` also runs N copies of each variant at the same time (each with 1 thread unless the variant
says otherwise): the throughput of N workers each on its own file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def parse(variant: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"b(\d+)(?:x(\d+))?(?:t(\d+))?", variant)
    if not m:
        raise SystemExit(f"bad variant {variant!r}")
    return int(m[1]), int(m[2] or 1), int(m[3] or 0)


def child(path: Path, ref_file: Path, model: str, variant: str, threads_default: int) -> None:
    from hushnote.daemon.core.config import defaults
    from hushnote.daemon.models import registry as models
    from hushnote.daemon.speech.transcribe import Transcriber, TranscriberKey
    from wer import errors

    beam, batch, threads = parse(variant)
    cfg = defaults().with_overrides(transcription__model=model)
    key = TranscriberKey(str(models.whisper_dir(cfg)), "cpu", "int8", threads or threads_default, beam, "en", batch)
    t = Transcriber(key, model)
    t.model()
    c0 = _cpu()
    t0 = time.time()
    tr = t.transcribe_path(path)
    t1 = time.time()
    cpu = _cpu() - c0
    wall = t1 - t0
    err, n = errors(ref_file.read_text(), tr.text if hasattr(tr, "text") else " ".join(s.text for s in tr.segments))
    print(json.dumps({"variant": variant, "wall_s": round(wall, 2), "audio_s": tr.duration,
                      "x_realtime": round(tr.duration / wall, 2), "cpu_s_per_audio_s": round(cpu / tr.duration, 4),
                      "wer_percent": round(100 * err / n, 2),
                      "segments": len(tr.segments), "t0": t0, "t1": t1}))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)  # this process: every thread of the transcription
    return r.ru_utime + r.ru_stime


def run(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, text=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="base")
    ap.add_argument("--minutes", type=float, default=3.6)
    ap.add_argument("--variants", default="b5,b1,b5x8,b1x4,b1x8,b1x16")
    ap.add_argument("--parallel", type=int, default=0)
    ap.add_argument("--speech", choices=("eval", "dialogue"), default="eval",
                    help="eval: the real read-speech clips; dialogue: ACI-BENCH visits read by two espeak-ng voices")
    ap.add_argument("--child", nargs=4)
    a = ap.parse_args()
    if a.child:
        path, ref, variant, threads = a.child
        child(Path(path), Path(ref), a.model, variant, int(threads))
        return 0
    from bench_long_audio import build_dialogue_file, build_speech_file

    root = Path(tempfile.mkdtemp(prefix="hn-asr-"))
    speech, ref = root / "speech.flac", root / "ref.txt"
    build = build_dialogue_file if a.speech == "dialogue" else build_speech_file
    secs, text = build(a.minutes, speech)
    ref.write_text(text)
    print(json.dumps({"model": a.model, "speech": a.speech, "audio_s": round(secs, 1), "load": os.getloadavg()}), flush=True)
    for v in a.variants.split(","):
        p = run([str(speech), str(ref), v, "0"])
        out = p.communicate()[0].strip()
        print(json.dumps({**json.loads(out), "load": [round(x, 2) for x in os.getloadavg()]}), flush=True)
        if a.parallel:
            t0 = time.monotonic()
            procs = [run([str(speech), str(ref), v, "1"]) for _ in range(a.parallel)]
            outs = [json.loads(p.communicate()[0]) for p in procs]
            wall = max(o["t1"] for o in outs) - min(o["t0"] for o in outs)  # first start to last end, no loads
            print(json.dumps({"variant": f"{v} x{a.parallel} processes, 1 thread each",
                              "x_realtime_total": round(sum(o["audio_s"] for o in outs) / wall, 2),
                              "wall_s": round(wall, 2), "elapsed_incl_load_s": round(time.monotonic() - t0, 1),
                              "wer_percent": [o["wer_percent"] for o in outs],
                              "load": [round(x, 2) for x in os.getloadavg()]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
