"""Risk language: the rule files, the development and check sets (recall and false alarms per category),
the categories named in the review block, speech about someone else, negation, and the llm's candidates."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest
from hushnote.daemon.core.datatypes import Segment, Transcript
from hushnote.daemon.drafting.screening import risk
from hushnote.daemon.drafting.screening.risk import MODEL_LABEL, classify, find_risk, is_risk, label
from hushnote.daemon.drafting.screening.wordrules import Compiler, Lemmatiser, RuleError, read_forms, tokenise

from tests.support.paths import RISK_DATA

DATA = RISK_DATA
RECALL_GOAL, FALSE_ALARM_GOAL = 0.95, 0.15


def rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.mark.parametrize("name", ["dev_set.tsv", "check_set.tsv", "check_set_2.tsv", "check_set_3.tsv", "check_set_4.tsv", "check_set_5.tsv",
                                  "fresh_set_A.tsv", "fresh_set_B.tsv"])
def test_recall_and_false_alarms_meet_the_goals(name: str) -> None:
    found: dict[str, list[bool]] = defaultdict(list)
    alarms: list[str] = []
    controls = 0
    for r in rows(name):
        if r["expected"] == "risk":
            found[r["category"]].append(is_risk(r["text"]))
        else:
            controls += 1
            if is_risk(r["text"]):
                alarms.append(r["text"])
    flags = [x for v in found.values() for x in v]
    assert len(flags) >= (150 if name == "dev_set.tsv" else 45) and controls >= (100 if name == "dev_set.tsv" else 15)
    recall = sum(flags) / len(flags)
    assert recall >= RECALL_GOAL, [(c, v.count(False)) for c, v in found.items() if not all(v)]
    assert len(alarms) / controls <= FALSE_ALARM_GOAL, alarms
    for cat, v in found.items():  # no category may be a blind spot (where a set has enough of it to tell)
        assert len(v) < 5 or sum(v) / len(v) >= 0.8, (cat, v)


def rates(name: str) -> tuple[float, float]:
    """(recall, false-alarm rate) of the detector on one set."""
    risky = [is_risk(r["text"]) for r in rows(name) if r["expected"] == "risk"]
    alarms = [is_risk(r["text"]) for r in rows(name) if r["expected"] == "control"]
    return sum(risky) / len(risky), sum(alarms) / len(alarms)


def test_the_held_out_set_c_stays_at_least_at_its_first_run() -> None:
    # fresh_set_C was run once, untouched, as the honest estimate for unseen phrasing (0.74 recall (68 of 92), 0.19
    # false alarms: see docs/BENCHMARKS.md). It is kept out of rule tuning; this floor only catches a
    # regression, it is not the goal.
    recall, false_alarms = rates("fresh_set_C.tsv")
    assert recall >= 0.73
    assert false_alarms <= 0.20


@pytest.mark.parametrize(("text", "category"), [
    ("i won't be a problem for much longer", "wish_dead"),
    ("I think about my funeral a lot", "wish_dead"),
    ("dad locks my sister in the closet for hours", "child_at_risk"),
    ("i make myself bleed so i can feel something", "self_harm"),
])
def test_the_broad_layer_names_its_category_and_rule(text: str, category: str) -> None:
    hits = classify(text)
    assert [h.category for h in hits][:1] == [category]
    assert hits[0].rule.startswith("broad.txt line ")


@pytest.mark.parametrize("text", [
    "the hero dies at the end of the film, I cried",
    "My grandpa died peacefully in his sleep.",
    "My son fell off his bike and has a bruise on his knee.",
    "I overdosed on coffee this morning",
    "How many Tylenol can I take for a headache?",
])
def test_ordinary_contexts_keep_strong_words_out(text: str) -> None:
    assert classify(text) == []


def test_every_category_the_issue_names_is_in_the_development_set() -> None:
    cats = {r["category"] for r in rows("dev_set.tsv") if r["expected"] == "risk"}
    assert cats == {"wish_dead", "si_thoughts", "si_method", "si_intent", "si_plan", "si_preparatory",
                    "past_attempt", "self_harm", "harm_others", "being_harmed", "child_at_risk",
                    "command_hallucinations", "substance", "eating_disorder", "weapons", "third_person"}


# The statements the issue reports as missed, each with the category the review block must name.
MISSED_BEFORE = [
    ("I've been cutting again, mostly on my arms", "self-harm"),
    ("I've thought about taking all my pills at once", "suicide method"),
    ("Some nights I hope I just don't wake up", "wish to be dead"),
    ("I bought a rope a few weeks ago", "preparing for suicide"),
    ("I drove to the bridge and sat there thinking about jumping", "suicide method"),
    ("My mom hits my little brother with a belt", "child at risk"),
    ("My son said he wants to die", "wish to be dead (about another person)"),
    ("I swallowed a whole bottle of Tylenol", "past suicide attempt"),
]


@pytest.mark.parametrize(("text", "name"), MISSED_BEFORE)
def test_the_statements_the_issue_reports_are_found_and_named(text: str, name: str) -> None:
    assert label(classify(text)).split(", ")[0] == name


@pytest.mark.parametrize(("text", "name"), [
    ("I'm not going to do anything, but I think about it, about ending it.", "suicidal thoughts"),
    ("I wouldn't actually do it, but I think about how I would kill myself.", "suicidal"),
    ("I don't want to hurt myself, but I keep doing it.", "self-harm"),
    ("um, I've, you know, been having those dark thoughts again, the ones about ending my life", "suicidal thoughts"),
    ("I tried to hang myself when I was fourteen.", "past suicide attempt"),
])
def test_negation_fillers_and_past_tense_do_not_hide_it(text: str, name: str) -> None:
    assert name in label(classify(text))


def test_said_about_someone_else_is_named_so() -> None:
    assert label(classify("My daughter has been cutting herself.")) == "self-harm (about another person)"
    assert label(classify("I've been cutting myself.")) == "self-harm"
    assert label(classify("My best friend told me she's going to kill herself.")).endswith("(about another person)")
    assert label(classify("He hits me when he's drunk.")) == "being harmed"


def test_each_hit_says_which_rule_matched() -> None:
    (hit,) = classify("I bought a rope a few weeks ago.")
    lines = (Path(risk.DATA) / "rules.txt").read_text(encoding="utf-8").splitlines()
    n = int(hit.rule.split("line ")[1].split(":")[0])
    assert hit.rule.endswith(lines[n - 1].strip()) and "rope" in hit.words


@pytest.mark.parametrize("text", ["This commute is killing me.", "I'm dying to see it.", "My phone died.",
                                  "I cut my hair.", "I took my pills this morning.", "My grandmother passed away.",
                                  "hi , martha . how are you ?", "We hit traffic on the way here."])
def test_ordinary_speech_is_not_flagged(text: str) -> None:
    assert classify(text) == []


def test_find_risk_quotes_the_sentence_with_its_time_and_category() -> None:
    t = Transcript((Segment(0.0, 10.0, "Work was fine. I took a handful of pills on Friday. Then I slept."),
                    Segment(75.0, 80.0, "We made a plan for the week.")), "en", 80.0, "base")
    (ev,) = find_risk(t)
    assert (ev.text, ev.start, ev.timed) == ("I took a handful of pills on Friday.", 0.0, True)
    assert str(ev) == '"I took a handful of pills on Friday." [00:00:00] — past suicide attempt'


def test_llm_candidates_count_only_when_verbatim_and_never_switch_the_rules_off() -> None:
    t = Transcript((Segment(0.0, 5.0, "I feel like a ghost in my own house lately."),
                    Segment(5.0, 9.0, "I've been cutting again."),
                    Segment(9.0, 12.0, "The garden looks nice.")), "en", 12.0, "base")
    assert [e.text for e in find_risk(t)] == ["I've been cutting again."]
    got = find_risk(t, ["i feel like a ghost in my own house", "The client reported wanting to disappear.",
                        "garden"])
    assert [(e.text, e.category) for e in got] == [
        ("I feel like a ghost in my own house lately.", MODEL_LABEL), ("I've been cutting again.", "self-harm")]


def test_rule_syntax() -> None:
    lemma = Lemmatiser(read_forms(risk.DATA / "forms.txt"), {"hurt", "hurting", "care", "car", "thing", "the",
                                                              "think", "thought", "pill"})
    assert [lemma(w) for w in ("hurting", "hurts", "thought", "thoughts", "cared", "thing", "pills")] == \
        ["hurt", "hurt", "think", "think", "care", "thing", "pill"]
    c = Compiler({"PILL": ["pill", "tablet"], "ONE": ["one time"]}, "test")
    c.lemma = lemma

    def m(rule: str, text: str) -> bool:
        return bool(c.compile(rule).search(tokenise(text, lemma).text))

    assert m("hurt ..2 someone", "I'm hurting, um, this someone")  # fillers dropped, gap of two
    assert not m("hurt ..1 someone", "I hurt a lot of someone")
    assert m("take ..3 @PILL|them $", "I took the pills.") and not m("take ..3 @PILL|them $", "I took the pills today.")
    assert m("end ..0 it !with", "I want to end it.") and not m("end ..0 it !with", "I'll end it with him.")
    assert m("be here|be around", "if I was around") and not m("be here|be around", "if I was not around") and m("at ?once @ONE", "at one time")
    assert m("=overdosed", "She overdosed.") and not m("=overdosed", "an overdose")
    with pytest.raises(RuleError, match="unknown class @NOPE"):
        c.compile("@NOPE ..2 pill")


def test_broken_rule_file_names_file_and_line(tmp_path: Path) -> None:
    for f in ("lexicon.txt", "forms.txt", "masks.txt"):
        (tmp_path / f).write_text((risk.DATA / f).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "rules.txt").write_text("[self_harm] self-harm\ncut ..2 my @BODY\n[nonsense] x\nfoo\n",
                                        encoding="utf-8")
    with pytest.raises(RuleError, match="unknown categories"):
        risk.Rulebook(tmp_path)
    (tmp_path / "rules.txt").write_text("cut ..2 my @BODY\n", encoding="utf-8")
    with pytest.raises(RuleError, match="rules.txt line 1"):
        risk.Rulebook(tmp_path)


@pytest.mark.parametrize(("text", "who"), [
    ("My husband keeps talking about topping himself.", "other"),
    ("My mum said she'd be better off dead.", "other"),
    ("My wife doesn't know, but I've been wishing for death for months.", "self"),
    ("I told my mum I'm tired of living.", "self"),
    ("Just done with all of it.", "self"),
])
def test_whose_risk_a_classifier_hit_is_about(text: str, who: str) -> None:
    # when in doubt the speaker's own: "about another person" is said only when no I / me / myself is said
    assert risk.speaker_of(risk.rulebook().tokens(text)) == who
