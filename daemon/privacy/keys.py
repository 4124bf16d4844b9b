"""Key storage for the vault: the master key, and one wrapped data key per encrypted file.

* The **master key** (32 random bytes) lives in the OS keyring when a real backend works, else in a
  0600 file ``<config dir>/master.key`` (the caller is told, once per process, through ``MasterKey.warning``).
  It can be protected by a passphrase (argon2id): the stored record then holds only the wrapped key.
* Each file gets a fresh **data key**, wrapped with the master key (XChaCha20-Poly1305 AEAD, the file id
  as associated data so a key file cannot be renamed onto another file) and written atomically to
  ``<data>/keys/<file id>.key``.
* **Crypto-shredding**: ``KeyStore.destroy`` overwrites and unlinks the wrapped key, fsyncs the folder and
  leaves a tombstone, so a later read says "destroyed" rather than "missing".

Nothing here logs or returns patient information: only ids, sources and fixed messages.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
from hushnote.daemon.core.errors import HushnoteError
from hushnote.daemon.core.fileio import atomic_write_bytes, fsync_dir
from nacl import bindings as nb

KEY_BYTES = 32
_AEAD_NONCE = nb.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
KEYRING_SERVICE = "hushnote"
KEYRING_USER = "master-key"
MASTER_FILE = "master.key"
# argon2id "moderate" limits (libsodium's recommendation for interactive-but-sensitive secrets).
KDF_OPS = argon2id.OPSLIMIT_MODERATE
KDF_MEM = argon2id.MEMLIMIT_MODERATE
_ID_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
_KEYFILE_MAGIC = b"HNKEY\x00\x01"  # 7 bytes: name + format version
FALLBACK_WARNING = ("No working system keyring was found: the hushnote master key is kept in a file "
                    "readable only by you ({path}). Set a passphrase for extra protection.")


class VaultError(HushnoteError):
    """An encrypted file or key cannot be used: tampered, truncated, wrong key, missing or destroyed."""

    exit_code = 6


class KeyDestroyed(VaultError):
    """The file's key was crypto-shredded: the file can never be decrypted again."""


class KeyMissing(VaultError):
    """There is no key for this file (never created, or the key store was lost)."""


class PassphraseRequired(VaultError):
    """The master key is passphrase-protected and no passphrase was given."""


class WrongPassphrase(VaultError):
    """The passphrase given does not unlock the master key."""


def check_file_id(file_id: str) -> str:
    """File ids name key files: letters, digits, ``._-``, no leading dot, at most 128 characters."""
    if not isinstance(file_id, str) or not _ID_RE.match(file_id):
        raise ValueError(f"invalid vault file id {file_id!r}")
    return file_id


def _atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_bytes(path, data, mode)


def shred_file(path: Path) -> bool:
    """Overwrite ``path`` with random bytes (fsynced), unlink it and fsync its folder. False if absent.

    On SSDs and copy-on-write filesystems the overwrite is best effort; what makes data unrecoverable is
    that the *key* is gone (crypto-shredding), not that these particular blocks were overwritten.
    """
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return False
    try:
        size = os.fstat(fd).st_size
        written = 0
        while written < size:
            written += os.write(fd, secrets.token_bytes(min(1 << 20, size - written)))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.unlink(path)
    fsync_dir(path.parent)
    return True


# ----------------------------------------------------------------------------- master key


@dataclass(frozen=True)
class MasterKey:
    key: bytes = b""
    source: str = ""  # "keyring" or "file"
    created: bool = False  # made by this call
    protected: bool = False  # wrapped by a passphrase
    warning: str | None = None  # set when the 0600-file fallback is in use: show it once

    def __repr__(self) -> str:  # never print key material
        return f"MasterKey(source={self.source!r}, created={self.created}, protected={self.protected})"


def usable_keyring(backend: Any) -> bool:
    """True for a real, secure keyring backend; False for fail/null/plaintext ones (and empty chainers)."""
    mod = type(backend).__module__
    name = type(backend).__name__
    if mod.startswith(("keyring.backends.fail", "keyring.backends.null")):
        return False
    if mod.startswith("keyrings.alt") and ("Plaintext" in name or "file" in mod):
        return False  # keyrings.alt file backends: plaintext, or prompt for their own password
    if mod.startswith("keyring.backends.chainer"):
        inner = list(getattr(backend, "backends", []))
        return bool(inner) and all(usable_keyring(b) for b in inner)
    try:
        prio = float(getattr(type(backend), "priority", 1))
    except Exception:  # noqa: BLE001 - a backend whose priority probe fails is not usable
        return False
    return prio > 0


def system_keyring(backend: Any = None, use_keyring: bool = True) -> Any:
    """``backend`` or the OS keyring (``keyring.get_keyring()``) if it is a real, secure one; else None (the
    caller falls back to a 0600 file in the settings folder)."""
    if backend is None and use_keyring:
        try:
            import keyring

            backend = keyring.get_keyring()
        except Exception:  # noqa: BLE001 - no keyring at all: use the file fallback
            return None
    return backend if backend is not None and usable_keyring(backend) else None


def encode_key_record(key: bytes, passphrase: str | None, ops: int, mem: int) -> str:
    """The master key as stored: plain (base64), or wrapped by ``passphrase`` (argon2id + XChaCha20-Poly1305)."""
    if passphrase is None:
        rec: dict[str, Any] = {"v": 1, "key": base64.b64encode(key).decode()}
    else:
        salt = secrets.token_bytes(argon2id.SALTBYTES)
        kek = argon2id.kdf(KEY_BYTES, passphrase.encode("utf-8"), salt, opslimit=ops, memlimit=mem)
        nonce = secrets.token_bytes(_AEAD_NONCE)
        ct = nb.crypto_aead_xchacha20poly1305_ietf_encrypt(key, b"hushnote-master", nonce, kek)
        rec = {"v": 1, "kdf": "argon2id", "ops": ops, "mem": mem, "salt": base64.b64encode(salt).decode(),
               "nonce": base64.b64encode(nonce).decode(), "wrapped": base64.b64encode(ct).decode()}
    return json.dumps(rec, sort_keys=True)


def decode_key_record(text: str, passphrase: str | None, where: str) -> tuple[bytes, bool]:
    """(key, protected) from ``encode_key_record``'s text; ``where`` names the place in error messages."""
    damaged = VaultError(f"The hushnote master key stored in {where} is damaged and cannot be read.",
                         "Restore it from a backup; without it, encrypted files cannot be opened.")
    try:
        rec = json.loads(text)
        if not isinstance(rec, dict) or rec.get("v") != 1:
            raise damaged
        if "key" in rec:
            key = base64.b64decode(rec["key"], validate=True)
            if len(key) != KEY_BYTES:
                raise damaged
            return key, False
        if rec.get("kdf") != "argon2id":
            raise damaged
        salt = base64.b64decode(rec["salt"], validate=True)
        nonce = base64.b64decode(rec["nonce"], validate=True)
        wrapped = base64.b64decode(rec["wrapped"], validate=True)
        ops, mem = int(rec["ops"]), int(rec["mem"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise damaged from None
    if passphrase is None:
        raise PassphraseRequired("The hushnote master key is protected by a passphrase.",
                                 "Enter the passphrase to unlock it.")
    try:
        kek = argon2id.kdf(KEY_BYTES, passphrase.encode("utf-8"), salt, opslimit=ops, memlimit=mem)
        key = nb.crypto_aead_xchacha20poly1305_ietf_decrypt(wrapped, b"hushnote-master", nonce, kek)
    except (nacl.exceptions.CryptoError, ValueError):
        raise WrongPassphrase("The passphrase is wrong: the hushnote master key could not be unlocked.",
                              "Check the passphrase and try again.") from None
    if len(key) != KEY_BYTES:
        raise damaged
    return key, True


class MasterKeyStore:
    """Where the master key lives: a real OS keyring if there is one, else a 0600 file in ``config_dir``.

    ``backend`` overrides ``keyring.get_keyring()`` (tests, or a caller that already chose one).
    """

    def __init__(self, config_dir: Path, *, backend: Any = None, use_keyring: bool = True,
                 kdf_ops: int = KDF_OPS, kdf_mem: int = KDF_MEM) -> None:
        self.config_dir = Path(config_dir)
        self.file = self.config_dir / MASTER_FILE
        self.kdf_ops, self.kdf_mem = kdf_ops, kdf_mem
        self._backend = system_keyring(backend, use_keyring)

    @property
    def source(self) -> str:
        return "keyring" if self._backend is not None else "file"

    def _warning(self) -> str | None:
        return None if self._backend is not None else FALLBACK_WARNING.format(path=self.file)

    def _read(self) -> str | None:
        if self._backend is not None:
            try:
                secret: str | None = self._backend.get_password(KEYRING_SERVICE, KEYRING_USER)
                return secret
            except Exception as exc:  # noqa: BLE001 - any backend failure is reported plainly
                raise VaultError("The system keyring could not be read.",
                                 f"Unlock your keyring and try again ({type(exc).__name__}).") from None
        try:
            st = self.file.stat()
            if st.st_mode & 0o077:
                raise VaultError(f"The master key file {self.file} can be read by other users.",
                                 "Run: chmod 600 on it, then try again.", path=str(self.file))
            return self.file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise VaultError(f"The master key file {self.file} cannot be read ({type(exc).__name__}).",
                             path=str(self.file)) from None

    def _write(self, text: str) -> None:
        if self._backend is not None:
            try:
                self._backend.set_password(KEYRING_SERVICE, KEYRING_USER, text)
            except Exception as exc:  # noqa: BLE001
                raise VaultError("The master key could not be saved in the system keyring.",
                                 f"Unlock your keyring and try again ({type(exc).__name__}).") from None
            return
        self.config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _atomic_write_bytes(self.file, text.encode("utf-8"), 0o600)

    def exists(self) -> bool:
        return self._read() is not None

    def load(self, passphrase: str | None = None) -> MasterKey:
        text = self._read()
        if text is None:
            raise KeyMissing("There is no hushnote master key yet, so nothing encrypted can be opened.",
                             "If you moved to a new computer, restore the key from your backup.")
        where = "the system keyring" if self.source == "keyring" else str(self.file)
        key, protected = decode_key_record(text, passphrase, where)
        return MasterKey(key, self.source, False, protected, self._warning())

    def create(self, passphrase: str | None = None) -> MasterKey:
        if self._read() is not None:
            raise VaultError("A hushnote master key already exists; refusing to replace it.",
                             "Replacing it would make every encrypted file unreadable.")
        key = secrets.token_bytes(KEY_BYTES)
        self._write(encode_key_record(key, passphrase, self.kdf_ops, self.kdf_mem))
        return MasterKey(key, self.source, True, passphrase is not None, self._warning())

    def replace(self, key: bytes, passphrase: str | None = None) -> MasterKey:
        """Store ``key`` as the master key (restoring a backup), replacing whatever is stored now. The caller
        makes sure that replacing is what the user asked for."""
        if len(key) != KEY_BYTES:
            raise ValueError("master key must be 32 bytes")
        self._write(encode_key_record(key, passphrase, self.kdf_ops, self.kdf_mem))
        return MasterKey(key, self.source, False, passphrase is not None, self._warning())


# ----------------------------------------------------------------------------- wrapped data keys


class KeyStore:
    """Wrapped per-file data keys in ``<data>/keys/<file id>.key`` (0600, folder 0700, atomic writes)."""

    def __init__(self, folder: Path, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise ValueError("master key must be 32 bytes")
        self.folder = Path(folder)
        self._master = master_key

    def _path(self, file_id: str) -> Path:
        return self.folder / f"{check_file_id(file_id)}.key"

    def _tombstone(self, file_id: str) -> Path:
        return self.folder / f"{check_file_id(file_id)}.destroyed"

    def _ad(self, file_id: str) -> bytes:
        return b"hushnote-data-key:" + file_id.encode("ascii")

    def create(self, file_id: str) -> bytes:
        """A fresh random data key for ``file_id``, stored wrapped. Refuses to replace an existing key."""
        path = self._path(file_id)
        if path.exists():
            raise VaultError(f"A key for {file_id} already exists; refusing to replace it.")
        if self._tombstone(file_id).exists():
            raise VaultError(f"The id {file_id} belonged to a destroyed file and cannot be reused.")
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = nb.crypto_secretstream_xchacha20poly1305_keygen()
        nonce = secrets.token_bytes(_AEAD_NONCE)
        wrapped = nb.crypto_aead_xchacha20poly1305_ietf_encrypt(key, self._ad(file_id), nonce, self._master)
        _atomic_write_bytes(path, _KEYFILE_MAGIC + nonce + wrapped, 0o600)
        return key

    def get(self, file_id: str) -> bytes:
        path = self._path(file_id)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            if self._tombstone(file_id).exists():
                raise KeyDestroyed(f"The encrypted file {file_id} was destroyed: its key was shredded "
                                   "and it can never be opened again.") from None
            raise KeyMissing(f"The key for the encrypted file {file_id} is missing.",
                             "Restore the hushnote data folder's keys/ from a backup.",
                             path=str(path)) from None
        n = len(_KEYFILE_MAGIC)
        if blob[:n] != _KEYFILE_MAGIC or len(blob) != n + _AEAD_NONCE + KEY_BYTES + 16:
            raise VaultError(f"The key file for {file_id} is damaged.", path=str(path))
        nonce, wrapped = blob[n:n + _AEAD_NONCE], blob[n + _AEAD_NONCE:]
        try:
            return nb.crypto_aead_xchacha20poly1305_ietf_decrypt(wrapped, self._ad(file_id), nonce, self._master)
        except nacl.exceptions.CryptoError:
            raise VaultError(f"The key for {file_id} cannot be unlocked: wrong master key, or the key file "
                             "was altered.", "Check that this is the right computer/keyring.",
                             path=str(path)) from None

    def exists(self, file_id: str) -> bool:
        return self._path(file_id).exists()

    def destroyed(self, file_id: str) -> bool:
        return self._tombstone(file_id).exists()

    def destroy(self, file_id: str) -> bool:
        """Shred the wrapped key and leave a tombstone. True if a key was there to destroy."""
        had = shred_file(self._path(file_id))
        if had or not self._tombstone(file_id).exists():
            _atomic_write_bytes(self._tombstone(file_id), b"", 0o600)
        return had
