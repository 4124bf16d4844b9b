"""Encryption at rest, end to end: the real service (tiny.en) taking real speech in from the inbox, a byte scan
of everything it keeps, damaged ciphertext failing only its own job, master-key faults as plain errors, a
full disk during ingest, crypto-shredding by retention, `hushnote open`, and recording chunks after a kill -9.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hushnote.daemon.core.config import Config
from hushnote.daemon.jobs.inbox import Ingestor
from hushnote.daemon.jobs.retention import Retention
from hushnote.daemon.jobs.store import Store
from hushnote.daemon.privacy import at_rest, keys
from hushnote.daemon.privacy import vault as vault_mod
from hushnote.daemon.privacy.keys import KeyDestroyed, MasterKeyStore, VaultError
from hushnote.daemon.recording.chunks import RecordingStore, recordings_dir, recover
from hushnote.daemon.recording.controller import recording_name
from hushnote.daemon.service.service import Service
from hushnote.daemon.service.workers import Workers
from hushnote.daemon.speech import audio

from tests.pulse import PulseServer, pulse_fixture, write_wav  # noqa: F401 - the `pulse` fixture
from tests.test_crash import everything_accounted_for
from tests.test_daemon_e2e import Daemon, speech, wait_for
from tests.test_daemon_e2e import daemon as daemon_fixture  # noqa: F401 - a fixture
from tests.test_privacy_service import FAST_INBOX, make_cfg, of
from tests.test_queue import FakeClock
from tests.test_recorder import speech as speech_clips
from tests.test_service_recording import pulse_daemon

REPO = Path(__file__).resolve().parent.parent
JFK = "faster_whisper_tests/jfk.flac"
PASSPHRASE = "correct horse battery"  # noqa: S105 - a test passphrase
WAV = "librivox_pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav"

# Container signatures, long enough that random ciphertext cannot match them by chance (~2^-64 per byte).
SIGNATURES = {
    "RIFF/WAVE": re.compile(rb"RIFF.{4}WAVE", re.S),
    "fLaC": re.compile(rb"fLaC[\x00\x80]\x00\x00\x22"),
    "OggS": re.compile(rb"OggS\x00[\x00-\x07]"),
    "ID3": re.compile(rb"ID3[\x02-\x04]\x00"),
    "ftyp": re.compile(rb"ftyp(isom|iso2|mp41|mp42|M4A |M4B |qt  |3gp[0-9]|dash|avc1)"),
}


def scan_bytes(data: bytes, words: set[str]) -> list[str]:
    found = [name for name, rx in SIGNATURES.items() if rx.search(data)]
    low = data.lower()
    found += [f"word {w!r}" for w in words if w.encode() in low]
    return found


def scan(roots: list[Path], words: set[str]) -> dict[str, list[str]]:
    """Every regular file under ``roots`` -> what was found in the clear (empty: nothing)."""
    out: dict[str, list[str]] = {}
    for root in roots:
        for p in root.rglob("*"):
            if p.is_file() and not p.is_symlink():
                hits = scan_bytes(p.read_bytes(), words)
                if hits:
                    out[str(p)] = hits
    return out


def transcript_words(notes: Path) -> set[str]:
    words: set[str] = set()
    for t in notes.glob("*.transcript.md"):
        spoken = [ln.split("]", 1)[-1] for ln in t.read_text(encoding="utf-8").splitlines() if ln.startswith("[")]
        words |= {w.lower() for w in re.findall(r"[A-Za-z]{6,}", " ".join(spoken))}
    return words


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def write_toml(cfg: Config, path: Path) -> Path:
    keep = ("paths", "transcription", "drafting", "storage", "notes")
    lines = []
    for sec, body in cfg.as_dict().items():
        if sec in keep:
            lines.append(f"[{sec}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in body.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hushnote.daemon.cli", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120, env=env, cwd=REPO, check=False)


# ----------------------------------------------------------------------------- the service, real speech

def test_service_encrypts_inbox_files_and_nothing_is_left_in_the_clear(home: Path, eval_dir: Path) -> None:
    cfg = make_cfg(home)
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
        beside = notes / name
        assert vault_mod.is_encrypted(beside), "the audio beside the note stays encrypted"
        assert b"".join(v.iter_plaintext(beside)) == src.read_bytes()
    assert scan([data], words | plain_words) == {}
    assert scan([p for p in notes.iterdir() if p.suffix in (".flac", ".wav")], words) == {}
    assert not list((data / "store").iterdir())
    ingests = of(cfg, "ingest")
    assert len(ingests) == 2 and all(e["encrypted"] is True and e["source"] == "inbox" for e in ingests)
    assert {e["audio_sha256"] for e in ingests} == {sha(p) for p in clips.values()}
    assert {e["size_bytes"] for e in ingests} == {p.stat().st_size for p in clips.values()}
    created = {e["file_id"] for e in of(cfg, "key.created")}
    assert {e["job_id"] for e in ingests} <= created
    assert of(cfg, "master_key.created") == [{"source": "file", "protected": False}]
    assert (home / "config" / "hushnote" / "master.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("point", ["ingest.encrypting", "ingest.encrypted"])
def test_crash_while_taking_in_an_inbox_file_gives_one_note_and_no_unused_key(
        daemon_fixture: Daemon, eval_dir: Path, point: str) -> None:  # noqa: F811 - the fixture imported above
    """ingest.encrypting: the copy is half written (its key exists); ingest.encrypted: the copy is complete and
    the original not yet removed. Either way: one note, and no key left without its file."""
    d = daemon_fixture
    proc = d.start(HUSHNOTE_TEST_CRASH_AT=point)
    d.drop(speech(eval_dir, 0), "one.flac")
    assert proc.wait(120) == 137
    keys = d.data / at_rest.KEYS_DIR
    first = {p.stem for p in keys.glob("*.key")}
    assert len(first) == 1, "the crash came after the file's key was made"
    assert (d.inbox / "one.flac").exists(), "the original stays in the inbox until its copy is complete"
    assert len(list((d.data / "store").iterdir())) == 1  # the hidden half copy, or the complete one
    d.proc = None
    d.start()
    assert wait_for(lambda: d.counts()["done"] == 1, 120), d.call("queue")
    everything_accounted_for(d, ["one.flac"])
    assert vault_mod.is_encrypted(d.notes / "one.flac")
    if point == "ingest.encrypting":  # taken in again under a new job: the half copy's key is destroyed
        assert not [p for p in keys.glob("*.key") if p.stem in first], "the unused key is destroyed"
        assert {p.stem for p in keys.glob("*.destroyed")} >= first
    else:  # the complete copy was kept: its key is the note's audio key
        assert {p.stem for p in keys.glob("*.key")} >= first
    assert d.stop() == 0


# ----------------------------------------------------------------------------- damaged ciphertext

@pytest.fixture()
def encrypted_rig(home: Path) -> Iterator[tuple[Config, Store, vault_mod.Vault, Ingestor]]:
    cfg = make_cfg(home, notes__encrypt=True)
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
        assert vault_mod.is_encrypted(inbox / "failed" / name)
    assert "Traceback" not in report
    # notes.encrypt: the note and transcript are encrypted; `hushnote open` shows them
    note, tr = notes / "good.note.md", notes / "good.transcript.md"
    assert vault_mod.is_encrypted(note) and vault_mod.is_encrypted(tr)
    assert scan([notes], {"country", "americans"}) == {}
    conf = write_toml(cfg, tmp_path / "config.toml")
    r = cli("open", str(note), "--config", str(conf))
    assert r.returncode == 0, r.stderr
    assert "DRAFT" in r.stdout and 'source: "good.flac"' in r.stdout and "## Plan" in r.stdout
    r = cli("open", str(tr), "--config", str(conf))
    assert r.returncode == 0 and "country" in r.stdout.lower()
    r = cli("draft", str(tr), "--template", "dap", "--out", str(tmp_path), "--config", str(conf))
    assert r.returncode == 0, r.stderr  # re-drafting from an encrypted transcript, written encrypted
    redraft = tmp_path / "good.note.md"
    assert vault_mod.is_encrypted(redraft) and "DAP" in v.decrypt_to_text(redraft).upper()
    r = cli("open", str(notes / "good.flac"), "--config", str(conf))
    assert r.returncode == 3 and "--output" in r.stderr and "Traceback" not in r.stderr
    copy = tmp_path / "copy.flac"
    r = cli("open", str(notes / "good.flac"), "--output", str(copy), "--config", str(conf))
    assert r.returncode == 0 and copy.read_bytes() == src.read_bytes()
    r = cli("open", str(inbox / "failed" / "truncated.flac"), "--output", str(tmp_path / "t.flac"),
            "--config", str(conf))
    assert r.returncode == 6 and "incomplete" in r.stderr and not (tmp_path / "t.flac").exists()


# ----------------------------------------------------------------------------- key faults

def test_wrong_damaged_and_missing_master_key_are_plain_errors(home: Path, tmp_path: Path) -> None:
    cfg = make_cfg(home)
    v = at_rest.open_vault(cfg)  # first start: makes the master key and the check record
    v.new_key("job1")
    conf = write_toml(cfg, tmp_path / "config.toml")
    master = home / "config" / "hushnote" / "master.key"
    good = master.read_bytes()

    def start_fails(expect: str) -> None:
        with pytest.raises(VaultError, match=expect):
            Service(cfg, ipc=False).start()
        r = cli("daemon", "--config", str(conf))
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
    cfg = make_cfg(home, storage__passphrase=True)
    conf = write_toml(cfg, tmp_path / "config.toml")
    env = dict(os.environ)
    r = cli("daemon", "--config", str(conf), env=env)
    assert r.returncode == 6 and "passphrase" in r.stderr and "HUSHNOTE_PASSPHRASE" in r.stderr
    v = at_rest.open_vault(cfg, passphrase=PASSPHRASE)
    assert at_rest.load_master_key(cfg, passphrase=PASSPHRASE).protected
    v.new_key("job1")
    r = cli("daemon", "--config", str(conf), env=dict(env, HUSHNOTE_PASSPHRASE=PASSPHRASE[::-1]))
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
    cfg = make_cfg(tmp_path, **{"paths__data": str(tmp_path / "data")})
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


# ----------------------------------------------------------------------------- retention: crypto-shredding

def test_retention_destroys_the_key_first_then_the_file(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                        eval_dir: Path) -> None:
    cfg = make_cfg(home, retention__audio_days=1)
    notes = cfg.path("paths.notes")
    notes.mkdir(parents=True)
    events: list[tuple[str, dict[str, Any]]] = []
    v = at_rest.open_vault(cfg, on_event=lambda e, d: events.append((e, d)))
    clock = FakeClock()
    with Store(cfg.path("paths.data") / "queue.db", clock=clock) as store:
        job = store.begin_ingest("inbox", Path("/nowhere/s.flac"), "s.flac", notes)
        audio_path = notes / "s.flac"
        at_rest.encrypt_into(eval_dir / "speech" / JFK, audio_path, v, job.id)
        store.finish_ingest(job.id)
        assert store.claim("w", 60) is not None
        note = notes / "s.note.md"
        note.write_text("note")
        assert store.complete(job.id, note_path=note, transcript_path=note, audio_path=audio_path)
        order: list[str] = []

        def recording(real: Any) -> Any:
            def shred(path: Path) -> bool:
                order.append("key" if path.suffix == ".key" else "file")
                return bool(real(path))
            return shred

        monkeypatch.setattr(keys, "shred_file", recording(keys.shred_file))
        monkeypatch.setattr(vault_mod, "shred_file", recording(vault_mod.shred_file))
        ret = Retention(store, cfg, vault=v, clock=clock)
        assert ret.sweep() == []
        clock.advance(days=1.01)
        receipts = ret.sweep()
    assert [r.what for r in receipts] == ["audio"] and note.exists() and not audio_path.exists()
    assert order == ["key", "file"]
    assert not (cfg.path("paths.data") / "keys" / f"{job.id}.key").exists()
    with pytest.raises(KeyDestroyed):
        v.data_key(job.id)
    assert ("key.destroyed", {"file_id": job.id, "key_destroyed": True, "files": 1}) in events


# ----------------------------------------------------------------------------- recording chunks

RECORD_AND_DIE = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    import numpy as np
    from hushnote.daemon.privacy import at_rest
    from hushnote.daemon.core.config import Config
    from hushnote.daemon.recording.chunks import RecordingStore, recordings_dir
    cfg = Config(json.loads(sys.argv[1]), "(test)")
    pcm = np.load(sys.argv[2])
    v = at_rest.open_vault(cfg)
    store = RecordingStore.create(recordings_dir(cfg.path("paths.data")), "rec-20260101T000000Z-abcdef", {}, vault=v)
    chunk = 16000 * 3
    store.write_chunk(1, pcm[:chunk].tobytes())
    rest = pcm[chunk:]
    for i in range(0, rest.shape[0], 1600):  # 0.1 s appends to the .part of chunk 2
        store.append_part(2, rest[i:i + 1600].tobytes())
    os._exit(137)  # like kill -9: no close, no final tag
""")


def test_recording_chunks_are_encrypted_and_recovered_after_kill_9(home: Path, tmp_path: Path,
                                                                    eval_dir: Path) -> None:
    cfg = make_cfg(home)
    pcm = (audio.decode_all(eval_dir / "speech" / JFK)[: 16000 * 5] * 32767).astype("<i2")
    np.save(tmp_path / "pcm.npy", pcm)
    vals = {f"{s}.{k}": v for s, body in cfg.as_dict().items() for k, v in body.items()}
    r = subprocess.run([sys.executable, "-c", RECORD_AND_DIE, json.dumps(vals), str(tmp_path / "pcm.npy")],
                       capture_output=True, text=True, timeout=60, cwd=REPO, check=False)
    assert r.returncode == 137, r.stderr[-2000:]
    data = cfg.path("paths.data")
    rec_dir = data / "recordings" / "rec-20260101T000000Z-abcdef"
    names = sorted(p.name for p in rec_dir.iterdir())
    assert "chunk-000001.pcm" in names and "chunk-000002.pcm.part" in names
    raw = pcm.tobytes()
    for p in rec_dir.glob("chunk-*"):  # no plaintext PCM anywhere: no 64-byte run of the samples
        blob = p.read_bytes()
        assert vault_mod.is_encrypted(p)
        assert not any(raw[i:i + 64] in blob for i in range(0, len(raw) - 64, 3200))
    v = at_rest.open_vault(cfg)
    handed: list[tuple[Path, str]] = []
    assert recover(data, lambda path, rid: handed.append((path, rid)), vault=v)
    (out, rid), = handed
    assert rid == "rec-20260101T000000Z-abcdef" and vault_mod.is_encrypted(out)
    assert scan([data], set()) == {}
    got = (audio.decode_all(out, opener=at_rest.decrypting_opener(v)) * 32768).round().astype("<i2")
    assert np.array_equal(got, pcm)  # every appended block survived the kill, in order
    assert not rec_dir.exists()  # handed off: the chunks are gone


def test_damaged_recording_chunk_is_skipped_not_fatal(home: Path) -> None:
    cfg = make_cfg(home)
    v = at_rest.open_vault(cfg)
    root = cfg.path("paths.data") / "recordings"
    st = RecordingStore.create(root, "rec-20260101T000000Z-000001", {}, vault=v)
    one = np.arange(16000, dtype="<i2")
    st.write_chunk(1, one.tobytes())
    st.write_chunk(2, one.tobytes())
    st.release()
    p = root / "rec-20260101T000000Z-000001" / "chunk-000002.pcm"
    p.write_bytes(p.read_bytes()[:-5] + b"xxxxx")
    chunks = list(RecordingStore(root, "rec-20260101T000000Z-000001", v).iter_pcm())
    assert len(chunks) == 1 and np.array_equal(chunks[0], one)


def test_recording_through_the_service_is_never_in_the_clear(tmp_path: Path, home: Path, pulse: PulseServer,
                                                              eval_dir: Path) -> None:
    samples, _ = speech_clips(eval_dir, ["LJ001-0007", "LJ001-0008"])
    wav = write_wav(tmp_path / "speech.wav", samples)
    with pulse_daemon(tmp_path / "hn", home, pulse) as d:
        d.start()
        st = d.call("record.start", consent_confirmed=True, source="cli")
        pulse.play_and_wait(wav)
        rec_dir = recordings_dir(d.data) / st["id"]
        chunks = [p for p in rec_dir.iterdir() if p.name.startswith("chunk-")]  # while still recording
        assert len(chunks) >= 3 and all(vault_mod.is_encrypted(p) for p in chunks), chunks
        assert scan([d.data], set()) == {}
        d.call("record.stop")
        assert wait_for(lambda: d.counts()["done"] == 1, 180), d.call("queue")
        words = transcript_words(d.notes)
        assert len(words) >= 5
        assert scan([d.data], words) == {}
        kept = d.notes / recording_name(st["id"])
        assert vault_mod.is_encrypted(kept) and scan([kept], words) == {}
        assert d.audio_bytes(kept)[:4] == b"fLaC"  # the recording itself, decrypted in memory
        assert d.stop() == 0


def test_service_tampered_store_file_fails_only_its_job(home: Path, eval_dir: Path) -> None:
    """Through the service's model process (the worker sends the unwrapped data key over its private pipe)."""
    cfg = make_cfg(home)
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
    assert vault_mod.is_encrypted(inbox / "failed" / "bad.flac")


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
    cfg = make_cfg(tmp_path, **{"paths__data": str(tmp_path / "data")})
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

    cfg = make_cfg(home)
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
        kept = notes / "s.flac"
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
    assert {"job_id": job.id, "kind": "audio", "reason": "user"} in of(cfg, "deletion.receipt")
    assert {"file_id": job.id, "key_destroyed": True, "files": 1} in of(cfg, "key.destroyed")
