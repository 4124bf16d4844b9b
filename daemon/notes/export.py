"""A note into the record: plain text (the clipboard and ``.txt``), Word (``.docx``) and PDF.

Every format renders the same parsed note (``document.parse``): no Markdown and no front matter reach the
reader. ``plain_text`` is the one text renderer (the clipboard and the .txt file); docx and pdf lay out the
same header lines and sections. ``--plain`` drops the timestamps. Exports are written beside the note,
never over an existing file, and never anywhere else (the note may be encrypted: the export is not, and
the command says so).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hushnote.daemon.core.errors import InputError
from hushnote.daemon.core.fileio import atomic_write_bytes, unique_stem
from hushnote.daemon.core.paths import NOTE_SUFFIX
from hushnote.daemon.notes.document import NoteDocument, Section, strip_stamps

FORMATS = ("txt", "docx", "pdf")


def pick_sections(doc: NoteDocument, name: str | None) -> list[Section]:
    """All sections, or the one called ``name`` (an ``InputError`` naming the real ones if there is none)."""
    if name is None:
        return doc.sections
    sec = doc.section(name)
    if sec is None:
        titles = ", ".join(s.title for s in doc.sections) or "none"
        raise InputError(f"The note has no section called {name!r}.", f"Its sections are: {titles}.")
    return [sec]


def readable_time(iso: Any) -> str:
    """``2026-11-30T11:48:31+01:00`` -> ``2026-11-30 11:48 (UTC+01:00)``; anything else as it is."""
    try:
        t = dt.datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    return t.strftime("%Y-%m-%d %H:%M") + (f" ({t.tzname()})" if t.tzinfo else "")


def header_lines(doc: NoteDocument) -> list[str]:
    """Title and status lines of an exported file (not of a clipboard copy)."""
    f = doc.fields
    kind = str(f.get("template") or "").upper()
    title = f"Progress note ({kind})" if kind else "Progress note"
    lines = [title]
    if f.get("date"):
        lines.append(f"Session date: {f['date']}")
    if doc.status == "signed":
        by = f" by {f['signed_by']}" if f.get("signed_by") else ""
        lines.append(f"Signed{by} on {readable_time(f.get('signed_at'))}")
    else:
        lines.append(f"Status: {doc.title}")
    return lines


def items(sec: Section, stamps: bool) -> list[str]:
    return [it if stamps else strip_stamps(it) for it in sec.items]


def plain_text(doc: NoteDocument, *, section: str | None = None, stamps: bool = True,
               header: bool = False) -> str:
    """The note as plain text: section titles, then one line per sentence; a blank line between sections."""
    blocks: list[str] = []
    if header:
        blocks.append("\n".join(header_lines(doc) + doc.notices))
    for sec in pick_sections(doc, section):
        lines = items(sec, stamps)
        blocks.append("\n".join([sec.title, *lines] if section is None or header else lines))
    return "\n\n".join(blocks).strip() + "\n"


def docx_bytes(doc: NoteDocument, *, stamps: bool = True) -> bytes:
    import io

    from docx import Document  # python-docx: imported only when a .docx is asked for

    d = Document()
    head = header_lines(doc)
    d.add_heading(head[0], level=1)
    for line in head[1:] + doc.notices:
        d.add_paragraph(line)
    for sec in doc.sections:
        d.add_heading(sec.title, level=2)
        for it in items(sec, stamps):
            d.add_paragraph(it)
    d.core_properties.title = head[0]
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
             Path("/Library/Fonts"), Path("C:/Windows/Fonts"))


FONTS = (("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"), ("arial.ttf", "arialbd.ttf"), ("Arial.ttf", "Arial Bold.ttf"))


def _unicode_fonts() -> tuple[Path, Path] | None:
    """A TrueType font (regular, bold) with the characters a note may hold (quotes, dashes, accents)."""
    for d in FONT_DIRS:
        for regular, bold in FONTS:
            if (d / regular).is_file():
                return d / regular, d / bold if (d / bold).is_file() else d / regular
    return None


def _latin1(text: str) -> str:
    """For the built-in PDF font (Latin-1 only): typographic characters spelt plainly, others replaced."""
    table = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "—": "-", "–": "-", "…": "...", "•": "-"})
    return text.translate(table).encode("latin-1", "replace").decode("latin-1")


def pdf_bytes(doc: NoteDocument, *, stamps: bool = True) -> bytes:
    from fpdf import FPDF  # fpdf2: imported only when a .pdf is asked for

    pdf = FPDF(format="A4")
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(True, margin=20)
    fonts = _unicode_fonts()
    if fonts is not None:
        pdf.add_font("note", "", str(fonts[0]))
        pdf.add_font("note", "B", str(fonts[1]))
        family, fix = "note", (lambda s: s)
    else:
        family, fix = "helvetica", _latin1
    head = header_lines(doc)
    pdf.set_title(head[0])
    pdf.set_creator("hushnote")
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def para(text: str, size: float, gap: float = 1.5, style: str = "") -> None:
        pdf.set_font(family, style=style, size=size)
        pdf.multi_cell(width, size * 0.5, fix(text), align="L", new_x="LMARGIN", new_y="NEXT")  # type: ignore[no-untyped-call]
        pdf.ln(gap)

    para(head[0], 16, 3, "B")
    for line in head[1:] + doc.notices:
        para(line, 10)
    for sec in doc.sections:
        if pdf.will_page_break(30):  # a heading never sits alone at the foot of a page
            pdf.add_page()
        pdf.ln(2)
        para(sec.title, 13, 2, "B")
        for it in items(sec, stamps):
            para(it, 11)
    return bytes(pdf.output())


RENDERERS: dict[str, Callable[..., bytes]] = {
    "txt": lambda doc, stamps: plain_text(doc, stamps=stamps, header=True).encode("utf-8"),
    "docx": docx_bytes,
    "pdf": pdf_bytes,
}


def export(doc: NoteDocument, note_path: Path, fmt: str, *, stamps: bool = True) -> Path:
    """Write ``doc`` as ``fmt`` beside ``note_path`` (``NAME.note.md`` -> ``NAME.pdf``, ``NAME-2.pdf`` if taken)."""
    if fmt not in RENDERERS:
        raise InputError(f"hushnote cannot export to {fmt!r}.", f"Use one of: {', '.join(FORMATS)}.")
    data: Any = RENDERERS[fmt](doc, stamps=stamps)
    folder = note_path.parent
    base = note_path.name.removesuffix(NOTE_SUFFIX).removesuffix(".md")
    stem = unique_stem(folder, base, (f".{fmt}",))
    out = folder / f"{stem}.{fmt}"
    if not os.access(folder, os.W_OK):
        raise InputError(f"The folder {folder} is not writable, so the export cannot go beside the note.",
                         "Check the folder's permissions.", path=str(folder))
    atomic_write_bytes(out, data, 0o600)
    return out
