"""The audit log: hash chain, tamper detection at the right entry, no PHI, several writer processes."""

from __future__ import annotations

import datetime as dt
import json
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hushnote.daemon.privacy import audit
from hushnote.daemon.privacy.audit import GENESIS, AuditLog, show, verify

from tests.support.clock import FakeClock
from tests.support.paths import REPO

START = dt.datetime(2026, 5, 9, 10, 0, 0, tzinfo=dt.UTC)


def ticking() -> FakeClock:
    """A clock that moves one second at each read: every entry has its own timestamp."""
    return FakeClock(START, tick=dt.timedelta(seconds=1))


def _log(tmp_path: Path, n: int = 8) -> AuditLog:
    log = AuditLog.in_data_dir(tmp_path / "data", clock=ticking())
    for i in range(n):
        log.append("draft.made", job_id=f"job-{i}", engine="extractive", template="soap", unverified=i)
    return log


def _lines(log: AuditLog) -> list[bytes]:
    return log.path.read_bytes().splitlines()


def _write(log: AuditLog, lines: list[bytes]) -> None:
    log.path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_append_and_verify(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    lines = _lines(log)
    first = json.loads(lines[0])
    assert first == {"seq": 1, "ts": "2026-05-09T10:00:01.000000Z", "event": "draft.made", "prev": GENESIS,
                     "data": {"job_id": "job-0", "engine": "extractive", "template": "soap", "unverified": 0}}
    assert json.loads(lines[1])["prev"] == audit._line_hash(lines[0])
    assert verify(log.path) == (True, None, "3 entries, chain intact")
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert log.head() == (3, audit._line_hash(lines[2]))
    assert verify(log.path, expect_head=log.head())[0]
    assert verify(tmp_path / "none.jsonl") == (True, None, "no audit log yet (0 entries)")


def test_phi_is_stripped(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", clock=ticking())
    e = log.append("ingest", job_id="a1b2", source="inbox", patient="Jane Doe", transcript="I feel sad",
                   audio_sha256="not a hash", size_bytes=1234)
    assert e["data"] == {"job_id": "a1b2", "source": "inbox", "size_bytes": 1234, "stripped": 3}
    e = log.append("ingest", job_id="jane doe session.m4a", source="Jane Doe")
    assert e["data"] == {"stripped": 2}
    e = log.append("deletion.receipt", file_id="f-9", reason="Client asked me to delete it",
                   key_destroyed=True, files=1)
    assert e["data"] == {"file_id": "f-9", "key_destroyed": True, "files": 1, "stripped": 1}
    e = log.append("recording.stop", recording_id="r1", duration_s=float("nan"), chunks=True)
    assert e["data"] == {"recording_id": "r1", "stripped": 2}
    with pytest.raises(ValueError, match="unknown audit event"):
        log.append("note.text", text="anything")
    text = log.path.read_text()
    for phi in ("Jane", "sad", "Client", "m4a"):
        assert phi not in text
    assert verify(log.path)[0]


def test_every_event_in_the_brief_is_known() -> None:
    for ev in ("ingest", "recording.start", "recording.stop", "consent.confirmed", "draft.made",
               "deletion.receipt", "network.blocked", "key.created", "key.destroyed"):
        assert ev in audit.EVENTS


def test_clock_must_be_aware(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl", clock=lambda: dt.datetime(2026, 1, 1))  # noqa: DTZ001 - the point
    with pytest.raises(ValueError, match="aware"):
        log.append("service.stop", reason="signal")


@pytest.mark.parametrize("k", [1, 4, 7])
def test_edited_entry_detected_at_its_seq(tmp_path: Path, k: int) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    lines[k - 1] = lines[k - 1].replace(b'"unverified":', b'"unverified":1')
    _write(log, lines)
    ok, bad, msg = verify(log.path)
    assert (ok, bad) == (False, k), msg


def test_edited_prev_field_detected(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    e = json.loads(lines[4])
    e["prev"] = "0" * 64
    lines[4] = json.dumps(e, sort_keys=True, separators=(",", ":")).encode()
    _write(log, lines)
    assert verify(log.path)[:2] == (False, 5)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_deleted_entry_detected(tmp_path: Path, k: int) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    del lines[k - 1]
    _write(log, lines)
    ok, bad, msg = verify(log.path)
    assert (ok, bad) == (False, k), msg
    assert "missing" in msg


def test_deleted_range_in_the_middle_detected(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    _write(log, lines[:2] + lines[5:])
    assert verify(log.path)[:2] == (False, 3)


def test_reordered_entries_detected(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    lines[2], lines[3] = lines[3], lines[2]
    _write(log, lines)
    ok, bad, msg = verify(log.path)
    assert (ok, bad) == (False, 3), msg


def test_inserted_entry_detected(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    forged = json.loads(lines[3])
    forged["data"] = {"job_id": "forged"}
    lines.insert(4, json.dumps(forged, sort_keys=True, separators=(",", ":")).encode())  # a copy, edited
    _write(log, lines)
    ok, bad, msg = verify(log.path)
    assert (ok, bad) == (False, 5), msg
    lines = _lines(log)
    del lines[4]
    lines.insert(4, b"not json at all")
    _write(log, lines)
    assert verify(log.path)[:2] == (False, 5)


def test_cut_off_end_needs_the_remembered_head(tmp_path: Path) -> None:
    log = _log(tmp_path)
    head = log.head()
    lines = _lines(log)
    _write(log, lines[:-2])
    assert verify(log.path)[0]  # undetectable from the file alone…
    ok, bad, msg = verify(log.path, expect_head=head)
    assert (ok, bad) == (False, 7), msg  # …but not against the head kept elsewhere
    lines[-1] = lines[-1].replace(b"job-7", b"job-X")
    _write(log, lines)
    assert verify(log.path, expect_head=head)[:2] == (False, 8)


def test_torn_tail_is_repaired_and_recorded(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    with open(log.path, "ab") as fh:
        fh.write(b'{"seq":4,"ts":"2026-05-0')  # a crash mid-write
    assert verify(log.path)[:2] == (False, 4)
    log.append("service.start", version="0.1.0", pid=123, guard=True)
    ok, bad, msg = verify(log.path)
    assert ok, msg
    events = [json.loads(x)["event"] for x in _lines(log)]
    assert events[-2:] == ["audit.torn_tail", "service.start"]
    assert json.loads(_lines(log)[-2])["data"] == {"bytes": 24}


def test_several_processes_append_safely(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    script = textwrap.dedent(f"""
        import sys
        from hushnote.daemon.privacy.audit import AuditLog
        log = AuditLog({str(path)!r})
        for i in range(40):
            log.append("ingest", job_id=f"p{{sys.argv[1]}}-{{i}}", size_bytes=i)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(n)], cwd=REPO) for n in range(4)]
    for p in procs:
        assert p.wait(timeout=120) == 0
    ok, bad, msg = verify(path)
    assert ok, msg
    entries = [json.loads(x) for x in path.read_bytes().splitlines()]
    assert [e["seq"] for e in entries] == list(range(1, 161))
    assert len({e["data"]["job_id"] for e in entries}) == 160


def test_callback_for_the_guard(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl", clock=ticking())
    log.on_guard_block("socket.connect", "address is not this computer", 3)
    log.on_guard_block("socket.__new__", "raw link-layer socket", 4)
    entries = [json.loads(x) for x in _lines(log)]
    assert entries[0]["data"] == {"event": "socket.connect", "reason": "non_local_address", "total": 3}
    assert entries[1]["data"] == {"event": "socket.__new__", "reason": "raw_socket", "total": 4}


def test_show(tmp_path: Path) -> None:
    log = _log(tmp_path, 2)
    out = list(show(log.path))
    assert out == ["#1  2026-05-09 10:00:01Z  draft.made  engine=extractive job_id=job-0 template=soap unverified=0",
                   "#2  2026-05-09 10:00:02Z  draft.made  engine=extractive job_id=job-1 template=soap unverified=1"]
    assert list(show(tmp_path / "missing.jsonl")) == []
