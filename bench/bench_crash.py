"""More kill -9 trials than the test suite: runs tests/e2e/test_crash.py's random trial with N trials and a
seed (environment HUSHNOTE_CRASH_TRIALS / HUSHNOTE_CRASH_SEED), plus the deterministic crash points.

    /opt/hn-venv/bin/python bench/bench_crash.py [--trials 60] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    env = dict(os.environ, HUSHNOTE_CRASH_TRIALS=str(a.trials), HUSHNOTE_CRASH_SEED=str(a.seed))
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/e2e/test_crash.py"], cwd=REPO, env=env, check=False)
    print(f"{a.trials} random kill -9 trials + 5 crash points, seed {a.seed}: "
          f"{'all inputs accounted for' if r.returncode == 0 else 'FAILED'} in {time.monotonic() - t0:.0f} s")
    return r.returncode


if __name__ == "__main__":
    raise SystemExit(main())
