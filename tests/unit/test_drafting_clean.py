"""Clean verbatim quotes, honest empty sections and the note's length budget (issue 12)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hushnote.daemon.core.config import defaults
from hushnote.daemon.core.datatypes import Segment, Transcript
from hushnote.daemon.drafting import extractive
from hushnote.daemon.drafting.engine import draft
from hushnote.daemon.drafting.grounding import ground, index_transcript
from hushnote.daemon.drafting.template import load_template
from hushnote.daemon.drafting.text import MAX_QUOTE_WORDS, clean_quote, is_negation, is_subsequence, tokens
from hushnote.daemon.notes.notefile import NOT_DISCUSSED, read_transcript, render_note
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.aci import aci_transcript


@pytest.mark.parametrize(("said", "clean"), [
    ("uh , i felt a little warm , but i , i just thought it was nothing .",
     "I felt a little warm, but I just thought it was nothing."),
    ("i've been traveling since things have , have gotten a bit lighter . and i got my , my vaccine .",
     "I've been traveling since things have gotten a bit lighter. And I got my vaccine."),
    ("so , here in the office , you know , your vital signs look great .",
     "Here in the office, your vital signs look great."),
    ("I was go- going to the store, I mean, yesterday.", "I was going to the store, yesterday."),
    ("Um, so, I was kind of, kind of worried about, about money.", "I was kind of worried about money."),
    ("no , no , i don't think so , you know .", "No, I don't think so."),
    ("the pain is in the lumbar spine-", "The pain is in the lumbar spine"),
])
def test_clean_quote_reads_as_a_sentence(said: str, clean: str) -> None:
    assert clean_quote(said) == clean
    assert is_subsequence(clean, said)


def test_cleaning_never_drops_a_number_or_a_negation() -> None:
    assert clean_quote("I took two two pills, um, 1,000 mg.") == "I took two two pills 1,000 mg."
    assert clean_quote("I do n't , I don't sleep, not , not at all.") == "I do n't, I don't sleep, not at all."
    assert clean_quote("It was fine. It was, like, really bad.") == "It was fine. It was, really bad."


WORDS = ["i", "i", "you", "know", "mean", "uh", "um", "so", "and", "no", "not", "don't", "never", "two", "40",
         "felt", "sleep", "like", "kind", "of", "okay", "go-", "going", "my", ",", ",", ".", "-"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=25))
def test_a_clean_quote_is_always_a_subsequence_with_every_negation_and_number(words: list[str]) -> None:
    said = " ".join(words)
    clean = clean_quote(said)
    assert is_subsequence(clean, said)
    kept = tokens(clean)
    for w in set(tokens(said)):
        if is_negation(w) or w.isdigit() or w == "two":
            assert w in kept, f"{w!r} dropped from {said!r} -> {clean!r}"


def _timed(lines: list[str]) -> Transcript:
    segs = tuple(Segment(float(10 * i), float(10 * i + 9), text) for i, text in enumerate(lines))
    return Transcript(segs, "en", 10.0 * len(lines), "base", "s.wav", True)


def test_grounding_checks_a_quote_against_its_own_line() -> None:
    t = _timed(["um , i have been sleeping , sleeping four hours a night .", "my sister moved away in march ."])
    idx = index_transcript(t)
    ok = ground('Stated in session: "I have been sleeping four hours a night." [00:00:00]', idx, 0.5)
    assert not ok.unverified, ok.reasons
    for bad in ('Stated in session: "I have not been sleeping four hours a night." [00:00:00]',  # a word added
                'Stated in session: "I have been sleeping a night four hours." [00:00:00]',  # reordered
                'Stated in session: "I have been sleeping four hours a night." [00:00:10]'):  # wrong line
        s = ground(bad, idx, 0.5)
        assert s.unverified and any(r.startswith("quote does not match") for r in s.reasons), bad


NO_RISK_NO_MEDS = [
    "[therapist] good to see you again , how was the week ?",
    "[client] it was a busy week , i started the garden project with my sister on saturday .",
    "[client] we planted tomatoes and beans , and i really enjoyed being outside in the sun with her .",
    "[therapist] that sounds like a good way to spend the weekend together .",
    "[client] my job has been stressful because the team is moving to a new office next month .",
    "[client] i have been feeling worried about the commute , it will take forty minutes each way .",
    "[therapist] let's talk about what you can do on the train to make the commute easier .",
    "[client] i could listen to music or call my sister , she likes to chat in the mornings .",
    "[therapist] next week we will look at the worry list you started .",
    "[client] okay , i will bring it with me .",
]


def test_planted_session_without_risk_or_medication_talk(tmp_path: Path) -> None:
    """Nothing about risk or medication was said: the note says nothing about either, not even 'denies'."""
    path = tmp_path / "session.txt"
    path.write_text("\n".join(NO_RISK_NO_MEDS) + "\n", encoding="utf-8")
    t = read_transcript(path)
    note = draft(t, defaults(), template="soap", engine="extractive")
    text = render_note(note, t)
    body = text.split("\n---\n", 1)[1].lower()
    for negative in ("denies", "denied", "deny", "no medication", "medication", "no si", "si/hi", "suicid",
                     "harm", "not at risk", "no risk", "no changes", "unchanged"):
        assert negative not in body, negative
    assert not note.risk and "For clinician review" not in text
    by_key = {s.key: s for s in note.sections}
    assert by_key["subjective"].sentences and by_key["plan"].sentences
    assert not by_key["objective"].sentences, "nothing was observed or measured in this session"
    objective = text.split("## Objective", 1)[1].split("##", 1)[0]
    assert objective.strip() == NOT_DISCUSSED
    assert note.unverified_count == 0


def test_weak_cues_alone_do_not_fill_a_section() -> None:
    """'my' (0.3) + 'work' (0.5) is below the cue threshold: such a sentence does not pad Subjective."""
    t = _timed(["my work , my work and my family .", "the weather and the garden were lovely on the trip ."])
    secs = extractive.draft_sections(t, load_template("soap"))
    assert all(not s.sentences for s in secs)


@pytest.mark.parametrize("i", range(0, 12, 3))
def test_a_note_keeps_to_its_word_budget(eval_dir: Path, tmp_path: Path, i: int) -> None:
    t = aci_transcript(eval_dir, i, tmp_path)
    note = draft(t, defaults(), template="soap", engine="extractive")
    quoted = [re.search(r'"(.*)"', s.text).group(1) for sec in note.sections for s in sec.sentences]  # type: ignore[union-attr]
    assert sum(len(q.split()) for q in quoted) <= extractive.NOTE_WORDS + MAX_QUOTE_WORDS
    assert len(quoted) >= 8, "a full visit still gives a readable note"


def test_topic_words_alone_never_open_a_section() -> None:
    """Long sentences on one recurring topic but without a single cue: every section stays empty."""
    t = _timed(["the printers of the netherlands cut their letters from wood blocks for the old books .",
                "those wood blocks gave the printers of the netherlands their first printed books .",
                "later the printers cast metal letters instead of the wood blocks for their books .",
                "the metal letters lasted longer than wood blocks and made the books much cheaper ."])
    secs = extractive.draft_sections(t, load_template("soap"))
    assert [len(s.sentences) for s in secs] == [0, 0, 0, 0]
