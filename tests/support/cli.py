"""Run the ``hushnote`` command as a user would: a separate process, its exit code and its two outputs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.support.paths import REPO


def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``hushnote <args>`` (``python -m hushnote.daemon.cli``) from the repository, stdin closed (no terminal)."""
    return subprocess.run([sys.executable, "-m", "hushnote.daemon.cli", *args], env=env, cwd=REPO,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False)


def home_env(home: Path) -> dict[str, str]:
    """This process's environment with HOME and the XDG folders inside ``home`` (a user of its own)."""
    env = dict(os.environ)
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
                "HF_HUB_OFFLINE": "1"})
    env.pop("HUSHNOTE_CONFIG", None)
    return env
