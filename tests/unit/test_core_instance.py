"""One process of a kind at a time: the service's and the tray's instance locks, across real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hushnote.daemon.core.instance import InstanceLock, LockHeld
from hushnote.daemon.service.lock import AlreadyRunning
from hushnote.daemon.service.lock import InstanceLock as ServiceLock
from hushnote.tray.system.single import LOCK_NAME, TrayAlreadyRunning, tray_lock

HOLD = """
import sys, time
from pathlib import Path
from hushnote.daemon.core.instance import InstanceLock
lock = InstanceLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
lock.release()
"""


def hold(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_a_second_holder_is_refused_until_the_first_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "x" / "some.lock"
    proc = hold(path)
    try:
        with pytest.raises(LockHeld) as info:
            InstanceLock(path).acquire()
        assert info.value.pid == str(proc.pid) and f"(process {proc.pid})" in info.value.message
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(10) == 0
    with InstanceLock(path):  # free again
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "some.lock"
    proc = hold(path)
    proc.kill()
    proc.wait(10)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    proc.stdout.close()
    with InstanceLock(path):
        assert path.read_text() == f"{__import__('os').getpid()}\n"


def test_service_and_tray_say_who_is_running(tmp_path: Path) -> None:
    with ServiceLock(tmp_path / "service.lock"):
        with pytest.raises(AlreadyRunning, match="Another hushnote service is already running"):
            ServiceLock(tmp_path / "service.lock").acquire()
    runtime = tmp_path / "runtime" / "hushnote"
    with tray_lock(runtime / "ipc.sock"):
        assert (runtime / LOCK_NAME).exists() and (runtime.stat().st_mode & 0o777) == 0o700
        with pytest.raises(TrayAlreadyRunning, match="The hushnote tray is already running") as info:
            tray_lock(runtime / "ipc.sock").acquire()
        assert "its icon is in the panel" in str(info.value)
