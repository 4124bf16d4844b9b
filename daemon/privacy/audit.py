"""The audit log: append-only JSON Lines, hash-chained, fsynced, safe across processes, and free of PHI.

Each line is one compact JSON object ``{"data", "event", "prev", "seq", "ts"}`` (keys sorted), where
``prev`` is the sha256 (hex) of the previous line's bytes (without its newline) and the first entry's
``prev`` is ``GENESIS``. ``verify`` walks the chain and names the first entry that was edited, deleted,
reordered or inserted. Appends take an exclusive ``flock`` on the log, so several processes can write.

No PHI: every event has a small allow-list of data keys, each with a value kind (id, hash, name, reason,
count, number, flag). Unknown keys and values that do not fit their kind are dropped (the entry records how
many in ``stripped``), so a caller's mistake never writes a patient's name or words into the log. Ids may
only be letters, digits, ``_`` and ``-``; free text (spaces, ``@``, slashes…) never fits any kind.

The chain proves the log was not altered *in the middle*; a cut-off end (or an edited last line) is only
detectable against a remembered head. ``AuditLog(head=...)`` keeps it a second time after every append (the
service passes ``audit_head.HeadStore``: the keyring, or a 0600 file in the settings folder), and ``verify``
takes it as ``expect_head``. An append that finds the log shorter than the remembered head (or a different
entry in its place) first writes an ``audit.end_mismatch`` entry, so the loss stays on record in the chain
even after new entries follow; ``verify`` reports it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from hushnote.daemon.core.datatypes import Clock, utc_now
from hushnote.daemon.core.errors import HushnoteError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: single-writer only
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("hushnote.audit")

GENESIS = hashlib.sha256(b"hushnote audit log v1").hexdigest()
FILENAME = "audit.jsonl"

_KINDS: dict[str, Callable[[Any], bool]] = {
    "id": lambda v: isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", v) is not None,
    "hash": lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{8,128}", v) is not None,
    "name": lambda v: isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9][\w.+:-]{0,63}", v, re.ASCII) is not None,
    "reason": lambda v: isinstance(v, str) and re.fullmatch(r"[a-z][a-z0-9_.]{0,47}", v) is not None,
    "count": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v == v and abs(v) < 1e12,
    "flag": lambda v: isinstance(v, bool),
}

# event -> allowed data key -> value kind
EVENTS: dict[str, dict[str, str]] = {
    "ingest": {"job_id": "id", "source": "name", "size_bytes": "count", "audio_sha256": "hash",
               "encrypted": "flag"},
    "recording.start": {"recording_id": "id", "device": "name", "durable": "flag"},
    "recording.stop": {"recording_id": "id", "duration_s": "number", "chunks": "count", "reason": "reason"},
    "consent.confirmed": {"recording_id": "id", "job_id": "id", "method": "name"},
    "draft.made": {"job_id": "id", "engine": "name", "model": "name", "model_sha256": "hash",
                   "template": "name", "unverified": "count", "risk_quotes": "count", "seconds": "number",
                   "speech_model": "name", "speech_model_sha256": "hash"},
    "deletion.receipt": {"job_id": "id", "file_id": "id", "kind": "name", "reason": "reason",
                         "key_destroyed": "flag", "files": "count"},
    "network.blocked": {"event": "name", "reason": "reason", "total": "count"},
    "key.created": {"file_id": "id"},
    "key.destroyed": {"file_id": "id", "key_destroyed": "flag", "files": "count"},
    "master_key.created": {"source": "name", "protected": "flag"},
    "service.start": {"version": "name", "pid": "count", "guard": "flag", "inbox_consent_covered": "flag"},
    "service.stop": {"reason": "reason"},
    "audit.torn_tail": {"bytes": "count"},
    "note.signed": {"job_id": "id", "note_sha256": "hash", "encrypted": "flag"},
    "note.unsigned": {"job_id": "id", "note_sha256": "hash", "reason_sha256": "hash"},
    "note.exported": {"note_sha256": "hash", "format": "name", "encrypted": "flag"},
    "audit.end_mismatch": {"remembered_seq": "count", "found_seq": "count"},
    "voice.enrolled": {"file_id": "id", "source": "name", "replaced": "flag"},
    "voice.forgotten": {"file_id": "id", "key_destroyed": "flag", "files": "count"},
}

# reasons for guard refusals arrive as phrases; the log keeps them as codes
_REASON_CODES = {
    "address is not this computer": "non_local_address",
    "name lookup of another computer": "non_local_name",
    "non-IP, non-Unix socket address": "non_ip_socket",
    "raw link-layer socket": "raw_socket",
    "reverse lookup": "reverse_lookup",
}


class AuditError(HushnoteError):
    """The audit log cannot be written or read."""

    exit_code = 8


def clean(event: str, data: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """The allowed subset of ``data`` for ``event`` and how many items were stripped."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    allowed = EVENTS[event]
    out: dict[str, Any] = {}
    stripped = 0
    for key, value in data.items():
        kind = allowed.get(key)
        if kind == "reason" and isinstance(value, str):
            value = _REASON_CODES.get(value, value)
        if kind is None or not _KINDS[kind](value):
            stripped += 1
            continue
        out[key] = value
    return out, stripped


def _line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _encode(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _iso(ts: dt.datetime) -> str:
    if ts.tzinfo is None:
        raise ValueError("audit clock must return an aware datetime")
    return ts.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class HeadKeeper(Protocol):
    """Where the log's head (last seq, its line hash) is kept a second time (``audit_head.HeadStore``)."""

    def read(self) -> tuple[int, str] | None: ...

    def write(self, seq: int, line_hash: str) -> None: ...


class AuditLog:
    """``<data>/audit.jsonl``. ``append(event, **data)`` returns the entry written. With ``head``, the head is
    kept there too after every append, and a log found shorter than it is recorded (``audit.end_mismatch``)."""

    def __init__(self, path: str | os.PathLike[str], clock: Clock = utc_now, head: HeadKeeper | None = None) -> None:
        self.path = Path(path)
        self.clock = clock
        self.head_keeper = head

    @classmethod
    def in_data_dir(cls, data_dir: str | os.PathLike[str], clock: Clock = utc_now,
                    head: HeadKeeper | None = None) -> AuditLog:
        return cls(Path(data_dir) / FILENAME, clock, head)

    def append(self, event: str, /, **data: Any) -> dict[str, Any]:
        clean_data, stripped = clean(event, data)
        if stripped:
            clean_data["stripped"] = stripped
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            seq, prev = self._tail(fd, repair=True)
            if self.head_keeper is not None:
                seq, prev = self._check_end(fd, seq, prev)
            entry = self._write_entry(fd, seq, prev, event, clean_data)
            if self.head_keeper is not None:
                self._remember(entry["seq"], entry["hash"])
            del entry["hash"]
            return entry
        finally:
            os.close(fd)  # releases the lock

    def _write_entry(self, fd: int, seq: int, prev: str, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """Append entry ``seq + 1`` (fsynced); returns it with its line hash under ``"hash"``."""
        entry: dict[str, Any] = {"seq": seq + 1, "ts": _iso(self.clock()), "event": event, "data": data,
                                 "prev": prev}
        line = _encode(entry)
        os.write(fd, line + b"\n")
        os.fsync(fd)
        return {**entry, "hash": _line_hash(line)}

    def _check_end(self, fd: int, seq: int, prev: str) -> tuple[int, str]:
        """Compare the log's end with the head kept elsewhere. Shorter than it (cut off, or the whole file
        gone), or another entry where it was: an ``audit.end_mismatch`` entry goes on record first."""
        try:
            remembered = self.head_keeper.read() if self.head_keeper is not None else None
        except Exception as exc:  # noqa: BLE001 - a locked keyring must not stop auditing
            log.warning("the audit log's remembered end could not be read (%s)", type(exc).__name__)
            return seq, prev
        if remembered is None:
            return seq, prev
        rseq, rhash = remembered
        if rseq <= 0 or (seq == rseq and prev == rhash) or (seq > rseq and _hash_of_entry(fd, rseq) == rhash):
            return seq, prev
        e = self._write_entry(fd, seq, prev, "audit.end_mismatch", {"remembered_seq": rseq, "found_seq": seq})
        return e["seq"], e["hash"]

    def _remember(self, seq: int, line_hash: str) -> None:
        try:
            if self.head_keeper is not None:
                self.head_keeper.write(seq, line_hash)
        except Exception as exc:  # noqa: BLE001 - the entry is written; only the second copy of its head failed
            log.warning("the audit log's end could not be remembered (%s)", type(exc).__name__)

    def _tail(self, fd: int, *, repair: bool) -> tuple[int, str]:
        """(seq, hash) of the last complete line. A torn last line (a crash mid-write, no newline) is cut
        off and recorded as an ``audit.torn_tail`` entry, so the chain continues from the last real entry."""
        size = os.fstat(fd).st_size
        if size == 0:
            return 0, GENESIS
        block, pos, buf = 4096, size, b""
        while pos > 0 and buf.count(b"\n") < 2:  # enough to hold the last complete line whole
            start = max(0, pos - block)
            buf = os.pread(fd, pos - start, start) + buf
            pos = start
            block *= 2
        keep = buf.rfind(b"\n") + 1  # end of the last complete line (0: none in buf)
        torn = len(buf) - keep
        if torn and repair:
            os.ftruncate(fd, pos + keep)
        complete = buf[:keep]
        if not complete:
            if torn and repair:
                self._write_torn(fd, 0, GENESIS, torn)
                return self._tail(fd, repair=False)
            return 0, GENESIS
        last = complete[:-1].rsplit(b"\n", 1)[-1]
        try:
            seq = int(json.loads(last)["seq"])
        except (ValueError, KeyError, TypeError):
            raise AuditError(f"The audit log {self.path} has a damaged last entry; run `hushnote audit verify`.",
                             path=str(self.path)) from None
        h = _line_hash(last)
        if torn and repair:
            self._write_torn(fd, seq, h, torn)
            return self._tail(fd, repair=False)
        return seq, h

    def _write_torn(self, fd: int, seq: int, prev: str, nbytes: int) -> None:
        self._write_entry(fd, seq, prev, "audit.torn_tail", {"bytes": nbytes})

    def head(self) -> tuple[int, str]:
        """(last seq, its line hash): remember it elsewhere to detect a cut-off end later."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return 0, GENESIS
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_SH)
            return self._tail(fd, repair=False)
        finally:
            os.close(fd)

    def on_guard_block(self, event: str, reason: str, total: int) -> None:
        """Ready-made ``guard.install(on_block=...)`` callback."""
        self.append("network.blocked", event=event, reason=reason, total=total)



def verify(path: str | os.PathLike[str], expect_head: tuple[int, str] | None = None
           ) -> tuple[bool, int | None, str]:
    """Check the chain. ``(True, None, summary)`` or ``(False, first bad seq, what is wrong)``.

    Detects an edited, deleted, reordered or inserted line anywhere but the very end; with
    ``expect_head=(seq, hash)`` from an earlier ``head()`` also a cut-off or rewritten end.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        if expect_head and expect_head[0] > 0:
            return False, 1, "the audit log is missing"
        return True, None, "no audit log yet (0 entries)"
    if raw and not raw.endswith(b"\n"):
        raw += b"\n"  # a torn final line is reported as unparseable below
    lines = raw.split(b"\n")[:-1] if raw else []
    prev = GENESIS
    expected = 1
    for i, line in enumerate(lines):
        try:
            entry = json.loads(line)
            seq = entry["seq"]
            if not isinstance(entry, dict) or not isinstance(seq, int) or set(entry) != {
                    "seq", "ts", "event", "data", "prev"}:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return False, expected, f"line {i + 1} is not a valid audit entry (expected entry {expected})"
        if entry["prev"] != prev:
            if seq != expected:
                return False, expected, (f"entry {expected} is missing or out of place "
                                         f"(line {i + 1} holds entry {seq})")
            nxt = lines[i + 1] if i + 1 < len(lines) else None
            this_altered = i == 0 or (nxt is not None and _prev_of(nxt) != _line_hash(line))
            bad = seq if this_altered else seq - 1
            return False, bad, f"entry {bad} was altered (the chain breaks at line {i + 1})"
        if seq != expected:
            return False, expected, f"entry {expected} is missing or out of place (line {i + 1} holds {seq})"
        prev = _line_hash(line)
        expected += 1
    count = expected - 1
    if expect_head is not None:
        hseq, hhash = expect_head
        if count < hseq:
            return False, count + 1, (f"the log ends at entry {count} but entry {hseq} was written: "
                                      f"entries {count + 1} to {hseq} were cut off its end")
        if hseq > 0 and _line_hash(lines[hseq - 1]) != hhash:
            return False, hseq, f"entry {hseq} was altered (it does not match the remembered end)"
    for line in lines:
        lost = _end_mismatch(line)
        if lost is not None:
            return False, lost[0], lost[1]
    return True, None, f"{count} entries, chain intact"


def _hash_of_entry(fd: int, seq: int) -> str | None:
    """The line hash of entry ``seq`` (the log's ``seq``-th line), or None if there is no such line."""
    size = os.fstat(fd).st_size
    lines = os.pread(fd, size, 0).split(b"\n")
    return _line_hash(lines[seq - 1]) if 0 < seq < len(lines) else None


def _end_mismatch(line: bytes) -> tuple[int, str] | None:
    """(first untrustworthy entry, what happened) for an ``audit.end_mismatch`` entry, else None."""
    if b'"event":"audit.end_mismatch"' not in line:
        return None
    e = json.loads(line)
    found, remembered = int(e["data"].get("found_seq", 0)), int(e["data"].get("remembered_seq", 0))
    if found < remembered:
        return found + 1, (f"entries {found + 1} to {remembered} were cut off the end of the log (found missing "
                           f"when entry {e['seq']} was written; entries from {found + 1} on were written after that)")
    return remembered, (f"entry {remembered} was altered or replaced (found when entry {e['seq']} was written)")


def _prev_of(line: bytes) -> str | None:
    try:
        v = json.loads(line).get("prev")
        return v if isinstance(v, str) else None
    except (ValueError, AttributeError):
        return None


def _parsed(path: str | os.PathLike[str]) -> Iterator[dict[str, Any] | None]:
    """Each line of the log as an entry, or None for a line that is not one; nothing if there is no log."""
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return
    for line in text.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            e = None
        yield e if isinstance(e, dict) else None


def entries(path: str | os.PathLike[str], event: str | None = None) -> Iterator[dict[str, Any]]:
    """The log's entries (of ``event`` only, if given), oldest first; unreadable lines are skipped."""
    for e in _parsed(path):
        if e is not None and (event is None or e.get("event") == event):
            yield e


def show(path: str | os.PathLike[str]) -> Iterator[str]:
    """One readable line per entry: ``#12  2026-05-09 10:01:02Z  draft.made  engine=extractive …``."""
    for e in _parsed(path):
        data = e.get("data") if e is not None else None
        if e is None or not isinstance(data, dict):
            yield "(unreadable line)"
            continue
        ts = re.sub(r"\.\d+Z$", "Z", str(e.get("ts", "")).replace("T", " "))
        yield f"#{e.get('seq')}  {ts}  {e.get('event')}  {' '.join(f'{k}={v}' for k, v in sorted(data.items()))}".rstrip()
