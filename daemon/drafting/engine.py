"""The drafting interface: ``draft(transcript, cfg, template=..., engine=...) -> Note``.

Whichever engine writes the sections, the same checks follow: what a note must keep (medications, a
safety plan, homework, the next appointment) is added where a drafter left it out; risk language is pulled
out of the sections and quoted (with timestamps and its category) in ``Note.risk`` by the rules, plus any
sentence the llm suggested that is found verbatim in the transcript; and every note sentence is grounded
against the transcript (unsupported ones are marked ``unverified`` with reasons). Nothing here logs
session text.
"""

from __future__ import annotations

import logging

from hushnote.daemon.core.config import Config
from hushnote.daemon.core.datatypes import Note, NoteSection, Progress, Transcript, no_progress
from hushnote.daemon.core.errors import InputError, ModelError
from hushnote.daemon.drafting import extractive, mustkeep
from hushnote.daemon.drafting.grounding import ground, index_transcript, quoted, without_stamps
from hushnote.daemon.drafting.roles import speakers_of
from hushnote.daemon.drafting.screening.risk import find_risk, rule_hits
from hushnote.daemon.drafting.template import Template, load_template
from hushnote.daemon.drafting.text import clean_quote
from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)

ENGINES = ("auto", "extractive", "llm")


def resolve_engine(engine: str, cfg: Config) -> str:
    """"auto" means llm only when a model is configured; otherwise the extractive engine."""
    if engine not in ENGINES:
        raise InputError(f"There is no drafting engine called {engine!r}.", f"Use one of: {', '.join(ENGINES)}.")
    if engine == "auto":
        return "llm" if str(cfg["drafting.model_path"]).strip() else "extractive"
    if engine == "llm" and not str(cfg["drafting.model_path"]).strip():
        raise ModelError("The llm engine needs a model, and none is set.",
                         "Set drafting.model_path to a GGUF file (hushnote models fetch), "
                         "or use --engine extractive.")
    return engine


def draft(transcript: Transcript, cfg: Config, *, template: str, engine: str,
          progress: Progress = no_progress) -> Note:
    """Draft a note with ``engine`` ("auto" | "extractive" | "llm") in ``template``'s sections.

    numpy's BLAS runs on one thread here: the sentence embeddings are small matrices, and BLAS threads
    that spin while speech recognition keeps the cores busy made drafting 5.6x slower (29 s instead of
    5.2 s for one ACI-BENCH dialogue at load 6 on 2 cores)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _draft(transcript, cfg, template=template, engine=engine, progress=progress)


def _draft(transcript: Transcript, cfg: Config, *, template: str, engine: str, progress: Progress) -> Note:
    tpl = load_template(template, cfg)
    chosen = resolve_engine(engine, cfg)
    progress("draft", 0.0, chosen)
    model = sha = ""
    strategy = "single"
    quotes = ""
    suggested: list[str] = []
    if chosen == "extractive":
        clean = cfg["drafting.quotes"] == "clean"
        sections = extractive.draft_sections(transcript, tpl, clean)
        quotes = "clean verbatim" if clean else "verbatim"
    else:
        from hushnote.daemon.drafting import llm  # imports llama.cpp only now

        result = llm.draft_sections(transcript, tpl, cfg, progress)
        sections, model, sha, strategy = result.sections, result.model, result.model_sha256, result.strategy
        suggested = result.review
    note = finish(transcript, cfg, tpl, sections, engine=chosen, suggested=suggested)
    note.model, note.model_sha256, note.strategy, note.quotes = model, sha, strategy, quotes
    progress("draft", 1.0, chosen)
    return note


def finish(transcript: Transcript, cfg: Config, tpl: Template, sections: list[NoteSection], *,
           engine: str, suggested: list[str] | None = None) -> Note:
    """Add what must be kept, keep risk language out of the sections, ground every sentence, and
    assemble the Note. ``suggested``: the llm's risk candidates (only verbatim transcript sentences count)."""
    speakers = speakers_of(transcript)
    clean = cfg["drafting.quotes"] == "clean"
    sections = mustkeep.ensure(sections, mustkeep.collect(transcript, tpl),
                               lambda u: extractive.quote(u, transcript.timed, speakers, clean))
    idx = index_transcript(transcript)
    cleared = cleared_quotes(transcript)
    threshold = float(cfg["drafting.support_threshold"])
    by_key = {s.key: s for s in sections}
    out: list[NoteSection] = []
    dropped = 0
    for sec in tpl.sections:  # every template section, in template order, even when empty
        got = by_key.get(sec.key)
        kept = []
        for s in got.sentences if got else []:
            # The rules only: the classifier judges what was said (transcript sentences: the extractive
            # drafter never picks one it flags, and find_risk quotes them), not a note's wording around a quote
            # ('Therapist stated: "...safety plan..."' reads like therapy talk about risk to it). A quote of a
            # sentence the detector cleared (a rule's look-alike: "it killed my sex drive") stays: it is not
            # in the review block either, and it may be the note's only mention of a medication.
            # Not its stamp either: "[line 27]" after "I don't appreciate" read as drug use and emptied a section.
            if rule_hits(without_stamps(s.text)) and quoted(s.text) not in cleared:
                dropped += 1
                continue
            kept.append(ground(s.text, idx, threshold))
        out.append(NoteSection(sec.key, sec.title, kept))
    if dropped:
        log.info("kept %d sentence(s) with risk language out of the note sections", dropped)
    return Note(template=tpl.name, sections=out, engine=engine, risk=find_risk(transcript, suggested or ()))


def cleared_quotes(transcript: Transcript) -> set[str]:
    """The quotes (raw and clean) of the transcript sentences with no risk language: the review block's
    judgement, so a sentence is either there or may be quoted in a section, never neither."""
    said, risky = mustkeep.judged(transcript)
    return {q for u in said if u.index not in risky for q in (u.text.strip(), clean_quote(u.text))}
