"""Where the service listens.

Linux/macOS: a Unix socket at ``$XDG_RUNTIME_DIR/hushnote/ipc.sock``, or ``<paths.data>/run/ipc.sock``
when ``XDG_RUNTIME_DIR`` is unset. Windows: loopback TCP, announced in ``<paths.data>/run/ipc.token``.
The folder is created 0700 and the socket made 0600 by the server when it binds (``ipc.transport``);
nothing here touches the disk.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hushnote.daemon.core.config import Config
from hushnote.ipc.transport import MAX_UNIX_PATH, EndpointError

SOCKET_NAME = "ipc.sock"
TOKEN_NAME = "ipc.token"  # noqa: S105 - a file name, not a secret


def runtime_dir(cfg: Config) -> Path:
    """The private folder holding the socket: ``$XDG_RUNTIME_DIR/hushnote`` or ``<paths.data>/run``."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "hushnote"
    return cfg.path("paths.data") / "run"


def socket_path(cfg: Config) -> Path:
    """The Unix socket path. Raises ``EndpointError`` if it would not fit a socket address (104 bytes)."""
    path = runtime_dir(cfg) / SOCKET_NAME
    if len(os.fsencode(path)) >= MAX_UNIX_PATH:
        raise EndpointError(f"The service address {path} is too long for a Unix socket "
                            f"(limit {MAX_UNIX_PATH - 1} bytes).",
                            "Set XDG_RUNTIME_DIR, or paths.data in the settings, to a shorter folder.")
    return path


def token_path(cfg: Config) -> Path:
    """Windows: the 0600 file with the loopback port and the per-start access token."""
    return cfg.path("paths.data") / "run" / TOKEN_NAME


def endpoint(cfg: Config) -> Path:
    """What ``IpcServer``/``IpcClient`` take on this platform: the socket, or on Windows the token file."""
    return token_path(cfg) if sys.platform == "win32" else socket_path(cfg)
