"""A note file read back as a document: its front matter, title, notices and sections as plain text.

Copy and export (``hushnote copy``, ``hushnote export``) render from this, never from the Markdown text,
so every format says the same thing. The parser reads what ``notefile.render_note`` writes and what a
clinician is likely to do to it in an editor (more bullets, paragraphs, emphasis, numbered lists).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hushnote.daemon.notes.notefile import DRAFT_BANNER, parse_front_matter

STAMP_RE = re.compile(r"\s*\[(?:\d{1,3}:\d{2}:\d{2}|line \d+)\]")
_BULLET_RE = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_EMPHASIS_RE = re.compile(r"(\*\*|__)(.+?)\1|(?<![\w*])([*_])(?!\s)(.+?)(?<!\s)\3(?![\w*])")
_LINK_RE = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_CODE_RE = re.compile(r"`([^`]*)`")


@dataclass
class Section:
    title: str
    items: list[str] = field(default_factory=list)  # one sentence, bullet or paragraph each, plain text


@dataclass
class NoteDocument:
    fields: dict[str, Any]
    title: str
    notices: list[str]  # the "> ..." advice lines under the title (e.g. how many sentences are unverified)
    sections: list[Section]

    @property
    def status(self) -> str:
        return str(self.fields.get("status") or "draft")

    def section(self, name: str) -> Section | None:
        """The section called ``name`` (its title, case-insensitive, or its first word: "plan", "risk")."""
        want = name.strip().lower()
        for sec in self.sections:
            t = sec.title.lower()
            if t == want or t.split()[0] == want or t.replace(" ", "_") == want:
                return sec
        return None


def inline_text(md: str) -> str:
    """One line of Markdown as plain text: emphasis, code marks and link targets removed."""
    text = _LINK_RE.sub(r"\1", md)
    text = _CODE_RE.sub(r"\1", text)
    prev = None
    while prev != text:
        prev = text
        text = _EMPHASIS_RE.sub(lambda m: m.group(2) or m.group(4) or "", text)
    return text.replace("\\", "").strip()


def strip_stamps(text: str) -> str:
    """``… warm." [00:03:12]`` -> ``… warm."`` (``--plain``)."""
    return STAMP_RE.sub("", text).strip()


def parse(text: str) -> NoteDocument:
    """Parse a note (front matter + Markdown body)."""
    fields, body = parse_front_matter(text)
    title = ""
    notices: list[str] = []
    sections: list[Section] = []
    para: list[str] = []

    def flush() -> None:
        if para and sections:
            sections[-1].items.append(inline_text(" ".join(para)))
        elif para:
            notices.append(inline_text(" ".join(para)))
        para.clear()

    for raw in body.splitlines():
        line = raw.rstrip()
        if not line.strip():
            flush()
        elif line.startswith("## ") or (line.startswith("### ") and sections):
            flush()
            sections.append(Section(inline_text(line.lstrip("#"))))
        elif line.startswith("# ") and not title and not sections:
            title = inline_text(line[2:])
        elif line.lstrip().startswith(">") or _BULLET_RE.match(line):
            flush()
            item = inline_text(line.lstrip()[1:] if line.lstrip().startswith(">")
                               else _BULLET_RE.sub("", line, count=1))
            if item:
                (sections[-1].items if sections else notices).append(item)
        else:
            para.append(line.strip())
    flush()
    return NoteDocument(fields, title or DRAFT_BANNER, notices, sections)
