"""The extractive engine on real dialogues: only verbatim transcript sentences, right stamps, no invention."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hushnote.daemon.core.config import defaults
from hushnote.daemon.core.datatypes import Note, NoteSection, Transcript, stamp
from hushnote.daemon.drafting.engine import draft
from hushnote.daemon.drafting.extractive import quote
from hushnote.daemon.drafting.mustkeep import collect
from hushnote.daemon.drafting.roles import speakers_of
from hushnote.daemon.drafting.template import available_templates, load_template
from hushnote.daemon.drafting.text import Unit, is_subsequence
from hushnote.daemon.notes.notefile import render_note

from tests.support.aci import aci_rows, aci_transcript, as_audio

QUOTE_RE = re.compile(r'^(?:(?P<who>[A-Z][a-z]+)(?: stated)?|Stated in session): "(?P<q>.*)" (?P<stamp>\[[^\]]+\])$')
TEMPLATES = ["soap", "dap", "birp", "girp", "pirp"]


def quotes(note: Note) -> list[tuple[str | None, str, str]]:
    out = []
    for sec in note.sections:
        for s in sec.sentences:
            m = QUOTE_RE.match(s.text)
            assert m, f"not a quote: {s.text!r}"
            out.append((m.group("who"), m.group("q"), m.group("stamp")))
    return out


def extractive(t: Transcript, template: str = "soap", quotes: str = "clean") -> Note:
    return draft(t, defaults().with_overrides(drafting__quotes=quotes), template=template, engine="extractive")


@pytest.mark.parametrize("i", [0, 7])
def test_verbatim_setting_keeps_quotes_exactly_as_said(eval_dir: Path, tmp_path: Path, i: int) -> None:
    t = aci_transcript(eval_dir, i, tmp_path)
    note = extractive(t, quotes="verbatim")
    assert note.quotes == "verbatim"
    assert 'quotes: "verbatim"' in render_note(note, t)
    qs = quotes(note)
    assert qs and all(any(q in s.text for s in t.segments) for _, q, _ in qs)
    raw = " ".join(q for _, q, _ in qs)
    clean = " ".join(q for _, q, _ in quotes(extractive(t)))
    assert re.search(r"\b(uh|um)\b", raw) or " ," in raw, "the raw quotes of a real visit carry fillers"
    assert not re.search(r"\b(uh|um)\b", clean, re.IGNORECASE) and " ," not in clean and " ." not in clean


@pytest.mark.parametrize("i", range(12))
def test_every_quote_is_clean_verbatim_with_its_line_and_speaker(eval_dir: Path, tmp_path: Path, i: int) -> None:
    t = aci_transcript(eval_dir, i, tmp_path)
    note = extractive(t)
    assert note.quotes == "clean verbatim"
    qs = quotes(note)
    assert len(qs) >= 4, "a real 1,000-word visit should give at least a few quotes"
    for who, q, st in qs:
        # the stamp names the line whose words, some left out, are the quote's; the speaker is its label
        owners = [s for s in t.segments if is_subsequence(q, s.text) and stamp(s.start, False) == st]
        assert owners, f"quote not on {st}"
        assert who is not None and who.lower() in {s.speaker for s in owners}
    assert len({q for _, q, _ in qs}) == len(qs), "a sentence is used at most once"
    assert note.unverified_count == 0  # verbatim quotes are fully supported by construction
    assert all(s.support == 1.0 for sec in note.sections for s in sec.sentences)


@pytest.mark.parametrize("template", TEMPLATES)
def test_each_template_has_all_its_sections(eval_dir: Path, tmp_path: Path, template: str) -> None:
    t = aci_transcript(eval_dir, 2, tmp_path)
    note = extractive(t, template)
    tpl = load_template(template)
    assert [s.key for s in note.sections] == tpl.keys()
    assert note.template == template and note.engine == "extractive" and note.strategy == "single"
    assert note.model == "" and note.model_sha256 == ""
    text = render_note(note, t)
    for sec in tpl.sections:
        assert f"## {sec.title}" in text
    kept = {extractive_quote(k.unit, t) for k in collect(t, tpl)}  # must-keep items are outside the budget
    for sec, tsec in zip(note.sections, tpl.sections, strict=True):
        budgeted = [s for s in sec.sentences if s.text not in kept]
        assert len(budgeted) <= tsec.max_sentences
        assert sum(len(q.split()) for _, q, _ in quotes(Note("x", [NoteSection(sec.key, sec.title, budgeted)],
                                                             "extractive"))) <= tsec.max_words


def extractive_quote(u: Unit, t: Transcript) -> str:
    return quote(u, t.timed, speakers_of(t))


def test_builtin_templates_are_available() -> None:
    assert set(TEMPLATES) <= set(available_templates(defaults()))


def test_deterministic(eval_dir: Path, tmp_path: Path) -> None:
    t = aci_transcript(eval_dir, 5, tmp_path)
    a, b = extractive(t), extractive(t)
    assert a == b
    assert render_note(a, t) == render_note(b, t)


def test_no_speaker_attribution_without_labels(eval_dir: Path, tmp_path: Path) -> None:
    t = as_audio(aci_transcript(eval_dir, 0, tmp_path))
    note = extractive(t)
    qs = quotes(note)
    assert qs and all(who is None for who, _, _ in qs)
    text = render_note(note, t)
    assert "Doctor" not in text and "Patient stated" not in text and "Client stated" not in text
    for _, q, st in qs:
        assert re.fullmatch(r"\[\d\d:\d\d:\d\d\]", st)
        assert any(is_subsequence(q, s.text) and stamp(s.start) == st for s in t.segments)


def test_filler_and_questions_are_never_quoted(eval_dir: Path, tmp_path: Path) -> None:
    for i in (0, 3, 7):
        t = aci_transcript(eval_dir, i, tmp_path)
        for _, q, _ in quotes(extractive(t)):
            assert not q.rstrip().endswith("?")
            assert len(q.split()) >= 4
            assert q.strip(" .!").lower() not in {"okay", "mm-hmm", "yeah", "all right", "yes", "no"}


RISK_LINES = {
    3: "[patient] sometimes i think about killing myself when it gets this bad .",
    9: "[patient] honestly , some nights i just do n't want to be here anymore .",
    14: "[patient] my ex used to hit me and i still keep a knife by the bed .",
}


@pytest.mark.parametrize("template", TEMPLATES)
def test_planted_risk_is_quoted_for_review_and_kept_out_of_sections(eval_dir: Path, tmp_path: Path,
                                                                   template: str) -> None:
    t = aci_transcript(eval_dir, 1, tmp_path, extra=RISK_LINES)
    note = extractive(t, template)
    planted = [line.split("] ", 1)[1] for line in RISK_LINES.values()]
    risk_texts = [ev.text for ev in note.risk]
    for p in planted:
        assert p in risk_texts, f"risk line not quoted: {p!r}"
    for ev in note.risk:
        assert ev.text in t.text and not ev.timed
        # the quoted line number is the planted line's own number
        assert any(ev.text in s.text and s.start == ev.start for s in t.segments)
    section_text = " ".join(s.text for sec in note.sections for s in sec.sentences).lower()
    for needle in ("killing myself", "want to be here", "hit me", "knife"):
        assert needle not in section_text
    rendered = render_note(note, t)
    review = rendered.split("## For clinician review", 1)
    assert len(review) == 2 and "killing myself" in review[1] and "killing myself" not in review[0]


def test_dialogue_without_risk_has_no_review_block(eval_dir: Path, tmp_path: Path) -> None:
    from hushnote.daemon.drafting.screening.risk import is_risk

    rows = aci_rows(eval_dir)
    clean = [i for i in range(len(rows)) if not any(is_risk(line) for line in rows[i]["dialogue"].splitlines())]
    assert clean, "expected at least one ACI dialogue without risk language"
    t = aci_transcript(eval_dir, clean[0], tmp_path)
    note = extractive(t)
    assert note.risk == []
    assert "For clinician review" not in render_note(note, t)


def test_speech_without_punctuation_still_gives_bounded_verbatim_quotes() -> None:
    from hushnote.daemon.core.datatypes import Segment

    words = ("i have been feeling anxious at work every day and my sleep has been bad and i feel tired "
             "and stressed and worried about my family and money ") * 6
    t = Transcript((Segment(0.0, 60.0, words.strip()),), "en", 60.0, "base", "", True)
    note = extractive(t)
    qs = quotes(note)
    assert qs
    for _, q, _ in qs:
        assert is_subsequence(q, t.text) and len(q.split()) <= 45


def test_progress_reports_the_draft_stage(eval_dir: Path, tmp_path: Path) -> None:
    seen: list[tuple[str, float]] = []
    t = aci_transcript(eval_dir, 0, tmp_path)
    draft(t, defaults(), template="soap", engine="extractive", progress=lambda st, f, d="": seen.append((st, f)))
    assert seen[0] == ("draft", 0.0) and seen[-1] == ("draft", 1.0)
