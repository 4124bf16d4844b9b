"""``hushnote config``: the settings as the command shows them, and a broken file reported without a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.cli import run_cli


def hushnote(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run with only ``home``'s folders in the environment (no inherited settings)."""
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "PATH": "/usr/bin:/bin",
           "XDG_DATA_HOME": str(home / "data")}
    return run_cli(*args, env=env, timeout=60)


def test_cli_config_show_and_path(home: Path) -> None:
    r = hushnote(home, "config", "path")
    assert r.returncode == 0
    assert r.stdout.strip() == str(home / "config" / "hushnote" / "config.toml")
    r = hushnote(home, "config", "show")
    assert r.returncode == 0
    assert 'model = "base"' in r.stdout and "[retention]" in r.stdout


def test_cli_broken_config_lists_every_error_without_traceback(home: Path) -> None:
    f = home / "config" / "hushnote" / "config.toml"
    f.parent.mkdir(parents=True)
    f.write_text('[drafting]\nengine = 1\ntemplate = 2\n', encoding="utf-8")
    r = hushnote(home, "config", "show")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "drafting.engine" in r.stderr and "drafting.template" in r.stderr
    assert str(f) in r.stderr
