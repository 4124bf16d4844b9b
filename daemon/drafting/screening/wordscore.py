"""The risk classifier's word evidence: how much a sentence's words and word pieces lean towards risk.

A naive-Bayes log-count ratio over the sentence's lower-cased words, word pairs and character 3-5-grams
(so "kys", "od'd" and "unalive" count as evidence once written sets use them, and a mis-heard "kill my self"
still shares pieces with "killing myself"). Each piece is hashed (CRC-32) into a fixed table of ``BUCKETS``
log ratios learnt by ``scripts/dev/train_risk_classifier.py`` (NaN where no training sentence had a piece);
a sentence's score is the logistic of the scaled mean ratio of its pieces seen in training (0.5 when none
was). It complements the sentence embedding, which reads meaning but blurs slang.
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import numpy.typing as npt

BUCKETS = 1 << 18
CHAR_SIZES = (3, 4, 5)
_WORD = re.compile(r"[a-z0-9']+")


def pieces(text: str) -> set[str]:
    """The sentence's words, adjacent word pairs and character 3-5-grams of its words (``#`` marks those)."""
    words = _WORD.findall(text.lower())
    out = set(words) | {f"{a} {b}" for a, b in zip(words, words[1:], strict=False)}
    joined = f" {' '.join(words)} "
    for n in CHAR_SIZES:
        out |= {"#" + joined[i:i + n] for i in range(len(joined) - n + 1)}
    return out


def buckets(text: str) -> npt.NDArray[np.int64]:
    """The distinct table rows of the sentence's pieces."""
    return np.unique(np.array([zlib.crc32(p.encode("utf-8")) % BUCKETS for p in pieces(text)], dtype=np.int64))


def score(table: npt.NDArray[np.float32], scale: float, texts: list[str]) -> npt.NDArray[np.float32]:
    """Each sentence's word score in 0..1: the logistic of ``scale`` times the mean log ratio of its pieces."""
    return score_buckets(table, scale, [buckets(t) for t in texts])


def score_buckets(table: npt.NDArray[np.float32], scale: float,
                  rows: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.float32]:
    """``score`` from each sentence's ``buckets`` (the trainer keeps them per sentence)."""
    means = np.array([seen_mean(table[b]) for b in rows], dtype=np.float64)
    out: npt.NDArray[np.float32] = (1.0 / (1.0 + np.exp(-scale * means))).astype(np.float32)
    return out


def seen_mean(ratios: npt.NDArray[np.float32]) -> float:
    """The mean of the ratios of pieces seen in training; 0 (no lean) when none was."""
    seen = ratios[~np.isnan(ratios)]
    return float(seen.astype(np.float64).mean()) if len(seen) else 0.0


def learn(rows: list[npt.NDArray[np.int64]], risk: npt.NDArray[np.bool_], weight: npt.NDArray[np.float64],
          alpha: float = 1.0) -> npt.NDArray[np.float32]:
    """The table from training sentences' ``buckets``, labels and weights: per bucket, the smoothed log of its
    weighted share among risk statements over its share among ordinary sentences; NaN where never seen."""
    pos, neg = np.zeros(BUCKETS), np.zeros(BUCKETS)
    for b, is_risk, w in zip(rows, risk, weight, strict=True):
        (pos if is_risk else neg)[b] += w
    seen = (pos > 0) | (neg > 0)
    vocab = int(seen.sum())
    ratio = np.log((pos + alpha) / (pos.sum() + alpha * vocab)) - np.log((neg + alpha) / (neg.sum() + alpha * vocab))
    out: npt.NDArray[np.float32] = np.where(seen, ratio, np.nan).astype(np.float32)
    return out
