"""One tray per user: a second ``hushnote tray`` is refused (two trays double every icon and notification).

The lock (``hushnote.daemon.core.instance``) is ``tray.lock`` beside the service's socket, in the user's
private runtime folder, so it is per user and per service; the operating system drops it when the tray
exits, however it exits.
"""

from __future__ import annotations

from pathlib import Path

from hushnote.daemon.core.instance import InstanceLock, LockHeld

LOCK_NAME = "tray.lock"


class TrayAlreadyRunning(LockHeld):
    text = "The hushnote tray is already running{who}: its icon is in the panel."
    hint = "Use that one; quit it from its menu first if you want to start it again."


def tray_lock(endpoint: Path) -> InstanceLock:
    """The lock for the tray of the service at ``endpoint`` (its socket, or on Windows its token file).
    Its folder is made private (0700) if the tray is the first to need it."""
    folder = Path(endpoint).parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return InstanceLock(folder / LOCK_NAME, refusal=TrayAlreadyRunning)
