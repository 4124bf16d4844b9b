"""The recorder as a process of its own (``python -m hushnote.daemon.recording.recorder``), for kill -9 tests."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.paths import REPO


@contextlib.contextmanager
def recorder_process(data: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    """Start recording into ``data``; yields the process and its first event (``record.started``). On exit the
    process is killed if still alive, reaped, and its pipes closed."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "hushnote.daemon.recording.recorder", str(data), *args], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["event"] == "record.started", first
        yield proc, first
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for f in (proc.stdin, proc.stdout):
            if f:
                f.close()
