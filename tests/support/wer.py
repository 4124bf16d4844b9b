"""Word error rate, scored as the eval README says: lower-cased, punctuation removed, word-level Levenshtein.

``wer(reference, hypothesis)`` → errors / reference words (0.0 is perfect; can exceed 1.0).
``load_manifest(eval_dir)`` reads ``speech/manifest.jsonl`` (clip paths made absolute).
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})


def normalize(text: str) -> list[str]:
    """Lower-case words with punctuation removed (apostrophes inside words kept: "don't")."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    text = re.sub(r"[-‐‑–—/]", " ", text)  # hyphenated / slashed words count as separate words
    text = "".join(ch if ch.isalnum() or ch.isspace() or ch == "'" else " " for ch in text)
    return [w.strip("'") for w in text.split() if w.strip("'")]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions)."""
    if not ref:
        return len(hyp)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """``(word errors, reference words)``, for pooling over many clips."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def wer(reference: str, hypothesis: str) -> float:
    errs, n = errors(reference, hypothesis)
    if n == 0:
        return 0.0 if errs == 0 else float(errs)
    return errs / n


def load_manifest(eval_dir: Path) -> list[dict[str, Any]]:
    """The speech manifest rows, with ``path`` (absolute clip path) added."""
    speech = eval_dir / "speech"
    rows = []
    for line in (speech / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            row["path"] = speech / row["clip"]
            rows.append(row)
    return rows
