"""Microphones: listing input devices, choosing one from the settings, and resampling to 16 kHz.

PyAudio (PortAudio) is initialised per use and never shared between threads: ``pyaudio_session()``
serialises ``Pa_Initialize``/``Pa_Terminate`` (PortAudio's global state is not thread-safe), and a fresh
initialisation sees microphones plugged in (or a sound server restarted) since the last one.
Device names are not personal data, so they may appear in messages; nothing here logs audio.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from hushnote.daemon.core.errors import HushnoteError

SAMPLE_RATE = 16_000

_pa_lock = threading.Lock()


class RecorderError(HushnoteError):
    """Recording cannot start, stop or continue; the message says why and what to do."""

    exit_code = 6


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    max_input_channels: int
    default_sample_rate: float
    is_default: bool = False
    host_api: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        mark = "*" if self.is_default else " "
        return (f"{mark} {self.index:>3}  {self.name}  ({self.max_input_channels} ch, "
                f"{int(self.default_sample_rate)} Hz{', ' + self.host_api if self.host_api else ''})")


def _pyaudio() -> Any:
    try:
        import pyaudio
    except ImportError:  # pragma: no cover - a packaging problem
        raise RecorderError("Recording is not available: the PyAudio package is not installed.",
                            "Reinstall hushnote (on Linux, install portaudio19-dev first).") from None
    return pyaudio


@contextmanager
def pyaudio_session() -> Iterator[Any]:
    """A ``pyaudio.PyAudio()`` instance, terminated on exit. Initialise/terminate are serialised."""
    pyaudio = _pyaudio()
    with _pa_lock:
        pa = pyaudio.PyAudio()
    try:
        yield pa
    finally:
        with _pa_lock:
            pa.terminate()


def _devices(pa: Any) -> list[DeviceInfo]:
    try:
        default = int(pa.get_default_input_device_info()["index"])
    except (OSError, KeyError):
        default = -1
    out: list[DeviceInfo] = []
    for i in range(pa.get_device_count()):
        try:
            d = pa.get_device_info_by_index(i)
        except (OSError, ValueError):
            continue
        if int(d.get("maxInputChannels", 0)) <= 0:
            continue
        try:
            api = str(pa.get_host_api_info_by_index(int(d["hostApi"]))["name"])
        except (OSError, ValueError, KeyError):
            api = ""
        out.append(DeviceInfo(i, str(d["name"]), int(d["maxInputChannels"]), float(d["defaultSampleRate"]),
                              i == default, api))
    return out


def list_devices() -> list[DeviceInfo]:
    """Every input device PortAudio sees, the system default marked (``hushnote devices``)."""
    with pyaudio_session() as pa:
        return _devices(pa)


def resolve_device(pa: Any, spec: str | int) -> DeviceInfo:
    """The device for ``recording.device``: "" = system default, a number = index, text = part of a name."""
    devices = _devices(pa)
    names = ", ".join(f"{d.index}: {d.name}" for d in devices) or "none"
    if not devices:
        raise RecorderError("No microphone was found on this computer.",
                            "Connect a microphone (or check that the sound system is running) and try again.")
    text = str(spec).strip()
    if text == "":
        for d in devices:
            if d.is_default:
                return d
        return devices[0]
    if text.lstrip("-").isdigit():
        idx = int(text)
        for d in devices:
            if d.index == idx:
                return d
        raise RecorderError(f"There is no microphone number {idx} (recording.device).",
                            f"Microphones found: {names}. Run 'hushnote devices' to see them.")
    matches = [d for d in devices if text.lower() in d.name.lower()]
    if not matches:
        raise RecorderError(f'No microphone\'s name contains "{text}" (recording.device).',
                            f"Microphones found: {names}. Run 'hushnote devices' to see them.")
    exact = [d for d in matches if d.name.lower() == text.lower()]
    return (exact or matches)[0]


def supports(pa: Any, device: DeviceInfo, rate: int, channels: int) -> bool:
    pyaudio = _pyaudio()
    try:
        return bool(pa.is_format_supported(rate, input_device=device.index, input_channels=channels,
                                           input_format=pyaudio.paInt16))
    except ValueError:
        return False


OPEN_HINT = ("Check that it is connected and not used by another program, or choose another one with "
             "recording.device (hushnote devices lists them).")


def open_input(pa: Any, spec: str | int, *, rate: int = 0, hint: str = OPEN_HINT) -> tuple[Any, DeviceInfo, int, int]:
    """An open 16-bit input stream on the device ``spec`` names (see ``resolve_device``): mono when the device
    allows it, at ``rate`` if given, else 16 kHz when supported, else the device's own rate.
    Returns (stream, device, rate, channels)."""
    pyaudio = _pyaudio()
    dev = resolve_device(pa, spec)
    channels = 1 if supports(pa, dev, SAMPLE_RATE, 1) or dev.max_input_channels < 2 else 2
    if not rate:
        rate = SAMPLE_RATE if supports(pa, dev, SAMPLE_RATE, channels) else int(dev.default_sample_rate)
    try:
        stream = pa.open(format=pyaudio.paInt16, channels=channels, rate=rate, input=True,
                         input_device_index=dev.index, frames_per_buffer=max(256, rate // 20))
    except (OSError, ValueError) as exc:
        raise RecorderError(f'The microphone "{dev.name}" could not be opened ({exc}).', hint) from None
    return stream, dev, rate, channels


# ----------------------------------------------------------------------------- resampling

class StreamResampler:
    """Band-limited (windowed-sinc, polyphase table) resampling of a PCM stream, block by block.

    Any rate pair; numpy only. Output sample ``n`` sits at input position ``n * in_rate / out_rate``,
    computed exactly with integers so long recordings do not drift. Keeps a little input history
    between calls; ``flush()`` returns what is left at the end.
    """

    PHASES = 256
    ZERO_CROSSINGS = 16

    def __init__(self, in_rate: int, out_rate: int = SAMPLE_RATE) -> None:
        self.in_rate, self.out_rate = int(in_rate), int(out_rate)
        ratio = self.out_rate / self.in_rate
        cutoff = 0.5 * min(1.0, ratio) * 0.92  # cycles per input sample, a little below Nyquist
        self.half = int(np.ceil(self.ZERO_CROSSINGS / min(1.0, ratio)))  # taps on each side
        taps = np.arange(-self.half + 1, self.half + 1, dtype=np.float64)  # offsets k for x[i + k]
        frac = np.arange(self.PHASES, dtype=np.float64)[:, None] / self.PHASES
        t = taps[None, :] - frac  # distance from the output position, in input samples
        beta = 8.0
        w = np.i0(beta * np.sqrt(np.clip(1.0 - (t / self.half) ** 2, 0.0, 1.0))) / np.i0(beta)
        self.table = (2 * cutoff * np.sinc(2 * cutoff * t) * w).astype(np.float32)
        self._offsets = np.arange(-self.half + 1, self.half + 1, dtype=np.int64)
        self._buf = np.zeros(self.half, dtype=np.float32)  # zeros: the history before the start
        self._buf_start = -self.half  # input index of _buf[0]
        self._n_out = 0  # next output sample index

    def _produce(self) -> np.ndarray:
        # Output n sits at pos = n * in / out and needs inputs floor(pos) - half + 1 .. floor(pos) + half.
        limit = self._buf_start + self._buf.shape[0] - self.half  # floor(pos) must be below this
        n_max = (limit * self.out_rate + self.in_rate - 1) // self.in_rate
        if n_max <= self._n_out:
            return np.zeros(0, dtype=np.float32)
        n = np.arange(self._n_out, n_max, dtype=np.int64)
        num = n * self.in_rate
        base = num // self.out_rate
        phase = ((num % self.out_rate) * self.PHASES) // self.out_rate
        idx = (base - self._buf_start)[:, None] + self._offsets[None, :]
        out = np.einsum("ij,ij->i", self._buf[idx], self.table[phase])
        self._n_out = int(n_max)
        keep_from = self._n_out * self.in_rate // self.out_rate - self.half
        drop = max(0, keep_from - self._buf_start)
        if drop:
            self._buf = self._buf[drop:]
            self._buf_start += drop
        return np.asarray(out, dtype=np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Float32 input samples in, float32 output samples out (possibly none yet)."""
        self._buf = np.concatenate([self._buf, np.asarray(block, dtype=np.float32).reshape(-1)])
        return self._produce()

    def flush(self) -> np.ndarray:
        """The rest of the output, as if the input were followed by silence: ceil(inputs * out / in) in all."""
        self._buf = np.concatenate([self._buf, np.zeros(self.half, dtype=np.float32)])
        return self._produce()


def to_int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16)


def level_db(samples: np.ndarray) -> float:
    """RMS level of int16 samples in dBFS (full-scale square wave = 0 dB); -120 for digital silence."""
    if samples.shape[0] == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))
    if rms < 1e-6:
        return -120.0
    return max(-120.0, round(float(20.0 * np.log10(rms / 32768.0)), 1))
