"""The risk classifier: a second detector beside the rules, for risk language said in words the rules
do not know ("topping myself", "check out permanently").

A logistic regression over sentence embeddings (``embed.py``), trained by
``scripts/dev/train_risk_classifier.py`` on the written risk statements and controls of tests/data/risk and
on ordinary clinical sentences (ACI-BENCH). The learned weights ship in ``data/risk/classifier.npz``
with the training statements (int8 embeddings) that explain each verdict: a flagged sentence is named by
the category of the most similar training statement, and that statement is quoted. Nothing is logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from hushnote.daemon.drafting.screening.embed import encoder

CLASSIFIER = Path(__file__).resolve().parent.parent / "data" / "risk" / "classifier.npz"
Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Verdict:
    """The classifier's reading of one sentence."""

    score: float  # probability of risk language, 0..1
    flagged: bool  # score >= the shipped threshold
    category: str  # the category of the most similar training statement
    example: str  # that statement


@dataclass(frozen=True)
class Classifier:
    weights: Array  # (384,)
    bias: float
    threshold: float
    examples: Array  # (m, 384), unit rows: the training risk statements
    example_text: tuple[str, ...]
    example_category: tuple[str, ...]
    provenance: dict[str, Any]

    def scores(self, emb: Array) -> Array:
        """The probability of risk language for each embedding row."""
        out: Array = (1.0 / (1.0 + np.exp(-(emb @ self.weights + self.bias)))).astype(np.float32)
        return out

    def verdicts(self, emb: Array) -> list[Verdict]:
        scores = self.scores(emb)
        nearest = np.argmax(emb @ self.examples.T, axis=1) if len(emb) else np.zeros(0, dtype=np.int64)
        return [Verdict(float(s), bool(s >= self.threshold), self.example_category[j], self.example_text[j])
                for s, j in zip(scores, nearest, strict=True)]


def load(path: Path = CLASSIFIER) -> Classifier:
    with np.load(path, allow_pickle=False) as z:
        examples = z["examples"].astype(np.float32) / np.float32(z["example_scale"])
        examples /= np.maximum(np.linalg.norm(examples, axis=1, keepdims=True), 1e-12)
        return Classifier(z["weights"].astype(np.float32), float(z["bias"]), float(z["threshold"]), examples,
                          tuple(str(x) for x in z["example_text"]), tuple(str(x) for x in z["example_category"]),
                          json.loads(str(z["provenance"])))


@lru_cache(maxsize=1)
def classifier() -> Classifier | None:
    """The shipped classifier, or None when the embedding model package is not installed."""
    return load() if encoder() is not None else None


def available() -> bool:
    """True when the risk classifier can run (the embedding model package is installed)."""
    from hushnote.daemon.drafting.screening.embed import model_zip

    return model_zip() is not None and CLASSIFIER.is_file()


def judge(sentences: list[str]) -> list[Verdict] | None:
    """The classifier's verdict on each sentence, embedded in one batch; None when it is not installed."""
    clf, enc = classifier(), encoder()
    if clf is None or enc is None:
        return None
    return clf.verdicts(enc.encode(sentences))
