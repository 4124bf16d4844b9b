"""Speech regions for speaker labelling: the Silero VAD that faster-whisper ships, with a short pause rule.

Transcription uses a 2-second minimum silence (long stretches for Whisper); speaker turns are often
separated by much less, so here a pause of MIN_SILENCE_MS ends a region. The audio is read CHUNK_S at a
time: faster-whisper's VAD holds working memory in proportion to what it is given (on 50 minutes: +660 MB
at once, +256 MB in 5-minute chunks, +139 MB in 1-minute chunks, all with the VAD model itself); regions
that meet at a chunk boundary are joined.
"""

from __future__ import annotations

from hushnote.daemon.speakers.fbank import SAMPLE_RATE, Audio

MIN_SILENCE_MS = 250
SPEECH_PAD_MS = 100
CHUNK_S = 60


def speech_regions(audio: Audio, min_silence_ms: int = MIN_SILENCE_MS) -> list[tuple[float, float]]:
    """(start, end) seconds of speech in 16 kHz mono float32 ``audio``, in order."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(min_silence_duration_ms=min_silence_ms, speech_pad_ms=SPEECH_PAD_MS)
    step = CHUNK_S * SAMPLE_RATE
    regions: list[tuple[float, float]] = []
    for start in range(0, len(audio), step):
        for stamp in get_speech_timestamps(audio[start : start + step], opts, sampling_rate=SAMPLE_RATE):
            a, b = (start + stamp["start"]) / SAMPLE_RATE, (start + stamp["end"]) / SAMPLE_RATE
            if regions and a <= regions[-1][1] and a * SAMPLE_RATE <= start:  # continues over the boundary
                regions[-1] = (regions[-1][0], b)
            else:
                regions.append((a, b))
    return regions
