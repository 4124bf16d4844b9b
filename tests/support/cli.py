"""Run the ``hushnote`` command as a user would: a separate process, its exit code and its two outputs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping

from tests.support.paths import REPO


def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``hushnote <args>`` (``python -m hushnote.daemon.cli``) from the repository, stdin closed (no terminal)."""
    return subprocess.run([sys.executable, "-m", "hushnote.daemon.cli", *args], env=env, cwd=REPO,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False)
