"""``transcription.batch_size`` > 1: faster-whisper's batched pipeline over hushnote's VAD windows.

Measured with tiny.en, beam 1, on the 84-second sample (real read speech, 12 clips): the batched path's WER
is within a point of the sequential path's; see docs/BENCHMARKS.md for base and the speed numbers.
"""

from __future__ import annotations

from pathlib import Path

from hushnote.daemon.speech import transcribe

from tests.support.config import make_cfg
from tests.support.paths import SAMPLES
from tests.support.wer import wer

SAMPLE = SAMPLES / "sample-session.flac"


def test_batched_transcription_matches_sequential_accuracy(tmp_path: Path) -> None:
    reference = (SAMPLES / "sample-session.txt").read_text()
    cfg = make_cfg(tmp_path, transcription__model="tiny.en", transcription__beam_size=1)
    seq = transcribe.transcriber_for(cfg).transcribe_path(SAMPLE)
    seen: list[float] = []
    batched_t = transcribe.transcriber_for(cfg.with_overrides(transcription__batch_size=8))
    assert batched_t.key.batch_size == 8 and batched_t is not transcribe.transcriber_for(cfg)
    bat = batched_t.transcribe_path(SAMPLE, progress=lambda s, f, d="": seen.append(f) if s == "transcribe" else None)
    w_seq, w_bat = wer(reference, seq.text), wer(reference, bat.text)
    assert w_bat <= w_seq + 0.01 and w_bat < 0.08, (w_seq, w_bat)
    starts = [s.start for s in bat.segments]
    assert starts == sorted(starts) and all(0 <= s.start <= s.end <= bat.duration + 0.01 for s in bat.segments)
    assert bat.segments[0].start < 1.0 and bat.segments[-1].end > bat.duration - 5  # times map back to the file
    assert seen == sorted(seen) and seen[-1] == 1.0
    transcribe.unload_all()
