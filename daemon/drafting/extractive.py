"""The extractive drafter (the default): deterministic, and it never writes a word the session did not contain.

Each note sentence is a verbatim quote of one transcript sentence, with its timestamp, e.g.
``Stated in session: "I've been sleeping four hours" [00:03:12]``. Selection:

1. split segments into sentences (spans of the original text, so quotes stay verbatim);
2. drop filler/backchannel, questions, and every sentence with risk language (it goes to Note.risk);
3. place each sentence: a section may take it for a reason only, a cue phrase of the template (a section
   with no sentence at ``MIN_SCORE`` or above stays empty: "Not discussed in this session."), or, for
   a sentence without a cue of its own, being its speaker's section (the first section without roles)
   or a section a cue of the same turn or the turn before pointed to (``nearby``), and only in a section
   something was said about; with hushnote's own labels a client section quotes only the client, a
   clinician section only the therapist;
   rank it there by ``relevance`` (cue weights plus topic words, content density, detail, fewer "I"/"you")
   times the quote-worth model's factor (``worth``: a small linear model fitted on the tune split that
   predicts how much of a quote a clinician's note would share);
4. seed each section with the sentences it must keep whatever its budget (``mustkeep``: medications
   with dose and change, a safety plan, homework, the next appointment); they count against the budgets;
5. pick greedily with maximal marginal relevance (Jaccard on content stems) under each section's
   sentence and word budget and the note's word budget (``budgets``), each sentence in at most one section;
6. within a section, quotes appear in transcript order, cleaned (``text.clean_quote``) unless
   ``drafting.quotes = "verbatim"``.

The constants below and the worth model were tuned on 45 ACI-BENCH dialogues (the model and its two
constants by cross-validation within them, ``scripts/dev/train_quote_worth.py``) and checked on 22
held-out ones (bench/bench_note_quality.py, docs/BENCHMARKS.md).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from hushnote.daemon.core.datatypes import NoteSection, NoteSentence, Transcript, stamp
from hushnote.daemon.drafting import mustkeep
from hushnote.daemon.drafting.roles import NOBODY, Speakers, speakers_of
from hushnote.daemon.drafting.screening.risk import is_risk, prepare
from hushnote.daemon.drafting.template import Section, Template
from hushnote.daemon.drafting.text import (
    Unit,
    clean_quote,
    content_stems,
    content_tokens,
    is_filler,
    jaccard,
    normalise,
    tokens,
    units,
)
from hushnote.daemon.drafting.worth import PERSONAL, Context, WorthModel, features, is_question
from hushnote.daemon.drafting.worth import model as worth_model

MIN_SCORE = 1.0  # the cue threshold: a sentence without a cue of at least this weight has no cue
REDUNDANT = 0.4  # Jaccard at or above this with an already chosen sentence: skip
MMR_LAMBDA = 0.7
TOPIC_WEIGHT = 1.0  # weight of a sentence's topic words against its cue weights
PERSONAL_PENALTY = 4.0  # conversation ("I", "you") says less per word than a statement of fact
ROLE_MATCH, ROLE_MISMATCH = 1.3, 0.6  # a labelled dialogue: a role's section prefers its role's words
SECTION_SHARE = 0.9  # share of each section's max_words a note uses (the templates' budgets are upper limits)
NOTE_WORDS = 380  # quoted words in a whole note; with titles and attributions a note is ~400 words



@dataclass(frozen=True)
class _Candidate:
    unit: Unit
    text: str  # what the note quotes: the sentence cleaned (``drafting.quotes = "clean"``) or as said
    stems: frozenset[str]
    words: int
    scores: tuple[float, ...]  # one per section


@lru_cache(maxsize=256)
def _cue_regex(phrase: str) -> re.Pattern[str]:
    prefix = phrase.endswith("*")
    body = re.escape(phrase.rstrip("*")).replace(r"\ ", r"\s+")
    tail = r"[\w-]*" if prefix else ""
    return re.compile(rf"(?<![\w']){body}{tail}(?![\w'])")


def cue_score(text: str, section: Section) -> float:
    """Sum of the weights of ``section``'s cues in ``text``; 0 unless one of them alone reaches ``MIN_SCORE``
    (weaker cues such as "my" or "work" only add to a real one: together they are not a topic)."""
    norm = normalise(text)
    found = [w for phrase, w in section.cues if _cue_regex(phrase).search(norm)]
    return sum(found) if found and max(found) >= MIN_SCORE else 0.0


def topic_counts(us: list[Unit]) -> Counter[str]:
    """In how many sentences each content stem occurs."""
    return Counter(stem for u in us for stem in content_stems(u.text))


def topic_score(u: Unit, counts: Counter[str]) -> float:
    """How much of what the session keeps coming back to ``u`` holds: each content stem counts by how
    often it recurs (a stem in 4 or more sentences counts fully, one said only here not at all)."""
    return sum(min(1.0, (counts[s] - 1) / 3) for s in content_stems(u.text))


def home_sections(u: Unit, template: Template, speakers: Speakers) -> frozenset[int]:
    """The sections a sentence without cues may go to: those whose words are usually its speaker's (and
    "any" sections); without speaker roles only the first section (what was reported)."""
    r = speakers.role(u.speaker)
    if r is None:
        return frozenset({0})
    return frozenset(i for i, sec in enumerate(template.sections) if sec.speaker in (r, "any")) or frozenset({0})


def relevance(u: Unit, cues: float, topic: float) -> float:
    """How much ``u`` says for a section it has ``cues`` for (0: placed without a cue): the cue weights plus
    its topic words, scaled by how dense and detailed it is and down for conversation words."""
    toks = tokens(u.text)
    content = content_tokens(u.text)
    info = min(1.0, len(content) / 6.0)
    density = len(content) / max(1, len(toks))
    detail = sum(1 for w in content if len(w) >= 7 or any(c.isdigit() for c in w))
    personal = sum(1 for w in toks if w in PERSONAL) / max(1, len(toks))
    return ((cues + TOPIC_WEIGHT * topic * density) * (0.5 + 0.5 * info) * density * (1 + 0.2 * detail)
            * max(0.1, 1 - PERSONAL_PENALTY * personal))


def nearby(u: Unit, cue_table: dict[int, tuple[float, ...]], all_units: list[Unit], turns: int) -> frozenset[int]:
    """The sections a quotable sentence of the same turn, or of the ``turns`` turns before it, has a cue
    for: a sentence without a cue of its own carries on what that turn was about."""
    if turns <= 0:
        return frozenset()
    near = range(u.segment - turns, u.segment + 1)
    return frozenset(i for v in all_units if v.segment in near and v.index in cue_table
                     for i, c in enumerate(cue_table[v.index]) if c > 0)


def placements(u: Unit, template: Template, speakers: Speakers, cues: tuple[float, ...], home: frozenset[int],
               topic: float, worth: float, model: WorthModel) -> tuple[float, ...]:
    """How strongly ``u`` belongs in each section (0: it may not go there). A reason is needed: a section
    cue, or (for a sentence worth at least ``model.min_worth``) being one of its speaker's sections that
    something was said about. ``relevance`` is scaled by the sentence's worth (``model.weight``). With
    hushnote's own labels a client section takes only the client's words (``Speakers.fits``); with a
    dialogue's labels a role's section prefers its role's words."""
    out: list[float] = []
    r = speakers.role(u.speaker)
    factor = model.weight(worth)
    for i, sec in enumerate(template.sections):
        if not speakers.fits(u.speaker, sec.speaker) or (cues[i] <= 0 and (i not in home or worth < model.min_worth)):
            out.append(0.0)
            continue
        rel = relevance(u, cues[i], topic) * factor
        if speakers.labelled and sec.speaker != "any" and r is not None:
            rel *= ROLE_MATCH if r == sec.speaker else ROLE_MISMATCH
        out.append(rel)
    return tuple(out)


def sentence_features(u: Unit, text: str, ctx: tuple[list[Unit], Counter[str], Speakers],
                      best_cue: float, model: WorthModel) -> list[float]:
    """The quote-worth model's features (``worth.FEATURES``) of ``u`` quoted as ``text``."""
    all_units, counts, speakers = ctx
    prev = all_units[u.index - 1] if u.index > 0 else None
    c = Context(topic=topic_score(u, counts), cue=best_cue, position=u.index / max(1, len(all_units) - 1),
                role=speakers.role(u.speaker),
                answers_question=prev is not None and prev.segment != u.segment and is_question(prev.text),
                medication=bool(mustkeep.keep_rules().medications(u.text)), raw=u.text)
    return features(text, c, model.priors, model.prior_default)


def eligible(u: Unit) -> bool:
    """Sentences a note may quote: not filler, not a question, not risk language."""
    t = u.text.strip()
    if len(t.split()) < 4 or is_filler(t):
        return False
    if t.rstrip("\"')] ").endswith("?"):
        return False
    return not is_risk(t)


def quote_text(u: Unit, clean: bool) -> str:
    """The words a note quotes for ``u``: cleaned (readable, still a subsequence of what was said) or raw."""
    return clean_quote(u.text) if clean else u.text.strip()


def quote(u: Unit, timed: bool, speakers: Speakers = NOBODY, clean: bool = True) -> str:
    """The note sentence for one transcript sentence, attributed only to a speaker whose role is known:
    ``Client stated: "…" [00:03:12]``, ``Therapist: "…" [00:03:40]``, else ``Stated in session: "…"``."""
    return speakers.attribute(u.speaker, quote_text(u, clean), stamp(u.start, timed))


def quotable_units(all_units: list[Unit], clean: bool) -> list[tuple[Unit, str]]:
    """The sentences a note may quote (``eligible`` as said and as quoted), each with its quote text."""
    prepare([u.text for u in all_units] + [quote_text(u, clean) for u in all_units])  # one embedding batch
    return [(u, text) for u in all_units
            if eligible(u) and eligible(Unit(u.index, u.segment, u.start, text := quote_text(u, clean), u.speaker))]


def candidates(all_units: list[Unit], template: Template, speakers: Speakers, clean: bool,
               model: WorthModel | None = None) -> list[_Candidate]:
    """The sentences a note may quote, each with its score for every section. Worth alone places a
    sentence only in a section that something was said about (a sentence there has a real cue): a section
    without one stays empty ("Not discussed in this session.") rather than padded."""
    m = model or worth_model()
    secs = template.sections
    quotable = quotable_units(all_units, clean)
    cue_table = {u.index: tuple(cue_score(u.text, sec) for sec in secs) for u, _ in quotable}
    discussed = {i for i in range(len(secs)) if any(c[i] > 0 for c in cue_table.values())}
    ctx = (all_units, topic_counts(all_units), speakers)
    out: list[_Candidate] = []
    for u, text in quotable:
        cues = cue_table[u.index]
        topic = topic_score(u, ctx[1])
        worth = m.predict(sentence_features(u, text, ctx, max(cues, default=0.0), m))
        home = (home_sections(u, template, speakers) | nearby(u, cue_table, all_units, m.nearby_turns)) & discussed
        scores = placements(u, template, speakers, cues, home, topic, worth, m)
        if max(scores, default=0.0) > 0:
            out.append(_Candidate(u, text, frozenset(content_stems(text)), len(text.split()), scores))
    return out


def budgets(template: Template) -> tuple[list[int], list[int], int]:
    """Sentences and quoted words each section may hold, and quoted words for the whole note: a note a
    clinician reads in a minute. Each section gets ``SECTION_SHARE`` of its template budget."""
    max_sentences = [sec.max_sentences for sec in template.sections]
    max_words = [max(10, round(sec.max_words * SECTION_SHARE)) for sec in template.sections]
    return max_sentences, max_words, min(NOTE_WORDS, sum(max_words))


def select(transcript: Transcript, template: Template, clean: bool = True,
           model: WorthModel | None = None) -> list[list[Unit]]:
    """The chosen transcript sentences for each section of ``template``, each in transcript order."""
    speakers = speakers_of(transcript)
    secs = template.sections
    max_sentences, max_words, note_words = budgets(template)
    all_units = units(transcript)
    pinned = pinned_units(transcript, template)
    pinned_at = {u.index for us in pinned for u in us}
    cands = [c for c in candidates(all_units, template, speakers, clean, model) if c.unit.index not in pinned_at]
    chosen: list[list[_Candidate]] = [[] for _ in secs]
    words = [sum(len(quote_text(u, clean).split()) for u in us) for us in pinned]  # what must be kept counts
    count = [len(us) for us in pinned]
    used: set[int] = set()
    pinned_stems = [frozenset(content_stems(quote_text(u, clean))) for us in pinned for u in us]
    # max Jaccard with anything chosen so far (updated incrementally), and with what each section holds
    sim_all = [max((jaccard(c.stems, p) for p in pinned_stems), default=0.0) for c in cands]
    sim_sec = [[0.0] * len(secs) for _ in cands]
    while True:
        best: tuple[float, int, int] | None = None  # (value, -candidate, -section): deterministic ties
        for ci, c in enumerate(cands):
            if ci in used or sim_all[ci] >= REDUNDANT:
                continue
            over = sum(words) + c.words > note_words
            for si in range(len(secs)):
                rel = c.scores[si]
                if rel <= 0 or count[si] >= max_sentences[si] or words[si] + c.words > max_words[si]:
                    continue
                if over and count[si]:  # the note's budget never leaves a section with something said empty
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
        count[si] += 1
        used.add(ci)
        for cj, other in enumerate(cands):
            if cj not in used:
                j = jaccard(cand.stems, other.stems)
                sim_all[cj] = max(sim_all[cj], j)
                sim_sec[cj][si] = max(sim_sec[cj][si], j)
    return [sorted([*pins, *(c.unit for c in ch)], key=lambda u: u.index) for pins, ch in zip(pinned, chosen, strict=True)]


def pinned_units(transcript: Transcript, template: Template) -> list[list[Unit]]:
    """For each section, the sentences it must keep whatever its budget (see ``mustkeep``)."""
    keys = template.keys()
    out: list[list[Unit]] = [[] for _ in keys]
    for k in mustkeep.collect(transcript, template):
        if not k.review:  # (its medication names are added by ``mustkeep.ensure``)
            out[keys.index(k.section)].append(k.unit)
    return out


def draft_sections(transcript: Transcript, template: Template, clean: bool = True,
                   model: WorthModel | None = None) -> list[NoteSection]:
    speakers = speakers_of(transcript)
    picked = select(transcript, template, clean, model)
    return [NoteSection(sec.key, sec.title,
                        [NoteSentence(quote(u, transcript.timed, speakers, clean)) for u in us])
            for sec, us in zip(template.sections, picked, strict=True)]
