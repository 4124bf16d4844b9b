"""faster-whisper over windows cut at silences → a ``Transcript`` with absolute segment times.

A ``Transcriber`` owns one loaded model (local folder only, never a hub name). Long recordings are
decoded as a stream and transcribed window by window (see ``hushnote.daemon.speech.audio``), so memory stays bounded.
Each window is transcribed without conditioning on the previous text and with faster-whisper's
compression-ratio / log-probability fallbacks, which keeps repetition loops from spreading.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hushnote.daemon.core.config import Config
from hushnote.daemon.core.datatypes import Progress, Segment, Transcript, Word, no_progress
from hushnote.daemon.core.errors import ModelError
from hushnote.daemon.models import registry as models
from hushnote.daemon.speech import audio

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranscriberKey:
    model_dir: str
    device: str  # the preference: auto | cpu | cuda
    compute_type: str
    threads: int
    beam_size: int
    language: str  # "auto" or a code
    batch_size: int = 1  # > 1: faster-whisper's batched pipeline over each window's speech
    word_timestamps: bool = False  # a time for every word (speaker labels are given per word; ~ +7 % time)


def decode_options(beam_size: int, language: str | None, word_timestamps: bool = False) -> dict[str, Any]:
    """The faster-whisper ``transcribe()`` options used for every window (also used by the benchmarks)."""
    return {
        "word_timestamps": word_timestamps,
        "language": language,
        "beam_size": beam_size,
        "condition_on_previous_text": False,  # a loop in one 30 s stretch cannot feed the next
        "compression_ratio_threshold": 2.4,  # repetitive output → retry at a higher temperature
        "log_prob_threshold": -1.0,
        "no_speech_threshold": 0.6,
        "temperature": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
        "vad_filter": False,  # silences are already removed per window, with the same Silero VAD
    }


def batched_options(beam_size: int, language: str | None, batch_size: int,
                    word_timestamps: bool = False) -> dict[str, Any]:
    """Options for ``BatchedInferencePipeline.transcribe`` over one window's speech: the speech is cut
    again into <= 30 s pieces at its short pauses (its VAD, 160 ms minimum silence) and the pieces are
    decoded ``batch_size`` at a time. No temperature fallback: the batched pipeline decodes once."""
    return {
        "word_timestamps": word_timestamps,
        "language": language,
        "beam_size": beam_size,
        "batch_size": batch_size,
        "without_timestamps": True,  # with timestamps the batched pipeline drops words (WER 3.8 % → 10 %)
        "condition_on_previous_text": False,
        "compression_ratio_threshold": 2.4,
        "log_prob_threshold": -1.0,
        "no_speech_threshold": 0.6,
        "temperature": 0.0,
        "vad_filter": True,
    }


class Transcriber:
    """One Whisper model, loaded on first use; thread-safe (one transcription at a time)."""

    def __init__(self, key: TranscriberKey, label: str) -> None:
        self.key = key
        self.label = label  # "base", "tiny.en" or the folder's name
        self._lock = threading.RLock()
        self._model: Any = None
        self.device = ""
        self.compute_type = ""

    # ------------------------------------------------------------------ loading

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        import tqdm
        from faster_whisper import WhisperModel

        # faster-whisper makes (disabled) tqdm bars; without this each would start tqdm's monitor thread.
        tqdm.tqdm.monitor_interval = 0

        k = self.key
        device, compute_type = models.choose_device(k.device, k.compute_type)
        try:
            m = WhisperModel(k.model_dir, device=device, compute_type=compute_type, cpu_threads=k.threads,
                             local_files_only=True)
        except (RuntimeError, ValueError, OSError) as exc:
            if device == "cuda" and k.device == "auto":
                log.warning("GPU initialisation failed (%s); using the CPU instead", exc.__class__.__name__)
                device, compute_type = "cpu", "int8" if k.compute_type == "auto" else k.compute_type
                try:
                    m = WhisperModel(k.model_dir, device=device, compute_type=compute_type, cpu_threads=k.threads,
                                     local_files_only=True)
                except (RuntimeError, ValueError, OSError) as exc2:
                    raise _load_error(k.model_dir, exc2) from None
            else:
                raise _load_error(k.model_dir, exc) from None
        self.device, self.compute_type = device, compute_type
        log.info("speech model loaded on %s (%s)", device, compute_type)
        return m

    def unload(self) -> None:
        with self._lock:
            if self._model is not None:
                self._model = None
                log.info("speech model unloaded")

    # ------------------------------------------------------------------ transcribing

    def transcribe_path(self, path: Path, progress: Progress = no_progress,
                        opener: audio.Opener | None = None) -> Transcript:
        """Decode ``path`` as a stream and transcribe it in windows. ``source`` is the file's name.
        ``opener`` reads an encrypted file in memory (see ``audio.Opener``)."""
        info = audio.Decoded()
        audio.check_file(path)
        model = self.model()  # a broken model is reported before any decoding work

        def blocks() -> Iterator[np.ndarray]:
            for block in audio.iter_pcm(path, info, opener=opener):
                total = info.declared_s or 0.0
                progress("decode", min(1.0, info.decoded_s / total) if total else 0.0, "")
                yield block
            progress("decode", 1.0, "")

        return self._run(model, blocks(), path.name, info, progress)

    def transcribe_audio(self, samples: np.ndarray, source: str, progress: Progress = no_progress) -> Transcript:
        """Transcribe 16 kHz mono float32 samples already in memory (e.g. from the recorder)."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        info = audio.Decoded(declared_s=samples.shape[0] / audio.SAMPLE_RATE,
                             decoded_s=samples.shape[0] / audio.SAMPLE_RATE)
        step = int(audio.DECODE_BLOCK_S * audio.SAMPLE_RATE)
        blocks = (samples[i:i + step] for i in range(0, samples.shape[0], step))
        return self._run(self.model(), blocks, source, info, progress)

    def _run(self, model: Any, blocks: Iterable[np.ndarray], source: str, info: audio.Decoded,
             progress: Progress) -> Transcript:
        from faster_whisper.vad import SpeechTimestampsMap

        language = None if self.key.language == "auto" else self.key.language
        multilingual = bool(model.model.is_multilingual)
        if not multilingual:
            if language not in (None, "en"):
                raise ModelError(
                    f"The speech model {self.label} understands English only, but transcription.language is "
                    f'"{language}".', 'Set transcription.model = "base" (multilingual), or language = "en".')
            language = "en"
        segments: list[Segment] = []
        words: list[Word] = []
        last_start = 0.0
        done = 0.0

        def report(done: float, seconds: float) -> float:
            """Report transcription progress; never goes backwards."""
            total = info.declared_s or info.decoded_s
            frac = min(0.999, seconds / total) if total else 0.0
            if frac > done:
                progress("transcribe", frac, "")
                return frac
            return done
        batched = None
        if self.key.batch_size > 1:
            from faster_whisper import BatchedInferencePipeline

            batched = BatchedInferencePipeline(model)
        with self._lock:
            for win in audio.speech_windows(blocks):
                if win.speech.shape[0]:
                    if batched is not None:
                        opts = batched_options(self.key.beam_size, language, self.key.batch_size,
                                               self.key.word_timestamps)
                        pieces, tinfo = batched.transcribe(win.speech, **opts)
                    else:
                        opts = decode_options(self.key.beam_size, language, self.key.word_timestamps)
                        pieces, tinfo = model.transcribe(win.speech, **opts)
                    if language is None:
                        language = tinfo.language  # detected once, then kept for the whole recording
                    ts_map = SpeechTimestampsMap(list(win.chunks), audio.SAMPLE_RATE)
                    for p in pieces:
                        start = win.start + ts_map.get_original_time(p.start)
                        end = win.start + ts_map.get_original_time(p.end, is_end=True)
                        start = min(max(start, last_start, win.start), win.end)
                        end = min(max(end, start), win.end)
                        text = p.text.strip()
                        if text:
                            words.extend(_words(p, len(segments), win, ts_map))
                            segments.append(Segment(round(start, 2), round(end, 2), text))
                            last_start = start
                        done = report(done, end)
                done = report(done, win.end)
        progress("transcribe", 1.0, "")
        expected = round(info.expected_s, 3) if info.expected_s is not None else None
        return Transcript(tuple(segments), language or "en", round(info.decoded_s, 3), self.label, source,
                          ended_early=info.ended_early, expected_duration=expected, words=tuple(words))


def _words(piece: Any, segment: int, win: audio.SpeechWindow, ts_map: Any) -> list[Word]:
    """A recognised piece's words (when word timestamps were asked for) in recording time."""
    out: list[Word] = []
    for w in piece.words or ():
        start = win.start + ts_map.get_original_time(w.start)
        end = max(start, win.start + ts_map.get_original_time(w.end, is_end=True))
        out.append(Word(round(start, 3), round(min(end, win.end), 3), str(w.word), segment))
    return out


def _load_error(model_dir: str, exc: BaseException) -> ModelError:
    return ModelError(f"The speech model in {model_dir} could not be loaded ({exc.__class__.__name__}: "
                      f"{str(exc)[:120]}).",
                      'Check transcription.model, or use the built-in "base" model.', path=model_dir)


# ----------------------------------------------------------------------------- cache

_cache_lock = threading.Lock()
_cache: dict[TranscriberKey, Transcriber] = {}


def transcriber_for(cfg: Config, *, words: bool = False) -> Transcriber:
    """The cached ``Transcriber`` for the configured model/device/options (model checksum-verified).
    ``words``: give each word's time too (``Transcript.words``), for speaker labels."""
    model_dir = models.whisper_dir(cfg)
    key = TranscriberKey(str(model_dir), str(cfg["transcription.device"]), str(cfg["transcription.compute_type"]),
                         cfg.threads, int(cfg["transcription.beam_size"]), str(cfg["transcription.language"]),
                         int(cfg["transcription.batch_size"]), words)
    with _cache_lock:
        t = _cache.get(key)
        if t is None:
            t = _cache[key] = Transcriber(key, models.model_label(cfg))
        return t


def unload_all() -> None:
    """Drop every loaded model (the service calls this when idle)."""
    with _cache_lock:
        items = list(_cache.values())
    for t in items:
        t.unload()
