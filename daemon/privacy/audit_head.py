"""The audit log's head (last sequence number and its line hash), kept a second time where cutting the log
file does not reach: the OS keyring when a real one works (entry ``hushnote`` / ``audit-head-<id>``), else a
0600 file beside the master key in the settings folder (``audit-head-<id>.json``). ``<id>`` is derived from the
log's path, so several data folders never share a head.

The service's ``AuditLog`` writes it after every append; ``hushnote audit verify`` (and ``hushnote doctor``)
compare the log's end with it, so a log cut short (or restored from an older copy) is reported, not taken as
intact. It holds a number and a hash: nothing about any session. What it does not protect against: someone
who can change both the data folder and this user's keyring or settings folder can rewrite both.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hushnote.daemon.core.config import config_dir
from hushnote.daemon.core.fileio import atomic_write_bytes
from hushnote.daemon.privacy import audit
from hushnote.daemon.privacy.keys import KEYRING_SERVICE, system_keyring

_HASH = re.compile(r"[0-9a-f]{64}")


class HeadStore:
    """``read()`` / ``write(seq, hash)`` of one log's remembered head (``audit.HeadKeeper``)."""

    def __init__(self, log_path: Path, settings_dir: Path, *, backend: Any = None, use_keyring: bool = True) -> None:
        ident = hashlib.sha256(os.fsencode(Path(log_path).resolve())).hexdigest()[:16]
        self.entry = f"audit-head-{ident}"
        self.file = Path(settings_dir) / f"{self.entry}.json"
        self._backend = system_keyring(backend, use_keyring)

    @property
    def where(self) -> str:
        return (f"the system keyring (entry \"{KEYRING_SERVICE}\" / \"{self.entry}\")" if self._backend is not None
                else str(self.file))

    def read(self) -> tuple[int, str] | None:
        """The remembered head, or None if none was kept yet. Raises on an unreadable store."""
        if self._backend is not None:
            text = self._backend.get_password(KEYRING_SERVICE, self.entry)
        else:
            try:
                text = self.file.read_text(encoding="ascii")
            except FileNotFoundError:
                text = None
        if text is None:
            return None
        rec = json.loads(text)
        seq, h = rec.get("seq"), rec.get("hash")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or not isinstance(h, str) or not _HASH.fullmatch(h):
            raise ValueError("damaged audit head record")
        return seq, h

    def write(self, seq: int, line_hash: str) -> None:
        text = json.dumps({"v": 1, "seq": seq, "hash": line_hash}, sort_keys=True)
        if self._backend is not None:
            self._backend.set_password(KEYRING_SERVICE, self.entry, text)
            return
        self.file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_bytes(self.file, text.encode("ascii"), 0o600)


def for_data_dir(data_dir: Path, **kw: Any) -> HeadStore:
    """The head store of ``<data_dir>/audit.jsonl`` (the settings folder holds its file fallback)."""
    return HeadStore(Path(data_dir) / audit.FILENAME, config_dir(), **kw)


def audit_log(path: Path) -> audit.AuditLog:
    """The audit log at ``path`` keeping its head a second time: what every hushnote process that writes the
    real log uses (the service, its model processes, ``hushnote sign``)."""
    return audit.AuditLog(path, head=HeadStore(path, config_dir()))


@dataclass(frozen=True)
class Verdict:
    ok: bool
    first_bad: int | None
    what: str
    head: str  # how the end was checked, one sentence


def verify(data_dir: Path, store: HeadStore | None = None) -> Verdict:
    """``audit.verify`` of the data folder's log against its remembered head."""
    store = store if store is not None else for_data_dir(data_dir)
    path = Path(data_dir) / audit.FILENAME
    try:
        head = store.read()
    except Exception as exc:  # noqa: BLE001 - e.g. a locked keyring: check the chain, and say so
        ok, bad, what = audit.verify(path)
        return Verdict(ok, bad, what, f"Its end could not be compared with the copy kept in {store.where} "
                       f"({type(exc).__name__}), so a cut-off end would not be noticed.")
    ok, bad, what = audit.verify(path, expect_head=head)
    if head is None:
        note = ("No copy of its end is kept yet (it is made when the service next writes an entry), so a "
                "cut-off end would not be noticed yet.")
    else:
        note = f"Its end was compared with the copy kept in {store.where} (entry {head[0]})."
    return Verdict(ok, bad, what, note)
