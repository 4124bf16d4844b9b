"""Risk language and medications: recall and false alarms per category on the development set.

    .venv/bin/python bench/bench_risk.py [--show] [--set PATH] [--meds PATH] [--aci CSV]

Reads ``tests/data/risk/dev_set.tsv`` (category, expected = risk | control, text): recall is the share of
risk statements flagged (any category); the false-alarm rate is the share of controls flagged. "named"
is the share of flagged risk statements whose category is the one the set gives (a statement about
someone else counts when it is named "(about another person)"). Then every medication mention in
``tests/data/risk/medications_dev.tsv`` is drafted as a session under the tightest length budget and
checked in the note. ``--aci`` runs the detector over real clinical dialogues (ACI-BENCH, medical visits
without risk talk) and counts the sentences it would quote: a false-alarm rate on ordinary clinical speech.
``--show`` lists every miss and false alarm with the rule that fired.
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hushnote.daemon.core.config import defaults  # noqa: E402
from hushnote.daemon.core.datatypes import Segment, Transcript  # noqa: E402
from hushnote.daemon.drafting import extractive, mustkeep  # noqa: E402
from hushnote.daemon.drafting.engine import finish  # noqa: E402
from hushnote.daemon.drafting.screening.risk import classify, label, rulebook  # noqa: E402
from hushnote.daemon.drafting.template import load_template, parse_template  # noqa: E402
from hushnote.daemon.drafting.text import clean_quote, sentence_spans  # noqa: E402

DEV = REPO / "tests" / "data" / "risk" / "dev_set.tsv"
MEDS = REPO / "tests" / "data" / "risk" / "medications_dev.tsv"


@dataclass
class Tally:
    risk: int = 0
    found: int = 0
    named: int = 0
    controls: int = 0
    alarms: int = 0
    misses: list[str] = field(default_factory=list)
    false: list[str] = field(default_factory=list)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def named_right(category: str, keys: list[str], about_other: list[bool]) -> bool:
    if category == "third_person":
        return any(about_other)
    return category in keys


def score(path: Path) -> dict[str, Tally]:
    out: dict[str, Tally] = defaultdict(Tally)
    for r in rows(path):
        hits = classify(r["text"])
        t = out[r["category"]]
        if r["expected"] == "risk":
            t.risk += 1
            if hits:
                t.found += 1
                t.named += named_right(r["category"], [h.category for h in hits], [h.about_other for h in hits])
            else:
                t.misses.append(r["text"])
        else:
            t.controls += 1
            if hits:
                t.alarms += 1
                t.false.append(f"{r['text']}  <- {hits[0].name}: {hits[0].rule} [{hits[0].words}]")
    return out


def pct(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "–"


def table(tallies: dict[str, Tally]) -> list[str]:
    lines = ["| category | risk statements | recall | named right | controls | false alarms |",
             "|---|---:|---:|---:|---:|---:|"]
    total = Tally()
    for cat in sorted(tallies):
        t = tallies[cat]
        lines.append(f"| {cat} | {t.risk} | {pct(t.found, t.risk)} | {pct(t.named, t.found)} | {t.controls} | "
                     f"{pct(t.alarms, t.controls)} |")
        total.risk += t.risk
        total.found += t.found
        total.named += t.named
        total.controls += t.controls
        total.alarms += t.alarms
    lines.append(f"| **all** | {total.risk} | **{pct(total.found, total.risk)}** | {pct(total.named, total.found)} | "
                 f"{total.controls} | **{pct(total.alarms, total.controls)}** |")
    return lines


FILLER = ["I've been sleeping badly and I feel tired and anxious at work every day.",
          "Work has been stressful because my manager keeps adding projects to my list.",
          "It sounds like the stress at work is affecting your sleep and your mood.",
          "We talked about the breathing exercise and how it helped you last time."]


def medications(path: Path) -> tuple[int, int]:
    """(mentions in the note, mentions said): every mention in one session, SOAP at the tightest budget
    a template allows (one sentence and ten words per section). A mention is in the note when its sentence
    is quoted in a section, or when the sentence went to the review block and a section quotes the
    medication names it says (see ``mustkeep``)."""
    said = [r["text"] for r in rows(path)]
    segs = []
    for i, text in enumerate(said):
        segs += [Segment(float(2 * i + 1), 0.0, text, None), Segment(float(2 * i + 2), 0.0, FILLER[i % 4], None)]
    t = Transcript(tuple(segs), "en", 0.0, "text", "bench", False)
    soap = load_template("soap")
    tight = parse_template("soap", {"name": "SOAP", "sections": [
        {"key": x.key, "title": x.title, "guidance": x.guidance, "max_sentences": 1, "max_words": 10,
         "cues": dict(x.cues), "keeps": list(x.keeps)} for x in soap.sections]}, "bench", "bench")
    note = finish(t, defaults(), tight, extractive.draft_sections(t, tight), engine="extractive")
    body = "\n".join(x.text for sec in note.sections for x in sec.sentences)
    reviewed = {e.text.strip() for e in note.risk}
    names = mustkeep.keep_rules().medications

    def in_note(m: str) -> bool:
        if clean_quote(m) in body:
            return True
        return m.strip() in reviewed and all(n in body.lower() for n in names(m))

    return sum(1 for m in said if in_note(m)), len(said)


def aci(path: Path) -> tuple[int, int, list[str]]:
    """(sentences flagged, sentences, the flagged ones) over every dialogue line of the CSV."""
    with path.open(encoding="utf-8", newline="") as f:
        dialogues = [r["dialogue"] for r in csv.DictReader(f)]
    n, flagged = 0, []
    for d in dialogues:
        for line in d.splitlines():
            text = line.split("] ", 1)[-1]
            for a, b in sentence_spans(text):
                n += 1
                hits = classify(text[a:b])
                if hits:
                    flagged.append(f"{label(hits)}: {text[a:b][:120]}")
    return len(flagged), n, flagged


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", type=Path, default=DEV)
    ap.add_argument("--meds", type=Path, default=MEDS)
    ap.add_argument("--aci", type=Path, help="ACI-BENCH dialogues CSV (e.g. tests/data/eval/dialogues/aci_bench_train.csv)")
    ap.add_argument("--show", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rulebook()
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    tallies = score(args.set)
    n = sum(t.risk + t.controls for t in tallies.values())
    per = (time.perf_counter() - t0) / max(1, n)
    print(f"machine: {platform.machine()}, {platform.processor() or platform.system()}, python {platform.python_version()}")
    print(f"rules: {len(rulebook().rules)}, loaded in {load:.2f} s; {per * 1000:.2f} ms per sentence\n")
    print("\n".join(table(tallies)))
    kept, said = medications(args.meds)
    print(f"\nmedication mentions in the note (SOAP, 1 sentence / 10 words per section): {kept} of {said}")
    if args.aci:
        k, n, flagged = aci(args.aci)
        print(f"clinical dialogues ({args.aci.name}): {k} of {n} sentences quoted for review ({k / n:.2%})")
        if args.show:
            print("\n".join(f"  ACI {x}" for x in flagged))
    if args.show:
        for cat, t in sorted(tallies.items()):
            for m in t.misses:
                print(f"MISS  {cat}: {m}")
            for f in t.false:
                print(f"FALSE {cat}: {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
