"""Where things are: the repository, the evaluation material shipped with it, the bundled sample."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The evaluation material shipped in the repository (tests/data/README.md); HUSHNOTE_EVAL_DIR overrides.
EVAL = Path(os.environ.get("HUSHNOTE_EVAL_DIR", REPO / "tests" / "data" / "eval"))
SAMPLES = REPO / "samples"
RISK_DATA = REPO / "tests" / "data" / "risk"  # the risk-language and medication sentences (its README)
