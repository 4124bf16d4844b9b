"""Encryption at rest: libsodium secretstream (XChaCha20-Poly1305), one fresh key per file, crypto-shredding.

File format (version 1)::

    header  = b"HNVAULT" | version:u8 (=1) | flags:u8 | id_len:u8 | file_id (ascii) | secretstream header (24)
    chunk*  = length:u32 big-endian | secretstream ciphertext (plaintext + 17 bytes)

The whole header is the associated data of every chunk, so flipping any header byte fails authentication.
The last chunk carries ``TAG_FINAL``: a file without it was cut short (a crash while recording, or
truncation) and is refused unless the caller asks for ``allow_incomplete=True`` (crash recovery), which
yields every complete, authentic chunk and stops at the torn tail. A bad chunk *followed by more data*
is tampering and is refused even then.

Two writing modes:

* default: chunks go to a temp file beside the target; ``close()`` writes the final chunk, fsyncs and
  ``os.replace``s it into place. An exception inside ``with`` leaves nothing behind.
* ``durable=True`` (recordings): the file is created in place (never overwriting), and every chunk is
  fsynced as it is written, so after a crash everything up to the last ``flush()`` is recoverable.

Decryption happens in memory only: ``open_decrypted`` yields plaintext chunks, ``DecryptedFile`` is a
seekable read-only file object (PyAV can decode straight from it); no plaintext temp file ever exists.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from hushnote.daemon.core.fileio import fsync_dir
from hushnote.daemon.privacy.keys import (
    KeyDestroyed,
    KeyMissing,
    KeyStore,
    PassphraseRequired,
    VaultError,
    check_file_id,
    shred_file,
)
from nacl import bindings as nb

__all__ = [
    "DEFAULT_CHUNK", "ENCRYPTED_SUFFIX", "DecryptedFile", "EncryptedWriter", "KeyDestroyed", "KeyMissing",
    "PassphraseRequired", "Vault", "VaultError", "encrypted_name", "is_encrypted", "open_decrypted", "plain_name",
    "plaintext_size", "read_header",
]

# Encrypted audio the clinician can see (beside a note, in Inbox/failed/) is named ``NAME.wav.hushnote``: a media
# player does not take it for audio, and ``plain_name`` gives the name of its playable copy (``hushnote open``).
# Files from before this name existed keep their plain names (``NAME.wav``); everything finds both.
ENCRYPTED_SUFFIX = ".hushnote"


def encrypted_name(name: str) -> str:
    """``NAME.wav`` -> ``NAME.wav.hushnote`` (unchanged if it already ends so)."""
    return name if name.endswith(ENCRYPTED_SUFFIX) else name + ENCRYPTED_SUFFIX


def plain_name(name: str) -> str:
    """``NAME.wav.hushnote`` -> ``NAME.wav``: the name of a playable copy."""
    return name.removesuffix(ENCRYPTED_SUFFIX) or name

MAGIC = b"HNVAULT"
VERSION = 1
FLAG_DURABLE = 0x01
DEFAULT_CHUNK = 1 << 20  # 1 MiB of plaintext per chunk
MAX_CHUNK = 16 << 20  # refuse to allocate for larger (tampered) lengths
_ABYTES = nb.crypto_secretstream_xchacha20poly1305_ABYTES
_SS_HEADER = nb.crypto_secretstream_xchacha20poly1305_HEADERBYTES
_TAG_MESSAGE = nb.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_FINAL = nb.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_LEN = struct.Struct(">I")
_State = nb.crypto_secretstream_xchacha20poly1305_state


def _name(path: Path) -> str:
    return path.name


def _damaged(path: Path, why: str) -> VaultError:
    return VaultError(f"The encrypted file {_name(path)} {why}.",
                      "It may have been altered or damaged; restore it from a backup if you have one.",
                      path=str(path))


# ----------------------------------------------------------------------------- header


@dataclass(frozen=True)
class Header:
    version: int
    flags: int
    file_id: str
    stream_header: bytes
    raw: bytes  # the exact header bytes (associated data of every chunk)

    @property
    def durable(self) -> bool:
        return bool(self.flags & FLAG_DURABLE)


def _make_header(file_id: str, flags: int, stream_header: bytes) -> bytes:
    fid = file_id.encode("ascii")
    return MAGIC + bytes([VERSION, flags, len(fid)]) + fid + stream_header


def _read_header(fh: BinaryIO, path: Path) -> Header:
    fixed = fh.read(len(MAGIC) + 3)
    if len(fixed) < len(MAGIC) or fixed[:len(MAGIC)] != MAGIC:
        raise VaultError(f"{_name(path)} is not a hushnote encrypted file.", path=str(path))
    if len(fixed) < len(MAGIC) + 3:
        raise _damaged(path, "has a damaged header")
    version, flags, id_len = fixed[len(MAGIC):]
    if version != VERSION:
        raise VaultError(f"The encrypted file {_name(path)} uses format version {version}, which this "
                         "hushnote cannot read.", "Update hushnote.", path=str(path))
    rest = fh.read(id_len + _SS_HEADER)
    if len(rest) != id_len + _SS_HEADER:
        raise _damaged(path, "has a damaged header")
    try:
        file_id = rest[:id_len].decode("ascii")
    except UnicodeDecodeError:
        raise _damaged(path, "has a damaged header") from None
    return Header(version, flags, file_id, rest[id_len:], fixed + rest)


def read_header(path: str | os.PathLike[str]) -> Header:
    p = Path(path)
    with open(p, "rb") as fh:
        return _read_header(fh, p)


def is_encrypted(path: str | os.PathLike[str]) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def plaintext_size(path: str | os.PathLike[str]) -> int | None:
    """The plaintext length of an encrypted file, from its block lengths alone (no key needed, nothing
    decrypted); None if it is not a complete, well-formed encrypted file. Used to recognise an inbox file
    whose encrypted copy is already in the store after a crash."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            _read_header(fh, p)
            pos, total = fh.tell(), 0
            while pos < size:
                raw = fh.read(_LEN.size)
                if len(raw) < _LEN.size:
                    return None
                (n,) = _LEN.unpack(raw)
                if n < _ABYTES:
                    return None
                pos += _LEN.size + n
                total += n - _ABYTES
                fh.seek(pos)
            return total if pos == size else None
    except (OSError, VaultError):
        return None


# ----------------------------------------------------------------------------- writing


class EncryptedWriter:
    """Encrypt to ``path`` as data is written. Use as a context manager; ``close()`` seals the file."""

    def __init__(self, path: str | os.PathLike[str], data_key: bytes, *, file_id: str = "",
                 chunk_size: int = DEFAULT_CHUNK, durable: bool = False) -> None:
        if len(data_key) != nb.crypto_secretstream_xchacha20poly1305_KEYBYTES:
            raise ValueError("data key must be 32 bytes")
        if not 1 <= chunk_size <= MAX_CHUNK:
            raise ValueError(f"chunk_size must be between 1 and {MAX_CHUNK}")
        if file_id:
            check_file_id(file_id)
        self.path = Path(path)
        self.durable = durable
        self.chunk_size = chunk_size
        self.closed = False
        self.chunks = 0
        self._buf = bytearray()
        self._state = _State()
        stream_header = nb.crypto_secretstream_xchacha20poly1305_init_push(self._state, data_key)
        self._ad = _make_header(file_id, FLAG_DURABLE if durable else 0, stream_header)
        self._tmp: str | None = None
        if durable:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        else:
            fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            os.fchmod(fd, 0o600)
        self._fh = os.fdopen(fd, "wb")
        try:
            self._fh.write(self._ad)
            if durable:
                self._sync()
                fsync_dir(self.path.parent)
        except BaseException:
            self._discard()
            raise

    # -- internals
    def _sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def _push(self, data: bytes, tag: int) -> None:
        ct = nb.crypto_secretstream_xchacha20poly1305_push(self._state, data, self._ad, tag)
        self._fh.write(_LEN.pack(len(ct)))
        self._fh.write(ct)
        self.chunks += 1

    def _drain_full_chunks(self) -> int:
        n = 0
        cs = self.chunk_size
        if len(self._buf) > cs:
            mv = memoryview(self._buf)
            pos = 0
            # keep at least one byte back so the FINAL chunk carries data when there is any
            while len(self._buf) - pos > cs:
                self._push(bytes(mv[pos:pos + cs]), _TAG_MESSAGE)
                pos += cs
                n += 1
            mv.release()
            del self._buf[:pos]
        return n

    def _discard(self) -> None:
        self.closed = True
        try:
            self._fh.close()
        finally:
            if self._tmp is not None:
                try:
                    os.unlink(self._tmp)
                except FileNotFoundError:
                    pass

    # -- public
    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.closed:
            raise ValueError("write to a closed EncryptedWriter")
        self._buf += data
        if self._drain_full_chunks() and self.durable:
            self._sync()
        return len(data)

    def flush(self, sync: bool = True) -> None:
        """Durable mode: seal what is buffered as a chunk and fsync it (the recoverable point).
        ``sync=False`` hands the sealed chunk to the operating system without waiting for the disk: it
        survives the process being killed (not a power cut), like an unsynced append."""
        if self.closed:
            return
        self._drain_full_chunks()
        if self.durable and self._buf:
            self._push(bytes(self._buf), _TAG_MESSAGE)
            self._buf.clear()
        if self.durable:
            if sync:
                self._sync()
            else:
                self._fh.flush()

    def close(self) -> None:
        """Write the FINAL chunk, fsync, and (default mode) move the file into place."""
        if self.closed:
            return
        try:
            self._drain_full_chunks()
            self._push(bytes(self._buf), _TAG_FINAL)
            self._buf.clear()
            self._sync()
        except BaseException:
            self.abort()
            raise
        self.closed = True
        self._fh.close()
        if self._tmp is not None:
            os.replace(self._tmp, self.path)
            self._tmp = None
        fsync_dir(self.path.parent)

    def abort(self) -> None:
        """Default mode: delete the partial file. Durable mode: keep it (fsynced, without FINAL)."""
        if self.closed:
            return
        if self.durable:
            try:
                if self._buf:
                    self._push(bytes(self._buf), _TAG_MESSAGE)
                    self._buf.clear()
                self._sync()
            finally:
                self.closed = True
                self._fh.close()
            return
        self._discard()

    def __enter__(self) -> EncryptedWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# ----------------------------------------------------------------------------- reading


class _ChunkReader:
    """Walks the chunks of one file, authenticating each; records where each chunk starts."""

    def __init__(self, path: Path, data_key: bytes, allow_incomplete: bool, expect_id: str | None) -> None:
        self.path = path
        self.key = data_key
        self.allow_incomplete = allow_incomplete
        self.fh: BinaryIO = open(path, "rb")  # closed by close()
        try:
            self.size = os.fstat(self.fh.fileno()).st_size
            self.header = _read_header(self.fh, path)
            if expect_id is not None and self.header.file_id != expect_id:
                raise VaultError(f"The encrypted file {_name(path)} belongs to a different record "
                                 "than expected.", path=str(path))
            self.state = self._fresh_state()
        except BaseException:
            self.fh.close()
            raise
        self.complete = False
        self.done = False

    def _fresh_state(self) -> Any:
        st = _State()
        try:
            nb.crypto_secretstream_xchacha20poly1305_init_pull(st, self.header.stream_header, self.key)
        except Exception as exc:  # noqa: BLE001 - libsodium rejects a malformed stream header
            raise _damaged(self.path, "has a damaged header") from exc
        return st

    def next_chunk(self) -> bytes | None:
        """The next plaintext chunk, or None at the (authentic) end."""
        if self.done:
            return None
        start = self.fh.tell()
        raw_len = self.fh.read(_LEN.size)
        if not raw_len:
            return self._end(None, "is incomplete: it was cut short (its end marker is missing)")
        if len(raw_len) < _LEN.size:
            return self._end(None, "is incomplete: it ends in the middle of a block")
        (n,) = _LEN.unpack(raw_len)
        if n < _ABYTES or n > MAX_CHUNK + _ABYTES:
            if self.allow_incomplete and start + _LEN.size + n > self.size:
                return self._end(None, "")
            raise _damaged(self.path, "has a damaged block")
        ct = self.fh.read(n)
        if len(ct) < n:
            return self._end(None, "is incomplete: it ends in the middle of a block")
        try:
            plain, tag = nb.crypto_secretstream_xchacha20poly1305_pull(self.state, ct, self.header.raw)
        except Exception:  # noqa: BLE001 - libsodium raises RuntimeError on authentication failure
            if self.allow_incomplete and self.fh.tell() >= self.size:
                return self._end(None, "")  # a torn last block after a crash
            raise _damaged(self.path, "failed its integrity check (it was altered or is corrupt)") from None
        if tag == _TAG_FINAL:
            if self.fh.tell() != self.size:
                raise _damaged(self.path, "has unexpected data after its end")
            self.complete = True
            self.done = True
        return plain

    def _end(self, value: bytes | None, why: str) -> bytes | None:
        if not self.allow_incomplete:
            raise VaultError(f"The encrypted file {_name(self.path)} {why}.",
                             "If this was a recording interrupted by a crash, recover it; otherwise "
                             "restore it from a backup.", path=str(self.path))
        self.done = True
        return value

    def close(self) -> None:
        self.fh.close()


def open_decrypted(path: str | os.PathLike[str], data_key: bytes, *, allow_incomplete: bool = False,
                   expect_id: str | None = None) -> Iterator[bytes]:
    """Yield the plaintext chunks of ``path``. Raises ``VaultError`` on tampering or truncation."""
    r = _ChunkReader(Path(path), data_key, allow_incomplete, expect_id)
    try:
        while (chunk := r.next_chunk()) is not None:
            yield chunk
    finally:
        r.close()


def _snapshot(state: Any) -> bytes | None:
    try:
        return bytes(nb.crypto_secretstream.ffi.buffer(state.statebuf))  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - internals changed: fall back to re-reading from the start
        return None


def _restore(state: Any, snap: bytes) -> None:
    nb.crypto_secretstream.ffi.buffer(state.statebuf)[:] = snap  # type: ignore[attr-defined]


class DecryptedFile(io.RawIOBase):
    """A read-only, seekable file object over an encrypted file; plaintext exists only in memory.

    Opening authenticates the whole file once (so tampering is reported here, before any consumer such
    as PyAV sees a byte) and remembers where every chunk starts; reads then decrypt one chunk at a time.
    """

    def __init__(self, path: str | os.PathLike[str], data_key: bytes, *, allow_incomplete: bool = False,
                 expect_id: str | None = None) -> None:
        super().__init__()
        self._r = _ChunkReader(Path(path), data_key, allow_incomplete, expect_id)
        self.name = str(path)
        self._index: list[tuple[int, int, bytes | None]] = []  # (file offset, plaintext start, state)
        total = 0
        try:
            while True:
                off = self._r.fh.tell()
                snap = _snapshot(self._r.state)
                chunk = self._r.next_chunk()
                if chunk is None:
                    break
                self._index.append((off, total, snap))
                total += len(chunk)
        except BaseException:
            self._r.close()
            raise
        self._end = self._r.fh.tell()
        self.complete = self._r.complete
        self._size = total
        self._pos = 0
        self._cur = -1  # index of the chunk in _cur_data
        self._ready = len(self._index)  # the chunk the stream state is positioned to decrypt next
        self._cur_data = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    @property
    def size(self) -> int:
        return self._size

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        new = base + offset
        if new < 0:
            raise ValueError("negative seek position")
        self._pos = new
        return new

    def _load(self, i: int) -> None:
        if i == self._cur:
            return
        off, _, snap = self._index[i]
        r = self._r
        if i != self._ready:
            r.state = r._fresh_state()
            if snap is not None:
                _restore(r.state, snap)
            else:  # re-decrypt from the first chunk
                r.fh.seek(len(r.header.raw))
                for _ in range(i):
                    r.done = False
                    r.next_chunk()
        r.fh.seek(off)
        r.done = False
        data = r.next_chunk()
        self._cur, self._cur_data, self._ready = i, data or b"", i + 1

    def _chunk_at(self, pos: int) -> int:
        lo, hi = 0, len(self._index) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._index[mid][1] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def readinto(self, b: Any) -> int:
        """Fill ``b`` as far as the data goes (across chunk boundaries); 0 at the end."""
        if self.closed:
            raise ValueError("I/O operation on closed file")
        out = memoryview(b).cast("B")
        done = 0
        while done < len(out) and self._pos < self._size:
            i = self._chunk_at(self._pos)
            self._load(i)
            rel = self._pos - self._index[i][1]
            piece = self._cur_data[rel:rel + len(out) - done]
            if not piece:  # an empty (final) chunk
                break
            out[done:done + len(piece)] = piece
            done += len(piece)
            self._pos += len(piece)
        return done

    def close(self) -> None:
        if not self.closed:
            self._r.close()
            self._cur_data = b""
        super().close()


# ----------------------------------------------------------------------------- the vault: keys + files


EventSink = Callable[[str, dict[str, Any]], None]


class Vault:
    """Per-file keys wrapped by the master key, in ``<data>/keys``; encrypt, decrypt and crypto-shred.

    ``on_event(event, data)`` (optional) is told ``key.created`` / ``key.destroyed`` with the file id only,
    so the daemon can write audit entries.
    """

    def __init__(self, data_dir: str | os.PathLike[str], master_key: bytes, *,
                 on_event: EventSink | None = None, chunk_size: int = DEFAULT_CHUNK) -> None:
        self.data_dir = Path(data_dir)
        self.keys = KeyStore(self.data_dir / "keys", master_key)
        self.chunk_size = chunk_size
        self._on_event = on_event

    def _emit(self, event: str, **data: Any) -> None:
        if self._on_event is not None:
            self._on_event(event, data)

    def new_key(self, file_id: str) -> bytes:
        key = self.keys.create(file_id)
        self._emit("key.created", file_id=file_id)
        return key

    def data_key(self, file_id: str) -> bytes:
        return self.keys.get(file_id)

    def writer(self, path: str | os.PathLike[str], file_id: str, *, durable: bool = False) -> EncryptedWriter:
        """A writer with a fresh key for ``file_id`` (the key is stored before any byte is written)."""
        key = self.new_key(file_id)
        return EncryptedWriter(path, key, file_id=file_id, chunk_size=self.chunk_size, durable=durable)

    def _key_for(self, path: Path, file_id: str | None) -> tuple[bytes, str]:
        if file_id is not None:  # key state first: a destroyed record says so even if its file is gone
            return self.keys.get(file_id), file_id
        try:
            fid = read_header(path).file_id
        except FileNotFoundError:
            raise VaultError(f"The encrypted file {_name(path)} does not exist.", path=str(path)) from None
        if not fid:
            raise VaultError(f"The encrypted file {_name(path)} does not say which key opens it.",
                             path=str(path))
        return self.keys.get(fid), fid

    def iter_plaintext(self, path: str | os.PathLike[str], *, file_id: str | None = None,
                       allow_incomplete: bool = False) -> Iterator[bytes]:
        p = Path(path)
        key, fid = self._key_for(p, file_id)
        return open_decrypted(p, key, allow_incomplete=allow_incomplete, expect_id=fid)

    def open(self, path: str | os.PathLike[str], *, file_id: str | None = None,
             allow_incomplete: bool = False) -> DecryptedFile:
        """A seekable in-memory plaintext view (e.g. for ``av.open(vault.open(path))``)."""
        p = Path(path)
        key, fid = self._key_for(p, file_id)
        return DecryptedFile(p, key, allow_incomplete=allow_incomplete, expect_id=fid)

    def encrypt_text(self, text: str, dst: str | os.PathLike[str], file_id: str) -> Path:
        out = Path(dst)
        with self.writer(out, file_id) as w:
            w.write(text.encode("utf-8"))
        return out

    def decrypt_to_text(self, path: str | os.PathLike[str], *, file_id: str | None = None) -> str:
        """The whole plaintext of an encrypted note as text (for ``hushnote open NOTE``)."""
        data = b"".join(self.iter_plaintext(path, file_id=file_id))
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise VaultError(f"{Path(path).name} decrypted, but is not a text note.", path=str(path)) from None

    def recover(self, path: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                file_id: str | None = None) -> tuple[Path, bool]:
        """Re-seal an interrupted recording: copy its complete chunks into a new, finalised file ``dst``
        under a new key ``<file id>.r``; returns (dst, was_complete). The caller then destroys the old id."""
        p = Path(path)
        key, fid = self._key_for(p, file_id)
        new_id = f"{fid}.r"[:128]
        r = _ChunkReader(p, key, True, fid)
        try:
            with self.writer(dst, new_id) as w:
                while (chunk := r.next_chunk()) is not None:
                    w.write(chunk)
        finally:
            r.close()
        return Path(dst), r.complete

    def destroy(self, file_id: str, *paths: str | os.PathLike[str]) -> dict[str, Any]:
        """Crypto-shred: destroy the wrapped key first (overwrite, unlink, fsync dir), then the files.

        Returns a receipt with ids and counts only (no file names): ``{file_id, key_destroyed, files}``.
        """
        check_file_id(file_id)
        had_key = self.keys.destroy(file_id)
        removed = 0
        for p in paths:
            if shred_file(Path(p)):
                removed += 1
        receipt = {"file_id": file_id, "key_destroyed": had_key, "files": removed}
        self._emit("key.destroyed", **receipt)
        return receipt
