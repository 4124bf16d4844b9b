"""Peak memory and wall time on a long recording: hushnote's windowed pipeline vs a plain faster-whisper call.

    python bench/bench_long_audio.py [--minutes 50] [--model base] [--only pipeline|plain]

The recording is real speech (the eval clips, looped with short pauses) written to a FLAC file. Each
variant runs in its own subprocess; peak RSS is that child's ``ru_maxrss``. The plain variant is
``WhisperModel.transcribe(path)`` with the same model and options, which decodes the whole file and
computes features for all of it at once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
EVAL = Path(os.environ.get("HUSHNOTE_EVAL_DIR", REPO / "tests" / "data" / "eval"))
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PAUSE_S = 0.8


def build_speech_file(minutes: float, out: Path, pause_s: float = PAUSE_S) -> tuple[float, str]:
    """Write ``minutes`` of real speech (eval clips looped, ``pause_s`` apart) to ``out`` (16 kHz FLAC).

    Returns (seconds, reference text of everything in the file).
    """
    from flac import write_flac
    from hushnote.daemon.speech import audio
    from wer import load_manifest

    rows = load_manifest(EVAL)
    clips = [(audio.decode_all(r["path"]), r["transcript"]) for r in rows]
    pause = np.zeros(int(pause_s * audio.SAMPLE_RATE), dtype=np.float32)
    target = int(minutes * 60 * audio.SAMPLE_RATE)
    total, refs, pieces = 0, [], []
    while total < target:
        for samples, text in clips:
            pieces += [samples, pause]
            total += samples.shape[0] + pause.shape[0]
            refs.append(text)
            if total >= target:
                break
    write_flac(out, pieces)  # the pieces share the clips' arrays: nothing is copied
    return total / audio.SAMPLE_RATE, " ".join(refs)


DIALOGUES = EVAL / "dialogues" / "aci_bench_train_sample.csv"
VOICES = {"doctor": "en-us+m3", "patient": "en-us+f3"}


def build_dialogue_file(minutes: float, out: Path, pause_s: float = 0.5) -> tuple[float, str]:
    """Write ``minutes`` of two-speaker clinical dialogue (ACI-BENCH, read by two espeak-ng voices) to ``out``.

    Synthetic voices, but conversational turns and clinical words, which the read eval clips lack. Turns
    with digits are left out (the voice says "fifty", Whisper writes "50": that is not a recognition error).
    Returns (seconds, reference text)."""
    import csv

    from flac import write_flac
    from hushnote.daemon.speech import audio

    pause = np.zeros(int(pause_s * audio.SAMPLE_RATE), dtype=np.float32)
    target = int(minutes * 60 * audio.SAMPLE_RATE)
    pieces: list[np.ndarray] = []
    refs: list[str] = []
    total = 0
    with DIALOGUES.open(newline="", encoding="utf-8") as fh, tempfile.TemporaryDirectory() as tmp:
        for row in csv.DictReader(fh):
            for line in row["dialogue"].splitlines():
                speaker, _, text = line.partition("] ")
                voice = VOICES.get(speaker.strip("["))
                if voice is None or not text.strip() or any(ch.isdigit() for ch in text):
                    continue
                wav = Path(tmp) / "turn.wav"
                subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", str(wav), text],
                               check=True, timeout=60)
                samples = audio.decode_all(wav)
                pieces += [samples, pause]
                refs.append(text)
                total += samples.shape[0] + pause.shape[0]
                if total >= target:
                    break
            if total >= target:
                break
    write_flac(out, pieces)  # the pieces share the clips' arrays: nothing is copied
    return total / audio.SAMPLE_RATE, " ".join(refs)


def _child(variant: str, model: str, path: Path, data_dir: str) -> None:
    """Run one variant in this (fresh) process and print a JSON line with its numbers."""
    from hushnote.daemon.core import config
    from hushnote.daemon.speech.transcribe import transcriber_for

    cfg = config.defaults().with_overrides(paths__data=data_dir, transcription__model=model,
                                           transcription__language="en")
    t0 = time.perf_counter()
    if variant == "pipeline":
        tr = transcriber_for(cfg)
        tr.model()
        t1 = time.perf_counter()
        text = tr.transcribe_path(path).text
    else:
        from faster_whisper import WhisperModel
        from hushnote.daemon.models import registry as models
        from hushnote.daemon.speech import audio
        from hushnote.daemon.speech.transcribe import decode_options

        m = WhisperModel(str(models.whisper_dir(cfg)), device="cpu", compute_type="int8", cpu_threads=cfg.threads,
                         local_files_only=True)
        t1 = time.perf_counter()
        opts = decode_options(int(cfg["transcription.beam_size"]), "en")
        opts.update(vad_filter=True, vad_parameters=audio.vad_options(float("inf")))
        segments, _ = m.transcribe(str(path), **opts)
        text = " ".join(s.text.strip() for s in segments)
    t2 = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"variant": variant, "load_s": t1 - t0, "transcribe_s": t2 - t1, "peak_rss_mb": peak_mb,
                      "text": text}))


def run_variant(variant: str, model: str, path: Path, data_dir: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, "--child", variant, "--model", model, "--file", str(path),
                          "--data", data_dir], check=True, capture_output=True, text=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=50.0)
    ap.add_argument("--model", default="base")
    ap.add_argument("--only", choices=["pipeline", "plain"])
    ap.add_argument("--child", choices=["pipeline", "plain"], help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.model, Path(args.file), args.data)
        return 0

    from wer import wer

    with tempfile.TemporaryDirectory(prefix="hn-bench-") as tmp:
        path = Path(tmp) / "long.flac"
        seconds, reference = build_speech_file(args.minutes, path)
        data_dir = str(Path(tmp) / "data")
        print(f"# {seconds / 60:.1f} min of real speech, model {args.model}, {os.cpu_count()} cores, "
              f"{platform.platform()}, {time.strftime('%Y-%m-%d')}")
        variants = [args.only] if args.only else ["pipeline", "plain"]
        rows = []
        for v in variants:
            r = run_variant(v, args.model, path, data_dir)
            r["wer"] = wer(reference, str(r.pop("text")))
            rows.append(r)
            print(f"  {v}: {json.dumps(r)}", flush=True)
        print()
        print(f"{'variant':<10} {'peak RSS MB':>12} {'transcribe s':>13} {'RTF':>6} {'WER %':>7}")
        for r in rows:
            t = float(r["transcribe_s"])  # type: ignore[arg-type]
            print(f"{r['variant']!s:<10} {float(r['peak_rss_mb']):>12.0f} {t:>13.1f} {t / seconds:>6.3f} "  # type: ignore[arg-type]
                  f"{100 * float(r['wer']):>7.2f}")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
