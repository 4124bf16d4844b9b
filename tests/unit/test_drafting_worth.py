"""The quote-worth model: the shipped file, its features, and that it only ranks (a placement still needs a reason);
and the note's risk check, which must not empty a section the ranking filled."""

from __future__ import annotations

import json
import math

import pytest
from hushnote.daemon.core.config import defaults
from hushnote.daemon.core.datatypes import NoteSection, NoteSentence, Segment, Transcript
from hushnote.daemon.drafting import extractive, worth
from hushnote.daemon.drafting.engine import finish
from hushnote.daemon.drafting.extractive import quote
from hushnote.daemon.drafting.roles import speakers_of
from hushnote.daemon.drafting.screening.risk import rule_hits
from hushnote.daemon.drafting.template import load_template
from hushnote.daemon.drafting.text import Unit


def test_the_shipped_model_loads_with_this_drafters_features_and_was_trained_on_the_tune_split() -> None:
    m = worth.model()
    assert m.names == worth.FEATURES
    assert all(math.isfinite(v) for v in (*m.weights, *m.mean, *m.scale, m.bias, m.spread, m.min_worth, m.gain))
    assert m.spread > 0 and m.gain >= 0
    assert 0 < m.prior_default < 1 and len(m.priors) > 50 and all(0 < p < 1 for p in m.priors.values())
    meta = json.loads(worth.MODEL_FILE.read_text(encoding="utf-8"))
    assert "tune split only" in meta["trained"]


def test_a_model_for_other_features_is_refused() -> None:
    data = json.loads(worth.MODEL_FILE.read_text(encoding="utf-8"))
    data["features"] = data["features"][:-1]
    with pytest.raises(ValueError, match="not this drafter's"):
        worth.parse(data)
    data = json.loads(worth.MODEL_FILE.read_text(encoding="utf-8"))
    data["weights"] = data["weights"][:3]
    with pytest.raises(ValueError, match="needs"):
        worth.parse(data)


def context(raw: str, **kw: object) -> worth.Context:
    base: dict[str, object] = {"topic": 0.0, "cue": 0.0, "position": 0.5, "role": None,
                               "answers_question": False, "medication": False, "raw": raw}
    base.update(kw)
    return worth.Context(**base)  # type: ignore[arg-type]


def test_features_measure_what_they_say() -> None:
    said = "Um, I think you should take the sertraline 50 mg daily."
    quote = "I think you should take the sertraline 50 mg daily."
    f = dict(zip(worth.FEATURES, worth.features(quote, context(said, role="clinician", medication=True),
                                                  {"sertraline": 0.9, "daily": 0.7}, 0.5), strict=True))
    assert f["personal_share"] == pytest.approx(2 / 10)
    assert f["has_number"] == 1.0 and f["medication"] == 1.0 and f["clinician"] == 1.0 and f["client"] == 0.0
    assert f["dropped_share"] == pytest.approx(1 / 11)
    assert f["negation"] == 0.0
    assert f["word_prior"] == pytest.approx((0.9 + 0.7 + 8 * 0.5) / 10)  # "50" and "mg" are words too
    assert worth.features("I don't sleep.", context("I don't sleep."), {}, 0.5)[worth.FEATURES.index("negation")] == 1.0


def test_worth_raises_the_rank_of_what_a_note_would_say() -> None:
    m = worth.model()
    plain = worth.features("Yeah I mean you know I was just like okay with it.",
                           context("Yeah I mean you know I was just like okay with it."), m.priors, m.prior_default)
    facts = worth.features("The blood pressure medication was increased to 40 mg daily last month.",
                           context("The blood pressure medication was increased to 40 mg daily last month.",
                                   medication=True), m.priors, m.prior_default)
    assert m.weight(m.predict(facts)) > m.weight(m.predict(plain))


def timed(*lines: str) -> Transcript:
    segs = tuple(Segment(10.0 * i, 10.0 * i + 9, text) for i, text in enumerate(lines))
    return Transcript(segs, "en", 10.0 * len(lines), "base", "session.wav", True)


def test_a_sentence_without_a_cue_goes_only_where_a_reason_points() -> None:
    """No cue of its own: it may join its speaker's section (the first, without roles) or the section a cue
    of its turn or the turns just before pointed to; a section nothing was said about stays empty."""
    t = timed("I've been sleeping badly since the move and I feel exhausted most mornings.",
              "We will continue the breathing exercises every evening before bed.",
              "The breathing exercises take ten minutes every evening before bed in the bedroom.",
              "Loud music from the neighbours upstairs is a problem for the breathing exercises in the evening.")
    tpl = load_template("soap")
    assert all(extractive.cue_score(t.segments[3].text, s) == 0 for s in tpl.sections)
    picked = dict(zip(tpl.keys(), extractive.select(t, tpl), strict=True))
    assert not picked["objective"] and not picked["assessment"], "no cue for them was said"
    where = {u.segment: k for k, us in picked.items() for u in us}
    assert where[0] == "subjective" and where[1] == "plan"
    assert where[3] in ("subjective", "plan"), "placed by topic words where a reason points"


def test_a_quotes_line_stamp_is_not_read_as_risk_language() -> None:
    """ "[line 27]" after "I don't appreciate" reads as drug use to the rules; the note's risk check leaves stamps out."""
    said = "Your lungs are clear and on your neck exam I don't appreciate"
    segs = tuple(Segment(float(n), float(n), said if n == 27 else "Okay.", "doctor") for n in range(1, 30))
    t = Transcript(segs, "en", 0.0, "", "visit.txt", False)
    s = quote(Unit(0, 26, 27.0, said, "doctor"), False, speakers_of(t))
    assert s.endswith("[line 27]") and rule_hits(s), "the case this guards against"
    note = finish(t, defaults(), load_template("soap"), [NoteSection("plan", "Plan", [NoteSentence(s)])],
                  engine="extractive")
    plan = next(sec for sec in note.sections if sec.key == "plan")
    assert [x.text for x in plan.sentences] == [s] and not plan.sentences[0].unverified
