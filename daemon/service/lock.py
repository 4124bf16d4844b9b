"""One service per data folder: an exclusive lock on ``<data>/service.lock`` (``hushnote.daemon.core.instance``)."""

from __future__ import annotations

from pathlib import Path

from hushnote.daemon.core.instance import InstanceLock as _Lock
from hushnote.daemon.core.instance import LockHeld


class AlreadyRunning(LockHeld):
    text = "Another hushnote service is already running{who}."
    hint = "Stop it first, or talk to it with `hushnote status`."


class InstanceLock(_Lock):
    def __init__(self, path: Path) -> None:
        super().__init__(path, refusal=AlreadyRunning)
