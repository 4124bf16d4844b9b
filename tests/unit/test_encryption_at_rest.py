"""Encryption at rest without the service: retention crypto-shreds (key first, then file) on a fake clock, and
recording chunks stay encrypted and recoverable after a kill -9 (a short helper process) or damage."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hushnote.daemon.jobs.retention import Retention
from hushnote.daemon.jobs.store import Store
from hushnote.daemon.privacy import at_rest, keys
from hushnote.daemon.privacy import vault as vault_mod
from hushnote.daemon.privacy.keys import KeyDestroyed
from hushnote.daemon.recording.chunks import RecordingStore, recover
from hushnote.daemon.speech import audio

from tests.support.clock import FakeClock
from tests.support.config import TINY, make_cfg
from tests.support.paths import REPO
from tests.support.plaintext import scan
from tests.support.speech import JFK


def test_retention_destroys_the_key_first_then_the_file(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                        eval_dir: Path) -> None:
    cfg = make_cfg(home, **TINY, retention__audio_days=1)
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
    cfg = make_cfg(home, **TINY)
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
    cfg = make_cfg(home, **TINY)
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
