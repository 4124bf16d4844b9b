"""Speech regions for speaker labelling: the Silero VAD that faster-whisper ships, with a short pause rule.

Transcription uses a 2-second minimum silence (long stretches for Whisper); speaker turns are often
separated by much less, so here a pause of MIN_SILENCE_MS ends a region.
"""

from __future__ import annotations

from hushnote.daemon.speakers.fbank import SAMPLE_RATE, Audio

MIN_SILENCE_MS = 250
SPEECH_PAD_MS = 100


def speech_regions(audio: Audio, min_silence_ms: int = MIN_SILENCE_MS) -> list[tuple[float, float]]:
    """(start, end) seconds of speech in 16 kHz mono float32 ``audio``, in order."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(min_silence_duration_ms=min_silence_ms, speech_pad_ms=SPEECH_PAD_MS)
    stamps = get_speech_timestamps(audio, opts, sampling_rate=SAMPLE_RATE)
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]
