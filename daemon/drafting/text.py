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
_ABBREV_RE = re.compile(r"(?<![\w.])(?:dr|mr|mrs|ms|prof|st)\.$", re.IGNORECASE)
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
        if _ABBREV_RE.search(text, 0, m.end()):
            continue  # "Dr. Patel switched me": a title, not the end of a sentence
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


# ----------------------------------------------------------------------------- clean verbatim quotes
#
# A clean quote only ever *deletes* whole words of the transcript sentence (and changes letter case and the
# spacing of punctuation), so its words stay a subsequence of what was said: ``is_subsequence`` checks it,
# and the grounding check runs that check on every quote. A negation is never deleted (a repeat of one is).

HESITATIONS = frozenset({"uh", "um", "er", "erm", "uhm", "umm", "ah", "eh", "hmm", "hm", "mm"})
# said between commas (or at a quote's edge), these carry nothing: ", you know ,", ", i mean ,", ", like ,"
_ASIDES = (("you", "know"), ("i", "mean"), ("like",), ("you", "see"), ("kind", "of"), ("sort", "of"))
# a quote's opening word(s) that only link it to what came before: "so , ...", "and ...", "okay , ..."
_OPENERS = frozenset({"so", "and", "okay", "ok", "alright", "well", "now", "yeah", "yes", "oh", "right"})
_OPENER_PAIRS = (("all", "right"),)
_LINKS = frozenset({"and", "but", "or", "so", "because", "cause", "then", "which", "that", "if", "when"})
_PROPER = frozenset({"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january",
                     "february", "april", "june", "july", "august", "september", "october", "november",
                     "december"})
NEGATIONS = frozenset({"no", "not", "never", "none", "nothing", "nobody", "neither", "nor", "without",
                       "cannot", "n't", "deny", "denies", "denied"})
_TOKEN_RE = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)*(?:[.,][0-9]+)*(?:-[A-Za-z0-9]+(?:['’][A-Za-z]+)*)*-?"
                       r"|['’][A-Za-z]+|[^\sA-Za-z0-9]")
_CLOSERS = frozenset(",.?!;:…)]%")
_OPENERS_PUNCT = frozenset("([")


@dataclass
class _Tok:
    text: str
    word: bool
    keep: bool = True

    @property
    def low(self) -> str:
        return normalise(self.text.rstrip("-"))


def is_negation(word: str) -> bool:
    w = normalise(word)
    return w in NEGATIONS or w.endswith("n't")


def clean_quote(text: str) -> str:
    """``text`` as a readable sentence: hesitations, asides, stutters, repeated words, cut-off false starts
    and linking openers dropped, punctuation spaced normally, "i" and the first letter capitalised.
    Only whole words are removed, never a negation and never a number, so the result stays checkable."""
    toks = [_Tok(m.group(), m.group()[0].isalnum() or m.group()[0] in "'’") for m in _TOKEN_RE.finditer(text)]
    _drop_hesitations(toks)
    _drop_asides(toks)
    _drop_repeats(toks)
    _drop_false_starts(toks)
    _drop_openers(toks)
    return _join([t for t in toks if t.keep])


def _words(toks: list[_Tok]) -> list[int]:
    return [i for i, t in enumerate(toks) if t.keep and t.word]


def _droppable(t: _Tok) -> bool:
    return not is_negation(t.low) and not any(c.isdigit() for c in t.text) and normalise(t.text) not in _NUM_WORDS


def _drop_punct_after(toks: list[_Tok], i: int) -> None:
    """Drop the commas/ellipses that followed a dropped word (``uh , i``: the comma goes with the ``uh``)."""
    j = i + 1
    while j < len(toks) and not toks[j].word and toks[j].text in ",…":
        toks[j].keep = False
        j += 1


def _drop_hesitations(toks: list[_Tok]) -> None:
    """``you have , uh , decreased`` -> ``you have decreased``: the pauses around a hesitation go with it,
    except before a linking word (``warm , uh , but`` -> ``warm , but``)."""
    for i, t in enumerate(toks):
        if t.word and t.low in HESITATIONS:
            t.keep = False
            _drop_punct_after(toks, i)
            before, after = _neighbour(toks, i, -1), _neighbour(toks, i, 1)
            if (before is not None and toks[before].text == "," and after is not None and toks[after].word
                    and toks[after].low not in _LINKS):
                toks[before].keep = False


def _neighbour(toks: list[_Tok], i: int, step: int) -> int | None:
    j = i + step
    while 0 <= j < len(toks) and not toks[j].keep:
        j += step
    return j if 0 <= j < len(toks) else None


def _boundary(toks: list[_Tok], i: int, step: int) -> bool:
    """Is the kept token next to ``i`` (towards ``step``) a comma, sentence end or the quote's edge?"""
    j = _neighbour(toks, i, step)
    return j is None or (not toks[j].word and toks[j].text in ",.?!;…")


def _drop_asides(toks: list[_Tok]) -> None:
    for phrase in _ASIDES:
        idx = _words(toks)
        for k in range(len(idx) - len(phrase) + 1):
            span = idx[k:k + len(phrase)]
            if any(not toks[i].keep for i in span) or tuple(toks[i].low for i in span) != phrase:
                continue
            if span[-1] - span[0] != len(phrase) - 1:  # the words must be adjacent, with no comma inside
                continue
            if _boundary(toks, span[0], -1) and _boundary(toks, span[-1], 1):
                for i in span:
                    toks[i].keep = False
                _drop_punct_after(toks, span[-1])


def _drop_repeats(toks: list[_Tok]) -> None:
    """``i , i just`` -> ``i just``; ``i was , i was going`` -> ``i was going`` (the first copy goes)."""
    changed = True
    while changed:
        changed = False
        idx = _words(toks)
        for n in (3, 2, 1):
            for k in range(len(idx) - 2 * n + 1):
                a, b = idx[k:k + n], idx[k + n:k + 2 * n]
                if [toks[i].low for i in a] != [toks[i].low for i in b]:
                    continue
                if any(not t.word and t.keep and t.text not in ",…" for t in toks[a[0]:b[0]]):
                    continue  # only within a sentence: "... do it. It was" is not a stutter
                if not all(_droppable(toks[i]) or is_negation(toks[i].low) for i in a):
                    continue
                if any(any(c.isdigit() for c in toks[i].text) or toks[i].low in _NUM_WORDS for i in a):
                    continue  # "two two" may be a number
                for i in range(a[0], b[0]):
                    toks[i].keep = False
                changed = True
                break
            if changed:
                break


def _drop_false_starts(toks: list[_Tok]) -> None:
    """A cut-off word (``go-``) is dropped when speech goes on after it; at the very end it keeps its word."""
    idx = _words(toks)
    for k, i in enumerate(idx):
        t = toks[i]
        if not t.text.endswith("-") or len(t.text) < 2:
            continue
        if k + 1 < len(idx) and _droppable(t):
            t.keep = False
            _drop_punct_after(toks, i)
        else:
            t.text = t.text.rstrip("-")


def _drop_openers(toks: list[_Tok]) -> None:
    while True:
        idx = _words(toks)
        if len(idx) < 4:
            return
        first = toks[idx[0]]
        pair = (first.low, toks[idx[1]].low)
        if pair in _OPENER_PAIRS:
            for i in idx[:2]:
                toks[i].keep = False
            _drop_punct_after(toks, idx[1])
        elif first.low in _OPENERS:
            first.keep = False
            _drop_punct_after(toks, idx[0])
        else:
            return


def _join(toks: list[_Tok]) -> str:
    out: list[str] = []
    cap = True
    for t in toks:
        if not t.word and not out and t.text in _CLOSERS:
            continue  # a quote never starts with a comma
        s = t.text
        if t.word:
            if normalise(s) in {"i", "i'm", "i've", "i'd", "i'll"} | _PROPER or (cap and s[0].isalpha()):
                s = s[0].upper() + s[1:]
            cap = False
        elif s in ".?!":
            cap = True
        if out and out[-1].endswith((",", ";", ":")) and s in _CLOSERS:
            out[-1] = out[-1][:-1] + s  # ", ." -> "."
        elif out and (t.text in _CLOSERS or out[-1] in _OPENERS_PUNCT):
            out[-1] += s
        else:
            out.append(s)
    return " ".join(out).strip()


def is_subsequence(quote: str, line: str) -> bool:
    """Are the words of ``quote`` (case-insensitive) the words of ``line`` with some left out, in order?"""
    it = iter(tokens(line))
    return all(any(w == x for x in it) for w in tokens(quote))
