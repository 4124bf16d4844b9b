"""Transcript exports for other tools: SubRip (``.srt``), WebVTT (``.vtt``) and JSON, each with who spoke.

Written beside the note as ``<stem>.transcript.srt|.vtt|.json`` (``hushnote process --export`` or
``[notes] export``). Not encrypted: they are copies for other programs. The JSON is::

    {"segments": [{"start": 1.0, "end": 4.5, "speaker": "Client" | "Speaker 1" | null, "text": "…"}, ...],
     "language": "en", "duration": 312.4, "speakers": ["Therapist", "Client"], "speaker_basis": "by channel"}

with times in seconds. SRT puts the speaker before the text (``Client: …``), WebVTT in a voice tag
(``<v Client>…``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from hushnote.daemon.core.datatypes import Segment, Transcript
from hushnote.daemon.core.errors import InputError
from hushnote.daemon.core.fileio import atomic_write_text

FORMATS = ("srt", "vtt", "json")
SUFFIX = ".transcript"
MIN_CUE_S = 0.1  # a cue lasts at least this long (a segment's end can equal its start)


def _cues(t: Transcript) -> list[tuple[float, float, Segment]]:
    return [(s.start, max(s.end, s.start + MIN_CUE_S), s) for s in t.segments if s.text.strip()]


def _clock(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def render_srt(t: Transcript) -> str:
    blocks = []
    for n, (start, end, seg) in enumerate(_cues(t), start=1):
        who = f"{seg.speaker}: " if seg.speaker else ""
        text = " ".join(seg.text.split())
        blocks.append(f"{n}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{who}{text}\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_vtt(t: Transcript) -> str:
    out = ["WEBVTT", ""]
    for start, end, seg in _cues(t):
        text = _vtt_escape(" ".join(seg.text.split()))
        who = f"<v {_vtt_escape(seg.speaker)}>" if seg.speaker else ""
        out += [f"{_clock(start, '.')} --> {_clock(end, '.')}", f"{who}{text}", ""]
    return "\n".join(out)


def render_json(t: Transcript) -> str:
    doc = {
        "segments": [{"start": round(start, 3), "end": round(end, 3), "speaker": seg.speaker,
                      "text": " ".join(seg.text.split())} for start, end, seg in _cues(t)],
        "language": t.language,
        "duration": round(t.duration, 3),
        "speakers": list(t.speakers),
        "speaker_basis": t.speaker_basis or None,
    }
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


RENDERERS: dict[str, Callable[[Transcript], str]] = {"srt": render_srt, "vtt": render_vtt, "json": render_json}


def check_formats(formats: Sequence[str]) -> list[str]:
    """The formats asked for, in order, once each; an ``InputError`` for one that does not exist."""
    wanted = [f.strip().lower() for f in formats if f.strip()]
    bad = [f for f in wanted if f not in FORMATS]
    if bad:
        raise InputError(f"There is no transcript export format called {bad[0]!r}.",
                         f"Use any of: {', '.join(FORMATS)} (e.g. --export srt,json).")
    return list(dict.fromkeys(wanted))


def write_exports(t: Transcript, out_dir: Path, stem: str, formats: Sequence[str]) -> list[Path]:
    """Write ``<stem>.transcript.<format>`` in ``out_dir`` for each format; returns the paths."""
    wanted = check_formats(formats)
    if wanted and not t.timed:
        raise InputError("A plain-text dialogue has no times, so it cannot be exported as subtitles or JSON.",
                         "Export the transcript of an audio recording instead.")
    paths = []
    for fmt in wanted:
        path = out_dir / f"{stem}{SUFFIX}.{fmt}"
        atomic_write_text(path, RENDERERS[fmt](t))
        paths.append(path)
    return paths
