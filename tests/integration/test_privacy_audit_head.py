"""A shortened audit log is detected: the service keeps the log's head a second time (keyring, or a 0600 file in
the settings folder) and ``hushnote audit verify`` compares. Real service, real log, entries cut off its end."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

from hushnote.daemon.core.config import config_dir
from hushnote.daemon.privacy import audit, audit_head
from hushnote.daemon.service.service import Service

from tests.support.cli import run_cli
from tests.support.config import make_cfg, write_toml


def verify_cmd(home: Path) -> subprocess.CompletedProcess[str]:
    """``hushnote audit verify`` with the settings ``run_service`` uses."""
    return run_cli("audit", "verify", "--config", str(write_toml(make_cfg(home), home / "config.toml")))


def run_service(home: Path, times: int) -> Path:
    """Start and stop the service ``times`` times (each writes service.start … service.stop): the log's path."""
    cfg = make_cfg(home)
    for _ in range(times):
        with Service(cfg, ipc=False):
            pass
    return cfg.path("paths.data") / audit.FILENAME


def test_cutting_entries_off_the_log_is_detected(home: Path) -> None:
    log = run_service(home, 3)
    lines = log.read_bytes().splitlines(keepends=True)
    assert len(lines) >= 6
    r = verify_cmd(home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"intact: {len(lines)} entries" in r.stdout and "compared with the copy kept in" in r.stdout
    head_file = next(config_dir().glob("audit-head-*.json"))  # no keyring here: the 0600 file fallback
    assert stat.S_IMODE(head_file.stat().st_mode) == 0o600
    assert json.loads(head_file.read_text())["seq"] == len(lines)

    log.write_bytes(b"".join(lines[:-2]))  # the last two entries cut off: the chain alone still looks whole
    assert audit.verify(log)[0]
    r = verify_cmd(home)
    assert r.returncode == 1, r.stdout
    assert "has been changed" in r.stdout and f"entries {len(lines) - 1} to {len(lines)} were cut off" in r.stdout
    assert f"Entries 1 to {len(lines) - 2} are intact" in r.stdout

    run_service(home, 1)  # the service writes on: the loss stays on record in the chain itself
    r = verify_cmd(home)
    assert r.returncode == 1, r.stdout
    assert f"entries {len(lines) - 1} to {len(lines)} were cut off the end of the log" in r.stdout
    events = [json.loads(x)["event"] for x in log.read_bytes().splitlines()]
    assert events[len(lines) - 2:] == ["audit.end_mismatch", "service.start", "service.stop"]
    text = log.read_text(encoding="ascii")
    assert str(home) not in text and "Notes" not in text  # ids and numbers only


def test_a_deleted_or_rewritten_log_is_detected(home: Path) -> None:
    log = run_service(home, 2)
    original = log.read_bytes()
    log.unlink()
    r = verify_cmd(home)
    assert r.returncode == 1 and "the audit log is missing" in r.stdout, r.stdout
    lines = original.splitlines(keepends=True)
    last = json.loads(lines[-1])
    last["data"] = {"reason": "crashed"}  # the last entry rewritten, chain kept consistent
    lines[-1] = json.dumps(last, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    log.write_bytes(b"".join(lines))
    assert audit.verify(log)[0]
    r = verify_cmd(home)
    assert r.returncode == 1 and f"entry {len(lines)} was altered" in r.stdout, r.stdout


def test_verify_says_when_no_copy_of_the_end_is_kept_yet(home: Path) -> None:
    data = make_cfg(home).path("paths.data")
    log = audit.AuditLog.in_data_dir(data)  # a log written without a head (an old version)
    log.append("service.start", version="0.1.0", pid=1, guard=True)
    r = verify_cmd(home)
    assert r.returncode == 0 and "No copy of its end is kept yet" in r.stdout, r.stdout
    v = audit_head.verify(data)
    assert v.ok and v.first_bad is None
