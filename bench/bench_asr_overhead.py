"""ASR-stage overhead: hushnote's transcription vs calling faster-whisper directly, same model and options.

    python bench/bench_asr_overhead.py [--minutes 5.5] [--model base] [--runs 3]

Both sides get the same ≥5-minute file of real speech (eval clips with short pauses), the same loaded
model settings (CPU int8, all cores) and the same decoding options (``hushnote.daemon.speech.transcribe.decode_options``,
with faster-whisper's own VAD filter on the direct side). Runs alternate; the medians are compared.
Goal: ratio ≤ 1.05.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench_long_audio import build_speech_file  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5.5)
    ap.add_argument("--model", default="base")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    from faster_whisper import WhisperModel
    from hushnote.daemon.core import config
    from hushnote.daemon.models import registry as models
    from hushnote.daemon.speech import audio
    from hushnote.daemon.speech.transcribe import decode_options, transcriber_for
    from wer import wer

    with tempfile.TemporaryDirectory(prefix="hn-bench-") as tmp:
        path = Path(tmp) / "speech.flac"
        seconds, reference = build_speech_file(args.minutes, path)
        cfg = config.defaults().with_overrides(paths__data=str(Path(tmp) / "data"), transcription__model=args.model,
                                               transcription__language="en")
        ours = transcriber_for(cfg)
        ours.model()  # load (and for base, assemble + verify) outside the timings
        direct = WhisperModel(str(models.whisper_dir(cfg)), device="cpu", compute_type="int8",
                              cpu_threads=cfg.threads, local_files_only=True)
        opts = decode_options(int(cfg["transcription.beam_size"]), "en")
        opts.update(vad_filter=True, vad_parameters=audio.vad_options(float("inf")))

        # Whisper 30-second decoding passes per run: the load-independent measure of extra work
        # (a window boundary can cost one extra pass). Counted by wrapping faster-whisper's method.
        import faster_whisper.transcribe as fwt

        passes = {"n": 0}
        original = fwt.WhisperModel.generate_with_fallback

        def counting(self: object, *a: object, **k: object) -> object:
            passes["n"] += 1
            return original(self, *a, **k)

        fwt.WhisperModel.generate_with_fallback = counting
        pass_count: dict[str, int] = {}

        def run_direct() -> str:
            segments, _ = direct.transcribe(str(path), **opts)
            return " ".join(s.text.strip() for s in segments)

        def run_ours() -> str:
            return ours.transcribe_path(path).text

        print(f"# {seconds / 60:.1f} min of real speech, model {args.model}, beam {cfg['transcription.beam_size']}, "
              f"{cfg.threads} threads, {os.cpu_count()} cores, {platform.platform()}, {time.strftime('%Y-%m-%d')}")
        times: dict[str, list[float]] = {"hushnote": [], "direct": []}
        texts: dict[str, str] = {}
        for i in range(args.runs):
            order = [("direct", run_direct), ("hushnote", run_ours)]
            if i % 2:
                order.reverse()
            for name, fn in order:
                passes["n"] = 0
                t0 = time.perf_counter()
                texts[name] = fn()
                times[name].append(time.perf_counter() - t0)
                pass_count[name] = passes["n"]
                print(f"  run {i + 1} {name}: {times[name][-1]:.2f} s, {passes['n']} passes, "
                      f"load average {os.getloadavg()[0]:.1f}", flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    print()
    print(f"{'':<10} {'median s':>9} {'runs':>36} {'RTF':>6} {'WER %':>6} {'passes':>7}")
    for k in ("direct", "hushnote"):
        runs = ", ".join(f"{t:.2f}" for t in times[k])
        print(f"{k:<10} {med[k]:>9.2f} {runs:>36} {med[k] / seconds:>6.3f} {100 * wer(reference, texts[k]):>6.2f} "
              f"{pass_count[k]:>7}")
    ratio = med["hushnote"] / med["direct"]
    print(f"\noverhead ratio hushnote/direct = {ratio:.3f} (goal ≤ 1.05); "
          f"Whisper passes {pass_count['hushnote']} vs {pass_count['direct']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
