"""One progress number per job: stage fractions mapped onto the whole job, never going back."""

from __future__ import annotations

import pytest
from hushnote.daemon.service.progress import SPANS, JobProgress, job_fraction


def test_stages_follow_each_other_without_gaps() -> None:
    order = ["decode", "transcribe", "draft", "write"]
    assert SPANS["decode"][0] == 0.0 and SPANS["write"][1] == 1.0
    for a, b in zip(order, order[1:], strict=False):
        assert SPANS[a][1] == SPANS[b][0], (a, b)
        assert SPANS[a][0] < SPANS[a][1]


def test_whole_job_fraction() -> None:
    assert job_fraction("decode", 0.0) == 0.0
    assert job_fraction("transcribe", 0.0) == pytest.approx(0.10)
    assert job_fraction("transcribe", 0.5) == pytest.approx(0.475)
    assert job_fraction("draft", 1.0) == pytest.approx(0.97)
    assert job_fraction("write", 1.0) == 1.0
    assert job_fraction("transcribe", 7.0) == pytest.approx(0.85), "clamped"
    assert job_fraction("decode", -1.0) == 0.0
    assert job_fraction("something new", 0.5) is None


def test_a_job_never_goes_back() -> None:
    p = JobProgress()
    seen = [p.update(stage, f) for stage, f in [("decode", 0.5), ("decode", 1.0), ("transcribe", 0.0),
                                               ("transcribe", 0.6), ("draft", 0.0), ("draft", 1.0),
                                               ("write", 1.0)]]
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert len(set(seen)) == len(seen) - 1  # decode 1.0 and transcribe 0.0 are the same point
    # a stage reported again (a retried step, live transcription catching up) does not move it back
    assert p.update("transcribe", 0.1) == 1.0
    q = JobProgress()
    q.update("transcribe", 0.9)
    assert q.update("unknown", 0.0) == pytest.approx(job_fraction("transcribe", 0.9))
    assert q.stage == "unknown"
