"""ROUGE-1 and length of the extractive drafter's notes against clinicians' reference notes (ACI-BENCH).

67 ACI-BENCH training dialogues (tests/data/eval/dialogues/aci_bench_train.csv), split once and for all:
every third dialogue (rows 2, 5, 8, …: 22 dialogues) is held out; the other 45 are for tuning. Each
dialogue is drafted twice: as the labelled text dialogue (``hushnote draft`` of a ``[doctor]`` /
``[patient]`` file) and as an audio transcript would have it (timestamps, no speaker labels).

What is scored is what goes into the record: the note rendered, parsed back and copied as plain text
without timestamps (``hushnote copy --plain``), section titles included. ROUGE-1 F1 is computed here
(lower-case, runs of [a-z0-9] as tokens, no stemming: ``rouge-score``'s default tokeniser), and
"words not said" counts quote words that are not in order in the line the quote's stamp names.

    python bench/bench_note_quality.py [--split heldout|tune|all] [--template soap] [--verbatim]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import re
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hushnote.daemon.core.config import defaults  # noqa: E402
from hushnote.daemon.core.datatypes import Note, Transcript, stamp  # noqa: E402
from hushnote.daemon.drafting.engine import draft  # noqa: E402
from hushnote.daemon.drafting.text import is_subsequence  # noqa: E402
from hushnote.daemon.notes import document, export  # noqa: E402
from hushnote.daemon.notes.notefile import read_transcript, render_note  # noqa: E402

from tests.support.aci import as_audio  # noqa: E402

EVAL = Path(os.environ.get("HUSHNOTE_EVAL_DIR", REPO / "tests" / "data" / "eval"))
CSV = EVAL / "dialogues" / "aci_bench_train.csv"
QUOTE_RE = re.compile(r'^(?:[A-Z][a-z]+(?: stated)?|Stated in session): "(?P<q>.*)" (?P<stamp>\[[^\]]+\])$')


def split(name: str, n: int) -> list[int]:
    held = [i for i in range(n) if i % 3 == 2]
    return held if name == "heldout" else [i for i in range(n) if i % 3 != 2] if name == "tune" else list(range(n))


def rouge_tokens(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def rouge1(candidate: str, reference: str) -> float:
    """ROUGE-1 F1 (0..1)."""
    c, r = Counter(rouge_tokens(candidate)), Counter(rouge_tokens(reference))
    overlap = sum((c & r).values())
    if not overlap:
        return 0.0
    p, q = overlap / sum(c.values()), overlap / sum(r.values())
    return 2 * p * q / (p + q)


def unsaid_words(note: Note, t: Transcript) -> int:
    """Quote words that are not a subsequence of the words of the line(s) the quote's stamp names."""
    bad = 0
    for sec in note.sections:
        for s in sec.sentences:
            m = QUOTE_RE.match(s.text)
            if not m:
                bad += len(s.text.split())
                continue
            lines = [g.text for g in t.segments if stamp(g.start, t.timed) == m.group("stamp")]
            if not any(is_subsequence(m.group("q"), line) for line in lines):
                bad += len(m.group("q").split())
    return bad


def record_text(note: Note, t: Transcript) -> str:
    """What is scored: the note as it goes into the record, copied as plain text without timestamps."""
    return export.plain_text(document.parse(render_note(note, t)), stamps=False)


def dialogue(rows: list[dict[str, str]], i: int, audio: bool, tmp: Path) -> Transcript:
    """Dialogue ``i`` as ``hushnote draft`` reads it, or as an audio transcript would have it."""
    path = tmp / f"dialogue-{i}.txt"
    path.write_text(rows[i]["dialogue"] + "\n", encoding="utf-8")
    t = read_transcript(path)
    return as_audio(t) if audio else t


def run(rows: list[dict[str, str]], idx: list[int], audio: bool, template: str, quotes: str,
        tmp: Path) -> tuple[list[float], list[int], int, int]:
    cfg = defaults().with_overrides(drafting__quotes=quotes)
    scores: list[float] = []
    lengths: list[int] = []
    unsaid = empty = 0
    for i in idx:
        t = dialogue(rows, i, audio, tmp)
        note = draft(t, cfg, template=template, engine="extractive")
        text = record_text(note, t)
        scores.append(rouge1(text, rows[i]["note"]))
        lengths.append(len(text.split()))
        unsaid += unsaid_words(note, t)
        empty += sum(1 for s in note.sections if not s.sentences)
    return scores, lengths, unsaid, empty


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=["heldout", "tune", "all"], default="heldout")
    ap.add_argument("--template", default="soap")
    ap.add_argument("--verbatim", action="store_true", help='drafting.quotes = "verbatim"')
    args = ap.parse_args()
    with CSV.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    idx = split(args.split, len(rows))
    ref_len = statistics.median(len(rows[i]["note"].split()) for i in idx)
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d} {platform.machine()} {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}; split {args.split} ({len(idx)} dialogues); template {args.template}; "
          f"quotes {'verbatim' if args.verbatim else 'clean'}; reference notes: median {ref_len:.0f} words")
    print(f"{'transcript':<28} {'ROUGE-1 mean':>12} {'median':>7} {'median words':>12} {'words not said':>15} "
          f"{'empty sections':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for audio in (False, True):
            s, n, unsaid, empty = run(rows, idx, audio, args.template, "verbatim" if args.verbatim else "clean",
                                      Path(tmp))
            name = "audio-like (timed, unlabelled)" if audio else "text (speaker labels)"
            print(f"{name:<28} {100 * statistics.mean(s):>12.1f} {100 * statistics.median(s):>7.1f} "
                  f"{statistics.median(n):>12.0f} {unsaid:>15} {empty:>15}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
