"""Recordings on disk without a microphone: recovery after power loss or a crash in the hand-off, the name a
recording gets, and a consent hook that fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hushnote.daemon.recording.chunks import RecordingStore, recordings_dir
from hushnote.daemon.recording.controller import recording_name
from hushnote.daemon.recording.recorder import Recorder, RecorderError, recover

from tests.support.config import recorder_cfg as make_cfg
from tests.support.speech import seconds_of


def test_recover_power_loss_leftovers(home: Path) -> None:
    """Complete chunks + a torn .part + a half-written assembly temp + a half-deleted folder."""
    root = recordings_dir(home / "d")
    store = RecordingStore.create(root, "rec-a", {})
    tone = (np.sin(np.arange(16000 * 2) / 5) * 8000).astype("<i2").tobytes()
    store.write_chunk(1, tone)
    store.append_part(2, tone[:12345])  # odd byte count: torn write
    store.release()
    (root / ".rec-a.flac.tmp").write_bytes(b"junk")
    (root / "rec-b.trash").mkdir()
    (root / "rec-b.trash" / "chunk-000001.pcm").write_bytes(b"\0\0")
    empty = RecordingStore.create(root, "rec-empty", {})
    empty.release()
    paths = recover(home / "d")
    assert [p.name for p in paths] == ["rec-a.flac"]
    assert abs(seconds_of(paths[0]) - (2 + 6172 / 16000)) < 0.01
    assert sorted(p.name for p in root.iterdir()) == ["rec-a.flac"]


def test_recover_after_a_crash_inside_a_moving_hand_off(home: Path) -> None:
    """The queue moved the file into its store, then the process died before "handed_off" was noted:
    recovery must not assemble the recording a second time (that would make a duplicate job)."""
    root = recordings_dir(home / "d")
    store = RecordingStore.create(root, "rec-m", {})
    store.write_chunk(1, np.ones(16000, dtype="<i2").tobytes())
    store.assemble()
    store.update_meta(state="handing_off")
    store.release()
    store.output.rename(home / "queued.flac")  # what the queue's ingest does
    assert recover(home / "d", lambda p, i: pytest.fail("handed off twice")) == []
    assert not root.joinpath("rec-m").exists()


def test_a_failing_consent_hook_refuses_to_record(home: Path) -> None:
    def broken_audit(rec_id: str, confirmed: bool) -> None:
        raise OSError("audit log not writable")

    cfg = make_cfg(home)
    with Recorder(cfg, consent_hook=broken_audit) as rec:
        with pytest.raises(RecorderError, match="consent could not be recorded"):
            rec.start(consent_confirmed=True)
        assert rec.status()["state"] == "idle"
    assert not recordings_dir(cfg.path("paths.data")).exists()


def test_recording_name() -> None:
    assert recording_name("rec-20250102T140500Z-abcdef").startswith("Session 2025-01-0")
    assert recording_name("rec-20250102T140500Z-abcdef").endswith(".flac")
    assert recording_name("odd") == "odd.flac"
