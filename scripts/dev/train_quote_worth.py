"""Fit the extractive drafter's quote-worth model (daemon/drafting/data/quote_worth.json) on the TUNE split only.

    .venv/bin/python scripts/dev/train_quote_worth.py [--folds 5] [--no-write]

Data: the ACI-BENCH training dialogues with their clinicians' notes (tests/data/eval/dialogues/
aci_bench_train.csv, CC BY 4.0), the tune split of bench/bench_note_quality.py only (dialogues whose index
is not 2 mod 3; the held-out third is never used here). Each dialogue is used twice, as the labelled text
and as an audio transcript would have it (timestamps, no speakers).

Rows: every sentence the drafter may quote (``extractive.quotable_units``), its features
(``worth.FEATURES``) and its target, the share of the quote's ROUGE tokens that occur in the reference note.
One feature is learnt from the same data: ``word_prior``, the mean over a quote's words of how often a
word, when said, was also used by that session's note (a table of the words said in at least
``PRIOR_MIN_SESSIONS`` transcripts, smoothed; other words get the overall share). Within cross-validation
the table is built from the training folds only.
Model: ridge regression on standardised features (closed form, ``RIDGE``), deterministic.

The drafter's three constants that go with the model (``min_worth``: the worth a sentence without a section
cue needs to be placed in its speaker's section or near a cue; ``gain``: how strongly worth scales a
sentence's rank; ``nearby_turns``: how far back a turn's cue may place a sentence without one) are chosen
by ``--folds``-fold cross-validation over the tune dialogues (fold = position in the tune list mod folds):
each fold's notes are drafted with a model fitted on the other folds, rendered and scored exactly as the
bench does, and the grid point with the best mean ROUGE-1 over both transcript kinds wins. The final model
is then fitted on the whole tune split and written with its cross-validated scores.
The risk classifier's verdicts are cached in .cache/ under a hash of the screening code and data.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import itertools
import pickle  # noqa: S403
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import bench_note_quality as bench  # noqa: E402
from hushnote.daemon.core.config import defaults  # noqa: E402
from hushnote.daemon.core.datatypes import Transcript  # noqa: E402
from hushnote.daemon.drafting import engine, extractive, worth  # noqa: E402
from hushnote.daemon.drafting.roles import speakers_of  # noqa: E402
from hushnote.daemon.drafting.screening import risk  # noqa: E402
from hushnote.daemon.drafting.template import Template, load_template  # noqa: E402
from hushnote.daemon.drafting.text import units  # noqa: E402

RIDGE = 10.0
PRIOR_MIN_SESSIONS = 10  # a word needs this many tune sessions (of 90 transcripts) to get its own prior
PRIOR_SMOOTH = 20.0
MIN_WORTH = (-99.0, -1.0, 0.0)  # in spreads above the mean worth (-99: any sentence near a cue or in its speaker's section)
GAIN = (1.0, 2.0, 4.0, 8.0)
NEARBY = (0, 1, 2)
SCREENING = (REPO / "daemon" / "drafting" / "screening", REPO / "daemon" / "drafting" / "data" / "risk")
Arr = npt.NDArray[np.float64]


@dataclass
class Rows:
    """The quotable sentences of one transcript: features (the word prior left to fill per fold), quote
    words, and target."""

    x: list[list[float]]
    words: list[list[str]]
    y: list[float]
    ref: set[str]


def rows_of(t: Transcript, tpl: Template, reference: str) -> Rows:
    """Features and target of every quotable sentence of ``t``."""
    all_units = units(t)
    ctx = (all_units, extractive.topic_counts(all_units), speakers_of(t))
    ref = set(bench.rouge_tokens(reference))
    out = Rows([], [], [], ref)
    zeros = (0.0,) * len(worth.FEATURES)
    blank = worth.WorthModel(worth.FEATURES, zeros, zeros, zeros, 0.0, 1.0, 0.0, 0.0, 0, {}, 0.0)  # word prior filled per fold
    for u, text in extractive.quotable_units(all_units, True):
        toks = worth.word_tokens(text)
        if not toks:
            continue
        best = max((extractive.cue_score(u.text, s) for s in tpl.sections), default=0.0)
        out.x.append(extractive.sentence_features(u, text, ctx, best, blank))
        out.words.append(toks)
        out.y.append(sum(1 for w in toks if w in ref) / len(toks))
    return out


def priors_of(data: list[Rows]) -> tuple[dict[str, float], float]:
    """Each word said in at least ``PRIOR_MIN_SESSIONS`` sessions: the share of its mentions whose session's
    note used it (smoothed towards the overall share by ``PRIOR_SMOOTH`` mentions); and the overall share."""
    said: Counter[str] = Counter()
    used: Counter[str] = Counter()
    sessions: Counter[str] = Counter()
    for r in data:
        for words in r.words:
            said.update(words)
            used.update(w for w in words if w in r.ref)
        sessions.update({w for words in r.words for w in words})
    base = sum(used.values()) / max(1, sum(said.values()))
    table = {w: round((used[w] + PRIOR_SMOOTH * base) / (said[w] + PRIOR_SMOOTH), 4)
             for w in said if sessions[w] >= PRIOR_MIN_SESSIONS}
    return table, round(base, 4)


def fit(data: list[Rows], min_worth: float, gain: float, nearby: int) -> worth.WorthModel:
    """Ridge regression; ``min_worth`` is given in spreads (standard deviations of the fitted worth) above
    the mean and stored as a worth."""
    priors, base = priors_of(data)
    x = np.array([[*f[:-1], worth.word_prior(" ".join(ws), priors, base)]
                  for r in data for f, ws in zip(r.x, r.words, strict=True)], dtype=np.float64)
    y = np.array([v for r in data for v in r.y], dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    w = np.linalg.solve(z.T @ z + RIDGE * np.eye(z.shape[1]), z.T @ (y - y.mean()))
    spread = float((z @ w).std())
    return worth.WorthModel(worth.FEATURES, tuple(map(float, mean)), tuple(map(float, scale)),
                            tuple(map(float, w)), float(y.mean()), spread, float(y.mean()) + min_worth * spread, gain,
                            nearby, priors, base)


def score(t: Transcript, tpl: Template, reference: str, model: worth.WorthModel) -> tuple[float, int, int]:
    """ROUGE-1, words and words not said of the note drafted with ``model``, as the bench scores it."""
    cfg = defaults()
    sections = extractive.draft_sections(t, tpl, True, model)
    note = engine.finish(t, cfg, tpl, sections, engine="extractive")
    text = bench.record_text(note, t)
    return bench.rouge1(text, reference), len(text.split()), bench.unsaid_words(note, t)


def verdicts_file() -> Path:
    """Where this script keeps the risk classifier's verdicts, named by a hash of the screening code and
    data (a changed detector never reuses old verdicts)."""
    h = hashlib.sha256()
    for p in sorted(f for d in SCREENING for f in d.rglob("*") if f.is_file() and "__pycache__" not in f.parts):
        h.update(p.relative_to(REPO).as_posix().encode())
        h.update(p.read_bytes())
    return REPO / ".cache" / f"quote_worth_risk_verdicts-{h.hexdigest()[:16]}.pkl"


def load_verdicts() -> None:
    """The risk classifier's verdicts of an earlier run (embedding every sentence takes minutes): a dev-only
    cache of this script's own output, in .cache/ (not in git)."""
    if (f := verdicts_file()).exists():
        risk._verdicts.update(pickle.loads(f.read_bytes()))  # noqa: S301


def save_verdicts() -> None:
    f = verdicts_file()
    f.parent.mkdir(exist_ok=True)
    f.write_bytes(pickle.dumps(dict(risk._verdicts)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--grid", default="", help="min_worth:cue_bonus,... instead of the full grid (a quicker look)")
    args = ap.parse_args()
    with bench.CSV.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    tune = bench.split("tune", len(rows))
    tpl = load_template("soap")
    t0 = time.monotonic()
    load_verdicts()
    with tempfile.TemporaryDirectory() as tmp:
        ts = {(i, a): bench.dialogue(rows, i, a, Path(tmp)) for i in tune for a in (False, True)}
    data = {k: rows_of(t, tpl, rows[k[0]]["note"]) for k, t in ts.items()}
    save_verdicts()
    fold = {i: k % args.folds for k, i in enumerate(tune)}

    results: dict[tuple[float, float, int], dict[bool, list[float]]] = {}
    grid = ([(float(a), float(b), int(c)) for a, b, c in (p.split(":") for p in args.grid.split(","))] if args.grid
            else list(itertools.product(MIN_WORTH, GAIN, NEARBY)))
    print(f"{sum(len(v.y) for v in data.values())} sentences; features ready after {time.monotonic() - t0:.0f} s", flush=True)
    for mw, cb, nt in grid:
        per: dict[bool, list[float]] = {False: [], True: []}
        for f in range(args.folds):
            m = fit([data[k] for k in ts if fold[k[0]] != f], mw, cb, nt)
            for k in (k for k in ts if fold[k[0]] == f):
                per[k[1]].append(score(ts[k], tpl, rows[k[0]]["note"], m)[0])
        results[(mw, cb, nt)] = per
        print(f"min_worth mean{mw:+5.1f} spread, gain {cb:4.2f}, nearby turns {nt}: CV ROUGE-1 text {100 * statistics.mean(per[False]):.1f} "
              f"audio-like {100 * statistics.mean(per[True]):.1f} ({time.monotonic() - t0:.0f} s)", flush=True)
    best = max(results, key=lambda p: (statistics.mean(results[p][False] + results[p][True]), -p[0], -p[1], -p[2]))
    print(f"chosen: min_worth mean{best[0]:+.1f} spread, gain {best[1]}, nearby turns {best[2]}")
    final = fit(list(data.values()), *best)
    full = {a: [score(ts[k], tpl, rows[k[0]]["note"], final) for k in ts if k[1] == a] for a in (False, True)}
    for a, got in full.items():
        print(f"final on tune, {'audio-like' if a else 'text'}: ROUGE-1 {100 * statistics.mean(g[0] for g in got):.1f}, "
              f"median words {statistics.median(g[1] for g in got):.0f}, words not said {sum(g[2] for g in got)}")
    print("weights (standardised):", {n: round(w, 4) for n, w in zip(final.names, final.weights, strict=True)})
    meta: dict[str, object] = {
        "trained": f"{dt.datetime.now(dt.UTC):%Y-%m-%d}, scripts/dev/train_quote_worth.py, tune split only "
                   f"({len(tune)} ACI-BENCH dialogues x 2 transcript kinds, {sum(len(r.y) for r in data.values())} sentences), ridge {RIDGE}",
        "cv_rouge1": {"text": round(100 * statistics.mean(results[best][False]), 2),
                      "audio_like": round(100 * statistics.mean(results[best][True]), 2), "folds": args.folds},
        "target": "share of the quote's ROUGE tokens in the reference note",
    }
    if not args.no_write:
        worth.MODEL_FILE.write_text(final.to_json(meta), encoding="utf-8")
        print(f"wrote {worth.MODEL_FILE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
