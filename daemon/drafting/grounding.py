"""The grounding check, for both engines: how well does the transcript support each note sentence?

Support is lexical: the share of the sentence's content stems (and numbers) found together in one
local window of the transcript (a few consecutive segments), so a sentence stitched from words spread
over a whole session scores low. Below ``drafting.support_threshold`` the sentence is ``unverified``.

Whatever the overlap, a sentence is ALWAYS flagged when it contains a number, a name (a capitalised word
not at the start of a sentence), a medication (curated list + drug-name suffixes) or a date (month,
weekday, numeric date) that the transcript does not contain, and a quote (``… stated: "…" [stamp]``) is
flagged unless its words are, in order, words of a transcript line at that stamp (a clean verbatim quote
leaves words out; it never adds, changes or reorders one).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from hushnote.daemon.core.datatypes import NoteSentence, Transcript, stamp
from hushnote.daemon.drafting.text import STOPWORDS, content_stems, is_subsequence, normalise, numbers, tokens

MEDS_FILE = Path(__file__).resolve().parent / "data" / "medications.txt"
WINDOW = 3  # segments per local support window (the segment and its neighbours)

_STAMP_RE = re.compile(r"\[(?:\d{1,3}:\d{2}:\d{2}|line \d+)\]")
# "Stated in session:", "Client stated:", and a clinician's "Therapist:" (a name, then a quote)
_WHO = r"(?:stated in session|[^\W\d_][\w .'-]{0,30} stated|[^\W\d_][\w .'-]{0,30}(?=\s*:\s*\"))"
_QUOTE_RE = re.compile(rf'^\s*{_WHO}\s*:\s*"(?P<q>.*)"\s*'
                       r'(?P<stamp>\[(?:\d{1,3}:\d{2}:\d{2}|line \d+)\])\s*$', re.IGNORECASE)
_ATTRIB_RE = re.compile(rf"^\s*{_WHO}\s*:\s*", re.IGNORECASE)
_DRUG_SUFFIX_RE = re.compile(
    r"^[a-z]{3,}(?:pril|olol|azepam|azolam|oxetine|apine|azine|idone|ipramine|triptyline|afaxine|"
    r"sartan|statin|prazole|semide|thiazide|xaban|gliflozin|glutide|gliptin|peridol|pramine|zodone|"
    r"trigine|barbital|codone|morphone|profen|cycline|floxacin|mycin|cillin|dronate|tidine|lukast)$")
_NOT_DRUGS = frozenset({"magazine", "magazines"})  # English words with a drug-name suffix
_MONTHS = ("january february march april june july august september october november december "
           "jan feb mar apr jun jul aug sep sept oct nov dec").split()
_DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_DATE_NUM_RE = re.compile(r"\b\d{1,4}[/.-]\d{1,2}(?:[/.-]\d{2,4})?\b")
_MONTH_RE = re.compile(r"\b(?:" + "|".join(_MONTHS) + r")\b\.?|\bMay(?=\s+\d)", re.IGNORECASE)
# words that are often capitalised mid-sentence without being names
_NOT_NAMES = frozenset({"i", "i'm", "i've", "i'd", "i'll", "ok", "okay", "tv", "dr", "mr", "mrs", "ms",
                        "god", "english", "american", "christmas", "internet"} | set(_DAYS) | set(_MONTHS))


@lru_cache(maxsize=1)
def medications() -> frozenset[str]:
    return frozenset(line.strip().lower() for line in MEDS_FILE.read_text(encoding="utf-8").splitlines()
                     if line.strip() and not line.startswith("#"))


def is_medication(word: str) -> bool:
    w = normalise(word)
    return w in medications() or looks_like_drug(w)


def looks_like_drug(word: str) -> bool:
    """A lower-case word with a typical drug-name suffix ("-oxetine", "-apine", "-olol", ...)."""
    return word not in _NOT_DRUGS and bool(_DRUG_SUFFIX_RE.match(word))


@dataclass
class TranscriptIndex:
    """What the transcript contains, precomputed once per note."""

    words: set[str] = field(default_factory=set)  # every lower-case token
    numbers: set[str] = field(default_factory=set)
    text: str = ""  # normalised full text, for phrase (date) look-ups
    postings: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))  # stem -> windows
    n_windows: int = 0
    lines: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # stamp -> its lines' text


def index_transcript(transcript: Transcript) -> TranscriptIndex:
    idx = TranscriptIndex()
    segs = [s.text for s in transcript.segments if s.text.strip()]
    idx.text = normalise(" ".join(segs))
    idx.words = set(tokens(idx.text))
    idx.numbers = numbers(idx.text)
    seg_stems = [content_stems(t) | numbers(t) for t in segs]
    for i in range(len(segs)):
        for j in range(max(0, i - WINDOW + 1), i + 1):  # segment i belongs to windows j..j+WINDOW-1
            for s in seg_stems[i]:
                idx.postings[s].add(j)
    idx.n_windows = len(segs)
    for seg in transcript.segments:
        idx.lines[stamp(seg.start, transcript.timed)].append(seg.text)
    return idx


def quoted(sentence: str) -> str | None:
    """The words a note sentence quotes (``Client stated: "…" [stamp]``), or None when it is not a quote."""
    m = _QUOTE_RE.match(sentence)
    return m.group("q") if m else None


def quote_flags(sentence: str, idx: TranscriptIndex) -> list[str]:
    """A quote whose words are not, in order, the words of a transcript line at its stamp (empty: it is)."""
    m = _QUOTE_RE.match(sentence)
    if m is None:
        return []
    if any(is_subsequence(m.group("q"), line) for line in idx.lines.get(m.group("stamp"), ())):
        return []
    return [f"quote does not match what was said at {m.group('stamp')}"]


def without_stamps(sentence: str) -> str:
    """A note sentence without its timestamps ("[00:03:12]", "[line 27]"): they are not what was said."""
    return _STAMP_RE.sub(" ", sentence).strip()


def claim_text(sentence: str) -> str:
    """The part of a note sentence that makes a claim: without "Stated in session:" and timestamps."""
    return _ATTRIB_RE.sub("", without_stamps(sentence)).strip()


def support(claim: str, idx: TranscriptIndex) -> float:
    """Share of the claim's content stems and numbers found together in the best transcript window."""
    want = content_stems(claim) | numbers(claim)
    if not want:
        return 1.0 if claim.strip() == "" else 0.0
    counts: dict[int, int] = defaultdict(int)
    for s in want:
        for w in idx.postings.get(s, ()):
            counts[w] += 1
    return max(counts.values(), default=0) / len(want)


def hard_flags(claim: str, idx: TranscriptIndex) -> list[str]:
    """Numbers, names, medications and dates in ``claim`` that the transcript does not contain."""
    reasons: list[str] = []
    for n in sorted(numbers(claim)):
        if n not in idx.numbers:
            reasons.append(f"number {n} not in transcript")
    for m in _DATE_NUM_RE.finditer(claim):
        if normalise(m.group()) not in idx.text:
            reasons.append(f"date {m.group()} not in transcript")
    for m in _MONTH_RE.finditer(claim):
        word = normalise(m.group()).rstrip(".")
        if word not in idx.words:
            reasons.append(f"date {m.group().rstrip('.')} not in transcript")
    seen: set[str] = set()
    for tok in tokens(claim):
        if tok in seen:
            continue
        seen.add(tok)
        if tok in _DAYS and tok not in idx.words:
            reasons.append(f"date {tok.capitalize()} not in transcript")
        elif is_medication(tok) and tok not in idx.words:
            reasons.append(f"medication {tok} not in transcript")
    for name in _names(claim):
        if normalise(name) not in idx.words:
            reasons.append(f"name {name} not in transcript")
    return reasons


_ABBREV_RE = re.compile(r"\b(?:dr|mr|mrs|ms|st|prof|sr|jr|vs|e\.g|i\.e)\.$", re.IGNORECASE)


def _sentences(claim: str) -> list[str]:
    """Split at sentence ends, but not after "Dr." and similar titles."""
    out: list[str] = []
    for piece in re.split(r"(?<=[.!?:;\"])\s+", claim):
        if out and _ABBREV_RE.search(out[-1]):
            out[-1] += " " + piece
        else:
            out.append(piece)
    return out


def _names(claim: str) -> list[str]:
    """Capitalised words that do not start a sentence (and are not "I", months, ...)."""
    out: list[str] = []
    for sent in _sentences(claim):
        words = re.findall(r"[A-Za-z][A-Za-z'’-]*", sent)
        for w in words[1:]:
            if w[0].isupper() and normalise(w) not in _NOT_NAMES and normalise(w) not in STOPWORDS \
                    and not is_medication(w) and w not in out:
                out.append(w)
    return out


def ground(text: str, idx: TranscriptIndex, threshold: float) -> NoteSentence:
    """A ``NoteSentence`` for ``text`` with its support score, ``unverified`` flag and reasons."""
    claim = claim_text(text)
    score = support(claim, idx)
    reasons = hard_flags(claim, idx) + quote_flags(text, idx)
    if score < threshold:
        reasons.insert(0, f"low transcript support ({score:.2f} < {threshold:.2f})")
    return NoteSentence(text=text, support=round(score, 3), unverified=bool(reasons), reasons=reasons)
