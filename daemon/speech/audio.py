"""Audio in: checks, streaming decode to 16 kHz mono float32, and cutting into windows at silences.

Any format PyAV (FFmpeg) reads is accepted. The file is decoded block by block and never held whole, so
memory does not grow with the length of the recording. Speech is found with the Silero VAD bundled with
faster-whisper; windows end in a pause, and only the speech inside a window is handed to Whisper.

A file cut short (half copied) is decoded as far as it goes, and ``Decoded.ended_early`` says so. Evidence:
less audio than the container announces (FLAC, MP3, M4A with its index first, WebM), a WAV header that
promises more data than the file holds, an Ogg/Opus file whose last page is incomplete or lacks the
end-of-stream mark, or decoding errors at the very end. (An M4A whose index is at its end cannot be read at
all when cut: that stays an error saying the file is incomplete or damaged.)

Error messages name the file (the user gave it to us) but nothing here is logged with file names.
"""

from __future__ import annotations

import contextlib
import stat
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hushnote.daemon.core.errors import InputError, reading

SAMPLE_RATE = 16_000

# Windows: each is cut at the longest pause between MIN and MAX seconds of audio. faster-whisper's memory
# use grows with the audio it is given (features for the whole array), so this bounds the peak: with
# the base model ~830-880 MB RSS for 25 or 50 minutes (a plain transcribe() of 50 minutes: ~3.1 GB).
# Each window boundary can cost one extra 30-second Whisper pass, so windows are kept long.
WINDOW_MAX_S = 600.0
WINDOW_MIN_S = 360.0
DECODE_BLOCK_S = 30.0
OGG_TAIL = 1 << 16  # the last Ogg page lies within this many bytes of the end (a page is at most ~64 KiB)

# Silero VAD settings: faster-whisper's own vad_filter defaults. The VAD runs once over the stream;
# the same frame probabilities choose where windows end and which stretches are speech.
VAD_THRESHOLD = 0.5
VAD_MIN_SILENCE_MS = 2000
VAD_SPEECH_PAD_MS = 400

SUPPORTED = "wav, flac, mp3, m4a, ogg, opus, webm, mp4 and most other audio or video files"

# ``opener(path)`` → a seekable binary file object with the file's (plaintext) bytes: how an encrypted
# store file is read in memory (``hushnote.daemon.privacy.at_rest.decrypting_opener``). None: the file is read directly.
Opener = Callable[[Path], Any]


def _bad(path: Path, what: str, hint: str = "") -> InputError:
    return InputError(f"{path.name} {what}", hint or f"Choose a recording in a common format ({SUPPORTED}).",
                      path=str(path))


# ----------------------------------------------------------------------------- checks before decoding

def check_file(path: Path) -> None:
    """Raise ``InputError`` unless ``path`` is an existing, readable, non-empty regular file."""
    with reading(path):
        st = path.stat()
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path} is a folder, not an audio file.", "Give the path of one recording.",
                         path=str(path))
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path} is not a regular file.", "Give the path of one recording.", path=str(path))
    if st.st_size == 0:
        raise _bad(path, "is empty (0 bytes): there is no recording in it.",
                   "The recording may not have been saved; check the original.")
    with reading(path), path.open("rb") as fh:
        fh.read(1)  # can it be read at all (permissions, I/O errors)?


def _truncated(path: Path) -> InputError:
    return _bad(path, "is incomplete: the file ends before any of the recording (truncated or still being "
                "copied).", "Copy the whole file again, or export it again from the recorder.")


# ----------------------------------------------------------------------------- a file cut short: its own bytes

def _riff_cut_short(head: bytes, size: int) -> tuple[bool, float | None]:
    """A WAV whose header promises more bytes than the file has was cut short (FFmpeg would not say: it
    takes the length from the file's size). Returns (cut short, seconds the header promises)."""
    (riff_size,) = struct.unpack("<I", head[4:8])
    if riff_size in (0, 0xFFFFFFFF, 0x7FFFFFFF) or riff_size < 36:
        return False, None  # a recorder that never finished the header: length unknown, no evidence
    if riff_size + 8 <= size + 1:
        return False, None
    byte_rate, data = 0, 0
    pos = 12
    while pos + 8 <= len(head):
        cid, n = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        if cid == b"fmt " and pos + 20 <= len(head):
            byte_rate = struct.unpack("<I", head[pos + 16:pos + 20])[0]
        elif cid == b"data":
            data = n
            break
        pos += 8 + n + (n & 1)
    return True, (data / byte_rate if byte_rate and data not in (0, 0xFFFFFFFF) else None)


def _ogg_cut_short(tail: bytes) -> bool:
    """The end of an Ogg file: its last page must be complete and carry the end-of-stream mark."""
    pos = tail.rfind(b"OggS\x00")
    if pos < 0 or len(tail) - pos < 27:
        return True
    nsegs = tail[pos + 26]
    if len(tail) - pos < 27 + nsegs:
        return True
    end = pos + 27 + nsegs + sum(tail[pos + 27:pos + 27 + nsegs])
    eos = bool(tail[pos + 5] & 0x04)
    return end != len(tail) or not eos


def cut_short(fh: Any) -> tuple[bool, float | None]:
    """What a file's own bytes say about its end (``fh``: a seekable binary file object, left at 0):
    (cut short, the length in seconds the file promises if it says)."""
    size = fh.seek(0, 2)
    fh.seek(0)
    head = fh.read(4096)
    try:
        if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            return _riff_cut_short(head, size)
        if head[:4] == b"OggS":
            fh.seek(max(0, size - OGG_TAIL))
            return _ogg_cut_short(fh.read()), None
        return False, None
    finally:
        fh.seek(0)


# ----------------------------------------------------------------------------- decoding

@dataclass
class Decoded:
    """What is known about the recording while (and after) it is decoded."""

    declared_s: float | None = None  # duration the container announces, if any
    decoded_s: float = 0.0
    skipped_packets: int = 0
    ended_early: bool = False  # the file ends before the recording does: decoded as far as it goes
    expected_s: float | None = None  # how long the file says the recording is (when it ended early and says)


@contextlib.contextmanager
def _open(path: Path, opener: Opener | None = None, info: Decoded | None = None) -> Iterator[Any]:
    """The file in PyAV (through ``opener`` for an encrypted one). With ``info``, its own bytes are read
    first for signs that it was cut short (``cut_short``)."""
    fh = opener(path) if opener is not None else None
    try:
        if info is not None:
            with contextlib.ExitStack() as stack:
                raw = fh if fh is not None else stack.enter_context(path.open("rb"))
                info.ended_early, info.expected_s = cut_short(raw)
        with _av_open(path, fh) as container:
            yield container
    finally:
        if fh is not None:
            fh.close()


def _av_open(path: Path, fh: Any) -> Any:
    import av

    try:
        return av.open(fh if fh is not None else str(path), mode="r", metadata_errors="ignore")
    except av.error.FileNotFoundError:
        raise InputError(f"{path} does not exist.", "Check the file name and try again.", path=str(path)) from None
    except av.error.PermissionError:
        raise InputError(f"{path} cannot be read (permission denied).",
                         "Check the file's permissions.", path=str(path)) from None
    except (av.error.FFmpegError, OSError, ValueError):
        if _isobmff(path, fh):
            raise _bad(path, "cannot be read: it is damaged or incomplete (an m4a or mp4 file copied only in part "
                       "cannot be read at all, because it keeps its index at the end).",
                       "Copy the whole file again, or export it again from the recorder.") from None
        raise _bad(path, "is not an audio file that can be read (damaged, incomplete, or not audio at all).") from None


def _isobmff(path: Path, fh: Any) -> bool:
    """Does the file start like an MP4/M4A/MOV (an ``ftyp`` box)?"""
    head: bytes
    try:
        if fh is not None:
            fh.seek(0)
            head = bytes(fh.read(12))
            fh.seek(0)
        else:
            with path.open("rb") as raw:
                head = raw.read(12)
    except OSError:
        return False
    return head[4:8] == b"ftyp"


def _declared_seconds(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        secs = float(stream.duration * stream.time_base)
        if secs > 0:
            return secs
    if container.duration:
        return float(container.duration) / 1_000_000
    return None


def _tolerance(declared: float) -> float:
    """How much less audio than announced still counts as complete (codec padding, imprecise headers)."""
    return max(1.0, 0.01 * declared)


def probe(path: Path, opener: Opener | None = None) -> float | None:
    """Check the file opens and has a sound track. Returns the length the container announces, if any."""
    check_file(path)
    with _open(path, opener) as container:
        if not container.streams.audio:
            raise _bad(path, "has no sound track (a video or file without audio).",
                       "Choose the session's audio recording, or a video that has sound.")
        return _declared_seconds(container, container.streams.audio[0])


def channel_count(path: Path, opener: Opener | None = None) -> int:
    """How many channels the file's sound track has (2 for a two-channel recording)."""
    check_file(path)
    with _open(path, opener) as container:
        if not container.streams.audio:
            raise _bad(path, "has no sound track (a video or file without audio).",
                       "Choose the session's audio recording, or a video that has sound.")
        return int(container.streams.audio[0].channels or 1)


def iter_pcm(path: Path, info: Decoded | None = None, block_s: float = DECODE_BLOCK_S,
             opener: Opener | None = None, stereo: bool = False) -> Iterator[np.ndarray]:
    """Decode ``path`` to 16 kHz mono float32, yielding blocks of about ``block_s`` seconds. With ``stereo``
    the blocks are (n, 2): left and right (a mono file comes out on both).

    Samples are identical to ``faster_whisper.decode_audio`` (s16 resampling, then /32768). Raises
    ``InputError`` for unreadable files, files without sound, 0 seconds of audio, or a file cut short.
    """
    import av

    info = info if info is not None else Decoded()
    info.declared_s = probe(path, opener)
    block = int(block_s * SAMPLE_RATE)
    width = 2 if stereo else 1
    resampler = av.audio.resampler.AudioResampler(format="s16", layout="stereo" if stereo else "mono",
                                                  rate=SAMPLE_RATE)
    pending: list[np.ndarray] = []
    pending_n = 0
    total = 0
    bad_end = False  # the last packets failed to decode: the file ends in damaged (cut) data
    with _open(path, opener, info) as container:
        stream = container.streams.audio[0]
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.InvalidDataError:
                info.skipped_packets += 1
                bad_end = True
                continue
            except (av.error.FFmpegError, OSError) as exc:
                raise _bad(path, f"could not be read to the end ({exc.__class__.__name__}).") from None
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                info.skipped_packets += 1
                bad_end = True
                continue
            except av.error.FFmpegError:
                raise _bad(path, "could not be decoded (damaged audio data).") from None
            bad_end = bad_end and not frames
            for frame in frames:
                frame.pts = None
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1, width)
                    pending.append(arr)
                    pending_n += arr.shape[0]
            if pending_n >= block:
                data = _samples(pending, stereo)
                pending, pending_n = [], 0
                total += data.shape[0]
                info.decoded_s = total / SAMPLE_RATE
                yield data
        for out in resampler.resample(None):
            arr = out.to_ndarray().reshape(-1, width)
            pending.append(arr)
            pending_n += arr.shape[0]
    if pending_n:
        data = _samples(pending, stereo)
        total += data.shape[0]
        info.decoded_s = total / SAMPLE_RATE
        yield data
    _judge_end(info, bad_end)
    if total == 0:
        if info.ended_early:
            raise _truncated(path)
        raise _bad(path, "contains no audio (0 seconds).", "The recording may have failed; check the original.")


def _samples(pending: list[np.ndarray], stereo: bool) -> np.ndarray:
    """Decoded s16 pieces, (n, 1) or (n, 2), as float32 in [-1, 1): (n,) mono or (n, 2) stereo."""
    data = np.concatenate(pending).astype(np.float32) / 32768.0
    return data if stereo else data.reshape(-1)


def _judge_end(info: Decoded, bad_end: bool) -> None:
    """Did the recording end early? Less audio than announced, decoding errors at the very end, or what the
    file's own bytes said before decoding (``cut_short``)."""
    declared = info.declared_s
    if declared is not None and info.decoded_s < declared - _tolerance(declared):
        info.ended_early = True
        info.expected_s = info.expected_s or declared
    if bad_end:
        info.ended_early = True
    if info.expected_s is not None and info.expected_s <= info.decoded_s:
        info.expected_s = None  # the file's promise is no longer than what was decoded: not a useful length


def decode_all(path: Path, opener: Opener | None = None) -> np.ndarray:
    """The whole file as one array (short files and tests only; long audio goes through ``iter_pcm``)."""
    blocks = list(iter_pcm(path, opener=opener))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


# ----------------------------------------------------------------------------- windows cut at silences

VAD_FRAME = 512  # samples per Silero VAD frame (32 ms)


@dataclass(frozen=True)
class SpeechWindow:
    """A stretch of the recording ending in a pause, with just its speech (silences removed)."""

    start: float  # seconds from the start of the recording
    end: float
    speech: np.ndarray  # the speech samples of this window, concatenated
    chunks: tuple[dict[str, int], ...]  # speech sample ranges, relative to ``start``


def vad_options(max_speech_s: float = float("inf")) -> Any:
    """faster-whisper's own ``vad_filter`` defaults (what a direct ``transcribe(vad_filter=True)`` uses)."""
    from faster_whisper.vad import VadOptions

    return VadOptions(threshold=VAD_THRESHOLD, min_silence_duration_ms=VAD_MIN_SILENCE_MS,
                      speech_pad_ms=VAD_SPEECH_PAD_MS, max_speech_duration_s=max_speech_s)


def speech_probs(audio: np.ndarray) -> np.ndarray:
    """Silero speech probability per 512-sample frame (the last partial frame zero-padded)."""
    from faster_whisper.vad import get_vad_model

    if audio.shape[0] == 0:
        return np.zeros(0, dtype=np.float32)
    pad = (-audio.shape[0]) % VAD_FRAME
    padded = np.pad(audio, (0, pad)) if pad else audio
    return np.asarray(get_vad_model()(padded), dtype=np.float32).reshape(-1)


def chunks_from_probs(probs: np.ndarray, n_samples: int) -> list[dict[str, int]]:
    """Speech ranges (samples) from frame probabilities: faster-whisper's ``get_speech_timestamps`` logic
    with its default options (threshold 0.5, 2 s minimum silence, 400 ms padding), without re-running
    the VAD model. Adapted from faster_whisper/vad.py (MIT licence)."""
    threshold = VAD_THRESHOLD
    neg_threshold = max(threshold - 0.15, 0.01)
    min_silence = SAMPLE_RATE * VAD_MIN_SILENCE_MS / 1000
    pad = SAMPLE_RATE * VAD_SPEECH_PAD_MS / 1000
    triggered = False
    speeches: list[dict[str, int]] = []
    current: dict[str, int] = {}
    temp_end = 0
    for i, p in enumerate(probs.tolist()):
        pos = VAD_FRAME * i
        if p >= threshold and temp_end:
            temp_end = 0
        if p >= threshold and not triggered:
            triggered = True
            current = {"start": pos}
            continue
        if p < neg_threshold and triggered:
            if not temp_end:
                temp_end = pos
            if pos - temp_end < min_silence:
                continue
            current["end"] = temp_end
            if current["end"] - current["start"] > 0:
                speeches.append(current)
            current = {}
            temp_end = 0
            triggered = False
    if current and n_samples - current["start"] > 0:
        current["end"] = n_samples
        speeches.append(current)
    for i, sp in enumerate(speeches):
        if i == 0:
            sp["start"] = int(max(0, sp["start"] - pad))
        if i != len(speeches) - 1:
            silence = speeches[i + 1]["start"] - sp["end"]
            if silence < 2 * pad:
                sp["end"] += int(silence // 2)
                speeches[i + 1]["start"] = int(max(0, speeches[i + 1]["start"] - silence // 2))
            else:
                sp["end"] = int(min(n_samples, sp["end"] + pad))
                speeches[i + 1]["start"] = int(max(0, speeches[i + 1]["start"] - pad))
        else:
            sp["end"] = int(min(n_samples, sp["end"] + pad))
    return speeches


def speech_chunks(audio: np.ndarray) -> list[dict[str, int]]:
    return chunks_from_probs(speech_probs(audio), audio.shape[0])


def choose_cut(probs: np.ndarray, lo: int, hi: int) -> int:
    """Frame index in [lo, hi) at which to end a window: the middle of the longest pause there.

    A pause is a run of frames below the silence threshold; ties go to the later one. With no pause at
    all (continuous speech), the quietest frame is used, so a window never ends mid-word if avoidable.
    """
    neg = max(VAD_THRESHOLD - 0.15, 0.01)
    seg = probs[lo:hi]
    quiet = seg < neg
    best_len, best_mid = 0, -1
    run_start = -1
    for i, q in enumerate([*quiet.tolist(), False]):
        if q and run_start < 0:
            run_start = i
        elif not q and run_start >= 0:
            length = i - run_start
            if length >= best_len:
                best_len, best_mid = length, (run_start + i) // 2
            run_start = -1
    if best_mid >= 0:
        return lo + best_mid
    return lo + int(len(seg) - 1 - np.argmin(seg[::-1]))


def _window(buf: np.ndarray, probs: np.ndarray, offset: int, end: int) -> SpeechWindow:
    piece = buf[:end]
    chunks = chunks_from_probs(probs[: -(-end // VAD_FRAME)], end)
    speech = (np.concatenate([piece[c["start"]:c["end"]] for c in chunks]) if chunks
              else np.zeros(0, dtype=np.float32))
    return SpeechWindow(offset / SAMPLE_RATE, (offset + end) / SAMPLE_RATE, speech, tuple(chunks))


def speech_windows(blocks: Iterable[np.ndarray], *, max_s: float | None = None,
                   min_s: float | None = None) -> Iterator[SpeechWindow]:
    """Group a stream of 16 kHz blocks into windows of at most ``max_s`` seconds, each ending in a pause.

    The VAD runs once over the stream (block by block). Each window ends in the longest pause between
    ``min_s`` and ``max_s``; only a window's worth of audio is held. Windows with no speech are yielded
    too (empty ``speech``) so callers can report progress through silence.
    """
    max_s = WINDOW_MAX_S if max_s is None else max_s
    min_s = WINDOW_MIN_S if min_s is None else min_s
    hi_f = int(max_s * SAMPLE_RATE) // VAD_FRAME
    lo_f = max(1, int(min_s * SAMPLE_RATE) // VAD_FRAME)
    buf = np.zeros(0, dtype=np.float32)
    probs = np.zeros(0, dtype=np.float32)  # one per complete frame of ``buf``
    offset = 0  # samples of the recording before ``buf``
    for block in blocks:
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        buf = np.concatenate([buf, block]) if buf.shape[0] else block
        done = probs.shape[0] * VAD_FRAME
        whole = (buf.shape[0] - done) // VAD_FRAME * VAD_FRAME
        if whole:
            probs = np.concatenate([probs, speech_probs(buf[done:done + whole])])
        while probs.shape[0] > hi_f:
            cut = choose_cut(probs, lo_f, hi_f) * VAD_FRAME
            yield _window(buf, probs, offset, cut)
            buf = buf[cut:].copy()
            probs = probs[cut // VAD_FRAME:].copy()
            offset += cut
    if buf.shape[0]:
        done = probs.shape[0] * VAD_FRAME
        if done < buf.shape[0]:
            probs = np.concatenate([probs, speech_probs(buf[done:])])
        yield _window(buf, probs, offset, buf.shape[0])
