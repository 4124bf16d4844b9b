"""Encrypted audio does not pretend to be audio: what hushnote keeps beside a note (or in ``Inbox/failed/``) is
``NAME.wav.hushnote``; ``hushnote open`` writes the playable ``NAME.wav``; files named the old way (``NAME.wav``,
encrypted) are still found by the worker, retention, ``delete`` and ``open``. Real service (tiny.en), real files."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from hushnote.daemon.jobs.inbox import Ingestor
from hushnote.daemon.jobs.retention import Retention
from hushnote.daemon.jobs.store import Store
from hushnote.daemon.privacy import at_rest
from hushnote.daemon.privacy.vault import is_encrypted
from hushnote.daemon.service.service import Service
from hushnote.daemon.service.workers import locate_audio
from hushnote.daemon.speech import audio

from tests.support.cli import run_cli as cli
from tests.support.config import TINY, make_cfg, write_toml
from tests.support.service import FAST_INBOX
from tests.support.speech import JFK
from tests.support.waiting import wait_for


def test_audio_beside_a_note_has_its_own_extension_and_opens_to_a_playable_copy(
        home: Path, eval_dir: Path, tmp_path: Path) -> None:
    cfg = make_cfg(home, **TINY)
    notes, src = cfg.path("paths.notes"), eval_dir / "speech" / JFK
    name = "Client C 2026-11-02.flac"
    with Service(cfg, ipc=False, inbox_opts=FAST_INBOX) as svc:
        assert svc.store is not None
        store = svc.store
        shutil.copy(src, cfg.path("paths.inbox") / name)
        assert wait_for(lambda: store.counts()["done"] == 1, 120), store.jobs()
        [job] = store.jobs()
        beside = notes / f"{name}.hushnote"
        assert job.audio_path == str(beside) and is_encrypted(beside)
        assert not (notes / name).exists(), "nothing encrypted is named like playable audio"
        assert (notes / "Client C 2026-11-02.note.md").exists()
        conf = write_toml(cfg, tmp_path / "config.toml")
        r = cli("open", str(beside), "--config", str(conf))
        assert r.returncode == 3 and f'--output "{name}"' in r.stderr and "Traceback" not in r.stderr, r.stderr
        out = tmp_path / "copies"
        out.mkdir()
        r = cli("open", str(beside), "--output", str(out), "--config", str(conf))
        assert r.returncode == 0, r.stderr
        assert (out / name).read_bytes() == src.read_bytes()  # a playable copy, under the original name
        assert abs(audio.decode_all(out / name).shape[0] / audio.SAMPLE_RATE - 11.0) < 0.2
        assert svc.delete(job.id) == {"id": job.id, "deleted": True}
        assert not beside.exists()


def test_old_style_names_are_still_found_opened_and_deleted(home: Path, eval_dir: Path, tmp_path: Path) -> None:
    cfg = make_cfg(home, **TINY, retention__audio_days=1)
    notes, inbox = cfg.path("paths.notes"), cfg.path("paths.inbox")
    for d in (notes, inbox):
        d.mkdir(parents=True)
    v = at_rest.open_vault(cfg)
    with Store(cfg.path("paths.data") / "queue.db") as store:
        shutil.copy(eval_dir / "speech" / JFK, inbox / "old.flac")
        job = Ingestor(store, inbox, notes, vault=v).ingest(inbox / "old.flac")
        assert job is not None and store.claim("w", 60) is not None
        old = notes / "old.flac"  # where an earlier version put the encrypted audio beside the note
        shutil.move(job.store_path, old)
        note = notes / "old.note.md"
        note.write_text("note")
        assert store.complete(job.id, note_path=note, transcript_path=note, audio_path=old)
        # found under its old name even where the row does not say so
        assert locate_audio(dataclasses.replace(job, audio_path=None, store_path="/nowhere"), notes) == old
        # a new file of the same name does not take a stem whose audio is there under either name
        (notes / "next.flac.hushnote").write_bytes(b"HNVAULT")
        shutil.copy(eval_dir / "speech" / JFK, inbox / "next.flac")
        nxt = Ingestor(store, inbox, notes, vault=v).ingest(inbox / "next.flac")
        assert nxt is not None and nxt.stem == "next-2"
        conf = write_toml(cfg, tmp_path / "config.toml")
        r = cli("open", str(old), "--output", str(tmp_path), "--config", str(conf))
        assert r.returncode == 0 and (tmp_path / "old.flac").read_bytes() == (eval_dir / "speech" / JFK).read_bytes()
        receipt = Retention(store, cfg, vault=v).delete_now(job.id)
        assert receipt is not None and not old.exists() and note.exists()
