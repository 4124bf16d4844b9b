"""The enrolled-voice store on a real vault in a temporary folder (no model): round trip, the file is
ciphertext, an interrupted forget, a damaged or plain file, and the audit entries carry ids only."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import numpy as np
import pytest
from hushnote.daemon.privacy.audit import FILENAME
from hushnote.daemon.privacy.keys import VaultError
from hushnote.daemon.privacy.vault import Vault
from hushnote.daemon.speakers import voiceprint_store as store

from tests.support.clock import FakeClock


@pytest.fixture()
def vault(tmp_path: Path) -> Vault:
    return Vault(tmp_path, secrets.token_bytes(32))


def unit_vector(seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(192).astype(np.float32)
    return np.asarray(v / np.linalg.norm(v), dtype=np.float32)


def events(data: Path) -> list[tuple[str, dict[str, object]]]:
    lines = (data / FILENAME).read_text().splitlines()
    return [(e["event"], e["data"]) for e in map(json.loads, lines)]


def test_round_trip_is_exact_and_the_file_is_ciphertext(vault: Vault, tmp_path: Path) -> None:
    vp = unit_vector()
    assert store.load(vault, tmp_path) is None and store.status(tmp_path) is None
    path = store.save(vault, tmp_path, vp, clock=FakeClock())
    got = store.load(vault, tmp_path)
    assert got is not None and got.dtype == np.float32 and np.array_equal(got, vp)
    raw = path.read_bytes()
    assert raw.startswith(b"HNVAULT") and store.MAGIC not in raw and vp.astype("<f4").tobytes()[:8] not in raw
    found = store.status(tmp_path)
    assert found is not None and found.file_id.startswith("voice-")
    assert events(tmp_path) == [("voice.enrolled", {"file_id": found.file_id, "source": "file", "replaced": False})]


def test_forget_without_a_vault_shreds_key_then_file(vault: Vault, tmp_path: Path) -> None:
    store.save(vault, tmp_path, unit_vector())
    found = store.status(tmp_path)
    assert found is not None
    assert store.forget(None, tmp_path) is True
    assert not store.voice_path(tmp_path).exists() and store.status(tmp_path) is None
    assert not (tmp_path / "keys" / f"{found.file_id}.key").exists()
    assert store.load(vault, tmp_path) is None
    assert events(tmp_path)[-1] == ("voice.forgotten", {"file_id": found.file_id, "key_destroyed": True, "files": 1})
    assert store.forget(None, tmp_path) is False
    store.save(vault, tmp_path, unit_vector(1))  # enrolling again after forgetting: a fresh id
    assert store.load(vault, tmp_path) is not None


def test_a_forget_cut_off_after_the_key_reads_as_not_enrolled(vault: Vault, tmp_path: Path) -> None:
    store.save(vault, tmp_path, unit_vector())
    found = store.status(tmp_path)
    assert found is not None
    vault.destroy(found.file_id)  # a crash between destroying the key and removing the file
    assert store.voice_path(tmp_path).exists()
    assert store.status(tmp_path) is None and store.load(vault, tmp_path) is None
    assert store.forget(vault, tmp_path) is True and not store.voice_path(tmp_path).exists()


def test_a_plain_or_damaged_file_is_a_plain_error(vault: Vault, tmp_path: Path) -> None:
    path = store.voice_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(unit_vector().tobytes())  # a raw vector someone put there
    with pytest.raises(VaultError, match="enrolled voice file is damaged"):
        store.load(vault, tmp_path)
    path.unlink()
    vault.encrypt_text("not a voiceprint", path, "voice-0123456789abcdef")
    with pytest.raises(VaultError, match="enrolled voice file is damaged"):
        store.load(vault, tmp_path)


@pytest.mark.parametrize("bad", [np.zeros(191, np.float32), np.full(192, np.nan, np.float32)])
def test_only_a_finite_192_vector_is_stored(vault: Vault, tmp_path: Path, bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="192"):
        store.save(vault, tmp_path, bad)
    assert not store.voice_path(tmp_path).exists()
