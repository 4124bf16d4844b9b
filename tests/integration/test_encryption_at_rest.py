"""Encryption at rest in the service (in this process, real tiny.en): real speech taken in from the inbox and a
byte scan of everything it keeps, damaged ciphertext failing only its own job, master-key faults as plain
errors, a full disk during ingest or recording, `hushnote open`, deleting audio now by crypto-shredding.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hushnote.daemon.core.config import Config
from hushnote.daemon.jobs.inbox import Ingestor
from hushnote.daemon.jobs.store import Store
from hushnote.daemon.privacy import at_rest, keys
from hushnote.daemon.privacy import vault as vault_mod
from hushnote.daemon.privacy.keys import KeyDestroyed, MasterKeyStore, VaultError
from hushnote.daemon.service.service import Service
from hushnote.daemon.service.workers import Workers
from hushnote.daemon.speech import audio

from tests.support.cli import run_cli
from tests.support.config import TINY, make_cfg, write_toml
from tests.support.paths import REPO
from tests.support.plaintext import scan, scan_bytes, transcript_words
from tests.support.service import FAST_INBOX, audit_of
from tests.support.speech import JFK, WAV
from tests.support.waiting import wait_for

PASSPHRASE = "correct horse battery"  # noqa: S105 - a test passphrase


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- the service, real speech

def test_service_encrypts_inbox_files_and_nothing_is_left_in_the_clear(home: Path, eval_dir: Path) -> None:
    cfg = make_cfg(home, **TINY)
    data, notes, inbox = cfg.path("paths.data"), cfg.path("paths.notes"), cfg.path("paths.inbox")
    clips = {"jfk.flac": eval_dir / "speech" / JFK, "austen.wav": eval_dir / "speech" / WAV}
    assert all(scan_bytes(p.read_bytes(), set()) for p in clips.values())  # the scan does see plain audio
    with Service(cfg, ipc=False, inbox_opts=FAST_INBOX) as svc:
        assert svc.vault is not None and svc.store is not None and svc.workers is not None
        svc.workers.pause()  # first only ingest: the files then sit in the store
        inbox.mkdir(parents=True, exist_ok=True)
        for name, src in clips.items():
            shutil.copy(src, inbox / name)
        assert wait_for(lambda: svc.store is not None and svc.store.counts()["queued"] == 2, 30)
        assert sorted(p.name for p in inbox.iterdir()) == []  # plaintext originals removed from the inbox
        stored = sorted((data / "store").iterdir())
        assert len(stored) == 2 and all(vault_mod.is_encrypted(p) for p in stored)
        plain_words = {"americans", "country", "fellow"}  # words of the JFK clip
        assert scan([data], plain_words) == {}
        svc.workers.resume()
        assert wait_for(lambda: svc.store is not None and svc.store.counts()["done"] == 2, 180), svc.store.jobs()
        v = svc.vault
    words = transcript_words(notes)
    assert {"country", "americans"} <= words
    for name, src in clips.items():
        beside = notes / f"{name}.hushnote"  # its own extension: no media player takes it for audio
        assert vault_mod.is_encrypted(beside), "the audio beside the note stays encrypted"
        assert not (notes / name).exists()
        assert b"".join(v.iter_plaintext(beside)) == src.read_bytes()
    assert scan([data], words | plain_words) == {}
    assert scan([p for p in notes.iterdir() if p.suffix == ".hushnote"], words) == {}
    assert not list((data / "store").iterdir())
    ingests = audit_of(cfg, "ingest")
    assert len(ingests) == 2 and all(e["encrypted"] is True and e["source"] == "inbox" for e in ingests)
    assert {e["audio_sha256"] for e in ingests} == {sha(p) for p in clips.values()}
    assert {e["size_bytes"] for e in ingests} == {p.stat().st_size for p in clips.values()}
    created = {e["file_id"] for e in audit_of(cfg, "key.created")}
    assert {e["job_id"] for e in ingests} <= created
    assert audit_of(cfg, "master_key.created") == [{"source": "file", "protected": False}]
    assert (home / "config" / "hushnote" / "master.key").stat().st_mode & 0o777 == 0o600


# ----------------------------------------------------------------------------- damaged ciphertext

@pytest.fixture()
def encrypted_rig(home: Path) -> Iterator[tuple[Config, Store, vault_mod.Vault, Ingestor]]:
    cfg = make_cfg(home, **TINY, notes__encrypt=True)
    for key in ("paths.inbox", "paths.notes"):
        cfg.path(key).mkdir(parents=True, exist_ok=True)
    store = Store(cfg.path("paths.data") / "queue.db")
    v = at_rest.open_vault(cfg)
    yield cfg, store, v, Ingestor(store, cfg.path("paths.inbox"), cfg.path("paths.notes"), vault=v)
    store.close()


def test_tampered_and_truncated_files_fail_their_own_job_and_open_round_trip(
        encrypted_rig: tuple[Config, Store, vault_mod.Vault, Ingestor], eval_dir: Path, tmp_path: Path) -> None:
    cfg, store, v, ing = encrypted_rig
    inbox, notes = cfg.path("paths.inbox"), cfg.path("paths.notes")
    src = eval_dir / "speech" / JFK
    jobs = {}
    for name in ("tampered.flac", "truncated.flac", "good.flac"):
        shutil.copy(src, inbox / name)
        job = ing.ingest(inbox / name)
        assert job is not None and job.state == "queued"
        jobs[name] = job
    tampered, truncated = Path(jobs["tampered.flac"].store_path), Path(jobs["truncated.flac"].store_path)
    with tampered.open("r+b") as fh:  # flip one byte in the middle of the ciphertext
        fh.seek(tampered.stat().st_size // 2)
        b = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([b[0] ^ 0x01]))
    with truncated.open("r+b") as fh:  # cut off the end: the final tag is missing
        fh.truncate(truncated.stat().st_size - 1000)
    with Workers(store, cfg, vault=v):
        assert wait_for(lambda: [store.get(j.id).state for j in jobs.values()]  # type: ignore[union-attr]
                        == ["failed", "failed", "done"], 180), store.jobs()
    report = (notes / "tampered.error.txt").read_text()
    assert "tampered.flac" in report and "integrity check" in report and "hushnote open" in report
    report = (notes / "truncated.error.txt").read_text()
    assert "truncated.flac" in report and "incomplete" in report
    for name in ("tampered.flac", "truncated.flac"):  # kept (encrypted) in Inbox/failed/, never deleted
        assert vault_mod.is_encrypted(inbox / "failed" / f"{name}.hushnote")
        assert f'--output "{name}"' in (notes / f"{name[:-5]}.error.txt").read_text()
    assert "Traceback" not in report
    # notes.encrypt: the note and transcript are encrypted; `hushnote open` shows them
    note, tr = notes / "good.note.md", notes / "good.transcript.md"
    assert vault_mod.is_encrypted(note) and vault_mod.is_encrypted(tr)
    assert scan([notes], {"country", "americans"}) == {}
    conf = write_toml(cfg, tmp_path / "config.toml")
    r = run_cli("open", str(note), "--config", str(conf))
    assert r.returncode == 0, r.stderr
    assert "DRAFT" in r.stdout and 'source: "good.flac"' in r.stdout and "## Plan" in r.stdout
    r = run_cli("open", str(tr), "--config", str(conf))
    assert r.returncode == 0 and "country" in r.stdout.lower()
    r = run_cli("draft", str(tr), "--template", "dap", "--out", str(tmp_path), "--config", str(conf))
    assert r.returncode == 0, r.stderr  # re-drafting from an encrypted transcript, written encrypted
    redraft = tmp_path / "good.note.md"
    assert vault_mod.is_encrypted(redraft) and "DAP" in v.decrypt_to_text(redraft).upper()
    r = run_cli("open", str(notes / "good.flac.hushnote"), "--config", str(conf))
    assert r.returncode == 3 and '--output "good.flac"' in r.stderr and "Traceback" not in r.stderr
    copy = tmp_path / "copy.flac"
    r = run_cli("open", str(notes / "good.flac.hushnote"), "--output", str(copy), "--config", str(conf))
    assert r.returncode == 0 and copy.read_bytes() == src.read_bytes()
    r = run_cli("open", str(inbox / "failed" / "truncated.flac.hushnote"), "--output", str(tmp_path / "t.flac"),
            "--config", str(conf))
    assert r.returncode == 6 and "incomplete" in r.stderr and not (tmp_path / "t.flac").exists()


# ----------------------------------------------------------------------------- key faults

def test_wrong_damaged_and_missing_master_key_are_plain_errors(home: Path, tmp_path: Path) -> None:
    cfg = make_cfg(home, **TINY)
    v = at_rest.open_vault(cfg)  # first start: makes the master key and the check record
    v.new_key("job1")
    conf = write_toml(cfg, tmp_path / "config.toml")
    master = home / "config" / "hushnote" / "master.key"
    good = master.read_bytes()

    def start_fails(expect: str) -> None:
        with pytest.raises(VaultError, match=expect):
            Service(cfg, ipc=False).start()
        r = run_cli("daemon", "--config", str(conf))
        assert r.returncode == 6, r.stderr
        assert expect in r.stderr and "Traceback" not in r.stderr

    other = MasterKeyStore(tmp_path / "elsewhere", use_keyring=False)
    other.create()
    master.write_bytes(other.file.read_bytes())  # a key from another computer
    start_fails("does not match")
    master.write_text("not a key")
    start_fails("damaged")
    master.unlink()
    start_fails("missing")
    assert not master.exists()  # never silently replaced while encrypted files exist
    master.write_bytes(good)
    master.chmod(0o600)
    assert at_rest.open_vault(cfg).data_key("job1")


def test_passphrase_protected_key_without_a_terminal(home: Path, tmp_path: Path) -> None:
    cfg = make_cfg(home, **TINY, storage__passphrase=True)
    conf = write_toml(cfg, tmp_path / "config.toml")
    env = dict(os.environ)
    r = run_cli("daemon", "--config", str(conf), env=env)
    assert r.returncode == 6 and "passphrase" in r.stderr and "HUSHNOTE_PASSPHRASE" in r.stderr
    v = at_rest.open_vault(cfg, passphrase=PASSPHRASE)
    assert at_rest.load_master_key(cfg, passphrase=PASSPHRASE).protected
    v.new_key("job1")
    r = run_cli("daemon", "--config", str(conf), env=dict(env, HUSHNOTE_PASSPHRASE=PASSPHRASE[::-1]))
    assert r.returncode == 6 and "passphrase is wrong" in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(keys.PassphraseRequired):
        at_rest.load_master_key(cfg, interactive=False)


# ----------------------------------------------------------------------------- disk full during ingest

DISK_FULL = textwrap.dedent("""
    import json, logging, os, subprocess, sys, time
    from pathlib import Path
    data, cfg_args = Path(sys.argv[1]), json.loads(sys.argv[2])
    data.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(data)], check=True)
    from hushnote.daemon.core.config import Config
    from hushnote.daemon.service.service import Service
    records = []
    class H(logging.Handler):
        def emit(self, r): records.append(r.getMessage())
    logging.getLogger("hushnote").addHandler(H())
    logging.getLogger("hushnote").setLevel(logging.INFO)
    cfg = Config(cfg_args, "(test)")
    inbox, notes = Path(cfg_args["paths.inbox"]), Path(cfg_args["paths.notes"])
    with Service(cfg, ipc=False, inbox_opts={"settle_s": 0.3, "settle_closed_s": 0.1, "poll_s": 0.05}) as svc:
        os.replace(inbox.parent / "big.wav.staged", inbox / "big.wav")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("disk is full" in m for m in records):
            time.sleep(0.1)
        counts = svc.store.counts()
    store = data / "store"
    print(json.dumps({"log": records, "counts": counts, "inbox": sorted(p.name for p in inbox.iterdir()),
                      "store": sorted(p.name for p in store.iterdir()), "notes": sorted(os.listdir(notes)),
                      "keys": sorted(os.listdir(data / "keys"))}))
""")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root for a tmpfs mount")
def test_disk_full_during_ingest_keeps_the_original_in_the_inbox(home: Path, tmp_path: Path,
                                                                 eval_dir: Path) -> None:
    cfg = make_cfg(tmp_path, **TINY)
    inbox, notes = cfg.path("paths.inbox"), cfg.path("paths.notes")
    inbox.mkdir(parents=True)
    notes.mkdir(parents=True)
    pcm = audio.decode_all(eval_dir / "speech" / JFK)
    big = inbox.parent / "big.wav.staged"  # real speech, repeated to 3.5 MB: more than the 2 MB disk
    with wave.open(str(big), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.tile(pcm, 10) * 32767).astype("<i2").tobytes())
    digest = sha(big)
    vals = {f"{s}.{k}": v for s, body in cfg.as_dict().items() for k, v in body.items()}
    r = subprocess.run(["unshare", "-m", "--", sys.executable, "-c", DISK_FULL, str(tmp_path / "data"),
                        json.dumps(vals)], capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert any("disk is full" in m and "stays in the inbox" in m for m in out["log"]), out["log"]
    assert out["inbox"] == ["big.wav"] and sha(inbox / "big.wav") == digest  # the original, untouched
    assert out["store"] == [] and out["notes"] == []  # no partial encrypted copy, no partial note
    assert out["counts"]["queued"] == out["counts"]["running"] == out["counts"]["done"] == 0
    assert not [k for k in out["keys"] if k.endswith(".key")]  # the unused key was destroyed
    assert "big" not in " ".join(out["log"])  # no file name in the log


# ----------------------------------------------------------------------------- a full disk while recording


def test_service_tampered_store_file_fails_only_its_job(home: Path, eval_dir: Path) -> None:
    """Through the service's model process (the worker sends the unwrapped data key over its private pipe)."""
    cfg = make_cfg(home, **TINY)
    inbox, notes = cfg.path("paths.inbox"), cfg.path("paths.notes")
    with Service(cfg, ipc=False, inbox_opts=FAST_INBOX) as svc:
        assert svc.store is not None and svc.workers is not None and svc.workers.model_process
        store = svc.store
        svc.workers.pause()
        inbox.mkdir(parents=True, exist_ok=True)
        for name in ("bad.flac", "fine.flac"):
            shutil.copy(eval_dir / "speech" / JFK, inbox / name)
        assert wait_for(lambda: store.counts()["queued"] == 2, 30)
        bad = next(j for j in store.jobs() if j.original_name == "bad.flac")
        path = Path(bad.store_path)
        data = bytearray(path.read_bytes())
        data[len(data) // 3] ^= 0x40
        path.write_bytes(bytes(data))
        svc.workers.resume()
        assert wait_for(lambda: store.counts()["done"] == 1 and store.counts()["failed"] == 1, 180), store.jobs()
        assert store.get(bad.id).state == "failed"  # type: ignore[union-attr]
    report = (notes / "bad.error.txt").read_text()
    assert "bad.flac failed its integrity check" in report and "hushnote retry" in report
    assert (notes / "fine.note.md").exists() and not (notes / "bad.note.md").exists()
    assert vault_mod.is_encrypted(inbox / "failed" / "bad.flac.hushnote")


DISK_FULL_RECORDING = textwrap.dedent("""
    import errno, json, os, subprocess, sys
    from pathlib import Path
    import numpy as np
    from hushnote.daemon.privacy import at_rest
    from hushnote.daemon.speech import audio
    from hushnote.daemon.core.config import Config
    from hushnote.daemon.recording.chunks import RecordingStore, recordings_dir, recover
    cfg = Config(json.loads(sys.argv[1]), "(test)")
    pcm = np.load(sys.argv[2])
    data = cfg.path("paths.data")
    data.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(data)], check=True)
    v = at_rest.open_vault(cfg)
    filler = data / "filler"
    filler.write_bytes(b"\\0" * 600_000)  # the clinician's other files, deleted later to make room
    store = RecordingStore.create(recordings_dir(data), "rec-20260101T000000Z-00full", {}, vault=v)
    piece, per_chunk, ok, err = 1600, 30, 0, None
    try:
        for i in range(0, pcm.shape[0], piece):
            index = i // (piece * per_chunk) + 1
            store.append_part(index, pcm[i:i + piece].tobytes())
            ok = i + piece
            if (i // piece + 1) % per_chunk == 0:
                store.write_chunk(index, pcm[(index - 1) * piece * per_chunk:ok].tobytes())
    except OSError as exc:
        err = errno.errorcode.get(exc.errno or 0, "?")
    store.release()
    filler.unlink()
    handed = []
    recover(data, lambda p, rid: handed.append(p), vault=v)
    got = audio.decode_all(handed[0], opener=at_rest.decrypting_opener(v)) if handed else np.zeros(0)
    got = (got * 32768).round().astype("<i2")
    print(json.dumps({"error": err, "ok": ok, "got": int(got.shape[0]), "total": int(pcm.shape[0]),
                      "prefix": bool(np.array_equal(got, pcm[:got.shape[0]])),
                      "encrypted": bool(handed) and handed[0].read_bytes()[:7] == b"HNVAULT"}))
""")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root for a tmpfs mount")
def test_disk_full_while_recording_keeps_what_was_captured(home: Path, tmp_path: Path, eval_dir: Path) -> None:
    cfg = make_cfg(tmp_path, **TINY)
    pcm = (np.tile(audio.decode_all(eval_dir / "speech" / JFK), 4) * 32767).astype("<i2")  # 1.4 MB of speech
    np.save(tmp_path / "pcm.npy", pcm)
    vals = {f"{s}.{k}": v for s, body in cfg.as_dict().items() for k, v in body.items()}
    r = subprocess.run(["unshare", "-m", "--", sys.executable, "-c", DISK_FULL_RECORDING, json.dumps(vals),
                        str(tmp_path / "pcm.npy")], capture_output=True, text=True, timeout=120, cwd=REPO,
                       check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["error"] == "ENOSPC" and out["ok"] < out["total"]  # the disk really filled up
    assert out["encrypted"] and out["prefix"], (out, r.stderr[-2000:])  # recovered, encrypted, in order
    assert 0 < out["got"] and out["got"] >= out["ok"] - 16000 * 3, out  # at most the block being written when the disk filled is lost


def test_user_deletes_audio_now_crypto_shredded(home: Path, eval_dir: Path) -> None:
    from hushnote.daemon.cli import control
    from hushnote.ipc.protocol import IpcError

    cfg = make_cfg(home, **TINY)
    inbox, notes = cfg.path("paths.inbox"), cfg.path("paths.notes")
    inbox.mkdir(parents=True, exist_ok=True)
    with Service(cfg, ipc=False, inbox_opts=FAST_INBOX) as svc:
        assert svc.store is not None and svc.vault is not None and svc.workers is not None
        store = svc.store
        svc.workers.pause()
        shutil.copy(eval_dir / "speech" / JFK, inbox / "s.flac")
        assert wait_for(lambda: store.counts()["queued"] == 1, 30)
        job = store.jobs()[0]
        with pytest.raises(IpcError, match="still needed") as exc:
            svc.delete(job.id)
        assert exc.value.code == "conflict"
        with pytest.raises(IpcError) as exc:
            svc.delete("nosuchjob")
        assert exc.value.code == "not_found"
        svc.workers.resume()
        assert wait_for(lambda: store.counts()["done"] == 1, 120)
        kept = notes / "s.flac.hushnote"
        assert vault_mod.is_encrypted(kept)
        reply = svc.delete(job.id)
        assert reply == {"id": job.id, "deleted": True}
        assert "key was destroyed" in control.format_delete(reply)
        assert not kept.exists() and (notes / "s.note.md").exists() and (notes / "s.transcript.md").exists()
        with pytest.raises(KeyDestroyed):
            svc.vault.data_key(job.id)
        with pytest.raises(IpcError, match="already deleted"):
            svc.delete(job.id)
        assert [r.why for r in store.deletions()] == ["deleted by the user"]
    assert {"job_id": job.id, "kind": "audio", "reason": "user"} in audit_of(cfg, "deletion.receipt")
    assert {"file_id": job.id, "key_destroyed": True, "files": 1} in audit_of(cfg, "key.destroyed")
