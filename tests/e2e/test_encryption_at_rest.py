"""Encryption at rest with the daemon as a process: a crash while an inbox file is encrypted into the store
leaves one note and no unused key; a recording made through the service is never in the clear."""

from __future__ import annotations

from pathlib import Path

import pytest
from hushnote.daemon.privacy import at_rest
from hushnote.daemon.privacy import vault as vault_mod
from hushnote.daemon.recording.chunks import recordings_dir
from hushnote.daemon.recording.controller import recording_name

from tests.support.daemon import Daemon, everything_accounted_for, pulse_daemon
from tests.support.plaintext import scan, transcript_words
from tests.support.pulse import PulseServer
from tests.support.speech import joined_clips, speech, write_wav
from tests.support.waiting import wait_for


@pytest.mark.parametrize("point", ["ingest.encrypting", "ingest.encrypted"])
def test_crash_while_taking_in_an_inbox_file_gives_one_note_and_no_unused_key(
        daemon: Daemon, eval_dir: Path, point: str) -> None:
    """ingest.encrypting: the copy is half written (its key exists); ingest.encrypted: the copy is complete and
    the original not yet removed. Either way: one note, and no key left without its file."""
    d = daemon
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
    assert vault_mod.is_encrypted(d.notes / "one.flac.hushnote")
    if point == "ingest.encrypting":  # taken in again under a new job: the half copy's key is destroyed
        assert not [p for p in keys.glob("*.key") if p.stem in first], "the unused key is destroyed"
        assert {p.stem for p in keys.glob("*.destroyed")} >= first
    else:  # the complete copy was kept: its key is the note's audio key
        assert {p.stem for p in keys.glob("*.key")} >= first
    assert d.stop() == 0


def test_recording_through_the_service_is_never_in_the_clear(tmp_path: Path, home: Path, pulse: PulseServer,
                                                              eval_dir: Path) -> None:
    samples, _ = joined_clips(eval_dir, ["LJ001-0007", "LJ001-0008"])
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
        kept = d.notes / f"{recording_name(st['id'])}.hushnote"
        assert vault_mod.is_encrypted(kept) and scan([kept], words) == {}
        assert d.audio_bytes(kept)[:4] == b"fLaC"  # the recording itself, decrypted in memory
        assert d.stop() == 0
