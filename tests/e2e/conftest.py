"""Fixtures of the e2e tier: the daemon as a process, a private PulseAudio server, an X desktop."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import Daemon
from tests.support.pulse import PulseServer, pulse_server
from tests.support.xdesktop import XDesktop, xdesktop


@pytest.fixture()
def daemon(tmp_path: Path, home: Path) -> Iterator[Daemon]:
    """A daemon setup (not started); a module may override this fixture with its own setup."""
    d = Daemon(tmp_path / "hn", home)
    yield d
    d.cleanup()


@pytest.fixture(scope="module")
def pulse() -> Iterator[PulseServer]:
    """One server for a test module. Daemonised, so it is not our child (see tests/support/pulse.py)."""
    with pulse_server() as srv:
        yield srv


@pytest.fixture()
def desk(tmp_path: Path) -> Iterator[XDesktop]:
    with xdesktop(tmp_path / "x") as d:
        yield d


@pytest.fixture()
def runtime() -> Iterator[Path]:
    """A private XDG_RUNTIME_DIR for a tray and its service socket (short: the path must fit 104 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="hne", dir="/tmp"))
    d.chmod(0o700)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
