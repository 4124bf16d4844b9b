"""Recordings on disk while they are made, and their recovery after a crash or power loss.

Layout under ``<paths.data>/recordings/``::

    <rec_id>/meta.json            written atomically; "state": recording → assembled → handing_off → handed_off
    <rec_id>/chunk-000001.pcm     ~chunk_s seconds of 16 kHz s16le each, fsynced, then renamed in: mono, or
                                  interleaved stereo (L = microphone, R = computer audio) when meta.json
                                  says "channels": 2
    <rec_id>/chunk-000002.pcm.part  the chunk being captured: appended as audio arrives (not fsynced)
    <rec_id>/.lock                flock held by the process recording it (a crashed process holds none)
    <rec_id>.flac                 the assembled recording, handed to the queue
    <rec_id>.trash/               a handed-off recording being deleted

A ``kill -9`` loses nothing written to ``.part`` (the page cache survives the process); a power loss
loses at most the chunk being captured. ``recover()`` assembles every recording left in state
"recording" (or assembled but never handed off) into ``<rec_id>.flac`` and hands each over exactly once:
the state only becomes "handed_off" after the hand-off returned, so a crash during recovery repeats the
hand-off of that one recording at the next start (the queue should treat ``rec_id`` as idempotent).

Every byte of audio goes through ``write_chunk`` / ``append_part`` / ``read_chunk``. With a vault
(``storage.encrypt_audio``) the recording gets a fresh data key (vault file id = ``rec_id``) when it is
created, and nothing is written in the clear: each chunk file is its own secretstream (sealed with its
final tag, then renamed in), the ``.part`` being captured is sealed block by block as audio arrives
(without fsync, like the plain append; ``allow_incomplete`` reads it back after a kill -9), and the
assembled ``<rec_id>.flac`` is encoded straight into an encrypted file. Only recording ids are ever logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from hushnote.daemon.core.fileio import atomic_write_text, fsync_dir
from hushnote.daemon.privacy.keys import VaultError
from hushnote.daemon.privacy.vault import EncryptedWriter, is_encrypted, open_decrypted
from hushnote.daemon.recording.devices import SAMPLE_RATE, RecorderError

if TYPE_CHECKING:
    from hushnote.daemon.privacy.vault import Vault

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, recovery only runs at start anyway
    fcntl = None  # type: ignore[assignment]  # noqa: F811

log = logging.getLogger(__name__)

META = "meta.json"
LOCK = ".lock"
OUTPUT_SUFFIX = ".flac"
_CHUNK_RE = re.compile(r"^chunk-(\d{6})\.pcm(\.part)?$")
BYTES_PER_SAMPLE = 2

HandOff = Callable[[Path, str], None]


def recordings_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "recordings"


class RecordingStore:
    """One recording's folder: chunk files, metadata and the lock that marks it as in use."""

    def __init__(self, root: Path, rec_id: str, vault: Vault | None = None) -> None:
        self.root = Path(root)
        self.rec_id = rec_id
        self.dir = self.root / rec_id
        self.output = self.root / f"{rec_id}{OUTPUT_SUFFIX}"
        self.vault = vault  # hushnote.daemon.privacy.vault.Vault, or None: plain files
        self._key: bytes | None = None
        self._lock_fd: int | None = None
        self._part_fd: int | None = None
        self._part_writer: EncryptedWriter | None = None
        self._part_index = 0
        self._channels: int | None = None

    @property
    def channels(self) -> int:
        """1 (the microphone) or 2 (microphone left, the computer's audio right), from meta.json."""
        if self._channels is None:
            value = self.read_meta().get("channels", 1)
            self._channels = value if isinstance(value, int) and value in (1, 2) else 1
        return self._channels

    def _data_key(self) -> bytes:
        if self._key is None:
            if self.vault is None:
                raise VaultError(f"Recording {self.rec_id} is encrypted, and no key is loaded to open it.")
            self._key = self.vault.data_key(self.rec_id)
        return self._key

    def _chunk_id(self, index: int) -> str:
        return f"{self.rec_id}-c{index:06d}"[:128]

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def create(cls, root: Path, rec_id: str, meta: dict[str, Any], vault: Vault | None = None,
               channels: int = 1) -> RecordingStore:
        store = cls(root, rec_id, vault)
        store._channels = channels
        try:
            store.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            store.dir.mkdir(mode=0o700)
            fsync_dir(store.root)
            if not store.try_lock():  # pragma: no cover - a brand-new folder
                raise RecorderError("The recording folder is in use by another process.")
            if vault is not None:
                store._key = vault.new_key(rec_id)  # stored (wrapped) before any audio is written
            store.write_meta({"version": 1, "id": rec_id, "sample_rate": SAMPLE_RATE, "channels": channels,
                              "sample_format": "s16le", "state": "recording", "encrypted": vault is not None,
                              **meta})
        except OSError as exc:
            store.release()
            raise RecorderError(f"Recording cannot start: the recordings folder {store.root} cannot be written "
                                f"({exc.strerror or exc.__class__.__name__}).",
                                "Check the disk has space and paths.data is writable.") from None
        return store

    def try_lock(self) -> bool:
        """Take the folder's lock; False if another living process holds it."""
        if self._lock_fd is not None:
            return True
        fd = os.open(self.dir / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
        self._lock_fd = fd
        return True

    def release(self) -> None:
        self.close_part()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    # ------------------------------------------------------------------ metadata

    def read_meta(self) -> dict[str, Any]:
        try:
            data = json.loads((self.dir / META).read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write_text(self.dir / META, json.dumps(meta, indent=1, sort_keys=True))

    def update_meta(self, **changes: Any) -> dict[str, Any]:
        meta = self.read_meta()
        meta.update(changes)
        self.write_meta(meta)
        return meta

    # ------------------------------------------------------------------ audio in

    def _chunk_path(self, index: int, part: bool = False) -> Path:
        return self.dir / f"chunk-{index:06d}.pcm{'.part' if part else ''}"

    def append_part(self, index: int, pcm: bytes) -> None:
        """Append audio of chunk ``index`` (still being captured) to its ``.part`` file, without fsync."""
        if self.vault is not None:
            if self._part_writer is None or self._part_index != index:
                self.close_part()
                self._part_writer = EncryptedWriter(self._chunk_path(index, True), self._data_key(),
                                                    file_id=self._chunk_id(index), durable=True)
                self._part_index = index
            self._part_writer.write(pcm)
            self._part_writer.flush(sync=False)  # sealed and handed to the OS: survives a kill -9
            return
        if self._part_fd is None or self._part_index != index:
            self.close_part()
            self._part_fd = os.open(self._chunk_path(index, True), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._part_index = index
        view = memoryview(pcm)
        while view:
            n = os.write(self._part_fd, view)
            view = view[n:]

    def close_part(self) -> None:
        if self._part_writer is not None:
            with contextlib.suppress(OSError):
                self._part_writer.abort()  # durable: what was sealed stays, readable with allow_incomplete
            self._part_writer = None
        if self._part_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._part_fd)
            self._part_fd = None

    def write_chunk(self, index: int, pcm: bytes) -> None:
        """Write the complete chunk ``index`` durably (temp file, fsync, rename, fsync folder); drop its .part."""
        final = self._chunk_path(index)
        if self.vault is not None:  # a temp file, sealed with its final tag, fsynced, renamed into place
            with EncryptedWriter(final, self._data_key(), file_id=self._chunk_id(index)) as w:
                w.write(pcm)
            if self._part_index == index:
                self.close_part()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._chunk_path(index, True))
            fsync_dir(self.dir)
            return
        tmp = self.dir / f".chunk-{index:06d}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(pcm)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        if self._part_index == index:
            self.close_part()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._chunk_path(index, True))
        fsync_dir(self.dir)

    # ------------------------------------------------------------------ audio out

    def chunk_files(self) -> list[tuple[int, Path, bool]]:
        """``(index, path, is_part)`` in order; a complete chunk wins over a stale .part of the same index."""
        found: dict[int, tuple[Path, bool]] = {}
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        for name in names:
            m = _CHUNK_RE.match(name)
            if not m:
                continue
            idx, part = int(m.group(1)), bool(m.group(2))
            if idx in found and not found[idx][1]:
                continue
            found[idx] = (self.dir / name, part)
        return [(i, p, part) for i, (p, part) in sorted(found.items())]

    def read_chunk(self, index: int) -> bytes:
        return self._read(self._chunk_path(index))

    def _read(self, path: Path, part: bool = False) -> bytes:
        if is_encrypted(path):  # a .part has no final tag after a crash: read every complete block
            index = int(_CHUNK_RE.match(path.name).group(1))  # type: ignore[union-attr]
            data = b"".join(open_decrypted(path, self._data_key(), allow_incomplete=part,
                                           expect_id=self._chunk_id(index)))
        else:
            data = path.read_bytes()
        return data[: len(data) - len(data) % BYTES_PER_SAMPLE]

    def iter_pcm(self) -> Iterator[np.ndarray]:
        """Each chunk's samples (interleaved when stereo), in order; a cut-off last frame is left out."""
        frame = BYTES_PER_SAMPLE * self.channels
        for _, path, part in self.chunk_files():
            try:
                data = self._read(path, part)
            except (OSError, VaultError) as exc:
                log.warning("recording %s: a chunk could not be read (%s); skipped", self.rec_id,
                            exc.__class__.__name__)
                continue
            data = data[: len(data) - len(data) % frame]
            if data:
                yield np.frombuffer(data, dtype="<i2")

    def assemble(self) -> tuple[Path, float]:
        """Join every chunk (and a left-over .part) into ``<rec_id>.flac``, written atomically.

        Returns ``(path, seconds)``. Calling it again gives the same file (idempotent).
        """
        import av

        if self.vault is not None:
            return self._assemble_encrypted()
        tmp = self.root / f".{self.rec_id}.flac.tmp"
        try:
            with av.open(str(tmp), mode="w", format="flac") as out:
                total = self._encode_flac(out)
            os.chmod(tmp, 0o600)  # session audio: readable by its owner only
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.output)
            fsync_dir(self.root)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return self.output, total / SAMPLE_RATE

    def _encode_flac(self, out: Any) -> int:
        """Encode every chunk into the open PyAV output ``out``; returns the number of samples."""
        import av

        total = 0
        ch = self.channels
        layout = "stereo" if ch == 2 else "mono"
        stream = out.add_stream("flac", rate=SAMPLE_RATE, layout=layout)
        stream.format = "s16"
        step = SAMPLE_RATE * 10 * ch
        for block in self.iter_pcm():
            for start in range(0, block.shape[0], step):
                piece = np.ascontiguousarray(block[start:start + step]).reshape(1, -1)  # packed: L R L R ...
                frame = av.AudioFrame.from_ndarray(piece, format="s16", layout=layout)
                frame.sample_rate = SAMPLE_RATE
                frame.pts = total
                total += piece.shape[1] // ch
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        return total

    def _assemble_encrypted(self) -> tuple[Path, float]:
        """FLAC encoded straight into an encrypted file (key ``rec_id``); all or nothing, like ``assemble``.
        The writer cannot seek, so the FLAC header carries no total length (decoders do not need it)."""
        import av

        with EncryptedWriter(self.output, self._data_key(), file_id=self.rec_id) as w:
            with av.open(_WriteOnly(w), mode="w", format="flac") as out:
                total = self._encode_flac(out)
        return self.output, total / SAMPLE_RATE

    def discard(self) -> None:
        """Delete this recording's folder (rename first, so a crash mid-delete leaves no half recording)."""
        self.release()
        trash = self.root / f"{self.rec_id}.trash"
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.dir, trash)
            fsync_dir(self.root)
        shutil.rmtree(trash, ignore_errors=True)


class _WriteOnly:
    """A file object PyAV can write a stream to (no seek, so it writes no back-patched header)."""

    def __init__(self, w: EncryptedWriter) -> None:
        self._w = w

    def write(self, data: bytes) -> int:
        return self._w.write(bytes(data))


# ----------------------------------------------------------------------------- recovery

def hand_off_and_clean(store: RecordingStore, hand_off: HandOff | None) -> None:
    """Give the assembled file to ``hand_off``; only then record that it was handed off.

    "handing_off" is recorded first: if the process dies inside ``hand_off`` and the file is gone
    afterwards, the consumer took it (moved it into its store), so recovery must not make it again.
    """
    if hand_off is not None:
        store.update_meta(state="handing_off")
        hand_off(store.output, store.rec_id)
    store.update_meta(state="handed_off")


def recover(data_dir: Path, hand_off: HandOff | None = None, *, skip: frozenset[str] = frozenset(),
            vault: Vault | None = None) -> list[Path]:
    """Assemble and hand over every recording a crash left unfinished. Call at service start.

    Each recording is handed over once: to ``hand_off(path, rec_id)`` if given (state is marked only
    after it returns; if it raises, the recording stays and the next call retries it), else by being
    returned in the list (marked as handed off before returning). Recordings locked by a living process
    (being recorded right now) and ids in ``skip`` are left alone. Safe to call again at any time.
    """
    root = recordings_dir(data_dir)
    if not root.is_dir():
        return []
    out: list[Path] = []
    for entry in sorted(root.iterdir()):
        name = entry.name
        if name.endswith(".trash") and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            continue
        if name.startswith(".") and name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                entry.unlink()
            continue
        if not entry.is_dir() or name in skip:
            continue
        store = RecordingStore(root, name, vault)
        try:
            if not store.try_lock():
                continue  # another process is recording into it
            path = _recover_one(store, hand_off)
        except Exception as exc:  # noqa: BLE001 - one damaged recording must not stop the others (or the daemon)
            log.error("recording %s could not be recovered (%s); left in place for the next start",
                      name, exc.__class__.__name__)
            continue
        finally:
            store.release()
        if path is not None:
            out.append(path)
    return out


def _recover_one(store: RecordingStore, hand_off: HandOff | None) -> Path | None:
    meta = store.read_meta()
    state = meta.get("state", "recording")
    if state == "handed_off" or (state == "handing_off" and not store.output.exists()):
        store.discard()  # the consumer has it (it moved the file away before we could note that)
        return None
    if not (state in ("assembled", "handing_off") and store.output.exists()):
        if not any(True for _ in store.iter_pcm()):
            log.info("recording %s had no audio; removed", store.rec_id)
            store.discard()
            return None
        _, seconds = store.assemble()
        meta = store.update_meta(state="assembled", seconds=round(seconds, 3),
                                 reason=meta.get("reason") or "recovered", recovered=True)
        log.info("recording %s recovered (%.1f s)", store.rec_id, seconds)
    hand_off_and_clean(store, hand_off)
    store.discard()
    return store.output
