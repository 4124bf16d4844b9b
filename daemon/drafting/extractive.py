"""The extractive drafter (the default): deterministic, and it never writes a word the session did not contain.

Each note sentence is a verbatim quote of one transcript sentence, with its timestamp, e.g.
``Stated in session: "I've been sleeping four hours" [00:03:12]``. Selection:

1. split segments into sentences (spans of the original text, so quotes stay verbatim);
2. drop filler/backchannel, questions, and every sentence with risk language (it goes to Note.risk);
3. score each sentence for each section: cue phrases and weights from the template, scaled by how
   informative the sentence is and, only when real speaker labels exist, whose words they are;
4. pick greedily with maximal marginal relevance (Jaccard on content stems) under each section's
   sentence and word budget, each sentence in at most one section;
5. within a section, quotes appear in transcript order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from hushnote.daemon.core.datatypes import NoteSection, NoteSentence, Transcript, stamp
from hushnote.daemon.drafting.risk import is_risk
from hushnote.daemon.drafting.template import Section, Template
from hushnote.daemon.drafting.text import (
    Unit,
    content_stems,
    content_tokens,
    is_filler,
    jaccard,
    normalise,
    units,
)

MIN_SCORE = 1.0  # a sentence needs at least one real cue to be considered for a section
REDUNDANT = 0.6  # Jaccard at or above this with an already chosen sentence: skip
MMR_LAMBDA = 0.7

CLIENT_LABELS = frozenset({"patient", "client", "pt", "cl"})
CLINICIAN_LABELS = frozenset({"doctor", "clinician", "therapist", "counselor", "counsellor", "dr", "provider",
                              "psychologist", "psychiatrist", "nurse"})


@dataclass(frozen=True)
class _Candidate:
    unit: Unit
    stems: frozenset[str]
    words: int
    scores: tuple[float, ...]  # one per section


@lru_cache(maxsize=256)
def _cue_regex(phrase: str) -> re.Pattern[str]:
    prefix = phrase.endswith("*")
    body = re.escape(phrase.rstrip("*")).replace(r"\ ", r"\s+")
    tail = r"[\w-]*" if prefix else ""
    return re.compile(rf"(?<![\w']){body}{tail}(?![\w'])")


def role(speaker: str | None) -> str | None:
    """"client" / "clinician" for a recognised speaker label, else None. Never guessed from content."""
    if not speaker:
        return None
    s = speaker.strip().lower()
    if s in CLIENT_LABELS:
        return "client"
    if s in CLINICIAN_LABELS:
        return "clinician"
    return None


def cue_score(text: str, section: Section) -> float:
    norm = normalise(text)
    return sum(w for phrase, w in section.cues if _cue_regex(phrase).search(norm))


def section_score(u: Unit, section: Section, labelled: bool) -> float:
    cues = cue_score(u.text, section)
    if cues < MIN_SCORE:
        return 0.0
    info = min(1.0, len(content_tokens(u.text)) / 6.0)
    score = cues * (0.5 + 0.5 * info)
    if labelled and section.speaker != "any":
        r = role(u.speaker)
        if r == section.speaker:
            score *= 1.3
        elif r is not None:
            score *= 0.6
    return score


def eligible(u: Unit) -> bool:
    """Sentences a note may quote: not filler, not a question, not risk language."""
    t = u.text.strip()
    if len(t.split()) < 4 or is_filler(t):
        return False
    if t.rstrip("\"')] ").endswith("?"):
        return False
    return not is_risk(t)


def quote(u: Unit, timed: bool, labelled: bool) -> str:
    """The note sentence for one transcript sentence. Attribution only when the transcript has labels."""
    text = u.text.strip()
    where = stamp(u.start, timed)
    if labelled and u.speaker:
        return f'{u.speaker.strip().capitalize()} stated: "{text}" {where}'
    return f'Stated in session: "{text}" {where}'


def select(transcript: Transcript, template: Template) -> list[list[Unit]]:
    """The chosen transcript sentences for each section of ``template``, each in transcript order."""
    labelled = any(s.speaker for s in transcript.segments)
    secs = template.sections
    cands: list[_Candidate] = []
    for u in units(transcript):
        if not eligible(u):
            continue
        scores = tuple(section_score(u, s, labelled) for s in secs)
        if max(scores, default=0.0) > 0:
            cands.append(_Candidate(u, frozenset(content_stems(u.text)), len(u.text.split()), scores))
    chosen: list[list[_Candidate]] = [[] for _ in secs]
    words = [0] * len(secs)
    used: set[int] = set()
    sim_all = [0.0] * len(cands)  # max Jaccard with anything chosen so far (updated incrementally)
    sim_sec = [[0.0] * len(secs) for _ in cands]  # ... with what is chosen in each section
    while True:
        best: tuple[float, int, int] | None = None  # (value, -candidate, -section): deterministic ties
        for ci, c in enumerate(cands):
            if ci in used or sim_all[ci] >= REDUNDANT:
                continue
            for si, sec in enumerate(secs):
                rel = c.scores[si]
                if rel <= 0 or len(chosen[si]) >= sec.max_sentences or words[si] + c.words > sec.max_words:
                    continue
                key = (MMR_LAMBDA * rel - (1 - MMR_LAMBDA) * rel * sim_sec[ci][si], -ci, -si)
                if best is None or key > best:
                    best = key
        if best is None:
            break
        ci, si = -best[1], -best[2]
        cand = cands[ci]
        chosen[si].append(cand)
        words[si] += cand.words
        used.add(ci)
        for cj, other in enumerate(cands):
            if cj not in used:
                j = jaccard(cand.stems, other.stems)
                sim_all[cj] = max(sim_all[cj], j)
                sim_sec[cj][si] = max(sim_sec[cj][si], j)
    return [sorted((c.unit for c in ch), key=lambda u: u.index) for ch in chosen]


def draft_sections(transcript: Transcript, template: Template) -> list[NoteSection]:
    labelled = any(s.speaker for s in transcript.segments)
    picked = select(transcript, template)
    return [NoteSection(sec.key, sec.title, [NoteSentence(quote(u, transcript.timed, labelled)) for u in us])
            for sec, us in zip(template.sections, picked, strict=True)]
