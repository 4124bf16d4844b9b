"""Strict readers for the SRT and WebVTT files hushnote writes: they fail on anything malformed, so a test
that reads an export back also validates it (numbering, time format, end after start, cue order)."""

from __future__ import annotations

import html
import re

SRT_TIME = re.compile(r"^(\d\d):([0-5]\d):([0-5]\d),(\d{3}) --> (\d\d):([0-5]\d):([0-5]\d),(\d{3})$")
VTT_TIME = re.compile(r"^(\d\d):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d\d):([0-5]\d):([0-5]\d)\.(\d{3})$")
VOICE = re.compile(r"^<v ([^>]+)>(.*)$")

Cue = tuple[float, float, str]


def _seconds(g: tuple[str, ...]) -> float:
    h, m, s, ms = (int(x) for x in g)
    return h * 3600 + m * 60 + s + ms / 1000


def _times(m: re.Match[str]) -> tuple[float, float]:
    start, end = _seconds(m.groups()[:4]), _seconds(m.groups()[4:])
    assert end > start, m.group(0)
    return start, end


def parse_srt(text: str) -> list[Cue]:
    """(start, end, text) of each cue; asserts the blocks are numbered 1, 2, ... and well formed."""
    assert text.endswith("\n") and "\r" not in text
    cues: list[Cue] = []
    for n, block in enumerate(text.strip("\n").split("\n\n"), start=1):
        lines = block.split("\n")
        assert len(lines) >= 3 and lines[0] == str(n), block
        m = SRT_TIME.match(lines[1])
        assert m, lines[1]
        cues.append((*_times(m), "\n".join(lines[2:])))
    assert [c[0] for c in cues] == sorted(c[0] for c in cues)
    return cues


def parse_vtt(text: str) -> list[tuple[float, float, str | None, str]]:
    """(start, end, voice or None, text) of each cue; asserts the header and the cue syntax."""
    blocks = text.strip("\n").split("\n\n")
    assert blocks[0] == "WEBVTT", blocks[0]
    cues: list[tuple[float, float, str | None, str]] = []
    for block in blocks[1:]:
        lines = block.split("\n")
        assert len(lines) == 2, block
        m = VTT_TIME.match(lines[0])
        assert m, lines[0]
        body = lines[1]
        assert "-->" not in body and not re.search(r"<(?!v )", body), body
        v = VOICE.match(body)
        voice, said = (html.unescape(v.group(1)), v.group(2)) if v else (None, body)
        assert "<" not in said and ">" not in said, said
        cues.append((*_times(m), voice, html.unescape(said)))
    return cues
