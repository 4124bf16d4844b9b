"""``hushnote voice enroll|status|forget`` as a clinician runs them (the ``hushnote`` command as a subprocess,
the real speaker model, real vault files): the voiceprint is stored encrypted, forgetting crypto-shreds it,
and a sample of silence or of two voices is refused with nothing stored."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hushnote.daemon.core.config import Config
from hushnote.daemon.privacy import at_rest
from hushnote.daemon.privacy.vault import MAGIC, read_header
from hushnote.daemon.speakers import Embedder, speech_regions, voiceprint, voiceprint_store
from hushnote.daemon.speech.audio import decode_all

from tests.support.cli import run_cli
from tests.support.config import make_cfg, write_toml
from tests.support.service import audit_of
from tests.support.speakers import FEMALE, MALE, build_session, reader_audio
from tests.support.speech import write_wav


@pytest.fixture()
def cfg(home: Path) -> Config:
    return make_cfg(home)


@pytest.fixture()
def cfg_file(cfg: Config, home: Path) -> Path:
    return write_toml(cfg, home / "config.toml")


def hushnote(cfg_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HUSHNOTE_CONFIG"}
    return run_cli(*args, "--config", str(cfg_file), env=env)


def one_voice(path: Path) -> Path:
    """25 s of one reader's enrolment speech, in turns of varied loudness and colour, as a WAV file."""
    return write_wav(path, build_session([[reader_audio(MALE[1], "enrol")]], 25.0, seed=4, turn_s=(2.0, 6.0)).audio)


def nothing_stored(cfg: Config) -> bool:
    data = cfg.path("paths.data")
    return not (data / voiceprint_store.VOICE_DIR).exists() and not audit_of(cfg, "voice.enrolled")


def test_enrol_status_and_forget(cfg: Config, cfg_file: Path, home: Path) -> None:
    data = cfg.path("paths.data")
    r = hushnote(cfg_file, "voice", "status")
    assert r.returncode == 0 and r.stdout.startswith("No voice is enrolled."), r.stderr
    clip = one_voice(home / "me.wav")

    r = hushnote(cfg_file, "voice", "enroll", "--from", str(clip))
    assert r.returncode == 0, r.stderr
    assert "Your voice is enrolled." in r.stdout and "Traceback" not in r.stderr
    r = hushnote(cfg_file, "voice", "status")
    assert r.returncode == 0 and r.stdout.startswith("A voice is enrolled (since "), r.stderr

    # on disk: a vault file under a key of its own, never the raw vector
    stored = voiceprint_store.voice_path(data)
    raw = stored.read_bytes()
    assert raw.startswith(MAGIC)
    audio = decode_all(clip)
    expected = voiceprint(audio, speech_regions(audio), Embedder())
    vector = expected.astype("<f4").tobytes()
    assert not any(vector[i : i + 8] in raw for i in range(0, len(vector) - 8, 4)), "plaintext floats on disk"
    file_id = read_header(stored).file_id
    key = data / at_rest.KEYS_DIR / f"{file_id}.key"
    assert key.is_file()
    assert audit_of(cfg, "voice.enrolled") == [{"file_id": file_id, "source": "file", "replaced": False}]
    vault = at_rest.open_vault(cfg, create=False)
    got = voiceprint_store.load(vault, data)
    assert got is not None and np.allclose(got, expected, atol=1e-6)
    assert str(np.round(float(expected[0]), 4)) not in r.stdout  # status never prints the vector

    # forget: refused without a confirmation (no terminal to ask), then done with --yes
    r = hushnote(cfg_file, "voice", "forget")
    assert r.returncode != 0 and "--yes" in r.stderr and stored.exists() and key.exists()
    r = hushnote(cfg_file, "voice", "forget", "--yes")
    assert r.returncode == 0 and "deleted" in r.stdout, r.stderr
    assert not key.exists() and (data / at_rest.KEYS_DIR / f"{file_id}.destroyed").exists()
    assert not stored.exists()
    assert voiceprint_store.load(vault, data) is None
    assert voiceprint_store.load_for(cfg, None) is None
    assert audit_of(cfg, "voice.forgotten") == [{"file_id": file_id, "key_destroyed": True, "files": 1}]
    r = hushnote(cfg_file, "voice", "status")
    assert r.stdout.startswith("No voice is enrolled.")
    r = hushnote(cfg_file, "voice", "forget", "--yes")
    assert r.returncode == 0 and "nothing to forget" in r.stdout


def test_enrolling_again_replaces_and_shreds_the_earlier_voice(cfg: Config, cfg_file: Path, home: Path) -> None:
    data = cfg.path("paths.data")
    clip = one_voice(home / "me.wav")
    assert hushnote(cfg_file, "voice", "enroll", "--from", str(clip)).returncode == 0
    first = read_header(voiceprint_store.voice_path(data)).file_id
    other = write_wav(home / "again.wav", reader_audio(MALE[0], "enrol"))
    r = hushnote(cfg_file, "voice", "enroll", "--from", str(other))
    assert r.returncode == 0 and "enrolled again" in r.stdout, r.stderr
    second = read_header(voiceprint_store.voice_path(data)).file_id
    assert second != first
    keys = data / at_rest.KEYS_DIR
    assert not (keys / f"{first}.key").exists() and (keys / f"{first}.destroyed").exists()
    assert (keys / f"{second}.key").exists()
    assert [e["replaced"] for e in audit_of(cfg, "voice.enrolled")] == [False, True]
    assert voiceprint_store.load_for(cfg, None) is not None


def test_a_silent_sample_is_refused_and_nothing_is_stored(cfg: Config, cfg_file: Path, home: Path) -> None:
    quiet = write_wav(home / "quiet.wav", np.zeros(16000 * 25, dtype=np.float32))
    r = hushnote(cfg_file, "voice", "enroll", "--from", str(quiet))
    assert r.returncode == 3, r.stderr
    assert "has no speech in it" in r.stderr and "quiet.wav" in r.stderr and "nothing was stored" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert nothing_stored(cfg)


def test_a_sample_of_two_voices_is_refused_and_nothing_is_stored(cfg: Config, cfg_file: Path, home: Path) -> None:
    two = build_session([[reader_audio(FEMALE[0], "enrol")], [reader_audio(MALE[0], "enrol")]], 25.0, seed=4,
                        turn_s=(2.0, 6.0)).audio
    r = hushnote(cfg_file, "voice", "enroll", "--from", str(write_wav(home / "two.wav", two)))
    assert r.returncode == 3, r.stderr
    assert "more than one voice" in r.stderr and "two.wav" in r.stderr and "Traceback" not in r.stderr
    assert nothing_stored(cfg)


def test_a_missing_sample_file_is_a_plain_error(cfg: Config, cfg_file: Path, home: Path) -> None:
    r = hushnote(cfg_file, "voice", "enroll", "--from", str(home / "nope.wav"))
    assert r.returncode == 3 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    assert nothing_stored(cfg)
