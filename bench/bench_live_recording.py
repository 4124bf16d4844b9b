"""Live transcription while recording: does it keep up with real time, and how long after Stop is the
transcript ready?

Plays real speech (the shared eval clips, repeated to the wanted length, joined by 0.6 s pauses) at real
time through a private PulseAudio server (tests/support/pulse.py) into a recording with a ``LiveTranscriber``,
then measures:

* lag per window: from the moment the window's last sample was captured to its transcript being ready
  (includes waiting for the chunk file and the window cut); its trend says whether it keeps up;
* Stop → final transcript: ``stop()`` (last chunk, FLAC assembly, hand-off) + ``finish()`` (the tail);
* the same recording transcribed from the file afterwards (what Stop → transcript would cost without
  live transcription), and both WERs against the reference text.

    python bench/bench_live_recording.py --minutes 7 --models base tiny.en [--json out.json]

Measured (2 cores, CPU int8, beam 5, 425 s of speech, 21 windows of 15-25 s, 3 s chunks):

    model    RTF live  lag median 1st/2nd half  lag max  Stop→saved  Stop→final transcript  whole file  WER live/whole
    base     0.17      9.1 s / 8.9 s            16.7 s   0.8 s       3.9 s                  80.3 s      3.7 % / 4.6 %
    tiny.en  0.10      7.1 s / 8.6 s            14.7 s   0.8 s       2.7 s                  52.0 s      3.6 % / 3.4 %

Lag is flat over the session (it keeps up); most of it is waiting for the window to fill to its pause
(up to 25 s) and for the 3 s chunk, not transcription (2-5 s per window).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hushnote.daemon.core import config  # noqa: E402
from hushnote.daemon.recording.live import LiveTranscriber  # noqa: E402
from hushnote.daemon.recording.recorder import Recorder  # noqa: E402
from hushnote.daemon.speech import audio  # noqa: E402
from hushnote.daemon.speech.transcribe import transcriber_for  # noqa: E402

from tests.support.pulse import pulse_server  # noqa: E402
from tests.support.speech import write_wav  # noqa: E402
from tests.support.wer import load_manifest, wer  # noqa: E402


def speech(eval_dir: Path, minutes: float) -> tuple[np.ndarray, str]:
    rows = load_manifest(eval_dir)
    gap = np.zeros(int(0.6 * 16000), dtype=np.float32)
    decoded = [(audio.decode_all(r["path"]), str(r["transcript"])) for r in rows]
    parts: list[np.ndarray] = [gap]
    refs: list[str] = []
    n = gap.shape[0]
    while n < minutes * 60 * 16000:
        for pcm, ref in decoded:
            parts += [pcm, gap]
            refs.append(ref)
            n += pcm.shape[0] + gap.shape[0]
            if n >= minutes * 60 * 16000:
                break
    return np.concatenate(parts), " ".join(refs)


def run(model: str, wav: Path, ref: str, seconds: float, data: Path) -> dict[str, Any]:
    vals = {f"{s}.{k}": v for s, body in config.defaults().as_dict().items() for k, v in body.items()}
    vals.update({"paths.data": str(data), "transcription.model": model, "transcription.language": "en"})
    cfg = config.Config(vals, "(bench)")
    tr = transcriber_for(cfg)
    tr.model()  # load outside the measurement, as the service keeps it loaded
    live = LiveTranscriber(cfg, source="bench")
    with Recorder(cfg) as rec:
        rec.start(consent_confirmed=True, window_consumer=live)
        t0 = time.monotonic()  # audio time 0 ≈ now (start() returns once audio flows)
        SERVER.play_and_wait(wav)
        t_stop = time.monotonic()
        res = rec.stop()
        t_saved = time.monotonic()
        transcript = live.finish()
        t_final = time.monotonic()
    assert res is not None and res.path is not None
    windows = []
    for w in live.windows:
        end = w["offset_s"] + w["seconds"]
        windows.append({"audio_end_s": round(end, 1), "seconds": round(w["seconds"], 1),
                        "took_s": round(w["took_s"], 2),
                        "lag_s": round(w["done_at"] - (t0 + end), 2),
                        "after_stop": w["done_at"] > t_stop})
    during = [w for w in windows if not w["after_stop"]]
    half = len(during) // 2
    t1 = time.monotonic()
    whole = tr.transcribe_path(res.path)
    whole_s = time.monotonic() - t1
    return {
        "model": model, "audio_s": round(res.seconds, 1), "played_s": round(seconds, 1),
        "windows": len(windows), "windows_after_stop": len(windows) - len(during),
        "rtf_live": round(sum(w["took_s"] for w in windows) / max(1e-9, sum(w["seconds"] for w in windows)), 3),
        "lag_first_half_median_s": round(statistics.median(w["lag_s"] for w in during[:half]), 2) if half else None,
        "lag_second_half_median_s": round(statistics.median(w["lag_s"] for w in during[half:]), 2) if during else None,
        "lag_max_during_s": max((w["lag_s"] for w in during), default=None),
        "stop_to_saved_s": round(t_saved - t_stop, 2),
        "stop_to_final_transcript_s": round(t_final - t_stop, 2),
        "whole_file_transcribe_s": round(whole_s, 1),
        "wer_live": round(wer(ref, transcript.text), 4), "wer_whole_file": round(wer(ref, whole.text), 4),
        "per_window": windows,
    }


SERVER: Any = None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=7.0)
    ap.add_argument("--models", nargs="+", default=["base", "tiny.en"])
    ap.add_argument("--eval-dir", type=Path, default=REPO / "tests" / "data" / "eval")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    samples, ref = speech(args.eval_dir, args.minutes)
    results = []
    global SERVER
    with tempfile.TemporaryDirectory(prefix="hn-bench-") as tmp, pulse_server() as srv:
        SERVER = srv
        wav = write_wav(Path(tmp) / "speech.wav", samples)
        for model in args.models:
            r = run(model, wav, ref, samples.shape[0] / 16000, Path(tmp) / f"data-{model}")
            results.append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "per_window"}), flush=True)
            for w in r["per_window"]:
                print(f"  {model:8s} window ending {w['audio_end_s']:7.1f} s  ({w['seconds']:4.1f} s)  "
                      f"took {w['took_s']:5.2f} s  lag {w['lag_s']:6.2f} s{'  (after Stop)' if w['after_stop'] else ''}",
                      flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
