"""A private PulseAudio server for tests: real audio, played into a virtual sink, recorded by PyAudio.

``PulseServer`` starts ``pulseaudio`` with its own socket, runtime dir and HOME, a 16 kHz mono null sink
``vsink`` and ``vsink.monitor`` as the default source. PyAudio's ALSA ``default`` device goes through
libasound2-plugins' pulse plugin, which connects to ``$PULSE_SERVER``; so while the server is active
``os.environ["PULSE_SERVER"]`` points at it (and is restored afterwards). ``play()`` runs ``paplay`` into
``vsink``: whatever it plays is what a recording from the default input hears, in real time.

Why ``--daemonize=yes``: the conftest guard fails any test that ends with a living child process, and a
module-scoped server outlives single tests. Daemonised, pulseaudio is re-parented away from pytest
(our direct child exits once the server is ready, and is reaped by ``subprocess.run``); we track it by its
pid file and stop it (SIGTERM, then SIGKILL) and wait for it to be gone at teardown. The server's state
lives in a fresh directory each time, so a stale pid file from a killed server never blocks a new one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

RATE = 16_000


def available() -> bool:
    return all(shutil.which(x) for x in ("pulseaudio", "pactl", "paplay"))


class PulseServer:
    def __init__(self, base: Path | None = None) -> None:
        self._tmp = None if base is not None else tempfile.mkdtemp(prefix="hn-pulse-")
        self.base = Path(base) if base is not None else Path(self._tmp or ".")
        self.socket = self.base / "native"
        self.runtime = self.base / "run"
        self.home = self.base / "home"
        self.log = self.base / "pulse.log"
        self.pid: int | None = None
        self._saved_env: str | None = None

    @property
    def server(self) -> str:
        return f"unix:{self.socket}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(PULSE_SERVER=self.server, HOME=str(self.home), XDG_RUNTIME_DIR=str(self.runtime),
                   XDG_CONFIG_HOME=str(self.home / ".config"))
        return env

    def start(self, timeout: float = 20.0) -> PulseServer:
        self.runtime.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        self.home.mkdir(parents=True, exist_ok=True)
        script = self.base / "default.pa"
        script.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
            f"load-module module-null-sink sink_name=vsink rate={RATE} channels=1\n"
            "set-default-sink vsink\n"
            "set-default-source vsink.monitor\n", encoding="utf-8")
        subprocess.run(["pulseaudio", "-n", "-F", str(script), "--exit-idle-time=-1", "--daemonize=yes",
                        "--system=false", "--disallow-exit", "--use-pid-file=yes",
                        f"--log-target=file:{self.log}"],
                       env=self.env(), check=True, timeout=timeout, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            ok = subprocess.run(["pactl", "info"], env=self.env(), capture_output=True, timeout=10).returncode == 0
            pid_file = self.runtime / "pulse" / "pid"
            if ok and pid_file.exists():
                self.pid = int(pid_file.read_text().strip())
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"pulseaudio did not come up; see {self.log}")
            time.sleep(0.1)
        self._saved_env = os.environ.get("PULSE_SERVER")
        os.environ["PULSE_SERVER"] = self.server
        return self

    def alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 10.0) -> None:
        """Send ``sig`` and wait until the server is gone (the device-lost tests use this)."""
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            while self.alive():
                time.sleep(0.05)

    def stop(self) -> None:
        self.kill(signal.SIGTERM, timeout=5.0)
        self.pid = None
        if self._saved_env is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = self._saved_env
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> PulseServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ more devices

    def pactl(self, *args: str) -> str:
        done = subprocess.run(["pactl", *args], env=self.env(), capture_output=True, text=True, timeout=20)
        if done.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)} failed: {done.stderr[:300]}")
        return done.stdout

    def call_setup(self) -> PulseServer:
        """A telehealth computer: ``vmic`` (a null sink whose monitor is the default source) is the microphone,
        ``vsink`` (the default sink) the call app's output. (A combined sink playing one click into both is no
        way to measure alignment: it adapts its slaves' rates, which moved the click by up to 6 ms.)"""
        self.pactl("load-module", "module-null-sink", "sink_name=vmic", f"rate={RATE}", "channels=1")
        self.pactl("set-default-source", "vmic.monitor")
        self.pactl("set-default-sink", "vsink")
        return self

    # ------------------------------------------------------------------ playing

    def play(self, wav: Path, device: str = "vsink") -> subprocess.Popen[bytes]:
        """Start playing ``wav`` into ``device`` (real time). ``wait()`` on the result."""
        return subprocess.Popen(["paplay", f"--device={device}", str(wav)], env=self.env(),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def play_and_wait(self, wav: Path, timeout: float = 600.0, device: str = "vsink") -> None:
        p = self.play(wav, device)
        _, err = p.communicate(timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"paplay failed: {err.decode(errors='replace')[:300]}")


@contextlib.contextmanager
def pulse_server(base: Path | None = None) -> Iterator[PulseServer]:
    if not available():
        pytest.fail("pulseaudio, pactl and paplay are needed (apt install pulseaudio pulseaudio-utils "
                    "libasound2-plugins)")
    with PulseServer(base) as srv:
        yield srv
