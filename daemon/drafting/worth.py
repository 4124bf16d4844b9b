"""How much a transcript sentence is worth quoting in a note: a small linear model over explainable features.

The model predicts the share of a quote's words that a clinician's note of the session also uses (ROUGE-1
precision against the reference note). It was fitted by ridge regression on the *tune* split of the
ACI-BENCH dialogues only (CC BY 4.0; ``scripts/dev/train_quote_worth.py``; the held-out third is never
looked at) and is shipped as a small JSON file (``data/quote_worth.json``: feature names, standardisation,
weights, the drafter's three constants chosen by cross-validation within the tune split, and the
word-prior table).

The features are plain properties of what was said and where: its length, how much of it is content,
conversation words ("I", "you"), numbers, medication names, the session's recurring topic words, the
strongest section cue, position in the session, the speaker's role when known, whether it answers a
question, how much the clean quote had to drop, and ``word_prior``: how often each of its words, when said
in a tune session, was also used by that session's note (a table of ~650 common words: function words,
conversation words, and the clinical words of ACI-BENCH's visits).

By far the strongest feature is that word prior; it was learnt from medical visits, so for therapy
sessions it mostly rewards plain statements over conversation. The model only *ranks* sentences: where a
sentence goes is still decided by a reason (a cue of the template in it, in its turn or in the turns just before,
or its speaker's section), and what is quoted is still the sentence itself.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hushnote.daemon.drafting.text import content_tokens, is_negation, numbers, tokens

_WORD = re.compile(r"[a-z0-9]+")
MODEL_FILE = Path(__file__).resolve().parent / "data" / "quote_worth.json"
PERSONAL = frozenset({"i", "i'm", "i've", "i'd", "i'll", "me", "my", "you", "you're", "you've", "your", "we",
                      "we're", "we'll", "us", "our"})
THIRD = frozenset({"he", "she", "they", "his", "her", "their", "him", "them", "he's", "she's", "they're"})
FEATURES = ("log_words", "content_share", "personal_share", "third_share", "has_number", "medication",
            "topic_density", "cue", "long_share", "position", "client", "clinician", "answers_question",
            "dropped_share", "negation", "word_prior")


@dataclass(frozen=True)
class Context:
    """What a sentence's features need to know about the rest of the session."""

    topic: float  # extractive.topic_score of the sentence
    cue: float  # its strongest section cue score (0: none)
    position: float  # 0 at the session's first sentence, 1 at its last
    role: str | None  # "client" | "clinician" | None (unknown)
    answers_question: bool  # the sentence before it (another speaker's, or another line) was a question
    medication: bool  # it names a medication
    raw: str  # the sentence as said (the quote may be cleaned)


def word_tokens(text: str) -> list[str]:
    """Lower-case runs of letters and digits (the tokens ROUGE counts)."""
    return _WORD.findall(text.lower())


def word_prior(quote: str, priors: Mapping[str, float], default: float) -> float:
    """The mean, over the quote's words, of how often a clinician's note used a word when it was said."""
    words = word_tokens(quote)
    return sum(priors.get(w, default) for w in words) / len(words) if words else default


def features(quote: str, ctx: Context, priors: Mapping[str, float], default: float) -> list[float]:
    """The values of ``FEATURES`` for a quote (what the note would show) in its context."""
    toks = tokens(quote)
    n = max(1, len(toks))
    content = content_tokens(quote)
    raw_n = max(1, len(tokens(ctx.raw)))
    return [
        math.log1p(len(toks)),
        len(content) / n,
        sum(1 for w in toks if w in PERSONAL) / n,
        sum(1 for w in toks if w in THIRD) / n,
        1.0 if numbers(quote) else 0.0,
        1.0 if ctx.medication else 0.0,
        ctx.topic / max(1, len(content)),
        min(ctx.cue, 6.0),
        sum(1 for w in content if len(w) >= 7) / max(1, len(content)),
        ctx.position,
        1.0 if ctx.role == "client" else 0.0,
        1.0 if ctx.role == "clinician" else 0.0,
        1.0 if ctx.answers_question else 0.0,
        1.0 - len(toks) / raw_n,
        1.0 if any(is_negation(w) for w in toks) else 0.0,
        word_prior(quote, priors, default),
    ]


@dataclass(frozen=True)
class WorthModel:
    """A fitted linear model and the drafter constants chosen with it."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    spread: float  # standard deviation of the predictions on the training sentences
    min_worth: float  # a sentence without a section cue is placed (in its speaker's section) only at or above this
    gain: float  # a sentence's rank is multiplied by exp(gain * (worth - bias) / spread) (0: worth is ignored)
    nearby_turns: int  # a sentence without a cue may follow a cue of its own turn or of this many turns before
    priors: Mapping[str, float]  # word -> share of its mentions whose session's note used it too
    prior_default: float  # the same for any other word

    def predict(self, values: Sequence[float]) -> float:
        return self.bias + sum(w * (v - m) / s for w, v, m, s in
                               zip(self.weights, values, self.mean, self.scale, strict=True))

    def weight(self, worth: float) -> float:
        """The factor a sentence's rank gets for its predicted worth (1 at the average sentence)."""
        return math.exp(self.gain * (worth - self.bias) / self.spread)

    def to_json(self, meta: dict[str, object]) -> str:
        body = {"features": list(self.names), "mean": list(self.mean), "scale": list(self.scale),
                "weights": list(self.weights), "bias": self.bias, "spread": self.spread,
                "min_worth": self.min_worth, "gain": self.gain,
                "nearby_turns": self.nearby_turns, **meta, "prior_default": self.prior_default,
                "word_priors": dict(sorted(self.priors.items()))}
        return json.dumps(body, indent=1) + "\n"


def parse(data: dict[str, object]) -> WorthModel:
    """A model from its JSON form; its feature list must be this module's ``FEATURES``."""
    names = tuple(str(x) for x in _list(data, "features"))
    if names != FEATURES:
        raise ValueError(f"the quote-worth model's features {names} are not this drafter's {FEATURES}")
    return WorthModel(names, _floats(data, "mean"), _floats(data, "scale"), _floats(data, "weights"),
                      _num(data, "bias"), _num(data, "spread"), _num(data, "min_worth"), _num(data, "gain"),
                      int(_num(data, "nearby_turns")), _priors(data), _num(data, "prior_default"))


def _priors(data: dict[str, object]) -> dict[str, float]:
    v = data.get("word_priors")
    if not isinstance(v, dict):
        raise ValueError("the quote-worth model has no table 'word_priors'")
    return {str(k): float(x) for k, x in v.items() if isinstance(x, int | float) and not isinstance(x, bool)}


def _list(data: dict[str, object], key: str) -> list[object]:
    v = data.get(key)
    if not isinstance(v, list):
        raise ValueError(f"the quote-worth model has no list {key!r}")
    return v


def _num(data: dict[str, object], key: str) -> float:
    v = data.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"the quote-worth model has no number {key!r}")
    return float(v)


def _floats(data: dict[str, object], key: str) -> tuple[float, ...]:
    out = tuple(float(x) for x in _list(data, key) if isinstance(x, int | float) and not isinstance(x, bool))
    if len(out) != len(FEATURES):
        raise ValueError(f"the quote-worth model's {key!r} needs {len(FEATURES)} numbers")
    return out


@lru_cache(maxsize=1)
def model() -> WorthModel:
    """The shipped model (``data/quote_worth.json``)."""
    return parse(json.loads(MODEL_FILE.read_text(encoding="utf-8")))


_QUESTION_END = re.compile(r"\?[\"')\]]*\s*$")


def is_question(text: str) -> bool:
    return bool(_QUESTION_END.search(text))
