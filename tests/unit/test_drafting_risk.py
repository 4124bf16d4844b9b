"""The risk phrase list: ways people say it in session (positives) and ordinary speech (negatives)."""

from __future__ import annotations

import pytest
from hushnote.daemon.core.datatypes import Segment, Transcript
from hushnote.daemon.drafting.risk import find_risk, is_risk, load_phrases

SAID = [
    "sometimes i think about killing myself",
    "I've had suicidal thoughts on and off.",
    "Sometimes I think it would be easier if I just wasn't here anymore.",
    "I don't want to be here anymore.",
    "i do n't want to live like this",
    "I just want to die.",
    "I wish I could go to sleep and not wake up.",
    "Everyone would be better off without me.",
    "I've been cutting myself again.",
    "I was hurting myself when it got bad.",
    "I took a handful of pills last month.",
    "She overdosed in March.",
    "I thought about ending it.",
    "I could hurt him if he comes near me again.",
    "He hit me when he was drunk.",
    "There was a lot of abuse at home.",
    "My dad keeps a gun in the closet.",
    "He threatened my family.",
    "Life isn't worth living.",
    "The client denied SI/HI.",
]
ORDINARY = [
    "I went to the end of the road and turned back.",
    "I hit my head on the cupboard.",
    "Work is killing me this week, so many deadlines.",
    "I woke up at six and felt okay.",
    "I wasn't here last week because of the flu.",
    "I want to be here for my kids' graduation.",
    "We talked about the breathing exercise.",
    "My sleep has been better since Tuesday.",
    "hi , martha . how are you ?",
]


def test_phrase_file_compiles() -> None:
    assert len(load_phrases()) > 40


@pytest.mark.parametrize("text", SAID)
def test_risk_language_is_found(text: str) -> None:
    assert is_risk(text)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_speech_is_not_flagged(text: str) -> None:
    assert not is_risk(text)


def test_find_risk_quotes_the_sentence_with_its_time() -> None:
    t = Transcript((Segment(0.0, 10.0, "Work was fine. I took a handful of pills on Friday. Then I slept."),
                    Segment(75.0, 80.0, "We made a plan for the week.")), "en", 80.0, "base")
    ev = find_risk(t)
    assert [(e.text, e.start, e.timed) for e in ev] == [("I took a handful of pills on Friday.", 0.0, True)]
    assert str(ev[0]) == '"I took a handful of pills on Friday." [00:00:00]'
