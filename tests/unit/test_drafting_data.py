"""The ACI-BENCH dialogue helpers (tests/support/aci.py) read the shipped sample as expected."""

from __future__ import annotations

from pathlib import Path

from tests.support.aci import aci_rows, aci_transcript, long_session


def test_aci_dialogues_parse_with_speakers(eval_dir: Path, tmp_path: Path) -> None:
    rows = aci_rows(eval_dir)
    assert len(rows) == 12
    t = aci_transcript(eval_dir, 0, tmp_path)
    assert not t.timed and t.word_count > 1000
    assert {s.speaker for s in t.segments} == {"doctor", "patient"}


def test_long_session_is_about_fifty_minutes(eval_dir: Path, tmp_path: Path) -> None:
    t = long_session(eval_dir, tmp_path, 6)
    assert t.timed and all(s.speaker is None for s in t.segments)
    assert 7000 <= t.word_count <= 9000
    assert 45 * 60 <= t.duration <= 60 * 60
