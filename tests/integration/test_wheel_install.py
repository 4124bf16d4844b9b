"""The wheel works anywhere, not only in this checkout (integration tier).

Builds the wheel with ``python -m build``, installs it (not editable) into a fresh virtual environment
beside ``python-daemon`` (whose import name is ``daemon``), and uses it as a new user would. The tests run
without a network, so the fresh environment borrows the third-party dependencies from the development
environment through a ``.pth`` line (their own ``.pth`` hooks, e.g. this checkout's editable install, are not
run from there), and ``python-daemon`` comes from the wheels ``scripts/setup.sh`` downloaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.paths import REPO, SAMPLES

WHEELS = REPO / ".cache" / "wheels"  # scripts/setup.sh: pip download python-daemon (and its dependency)


@dataclass
class Installed:
    venv: Path
    home: Path
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, env=self.env, cwd=self.home, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def hushnote(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.venv / "bin" / "hushnote"), *args, timeout=timeout)


def _pip(python: Path, *args: str) -> None:
    r = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index", "--disable-pip-version-check",
                        *args], capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    if not any(WHEELS.glob("python_daemon-*.whl")):
        pytest.fail(f"python-daemon's wheel is not in {WHEELS}: run scripts/setup.sh (it downloads it)")
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)],
                       capture_output=True, text=True, timeout=300, check=False, cwd=tmp)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    wheel = next(dist.glob("hushnote-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    borrowed = [p for p in sys.path if p.endswith("site-packages")] or [sysconfig.get_paths()["purelib"]]
    (site / "zz_dependencies.pth").write_text("".join(f"{p}\n" for p in borrowed), encoding="utf-8")
    # python-daemon first, then hushnote: hushnote must not overwrite a file of theirs
    _pip(venv / "bin" / "python", "--find-links", str(WHEELS), "python-daemon")
    _pip(venv / "bin" / "python", "--no-deps", str(wheel))
    home = tmp / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "HUSHNOTE_", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "cfg"), XDG_DATA_HOME=str(home / "data"),
               XDG_STATE_HOME=str(home / "state"), XDG_RUNTIME_DIR=str(home / "run"),
               PATH=f"{venv / 'bin'}:{os.environ.get('PATH', '')}", PYTHONNOUSERSITE="1")
    (home / "run").mkdir(mode=0o700)
    cfg = home / "cfg" / "hushnote" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[transcription]\nmodel = "tiny.en"\n', encoding="utf-8")  # the quick model is enough here
    yield Installed(venv, home, env)


def test_python_daemon_keeps_its_import_name(installed: Installed) -> None:
    r = installed.run(str(installed.python), "-c", textwrap.dedent("""
        import daemon, daemon.pidfile, hushnote.daemon
        print(daemon.DaemonContext.__module__, daemon.__file__, hushnote.daemon.__file__)
    """))
    assert r.returncode == 0, r.stderr
    module, theirs, ours = r.stdout.split()
    assert module == "daemon.daemon"  # python-daemon's, untouched
    assert "/hushnote/daemon/" in ours and "/hushnote/" not in theirs
    assert str(REPO) not in ours  # the installed copy, not this checkout


def test_installed_commands_work(installed: Installed) -> None:
    r = installed.hushnote("--version")
    assert r.returncode == 0 and r.stdout.startswith("hushnote "), r.stderr
    r = installed.hushnote("models")
    assert r.returncode == 0 and "tiny.en" in r.stdout, r.stderr
    r = installed.hushnote("doctor", "--no-speed")
    assert "FAIL" not in r.stdout, r.stdout
    assert "Traceback" not in r.stderr


def test_service_install_writes_the_unit_and_starts_nothing(installed: Installed) -> None:
    r = installed.hushnote("service", "install")
    assert r.returncode == 0, r.stdout + r.stderr
    unit = installed.home / "cfg" / "systemd" / "user" / "hushnote.service"
    assert unit.exists(), r.stdout
    text = unit.read_text(encoding="utf-8")
    assert str(installed.venv / "bin" / "hushnote") in text and "daemon" in text
    assert "systemctl --user enable" in r.stdout  # it says how; it never runs it


def test_process_makes_a_note_in_process_and_through_the_model_process(installed: Installed, tmp_path: Path) -> None:
    out = tmp_path / "notes"
    r = installed.hushnote("process", str(SAMPLES / "sample-session.flac"), "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    note = out / "sample-session.note.md"
    assert note.exists() and "DRAFT" in note.read_text(encoding="utf-8")
    # the service's path: the same job in the model child (python -m hushnote.daemon.runner.process)
    r = installed.run(str(installed.python), "-c", textwrap.dedent(f"""
        from pathlib import Path
        from hushnote.daemon.core import config
        from hushnote.daemon.runner.process import ModelRunner
        with ModelRunner() as runner:
            transcript, note = runner.process(Path({str(SAMPLES / 'sample-session.flac')!r}), config.load(None))
        print(transcript.word_count, note.template)
    """))
    assert r.returncode == 0, r.stderr[-3000:]
    words, template = r.stdout.split()
    assert int(words) > 150 and template == "soap"
