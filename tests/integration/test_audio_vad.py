"""Windows cut at pauses, found by the real Silero VAD model (as faster-whisper runs it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hushnote.daemon.speech import audio

from tests.support.wer import load_manifest


def test_chunks_from_probs_match_faster_whisper(eval_dir: Path) -> None:
    """Our single-pass VAD gives the same speech ranges as faster-whisper's own vad_filter."""
    from faster_whisper.vad import get_speech_timestamps

    rows = load_manifest(eval_dir)[:8]
    pause = np.zeros(int(2.5 * audio.SAMPLE_RATE), dtype=np.float32)
    pcm = np.concatenate([x for r in rows for x in (audio.decode_all(r["path"]), pause)])
    theirs = get_speech_timestamps(pcm, audio.vad_options(), sampling_rate=audio.SAMPLE_RATE)
    ours = audio.speech_chunks(pcm)
    assert len(ours) == len(theirs) >= 6
    for a, b in zip(ours, theirs, strict=True):
        assert abs(a["start"] - b["start"]) <= audio.VAD_FRAME and abs(a["end"] - b["end"]) <= audio.VAD_FRAME


def test_speech_windows_cover_the_recording_and_cut_in_pauses(eval_dir: Path) -> None:
    rows = load_manifest(eval_dir)[:14]
    pause = np.zeros(int(0.8 * audio.SAMPLE_RATE), dtype=np.float32)
    pieces, bounds, pos = [], [], 0
    for r in rows:
        s = audio.decode_all(r["path"])
        pieces += [s, pause]
        bounds.append((pos, pos + s.shape[0]))
        pos += s.shape[0] + pause.shape[0]
    pcm = np.concatenate(pieces)
    blocks = (pcm[i:i + 5 * audio.SAMPLE_RATE] for i in range(0, pcm.shape[0], 5 * audio.SAMPLE_RATE))
    wins = list(audio.speech_windows(blocks, max_s=30.0, min_s=15.0))
    total = pcm.shape[0] / audio.SAMPLE_RATE
    assert total > 100 and len(wins) >= 4
    assert wins[0].start == 0.0
    assert wins[-1].end == pytest.approx(total)
    for a, b in zip(wins, wins[1:], strict=False):
        assert a.end == b.start
    for w in wins:
        assert w.end - w.start <= 30.0 + 1e-6
        assert w.speech.shape[0] == sum(c["end"] - c["start"] for c in w.chunks)
        cut = round(w.end * audio.SAMPLE_RATE)
        if w is not wins[-1]:
            inside = [b for b in bounds if b[0] + 0.1 * audio.SAMPLE_RATE < cut < b[1] - 0.1 * audio.SAMPLE_RATE]
            assert not inside, f"window cut at {w.end:.2f} s falls inside a clip, not in a pause"
    assert sum(w.speech.shape[0] for w in wins) / audio.SAMPLE_RATE > 0.8 * sum(b[1] - b[0] for b in bounds) / audio.SAMPLE_RATE


def test_silence_only_windows_are_empty() -> None:
    blocks = [np.zeros(10 * audio.SAMPLE_RATE, dtype=np.float32) for _ in range(8)]
    wins = list(audio.speech_windows(blocks, max_s=30.0, min_s=15.0))
    assert wins and all(w.speech.shape[0] == 0 for w in wins)
    assert wins[-1].end == pytest.approx(80.0)
