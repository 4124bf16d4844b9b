"""A note read back as a document and rendered for the record: Markdown a clinician may add is stripped,
timestamps dropped on request, a PDF opens even without a Unicode font, and the clipboard says what to
install when there is no tool."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from hushnote.daemon.notes import clipboard, document, export, signing
from hushnote.daemon.notes.notefile import DRAFT_BANNER


def test_a_note_edited_in_an_editor_parses_to_plain_text() -> None:
    md = """---
status: "draft"
template: "dap"
---

# DRAFT — review before signing

> 1 sentence(s) below are marked [unverified]: check them.

## Data

- Client stated: "I slept **four** hours." [00:03:12]
* A line the clinician *added* with `code` and a [link](http://example.invalid).
1. First numbered item
2) Second one

A paragraph the clinician wrote
over two lines.

### Plan

- Not discussed in this session.
"""
    doc = document.parse(md)
    assert doc.status == "draft" and doc.title == DRAFT_BANNER
    assert doc.notices == ["1 sentence(s) below are marked [unverified]: check them."]
    assert [s.title for s in doc.sections] == ["Data", "Plan"]
    assert doc.sections[0].items == ['Client stated: "I slept four hours." [00:03:12]',
                                     "A line the clinician added with code and a link.",
                                     "First numbered item", "Second one",
                                     "A paragraph the clinician wrote over two lines."]
    assert export.plain_text(doc, stamps=False).splitlines()[:2] == ["Data", 'Client stated: "I slept four hours."']
    assert export.plain_text(doc, section="plan") == "Not discussed in this session.\n"


def test_pdf_without_a_unicode_font_still_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    from pypdf import PdfReader

    monkeypatch.setattr(export, "FONT_DIRS", ())
    doc = document.parse('---\nstatus: "draft"\n---\n\n# DRAFT\n\n## Plan\n\n- Client stated: “I’ll try — café…” [line 3]\n')
    text = PdfReader(io.BytesIO(export.pdf_bytes(doc))).pages[0].extract_text()
    assert "Plan" in text and "I'll try - café..." in text


@pytest.fixture()
def empty_path(tmp_path: Path) -> Iterator[str]:
    d = tmp_path / "bin"
    d.mkdir()
    yield str(d)


def test_clipboard_without_any_tool_says_what_to_install(empty_path: str) -> None:
    with pytest.raises(clipboard.ClipboardUnavailable, match="No clipboard tool was found") as exc:
        clipboard.copy("x", env={"PATH": empty_path, "DISPLAY": ":99"}, platform="linux")
    assert "xclip" in exc.value.hint or "xclip" in exc.value.message


def test_clipboard_without_a_desktop_says_so() -> None:
    with pytest.raises(clipboard.ClipboardUnavailable, match="no desktop session"):
        clipboard.copy("x", env={"PATH": "/usr/bin"}, platform="linux")


def test_the_signed_hash_leaves_out_only_its_own_line() -> None:
    text = '---\nstatus: "signed"\nsigned_sha256: "abc"\n---\n\n# Note\n'
    assert signing.content_sha256(text) == signing.content_sha256(text.replace('"abc"', '"def"'))
    assert signing.content_sha256(text) != signing.content_sha256(text.replace("# Note", "# Note."))
    assert signing.content_sha256(text) != signing.content_sha256(text.replace('"signed"', '"draft"'))
