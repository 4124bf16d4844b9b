"""Encryption at rest, wired into the service: the master key at start, and the small helpers the inbox,
the workers, retention and the CLI share (``hushnote.daemon.privacy.vault`` does the cryptography, ``hushnote.daemon.privacy.keys`` stores keys).

What is encrypted (``storage.encrypt_audio``, on by default): every audio file hushnote keeps — inbox files
as they are taken into ``<data>/store`` (the plaintext original is then removed from the inbox), recording
chunks as they are captured and the assembled recording, and the audio moved beside its note, which stays
encrypted there. Audio of a failed job is kept encrypted in ``Inbox/failed/`` under its own name; its error
report says how to get a playable copy (``hushnote open FILE --output COPY``). Notes and transcripts in the
notes folder are plain Markdown unless ``notes.encrypt`` is on. Decryption for transcription happens in
memory only (``vault.open`` gives PyAV a seekable file object); no plaintext temp file is ever written.

The master key: ``MasterKeyStore`` (OS keyring when a real one works, else a 0600 file in the settings
folder). With ``storage.passphrase`` it is protected by a passphrase, taken from ``$HUSHNOTE_PASSPHRASE`` or
asked for on the terminal; a service started without either refuses to start with a plain message. A
check record in ``<data>/keys`` makes a *wrong* master key (e.g. one restored from another computer) a
clear error at start instead of one failed job per file.

Deleting an encrypted file (retention, or a replaced encrypted note) is crypto-shredding: its wrapped key
is destroyed first, then the file. Nothing here logs a path, a file name or note text.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.exceptions
from hushnote.daemon.core.config import Config, config_dir
from hushnote.daemon.core.crashpoints import crashpoint
from hushnote.daemon.core.errors import InputError
from hushnote.daemon.core.fileio import atomic_write_bytes, atomic_write_text, fsync_dir
from hushnote.daemon.privacy.keys import (
    KEY_BYTES,
    KeyMissing,
    KeyStore,
    MasterKey,
    MasterKeyStore,
    PassphraseRequired,
    VaultError,
    shred_file,
)
from hushnote.daemon.privacy.vault import Vault, is_encrypted, plain_name, read_header
from nacl import bindings as nb

log = logging.getLogger("hushnote.at_rest")

PASSPHRASE_ENV = "HUSHNOTE_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
KEYS_DIR = "keys"
CHECK_FILE = "master.check"  # in <data>/keys: proves the master key belongs to this data folder
_CHECK_AD = b"hushnote-master-check"
_CHECK_TEXT = b"hushnote master key check v1"
_NONCE = nb.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES

EventSink = Callable[[str, dict[str, Any]], None]


# ----------------------------------------------------------------------------- the master key

def _keys_dir(data_dir: Path) -> Path:
    return Path(data_dir) / KEYS_DIR


def has_wrapped_keys(data_dir: Path) -> bool:
    """Are there encrypted files' keys in this data folder (so its master key must not be replaced)?"""
    try:
        return any(e.name.endswith(".key") for e in os.scandir(_keys_dir(data_dir)))
    except OSError:
        return False


def ask_secret(env: str, prompt: str, *, confirm: bool) -> str | None:
    """A passphrase from the environment variable ``env``, else asked on the terminal (twice with
    ``confirm``); None without either."""
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        return None
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Type it again: ") != first:
        raise VaultError("The two passphrases did not match; nothing was changed.", "Start again.")
    return first or None


def _ask(confirm: bool) -> str | None:
    """The passphrase from ``$HUSHNOTE_PASSPHRASE``, else asked on the terminal; None without either."""
    return ask_secret(PASSPHRASE_ENV, "hushnote passphrase: ", confirm=confirm)


def _no_passphrase() -> PassphraseRequired:
    return PassphraseRequired(
        "hushnote's encryption key is protected by a passphrase, and there is no terminal to ask for it.",
        f"Start it in a terminal (it asks for the passphrase), or give the passphrase in the {PASSPHRASE_ENV} "
        "environment variable of the service.")


def load_master_key(cfg: Config, *, passphrase: str | None = None, interactive: bool = True,
                    keys: MasterKeyStore | None = None, on_event: EventSink | None = None,
                    create: bool = True) -> MasterKey:
    """The master key for ``cfg``'s data folder: loaded, or (``create``) made on first use. Raises
    ``VaultError`` (plain message, exit code 6) for a missing, damaged, wrong or locked key."""
    data_dir = cfg.path("paths.data")
    store = keys if keys is not None else MasterKeyStore(config_dir())
    pp = passphrase or os.environ.get(PASSPHRASE_ENV) or None
    if not store.exists():
        if has_wrapped_keys(data_dir) or not create:
            where = "the system keyring (entry \"hushnote\")" if store.source == "keyring" else str(store.file)
            raise KeyMissing(
                f"hushnote's master key is missing ({where}), so the encrypted recordings in {data_dir} "
                "cannot be opened.",
                "Restore it from your backup (hushnote key import BACKUP-FILE) and try again. Only if those "
                f"recordings can be given up: move the folder {_keys_dir(data_dir)} away; a new key is then made.")
        if bool(cfg["storage.passphrase"]):
            pp = pp or (_ask(confirm=True) if interactive else None)
            if not pp:
                raise _no_passphrase()
        mk = store.create(pp)
        if on_event is not None:
            on_event("master_key.created", {"source": mk.source, "protected": mk.protected})
        log.info("master key created (%s)", mk.source)
    else:
        try:
            mk = store.load(pp)
        except PassphraseRequired:
            pp = _ask(confirm=False) if interactive else None
            if not pp:
                raise _no_passphrase() from None
            mk = store.load(pp)
        if bool(cfg["storage.passphrase"]) and not mk.protected:
            log.warning("storage.passphrase is on, but the master key has no passphrase yet")
    if mk.warning and mk.created:  # said once, when the key is made
        log.warning("no system keyring: the master key is kept in a file readable only by you "
                    "(in the settings folder); set storage.passphrase for extra protection")
    check_master(data_dir, mk.key)
    return mk


def _wrong_key(data_dir: Path) -> VaultError:
    return VaultError(f"hushnote's master key does not match the encrypted files in {data_dir}: they were "
                      "made with another key.",
                      "If you restored hushnote or moved it to this computer, restore the master key from the "
                      "same backup (the keyring entry or master.key in the settings folder). Nothing was changed.")


def key_matches(data_dir: Path, key: bytes) -> bool | None:
    """Does ``key`` open this data folder's encrypted files? None: nothing there to tell (no check record,
    no wrapped keys)."""
    folder = _keys_dir(data_dir)
    try:
        blob = (folder / CHECK_FILE).read_bytes()
    except FileNotFoundError:
        blob = None
    if blob is not None:
        try:
            nb.crypto_aead_xchacha20poly1305_ietf_decrypt(blob[_NONCE:], _CHECK_AD, blob[:_NONCE], key)
        except (nacl.exceptions.CryptoError, ValueError):
            return False
        return True
    if not has_wrapped_keys(data_dir):
        return None
    ks = KeyStore(folder, key)  # made before the check record existed: try a few keys
    for fid in sorted(e.name[:-4] for e in os.scandir(folder) if e.name.endswith(".key"))[:3]:
        try:
            ks.get(fid)
            return True
        except (VaultError, ValueError):
            continue
    return False


def check_master(data_dir: Path, key: bytes) -> None:
    """Refuse a master key that cannot open this data folder's keys; remember a good one."""
    folder = _keys_dir(data_dir)
    check = folder / CHECK_FILE
    matches = key_matches(data_dir, key)
    if matches is False:
        raise _wrong_key(data_dir)
    if check.exists():
        return
    nonce = secrets.token_bytes(_NONCE)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_bytes(check, nonce + nb.crypto_aead_xchacha20poly1305_ietf_encrypt(_CHECK_TEXT, _CHECK_AD,
                                                                                      nonce, key), 0o600)


def vault_needed(cfg: Config) -> bool:
    """The service opens the vault when anything is (or was) encrypted."""
    return (bool(cfg["storage.encrypt_audio"]) or bool(cfg["notes.encrypt"])
            or has_wrapped_keys(cfg.path("paths.data")))


def open_vault(cfg: Config, *, on_event: EventSink | None = None, passphrase: str | None = None,
               interactive: bool = True, keys: MasterKeyStore | None = None, create: bool = True) -> Vault:
    mk = load_master_key(cfg, passphrase=passphrase, interactive=interactive, keys=keys, on_event=on_event,
                         create=create)
    if len(mk.key) != KEY_BYTES:  # pragma: no cover - MasterKeyStore guarantees it
        raise VaultError("hushnote's master key is damaged.")
    return Vault(cfg.path("paths.data"), mk.key, on_event=on_event)


# ----------------------------------------------------------------------------- files

def file_id_of(path: Path) -> str | None:
    """The vault file id an encrypted file names in its header; None for a plain (or unreadable) file."""
    if not is_encrypted(path):
        return None
    try:
        return read_header(path).file_id or None
    except (OSError, VaultError):
        return None


def new_file_id(kind: str) -> str:
    """A fresh id (letters, digits and ``-`` only, so the audit log can name it)."""
    return f"{kind}-{secrets.token_hex(8)}"


def encrypt_into(src: Path, dst: Path, vault: Vault, file_id: str) -> tuple[int, str]:
    """Encrypt ``src`` into ``dst`` (temp file beside ``dst``, renamed into place when complete, so ``dst``
    is all or nothing). Returns (plaintext bytes, sha256 hex of the plaintext). ``src`` is left alone."""
    h = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, vault.writer(dst, file_id) as w:
        while block := fin.read(vault.chunk_size):
            h.update(block)
            size += len(block)
            w.write(block)
            crashpoint("ingest.encrypting")  # tests: the key exists, the encrypted copy is half written
    return size, h.hexdigest()


def decrypting_opener(vault: Vault) -> Callable[[Path], Any]:
    """``path -> seekable plaintext file object`` for PyAV; a damaged or unopenable file is an
    ``InputError`` (that job fails with an error report; nothing else is affected)."""

    def opener(path: Path) -> Any:
        try:
            return vault.open(path)
        except VaultError as exc:
            raise InputError(exc.message, exc.hint or "Put the original recording into the inbox again.",
                             path=str(path)) from None

    return opener


def data_key_for(vault: Vault | None, path: Path) -> bytes | None:
    """The unwrapped data key of an encrypted file (for a child process that decrypts it), else None."""
    fid = file_id_of(path)
    if vault is None or fid is None:
        return None
    try:
        return vault.data_key(fid)
    except VaultError as exc:
        raise InputError(exc.message, exc.hint, path=str(path)) from None


def write_text(path: Path, text: str, vault: Vault | None, kind: str) -> Path:
    """Write a note or transcript atomically: as plain UTF-8 without ``vault``; with it (``notes.encrypt``)
    encrypted under a fresh key, and the key of the file it replaces (a retried job rewriting its own note)
    destroyed afterwards. ``kind`` ("note", "transcript") names the new key."""
    if vault is None:
        atomic_write_text(path, text)
        return path
    old = file_id_of(path) if os.path.lexists(path) else None
    vault.encrypt_text(text, path, new_file_id(kind))
    if old is not None:
        try:
            vault.destroy(old)
        except (OSError, ValueError) as exc:
            log.warning("the key of a replaced encrypted file could not be destroyed (%s)", type(exc).__name__)
    return path


def read_text(path: Path, vault: Vault | None) -> str:
    """A note or transcript as text, decrypted if it is encrypted."""
    if is_encrypted(path):
        if vault is None:
            raise VaultError(f"{path.name} is encrypted.", "Open it with `hushnote open`.", path=str(path))
        return vault.decrypt_to_text(path)
    return path.read_text(encoding="utf-8")


def shred(path: Path, *, vault: Vault | None, data_dir: Path) -> dict[str, Any] | None:
    """Delete ``path``: an encrypted file is crypto-shredded (its key destroyed first, then the file);
    a plain one is unlinked. Returns the vault's receipt (ids and counts only) for an encrypted file."""
    fid = file_id_of(path)
    if fid is None:
        path.unlink()
        return None
    if vault is not None:
        return vault.destroy(fid, path)
    # no master key loaded: the wrapped key can still be destroyed (that needs no key)
    folder = _keys_dir(data_dir)
    had = shred_file(folder / f"{fid}.key")
    atomic_write_bytes(folder / f"{fid}.destroyed", b"", 0o600)
    removed = shred_file(path)
    fsync_dir(path.parent)
    return {"file_id": fid, "key_destroyed": had, "files": int(removed)}


# ----------------------------------------------------------------------------- hushnote open

TEXT_SUFFIXES = (".md", ".txt")


def open_main(cfg: Config, path: Path, output: Path | None) -> int:
    """``hushnote open FILE [--output COPY]``: print an encrypted note or transcript, or save a decrypted
    copy of any encrypted file (e.g. audio ``NAME.wav.hushnote`` beside a note or in ``Inbox/failed/``) where
    the clinician chooses; ``--output FOLDER`` saves it there as ``NAME.wav``."""
    if not path.is_file():
        raise InputError(f"{path} does not exist.", "Check the file name and try again.", path=str(path))
    if not is_encrypted(path):
        if output is None and path.suffix.lower() in TEXT_SUFFIXES:
            print(path.read_text(encoding="utf-8", errors="replace"), end="")
            return 0
        raise InputError(f"{path.name} is not encrypted.", "Open it directly.", path=str(path))
    if output is None and path.suffix.lower() not in TEXT_SUFFIXES:
        raise InputError(f"{path.name} is encrypted audio, which cannot be shown as text.",
                         f"Save a playable copy with: hushnote open \"{path}\" --output \"{plain_name(path.name)}\" "
                         "(the copy is not encrypted: delete it when you are done).", path=str(path))
    vault = open_vault(cfg, create=False)
    if output is None:
        print(vault.decrypt_to_text(path), end="")
        return 0
    if output.is_dir():
        output = output / plain_name(path.name)
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError(f"{output} already exists; hushnote does not overwrite files.",
                         "Choose another name for the copy.", path=str(output)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            for block in vault.iter_plaintext(path):
                fh.write(block)
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    print(f"Decrypted copy: {output} (not encrypted: delete it when you are done)")
    return 0
