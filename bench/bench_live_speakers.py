"""Speaker labels for a recording transcribed while it is made: their cost while recording, and Stop → labels.

    python bench/bench_live_speakers.py [--minutes 10] [--model tiny.en] [--skip-plain]

One session built from two readers of tests/data/speakers (tests/support/speakers.py: alternating 1-7 s
turns, per-turn loudness and EQ, 0.1-1 s pauses) is fed window by window through ``LiveTranscriber`` in this
process, as the recorder does (``recording.live_window_s`` windows ended at pauses; the service runs the same
work in its live model process), twice: with ``speakers.enabled = false`` and with it on (word times, and the
CAM++ embeddings of each window's speech). Measures

* CPU seconds per audio second of live transcription, with and without speakers (process CPU time: every
  thread of CTranslate2 and onnxruntime);
* Stop → labelled transcript: from ``finish_live()`` (the last window already done) through
  ``pipeline.label_recorded`` (one clustering of every window, the words' labels), wall and CPU; also with
  the enrolled voice, and for the same session saved as two channels (labels from the file's channel powers);
* the labelled words' accuracy after the best renaming (truth: the turn nearest each word's middle), and the
  memory the voice windows take.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hushnote.daemon.core.config import Config, defaults  # noqa: E402
from hushnote.daemon.core.datatypes import Transcript  # noqa: E402
from hushnote.daemon.notes import pipeline  # noqa: E402
from hushnote.daemon.recording.live import LiveTranscriber  # noqa: E402
from hushnote.daemon.speakers import Embedder, speech_regions, voiceprint  # noqa: E402

from tests.support.speakers import (  # noqa: E402
    FEMALE,
    MALE,
    Session,
    build_session,
    feed_live,
    labelled_accuracy,
    reader_audio,
    stereo,
)
from tests.support.speech import write_flac, write_wav  # noqa: E402


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def live_run(cfg: Config, session: Session) -> tuple[pipeline.LiveTranscript, float, float, int]:
    """Feed the session; (result, CPU-s per audio s, wall s, windows)."""
    live = LiveTranscriber(cfg, source="bench")
    c0, w0 = cpu(), time.monotonic()
    feed_live(live, session.audio, float(cfg["recording.live_window_s"]))
    c1, w1 = cpu(), time.monotonic()
    got = live.finish_live(0)
    return got, (c1 - c0) / (len(session.audio) / 16000), w1 - w0, len(live.windows)


def timed_label(path: Path, got: pipeline.LiveTranscript, cfg: Config,
                voiceprint: np.ndarray | None = None) -> tuple[Transcript, float, float]:
    """``label_recorded`` as the worker runs it after Stop: (labelled transcript, wall s, CPU s)."""
    c0, w0 = cpu(), time.monotonic()
    t = pipeline.label_recorded(path, got.transcript, cfg, got.voices, voiceprint=voiceprint)
    return t, time.monotonic() - w0, cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--skip-plain", action="store_true", help="skip the run without speakers")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-live-speakers-"))
    base = defaults().with_overrides(paths__data=str(root / "data"), transcription__model=args.model,
                                     transcription__language="en")
    pair = (FEMALE[1], MALE[0])
    session = build_session([[reader_audio(pair[0])], [reader_audio(pair[1])]], args.minutes * 60, seed=7)
    mono = write_wav(root / "session.wav", session.audio)
    two = root / "session-2ch.flac"
    write_flac(two, stereo(session))
    seconds = len(session.audio) / 16000
    print(f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}; load {os.getloadavg()}")
    print(f"session {seconds:.0f} s ({pair[0]}/{pair[1]}), model {args.model}, "
          f"windows of {base['recording.live_window_s']} s")
    if not args.skip_plain:
        _, per_s, wall, n = live_run(base.with_overrides(speakers__enabled=False), session)
        print(f"live, no speakers:   {per_s:.3f} CPU-s per audio s ({wall:.0f} s wall, {n} windows)")
    got, per_s, wall, n = live_run(base, session)
    assert got.voices is not None
    print(f"live, with speakers: {per_s:.3f} CPU-s per audio s ({wall:.0f} s wall, {n} windows); "
          f"{len(got.transcript.words)} words, {len(got.voices)} voice windows = "
          f"{got.voices.embeddings.nbytes / 1e6:.2f} MB")
    t, wall, c = timed_label(mono, got, base)
    print(f"Stop -> labels, by voice:    {wall:.2f} s wall, {c:.2f} CPU-s; {t.speakers_line!r}; "
          f"accuracy {labelled_accuracy(session, got.transcript.words, t):.3f}")
    clip = reader_audio(pair[1], "enrol")
    vp = voiceprint(clip, speech_regions(clip), Embedder())
    t, wall, c = timed_label(mono, got, base, voiceprint=vp)
    print(f"Stop -> labels, enrolled:    {wall:.2f} s wall, {c:.2f} CPU-s; {t.speakers_line!r}; "
          f"accuracy {labelled_accuracy(session, got.transcript.words, t):.3f}")
    t, wall, c = timed_label(two, got, base)
    print(f"Stop -> labels, 2 channels:  {wall:.2f} s wall, {c:.2f} CPU-s; {t.speakers_line!r}; "
          f"accuracy {labelled_accuracy(session, got.transcript.words, t):.3f}")
    print(f"load at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
