"""``hushnote audit verify|show``, ``hushnote consent-text`` and ``hushnote doctor`` as a clinician runs them
(real subprocesses of the ``hushnote`` entry point, real files)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hushnote.daemon.privacy import audit

from tests.support.cli import run_cli


def hushnote(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HUSHNOTE_CONFIG"}
    return run_cli(*args, "--config", str(cfg), env=env)


@pytest.fixture()
def cfg_file(home: Path) -> Path:
    p = home / "config.toml"
    p.write_text(f'[paths]\ndata = "{home / "data" / "hn"}"\nnotes = "{home / "Notes"}"\ninbox = "{home / "Inbox"}"\n'
                 '[transcription]\nmodel = "tiny.en"\nbeam_size = 1\n'
                 '[retention]\naudio_days = 7\nmax_audio_days = 14\ntranscript_days = 30\n')
    return p


def make_log(home: Path, n: int = 8) -> audit.AuditLog:
    log = audit.AuditLog.in_data_dir(home / "data" / "hn")
    log.append("service.start", version="0.1.0", pid=42, guard=True)
    for i in range(n - 1):
        log.append("draft.made", job_id=f"job{i}", engine="extractive", template="soap", unverified=i)
    return log


def lines_of(log: audit.AuditLog) -> list[bytes]:
    return log.path.read_bytes().splitlines()


def write(log: audit.AuditLog, lines: list[bytes]) -> None:
    log.path.write_bytes(b"".join(x + b"\n" for x in lines))


def test_audit_verify_intact_and_show(home: Path, cfg_file: Path) -> None:
    r = hushnote(cfg_file, "audit", "verify")
    assert r.returncode == 0 and "no audit log yet" in r.stdout
    make_log(home)
    r = hushnote(cfg_file, "audit", "verify")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("The audit log is intact: 8 entries, chain intact.")
    r = hushnote(cfg_file, "audit", "show", "-n", "2")
    shown = r.stdout.splitlines()
    assert r.returncode == 0 and len(shown) == 2
    assert shown[0].startswith("#7 ") and "draft.made" in shown[0] and "job_id=job5" in shown[0]
    assert shown[1].startswith("#8 ")
    r = hushnote(cfg_file, "audit", "show", "--json")
    got = json.loads(r.stdout)
    assert [e["seq"] for e in got] == list(range(1, 9)) and got[0]["event"] == "service.start"
    assert [e["seq"] for e in json.loads(hushnote(cfg_file, "audit", "show", "--json", "-n", "3").stdout)] == [6, 7, 8]


@pytest.mark.parametrize("how", ["edit", "delete", "reorder"])
@pytest.mark.parametrize("k", [1, 4, 7])
def test_audit_verify_names_the_first_broken_entry(home: Path, cfg_file: Path, how: str, k: int) -> None:
    log = make_log(home)
    lines = lines_of(log)
    if how == "edit":  # a changed value, the line otherwise intact
        lines[k - 1] = lines[k - 1].replace(b'"pid":42', b'"pid":43') if k == 1 else \
            lines[k - 1].replace(f'"unverified":{k - 2}'.encode(), b'"unverified":0' if k > 2 else b'"unverified":9')
        assert lines[k - 1] != lines_of(log)[k - 1]
    elif how == "delete":
        del lines[k - 1]
    else:
        lines[k - 1], lines[k] = lines[k], lines[k - 1]
    write(log, lines)
    r = hushnote(cfg_file, "audit", "verify")
    assert r.returncode == 1, r.stdout
    first = r.stdout.splitlines()[0]
    assert first.startswith("The audit log has been changed: entry ") and f"entry {k} " in first, r.stdout
    if k > 1:
        assert f"Entries 1 to {k - 1} are intact; entry {k} and everything after it cannot be trusted." in r.stdout
    else:
        assert "No entry in it can be trusted." in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_consent_text_uses_the_configured_days(cfg_file: Path) -> None:
    r = hushnote(cfg_file, "consent-text")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "The recording is made on this laptop, and the draft of my note is written on this laptop too" in text
    assert "Nothing goes anywhere" in text
    assert "The recording is deleted as soon as I sign my note, and at the latest 7 days after my note is written" in text
    assert "kept at most 14 days" in text
    assert "The written transcript is deleted 30 days after my note is written." in text


def test_doctor_reports_a_broken_audit_chain(home: Path, cfg_file: Path) -> None:
    log = make_log(home, 5)
    lines = lines_of(log)
    del lines[2]
    write(log, lines)
    r = hushnote(cfg_file, "doctor", "--json", "--no-speed")
    assert r.returncode == 1, r.stdout + r.stderr
    report = json.loads(r.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is False
    assert checks["audit"]["status"] == "FAIL" and checks["audit"]["details"]["first_bad_entry"] == 3
    assert checks["guard"]["status"] == "OK" and checks["guard"]["details"]["blocked"] == 0
    assert checks["service_guard"]["status"] == "WARN" and checks["service_guard"]["details"]["running"] is False
    assert checks["speech_model"]["status"] == "OK" and "tiny.en" in checks["speech_model"]["summary"]
    assert "speed" not in checks
    plain = hushnote(cfg_file, "doctor", "--no-speed")
    assert plain.returncode == 1
    rows = plain.stdout.splitlines()
    assert any(x.startswith("FAIL  Audit log: changed: entry 3 is missing") for x in rows), plain.stdout
    assert all(x.split()[0] in ("OK", "WARN", "FAIL") for x in rows[:-1]) and rows[-1].startswith("Something")


def test_doctor_counts_refusals_recorded_in_the_audit_log(home: Path, cfg_file: Path) -> None:
    log = make_log(home, 3)
    log.on_guard_block("socket.connect", "address is not this computer", 1)
    report = json.loads(hushnote(cfg_file, "doctor", "--json", "--no-speed").stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["audit"]["status"] == "WARN" and checks["audit"]["details"]["network_blocked_entries"] == 1
    assert "4 entries, chain intact; it records 1 refused network attempt(s)" in checks["audit"]["summary"]
