"""What a note must keep whatever its length budget: every medication mentioned (with its dose and any
change when said), a safety plan discussed, homework, and the next appointment.

``collect`` picks the transcript sentences; each goes to the template section that ``keeps`` its kind
(the built-in templates: Plan), or else to a section called "plan", or else the last section. The
extractive drafter seeds its sections with them before the budget is spent; ``ensure`` adds any that a
drafter left out (the llm engine may paraphrase or drop them) as verbatim quotes. Risk language is never
kept here: it goes to the review block. But a medication named in a sentence that goes there ("I've been
saving up my lithium") is still in the note: the section quotes the medication's name alone (with the
sentence's stamp, which the review block's quote carries too), so no risk words reach a clinical section and
no medication is lost. Nothing is invented: every kept item is a transcript sentence or words of one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hushnote.daemon.core.datatypes import NoteSection, NoteSentence, Transcript
from hushnote.daemon.drafting.grounding import looks_like_drug
from hushnote.daemon.drafting.screening.risk import MEDS_FILE, is_risk, lexicon, prepare, rulebook
from hushnote.daemon.drafting.screening.wordrules import (
    Compiler,
    Tokens,
    match_span,
    read_lines,
    read_sections,
    tokenise,
)
from hushnote.daemon.drafting.template import KEEP_KINDS, Template
from hushnote.daemon.drafting.text import Unit, content_stems, jaccard, normalise, numbers, units

KEEP_FILE = Path(__file__).resolve().parent / "data" / "keep_rules.txt"
KINDS = KEEP_KINDS
FOLLOW_UP = 2  # a sentence this close after a medication's mention ("we raised it to 600") belongs to it
COVERED = 0.5  # an llm sentence with this much content overlap already says a kept sentence
_GENERIC = re.compile(r"\b(?:my|the|your|her|his|their|new|old)\s+(?:meds|medication|medications|medicine|"
                      r"prescription|pills|antidepressants?|antipsychotics?|mood stabili[sz]ers?|"
                      r"sleeping pills?|anxiety (?:meds|medication))\b")
_PRONOUN = re.compile(r"\b(?:it|that|this|them|those|these|the dose|the dosage|the medication|the meds)\b")


@dataclass(frozen=True)
class Keep:
    unit: Unit
    kind: str  # one of KINDS
    section: str  # the template section key it goes in
    names: tuple[str, ...] = ()  # medications named (lower case), for kind "medications"
    review: bool = False  # the sentence goes to the review block: the section quotes only ``names``


class KeepRules:
    """The compiled keep rules (data/keep_rules.txt) and the medication names."""

    def __init__(self, path: Path = KEEP_FILE, meds: Path = MEDS_FILE) -> None:
        compiler = Compiler(lexicon(), "keep rules")
        compiler.lemma = rulebook().lemma
        _, raw = read_sections(path)
        self.rules: dict[str, list[re.Pattern[str]]] = {}
        for key, _, text in raw:
            self.rules.setdefault(key, []).append(compiler.compile(text))
        names = [m for _, m in read_lines(meds)]
        self.single = frozenset(m for m in names if " " not in m)
        self.multi = tuple(m for m in names if " " in m)

    def says(self, key: str, toks: Tokens) -> bool:
        return any(match_span(p, toks) for p in self.rules.get(key, ()))

    def medications(self, text: str) -> tuple[str, ...]:
        """The medications ``text`` names (lower case, in order): the shipped list, or a word with a typical
        drug-name suffix (``grounding.looks_like_drug``: a drug missing from the list is still kept)."""
        norm = normalise(text)
        found = [w for w in re.findall(r"[a-z0-9]+", norm) if w in self.single or looks_like_drug(w)]
        found += [m for m in self.multi if re.search(rf"\b{re.escape(m)}\b", norm)]
        return tuple(dict.fromkeys(found))


@lru_cache(maxsize=1)
def keep_rules() -> KeepRules:
    return KeepRules()


def home_section(template: Template, kind: str) -> str:
    """The key of the section that keeps ``kind``: declared by ``keeps``, else "plan", else the last."""
    for sec in template.sections:
        if kind in sec.keeps:
            return sec.key
    keys = template.keys()
    return "plan" if "plan" in keys else keys[-1]


def collect(transcript: Transcript, template: Template) -> list[Keep]:
    """The sentences the note must keep, in transcript order (each at most once)."""
    rules = keep_rules()
    lemma = rulebook().lemma
    said, risky = judged(transcript)
    us = [u for u in said if u.index not in risky]
    toks = {u.index: tokenise(u.text, lemma) for u in us}
    out: dict[int, Keep] = {}
    for k in _medications(us, toks, rules):
        out.setdefault(k.unit.index, Keep(k.unit, k.kind, home_section(template, k.kind), k.names))
    for kind in KINDS[1:]:
        for u in us:
            if u.index not in out and _statement(u) and rules.says(kind, toks[u.index]):
                out[u.index] = Keep(u, kind, home_section(template, kind))
    for u in (u for u in said if u.index in risky):
        names = rules.medications(u.text)
        if names:
            out[u.index] = Keep(u, "medications", home_section(template, "medications"), names, review=True)
    return [out[i] for i in sorted(out)]


def judged(transcript: Transcript) -> tuple[list[Unit], set[int]]:
    """The transcript's sentences (not empty) and the indexes of those with risk language: the review
    block's judgement, which decides what a section may quote."""
    said = [u for u in units(transcript) if u.text.strip()]
    prepare(u.text for u in said)  # the classifier's sentence embeddings in one batch, not one by one
    return said, {u.index for u in said if is_risk(u.text)}


def names_as_said(u: Unit, names: tuple[str, ...]) -> Unit:
    """``u`` cut down to the medication names it says, in its own spelling and order ("Lithium", "Seroquel"):
    what a section quotes of a sentence that goes to the review block."""
    words = re.findall(r"[A-Za-z0-9][A-Za-z0-9'’-]*", u.text)
    wanted = {w for n in names for w in n.split()}
    kept = [w for w in words if normalise(w) in wanted]
    return Unit(u.index, u.segment, u.start, " ".join(kept), u.speaker)


def _statement(u: Unit) -> bool:
    t = u.text.strip()
    return len(t.split()) >= 3 and not t.rstrip("\"')] ").endswith("?")


def _medications(us: list[Unit], toks: dict[int, Tokens], rules: KeepRules) -> list[Keep]:
    """Every sentence naming a medication with a dose or change, the first mention of any other, and a
    follow-up sentence that says a dose or change about "it" right after a mention."""
    kept: list[Keep] = []
    first: dict[str, Unit] = {}
    detailed: set[str] = set()
    last_names: tuple[str, ...] = ()
    last_at = -10
    for pos, u in enumerate(us):
        names = rules.medications(u.text)
        detail = rules.says("dose", toks[u.index]) or rules.says("change", toks[u.index])
        if names:
            for n in names:
                first.setdefault(n, u)
            if detail and _statement(u):
                kept.append(Keep(u, "medications", "", names))
                detailed.update(names)
            last_names, last_at = names, pos
        elif detail and _statement(u):
            near = pos - last_at <= FOLLOW_UP and (bool(_PRONOUN.search(normalise(u.text)))
                                                   or rules.says("dose", toks[u.index]))
            if near or _GENERIC.search(normalise(u.text)):
                kept.append(Keep(u, "medications", "", last_names if near else ()))
    for n, u in first.items():
        if n not in detailed and all(k.unit.index != u.index for k in kept):
            kept.append(Keep(u, "medications", "", (n,)))
    return kept


def ensure(sections: list[NoteSection], keeps: list[Keep], quote: Callable[[Unit], str]) -> list[NoteSection]:
    """``sections`` with every kept sentence present: one already said (verbatim, or by a sentence that
    names its medications and numbers, or overlaps it enough) is left; a missing one is added as a quote."""
    by_key = {s.key: s for s in sections}
    for k in keeps:
        sec = by_key.get(k.section)
        if sec is None:
            continue
        q = quote(names_as_said(k.unit, k.names) if k.review else k.unit)
        said = [s.text for s in (x for s2 in sections for x in s2.sentences)]
        if q in said or any(_covers(s, k) for s in said):
            continue
        sec.sentences.append(NoteSentence(q))
    return sections


def _covers(sentence: str, k: Keep) -> bool:
    norm = normalise(sentence)
    if k.kind == "medications" and k.names:
        return all(re.search(rf"\b{re.escape(n)}\b", norm) for n in k.names) and numbers(k.unit.text) <= numbers(sentence)
    return jaccard(content_stems(sentence), content_stems(k.unit.text)) >= COVERED
