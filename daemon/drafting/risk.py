"""Risk language: find every transcript sentence that mentions suicide, self-harm, wanting to die,
overdose, harming others, abuse, violence or weapons, and quote it (with its timestamp) for the
clinician's review. The phrase list is data (``data/risk_phrases.txt``); nothing here is ever logged.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from hushnote.daemon.core.datatypes import Evidence, Transcript
from hushnote.daemon.drafting.text import normalise, units

PHRASES_FILE = Path(__file__).resolve().parent / "data" / "risk_phrases.txt"


def load_phrases(path: Path = PHRASES_FILE) -> list[str]:
    out: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            re.compile(line)  # a broken pattern fails loudly here, not silently later
            out.append(line)
    return out


@lru_cache(maxsize=1)
def risk_regex() -> re.Pattern[str]:
    body = "|".join(f"(?:{p})" for p in load_phrases())
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w])", re.IGNORECASE)


_NEG_RE = re.compile(r"\b(do|does|did|ca|can|could|would|should|is|are|was|were|wo|have|has|had)\s*n'?t\b")


def _matchable(text: str) -> str:
    """Lower-case, straight apostrophes, and "do n't" / "dont" / "cannot" spelt as "don't" / "can't"."""
    return _NEG_RE.sub(r"\1n't", normalise(text)).replace("cannot", "can't")


def is_risk(text: str) -> bool:
    """True when ``text`` contains risk language."""
    return risk_regex().search(_matchable(text)) is not None


def find_risk(transcript: Transcript) -> list[Evidence]:
    """Every transcript sentence with risk language, verbatim, with its timestamp, in order."""
    out: list[Evidence] = []
    for u in units(transcript):
        if is_risk(u.text):
            out.append(Evidence(u.text.strip(), u.start, transcript.timed))
    return out
