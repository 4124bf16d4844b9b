"""Sign, verify and unsign a note: the draft becomes the clinician's final record, provably unchanged.

``sign`` sets ``status: "signed"``, ``signed_at`` and ``signed_by`` in the front matter, swaps the draft
banner for ``SIGNED_TITLE``, writes ``signed_sha256`` (the sha256 of the whole signed file with that one
line left out), records the same hash in the audit log (``note.signed``: ids and hashes only, no PHI) and
makes the file read-only. ``verify`` recomputes the hash and finds it in the audit log: an edit of the
note, or of the note *and* its ``signed_sha256`` line, is caught. ``unsign`` turns a signed note back
into a draft and keeps the reason in the note's front matter (``amendments``); the audit log gets
``note.unsigned`` with the sha256 of the reason, never its words. Encrypted notes (``notes.encrypt``)
are read and written through the vault; the hash is of the plaintext.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hushnote.daemon.core.datatypes import Clock, utc_now
from hushnote.daemon.core.errors import InputError
from hushnote.daemon.notes.notefile import DRAFT_BANNER, front_matter, parse_front_matter
from hushnote.daemon.privacy import audit
from hushnote.daemon.privacy.at_rest import read_text, write_text
from hushnote.daemon.privacy.vault import Vault, is_encrypted

SIGNED_TITLE = "Progress note — signed"
HASH_KEY = "signed_sha256"
READ_ONLY = stat.S_IRUSR
WRITABLE = stat.S_IRUSR | stat.S_IWUSR
_HASH_LINE_RE = re.compile(rf"^{HASH_KEY}:.*\n", re.MULTILINE)
_MARKED_RE = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\[unverified\]", re.MULTILINE)
_UNVERIFIED_NOTICE_RE = re.compile(r"^> \d+ sentence\(s\) below are marked \[unverified\].*\n\n?", re.MULTILINE)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    what: str  # one plain sentence


def content_sha256(text: str) -> str:
    """sha256 of the note as signed: every byte except the ``signed_sha256`` line of the front matter."""
    end = text.find("\n---\n", 4) if text.startswith("---\n") else -1
    head, rest = (text[:end + 1], text[end + 1:]) if end >= 0 else ("", text)
    return hashlib.sha256((_HASH_LINE_RE.sub("", head) + rest).encode("utf-8")).hexdigest()


def _read(path: Path, vault: Vault | None) -> str:
    if not path.is_file():
        raise InputError(f"{path} does not exist.", "Give the path of a .note.md file.", path=str(path))
    if is_encrypted(path) and vault is None:
        raise InputError(f"{path.name} is encrypted.", "hushnote opens the key itself; check notes.encrypt.",
                         path=str(path))
    try:
        text = read_text(path, vault)
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a text note.", "Give the path of a .note.md file.", path=str(path)) from None
    if not text.startswith("---\n"):
        raise InputError(f"{path} is not a hushnote note (it has no front matter).",
                         "Give the path of a .note.md file written by hushnote.", path=str(path))
    return text


def _write(path: Path, text: str, vault: Vault | None, mode: int) -> None:
    """Replace the note (read-only or not, it is replaced, not written into) and set its permissions."""
    write_text(path, text, vault if is_encrypted(path) else None, "note")  # kept as it was: encrypted or not
    os.chmod(path, mode)


def _local_time(clock: Clock) -> str:
    return clock().astimezone().isoformat(timespec="seconds")


def sign(path: Path, *, name: str, vault: Vault | None = None, log: audit.AuditLog | None = None,
         job_id: str | None = None, clock: Clock = utc_now) -> str:
    """Sign the note at ``path``; returns its sha256. A note with ``[unverified]`` sentences is refused."""
    text = _read(path, vault)
    encrypted = is_encrypted(path)
    fields, body = parse_front_matter(text)
    if fields.get("status") == "signed":
        raise InputError(f"{path.name} is already signed (on {fields.get('signed_at', '?')}).",
                         "Check it with `hushnote verify`, or `hushnote unsign NOTE --reason …` to change it.",
                         path=str(path))
    marked = len(_MARKED_RE.findall(body))
    if marked:
        raise InputError(f"{path.name} still has {marked} sentence(s) marked [unverified].",
                         "Check each one against the transcript; delete the sentence or its [unverified] mark, "
                         "then sign again.", path=str(path))
    who = name.strip()
    if not who or "\n" in who:
        raise InputError("A signature needs the signer's name on one line.", 'Give it with --name "…".')
    fields.pop(HASH_KEY, None)
    fields.update(status="signed", signed_at=_local_time(clock), signed_by=who)
    body = _UNVERIFIED_NOTICE_RE.sub("", body.replace(f"# {DRAFT_BANNER}", f"# {SIGNED_TITLE}", 1))
    signed = front_matter(fields) + body
    digest = content_sha256(signed)
    fields[HASH_KEY] = digest
    _write(path, front_matter(fields) + body, vault, READ_ONLY)
    if log is not None:
        log.append("note.signed", note_sha256=digest, encrypted=encrypted,
                   **({"job_id": job_id} if job_id else {}))
    return digest


def verify(path: Path, *, vault: Vault | None = None, audit_path: Path | None = None) -> Verdict:
    """Has the signed note at ``path`` changed since it was signed?"""
    text = _read(path, vault)
    fields, _ = parse_front_matter(text)
    if fields.get("status") != "signed":
        raise InputError(f"{path.name} is not signed, so there is nothing to verify.",
                         "Sign it with `hushnote sign NOTE` once you have reviewed it.", path=str(path))
    stored = str(fields.get(HASH_KEY) or "")
    digest = content_sha256(text)
    when, who = fields.get("signed_at", "?"), fields.get("signed_by", "?")
    if digest != stored:
        return Verdict(False, f"{path.name} has CHANGED since {who} signed it on {when}.")
    if audit_path is not None and not any(e.get("data", {}).get("note_sha256") == digest
                                          for e in audit.entries(audit_path, "note.signed")):
        return Verdict(False, f"{path.name} does not match any signature in the audit log: the note and its "
                              "signed_sha256 line were changed after signing, or it was signed on another computer.")
    return Verdict(True, f"{path.name} is unchanged since {who} signed it on {when}.")


def unsign(path: Path, *, reason: str, vault: Vault | None = None, log: audit.AuditLog | None = None,
           job_id: str | None = None, clock: Clock = utc_now) -> None:
    """Turn a signed note back into a draft, keeping who signed it, when, and why it was reopened."""
    text = _read(path, vault)
    fields, body = parse_front_matter(text)
    if fields.get("status") != "signed":
        raise InputError(f"{path.name} is not signed.", "Only a signed note can be unsigned.", path=str(path))
    why = " ".join(reason.split())
    if not why:
        raise InputError("Unsigning needs a reason.", 'Give it with --reason "…" (it is kept in the note).')
    fields.pop(HASH_KEY, None)
    old = content_sha256(text)  # what the file held when it was reopened (edited or not)
    amendment: dict[str, Any] = {"signed_by": fields.pop("signed_by", ""), "signed_at": fields.pop("signed_at", ""),
                                 "unsigned_at": _local_time(clock), "reason": why}
    history = fields.get("amendments")
    fields["amendments"] = [*(history if isinstance(history, list) else []), amendment]
    fields["status"] = "draft"
    body = body.replace(f"# {SIGNED_TITLE}", f"# {DRAFT_BANNER}", 1)
    _write(path, front_matter(fields) + body, vault, WRITABLE)
    if log is not None:
        data: dict[str, Any] = {"reason_sha256": hashlib.sha256(why.encode("utf-8")).hexdigest(),
                                "note_sha256": old}
        if job_id:
            data["job_id"] = job_id
        log.append("note.unsigned", **data)
