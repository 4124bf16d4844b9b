"""Grounding: a crafted model answer with planted facts goes through the llm engine's parse + ground path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hushnote.daemon.core.config import defaults
from hushnote.daemon.core.datatypes import Note, NoteSentence, Segment, Transcript
from hushnote.daemon.drafting import llm
from hushnote.daemon.drafting.engine import finish
from hushnote.daemon.drafting.grounding import claim_text, ground, hard_flags, index_transcript, is_medication
from hushnote.daemon.drafting.template import load_template
from hushnote.daemon.notes.notefile import render_note

from tests.support.aci import aci_transcript

SUPPORTED = [
    "The patient reported hiking near Mount Baker in the northern cascades.",
    "The patient has been going to therapy every week for the past year.",
    "The doctor will increase lisinopril to 40 milligrams a day.",
    "The doctor will start lasix 20 milligrams a day.",
]
PLANTED = {  # sentence -> the reason the grounding check must give
    "The patient reported sleeping 7 hours a night.": "number 7",
    "The doctor will start sertraline for the depression.": "medication sertraline",
    "The patient was also started on quetiapine at bedtime.": "medication quetiapine",
    "The patient will follow up with Dr. Okafor next month.": "name Okafor",
    "The next appointment is on March 14.": "date March",
    "Blood pressure was recorded on 3/14/2024.": "date 3/14/2024",
    "She will see her sister on Thursday.": "date Thursday",
    "The patient described a long history of bipolar disorder and gambling debts.": "low transcript support",
}
RISKY = "The patient said she sometimes thinks about killing herself."


def crafted_answer() -> str:
    return json.dumps({
        "subjective": [SUPPORTED[0], SUPPORTED[1], "The patient reported sleeping 7 hours a night.",
                       "The patient described a long history of bipolar disorder and gambling debts.", RISKY],
        "objective": ["Blood pressure was recorded on 3/14/2024.", "She will see her sister on Thursday."],
        "assessment": ["The patient was also started on quetiapine at bedtime."],
        "plan": [SUPPORTED[2], SUPPORTED[3], "The doctor will start sertraline for the depression.",
                 "The patient will follow up with Dr. Okafor next month.", "The next appointment is on March 14."],
    })


@pytest.fixture()
def grounded(eval_dir: Path, tmp_path: Path) -> tuple[Transcript, Note]:
    t = aci_transcript(eval_dir, 0, tmp_path)
    low = t.text.lower()
    for word in ("sertraline", "quetiapine", "okafor", "march", "3/14", "thursday", "bipolar", "gambling"):
        assert word not in low, f"precondition: {word!r} must not be in the dialogue"
    tpl = load_template("soap")
    sections = llm.to_sections(llm.parse_answer(crafted_answer(), tpl), tpl)
    return t, finish(t, defaults(), tpl, sections, engine="llm")


def sentences(note: Note) -> dict[str, NoteSentence]:
    return {s.text: s for sec in note.sections for s in sec.sentences}


def test_planted_facts_are_flagged_with_reasons(grounded: tuple[Transcript, Note]) -> None:
    t, note = grounded
    got = sentences(note)
    for text, reason in PLANTED.items():
        s = got[text]
        assert s.unverified, text
        assert any(r.startswith(reason) for r in s.reasons), (text, s.reasons)
    rendered = render_note(note, t)
    for text in PLANTED:
        assert f"- [unverified] {text}" in rendered
    assert f"{len(PLANTED)} sentence(s) below are marked [unverified]" in rendered


def test_supported_sentences_pass(grounded: tuple[Transcript, Note]) -> None:
    _, note = grounded
    got = sentences(note)
    for text in SUPPORTED:
        assert not got[text].unverified, (text, got[text].reasons)
        assert got[text].support >= 0.5


def test_risk_sentence_from_model_is_dropped_from_sections(grounded: tuple[Transcript, Note]) -> None:
    _, note = grounded
    assert RISKY not in sentences(note)
    assert [s.key for s in note.sections] == ["subjective", "objective", "assessment", "plan"]


def test_hard_flags_apply_whatever_the_threshold(eval_dir: Path, tmp_path: Path) -> None:
    t = aci_transcript(eval_dir, 0, tmp_path)
    idx = index_transcript(t)
    s = ground("The patient is doing well with lisinopril 80 milligrams.", idx, threshold=0.0)
    assert s.unverified and "number 80 not in transcript" in s.reasons
    s = ground("The patient described a long history of bipolar disorder and gambling debts.", idx, 0.0)
    assert not s.unverified  # low overlap alone is judged by the threshold...
    s = ground("The patient described a long history of bipolar disorder and gambling debts.", idx, 0.5)
    assert s.unverified and s.support < 0.5  # ...which defaults to 0.5


def test_numbers_match_as_words_or_digits() -> None:
    t = Transcript((Segment(0, 5, "I've been sleeping four hours, maybe forty-five minutes of real rest."),),
                   "en", 5.0, "base")
    idx = index_transcript(t)
    assert hard_flags("The client reported sleeping 4 hours.", idx) == []
    assert hard_flags("The client reported 45 minutes of rest.", idx) == []
    assert hard_flags("The client reported sleeping five hours.", idx) == ["number 5 not in transcript"]


def test_names_and_sentence_starts() -> None:
    t = Transcript((Segment(0, 5, "My sister Maria came with me to the appointment."),), "en", 5.0, "base")
    idx = index_transcript(t)
    assert hard_flags("The client came with her sister Maria.", idx) == []
    assert hard_flags("Yesterday the client came with her sister.", idx) == []  # sentence start is no name
    assert hard_flags("The client came with her sister Elena.", idx) == ["name Elena not in transcript"]


def test_medication_heuristics() -> None:
    for word in ("sertraline", "Lexapro", "lisinopril", "metoprolol", "lorazepam", "fluoxetine", "olanzapine",
                 "aripiprazole", "escitalopram"):
        assert is_medication(word), word
    for word in ("sleeping", "therapy", "breathing", "weekend", "medicine"):
        assert not is_medication(word), word


def test_extractive_quote_claims_strip_attribution_and_stamp() -> None:
    assert claim_text('Stated in session: "I slept 4 hours" [00:03:12]') == '"I slept 4 hours"'
    assert claim_text('Patient stated: "I slept 4 hours" [line 12]') == '"I slept 4 hours"'


def test_cut_off_answer_is_salvaged_to_its_last_complete_sentence() -> None:
    tpl = load_template("soap")
    raw = '{"subjective": ["The client reported stress.", "The client said she wa'
    got = llm.parse_answer(raw, tpl)
    assert got["subjective"] == ["The client reported stress."]
    assert got["plan"] == []
    assert llm.parse_answer("not json at all", tpl) == {k: [] for k in tpl.keys()}
