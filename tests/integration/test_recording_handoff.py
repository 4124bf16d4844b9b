"""The crash-safety of the hand-off from the recorder to the queue: the service, in this process, finds every
interrupted hand-off at start and queues each recording exactly once (no microphone, no timing involved)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from hushnote.daemon.jobs.store import Store
from hushnote.daemon.recording.chunks import RecordingStore, recordings_dir
from hushnote.daemon.recording.controller import recording_name
from hushnote.daemon.service.service import DB_NAME, Service

from tests.support.config import make_cfg


def _recording(root: Path, rec_id: str, seconds: float = 2.0) -> RecordingStore:
    st = RecordingStore.create(root, rec_id, {"chunk_samples": 16000})
    pcm = (np.sin(np.arange(int(seconds * 16000)) / 8.0) * 8000).astype("<i2").tobytes()
    st.write_chunk(1, pcm)
    st.release()
    return st


def test_interrupted_hand_offs_are_queued_exactly_once(home: Path) -> None:
    cfg = make_cfg(home, storage__encrypt_audio=False)  # plain chunks: this is about the queue
    data = cfg.path("paths.data")
    notes = cfg.path("paths.notes")
    root = recordings_dir(data)
    with Store(data / DB_NAME) as db:
        db.set_paused(True)  # nothing is processed: this test is about the queue only
        # A: killed while recording
        _recording(root, "rec-20250101T100000Z-aaaaaa")
        # B: killed after the job row was written, before the file was moved
        b = _recording(root, "rec-20250101T110000Z-bbbbbb")
        b.assemble()
        b.update_meta(state="handing_off")
        db.begin_ingest("recording", b.output, recording_name(b.rec_id), notes)
        # C: killed after the file was moved into the store, before the row became queued
        c = _recording(root, "rec-20250101T120000Z-cccccc")
        c.assemble()
        c.update_meta(state="handing_off")
        job_c = db.begin_ingest("recording", c.output, recording_name(c.rec_id), notes)
        os.replace(c.output, job_c.store_path)
    for _ in range(2):  # a second start finds nothing more to do
        with Service(cfg, ipc=False) as svc:
            assert svc.store is not None
            jobs = svc.store.jobs()
            assert sorted(j.state for j in jobs) == ["queued"] * 3, [(j.state, j.last_error) for j in jobs]
            assert all(j.kind == "recording" and Path(j.store_path).exists() for j in jobs)
            assert {j.id for j in jobs} >= {job_c.id}
            assert list(root.iterdir()) == []
