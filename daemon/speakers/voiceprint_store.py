"""The therapist's enrolled voiceprint, kept encrypted in the vault (it is biometric data).

One file, ``<data>/voice/therapist.voice``, a vault file (``HNVAULT`` header) under a key of its own. Its
plaintext is ``MAGIC`` followed by the 192 float32 values (little-endian) of the unit voiceprint. Each
enrolment writes a new file under a fresh file id (the vault never reuses the id of a destroyed key) and
then destroys the key of the voiceprint it replaced. ``forget`` crypto-shreds: the key is destroyed first,
then the file; it needs no master key. The audit log records ``voice.enrolled`` / ``voice.forgotten`` with
the file id only.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from hushnote.daemon.core.datatypes import Clock, utc_now
from hushnote.daemon.privacy import at_rest
from hushnote.daemon.privacy.audit import AuditLog
from hushnote.daemon.privacy.keys import KeyDestroyed, VaultError
from hushnote.daemon.speakers.embedder import EMBEDDING_DIM, Embeddings

if TYPE_CHECKING:
    from hushnote.daemon.core.config import Config
    from hushnote.daemon.privacy.vault import Vault

VOICE_DIR = "voice"
FILENAME = "therapist.voice"
FILE_KIND = "voice"  # file ids are voice-<16 hex>
MAGIC = b"HNVOICE1"
_DTYPE = np.dtype("<f4")


@dataclass(frozen=True)
class Enrolment:
    """What ``status`` may say about the enrolled voice: no vector, only when and under which key."""

    file_id: str
    enrolled_at: dt.datetime  # the file's modification time, aware


def voice_path(data_dir: Path) -> Path:
    return Path(data_dir) / VOICE_DIR / FILENAME


def _damaged(path: Path) -> VaultError:
    return VaultError("The enrolled voice file is damaged.",
                      "Run `hushnote voice forget --yes`, then `hushnote voice enroll` again.", path=str(path))


def encode(vp: Embeddings) -> bytes:
    """The plaintext of a voiceprint file. Refuses anything but a finite (192,) vector."""
    arr = np.asarray(vp, dtype=np.float32)
    if arr.shape != (EMBEDDING_DIM,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"a voiceprint is a finite ({EMBEDDING_DIM},) vector")
    return MAGIC + arr.astype(_DTYPE).tobytes()


def decode(data: bytes, path: Path) -> Embeddings:
    if len(data) != len(MAGIC) + EMBEDDING_DIM * _DTYPE.itemsize or not data.startswith(MAGIC):
        raise _damaged(path)
    arr = np.frombuffer(data[len(MAGIC):], dtype=_DTYPE).astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise _damaged(path)
    return arr


def save(vault: Vault, data_dir: Path, vp: Embeddings, *, source: str = "file",
         clock: Clock = utc_now) -> Path:
    """Store ``vp`` encrypted as the enrolled voice (replacing and crypto-shredding an earlier one)."""
    payload = encode(vp)
    path = voice_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    old = at_rest.file_id_of(path) if os.path.lexists(path) else None
    file_id = at_rest.new_file_id(FILE_KIND)
    with vault.writer(path, file_id) as w:  # atomic: the old file stays until the new one is complete
        w.write(payload)
    if old is not None:
        vault.destroy(old)  # its file was replaced above; only the key is left to shred
    AuditLog.in_data_dir(data_dir, clock).append("voice.enrolled", file_id=file_id, source=source,
                                                 replaced=old is not None)
    return path


def status(data_dir: Path) -> Enrolment | None:
    """The enrolled voice's id and date, read without any key; None when no usable voice is stored."""
    path = voice_path(data_dir)
    file_id = at_rest.file_id_of(path)
    if file_id is None or not (Path(data_dir) / at_rest.KEYS_DIR / f"{file_id}.key").is_file():
        return None
    mtime = path.stat().st_mtime
    return Enrolment(file_id, dt.datetime.fromtimestamp(mtime, tz=dt.UTC))


def load(vault: Vault, data_dir: Path) -> Embeddings | None:
    """The enrolled voiceprint, or None when none is stored (or it was forgotten). A stored file that is
    not a vault file, or fails to decrypt, is a ``VaultError`` with a plain message."""
    path = voice_path(data_dir)
    if not os.path.lexists(path):
        return None
    file_id = at_rest.file_id_of(path)
    if file_id is None:
        raise _damaged(path)
    try:
        data = b"".join(vault.iter_plaintext(path, file_id=file_id))
    except KeyDestroyed:
        return None  # forget was interrupted between the key and the file: the voice is gone
    return decode(data, path)


def load_for(cfg: Config, vault: Vault | None, *, interactive: bool = True) -> Embeddings | None:
    """The seam for the pipeline: the enrolled voiceprint for ``cfg``'s data folder, or None. Opens the
    vault (never creating a master key) only when a voice is stored and no vault was given."""
    data_dir = cfg.path("paths.data")
    if not os.path.lexists(voice_path(data_dir)):
        return None
    if vault is None:
        vault = at_rest.open_vault(cfg, create=False, interactive=interactive)
    return load(vault, data_dir)


def forget(vault: Vault | None, data_dir: Path, *, clock: Clock = utc_now) -> bool:
    """Crypto-shred the enrolled voice: its key first, then the file. False when none was stored."""
    path = voice_path(data_dir)
    if not os.path.lexists(path):
        return False
    receipt = at_rest.shred(path, vault=vault, data_dir=Path(data_dir))
    AuditLog.in_data_dir(data_dir, clock).append("voice.forgotten", **(receipt or {"files": 1}))
    return True
