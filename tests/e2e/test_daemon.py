"""The real daemon as a subprocess (`hushnote daemon`), real watchdog, real SQLite, tiny.en, talked to over IPC."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from hushnote.daemon.privacy import vault
from hushnote.ipc.protocol import IpcError

from tests.support.daemon import Daemon, assert_no_names_in_log
from tests.support.plaintext import kept_as
from tests.support.speech import speech
from tests.support.waiting import wait_for


def test_five_files_five_notes(daemon: Daemon, eval_dir: Path) -> None:
    daemon.start()
    assert daemon.inbox.is_dir() and daemon.notes.is_dir()  # created on first start
    names = [f"session {i} é.{speech(eval_dir, i).suffix[1:]}" for i in range(5)]
    for i, n in enumerate(names):
        daemon.drop(speech(eval_dir, i), n)
    assert wait_for(lambda: daemon.counts()["done"] == 5, 180), daemon.call("queue")
    c = daemon.counts()
    assert c["queued"] == c["running"] == c["failed"] == 0
    by_source = daemon.notes_by_source()
    assert sorted(by_source) == sorted(names) and all(len(v) == 1 for v in by_source.values())
    for i, n in enumerate(names):
        stem = Path(n).stem
        assert (daemon.notes / f"{stem}.transcript.md").exists()
        assert daemon.audio_bytes(kept_as(daemon.notes, n)) == speech(eval_dir, i).read_bytes()  # beside the note
    assert list(daemon.inbox.iterdir()) == []
    assert list((daemon.data / "store").iterdir()) == []
    st = daemon.call("status")
    assert st["state"] == "running" and st["pid"] == daemon.proc.pid and st["current"] is None  # type: ignore[union-attr]
    assert st["next_retention"] is not None and st["failed_audio_kept"] == 0
    assert daemon.stop() == 0
    assert_no_names_in_log(daemon, names)


def test_second_instance_refuses(daemon: Daemon) -> None:
    daemon.start()
    r = subprocess.run([sys.executable, "-m", "hushnote.daemon.cli", "daemon", "--config", str(daemon.config)],
                       env=daemon.env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 3 and "already running" in r.stderr and "Traceback" not in r.stderr
    assert daemon.ready()
    assert daemon.stop() == 0


def test_bad_inputs_reported_and_daemon_keeps_going(daemon: Daemon, eval_dir: Path, tmp_path: Path) -> None:
    daemon.start()
    inbox = daemon.inbox
    (inbox / "empty.wav").write_bytes(b"")
    (inbox / "random.wav").write_bytes(os.urandom(20000))
    data = speech(eval_dir, 0).read_bytes()
    (inbox / "truncated.flac").write_bytes(data[: len(data) // 3])
    (inbox / "x.wav").mkdir()
    (inbox / "link.wav").symlink_to(speech(eval_dir, 1))
    (inbox / "odd name\nline ünï.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with wave.open(str(inbox / "zero.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
    silence = tmp_path / "silence.wav"
    with wave.open(str(silence), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 16000 * 3)
    shutil.copy(silence, inbox / "quiet.wav")
    time.sleep(3)
    daemon.drop(speech(eval_dir, 2), "good after.flac")
    bad_stems = ["empty", "random", "x", "link", "odd name_line ünï", "zero", "quiet"]
    cut = [daemon.notes / "truncated.error.txt", daemon.notes / "truncated.note.md"]  # too little speech, or a note
    assert wait_for(lambda: all((daemon.notes / f"{s}.error.txt").exists() for s in bad_stems)
                    and any(p.exists() for p in cut)
                    and (daemon.notes / "good after.note.md").exists() and daemon.counts()["done"] >= 1, 120), (
        sorted(p.name for p in daemon.notes.iterdir()), daemon.call("queue"))
    if cut[1].exists():  # transcribed as far as it goes, and the note says the audio ended early
        assert "ended early at" in cut[1].read_text(encoding="utf-8")
    for s in bad_stems:
        text = (daemon.notes / f"{s}.error.txt").read_text()
        assert "What is wrong" in text and "What to do" in text and "File:" in text
    # never deleted: everything bad is in Inbox/failed/ (the truncated file was drafted from what was there,
    # or failed for too little speech: either way it is accounted for)
    failed = {p.name for p in (inbox / "failed").iterdir()}
    # (rejected at the door: as they were; taken in, then failed: encrypted, as NAME.wav.hushnote)
    assert {"empty.wav", "random.wav", "x.wav", "link.wav", "odd name\nline ünï.wav.hushnote", "zero.wav",
            "quiet.wav.hushnote"} <= failed, failed
    assert "truncated.flac.hushnote" in failed or (daemon.notes / "truncated.flac.hushnote").exists()
    assert [p.name for p in inbox.iterdir()] == ["failed"]
    st = daemon.call("status")
    assert st["failed_audio_kept"] >= 1 and st["queue"]["done"] >= 1
    assert daemon.stop() == 0
    assert_no_names_in_log(daemon, ["random", "truncated", "ünï", "quiet", "good after"])


def test_ipc_round_trips(daemon: Daemon, eval_dir: Path) -> None:
    daemon.start()
    assert daemon.call("pause") == {"state": "paused"}
    daemon.drop(speech(eval_dir, 0), "a.flac")
    daemon.drop(speech(eval_dir, 1), "b.flac")
    jobs = wait_for(lambda: (q := daemon.call("queue")["jobs"]) and len(q) == 2 and q, 30)
    assert {j["state"] for j in jobs} == {"queued"}
    for j in jobs:
        assert set(j) == {"id", "kind", "state", "priority", "attempts", "created", "updated", "error", "warning",
                          "reason", "session", "retryable"}
        assert j["kind"] == "inbox" and j["priority"] == 0 and j["attempts"] == 0 and j["error"] is None
        assert j["reason"] is None and not j["retryable"]
    assert sorted(j["session"] for j in jobs) == ["a", "b"]  # for the clinician's screen (never in the log)
    st = daemon.call("status")
    assert st["state"] == "paused" and st["queue"]["queued"] == 2 and st["current"] is None
    a, b = jobs[0]["id"], jobs[1]["id"]
    assert daemon.call("cancel", id=a) == {"id": a, "state": "cancelled"}
    with pytest.raises(IpcError) as e:
        daemon.call("cancel", id=a)
    assert e.value.code == "conflict"
    with pytest.raises(IpcError) as e:
        daemon.call("retry", id="no-such-job")
    assert e.value.code == "not_found"
    assert daemon.call("retry", id=a) == {"id": a, "state": "queued"}
    # malformed messages: the daemon answers with errors and keeps serving
    for junk in (b"not json\n", b"\xff\xfe\n", b'{"v":1,"id":1,"op":"status","args":[]}\n', b"{" * 5000 + b"\n",
                 b'{"v":1,"id":2,"op":"retry","args":{"id":5}}\n'):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(str(daemon.sock))
        s.sendall(junk)
        reply = s.recv(65536)
        s.close()
        assert b'"ok":false' in reply, reply
    assert daemon.call("resume") == {"state": "running"}
    assert wait_for(lambda: daemon.counts()["done"] == 2, 120)
    with pytest.raises(IpcError) as e:
        daemon.call("retry", id=b)
    assert e.value.code == "conflict"
    assert daemon.stop() == 0


def test_graceful_stop_releases_and_restart_finishes(daemon: Daemon, eval_dir: Path) -> None:
    daemon.start()
    daemon.drop(speech(eval_dir, 0), "long.flac")
    assert wait_for(lambda: daemon.call("status")["current"], 30, 0.02)
    assert daemon.stop() == 0
    daemon.start()
    assert wait_for(lambda: daemon.counts()["done"] == 1, 120)
    q = daemon.call("queue")["jobs"]
    assert len(q) == 1 and q[0]["attempts"] == 0  # released, not counted as a failed attempt
    assert daemon.stop() == 0


def padded_wav(src: Path, dst: Path, total_bytes: int) -> None:
    """Real speech followed by quiet noise, 16 kHz mono 16-bit, ``total_bytes`` long."""
    import av

    with av.open(str(src)) as c:
        res = av.AudioResampler(format="s16", layout="mono", rate=16000)
        pcm = b"".join(bytes(f.planes[0])[: f.samples * 2] for fr in c.decode(audio=0) for f in res.resample(fr))
    rng = np.random.default_rng(0)
    with wave.open(str(dst), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm)
        left = (total_bytes - 44 - len(pcm)) // 2
        while left > 0:
            n = min(left, 16000 * 60)
            w.writeframes((rng.normal(0, 3, n)).astype("<i2").tobytes())
            left -= n


@pytest.mark.slow
def test_slow_100mb_copy_processed_once_after_copy(daemon: Daemon, eval_dir: Path, tmp_path: Path) -> None:
    """~52 min of audio (speech, then near-silence) copied in chunks with pauses: taken in once, after the
    copy finished, and processed to one note."""
    src = tmp_path / "big.wav"
    padded_wav(speech(eval_dir, 0), src, 100 * 1024 * 1024)
    daemon.start()
    target = daemon.inbox / "big session.wav"
    with src.open("rb") as fi, target.open("wb") as fo:
        i = 0
        while block := fi.read(8 << 20):
            fo.write(block)
            fo.flush()
            i += 1
            if i % 3 == 0:
                time.sleep(1.2)  # longer than the settle time
                assert target.exists() and daemon.call("queue")["jobs"] == [], "taken in while being copied"
    assert wait_for(lambda: len(daemon.call("queue")["jobs"]) == 1, 30)
    assert wait_for(lambda: daemon.counts()["done"] == 1, 480, 1.0), daemon.call("status")
    assert len(daemon.call("queue")["jobs"]) == 1
    assert vault.plaintext_size(daemon.notes / "big session.wav.hushnote") == src.stat().st_size  # kept encrypted
    assert list(daemon.notes_by_source()) == ["big session.wav"]
    assert daemon.stop() == 0
