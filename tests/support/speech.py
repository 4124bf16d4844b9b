"""Speech files for tests and benchmarks: the eval clips, and writers for silent, real and long recordings.

``speech(eval_dir, i)``   the i-th of eight short real clips (at least 8 words each), cycling
``joined_clips(eval_dir, ["jfk", …])``   named clips joined with short silences, and their reference text
``wav(path, seconds)``    a silent 16-bit mono WAV
``write_wav(path, samples)`` / ``write_flac(path, samples)``   float samples to a file
``ffmpeg(...)``, ``reading_in_formats(folder, eval_dir)``, ``cut(src, dst)``   other formats, and files cut short
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tests.support.wer import load_manifest

SAMPLE_RATE = 16000
FFMPEG = shutil.which("ffmpeg")
JFK = "faster_whisper_tests/jfk.flac"  # 11 s, 22 words, under eval/speech
WAV = "librivox_pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav"  # a WAV, under eval/speech
GAP_S = 0.6  # the silence between joined clips
# How much worse the 22-word JFK clip may score when recorded than when transcribed directly: 2 words.
# tiny.en hears "Americans"/"ask" as "American"/"asked" on some captures of the same clip (2 words in
# 1 of 15 perturbed copies); a lost 2-3 s chunk costs 5+ words.
JFK_SLACK = 0.1

CLIPS = [  # (path under eval/speech, words) -- short real speech with at least 8 words
    ("faster_whisper_tests/jfk.flac", 22),
    ("ljspeech/LJ001-0001.flac", 27),
    ("librispeech_testclean/1089-134686-0001.flac", 8),
    ("librivox_pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav", 22),
    ("ljspeech/LJ001-0004.flac", 14),
    ("ljspeech/LJ001-0011.flac", 15),
    ("librispeech_testclean/1089-134691-0001.flac", 17),
    ("librivox_pocketsphinx/sense_and_sensibility_01_austen_64kb-0890.wav", 14),
]


def speech(eval_dir: Path, i: int) -> Path:
    return eval_dir / "speech" / CLIPS[i % len(CLIPS)][0]


def joined_clips(eval_dir: Path, clips: list[str]) -> tuple[np.ndarray, str]:
    """The named eval clips (by file-name prefix) joined with short silences, and their reference text."""
    from hushnote.daemon.speech import audio

    rows = load_manifest(eval_dir)
    parts: list[np.ndarray] = []
    refs: list[str] = []
    gap = np.zeros(int(GAP_S * SAMPLE_RATE), dtype=np.float32)
    for name in clips:
        row = next(r for r in rows if Path(r["clip"]).name.startswith(name))
        parts += [audio.decode_all(row["path"]), gap]
        refs.append(str(row["transcript"]))
    return np.concatenate([gap, *parts]), " ".join(refs)


def wav(path: Path, seconds: float = 1.0, rate: int = SAMPLE_RATE) -> Path:
    """A silent 16-bit mono WAV of ``seconds``."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return path


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Float32 (-1..1) or int16 mono samples → a 16-bit WAV."""
    data = samples if samples.dtype == np.int16 else np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return path


def write_flac(path: Path, samples: np.ndarray | Iterable[np.ndarray]) -> None:
    """``samples``: float32 in [-1, 1] at 16 kHz, one array (written a minute at a time; (n, 2): two channels)
    or the mono pieces of the recording in order (written one by one, never joined): memory stays bounded."""
    import av

    step = SAMPLE_RATE * 60
    pieces = ((samples[i:i + step] for i in range(0, samples.shape[0], step)) if isinstance(samples, np.ndarray)
              else samples)
    layout = "stereo" if isinstance(samples, np.ndarray) and samples.ndim == 2 else "mono"
    with av.open(str(path), "w", format="flac") as container:
        stream = container.add_stream("flac", rate=SAMPLE_RATE, layout=layout)
        for piece in pieces:
            pcm = np.clip(piece * 32768.0, -32768, 32767).astype(np.int16).reshape(1, -1)  # interleaved
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout=layout)
            frame.sample_rate = SAMPLE_RATE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def seconds_of(path: Path) -> float:
    """The length of an audio file, decoded."""
    from hushnote.daemon.speech import audio

    return float(audio.decode_all(path).shape[0] / SAMPLE_RATE)


def spoken(texts: list[str], out: Path, *, rate: int = 140) -> Path:
    """Each sentence spoken by espeak-ng (en-us), a second of silence after each, as one 16 kHz mono WAV."""
    parts: list[str] = []
    for i, t in enumerate(texts):
        part = out.parent / f"{out.stem}-part{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(rate), "-w", str(part), t], check=True, timeout=60)
        parts.append(str(part))
    subprocess.run(["sox", *parts, "-r", "16000", "-c", "1", str(out), "pad", "0", "1"], check=True, timeout=60)
    return out


def ffmpeg(*args: str) -> None:
    """Run the ``ffmpeg`` command (quiet, overwriting); the caller skips when ``FFMPEG`` is None."""
    assert FFMPEG  # noqa: S101 - a test helper
    subprocess.run([FFMPEG, "-nostdin", "-loglevel", "error", "-y", *args], check=True)  # noqa: S603


# ffmpeg options per format; m4a with its index first (as many recorders and `-movflags +faststart` write it)
READING_FORMATS: dict[str, list[str]] = {"wav": [], "flac": [], "mp3": [], "m4a": ["-movflags", "+faststart"],
                                         "ogg": ["-c:a", "libvorbis"], "opus": [], "webm": ["-c:a", "libopus"]}
READING_S = 50.33  # the first eight LJ Speech clips end to end


def reading_in_formats(folder: Path, eval_dir: Path) -> dict[str, Path]:
    """A 50-second reading (eight LJ Speech clips) as ``folder/reading.<ext>`` in each of ``READING_FORMATS``."""
    clips = sorted((eval_dir / "speech" / "ljspeech").glob("*.flac"))[:8]
    inputs = [a for c in clips for a in ("-i", str(c))]
    joined = "".join(f"[{i}:a]" for i in range(len(clips))) + f"concat=n={len(clips)}:v=0:a=1[a]"
    out = {"wav": folder / "reading.wav"}
    ffmpeg(*inputs, "-filter_complex", joined, "-map", "[a]", str(out["wav"]))
    for ext, extra in READING_FORMATS.items():
        if ext != "wav":
            out[ext] = folder / f"reading.{ext}"
            ffmpeg("-i", str(out["wav"]), *extra, str(out[ext]))
    return out


def cut(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    """``dst``: the first ``fraction`` of ``src``'s bytes, as a copy stopped half way leaves it."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst
