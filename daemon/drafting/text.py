"""Text helpers shared by the drafters and the grounding check: sentence spans, tokens, stems, numbers.

Everything here is pure and deterministic. Sentence splitting returns *spans* of the original text so
that a quote is always a verbatim substring of what was said.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hushnote.daemon.core.datatypes import Segment, Transcript

# A sentence ends at . ? ! (possibly repeated, possibly followed by a closing quote) and whitespace.
_END_RE = re.compile(r"[.?!…]+[\"')\]]*(?=\s|$)")
_WORD_RE = re.compile(r"[a-z0-9]+(?:['’][a-z]+)*(?:\.[0-9]+)?", re.IGNORECASE)
MAX_QUOTE_WORDS = 45

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having
he her here hers herself him himself his how i if in into is it its itself just let me more most my myself
no nor not now of off on once only or other our ours ourselves out over own same she should so some such
than that the their theirs them themselves then there these they this those through to too under until up
very was we were what when where which while who whom why will with would you your yours yourself
yourselves i'm i've i'd i'll you're you've you'd you'll he's she's it's we're we've they're they've that's
there's what's don't doesn't didn't can't won't isn't aren't wasn't weren't haven't hasn't hadn't
wouldn't shouldn't couldn't um uh oh yeah yes okay ok like really well kind sort get got go going know
think mean just gonna wanna thing things something anything lot bit stated session client clinician
patient doctor reported reports report says said say states discussed notes noted
""".split())

FILLER = frozenset("""
okay ok yeah yes no right mm mm-hmm mhm hmm uh-huh uh um oh sure alright all right thanks thank you
great good nice cool fine wow really so well exactly absolutely yep nope got it i see
""".split())

_NUM_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}
_TENS = {"twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}
_UNITS = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}


@dataclass(frozen=True)
class Unit:
    """One sentence of the transcript: where it came from and its verbatim text."""

    index: int  # position among all units (transcript order)
    segment: int  # index of the segment it came from
    start: float  # the segment's start (seconds, or line number for plain text)
    text: str  # verbatim substring of the segment's text
    speaker: str | None


def normalise(text: str) -> str:
    """Lower-case, straighten apostrophes; for matching only (never for quoting)."""
    return text.replace("’", "'").replace("‘", "'").lower()


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences in ``text``, trimmed of surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _END_RE.finditer(text):
        spans.append((pos, m.end()))
        pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    out: list[tuple[int, int]] = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.extend(_split_long(text, a, b))
    return out


def _split_long(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """Split a run-on sentence (speech often has no full stops) at commas, then at word boundaries."""
    if len(text[a:b].split()) <= MAX_QUOTE_WORDS:
        return [(a, b)]
    pieces: list[tuple[int, int]] = []
    cur = a
    words = 0
    for m in re.finditer(r"\S+", text[a:b]):
        words += 1
        tok_end = a + m.end()
        at_comma = text[a + m.start():tok_end].endswith(",") or text[a + m.start():tok_end] == ","
        if (words >= MAX_QUOTE_WORDS // 2 and at_comma) or words >= MAX_QUOTE_WORDS:
            pieces.append((cur, tok_end))
            cur = tok_end
            words = 0
    if cur < b:
        pieces.append((cur, b))
    out: list[tuple[int, int]] = []
    for x, y in pieces:
        while x < y and text[x].isspace():
            x += 1
        if y > x:
            out.append((x, y))
    return out


def units(transcript: Transcript) -> list[Unit]:
    """Every sentence of every segment, in order."""
    out: list[Unit] = []
    for si, seg in enumerate(transcript.segments):
        out.extend(segment_units(seg, si, len(out)))
    return out


def segment_units(seg: Segment, si: int, first_index: int) -> list[Unit]:
    return [Unit(first_index + k, si, seg.start, seg.text[a:b], seg.speaker)
            for k, (a, b) in enumerate(sentence_spans(seg.text))]


def tokens(text: str) -> list[str]:
    return [normalise(t) for t in _WORD_RE.findall(text)]


def stem(word: str) -> str:
    """A very light stemmer: enough to match sleep/sleeping/slept-free variants of the same word."""
    w = normalise(word)
    if w.endswith("'s"):
        w = w[:-2]
    for suf, keep in (("ies", "y"), ("ing", ""), ("edly", ""), ("ed", ""), ("ly", ""), ("es", ""), ("s", "")):
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            w = w[: len(w) - len(suf)] + keep
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        w = w[:-1]  # stopping -> stopp -> stop
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]  # hope / hoped / hoping -> hop
    return w


def content_tokens(text: str) -> list[str]:
    """Tokens that carry meaning: not stop words, not single letters."""
    return [t for t in tokens(text) if t not in STOPWORDS and (len(t) > 1 or t.isdigit())]


def content_stems(text: str) -> set[str]:
    return {stem(t) for t in content_tokens(text)}


def is_filler(text: str) -> bool:
    """Backchannel and filler: "okay.", "mm-hmm", "yeah, right." -- nothing a note could use."""
    words = [w for w in re.split(r"[^a-z'-]+", normalise(text)) if w]
    if not words:
        return True
    if all(w in FILLER for w in words):
        return True
    return len(content_tokens(text)) < 2


def numbers(text: str) -> set[str]:
    """Numbers in ``text`` as canonical strings: digits ("40", "2.5") and number words ("forty five" -> 45)."""
    out: set[str] = set()
    toks = tokens(text.replace("-", " "))
    i = 0
    while i < len(toks):
        t = toks[i]
        if re.fullmatch(r"\d+(?:\.\d+)?", t):
            out.add(canon_number(t))
        elif t in _NUM_WORDS:
            val = _NUM_WORDS[t]
            if t in _TENS and i + 1 < len(toks) and toks[i + 1] in _UNITS:
                val += _NUM_WORDS[toks[i + 1]]
                i += 1
            out.add(canon_number(str(val)))
        i += 1
    return out


def canon_number(s: str) -> str:
    try:
        f = float(s)
    except ValueError:
        return s
    return str(int(f)) if f.is_integer() else repr(f)


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    sa, sb = set(a), set(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)
