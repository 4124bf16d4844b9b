"""Word rules: a small, readable pattern language over the words of a sentence, used for risk language
and for the items a note must keep. Pure, offline and deterministic; the rules are data files.

A sentence becomes tokens (contractions spelt out, fillers such as "um" dropped, each word with its
lemma: "cutting" -> cut, "took" -> take). A rule is a line of elements, matched in order:

    word        the word in any of its forms (kill, kills, killed, killing)
    word*       any word whose lemma starts with this (suicid* : suicide, suicidal)
    =word       exactly this form (=overdosed but not overdose)
    /regex/     a lemma matching the regular expression (/[0-9]+/)
    @CLASS      any entry of a word class from the lexicon file (entries may be several words: "not wake up")
    a|b|@C      any of these
    ..N         up to N other words in between (without it, the next element follows directly)
    ?x          an optional element
    !x          the next word is not x (x may be a|b|@C); it checks, it consumes nothing
    $           the end of a clause (a comma, a full stop, or the end of the sentence); also after a
                phrase in a list ("enough $|lethal")

Lexicon lines are ``NAME: entry entry "several words" ...``; a class may use another class (@OTHER).
Lemmas come from ``forms.txt`` (irregular forms, ``lemma: form form``) and from regular endings of every
word that a rule or class names (s, es, ed, d, ing, doubled consonants, y -> ies/ied, ie -> ying).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

FILLERS = frozenset({"um", "umm", "uh", "uhh", "uhm", "erm", "er", "ah", "hmm", "mm", "mhm", "mmm"})
_PUNCT = ",.;:!?"
_TOKEN_RE = re.compile(r"[a-z0-9]+|[,.;:!?]")
_CONTRACTIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"\b(\w+) n't\b", r"\1n't"),  # tokenised text: "do n't"
    (r"\bcan't\b|\bcannot\b", "can not"), (r"\bwon't\b", "will not"), (r"\bain't\b", "is not"),
    (r"n't\b", " not"), (r"\bi'm\b", "i am"), (r"'re\b", " are"), (r"'ve\b", " have"), (r"'ll\b", " will"),
    (r"'d\b", " would"), (r"\b(it|that|there|what|who|he|she|where|here|everyone|nobody|someone|tonight|today|life|everything|nothing)'s\b", r"\1 is"),
    (r"'s\b", ""), (r"s'(?=\s|$)", "s"), (r"\bgonna\b", "going to"), (r"\bwanna\b", "want to"),
    (r"\bgotta\b", "got to"), (r"\bkinda\b", "kind of"), (r"\bdunno\b", "do not know"),
    (r"\b(do|does|did|is|was|were|are|has|have|had|could|would|should)nt\b", r"\1 not"),
    (r"\bdont\b", "do not"), (r"\bim\b", "i am"), (r"\bive\b", "i have"),
))


class RuleError(ValueError):
    """A rule or lexicon line that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Tokens:
    """A sentence as words: ``lemmas[i]`` and ``surface[i]`` for each word (punctuation kept as tokens)."""

    lemmas: tuple[str, ...]
    surface: tuple[str, ...]
    text: str  # "lemma/surface lemma/surface ...", what the rules are matched against
    starts: tuple[int, ...]  # character offset of each token in ``text``

    @classmethod
    def build(cls, lemmas: tuple[str, ...], surface: tuple[str, ...]) -> Tokens:
        parts = [f"{lm}/{w}" for lm, w in zip(lemmas, surface, strict=True)]
        starts: list[int] = []
        pos = 0
        for p in parts:
            starts.append(pos)
            pos += len(p) + 1
        return cls(lemmas, surface, " ".join(parts), tuple(starts))

    def index_at(self, offset: int) -> int:
        """The index of the token that starts at or covers character ``offset``."""
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo


def spell_out(text: str) -> str:
    """Lower case, straight apostrophes, contractions spelt out ("I'm" -> "i am", "don't" -> "do not")."""
    t = text.replace("’", "'").replace("‘", "'").lower()
    for pat, rep in _CONTRACTIONS:
        t = pat.sub(rep, t)
    return t


# Words that never get generated endings ("the" must not claim "thing").
FUNCTION_WORDS = frozenset("""a an the and or but if of to in on at by for with from as is it its this that these
those there then than so no not nor he she they we you i me my his her their our your him them us who what when
where why how all any each every some such own same very just also only too up down out off over under again once
here about into onto upon""".split())


def regular_forms(word: str) -> set[str]:
    """Regular inflections of ``word`` (over-generating is harmless: a non-word never occurs)."""
    w = word
    out = {w + "s", w + "ing"}
    if re.search(r"(?:s|x|z|ch|sh|o)$", w):
        out.add(w + "es")
    if w.endswith("e"):
        out.add(w + "d")
        if not w.endswith("ee"):
            out.add(w[:-1] + "ing")
    else:
        out.add(w + "ed")
    if w.endswith("ie"):
        out.add(w[:-2] + "ying")
    if len(w) > 2 and w[-1] == "y" and w[-2] not in "aeiou":
        out |= {w[:-1] + "ies", w[:-1] + "ied"}
    if len(w) >= 3 and w[-1] not in "aeiouwxy" and w[-2] in "aeiou" and w[-3] not in "aeiou":
        out |= {w + w[-1] + "ed", w + w[-1] + "ing"}
    return out


class Lemmatiser:
    """Word form -> lemma for the words the rules use; every other word is its own lemma.

    A word the rules name in an inflected form ("hurting") gets the lemma of its base ("hurt") when the
    base is named too, so a rule never needs to list forms. Words with irregular forms, and words of
    one or two letters, get no generated endings ("be" must not claim "bed", nor "i" claim "is");
    words with irregular forms get only -s / -es.
    """

    def __init__(self, irregular: dict[str, str], vocabulary: Iterable[str]) -> None:
        vocab = set(vocabulary)
        has_irregular = set(irregular.values())
        bases: dict[str, str] = {}  # generated form -> base; the longest base wins ("cared": care, not car)
        for w in vocab | has_irregular:
            if len(w) < 3 or w in FUNCTION_WORDS:
                continue
            forms = {w + "s", w + "es"} if w in has_irregular else regular_forms(w)
            for f in forms:
                if f != w and (f not in bases or len(w) > len(bases[f])):
                    bases[f] = w
        table = dict(irregular)
        for f, w in bases.items():
            table.setdefault(f, w)
        for w in vocab:
            table.setdefault(w, w)
        for f in list(table):  # "thoughts" -> "thought" -> "think"
            lemma = table[f]
            for _ in range(3):
                nxt = table.get(lemma, lemma)
                if nxt == lemma:
                    break
                lemma = nxt
            table[f] = lemma
        self.table = table

    def __call__(self, word: str) -> str:
        return self.table.get(word, word)


def tokenise(text: str, lemma: Lemmatiser) -> Tokens:
    words: list[str] = []
    for w in _TOKEN_RE.findall(spell_out(text)):
        if w in FILLERS or (w in _PUNCT and (not words or words[-1] in _PUNCT)):
            continue  # "I'm, um, hurting" -> "i am , hurting"
        words.append(w)
    lemmas = tuple(lemma(w) for w in words)
    return Tokens.build(lemmas, tuple(words))


def read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the non-empty, non-comment lines of a data file."""
    out: list[tuple[int, str]] = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            out.append((n, line))
    return out


def read_forms(path: Path) -> dict[str, str]:
    """``lemma: form form ...`` lines -> {form: lemma}."""
    out: dict[str, str] = {}
    for n, line in read_lines(path):
        head, sep, rest = line.partition(":")
        if not sep or not head.strip() or not rest.split():
            raise RuleError(f"{path.name} line {n}: expected 'lemma: form form ...'")
        for f in rest.split():
            out[f] = head.strip()
    return out


_HEADER_RE = re.compile(r"^\[([a-z_]+)\]\s*(.*)$")


def read_sections(path: Path) -> tuple[dict[str, str], list[tuple[str, int, str]]]:
    """A rules file: ``[key] label`` headers, each followed by rules. -> ({key: label}, [(key, line, rule)])."""
    labels: dict[str, str] = {}
    rules: list[tuple[str, int, str]] = []
    key = ""
    for n, line in read_lines(path):
        m = _HEADER_RE.match(line)
        if m:
            key = m.group(1)
            labels[key] = m.group(2).strip() or key
            continue
        if not key:
            raise RuleError(f"{path.name} line {n}: a rule before the first [section] header")
        rules.append((key, n, line))
    return labels, rules


def _entries(body: str) -> list[str]:
    """Split a class body into entries; "quoted words" stay one entry."""
    return [a or b for a, b in re.findall(r'"([^"]+)"|(\S+)', body)]


def read_lexicon(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for n, line in read_lines(path):
        head, sep, rest = line.partition(":")
        name = head.strip()
        if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name) or not rest.strip():
            raise RuleError(f"{path.name} line {n}: expected 'NAME: entry entry ...'")
        out.setdefault(name, []).extend(_entries(rest))
    return out


_END = r"(?= [,.;:!?]/|$)"  # the end of a clause


class Compiler:
    """Turns rule lines into regular expressions over ``Tokens.text``."""

    def __init__(self, lexicon: dict[str, list[str]], where: str) -> None:
        self.lexicon = lexicon
        self.lemma: Lemmatiser | None = None  # set before compiling: rule words match every form
        self.where = where
        self._class_re: dict[str, str] = {}

    def vocabulary(self, rules: Iterable[str]) -> set[str]:
        """Every plain word that a rule or class names (they get their inflected forms)."""
        words: set[str] = set()
        texts = list(rules) + [e for entries in self.lexicon.values() for e in entries]
        for t in texts:
            for item in t.split():
                for alt in item.lstrip("?!").split("|"):
                    if re.fullmatch(r"[a-z0-9]+", alt):
                        words.add(alt)
        return words

    def _word(self, alt: str, line: str) -> str:
        if alt.startswith("@"):
            return self._class(alt[1:], line)
        if alt.startswith("/") and alt.endswith("/") and len(alt) > 2:
            try:
                re.compile(alt[1:-1])
            except re.error as exc:
                raise RuleError(f"{self.where}: bad regular expression {alt} in {line!r} ({exc})") from None
            return rf"(?:{alt[1:-1]})/[^ ]+"
        if alt in _PUNCT or (len(alt) == 1 and alt in _PUNCT):
            return re.escape(alt) + "/" + re.escape(alt)
        exact = alt.startswith("=")
        w = alt.lstrip("=")
        prefix = w.endswith("*")
        w = w.rstrip("*")
        if not re.fullmatch(r"[a-z0-9]+", w):
            raise RuleError(f"{self.where}: cannot read {alt!r} in {line!r}")
        tail = r"[^ /]*" if prefix else ""
        if exact:
            return rf"[^ /]+/{re.escape(w)}{tail}(?= |$)"
        if not prefix and self.lemma is not None:
            w = self.lemma(w)
        return rf"{re.escape(w)}{tail}/[^ ]+"

    def _class(self, name: str, line: str) -> str:
        if name not in self._class_re:
            if name not in self.lexicon:
                raise RuleError(f"{self.where}: unknown class @{name} in {line!r}")
            self._class_re[name] = "(?!)"  # a class that uses itself matches nothing there
            alts = [self.sequence(e, line) for e in self.lexicon[name]]
            self._class_re[name] = "(?:" + "|".join(alts) + ")"
        return self._class_re[name]

    def _phrase(self, phrase: str, line: str) -> str:
        """Adjacent words (each a word form, class or regex), e.g. "be here" or "my @KIN"."""
        words = [x for w in phrase.split() for x in (spell_out(w).split() if "'" in w else [w])]
        end = len(words) > 1 and words[-1] == "$"  # "enough $": the phrase ends a clause
        if end:
            words = words[:-1]
        if not words:
            raise RuleError(f"{self.where}: empty alternative in {line!r}")
        return " ".join(self._word(w, line) for w in words) + (_END if end else "")

    def _alternatives(self, segment: str, line: str) -> str:
        return "(?:" + "|".join(self._phrase(p, line) for p in segment.split("|")) + ")"

    def segments(self, rule: str) -> list[tuple[str, str]]:
        """The rule as (kind, text) parts: ("gap", "N"), ("end", ""), ("not", alts), ("opt", alts) or
        ("seq", "phrase|phrase"). Within a segment "|" separates phrases: "be here|be around"."""
        out: list[tuple[str, str]] = []
        cur: list[str] = []

        def flush() -> None:
            if cur:
                out.append(("seq", " ".join(cur)))
                cur.clear()

        for item in rule.split():
            if re.fullmatch(r"\.\.\d+", item):
                flush()
                out.append(("gap", item[2:]))
            elif item == "$":
                flush()
                out.append(("end", ""))
            elif item[0] in "!?" and len(item) > 1:
                flush()
                out.append(("not" if item[0] == "!" else "opt", item[1:]))
            else:
                cur.append(item)
        flush()
        return out

    def sequence(self, rule: str, line: str | None = None) -> str:
        """The regular expression for one rule (or class entry), without outer anchors."""
        line = line or rule
        out: list[str] = []
        gap = 0
        first = True
        for kind, text in self.segments(rule):
            if kind == "gap":
                gap = int(text)
                continue
            skip = f"(?: [^ ]+){{0,{gap}}}" if gap else ""
            if kind == "not":
                out.append(r"(?! " + self._alternatives(text, line) + r"(?= |$))")
                continue
            if first and kind in ("end", "opt"):
                raise RuleError(f"{self.where}: a rule cannot start with an optional element or $: {line!r}")
            if kind == "end":
                out.append(skip + _END)
            else:
                phrases = [p for p in text.split("|") if p.strip() != "$"]
                ends = len(phrases) < len(text.split("|"))
                body = self._alternatives("|".join(phrases), line) if phrases else ""
                if first:
                    out.append(body)
                    first = False
                else:
                    options = [f"{skip} {body}"] if body else []
                    if ends:
                        options.append(skip + _END)
                    piece = "(?:" + "|".join(options) + ")"
                    out.append(piece + "?" if kind == "opt" else piece)
            gap = 0
        if first:
            raise RuleError(f"{self.where}: a rule needs at least one word: {line!r}")
        return "".join(out)

    def compile(self, rule: str) -> re.Pattern[str]:
        return re.compile(r"(?:^| )(" + self.sequence(rule) + r")(?= |$)")


def match_span(pattern: re.Pattern[str], toks: Tokens) -> tuple[int, int] | None:
    """The token span [start, end) of the first match of ``pattern``, or None."""
    m = pattern.search(toks.text)
    if not m:
        return None
    a, b = m.span(1)
    return toks.index_at(a), toks.index_at(max(a, b - 1)) + 1


def masked(toks: Tokens, spans: Iterable[tuple[int, int]]) -> Tokens:
    """``toks`` with the words in ``spans`` replaced by "_" (so no rule can use them)."""
    hide = {i for a, b in spans for i in range(a, b)}
    if not hide:
        return toks
    lemmas = tuple("_" if i in hide else lm for i, lm in enumerate(toks.lemmas))
    surface = tuple("_" if i in hide else w for i, w in enumerate(toks.surface))
    return Tokens.build(lemmas, surface)
