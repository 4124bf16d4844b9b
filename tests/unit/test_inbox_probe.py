"""The inbox's cheap checks: which names are ignored, and which files are refused before queueing (and why)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hushnote.daemon.jobs.inbox import check_inbox_file, ignored_name, unique_path

from tests.support.speech import JFK, wav


def test_ignored_names() -> None:
    for name in (".hidden.wav", "a.wav.part", "a.crdownload", "x.tmp", "~$lock.wav", ".~lock"):
        assert ignored_name(name), name
    for name in ("session.m4a", "Séance 1.wav", "a b.flac"):
        assert not ignored_name(name), name


def test_cheap_probe(tmp_path: Path, eval_dir: Path) -> None:
    good = [wav(tmp_path / "ok.wav"), eval_dir / "speech" / JFK,
            eval_dir / "speech" / "librivox_pocketsphinx" / "sense_and_sensibility_01_austen_64kb-0870.wav"]
    for p in good:
        assert check_inbox_file(p) is None, p
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "random.wav").write_bytes(os.urandom(5000))
    (tmp_path / "dir.wav").mkdir()
    (tmp_path / "link.wav").symlink_to(tmp_path / "ok.wav")
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04 a word file")
    wav(tmp_path / "zero.wav", seconds=0)
    expect = {"empty.wav": "empty", "random.wav": "not_audio", "dir.wav": "directory", "link.wav": "symlink",
              "notes.docx": "not_audio", "zero.wav": "zero_length"}
    for name, code in expect.items():
        bad = check_inbox_file(tmp_path / name)
        assert bad is not None and bad.code == code, (name, bad)
        assert name in bad.what and bad.hint


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    p = wav(tmp_path / "locked.wav")
    p.chmod(0)
    try:
        bad = check_inbox_file(p)
        assert bad is not None and bad.code == "unreadable"
    finally:
        p.chmod(0o600)


def test_encrypted_copies_in_the_inbox_are_refused_plainly(tmp_path: Path) -> None:
    for name, data in (("Client D.m4a.hushnote", b"HNVAULT\x01\x00\x00" + bytes(40)),
                       ("Client D.m4a", b"HNVAULT\x01\x00\x00" + bytes(40))):  # old-style name
        p = tmp_path / name
        p.write_bytes(data)
        bad = check_inbox_file(p)
        assert bad is not None and bad.code == "encrypted_copy", bad
        assert "hushnote keeps encrypted" in bad.what and '--output "Client D.m4a"' in bad.hint
    (tmp_path / "a.wav.hushnote").write_bytes(b"x")
    assert unique_path(tmp_path, "a.wav.hushnote").name == "a-2.wav.hushnote"
