"""Raw socket helpers for tests that talk to the IPC server the way a broken or hostile client would."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


def raw_connect(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5.0)
    s.connect(str(path))
    return s


def read_line(s: socket.socket) -> dict[str, Any] | None:
    """One JSON line, or None if the server closed the connection first."""
    buf = b""
    while b"\n" not in buf:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        buf += chunk
    out: dict[str, Any] = json.loads(buf.split(b"\n", 1)[0])
    return out
