"""The risk classifier: a second detector beside the rules. It catches risk language said in words the
rules do not know ("topping myself", "check out permanently") and confirms or sets aside what the rules
flag ("this commute is killing me" is masked by the rules; "I wrote a goodbye card for my colleague" is not).

Three scores averaged: over sentence embeddings (``embed.py``) a logistic regression and a nearest-neighbour
margin (how much closer the sentence is to its nearest written risk statements than to its nearest ordinary
sentences: the controls of tests/data/risk, medication talk and clinical talk from ACI-BENCH), and over the
sentence's words and word pieces a naive-Bayes word score (``wordscore.py``: slang and abbreviations). Trained by
``scripts/dev/train_risk_classifier.py``; ``data/risk/classifier.npz`` holds the weights, the training
sentences' embeddings (int8) and the two thresholds chosen by leave-one-set-out on sets the rules were never
tuned on. A flagged sentence is named by the category of the most similar written risk statement, and that
statement is quoted: the explanation is the evidence the score used. Nothing is logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from hushnote.daemon.drafting.screening import wordscore
from hushnote.daemon.drafting.screening.embed import encoder

CLASSIFIER = Path(__file__).resolve().parent.parent / "data" / "risk" / "classifier.npz"
Array = npt.NDArray[np.float32]
# A written risk statement of this category is about someone else; the category named is the next nearest.
UNNAMED = "third_person"


@dataclass(frozen=True)
class Verdict:
    """The classifier's reading of one sentence."""

    score: float  # 0..1: how much it reads like risk language
    flagged: bool  # score >= threshold: quoted even when no rule matches
    confirms: bool  # score >= confirm: a rule hit on this sentence stands
    category: str  # the category of the most similar written risk statement
    example: str  # that statement


@dataclass(frozen=True)
class Classifier:
    weights: Array  # (384,) logistic regression
    bias: float
    risk: Array  # (m, 384), unit rows: the written risk statements
    risk_text: tuple[str, ...]
    risk_category: tuple[str, ...]
    ordinary: Array  # (n, 384), unit rows: controls, medication talk, clinical talk
    k: int  # neighbours averaged on each side
    sharpness: float  # the margin's scale before the logistic
    threshold: float  # quoted on the classifier's word alone
    confirm: float  # a rule hit needs at least this
    provenance: dict[str, Any]
    words: Array  # (wordscore.BUCKETS,) the word pieces' log ratios, NaN where unseen
    word_scale: float

    def scores(self, emb: Array, texts: list[str]) -> Array:
        """The risk score of each sentence (its embedding row and its text): the mean of the logistic, the
        neighbour and the word scores."""
        linear = 1.0 / (1.0 + np.exp(-(emb @ self.weights + self.bias)))
        margin = _top_mean(emb @ self.risk.T, self.k) - _top_mean(emb @ self.ordinary.T, self.k)
        near = 1.0 / (1.0 + np.exp(-self.sharpness * margin))
        words = wordscore.score(self.words, self.word_scale, texts)
        out: Array = ((linear + near + words) / 3.0).astype(np.float32)
        return out

    def verdicts(self, emb: Array, texts: list[str]) -> list[Verdict]:
        if not len(emb):
            return []
        scores = self.scores(emb, texts)
        sims = emb @ self.risk.T
        sims[:, [c == UNNAMED for c in self.risk_category]] = -np.inf
        nearest = np.argmax(sims, axis=1)
        return [Verdict(float(s), bool(s >= self.threshold), bool(s >= self.confirm), self.risk_category[j],
                        self.risk_text[j]) for s, j in zip(scores, nearest, strict=True)]


def _top_mean(sims: Array, k: int) -> Array:
    """The mean of each row's ``k`` largest values."""
    k = min(k, sims.shape[1])
    out: Array = np.partition(sims, -k, axis=1)[:, -k:].mean(axis=1)
    return out


def _unit_rows(packed: Any, scale: float) -> Array:
    rows: Array = packed.astype(np.float32) / np.float32(scale)
    rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    return rows


def load(path: Path = CLASSIFIER) -> Classifier:
    with np.load(path, allow_pickle=False) as z:
        scale = float(z["scale"])
        return Classifier(z["weights"].astype(np.float32), float(z["bias"]), _unit_rows(z["risk"], scale),
                          tuple(str(x) for x in z["risk_text"]), tuple(str(x) for x in z["risk_category"]),
                          _unit_rows(z["ordinary"], scale), int(z["k"]), float(z["sharpness"]),
                          float(z["threshold"]), float(z["confirm"]), json.loads(str(z["provenance"])),
                          z["words"].astype(np.float32), float(z["word_scale"]))


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
    return clf.verdicts(enc.encode(sentences), sentences)
