"""Tonal music made here (no recording needed): chords of harmonic tones under a melody, with note attacks
and decays, a little vibrato and a soft hi-hat, 16 kHz mono float32. Stands in for music in a session's
audio (a waiting-room radio, music before the session starts) in the speaker-labelling tests and bench."""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
# I-vi-IV-V in C major, as MIDI note numbers (root position triads an octave below the melody)
CHORDS = ((48, 52, 55), (45, 48, 52), (41, 45, 48), (43, 47, 50))
SCALE = (60, 62, 64, 65, 67, 69, 71, 72)


def _hz(midi: float) -> float:
    return float(440.0 * 2 ** ((midi - 69) / 12))


def _tone(midi: float, seconds: float, rng: np.random.Generator, harmonics: int = 6) -> np.ndarray:
    """One note: harmonics falling off as 1/h, a quick attack, an exponential decay, slight vibrato."""
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    vibrato = 0.003 * np.sin(2 * np.pi * 5.5 * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * _hz(midi) * np.cumsum(1 + vibrato) / SAMPLE_RATE
    wave = sum(np.sin(h * phase) / h for h in range(1, harmonics + 1))
    envelope = np.minimum(1.0, t / 0.02) * np.exp(-t / max(seconds * 0.6, 0.05))
    return np.asarray(wave * envelope, dtype=np.float32)


def tonal_music(seconds: float, seed: int = 0, bpm: float = 96.0, level_db: float = -12.0) -> np.ndarray:
    """About ``seconds`` of music: a chord per bar, a melody note per beat, a hi-hat on the off-beats; its
    peak at ``level_db`` dBFS."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    n = int(seconds * SAMPLE_RATE)
    out = np.zeros(n + int(4 * beat * SAMPLE_RATE), dtype=np.float32)
    b = 0
    while b * beat < seconds:
        at = int(b * beat * SAMPLE_RATE)
        if b % 4 == 0:
            for note in CHORDS[(b // 4) % len(CHORDS)]:
                chord = _tone(note, 4 * beat, rng) * 0.5
                out[at : at + len(chord)] += chord
        melody = _tone(SCALE[int(rng.integers(len(SCALE)))], beat, rng, harmonics=4)
        out[at : at + len(melody)] += melody
        hat_at = at + int(beat / 2 * SAMPLE_RATE)
        hat = rng.standard_normal(int(0.04 * SAMPLE_RATE)).astype(np.float32)
        hat *= np.exp(-np.arange(len(hat)) / (0.008 * SAMPLE_RATE)).astype(np.float32) * 0.15
        out[hat_at : hat_at + len(hat)] += hat
        b += 1
    out = out[:n]
    return np.asarray(out / max(float(np.abs(out).max()), 1e-9) * 10 ** (level_db / 20), dtype=np.float32)
