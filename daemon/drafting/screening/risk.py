"""Risk language: find every transcript sentence that a clinician should see (suicidal ideation from a
wish to be dead to a plan or past attempt, self-harm, harm to others, being harmed, a child at risk,
command hallucinations, dangerous substance use, eating-disorder behaviours, weapons), name its category,
and quote it with its timestamp under "For clinician review".

Recall first, offline and explainable: the rules are readable data files in ``data/risk/`` (see
``wordrules.py`` for their syntax). Ordinary phrases ("this commute is killing me") are masked first;
negation never hides a match. Each hit says which rule matched, and whether it is said about another
person ("my son said he wants to die"). Beside the rules, when the embedding model package is installed, a
small classifier (``riskmodel.py``) reads every sentence: it catches what the rules' words miss (its hits name
the category and the written risk statement they are most similar to), and a rule hit stands only when the
classifier's score reaches its (low) confirmation threshold, which sets aside look-alikes such as "I wrote a
goodbye card for my colleague". Without the classifier the rules alone decide. Nothing here is ever logged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hushnote.daemon.core.datatypes import Evidence, Transcript
from hushnote.daemon.drafting.roles import speakers_of
from hushnote.daemon.drafting.screening import riskmodel
from hushnote.daemon.drafting.screening.wordrules import (
    Compiler,
    Lemmatiser,
    RuleError,
    Tokens,
    masked,
    match_span,
    read_forms,
    read_lexicon,
    read_lines,
    read_sections,
    tokenise,
)
from hushnote.daemon.drafting.text import units

DATA = Path(__file__).resolve().parent.parent / "data" / "risk"
MEDS_FILE = Path(__file__).resolve().parent.parent / "data" / "medications.txt"

# Suicidal ideation, most severe first: a sentence is named by its most severe match only.
SUICIDE_SCALE = ("past_attempt", "si_preparatory", "si_plan", "si_intent", "si_method", "si_thoughts",
                 "wish_dead")
# The order in which the other categories are named when several match.
OTHERS = ("self_harm", "harm_others", "child_at_risk", "being_harmed", "command_hallucinations", "weapons",
          "substance", "eating_disorder")
# Categories about a situation rather than a person: never "(about another person)".
NO_PERSON = frozenset({"child_at_risk", "weapons"})
ABOUT_OTHER = "about another person"

_FIRST = frozenset({"i", "we"})
_REFL_FIRST = frozenset({"myself", "meself", "ourselves"})
_REFL_THIRD = frozenset({"himself", "herself", "themselves", "themself"})
_THIRD = frozenset({"he", "she", "they", "someone", "somebody"})
_OBJ_THIRD = frozenset({"him", "her", "them"})


@dataclass(frozen=True)
class Rule:
    category: str
    text: str  # the rule as written, for explanations
    line: int
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class RiskHit:
    """One category found in a sentence, and why."""

    category: str  # key, e.g. "self_harm"
    label: str  # e.g. "self-harm"
    about_other: bool  # said about someone other than the speaker
    rule: str  # the rule that matched (rules.txt line N: ...), or "classifier (score 0.87)"
    words: str  # the words it matched; for the classifier, the most similar training statement
    similar: bool = False  # found by the classifier: ``words`` is the training statement it resembles

    @property
    def name(self) -> str:
        if self.similar:
            who = f"{ABOUT_OTHER}; " if self.about_other else ""
            return f'{self.label} ({who}classifier; similar to: "{self.words}")'
        return f"{self.label} ({ABOUT_OTHER})" if self.about_other else self.label


class Rulebook:
    """The compiled risk rules, masks and lemmatiser (built once per process)."""

    def __init__(self, data: Path = DATA, meds: Path = MEDS_FILE) -> None:
        compiler = Compiler(lexicon(data, meds), "risk rules")
        self.labels, raw_rules = read_sections(data / "rules.txt")
        unknown = set(self.labels) - set(SUICIDE_SCALE) - set(OTHERS)
        if unknown:
            raise RuleError(f"rules.txt: unknown categories {sorted(unknown)}")
        broad_labels, raw_broad = read_sections(data / "broad.txt")
        if set(broad_labels) - set(self.labels):
            raise RuleError(f"broad.txt: unknown categories {sorted(set(broad_labels) - set(self.labels))}")
        masks = [line for _, line in read_lines(data / "masks.txt")]
        contexts = [line for _, line in read_lines(data / "broad_masks.txt")]
        vocab = compiler.vocabulary([r for _, _, r in raw_rules + raw_broad] + masks + contexts)
        self.lemma = Lemmatiser(read_forms(data / "forms.txt"), vocab)
        compiler.lemma = self.lemma
        self.masks = [compiler.compile(m) for m in masks]
        self.rules = [Rule(c, t, n, compiler.compile(t)) for c, n, t in raw_rules]
        self.broad = [Rule(c, t, n, compiler.compile(t)) for c, n, t in raw_broad]
        self.contexts = [compiler.compile(m) for m in contexts]

    def tokens(self, text: str) -> Tokens:
        toks = tokenise(text, self.lemma)
        spans = [s for s in (match_span(p, toks) for p in self.masks) if s]
        return masked(toks, spans)

    def hits(self, text: str) -> list[RiskHit]:
        """Every category that ``text`` matches (one hit per category, the first rule in file order).

        The rules of rules.txt first; when none matches, the broad layer (broad.txt), which needs a person
        or a wish in the sentence and no ordinary context (broad_masks.txt)."""
        toks = self.tokens(text)
        found = self._match(self.rules, toks, "rules.txt")
        if not found and has_cue(toks) and not any(match_span(p, toks) for p in self.contexts):
            found = self._match(self.broad, toks, "broad.txt")
        return order(found)

    def _match(self, rules: list[Rule], toks: Tokens, source: str) -> dict[str, RiskHit]:
        found: dict[str, RiskHit] = {}
        for rule in rules:
            if rule.category in found:
                continue
            span = match_span(rule.pattern, toks)
            if span is None:
                continue
            about_other = rule.category not in NO_PERSON and experiencer(toks, span, rule.category) == "other"
            words = " ".join(toks.surface[span[0]:span[1]])
            found[rule.category] = RiskHit(rule.category, self.labels[rule.category], about_other,
                                           f"{source} line {rule.line}: {rule.text}", words)
        return found


_PERSON_WORDS = _FIRST | _REFL_FIRST | _REFL_THIRD | _THIRD | _OBJ_THIRD | frozenset(
    {"me", "my", "mine", "us", "our", "his", "their", "you", "your", "yourself", "everyone", "everybody",
     "nobody", "anyone", "anybody", "people"})
_DESIRE_WORDS = frozenset({"want", "wish", "hope", "pray", "rather", "ready", "relief", "peace", "good", "better",
                           "nice", "tempt", "plan", "decide"})


def has_cue(toks: Tokens) -> bool:
    """A person (I, my, she, you, my son...) or a wish (want, hope, sounds good...) in the sentence: the broad
    layer's cue that the strong word is about someone's own risk."""
    return any(w in _PERSON_WORDS or w in _DESIRE_WORDS or _is_person_noun(toks, i)
               for i, w in enumerate(toks.lemmas))


def order(found: dict[str, RiskHit]) -> list[RiskHit]:
    """The most severe suicidal-ideation category (if any), then the others in their fixed order."""
    out = [found[c] for c in SUICIDE_SCALE if c in found][:1]
    others = [found[c] for c in OTHERS if c in found]
    if "child_at_risk" in found:  # the child is the one at risk: not also "harm ... (about another person)"
        others = [h for h in others if not (h.about_other and h.category in ("harm_others", "being_harmed"))]
    return out + others


def experiencer(toks: Tokens, span: tuple[int, int], category: str) -> str:
    """"self" or "other": whose risk the matched words are about (the speaker's, or someone else's)."""
    a, b = span
    inside = set(toks.lemmas[a:b])
    if inside & _REFL_FIRST:
        return "self"
    if inside & _REFL_THIRD:
        return "other"
    if category == "being_harmed" and (inside & {"me", "i"} or _my_body(toks, a, b)):
        return "self"
    who = _nearest_subject(toks, range(a - 1, -1, -1))
    if who is None:
        who = _nearest_subject(toks, range(a, b))
    return who or "self"


_BODY = frozenset("""face head neck arm arms throat body hair stomach back wrist wrists leg legs chest eye eyes
nose mouth lip lips jaw ribs""".split())


def _my_body(toks: Tokens, a: int, b: int) -> bool:
    """"my face", "my arm": the speaker's own body inside the matched words."""
    return any(toks.lemmas[i] == "my" and i + 1 < len(toks.surface) and toks.surface[i + 1] in _BODY
               for i in range(a, b))


def _nearest_subject(toks: Tokens, positions: range) -> str | None:
    for i in positions:
        w = toks.lemmas[i]
        if w in _FIRST:
            return "self"
        if w in _THIRD or _is_person_noun(toks, i):
            return "other"
        if w in {"me"} | _OBJ_THIRD and i > 0 and toks.lemmas[i - 1] in _TELL:
            return "self" if w == "me" else "other"
    return None


_TELL = frozenset({"tell", "say", "order", "command", "want", "make", "force", "ask", "urge"})
_PERSON_NOUNS = frozenset("""son daughter kid child baby brother sister mom mum mother dad father parent husband wife
partner boyfriend girlfriend fiance fiancee ex friend roommate flatmate coworker colleague boss neighbour neighbor
uncle aunt cousin grandma grandmother grandpa grandfather granny nephew niece stepdad stepfather stepmom stepmother
stepson stepdaughter teenager teen toddler man woman guy girl boy student client patient spouse bf gf""".split())


def _is_person_noun(toks: Tokens, i: int) -> bool:
    w = toks.surface[i]
    return w in _PERSON_NOUNS or (w.endswith("s") and w[:-1] in _PERSON_NOUNS and i > 0
                                  and toks.surface[i - 1] in {"my", "his", "her", "their", "the"})


def lexicon(data: Path = DATA, meds: Path = MEDS_FILE) -> dict[str, list[str]]:
    """The word classes of ``lexicon.txt`` plus MED: every one-word name in the medications list."""
    lex = read_lexicon(data / "lexicon.txt")
    lex["MED"] = [m for _, m in read_lines(meds) if re.fullmatch(r"[a-z0-9]+", m)]
    return lex


@lru_cache(maxsize=1)
def rulebook() -> Rulebook:
    return Rulebook()


def rule_hits(text: str) -> list[RiskHit]:
    """The risk categories the rules find in ``text`` (empty: none), most important first."""
    return list(_rule_hits(text))


@lru_cache(maxsize=8192)
def _rule_hits(text: str) -> tuple[RiskHit, ...]:  # the drafter asks about the same sentence several times
    return tuple(rulebook().hits(text))


def classify(text: str) -> list[RiskHit]:
    """The risk categories in ``text`` (empty: none), most important first. With the classifier installed:
    the rules' hits when the classifier confirms them, else the classifier's own hit when it flags the
    sentence; without it, the rules' hits. Call ``prepare`` first with every sentence to embed them in one
    batch."""
    hits = rule_hits(text)
    prepare([text])
    verdict = _verdicts.get(text.strip())
    if verdict is None:
        return hits
    if hits:
        return hits if verdict.confirms else []
    return [_classifier_hit(text, verdict)] if verdict.flagged else []


_verdicts: dict[str, riskmodel.Verdict | None] = {}
_MAX_VERDICTS = 20000


def prepare(texts: Iterable[str]) -> None:
    """Run the classifier, in one batch, on every sentence it has not seen (embedding is the costly part:
    a 50-minute session's sentences take a few seconds). Without the classifier installed this remembers
    that there is no verdict."""
    todo = list(dict.fromkeys(t for t in (x.strip() for x in texts) if t and t not in _verdicts))
    if not todo:
        return
    verdicts = riskmodel.judge(todo)
    if len(_verdicts) + len(todo) > _MAX_VERDICTS:
        _verdicts.clear()
    for i, text in enumerate(todo):
        _verdicts[text] = verdicts[i] if verdicts else None


def forget() -> None:
    """Drop the classifier's remembered verdicts (they are kept per sentence text for this process)."""
    _verdicts.clear()


def _classifier_hit(text: str, v: riskmodel.Verdict) -> RiskHit:
    about_other = v.category not in NO_PERSON and speaker_of(rulebook().tokens(text)) == "other"
    return RiskHit(v.category, rulebook().labels.get(v.category, v.category), about_other,
                   f"classifier (score {v.score:.2f})", v.example, similar=True)


def speaker_of(toks: Tokens) -> str:
    """"other" when the sentence names another person and the speaker never says I, me or myself ("My mum
    said she'd be better off dead"); else "self": when in doubt, the risk is the speaker's own."""
    if set(toks.lemmas) & (_FIRST | _REFL_FIRST | {"me"}):
        return "self"
    return _nearest_subject(toks, range(len(toks.lemmas))) or "self"


def is_risk(text: str) -> bool:
    """True when ``text`` contains risk language."""
    return bool(classify(text))


def label(hits: list[RiskHit]) -> str:
    """The categories as the review block names them: "self-harm, weapons"."""
    return ", ".join(h.name for h in hits)


MODEL_LABEL = "suggested by the language model"
_MIN_MODEL_WORDS = 4


def find_risk(transcript: Transcript, suggested: Iterable[str] = ()) -> list[Evidence]:
    """Every transcript sentence with risk language, verbatim, with its timestamp and category, in order.

    ``suggested``: sentences a language model picked as risk language. One counts only where it is found
    verbatim in a transcript sentence (at least four words); that sentence is quoted, never the model's text.
    The rules always run: a suggestion can add a quote, never remove one. Each says who said it when the
    speaker's role is known (``roles``)."""
    wanted = [w for w in (_squash(x) for x in suggested) if len(w.split()) >= _MIN_MODEL_WORDS]
    speakers = speakers_of(transcript)
    out: list[Evidence] = []
    sentences = units(transcript)
    prepare(u.text for u in sentences)
    for u in sentences:
        who = speakers.name(u.speaker) if u.speaker and speakers.role(u.speaker) else None  # only a known role
        hits = classify(u.text)
        if hits:
            out.append(Evidence(u.text.strip(), u.start, transcript.timed, label(hits), who))
        elif wanted and _verbatim(_squash(u.text), wanted):
            out.append(Evidence(u.text.strip(), u.start, transcript.timed, MODEL_LABEL, who))
    return out


def _squash(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.replace("’", "'").lower()))


def _verbatim(sentence: str, wanted: list[str]) -> bool:
    if len(sentence.split()) < _MIN_MODEL_WORDS:
        return False
    return any(f" {w} " in f" {sentence} " or f" {sentence} " in f" {w} " for w in wanted)
