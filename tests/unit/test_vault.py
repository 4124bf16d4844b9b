"""Encryption at rest: real files, real libsodium, a real PyAV decode, real crash (a killed subprocess)."""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import sys
import textwrap
import wave
from pathlib import Path
from typing import Any

import av
import keyring
import keyring.backend
import pytest
from hushnote.daemon.privacy import keys as keys_mod
from hushnote.daemon.privacy.at_rest import encrypt_into
from hushnote.daemon.privacy.keys import (
    KeyDestroyed,
    KeyMissing,
    MasterKeyStore,
    PassphraseRequired,
    VaultError,
)
from hushnote.daemon.privacy.vault import (
    DecryptedFile,
    EncryptedWriter,
    Vault,
    is_encrypted,
    open_decrypted,
    read_header,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.paths import REPO

SAMPLE = REPO / "samples" / "sample-session.flac"
# container signatures long enough that random ciphertext cannot match by chance
SIGNATURES = [rb"fLaC\x00\x00\x00\x22", rb"RIFF.{4}WAVE", rb"OggS\x00", rb"ID3[\x02-\x04]\x00", rb"ftyp(isom|M4A |mp4)"]


def _vault(tmp_path: Path, chunk: int = 1 << 20, master: bytes | None = None, **kw: Any) -> Vault:
    return Vault(tmp_path / "data", master or b"M" * 32, chunk_size=chunk, **kw)


@pytest.fixture()
def five_mb(tmp_path: Path) -> Path:
    src = tmp_path / "session.flac"
    blob = SAMPLE.read_bytes()
    src.write_bytes(blob * (5 * 1024 * 1024 // len(blob) + 1))
    assert src.stat().st_size >= 5 * 1024 * 1024
    return src


def _chunk_offsets(path: Path) -> list[tuple[int, int]]:
    """(offset, length) of every chunk's ciphertext (after its 4-byte length)."""
    h = read_header(path)
    data = path.read_bytes()
    pos, out = len(h.raw), []
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        out.append((pos + 4, n))
        pos += 4 + n
    return out


def _flip(path: Path, offset: int) -> None:
    b = bytearray(path.read_bytes())
    b[offset] ^= 0x01
    path.write_bytes(bytes(b))


# ----------------------------------------------------------------------------- round trip & secrecy


def test_round_trip_5mb_audio_and_no_plaintext_signatures(tmp_path: Path, five_mb: Path) -> None:
    v = _vault(tmp_path, chunk=256 * 1024)
    enc = tmp_path / "session.hnv"
    plain = five_mb.read_bytes()
    with v.writer(enc, "job-1") as w:  # irregular write sizes
        pos, step = 0, 1
        while pos < len(plain):
            w.write(plain[pos:pos + step])
            pos += step
            step = step * 7 % 300_001 + 1
    assert is_encrypted(enc) and not is_encrypted(five_mb)
    assert read_header(enc).file_id == "job-1"
    assert b"".join(v.iter_plaintext(enc)) == plain
    ct = enc.read_bytes()
    for sig in SIGNATURES:
        assert not re.search(sig, ct, re.DOTALL), sig
    for off in range(0, len(plain) - 32, len(plain) // 64):  # no 32-byte window of plaintext survives
        assert plain[off:off + 32] not in ct
    assert stat.S_IMODE(enc.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_wav_header_does_not_survive(tmp_path: Path) -> None:
    src = tmp_path / "a.wav"
    with wave.open(str(src), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(os.urandom(64000))
    assert re.search(SIGNATURES[1], src.read_bytes(), re.DOTALL)
    v = _vault(tmp_path)
    encrypt_into(src, tmp_path / "a.hnv", v, "wav-1")
    assert not re.search(SIGNATURES[1], (tmp_path / "a.hnv").read_bytes(), re.DOTALL)
    assert b"".join(v.iter_plaintext(tmp_path / "a.hnv")) == src.read_bytes()


def test_pyav_decodes_from_memory_without_plaintext_file(tmp_path: Path) -> None:
    v = _vault(tmp_path, chunk=64 * 1024)
    enc = tmp_path / "s.hnv"
    encrypt_into(SAMPLE, enc, v, "rec-7")
    with av.open(str(SAMPLE), "r") as c:
        want = sum(f.samples for f in c.decode(audio=0))
    before = sorted(p for p in tmp_path.rglob("*"))
    with v.open(enc) as f, av.open(f, "r") as c:
        got = sum(fr.samples for fr in c.decode(audio=0))
        during = sorted(p for p in tmp_path.rglob("*"))
    assert got == want > 0
    assert during == before  # nothing written while decoding


def test_decrypted_file_seeks(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    v = _vault(tmp_path, chunk=7000)
    v.encrypt_text("", tmp_path / "unused.hnv", "unused")
    with v.writer(tmp_path / "x.hnv", "x") as w:
        w.write(data)
    with v.open(tmp_path / "x.hnv") as f:
        assert f.size == len(data) and f.complete
        f.seek(-100, io.SEEK_END)
        assert f.read() == data[-100:]
        f.seek(5)
        assert f.read(20_000) == data[5:20_005]
        f.seek(123_456)
        assert f.read(9) == data[123_456:123_465]
        f.seek(0)
        assert f.read() == data


def test_exception_inside_writer_leaves_nothing(tmp_path: Path) -> None:
    v = _vault(tmp_path)
    with pytest.raises(RuntimeError), v.writer(tmp_path / "n.hnv", "n1") as w:
        w.write(b"secret words" * 1000)
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_notes_text_helpers(tmp_path: Path) -> None:
    v = _vault(tmp_path)
    note = "Subjective: client reports — ünïcode ok.\n" * 50
    v.encrypt_text(note, tmp_path / "n.note.hnv", "note-1")
    assert b"Subjective" not in (tmp_path / "n.note.hnv").read_bytes()
    assert v.decrypt_to_text(tmp_path / "n.note.hnv") == note
    from hushnote.daemon.privacy.at_rest import read_text, write_text  # "write encrypted or not": one place

    plain = write_text(tmp_path / "p.md", note, None, "note")
    assert plain.read_text(encoding="utf-8") == note and read_text(plain, None) == note
    enc = write_text(tmp_path / "e.md", note, v, "note")
    assert is_encrypted(enc) and v.decrypt_to_text(enc) == note and read_text(enc, v) == note


# ----------------------------------------------------------------------------- tampering & truncation


def _small_file(tmp_path: Path, n: int = 100_000, chunk: int = 16_384) -> tuple[Vault, Path, bytes]:
    v = _vault(tmp_path, chunk=chunk)
    data = os.urandom(n)
    path = tmp_path / "t.hnv"
    with v.writer(path, "t1") as w:
        w.write(data)
    return v, path, data


@pytest.mark.parametrize("where", ["middle", "magic", "version", "flags", "file_id", "stream_header",
                                   "length", "final_tag"])
def test_tampering_is_refused(tmp_path: Path, where: str) -> None:
    v, path, _ = _small_file(tmp_path)
    key = v.data_key("t1")
    h = read_header(path)
    chunks = _chunk_offsets(path)
    off = {
        "middle": chunks[2][0] + 100,
        "magic": 0,
        "version": 7,
        "flags": 8,
        "file_id": 10,
        "stream_header": len(h.raw) - 5,
        "length": chunks[1][0] - 2,
        "final_tag": path.stat().st_size - 3,  # inside the final chunk's authentication tag
    }[where]
    _flip(path, off)
    with pytest.raises(VaultError) as ei:
        b"".join(open_decrypted(path, key))
    assert "t.hnv" in str(ei.value)
    with pytest.raises(VaultError):
        DecryptedFile(path, key)
    if where == "final_tag":  # indistinguishable from a torn last write: recovery drops it, flags it
        with DecryptedFile(path, key, allow_incomplete=True) as f:
            assert not f.complete and f.size == 16_384 * (len(chunks) - 1)
    elif where not in ("magic", "version", "file_id"):  # recovery mode does not excuse tampering
        with pytest.raises(VaultError):
            b"".join(open_decrypted(path, key, allow_incomplete=True))


def test_reordered_chunks_are_refused(tmp_path: Path) -> None:
    v, path, _ = _small_file(tmp_path)
    raw = path.read_bytes()
    (a, na), (b, nb_) = _chunk_offsets(path)[1:3]
    assert na == nb_
    swapped = raw[:a - 4] + raw[b - 4:b + nb_] + raw[a - 4:a + na] + raw[b + nb_:]
    path.write_bytes(swapped)
    with pytest.raises(VaultError, match="integrity"):
        b"".join(v.iter_plaintext(path))


def test_truncation_refused_and_recoverable(tmp_path: Path) -> None:
    v, path, data = _small_file(tmp_path, n=100_000, chunk=16_384)
    chunks = _chunk_offsets(path)
    last_off = chunks[-1][0] - 4
    path.write_bytes(path.read_bytes()[:last_off])  # drop the FINAL chunk
    with pytest.raises(VaultError, match="incomplete"):
        b"".join(v.iter_plaintext(path))
    recovered = b"".join(v.iter_plaintext(path, allow_incomplete=True))
    assert recovered == data[:16_384 * (len(chunks) - 1)]
    with v.open(path, allow_incomplete=True) as f:
        assert not f.complete and f.read() == recovered
    # cut in the middle of a chunk: the torn chunk is dropped, the complete ones are kept
    path.write_bytes(path.read_bytes()[:chunks[3][0] + 50])
    with pytest.raises(VaultError, match="incomplete"):
        b"".join(v.iter_plaintext(path))
    assert b"".join(v.iter_plaintext(path, allow_incomplete=True)) == data[:16_384 * 3]


def test_data_after_final_is_refused(tmp_path: Path) -> None:
    v, path, _ = _small_file(tmp_path)
    with open(path, "ab") as fh:
        fh.write(b"\x00\x00\x00\x20" + os.urandom(32))
    with pytest.raises(VaultError, match="after its end"):
        b"".join(v.iter_plaintext(path))


def test_durable_recording_survives_a_killed_process(tmp_path: Path) -> None:
    """A recorder process killed mid-recording: every flushed chunk is recoverable, the file is flagged."""
    v = _vault(tmp_path, chunk=4096)
    key = v.new_key("rec-1")
    path = tmp_path / "rec.hnv"
    script = textwrap.dedent(f"""
        import os, sys
        from hushnote.daemon.privacy.vault import EncryptedWriter
        w = EncryptedWriter({str(path)!r}, bytes.fromhex({key.hex()!r}), file_id="rec-1", chunk_size=4096,
                            durable=True)
        for i in range(10):
            w.write(bytes([i]) * 3000)
            w.flush()
        w.write(b"never flushed" * 10)
        os.kill(os.getpid(), 9)
    """)
    r = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=60)
    assert r.returncode == -9, r.stderr
    assert read_header(path).durable
    with pytest.raises(VaultError, match="incomplete"):
        b"".join(v.iter_plaintext(path))
    got = b"".join(v.iter_plaintext(path, allow_incomplete=True))
    assert got == b"".join(bytes([i]) * 3000 for i in range(10))
    fixed, complete = v.recover(path, tmp_path / "rec.fixed.hnv")
    assert not complete
    assert b"".join(v.iter_plaintext(fixed)) == got
    v.destroy("rec-1", path)
    assert not path.exists()


def test_durable_writer_close_and_refuses_overwrite(tmp_path: Path) -> None:
    v = _vault(tmp_path, chunk=1000)
    path = tmp_path / "d.hnv"
    with v.writer(path, "d1", durable=True) as w:
        w.write(b"a" * 2500)
        w.flush()
        w.write(b"b" * 10)
    assert b"".join(v.iter_plaintext(path)) == b"a" * 2500 + b"b" * 10
    with pytest.raises(FileExistsError):
        EncryptedWriter(path, b"k" * 32, durable=True)
    # an exception in a durable writer keeps what was written (a recording is never thrown away)
    p2 = tmp_path / "d2.hnv"
    with pytest.raises(RuntimeError), v.writer(p2, "d2", durable=True) as w:
        w.write(b"c" * 1500)
        raise RuntimeError("mic unplugged")
    assert b"".join(v.iter_plaintext(p2, allow_incomplete=True)) == b"c" * 1500


# ----------------------------------------------------------------------------- keys


def test_wrong_master_key(tmp_path: Path) -> None:
    v, path, _ = _small_file(tmp_path)
    other = Vault(tmp_path / "data", b"X" * 32)
    with pytest.raises(VaultError, match="wrong master key"):
        b"".join(other.iter_plaintext(path))


def test_missing_wrapped_key(tmp_path: Path) -> None:
    v, path, _ = _small_file(tmp_path)
    (tmp_path / "data" / "keys" / "t1.key").unlink()
    with pytest.raises(KeyMissing, match="missing"):
        b"".join(v.iter_plaintext(path))


def test_key_file_renamed_onto_another_id_is_refused(tmp_path: Path) -> None:
    v = _vault(tmp_path)
    v.encrypt_text("one", tmp_path / "a.hnv", "a")
    v.encrypt_text("two", tmp_path / "b.hnv", "b")
    kd = tmp_path / "data" / "keys"
    os.replace(kd / "a.key", kd / "b.key")
    with pytest.raises(VaultError, match="cannot be unlocked"):
        v.decrypt_to_text(tmp_path / "b.hnv")


def test_key_files_are_private_and_ids_are_checked(tmp_path: Path) -> None:
    v = _vault(tmp_path)
    v.new_key("k1")
    kd = tmp_path / "data" / "keys"
    assert stat.S_IMODE(kd.stat().st_mode) == 0o700
    assert stat.S_IMODE((kd / "k1.key").stat().st_mode) == 0o600
    with pytest.raises(VaultError, match="already exists"):
        v.new_key("k1")
    for bad in ("../x", ".hidden", "a/b", "", "x" * 200):
        with pytest.raises(ValueError):
            v.new_key(bad)


def test_destroy_then_decrypt_says_destroyed(tmp_path: Path) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    v = _vault(tmp_path, on_event=lambda e, d: events.append((e, d)))
    path = tmp_path / "s.hnv"
    encrypt_into(SAMPLE, path, v, "job-9")
    leftover = tmp_path / "leftover-copy.hnv"  # bytes that "remain on disk" (a backup, an SSD block…)
    leftover.write_bytes(path.read_bytes())
    wrapped = (tmp_path / "data" / "keys" / "job-9.key").read_bytes()
    receipt = v.destroy("job-9", path)
    assert receipt == {"file_id": "job-9", "key_destroyed": True, "files": 1}
    assert not path.exists() and not (tmp_path / "data" / "keys" / "job-9.key").exists()
    for p in (tmp_path / "data").rglob("*"):
        if p.is_file():
            assert wrapped[7:] not in p.read_bytes()
    with pytest.raises(KeyDestroyed, match="destroyed"):
        b"".join(v.iter_plaintext(leftover))
    with pytest.raises(KeyDestroyed):
        v.open(path, file_id="job-9")
    with pytest.raises(VaultError, match="cannot be reused"):
        v.new_key("job-9")
    assert [e for e, _ in events] == ["key.created", "key.destroyed"]
    assert all(set(d) <= {"file_id", "key_destroyed", "files"} for _, d in events)


# ----------------------------------------------------------------------------- master key storage


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend living in memory: the process edge for the keyring path."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture()
def memory_keyring() -> Any:
    before = keyring.get_keyring()
    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    yield kr
    keyring.set_keyring(before)


def test_keyring_path(home: Path, memory_keyring: MemoryKeyring) -> None:
    cfg = home / "config" / "hushnote"
    store = MasterKeyStore(cfg)
    assert store.source == "keyring"
    mk = store.create()
    assert mk.created and mk.source == "keyring" and mk.warning is None and len(mk.key) == 32
    assert mk.key.hex() not in repr(mk)
    assert not (cfg / "master.key").exists()
    assert ("hushnote", "master-key") in memory_keyring.store
    again = MasterKeyStore(cfg).load()
    assert again.key == mk.key and not again.created
    with pytest.raises(VaultError, match="already exists"):
        store.create()


def test_corrupt_keyring_entry(home: Path, memory_keyring: MemoryKeyring) -> None:
    for junk in ("not json", '{"v": 1, "key": "c2hvcnQ="}', '{"v": 9}', '{"v": 1, "kdf": "argon2id"}'):
        memory_keyring.store[("hushnote", "master-key")] = junk
        with pytest.raises(VaultError, match="damaged"):
            MasterKeyStore(home / "config").load()


def test_unusable_backends_fall_back_to_a_private_file(home: Path) -> None:
    from keyring.backends import fail, null

    for backend in (fail.Keyring(), null.Keyring()):
        assert not keys_mod.usable_keyring(backend)
    assert keys_mod.usable_keyring(MemoryKeyring())
    cfg = home / "config" / "hushnote"
    store = MasterKeyStore(cfg, backend=fail.Keyring())
    assert store.source == "file"
    mk = store.create()
    assert mk.created and mk.warning and "keyring" in mk.warning
    f = cfg / "master.key"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and stat.S_IMODE(cfg.stat().st_mode) == 0o700
    assert MasterKeyStore(cfg, backend=fail.Keyring()).load().key == mk.key
    f.chmod(0o644)
    with pytest.raises(VaultError, match="other users"):
        store.load()
    f.chmod(0o600)
    f.write_text("garbage")
    with pytest.raises(VaultError, match="damaged"):
        store.load()
    f.unlink()
    with pytest.raises(KeyMissing):
        store.load()


def test_default_backend_here_is_used_or_refused_correctly(home: Path) -> None:
    """With whatever keyring this machine really has: a usable one is used, else the file fallback."""
    store = MasterKeyStore(home / "config" / "hushnote")
    expected = "keyring" if keys_mod.usable_keyring(keyring.get_keyring()) else "file"
    assert store.source == expected


def test_passphrase_protection(home: Path) -> None:
    cfg = home / "config" / "hushnote"
    store = MasterKeyStore(cfg, use_keyring=False)
    mk = store.create(passphrase="correct horse")  # noqa: S106 - a test passphrase
    assert mk.protected
    text = (cfg / "master.key").read_text()
    assert mk.key.hex() not in text and "argon2id" in text
    with pytest.raises(VaultError, match="passphrase is wrong"):
        store.load("wrong horse")
    with pytest.raises(PassphraseRequired):
        store.load()
    assert store.load("correct horse").key == mk.key


def test_vault_with_keyring_master_end_to_end(home: Path, memory_keyring: MemoryKeyring) -> None:
    mk = MasterKeyStore(home / "config").create()
    v = Vault(home / "data", mk.key)
    v.encrypt_text("hello", home / "n.hnv", "n")
    v2 = Vault(home / "data", MasterKeyStore(home / "config").load().key)
    assert v2.decrypt_to_text(home / "n.hnv") == "hello"


# ----------------------------------------------------------------------------- property test


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=50_000), chunk=st.integers(1, 5000), cuts=st.lists(st.integers(0, 50_000)),
       seeks=st.lists(st.tuples(st.integers(0, 50_500), st.integers(0, 9000)), max_size=8),
       durable=st.booleans())
def test_round_trip_property(tmp_path_factory: pytest.TempPathFactory, data: bytes, chunk: int,
                             cuts: list[int], seeks: list[tuple[int, int]], durable: bool) -> None:
    d = tmp_path_factory.mktemp("prop")
    key = os.urandom(32)
    path = d / "p.hnv"
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    with EncryptedWriter(path, key, file_id="p", chunk_size=chunk, durable=durable) as w:
        for a, b in zip(bounds, bounds[1:], strict=False):
            w.write(data[a:b])
            if durable:
                w.flush()
    assert b"".join(open_decrypted(path, key)) == data
    with DecryptedFile(path, key) as f:
        assert f.size == len(data)
        for pos, n in seeks:
            f.seek(pos)
            assert f.read(n) == data[pos:pos + n]
        f.seek(0)
        assert f.read() == data
