"""One way to run a background thread: named, started, told to stop, joined; a context manager.

``BackgroundThread(name, target, wake=...)`` runs ``target()`` (or a subclass's ``run()``) on a thread of
its own. ``stop()`` sets the ``stopping`` event the loop watches and calls ``wake`` so a loop blocked on a
queue, a selector or an event notices at once (put a sentinel, write to a socket, set an event).
``join(timeout)`` says whether the thread has ended; ``close()`` is ``stop()`` then ``join()``. Several
threads of one owner may share one ``stopping`` event (the workers, the tray's two loops).

An exception that escapes the loop ends the thread and is logged by its class and where it was raised,
never its message (an exception's text may hold a file name or transcript words).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

log = logging.getLogger("hushnote.threads")


def where(exc: BaseException) -> str:
    """``file.py:123 in func`` of the innermost frame: a location, never the exception's message (PHI)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    fs = frames[-1]
    return f"{Path(fs.filename).name}:{fs.lineno} in {fs.name}"


class BackgroundThread:
    """A named thread running a loop until ``stop()``; see the module docstring."""

    def __init__(self, name: str, target: Callable[[], None] | None = None, *,
                 wake: Callable[[], None] | None = None, stopping: threading.Event | None = None,
                 daemon: bool = True, join_timeout: float | None = 30.0) -> None:
        self.name = name
        self.stopping = stopping if stopping is not None else threading.Event()
        self.join_timeout = join_timeout
        self._target = target
        self._wake = wake
        self._daemon = daemon
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """The loop; by default ``target()``. It should return soon after ``stopping`` is set."""
        if self._target is not None:
            self._target()

    def _main(self) -> None:
        try:
            self.run()
        except Exception as exc:  # noqa: BLE001 - logged without its message; the owner sees the thread end
            log.error("thread %s stopped: %s at %s", self.name, type(exc).__name__, where(exc))

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError(f"thread {self.name} was already started")
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=self._daemon)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the loop to end (``stopping`` set, then ``wake``); returns at once."""
        self.stopping.set()
        if self._wake is not None:
            self._wake()

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (None: for ever); True if the thread has ended (or never ran).
        A thread never waits for itself (e.g. a loop that ends its own owner)."""
        t = self._thread
        if t is None or t is threading.current_thread():
            return t is None or not t.is_alive()
        t.join(timeout)
        return not t.is_alive()

    def close(self) -> bool:
        """``stop()``, then ``join(join_timeout)``; True if the thread has ended."""
        self.stop()
        return self.join(self.join_timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
