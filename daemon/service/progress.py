"""One progress number per job: the pipeline's per-stage fractions mapped onto the whole job.

The pipeline reports ``progress(stage, fraction)`` with a fraction that starts again at 0 in each stage
(decode → transcribe → draft → write). A clinician wants one number that only goes up, so each stage owns
a span of the whole job, sized by where the time goes on a typical session (transcription dominates;
see docs/BENCHMARKS.md), and ``JobProgress`` never lets the number go back (a recording transcribed
live skips decoding; a retried step reports its stage again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# stage -> (start, end) of its span of the whole job, in pipeline order
SPANS: Final[dict[str, tuple[float, float]]] = {
    "start": (0.0, 0.0),
    "decode": (0.0, 0.10),
    "transcribe": (0.10, 0.85),
    "draft": (0.85, 0.97),
    "write": (0.97, 1.0),
}


def job_fraction(stage: str, fraction: float) -> float | None:
    """The whole job's share done when ``stage`` is ``fraction`` done; None for an unknown stage."""
    span = SPANS.get(stage)
    if span is None:
        return None
    start, end = span
    return start + (end - start) * max(0.0, min(1.0, fraction))


@dataclass
class JobProgress:
    """One job's whole-job fraction: only ever goes up (an unknown stage keeps the last value)."""

    fraction: float = 0.0
    stage: str = "start"

    def update(self, stage: str, fraction: float) -> float:
        whole = job_fraction(stage, fraction)
        self.stage = stage
        if whole is not None and whole > self.fraction:
            self.fraction = whole
        return self.fraction
