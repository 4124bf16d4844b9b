"""Processes seen through /proc (Linux): is a pid alive, which children does this process have."""

from __future__ import annotations

import os
from pathlib import Path


def _state_and_parent(stat: str) -> tuple[str, int]:
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state, _ = _state_and_parent(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return False
    return state != "Z"


def child_pids() -> list[int]:
    """Living (non-zombie) children of this process."""
    me = os.getpid()
    out: list[int] = []
    proc = Path("/proc")
    if not proc.exists():
        return out
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            state, ppid = _state_and_parent((d / "stat").read_text())
        except OSError:
            continue
        if ppid == me and state != "Z":
            out.append(int(d.name))
    return out
