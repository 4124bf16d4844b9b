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


def read_line(s: socket.socket, pending: dict[int, bytes] | None = None) -> dict[str, Any] | None:
    """One JSON line, or None if the server closed the connection first. With ``pending``, what follows the
    line is kept there for the next call on the same socket (pipelined replies); without it, it is dropped."""
    buf = pending.pop(s.fileno(), b"") if pending is not None else b""
    while b"\n" not in buf:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        buf += chunk
    line, rest = buf.split(b"\n", 1)
    if rest and pending is not None:
        pending[s.fileno()] = rest
    out: dict[str, Any] = json.loads(line)
    return out
