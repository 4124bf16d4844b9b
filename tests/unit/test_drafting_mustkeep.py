"""What a note must keep whatever its length budget: every medication mention (with dose and change), a
safety plan, homework and the next appointment; and nothing negative is written when nothing was said."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hushnote.daemon.core.config import defaults
from hushnote.daemon.core.datatypes import NoteSection, NoteSentence, Transcript
from hushnote.daemon.core.errors import InputError
from hushnote.daemon.drafting import extractive
from hushnote.daemon.drafting.engine import draft, finish
from hushnote.daemon.drafting.mustkeep import collect, keep_rules
from hushnote.daemon.drafting.template import Template, load_template, parse_template
from hushnote.daemon.drafting.text import clean_quote
from hushnote.daemon.notes.notefile import read_transcript, render_note

from tests.support.paths import RISK_DATA

DATA = RISK_DATA
# Ordinary session talk that competes for the same sections (sleep, mood, work, plans).
FILLER = [
    "[client] I've been sleeping badly and I feel tired and anxious at work every day.",
    "[client] Work has been stressful because my manager keeps adding projects to my list.",
    "[therapist] It sounds like the stress at work is affecting your sleep and your mood.",
    "[client] My mood is low in the mornings and my appetite has been poor this week.",
    "[therapist] We talked about the breathing exercise and how it helped you last time.",
    "[client] I feel better after walking in the evening with my sister and my dog.",
    "[therapist] Let's continue practising the breathing exercise when the worry starts.",
]


def tightest(name: str = "soap") -> Template:
    """The built-in template with every section at the smallest budget a template may have."""
    tpl = load_template(name)
    data = {"name": tpl.title, "sections": [
        {"key": s.key, "title": s.title, "guidance": s.guidance, "speaker": s.speaker, "max_sentences": 1,
         "max_words": 10, "cues": dict(s.cues), "keeps": list(s.keeps)} for s in tpl.sections]}
    return parse_template(name, data, "test", "test")


def dialogue(tmp_path: Path, lines: list[str]) -> Transcript:
    p = tmp_path / "session.txt"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return read_transcript(p)


def body(t: Transcript, tpl: Template) -> str:
    secs = extractive.draft_sections(t, tpl)
    note = finish(t, defaults(), tpl, secs, engine="extractive")
    return "\n".join(s.text for sec in note.sections for s in sec.sentences)


def med_rows(name: str = "medications_dev.tsv") -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.mark.parametrize("name", ["medications_dev.tsv", "medications_blind.tsv", "medications_blind_2.tsv"])
def test_every_medication_mention_survives_the_tightest_budget(tmp_path: Path, name: str) -> None:
    rows = med_rows(name)
    assert len(rows) >= 40
    lines = [*FILLER]
    for i, r in enumerate(rows):  # all forty mentions in one session, between ordinary talk
        lines.append(f"[client] {r['text']}")
        lines.append(FILLER[i % len(FILLER)])
    t = dialogue(tmp_path, lines)
    named = keep_rules().medications
    assert all(named(r["text"]) for r in rows)
    for tpl in ("soap", "birp", "dap"):
        note = finish(t, defaults(), tightest(tpl), extractive.draft_sections(t, tightest(tpl)), engine="extractive")
        text = "\n".join(s.text for sec in note.sections for s in sec.sentences)
        reviewed = {e.text for e in note.risk}  # such a line's medications are quoted by name (see mustkeep)
        missing = [r["text"] for r in rows if clean_quote(r["text"]) not in text  # quotes are cleaned
                   and not (r["text"] in reviewed and all(m in text.lower() for m in named(r["text"])))]
        assert not missing, (tpl, missing)


def test_a_dose_said_after_the_name_is_kept_with_it(tmp_path: Path) -> None:
    t = dialogue(tmp_path, [*FILLER, "[therapist] Are you still taking the lithium?",
                            "[client] Yes, and we raised it to six hundred last week.", *FILLER])
    text = body(t, tightest())
    assert "Are you still taking the lithium?" in text and "raised it to six hundred last week." in text


def test_safety_plan_homework_and_next_appointment_are_kept(tmp_path: Path) -> None:
    said = ["Let's go over your safety plan and who you can call at night.",
            "For homework I'd like you to fill in the thought record every evening this week.",
            "I'll see you next Tuesday at the same time."]
    t = dialogue(tmp_path, [*FILLER, *(f"[therapist] {s}" for s in said), *FILLER])
    keeps = collect(t, load_template("soap"))
    assert [k.kind for k in keeps] == ["safety_plan", "homework", "next_appointment"]
    assert {k.section for k in keeps} == {"plan"}
    text = body(t, tightest())
    for s in said:
        assert clean_quote(s) in text


def test_nothing_negative_is_written_when_nothing_was_said(tmp_path: Path) -> None:
    t = dialogue(tmp_path, FILLER)
    assert collect(t, load_template("soap")) == []
    note = draft(t, defaults(), template="soap", engine="extractive")
    rendered = render_note(note, t).lower()
    for phrase in ("medication", "no change", "denies", "safety plan", "homework", "for clinician review"):
        assert phrase not in rendered


def test_risk_language_is_never_kept_in_a_section(tmp_path: Path) -> None:
    t = dialogue(tmp_path, [*FILLER, "[client] I took all my lithium at once back in March.",
                            "[client] I'm on sertraline, fifty milligrams."])
    note = draft(t, defaults(), template="soap", engine="extractive")
    sections = " ".join(s.text for sec in note.sections for s in sec.sentences)
    assert "fifty milligrams" in sections and "at once" not in sections
    assert [e.text for e in note.risk] == ["I took all my lithium at once back in March."]


def test_a_medication_in_a_sentence_for_review_is_still_named_in_the_note(tmp_path: Path) -> None:
    risky = "I've been saving up my quetiapine and I think thirty would be enough."
    t = dialogue(tmp_path, [*FILLER, f"[client] {risky}"])
    for engine in ("extractive", "llm"):
        secs = extractive.draft_sections(t, tightest()) if engine == "extractive" else [
            NoteSection(s.key, s.title, []) for s in tightest().sections]  # an llm that left it out
        note = finish(t, defaults(), tightest(), secs, engine=engine)
        plan = [s.text for s in note.sections[-1].sentences]
        assert 'Client stated: "Quetiapine" [line 8]' in plan  # the name alone, at the review quote's line
        sections = " ".join(s.text for sec in note.sections for s in sec.sentences)
        assert "saving" not in sections and "enough" not in sections
        assert [e.text for e in note.risk] == [risky]
        assert not any(s.unverified for sec in note.sections for s in sec.sentences)


def test_a_drug_missing_from_the_list_is_known_by_its_suffix(tmp_path: Path) -> None:
    t = dialogue(tmp_path, [*FILLER, "[client] I read a magazine about the old one, thioridazine, on the bus."])
    assert [k.names for k in collect(t, load_template("soap"))] == [("thioridazine",)]  # not "magazine"
    assert "thioridazine" in body(t, tightest())


def test_a_drafter_that_left_a_medication_out_gets_it_back_as_a_quote(tmp_path: Path) -> None:
    t = dialogue(tmp_path, [*FILLER, "[client] They switched me from Lexapro to Prozac, twenty milligrams."])
    tpl = load_template("soap")
    llm_like = [NoteSection(s.key, s.title, [NoteSentence("The client reported poor sleep.")] if i == 0 else [])
                for i, s in enumerate(tpl.sections)]
    note = finish(t, defaults(), tpl, llm_like, engine="llm")
    plan = [s.text for s in note.sections[-1].sentences]
    assert plan == ['Client stated: "They switched me from Lexapro to Prozac, twenty milligrams." [line 8]']
    said = [NoteSection(s.key, s.title, [NoteSentence("The client was switched from Lexapro to Prozac 20 mg.")]
                        if s.key == "plan" else []) for s in tpl.sections]
    note = finish(t, defaults(), tpl, said, engine="llm")  # already said (names and dose): not added twice
    assert [s.text for s in note.sections[-1].sentences] == ["The client was switched from Lexapro to Prozac 20 mg."]


def test_template_keeps_is_checked() -> None:
    tpl = load_template("soap")
    raw = {"name": "X", "sections": [{"key": "a", "title": "A", "guidance": "g", "keeps": ["medicines"]}]}
    with pytest.raises(InputError, match="keeps"):
        parse_template("x", raw, "x.toml", "x.toml")
    assert all("medications" in s.keeps for s in tpl.sections if s.key == "plan")
