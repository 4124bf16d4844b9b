"""Live transcription: a recording's windows transcribed while it goes on, joined into one transcript.

With speaker labels wanted (``speakers.enabled``), each window also brings its words' times and its speech's
voice embeddings (192 float32 per 1.5 s window: about 3 MB for an hour of speech); they are kept here, in
recording time, and clustered once after Stop (``pipeline.label_recorded``, by the worker), so Stop → note
stays quick."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
from hushnote.daemon.core.config import Config
from hushnote.daemon.core.datatypes import Segment, Transcript, Word
from hushnote.daemon.notes.pipeline import LiveTranscript
from hushnote.daemon.recording.devices import SAMPLE_RATE, RecorderError
from hushnote.daemon.speakers.diarize import Gathered

log = logging.getLogger(__name__)


class InProcess:
    """The window transcriber in this process (``pipeline.transcribe_window``): tests, benchmarks, a library
    caller. The service uses one in a model process instead (``recording.controller``)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def transcribe_window(self, samples: np.ndarray, source: str) -> LiveTranscript:
        from hushnote.daemon.notes.pipeline import transcribe_window

        return transcribe_window(samples, self.cfg, source)


class LiveTranscriber:
    """Collects a transcript window by window while recording; ``finish()`` after Stop returns it whole.

    Pass it as ``Recorder.start(..., window_consumer=LiveTranscriber(cfg))``. ``transcriber``: anything with
    ``transcribe_window(samples, source) -> LiveTranscript`` (default: ``InProcess``, the configured model in
    this process). Segment, word and voice-window times are absolute (seconds from the recording's start).
    """

    def __init__(self, cfg: Config, *, source: str = "", transcriber: Any = None) -> None:
        self.cfg = cfg
        self.source = source
        self._transcriber = transcriber
        self._segments: list[Segment] = []
        self._words: list[Word] = []
        self._voices = Gathered()
        self._voices_missing = False  # a window came without voice embeddings (not wanted, or they failed)
        self._language = ""
        self._label = ""
        self._error: BaseException | None = None
        self._ended = threading.Event()
        self._complete = False
        self.duration = 0.0
        self.windows: list[dict[str, float]] = []  # per window: offset_s, seconds, done_at (monotonic), took_s

    def _model(self) -> Any:
        if self._transcriber is None:
            self._transcriber = InProcess(self.cfg)
        return self._transcriber

    def on_window(self, samples: np.ndarray, offset_s: float) -> None:
        if self._error is not None:
            return  # the model failed once: the whole file is transcribed by the queue instead
        t0 = time.monotonic()
        try:
            got: LiveTranscript = self._model().transcribe_window(samples, self.source)
        except Exception as exc:  # noqa: BLE001 - reported by finish()
            self._error = exc
            log.warning("live transcription failed (%s)", exc.__class__.__name__)
            return
        self._add(got, offset_s)
        done = time.monotonic()
        self.windows.append({"offset_s": offset_s, "seconds": samples.shape[0] / SAMPLE_RATE,
                             "done_at": done, "took_s": done - t0})

    def _add(self, got: LiveTranscript, offset_s: float) -> None:
        """A window's transcript, words and voice windows, moved ``offset_s`` on to recording time."""
        tr = got.transcript
        self._language = self._language or tr.language
        self._label = tr.model
        base = len(self._segments)
        for seg in tr.segments:
            start = round(seg.start + offset_s, 2)
            self._segments.append(Segment(start, max(start, round(seg.end + offset_s, 2)), seg.text, seg.speaker))
        self._words.extend(Word(round(w.start + offset_s, 3), round(w.end + offset_s, 3), w.text, base + w.segment)
                           for w in tr.words)
        if got.voices is None:
            self._voices_missing = True
        else:
            self._voices.add(got.voices.windows, got.voices.embeddings, offset_s)

    @property
    def voices(self) -> Gathered | None:
        """Every window's voice embeddings, in recording time; None if any window came without them."""
        return None if self._voices_missing else self._voices

    def speech_chunks(self, samples: np.ndarray) -> list[dict[str, int]]:
        """Silero VAD's speech chunks, where the transcriber runs (in a model process if it is one)."""
        finder = getattr(self._transcriber, "speech_chunks", None)
        if finder is None:
            from hushnote.daemon.speech.audio import speech_chunks

            return speech_chunks(samples)
        return list(finder(samples))

    def on_end(self, duration_s: float, complete: bool) -> None:
        self.duration = duration_s
        self._complete = complete
        self._ended.set()

    def finish(self, timeout: float | None = None) -> Transcript:
        """Wait for the last window (call after Stop) and return the transcript of the whole recording."""
        if not self._ended.wait(timeout):
            raise RecorderError("Live transcription has not caught up yet.",
                                "The recording will be transcribed from the saved file instead.")
        if self._error is not None:
            err = self._error
            if isinstance(err, RecorderError):
                raise err
            raise RecorderError(f"Live transcription failed ({err.__class__.__name__}).",
                                "The recording will be transcribed from the saved file instead.") from err
        if not self._complete:
            raise RecorderError("Live transcription was interrupted before the end of the recording.",
                                "The recording will be transcribed from the saved file instead.")
        return Transcript(tuple(self._segments), self._language or "en", round(self.duration, 3),
                          self._label or str(self.cfg["transcription.model"]), self.source,
                          words=tuple(self._words))

    def finish_live(self, timeout: float | None = None) -> LiveTranscript:
        """``finish()``'s transcript (with word times when speakers are wanted) and the recording's voices."""
        return LiveTranscript(self.finish(timeout), self.voices)
