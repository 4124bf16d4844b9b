"""``hushnote key export FILE`` / ``hushnote key import FILE``: a passphrase-protected copy of the master key.

With ``notes.encrypt = true`` notes are permanent records that only the master key opens, so the key needs a
copy away from this computer. The backup file is JSON::

    {"format": "hushnote master key backup", "v": 1, "created": "2026-11-02", "key": <record>}

where ``<record>`` is the master key wrapped exactly as ``storage.passphrase`` wraps it in the keyring
(``keys.encode_key_record``: argon2id over the *backup* passphrase, then XChaCha20-Poly1305). The backup
passphrase comes from ``$HUSHNOTE_BACKUP_PASSPHRASE`` (scripts) or is asked for on the terminal.

Import refuses to replace a *different* master key already in place (files encrypted with it could no
longer be opened) unless ``force``; the same key is a no-op. A backup whose key does not open this data
folder's encrypted files is refused too (unless ``force``). Nothing here logs anything.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from hushnote.daemon.core.config import Config, config_dir
from hushnote.daemon.core.datatypes import Clock, utc_now
from hushnote.daemon.privacy.at_rest import (
    PASSPHRASE_ENV,
    ask_secret,
    check_master,
    key_matches,
    load_master_key,
)
from hushnote.daemon.privacy.keys import (
    KDF_MEM,
    KDF_OPS,
    MasterKeyStore,
    PassphraseRequired,
    VaultError,
    WrongPassphrase,
    decode_key_record,
    encode_key_record,
)

BACKUP_ENV = "HUSHNOTE_BACKUP_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
FORMAT = "hushnote master key backup"
MIN_PASSPHRASE = 8


@dataclass(frozen=True)
class Imported:
    changed: bool  # False: the same key was already in place
    source: str  # "keyring" or "file"
    where: str  # the keyring entry or the key file, for the message


def _backup_passphrase(confirm: bool) -> str:
    pp = ask_secret(BACKUP_ENV, "Backup passphrase: ", confirm=confirm)
    if not pp:
        raise PassphraseRequired("A backup passphrase is needed, and there is no terminal to ask for it.",
                                 f"Run the command in a terminal, or give the passphrase in the {BACKUP_ENV} "
                                 "environment variable.")
    if confirm and len(pp) < MIN_PASSPHRASE:
        raise VaultError(f"The backup passphrase is too short (at least {MIN_PASSPHRASE} characters); nothing "
                         "was written.", "Choose a longer passphrase, e.g. four unrelated words.")
    return pp


def backup_text(key: bytes, passphrase: str, created: dt.date, *, ops: int = KDF_OPS, mem: int = KDF_MEM) -> str:
    record = json.loads(encode_key_record(key, passphrase, ops, mem))
    return json.dumps({"format": FORMAT, "v": 1, "created": created.isoformat(), "key": record}, indent=2) + "\n"


def read_backup(path: Path, passphrase: str) -> bytes:
    """The master key in the backup ``path``. ``VaultError`` (plain message) for anything else."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VaultError(f"{path} does not exist.", "Check the backup file's name and try again.",
                         path=str(path)) from None
    except (OSError, UnicodeDecodeError, ValueError):
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("key"), dict):
        raise VaultError(f"{path} is not a hushnote key backup.",
                         "Give the file that `hushnote key export` wrote.", path=str(path))
    if doc.get("v") != 1:
        raise VaultError(f"The key backup {path} has a format this hushnote cannot read.", "Update hushnote.",
                         path=str(path))
    if "key" in doc["key"]:  # a backup always carries a wrapped key; a plain one was tampered with
        raise VaultError(f"The key backup {path} is not protected by a passphrase, so it was not made by hushnote.",
                         "Use a backup written by `hushnote key export`.", path=str(path))
    try:
        key, _ = decode_key_record(json.dumps(doc["key"]), passphrase, str(path))
    except WrongPassphrase:
        raise VaultError(f"The backup passphrase is wrong: {path} could not be unlocked.",
                         "Check the passphrase (the one chosen when the backup was made) and try again.",
                         path=str(path)) from None
    return key


def _write_new(path: Path, text: str) -> None:
    """Create ``path`` (0600), never overwriting; fsynced; removed again if writing fails."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise VaultError(f"{path} already exists; hushnote does not overwrite files.",
                         "Choose another name for the backup.", path=str(path)) from None
    except OSError as exc:
        raise VaultError(f"The key backup could not be written to {path} ({exc.strerror or type(exc).__name__}).",
                         "Check that the folder exists and that you can write to it.", path=str(path)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def export_key(cfg: Config, dest: Path, *, keys: MasterKeyStore | None = None, clock: Clock = utc_now) -> None:
    """Write the master key to ``dest``, protected by a backup passphrase (asked twice, or from the env)."""
    if os.path.lexists(dest):
        raise VaultError(f"{dest} already exists; hushnote does not overwrite files.",
                         "Choose another name for the backup.", path=str(dest))
    mk = load_master_key(cfg, keys=keys, create=False)
    text = backup_text(mk.key, _backup_passphrase(confirm=True), clock().date())
    _write_new(dest, text)


def _where(store: MasterKeyStore) -> str:
    return "the system keyring (entry \"hushnote\")" if store.source == "keyring" else str(store.file)


def _existing_key(store: MasterKeyStore) -> bytes | None:
    """The master key in place now, if it can be read (asking for its passphrase if it has one)."""
    if not store.exists():
        return None
    try:
        return store.load(os.environ.get(PASSPHRASE_ENV) or None).key
    except PassphraseRequired:
        pp = ask_secret(PASSPHRASE_ENV, "Passphrase of the key in place now: ", confirm=False)
        if not pp:
            raise
        return store.load(pp).key


def import_key(cfg: Config, src: Path, *, force: bool = False, keys: MasterKeyStore | None = None) -> Imported:
    """Restore the master key from the backup ``src``. Refuses to replace a different key without ``force``."""
    store = keys if keys is not None else MasterKeyStore(config_dir())
    key = read_backup(src, _backup_passphrase(confirm=False))
    data_dir = cfg.path("paths.data")
    matches = key_matches(data_dir, key)
    if matches is False and not force:
        raise VaultError(f"The key in {src} does not open the encrypted files in {data_dir}: it is from another "
                         "hushnote. Nothing was changed.",
                         "Check that this is the right backup. Only if you are sure, run the command again with "
                         "--force.", path=str(src))
    try:
        current = _existing_key(store)
    except VaultError:
        if not force:
            raise VaultError(f"A hushnote master key is already in place ({_where(store)}) and it could not be "
                             "unlocked to compare it with the backup. Nothing was changed.",
                             "Only if you are sure it is not needed, run the command again with --force.") from None
        current = b""
    if current == key:
        return Imported(False, store.source, _where(store))
    if current is not None and not force:
        raise VaultError(f"A different hushnote master key is already in place ({_where(store)}). Importing would "
                         "replace it, and files encrypted with it could no longer be opened. Nothing was changed.",
                         "Export that key first (hushnote key export FILE), then run the import again with "
                         "--force if you are sure.")
    passphrase = None
    if bool(cfg["storage.passphrase"]):
        passphrase = ask_secret(PASSPHRASE_ENV, "New hushnote passphrase: ", confirm=True)
        if not passphrase:
            raise PassphraseRequired("storage.passphrase is on, so the restored key needs a passphrase, and there "
                                     "is no terminal to ask for it.",
                                     f"Run the command in a terminal, or give it in {PASSPHRASE_ENV}.")
    store.replace(key, passphrase)
    if matches is not False:
        check_master(data_dir, key)  # remember it as this data folder's key
    return Imported(True, store.source, _where(store))
