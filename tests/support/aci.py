"""Helpers shared by the drafting tests and bench: ACI-BENCH dialogues as hushnote transcripts.

The dialogues go through ``hushnote.daemon.notes.notefile.read_transcript`` (the same reader ``hushnote draft`` uses),
so line numbers and ``[doctor]``/``[patient]`` labels come from the real parser.
"""

from __future__ import annotations

import csv
from pathlib import Path

from hushnote.daemon.core.datatypes import Segment, Transcript
from hushnote.daemon.notes.notefile import read_transcript

CSV = Path("dialogues") / "aci_bench_train_sample.csv"
WORDS_PER_MINUTE = 150


def aci_rows(eval_dir: Path) -> list[dict[str, str]]:
    with (eval_dir / CSV).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def aci_transcript(eval_dir: Path, i: int, tmp: Path, *, extra: dict[int, str] | None = None) -> Transcript:
    """Dialogue ``i`` written to a .txt file and read back. ``extra`` inserts lines *after* line N."""
    lines = aci_rows(eval_dir)[i]["dialogue"].splitlines()
    for after, line in sorted((extra or {}).items(), reverse=True):
        lines.insert(after, line)
    path = tmp / f"dialogue-{i}.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return read_transcript(path)


def as_audio(t: Transcript, *, offset: float = 0.0) -> Transcript:
    """The same words as an audio transcript would have them: timestamps (~150 words/min), no speakers."""
    segs: list[Segment] = []
    clock = offset
    for s in t.segments:
        dur = max(1.0, len(s.text.split()) * 60.0 / WORDS_PER_MINUTE)
        segs.append(Segment(round(clock, 2), round(clock + dur, 2), s.text, None))
        clock += dur
    return Transcript(tuple(segs), "en", clock - offset, "base", "session.wav", True)


def long_session(eval_dir: Path, tmp: Path, n: int, *, indices: list[int] | None = None) -> Transcript:
    """The first ``n`` dialogues (or those at ``indices``) back to back, as one timed, unlabelled transcript."""
    segs: list[Segment] = []
    clock = 0.0
    for i in indices if indices is not None else range(n):
        part = as_audio(aci_transcript(eval_dir, i, tmp), offset=clock)
        segs.extend(part.segments)
        clock = part.segments[-1].end
    return Transcript(tuple(segs), "en", clock, "base", "session.wav", True)
