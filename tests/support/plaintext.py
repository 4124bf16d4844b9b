"""Look for what must never be in the clear: audio container signatures, or words of the transcript; and where
encrypted audio is kept (``kept_as``)."""

from __future__ import annotations

import re
from pathlib import Path

from hushnote.daemon.privacy import vault

# Container signatures, long enough that random ciphertext cannot match them by chance (~2^-64 per byte).
SIGNATURES = {
    "RIFF/WAVE": re.compile(rb"RIFF.{4}WAVE", re.S),
    "fLaC": re.compile(rb"fLaC[\x00\x80]\x00\x00\x22"),
    "OggS": re.compile(rb"OggS\x00[\x00-\x07]"),
    "ID3": re.compile(rb"ID3[\x02-\x04]\x00"),
    "ftyp": re.compile(rb"ftyp(isom|iso2|mp41|mp42|M4A |M4B |qt  |3gp[0-9]|dash|avc1)"),
}


def scan_bytes(data: bytes, words: set[str]) -> list[str]:
    found = [name for name, rx in SIGNATURES.items() if rx.search(data)]
    low = data.lower()
    found += [f"word {w!r}" for w in words if w.encode() in low]
    return found


def scan(roots: list[Path], words: set[str]) -> dict[str, list[str]]:
    """Every regular file under ``roots`` -> what was found in the clear (empty: nothing)."""
    out: dict[str, list[str]] = {}
    for root in roots:
        for p in root.rglob("*"):
            if p.is_file() and not p.is_symlink():
                hits = scan_bytes(p.read_bytes(), words)
                if hits:
                    out[str(p)] = hits
    return out


def transcript_words(notes: Path) -> set[str]:
    words: set[str] = set()
    for t in notes.glob("*.transcript.md"):
        spoken = [ln.split("]", 1)[-1] for ln in t.read_text(encoding="utf-8").splitlines() if ln.startswith("[")]
        words |= {w.lower() for w in re.findall(r"[A-Za-z]{6,}", " ".join(spoken))}
    return words


def kept_as(folder: Path, name: str) -> Path:
    """The audio kept as ``folder/name``: encrypted as ``NAME.hushnote``, or plain under ``name`` (never both)."""
    found = [p for p in (folder / name, folder / vault.encrypted_name(name)) if p.exists()]
    assert len(found) == 1, f"audio of {name} lost (or kept twice): {found}"
    assert vault.is_encrypted(found[0]) == found[0].name.endswith(vault.ENCRYPTED_SUFFIX), found[0]
    return found[0]
