"""Risk language and medications: recall and false alarms per category on the development set.

    .venv/bin/python bench/bench_risk.py [--show] [--set PATH] [--meds PATH]

Reads ``tests/data/risk/dev_set.tsv`` (category, expected = risk | control, text): recall is the share of
risk statements flagged (any category); the false-alarm rate is the share of controls flagged. "named"
is the share of flagged risk statements whose category is the one the set gives (a statement about
someone else counts when it is named "(about another person)"). Then every medication mention in
``tests/data/risk/medications_dev.tsv`` is drafted as a session under the tightest length budget and
checked in the note. ``--show`` lists every miss and false alarm with the rule that fired.
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

from hushnote.daemon.drafting.risk import classify, rulebook  # noqa: E402

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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", type=Path, default=DEV)
    ap.add_argument("--meds", type=Path, default=MEDS)
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
    if args.show:
        for cat, t in sorted(tallies.items()):
            for m in t.misses:
                print(f"MISS  {cat}: {m}")
            for f in t.false:
                print(f"FALSE {cat}: {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
