"""The computer's audio output as a capture source: the client's voice in a video call (telehealth).

``[recording] system_audio = true`` records it as the right channel beside the microphone (see
``hushnote.daemon.recording.align``). One small interface, ``SystemAudioSource``, with one implementation
per platform:

* **Linux** (PulseAudio, or PipeWire with pipewire-pulse): every output sink has a ``<sink>.monitor`` source
  carrying what the sink plays. Debian's PortAudio has no PulseAudio host API, and the ALSA ``pulse``
  device only reaches a monitor through the process-wide ``PULSE_SOURCE`` variable (which would move the
  microphone too), so ``ParecSource`` runs ``parec`` (pulseaudio-utils) on the monitor, 16 kHz mono s16le on
  its stdout, read by a thread that stamps each block with its arrival time. Implemented and tested.
* **Windows**: WASAPI loopback capture of the default render endpoint (the PyAudioWPatch fork of PyAudio
  exposes it as a loopback input device). Not implemented: ``WasapiLoopbackSource`` says so plainly.
* **macOS**: there is no loopback of the output without a virtual driver (BlackHole, Loopback) or, from
  macOS 13, ScreenCaptureKit's audio capture. Not implemented: ``MacSystemAudioSource`` says so plainly.

Monitor and sink names are device names, not personal data; nothing here logs audio.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
from hushnote.daemon.core.threads import BackgroundThread
from hushnote.daemon.recording.devices import SAMPLE_RATE, RecorderError

Clock = Callable[[], float]
_READ_BYTES = 640  # 20 ms of 16 kHz mono s16le: small blocks give the aligner precise arrival times
_HINT_OFF = "Or turn recording of the computer's audio off: system_audio = false under [recording]."


@dataclass(frozen=True)
class MonitorInfo:
    """An output whose sound can be recorded: ``name`` is what ``recording.system_audio_device`` takes."""

    name: str
    description: str
    is_default: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return f"{'*' if self.is_default else ' '} {self.name}  ({self.description})"


class SystemAudioSource(Protocol):
    """The computer's audio output, captured as 16 kHz mono int16 blocks."""

    name: str

    def start(self) -> None:
        """Begin capturing; raises ``RecorderError`` with a plain message if it cannot."""

    def read(self) -> list[tuple[float, np.ndarray]]:
        """The blocks that arrived since the last call, each with its arrival time (the source's clock)."""

    def alive(self) -> bool:
        """False once the source stopped delivering for good (the output device went away)."""

    def close(self) -> None:
        """Stop capturing and release everything (idempotent)."""


# ----------------------------------------------------------------------------- Linux: PulseAudio/PipeWire

def _pactl(*args: str) -> str:
    exe = shutil.which("pactl")
    if exe is None:
        raise RecorderError("The computer's audio cannot be found: the 'pactl' program is not installed.",
                            "Install pulseaudio-utils (it works with PipeWire too). " + _HINT_OFF)
    try:
        done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=10,  # noqa: S603
                              stdin=subprocess.DEVNULL)  # a fixed program, fixed arguments, no shell
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RecorderError(f"The sound system did not answer ({exc.__class__.__name__}).",
                            "Check that PulseAudio or PipeWire is running. " + _HINT_OFF) from None
    if done.returncode != 0:
        raise RecorderError("The sound system did not answer (pactl failed).",
                            "Check that PulseAudio or PipeWire is running. " + _HINT_OFF)
    return done.stdout


def _default_sink() -> str:
    for line in _pactl("info").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Default Sink":
            return value.strip()
    return ""


def parse_sources(text: str, default_sink: str) -> list[MonitorInfo]:
    """The monitor sources in ``pactl list sources`` output, the default sink's monitor marked."""
    out: list[MonitorInfo] = []
    name = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Name:"):
            name = line.partition(":")[2].strip()
        elif line.startswith("Description:") and name.endswith(".monitor"):
            out.append(MonitorInfo(name, line.partition(":")[2].strip(), name == f"{default_sink}.monitor"))
            name = ""
    return out


def _linux_monitors() -> list[MonitorInfo]:
    return parse_sources(_pactl("list", "sources"), _default_sink())


def choose_monitor(monitors: list[MonitorInfo], spec: str) -> MonitorInfo:
    """``recording.system_audio_device``: "" = the default output's monitor, else part of a name/description."""
    if not monitors:
        raise RecorderError("No computer audio output was found to record from.",
                            "Check the sound settings (an output device must exist). " + _HINT_OFF)
    names = ", ".join(m.name for m in monitors)
    text = spec.strip().lower()
    if not text:
        return next((m for m in monitors if m.is_default), monitors[0])
    exact = [m for m in monitors if text in (m.name.lower(), m.name.lower().removesuffix(".monitor"))]
    matches = exact or [m for m in monitors if text in m.name.lower() or text in m.description.lower()]
    if not matches:
        raise RecorderError(f'No computer audio output\'s name contains "{spec.strip()}" '
                            "(recording.system_audio_device).",
                            f"Outputs found: {names}. Run 'hushnote devices' to see them.")
    return matches[0]


class ParecSource:
    """``parec`` on a monitor source; a reader thread collects its output with arrival times."""

    def __init__(self, monitor: str, clock: Clock, start_timeout_s: float = 5.0) -> None:
        self.name = monitor
        self.clock = clock
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: BackgroundThread | None = None
        self._lock = threading.Lock()
        self._blocks: list[tuple[float, np.ndarray]] = []
        self._first = threading.Event()
        self._ended = threading.Event()
        self._gone = threading.Event()  # the monitor was removed: what parec delivers now is not the output
        self._watch: subprocess.Popen[str] | None = None
        self._watch_thread: BackgroundThread | None = None

    def start(self) -> None:
        exe = shutil.which("parec")
        if exe is None:
            raise RecorderError("The computer's audio cannot be recorded: the 'parec' program is not installed.",
                                "Install pulseaudio-utils (it works with PipeWire too). " + _HINT_OFF)
        self._start_watch()
        self._proc = subprocess.Popen(  # noqa: S603 - a fixed program and arguments, no shell
            [exe, f"--device={self.name}", "--format=s16le", f"--rate={SAMPLE_RATE}", "--channels=1",
             "--latency-msec=20", "--client-name=hushnote", "--stream-name=computer audio", "--raw"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._thread = BackgroundThread("recorder-system-audio", self._read_loop).start()  # ends with parec
        if not self._first.wait(self.start_timeout_s) or (self._ended.is_set() and not self._blocks):
            self.close()
            raise RecorderError(f'The computer\'s audio ("{self.name}") could not be recorded: '
                                "it sent no sound.",
                                "Check the output device (hushnote devices lists them). " + _HINT_OFF)

    def _start_watch(self) -> None:
        """PulseAudio moves a stream whose source disappears to the default source (the microphone!), and
        parec has no flag against it; so ``pactl subscribe`` watches for the monitor's removal, and from then
        on nothing parec delivers is kept and parec is ended (``alive()`` turns False)."""
        index = next((line.split()[0] for line in _pactl("list", "short", "sources").splitlines()
                      if line.split()[1:2] == [self.name]), None)
        exe = shutil.which("pactl")
        if index is None or exe is None:
            raise RecorderError(f'The computer\'s audio output "{self.name}" is gone.',
                                "Check the output device (hushnote devices lists them). " + _HINT_OFF)
        self._watch = subprocess.Popen([exe, "subscribe"], stdin=subprocess.DEVNULL,  # noqa: S603 - fixed
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        removed = f"'remove' on source #{index}"

        def watch(out: Any) -> None:
            with contextlib.suppress(OSError, ValueError):
                for line in out:
                    if removed in line:
                        self._gone.set()
                        if self._proc is not None:
                            with contextlib.suppress(OSError):
                                self._proc.terminate()
                        return

        self._watch_thread = BackgroundThread("recorder-system-audio-watch",
                                              functools.partial(watch, self._watch.stdout)).start()

    def _read_loop(self) -> None:
        if self._proc is None or self._proc.stdout is None:  # pragma: no cover - started by start()
            self._ended.set()
            self._first.set()
            return
        fd = self._proc.stdout.fileno()
        rest = b""
        try:
            while True:
                data = os.read(fd, _READ_BYTES)
                if not data:
                    break
                now = self.clock()
                data, rest = rest + data, b""
                if len(data) % 2:
                    data, rest = data[:-1], data[-1:]
                if self._gone.is_set():
                    break
                with self._lock:
                    self._blocks.append((now, np.frombuffer(data, dtype="<i2").copy()))
                self._first.set()
        except OSError:
            pass
        finally:
            self._ended.set()
            self._first.set()

    def read(self) -> list[tuple[float, np.ndarray]]:
        with self._lock:
            out, self._blocks = self._blocks, []
        return out

    def alive(self) -> bool:
        return not self._ended.is_set()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        watch, self._watch = self._watch, None
        for p, thread in ((proc, self._thread), (watch, self._watch_thread)):
            if p is None:
                continue
            _end(p)
            if thread is not None:
                thread.join(3)
            if p.stdout is not None:
                with contextlib.suppress(OSError):
                    p.stdout.close()


def _end(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)


# ----------------------------------------------------------------------------- Windows, macOS: planned

class _NotYet:
    """A planned platform's source: it exists so the structure is there, and says plainly it cannot record."""

    platform = ""

    def __init__(self, device: str = "", clock: Clock | None = None) -> None:
        self.name = device or "default output"

    def start(self) -> None:
        raise RecorderError(f"Recording the computer's audio is not available on {self.platform} yet.",
                            "Record the call with the microphone only: system_audio = false under [recording].")

    def read(self) -> list[tuple[float, np.ndarray]]:
        return []

    def alive(self) -> bool:
        return False

    def close(self) -> None:
        return None


class WasapiLoopbackSource(_NotYet):
    """Windows, planned: open the default render endpoint's loopback device with PyAudioWPatch
    (``get_default_wasapi_loopback()``), capture at its own rate and channel count, down-mix and resample
    to 16 kHz mono with ``StreamResampler``, stamp blocks with arrival times as ``ParecSource`` does."""

    platform = "Windows"


class MacSystemAudioSource(_NotYet):
    """macOS, planned: macOS offers no loopback of the output. Either a virtual output driver (BlackHole) set
    up by the user as a multi-output device, captured like a microphone through PortAudio, or
    ScreenCaptureKit's audio stream (macOS 13+, needs a small native helper and the screen-recording
    permission)."""

    platform = "macOS"


# ----------------------------------------------------------------------------- per platform

def list_monitors() -> list[MonitorInfo]:
    """The outputs whose sound can be recorded (``hushnote devices``); empty where not supported."""
    if not sys.platform.startswith("linux"):
        return []
    return _linux_monitors()


def open_source(spec: str, clock: Clock) -> SystemAudioSource:
    """The configured computer-audio source (not started yet), for this platform."""
    if sys.platform == "win32":
        return WasapiLoopbackSource(spec, clock)
    if sys.platform == "darwin":
        return MacSystemAudioSource(spec, clock)
    return ParecSource(choose_monitor(_linux_monitors(), spec).name, clock)
