"""One process of a kind at a time: an exclusive lock on a file (fcntl.flock; msvcrt on Windows).

The service holds ``<data>/service.lock`` (``hushnote.daemon.service.lock``), the tray
``<runtime>/tray.lock`` (two trays would double every icon and notification). The operating system drops
the lock when the process dies, however it dies, so a stale lock file never blocks a restart. The file
holds the owner's pid, for the message a second instance prints.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from hushnote.daemon.core.errors import HushnoteError


class LockHeld(HushnoteError):
    """Another process holds the lock. Subclasses say who in ``text`` (``{who}``: " (process N)" when known)."""

    exit_code = 3
    text = "Another hushnote process is already running{who}."
    hint = ""

    def __init__(self, pid: str) -> None:
        super().__init__(self.text.format(who=f" (process {pid})" if pid.isdigit() else ""), self.hint)
        self.pid = pid


class InstanceLock:
    """``refusal(pid)`` is the error raised when another process holds the lock (``pid`` as that process
    wrote it; not a number if it could not be read)."""

    def __init__(self, path: Path, refusal: Callable[[str], HushnoteError] = LockHeld) -> None:
        self.path = Path(path)
        self.refusal = refusal
        self._fd: int | None = None

    def acquire(self) -> InstanceLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock(fd)
        except OSError:
            try:
                other = os.pread(fd, 32, 0).decode("ascii", "replace").strip() if hasattr(os, "pread") else ""
            except OSError:
                other = ""
            os.close(fd)
            raise self.refusal(other) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
            _unlock(self._fd)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
