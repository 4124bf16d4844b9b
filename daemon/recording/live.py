"""Live transcription: a recording's windows transcribed while it goes on, joined into one transcript."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
from hushnote.daemon.core.config import Config
from hushnote.daemon.core.datatypes import Segment, Transcript
from hushnote.daemon.recording.devices import SAMPLE_RATE, RecorderError

log = logging.getLogger(__name__)


class LiveTranscriber:
    """Collects a transcript window by window while recording; ``finish()`` after Stop returns it whole.

    Pass it as ``Recorder.start(..., window_consumer=LiveTranscriber(cfg))``. Uses the configured model
    (``hushnote.daemon.speech.transcribe.transcriber_for``); segment times are absolute (seconds from the recording's start).
    """

    def __init__(self, cfg: Config, *, source: str = "", transcriber: Any = None) -> None:
        self.cfg = cfg
        self.source = source
        self._transcriber = transcriber
        self._segments: list[Segment] = []
        self._language = ""
        self._label = ""
        self._error: BaseException | None = None
        self._ended = threading.Event()
        self._complete = False
        self.duration = 0.0
        self.windows: list[dict[str, float]] = []  # per window: offset_s, seconds, done_at (monotonic), took_s

    def _model(self) -> Any:
        if self._transcriber is None:
            from hushnote.daemon.speech.transcribe import transcriber_for

            self._transcriber = transcriber_for(self.cfg)
        return self._transcriber

    def on_window(self, samples: np.ndarray, offset_s: float) -> None:
        if self._error is not None:
            return  # the model failed once: the whole file is transcribed by the queue instead
        t0 = time.monotonic()
        try:
            tr: Transcript = self._model().transcribe_audio(samples, self.source)
        except Exception as exc:  # noqa: BLE001 - reported by finish()
            self._error = exc
            log.warning("live transcription failed (%s)", exc.__class__.__name__)
            return
        self._language = self._language or tr.language
        self._label = tr.model
        for seg in tr.segments:
            start = round(seg.start + offset_s, 2)
            self._segments.append(Segment(start, max(start, round(seg.end + offset_s, 2)), seg.text, seg.speaker))
        done = time.monotonic()
        self.windows.append({"offset_s": offset_s, "seconds": samples.shape[0] / SAMPLE_RATE,
                             "done_at": done, "took_s": done - t0})

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
                          self._label or str(self.cfg["transcription.model"]), self.source)
