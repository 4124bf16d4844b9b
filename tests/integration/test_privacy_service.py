"""The service's privacy wiring, in process: audit entries (start/stop, consent, draft made, deletion
receipts), the inbox consent hold, and the IPC socket folder/file checks. Real tiny.en, real files."""

from __future__ import annotations

import os
import shutil
import socket
import stat
from pathlib import Path

import pytest
from hushnote.daemon.models import registry as models
from hushnote.daemon.privacy import audit
from hushnote.daemon.service.service import Service
from hushnote.ipc.peercred import PeerCredError

from tests.support.config import TINY, make_cfg
from tests.support.isolation import NOBODY, run_isolated
from tests.support.service import FAST_INBOX, audit_entries, audit_of
from tests.support.speech import JFK
from tests.support.waiting import wait_for


def test_a_processed_file_leaves_a_complete_phi_free_trail(home: Path, eval_dir: Path) -> None:
    cfg = make_cfg(home, **TINY, retention__audio_days=0)  # the audio goes at the first sweep after the note
    name = "Jane Doe intake session.flac"
    with Service(cfg, ipc=False, inbox_opts=FAST_INBOX) as svc:
        assert svc.audit is not None and svc.store is not None
        shutil.copy(eval_dir / "speech" / JFK, cfg.path("paths.inbox") / name)
        store = svc.store
        assert wait_for(lambda: store.counts().get("done") == 1, 120), store.jobs()
        job = store.jobs()[0]
        assert wait_for(lambda: audit_of(cfg, "deletion.receipt"), 30), audit_entries(cfg)
    seq = [e["event"] for e in audit_entries(cfg)]
    assert seq[0] == "service.start" and seq[-1] == "service.stop", seq
    start = audit_of(cfg, "service.start")[0]
    assert start["pid"] == os.getpid() and start["inbox_consent_covered"] is True
    assert isinstance(start["guard"], bool)
    assert audit_of(cfg, "consent.confirmed") == [{"job_id": job.id, "method": "inbox_consent_covered"}]
    [draft] = audit_of(cfg, "draft.made")
    assert draft["job_id"] == job.id and draft["engine"] == "extractive" and draft["template"] == "soap"
    assert draft["speech_model"] == "tiny.en" and draft["speech_model_sha256"] == models.TINY_EN_SHA256
    assert isinstance(draft["unverified"], int) and isinstance(draft["risk_quotes"], int)
    assert "stripped" not in draft
    assert audit_of(cfg, "deletion.receipt") == [{"job_id": job.id, "kind": "audio", "reason": "retention.audio_days"}]
    assert audit_of(cfg, "service.stop") == [{"reason": "stopped"}]
    text = (cfg.path("paths.data") / audit.FILENAME).read_text(encoding="ascii")
    for word in ("Jane", "Doe", "intake", ".flac", str(home)):
        assert word not in text
    assert audit.verify(cfg.path("paths.data") / audit.FILENAME)[0]


def test_inbox_files_are_held_when_consent_is_not_covered(home: Path, eval_dir: Path) -> None:
    cfg = make_cfg(home, **TINY, inbox__consent_covered=False)
    inbox = cfg.path("paths.inbox")
    with Service(cfg, ipc=False, inbox_opts=FAST_INBOX) as svc:
        assert svc.store is not None
        store = svc.store
        shutil.copy(eval_dir / "speech" / JFK, inbox / "client A.flac")
        assert wait_for(lambda: (inbox / "failed" / "client A.flac").exists(), 30)
        assert wait_for(lambda: list(cfg.path("paths.notes").glob("*.error.txt")), 10)
        [job] = store.jobs()
        assert job.state == "failed" and job.rejected
        assert job.last_error == "consent_not_confirmed: consent for inbox recordings is not confirmed"
    assert not (inbox / "client A.flac").exists()
    assert not list(cfg.path("paths.notes").glob("*.note.md"))  # nothing was processed
    [report] = cfg.path("paths.notes").glob("*.error.txt")
    text = report.read_text(encoding="utf-8")
    assert "consent for inbox recordings is not confirmed" in text
    assert "inbox.consent_covered = true" in text and "hushnote config path" in text
    assert "failed/client A.flac" in text  # where the held file is (the clinician's own report)
    assert audit_of(cfg, "service.start")[0]["inbox_consent_covered"] is False
    assert audit_of(cfg, "consent.confirmed") == [] and audit_of(cfg, "draft.made") == []


# ----------------------------------------------------------------------------- the socket's folder and file


def _sock_dir(home: Path) -> Path:
    return home / "runtime" / "hushnote"


def test_world_writable_socket_folder_is_refused(home: Path) -> None:
    cfg = make_cfg(home, **TINY)
    d = _sock_dir(home)
    d.mkdir()
    d.chmod(0o777)
    with pytest.raises(PeerCredError) as exc:
        Service(cfg).start()
    assert "can be changed by other users" in exc.value.message and str(d) in exc.value.message
    assert "chmod 700" in (exc.value.hint or "")
    assert stat.S_IMODE(d.stat().st_mode) == 0o777  # refused, not silently "fixed"
    assert not (d / "ipc.sock").exists()
    d.chmod(0o700)
    with Service(cfg) as svc:  # once fixed, it starts and its socket is private
        assert svc.server is not None
        assert stat.S_IMODE((d / "ipc.sock").stat().st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
def test_socket_folder_or_socket_of_another_user_is_refused(home: Path) -> None:
    cfg = make_cfg(home, **TINY)
    d = _sock_dir(home)
    d.mkdir(mode=0o700)
    os.chown(d, NOBODY, NOBODY)
    with pytest.raises(PeerCredError, match="belongs to another user"):
        Service(cfg).start()
    os.chown(d, os.geteuid(), os.getegid())
    stranger = socket.socket(socket.AF_UNIX)  # a socket left there by someone else
    try:
        stranger.bind(str(d / "ipc.sock"))
        os.chown(d / "ipc.sock", NOBODY, NOBODY)
        with pytest.raises(PeerCredError, match="service socket .* belongs to another user"):
            Service(cfg).start()
        assert (d / "ipc.sock").exists()  # not removed as "stale"
    finally:
        stranger.close()


def test_a_model_process_records_its_refusals_in_the_audit_log(tmp_path: Path, home: Path) -> None:
    """``python -m hushnote.daemon.runner.process --audit PATH`` (the service's model child): its guard writes each refusal
    to the service's audit log. Run in a thread of a network-less subprocess, talking to it over its pipes.
    (``home``: the log's head goes to an isolated settings folder.)"""
    log_path = tmp_path / "audit.jsonl"
    out = run_isolated(f"""
        import io, threading
        from hushnote.daemon.runner import process as runner
        saved = os.dup(1)  # child_main points fd 1 at stderr; the JSON result goes to the real stdout
        in_r, in_w = os.pipe()
        os.dup2(in_r, 0)
        sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "rb", closefd=False)))
        out_r, out_w = os.pipe()
        t = threading.Thread(target=runner.child_main,
                             args=(["--fd", str(out_w), "--guard", "on", "--audit", {str(log_path)!r}],))
        t.start()
        ready = runner.receive(os.fdopen(out_r, "rb", buffering=0))
        try:
            socket.create_connection(("192.0.2.1", 80), timeout=2)
            r = "ALLOWED"
        except guard.EgressBlocked:
            r = "blocked"
        os.close(in_w)  # end of file: the child loop returns
        t.join(30)
        entries = [json.loads(x) for x in open({str(log_path)!r}).read().splitlines()]
        os.write(saved, (json.dumps({{"ready": ready, "r": r, "entries": entries}}) + "\\n").encode())
    """)
    assert out["ready"] == {"op": "ready"} and out["r"] == "blocked"
    assert [(e["event"], e["data"]) for e in out["entries"]] == [
        ("network.blocked", {"event": "socket.connect", "reason": "non_local_address", "total": 1})]
