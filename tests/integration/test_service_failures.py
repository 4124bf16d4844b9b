"""A failed job as the clinician meets it, through the real service and its socket: a file that is not audio
is named (by session) and explained (in plain words) in the event, in ``status`` and in ``hushnote queue``.
Nothing of that name reaches the service's log or the audit log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hushnote.daemon.cli import main as cli
from hushnote.daemon.privacy import audit
from hushnote.daemon.service.service import Service
from hushnote.ipc.client import IpcClient
from hushnote.ipc.paths import endpoint

from tests.support.config import make_cfg
from tests.support.service import FAST_INBOX

NOT_AUDIO = "The file is not audio (or is damaged)."


def test_a_rejected_file_is_a_named_failure_with_a_plain_reason(
        home: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = make_cfg(home)  # nothing here reaches a model: the file is rejected at the door
    notes = cfg.path("paths.notes")
    with Service(cfg, inbox_opts=FAST_INBOX), IpcClient(endpoint(cfg)).subscribe(timeout=30) as sub:
        # looks like audio by its name, is a text file inside
        (cfg.path("paths.inbox") / "Dana Smith week 3.m4a").write_text("these are my shopping notes\n")
        done = next(ev for ev in sub if ev.name == "job.done")
        report = notes / "Dana Smith week 3.error.txt"
        assert done.data == {"id": done.data["id"], "state": "failed", "session": "Dana Smith week 3",
                             "reason": NOT_AUDIO, "retryable": False, "report": str(report)}
        assert report.exists()
        status = IpcClient(endpoint(cfg)).call("status")
        assert status["failed_recent"] == [done.data]
        assert status["running"] == [] and status["current"] is None
        assert cli.main(["queue"]) == 0
    out = capsys.readouterr().out
    assert "Dana Smith week 3" in out and f"Problem: {NOT_AUDIO}" in out and "not_audio" not in out
    # the session name is for the clinician's screen only
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("hushnote"))
    assert "Dana" not in logged and "Smith" not in logged
    text = (cfg.path("paths.data") / audit.FILENAME).read_text(encoding="ascii")
    assert "Dana" not in text and "Smith" not in text
