"""Speaker embeddings of short audio windows with the shipped CAM++ ONNX model on onnxruntime.

One intra-op thread (transcription runs beside it), float32 compute (the model stores float16 weights and
casts them once at load). Features are computed per batch of windows, never for a whole file, so memory
stays bounded however long the recording is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from hushnote.daemon.core.errors import ModelError
from hushnote.daemon.speakers.fbank import FRAME_LENGTH, SAMPLE_RATE, Audio, utterance_features

MODEL_PATH = Path(__file__).resolve().parent / "data" / "campplus.onnx"
EMBEDDING_DIM = 192
WINDOW_S = 1.5
BATCH = 8  # windows per onnxruntime call: 16 is ~15 % cheaper in CPU but holds +106 MB of working memory, 8 +56 MB

Embeddings = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Window:
    """A stretch of audio to embed, in seconds from the start of the recording."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


class Embedder:
    """Loads the CAM++ model once; :meth:`embed` turns audio snippets into unit-length 192-dim vectors."""

    def __init__(self, model_path: Path = MODEL_PATH, threads: int = 1) -> None:
        import onnxruntime as ort

        if not model_path.is_file():
            raise ModelError(
                f"The speaker model {model_path.name} is missing.", "Reinstall hushnote to restore it.",
                path=str(model_path),
            )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._session: Any = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            raise ModelError(
                f"The speaker model {model_path.name} could not be loaded.", "Reinstall hushnote to restore it.",
                path=str(model_path),
            ) from exc

    def embed(self, snippets: Sequence[Audio]) -> Embeddings:
        """(n, 192) unit-length float32 embeddings of ``snippets`` (16 kHz mono float32 each).

        Snippets of one length are run as one batch; shorter ones one at a time. A snippet shorter than
        25 ms gives a zero vector (nothing to embed).
        """
        out = np.zeros((len(snippets), EMBEDDING_DIM), dtype=np.float32)
        by_len: dict[int, list[int]] = {}
        for i, s in enumerate(snippets):
            if len(s) >= FRAME_LENGTH:
                by_len.setdefault(len(s), []).append(i)
        for idx in by_len.values():
            feats = np.stack([utterance_features(snippets[i]) for i in idx])
            (emb,) = self._session.run(None, {"feats": feats})
            out[idx] = _unit(np.asarray(emb, dtype=np.float32))
        return out


def _unit(x: Embeddings) -> Embeddings:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.asarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


def _batches(windows: Sequence[Window], size: int) -> Iterator[Sequence[Window]]:
    for i in range(0, len(windows), size):
        yield windows[i : i + size]


def cut(audio: Audio, window: Window) -> Audio:
    """The samples of ``audio`` (16 kHz) inside ``window``."""
    a = max(0, round(window.start * SAMPLE_RATE))
    return audio[a : a + round(window.duration * SAMPLE_RATE)]  # equal windows give equal lengths


def embed_windows(
    audio: Audio, windows: Sequence[Window], embedder: Embedder, batch: int = BATCH
) -> Embeddings:
    """(len(windows), 192) unit embeddings of ``windows`` of 16 kHz mono float32 ``audio``.

    Works ``batch`` windows at a time: the features held at once are ``batch`` x 148 x 80 floats, whatever
    the length of ``audio``.
    """
    if audio.ndim != 1:
        raise ValueError("embed_windows takes mono audio")
    parts = [embedder.embed([cut(audio, w) for w in chunk]) for chunk in _batches(windows, batch)]
    return np.concatenate(parts) if parts else np.zeros((0, EMBEDDING_DIM), dtype=np.float32)

