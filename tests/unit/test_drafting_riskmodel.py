"""The pure-numpy pieces of the risk classifier: reading a safetensors file, erf/GELU, the logistic score
and neighbour scores, the nearest training statement that explains a verdict, and the shipped classifier file itself."""

from __future__ import annotations

import json
import math
import struct
import zlib

import numpy as np
import pytest
from hushnote.daemon.drafting.screening import riskmodel, wordscore
from hushnote.daemon.drafting.screening.embed import erf, gelu
from hushnote.daemon.drafting.screening.risk import OTHERS, SUICIDE_SCALE
from hushnote.daemon.drafting.screening.tensorfile import TensorFileError, read_tensors


def safetensors(tensors: dict[str, np.ndarray], pad_header: int = 0) -> bytes:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    body = b""
    for name, arr in tensors.items():
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        dtype = {"float32": "F32", "int64": "I64", "float16": "F16"}[arr.dtype.name]
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [len(body), len(body) + len(raw)]}
        body += raw
    head = json.dumps(header).encode() + b" " * pad_header
    return struct.pack("<Q", len(head)) + head + body


def test_safetensors_round_trip() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    b = np.array([[1, -2]], dtype=np.int64)
    got = read_tensors(safetensors({"a": a, "b": b}, pad_header=5))
    assert set(got) == {"a", "b"}
    np.testing.assert_array_equal(got["a"], a)
    np.testing.assert_array_equal(got["b"], b)
    assert set(read_tensors(safetensors({"a": a, "b": b}), names={"b"})) == {"b"}


@pytest.mark.parametrize("damage", ["short", "header_too_long", "not_json", "range"])
def test_damaged_safetensors_give_a_clear_error(damage: str) -> None:
    good = safetensors({"a": np.ones((2, 2), dtype=np.float32)})
    bad = {"short": good[:5],
           "header_too_long": struct.pack("<Q", 10**6) + good[8:],
           "not_json": struct.pack("<Q", 3) + b"{{{" + good[8:],
           "range": good[:-4]}[damage]
    with pytest.raises(TensorFileError, match="safetensors"):
        read_tensors(bad)


def test_erf_and_gelu_match_the_exact_functions() -> None:
    xs = np.linspace(-6, 6, 241, dtype=np.float32)
    exact = np.array([math.erf(float(x)) for x in xs])
    assert np.max(np.abs(erf(xs) - exact)) < 1e-6
    exact_gelu = np.array([float(x) * 0.5 * (1 + math.erf(float(x) / math.sqrt(2))) for x in xs])
    assert np.max(np.abs(gelu(xs) - exact_gelu)) < 1e-5


def unit(v: list[float]) -> np.ndarray:
    a = np.array(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def test_scores_and_the_nearest_statement_explain_a_verdict() -> None:
    risk = np.stack([unit([1, 0.2, 0]), unit([1, -0.2, 0.1]), unit([1, -0.3, 0.12])])
    clf = riskmodel.Classifier(weights=np.array([4.0, 0.0, 0.0], dtype=np.float32), bias=-1.0, risk=risk,
                               risk_text=("I want to die.", "I cut my arm.", "My son cuts his arm."),
                               risk_category=("wish_dead", "self_harm", "third_person"),
                               ordinary=np.stack([unit([0, 1, 0]), unit([0, 0, 1])]), k=1, sharpness=20.0,
                               threshold=0.7, confirm=0.4, provenance={}, words=words_table({"cutting": 2.0}),
                               word_scale=1.0)
    emb = np.stack([unit([1, -0.3, 0.1]), unit([0, 1, 0.05])])
    texts = ["I keep cutting", "a quiet week"]
    risky, ordinary = clf.verdicts(emb, texts)

    def expected(e: np.ndarray, words: float) -> float:
        linear = 1 / (1 + math.exp(-(4 * float(e[0]) - 1)))
        margin = float(np.max(risk @ e)) - float(np.max(clf.ordinary @ e))
        return (linear + 1 / (1 + math.exp(-20 * margin)) + words) / 3

    # "cutting" is the only piece with a ratio: the first sentence's word score is the logistic of 2
    assert risky.flagged and risky.confirms
    assert risky.score == pytest.approx(expected(emb[0], 1 / (1 + math.exp(-2.0))), rel=1e-5)
    # named by the nearest statement with a category of its own (a third person's is skipped)
    assert (risky.category, risky.example) == ("self_harm", "I cut my arm.")
    assert not ordinary.flagged and not ordinary.confirms
    assert ordinary.score == pytest.approx(expected(emb[1], 0.5), rel=1e-5)  # no piece seen: no lean
    assert clf.verdicts(np.zeros((0, 3), dtype=np.float32), []) == []


def words_table(ratios: dict[str, float]) -> np.ndarray:
    table = np.full(wordscore.BUCKETS, np.nan, dtype=np.float32)
    for piece, ratio in ratios.items():
        table[zlib.crc32(piece.encode()) % wordscore.BUCKETS] = ratio
    return table


def test_word_pieces_are_words_pairs_and_character_grams() -> None:
    got = wordscore.pieces("I'm OK, kys")
    assert {"i'm", "ok", "kys", "i'm ok", "ok kys", "# ky", "#kys ", "# kys "} <= got
    assert "#ok," not in got  # punctuation is not a piece
    assert len(wordscore.buckets("kys kys")) == len(set(wordscore.pieces("kys kys")))


def test_the_word_table_leans_to_where_a_piece_was_seen() -> None:
    rows = [wordscore.buckets("i want to die"), wordscore.buckets("my phone died")]
    table = wordscore.learn(rows, np.array([True, False]), np.array([1.0, 1.0]))
    only_risk = table[wordscore.buckets("want")]
    only_ordinary = table[wordscore.buckets("phone")]
    assert only_risk.max() > 0 > only_ordinary.min()
    assert np.isnan(table[wordscore.buckets("zebra crossing")]).all()
    assert wordscore.score(table, 3.0, ["zebra crossing"])[0] == pytest.approx(0.5)


def test_the_shipped_classifier_file_is_complete() -> None:
    clf = riskmodel.load()
    assert clf.weights.shape == (384,) and np.all(np.isfinite(clf.weights))
    assert 0.0 < clf.confirm <= clf.threshold < 1.0 and clf.k >= 1 and clf.sharpness > 0
    assert clf.risk.shape == (len(clf.risk_text), 384) == (len(clf.risk_category), 384)
    assert clf.ordinary.shape[1] == 384 and len(clf.ordinary) > len(clf.risk)
    for rows in (clf.risk, clf.ordinary):
        assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-3)
    assert set(clf.risk_category) <= set(SUICIDE_SCALE) | set(OTHERS) | {riskmodel.UNNAMED}
    assert clf.provenance["trained_by"] == "scripts/dev/train_risk_classifier.py"
    assert clf.words.shape == (wordscore.BUCKETS,) and np.isfinite(clf.words).sum() > 10_000 and clf.word_scale > 0


def test_doctor_warns_when_the_classifier_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    from hushnote.daemon.cli import doctor
    from hushnote.daemon.drafting.screening import embed

    monkeypatch.setattr(embed, "model_zip", lambda: None)
    check = doctor.check_risk_classifier()
    assert check.status == doctor.WARN and "not installed" in check.summary and "rules" in check.summary


def test_without_the_classifier_the_rules_still_run() -> None:
    from hushnote.daemon.drafting.screening.risk import classify, is_risk

    assert riskmodel.judge(["anything"]) is None  # switched off in this tier (tests/unit/conftest.py)
    assert is_risk("I want to kill myself.") and not is_risk("We talked about the weather.")
    assert not classify("I want to kill myself.")[0].similar
