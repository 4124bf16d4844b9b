"""``hushnote status|queue|pause|resume|retry|cancel`` through the real CLI parser against a real IpcServer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hushnote.daemon.cli import control
from hushnote.daemon.cli import main as cli
from hushnote.daemon.core import config
from hushnote.ipc import paths
from hushnote.ipc.protocol import IpcError
from hushnote.ipc.server import IpcServer, Router
from hushnote.ipc.transport import NOT_RUNNING


class FakeDaemon:
    """The daemon's side of the contract, in memory: just enough to answer each op with the agreed shapes."""

    def __init__(self) -> None:
        self.state = "running"
        self.current: dict[str, Any] | None = {"id": "a1b2c3", "kind": "recording", "stage": "transcribe",
                                               "fraction": 0.4, "session": "Session 2025-03-01 09-00"}
        self.running: list[dict[str, Any]] | None = None  # None: [current]
        self.jobs: list[dict[str, Any]] = [
            {"id": "a1b2c3", "kind": "recording", "state": "running", "priority": 10, "attempts": 1,
             "created": "2025-03-01T09:00:00+00:00", "updated": "2025-03-01T09:01:00+00:00", "error": None,
             "reason": None, "session": "Session 2025-03-01 09-00"},
            {"id": "d4e5f6", "kind": "inbox", "state": "failed", "priority": 0, "attempts": 3,
             "created": "2025-03-01T08:00:00", "updated": "2025-03-01T08:30:00",
             "error": "not_audio: the file is not usable audio", "reason": "The file is not audio (or is damaged).",
             "session": "intake notes"},
        ]
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def router(self) -> Router:
        r = Router()
        for op in ("status", "queue", "pause", "resume", "retry", "cancel"):
            r.register(op, getattr(self, op))
        return r

    def _job(self, id: str) -> dict[str, Any]:  # noqa: A002
        for j in self.jobs:
            if j["id"] == id:
                return j
        raise IpcError("not_found", f"There is no job {id}. `hushnote queue` lists the jobs.")

    def status(self) -> dict[str, Any]:
        self.calls.append(("status", {}))
        counts = {s: sum(1 for j in self.jobs if j["state"] == s)
                  for s in ("queued", "running", "done", "failed", "cancelled")}
        running = self.running if self.running is not None else [self.current] if self.current else []
        return {"state": self.state, "pid": 4242, "version": "0.1.0", "queue": counts, "current": self.current,
                "running": running, "next_retention": "2025-03-01T12:00:00+00:00", "failed_audio_kept": 1}

    def queue(self) -> dict[str, Any]:
        return {"jobs": self.jobs}

    def pause(self) -> dict[str, Any]:
        self.state = "paused"
        return {"state": self.state}

    def resume(self) -> dict[str, Any]:
        self.state = "running"
        return {"state": self.state}

    def retry(self, id: str) -> dict[str, Any]:  # noqa: A002
        self.calls.append(("retry", {"id": id}))
        job = self._job(id)
        if job["state"] != "failed":
            raise IpcError("conflict", f"Job {id} is {job['state']}; only failed jobs can be retried.")
        job["state"] = "queued"
        return {"id": id, "state": "queued"}

    def cancel(self, id: str) -> dict[str, Any]:  # noqa: A002
        job = self._job(id)
        if job["state"] == "running":
            raise IpcError("conflict", f"Job {id} is running; it cannot be cancelled now.")
        job["state"] = "cancelled"
        return {"id": id, "state": "cancelled"}


@pytest.fixture()
def fake(home: Path) -> Iterator[FakeDaemon]:
    d = FakeDaemon()
    with IpcServer(paths.socket_path(config.defaults()), d.router()):
        yield d


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_status(fake: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "status")
    assert code == 0 and err == ""
    assert "The hushnote service is running (process 4242, version 0.1.0)." in out
    assert "Working on: Session 2025-03-01 09-00 (recording, job a1b2c3), transcribing, 40% done." in out
    assert "Queue: 0 waiting, 1 in progress, 0 done, 1 failed, 0 cancelled." in out
    assert "Next clean-up of old audio: 2025-03-01" in out
    assert "Audio kept from failed jobs: 1 recording." in out


def test_status_paused_and_idle(fake: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    fake.state, fake.current = "paused", None
    code, out, _ = run(capsys, "status")
    assert code == 0
    assert "The hushnote service is paused" in out and "`hushnote resume`" in out
    assert "Working on: nothing right now." in out


def test_status_lists_every_running_job(fake: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    assert fake.current is not None
    fake.running = [fake.current, {"id": "f0f0f0", "kind": "inbox", "stage": "draft", "fraction": 0.9,
                                   "session": "intake notes"}]
    code, out, _ = run(capsys, "status")
    working = [line for line in out.splitlines() if line.startswith("Working on:")]
    assert code == 0 and working == [
        "Working on: Session 2025-03-01 09-00 (recording, job a1b2c3), transcribing, 40% done.",
        "Working on: intake notes (inbox file, job f0f0f0), drafting the note, 90% done."]


def test_queue_table(fake: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "queue")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "SESSION", "KIND", "STATE", "TRIES", "ADDED", "UPDATED"]
    assert lines[1].split()[:8] == ["a1b2c3", "Session", "2025-03-01", "09-00", "recording", "in", "progress", "1"]
    assert lines[2].startswith("d4e5f6") and "intake notes" in lines[2] and "inbox file" in lines[2]
    assert "failed" in lines[2] and "2025-03-01 08:00" in lines[2]  # no zone given: shown as it came
    assert lines[3] == "    Problem: The file is not audio (or is damaged)."  # plain words, not "not_audio"
    assert "not_audio" not in out
    assert "2 jobs. Retry a failed one with `hushnote retry ID`." in out


def test_queue_empty(fake: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    fake.jobs.clear()
    assert run(capsys, "queue") == (0, "The queue is empty.\n", "")


def test_pause_resume(fake: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "pause")
    assert code == 0 and out.startswith("Processing is paused.") and fake.state == "paused"
    code, out, _ = run(capsys, "resume")
    assert code == 0 and out.startswith("Processing resumed.") and fake.state == "running"


def test_retry_and_cancel(fake: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "retry", "d4e5f6")
    assert code == 0 and out == "Job d4e5f6 will be tried again: it is back in the queue.\n"
    assert ("retry", {"id": "d4e5f6"}) in fake.calls
    code, out, _ = run(capsys, "cancel", "d4e5f6")
    assert code == 0 and out == "Job d4e5f6 is cancelled. It will not be processed.\n"


def test_refusals_are_plain_messages(fake: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "cancel", "a1b2c3")
    assert (code, out) == (1, "") and err == "Job a1b2c3 is running; it cannot be cancelled now.\n"
    code, out, err = run(capsys, "retry", "nope")
    assert (code, out) == (1, "") and err.startswith("There is no job nope.")
    code, _, err = run(capsys, "retry", "a1b2c3", "--json")
    assert code == 1 and "only failed jobs" in err


@pytest.mark.parametrize("argv", [["status"], ["queue"], ["pause"], ["resume"], ["retry", "d4e5f6"],
                                  ["cancel", "d4e5f6"]])
def test_json_is_the_raw_result(fake: FakeDaemon, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    expected = {"status": fake.status, "queue": fake.queue}.get(argv[0])
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0 and err == ""
    result = json.loads(out)
    if expected is not None:
        assert result == expected()
    elif argv[0] in ("pause", "resume"):
        assert result == {"state": fake.state}
    else:
        assert result == {"id": "d4e5f6", "state": "queued" if argv[0] == "retry" else "cancelled"}


@pytest.mark.parametrize("argv", [["status"], ["queue", "--json"], ["pause"], ["resume"], ["retry", "1"],
                                  ["cancel", "1", "--debug"]])
def test_not_running(home: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 3 and out == ""
    assert err == NOT_RUNNING + "\n"
    assert "Traceback" not in err


def test_not_running_with_a_stale_socket_file(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    srv = IpcServer(paths.socket_path(config.defaults()), FakeDaemon().router()).start()
    srv.close()
    assert run(capsys, "status")[0] == 3


def test_formatters_survive_odd_shapes() -> None:
    # A newer or older daemon may leave fields out: never a crash, always a sentence.
    assert "running" in control.format_status({"state": "running"})
    assert "Queue: 0 waiting" in control.format_status({"queue": "x", "current": {"fraction": True}})
    assert control.format_queue({"jobs": [{"id": "x"}, "junk"]}).splitlines()[1].startswith("x")
    older = control.format_queue({"jobs": [{"id": "x", "state": "failed", "error": "something: old"}]})
    assert "Problem: something: old" in older  # an older service: its text as it came
    assert "Working on: job j (inbox file), waiting" in control.format_status(
        {"current": {"id": "j", "kind": "inbox", "stage": "waiting"}})  # an older service: current only
    assert control.format_queue({}) == "The queue is empty."
    assert control.when("not a date") == "not a date" and control.when(None) == "unknown"
    assert control.format_retry({"id": "1", "state": "running"}) == "Job 1 is now in progress."
    assert control.format_pause({"state": "running"}) == "The service is running."


def test_queue_into_head_through_a_real_pipe(fake: FakeDaemon, tmp_path: Path) -> None:
    """``hushnote queue | head -n 3``: head leaves after three lines; the command says nothing about it
    (no BrokenPipeError, no "Exception ignored") and exits 0. The listing is far longer than a pipe holds."""
    fake.jobs = [{**fake.jobs[1], "id": f"{i:06x}", "session": f"session number {i}"} for i in range(20000)]
    err = tmp_path / "err.txt"
    cmd = f"{sys.executable} -m hushnote.daemon.cli queue 2>{err}; echo \"exit=$?\" >&2"
    proc = subprocess.run(["sh", "-c", f"({cmd}) 2>>{err} | head -n 3"], capture_output=True, text=True,
                          timeout=120, env=os.environ.copy())
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0].split()[:2] == ["ID", "SESSION"] and len(proc.stdout.splitlines()) == 3
    assert err.read_text() == "exit=0\n"


def test_queue_notes_are_plain_words_too() -> None:
    out = control.format_queue({"jobs": [{"id": "x", "state": "done", "session": "s",
                                          "warning": "audio_ended_early: the recording ended early at 00:00:21"}]})
    assert "    Note: The recording ended early at 00:00:21" in out and "audio_ended_early" not in out
    assert "Note: Plain text: kept as it is" in control.format_queue(
        {"jobs": [{"id": "x", "warning": "Plain text: kept as it is"}]})
