"""Two capture streams made into one sample-aligned stereo recording (L = microphone, R = computer audio).

The microphone (PyAudio) and the computer's audio (a monitor source, a loopback device) are two streams
with their own start times, buffering and, on real hardware, possibly their own clocks. ``ChannelAligner``
gets each block with the moment it arrived (a monotonic clock, passed in) and pairs samples by count:

* **Start.** For each stream, ``arrival - samples_so_far / rate`` is an upper bound on when its first
  sample was captured (plus the stream's latency); the minimum over the first ``calibrate_s`` of blocks is a
  tight estimate, since the earliest-delivered block has the least jitter. The difference between the two
  streams' estimates says how many leading system samples to drop (or zeros to put before them) so that
  sample ``i`` of both channels was captured at the same moment. What remains is the difference between
  the two paths' fixed latencies, which no timestamp can see (measured in tests/e2e/test_two_channel.py).
* **Running.** Samples are paired one for one. The microphone is the master clock (the recording is as
  long as the microphone captured). If the system stream falls behind by more than ``max_lag_s`` (it stalled,
  or its clock is slower) zeros are put in for it; if it runs ahead by more than ``max_lag_s`` (its clock is
  faster) its oldest samples are dropped. Either way the lag goes back to ``settle_s``, so clock drift between
  two devices never grows past ``max_lag_s``. Both are counted (``padded``, ``dropped``).

Pure numpy, no threads, no clock of its own: the recorder's capture thread calls it.
"""

from __future__ import annotations

import numpy as np
from hushnote.daemon.recording.devices import SAMPLE_RATE

_EMPTY = np.zeros(0, dtype=np.int16)


class ChannelAligner:
    """``add_mic`` / ``add_system`` blocks (16 kHz mono int16) with arrival times; ``take()`` gives the stereo
    frames ready so far, shape ``(n, 2)``; ``finish()`` the rest at the end."""

    def __init__(self, rate: int = SAMPLE_RATE, *, calibrate_s: float = 1.0, max_lag_s: float = 0.2,
                 settle_s: float = 0.05) -> None:
        self.rate = rate
        self.calibrate_n = int(calibrate_s * rate)
        self.max_lag = int(max_lag_s * rate)
        self.settle = int(settle_s * rate)
        self._mic: list[np.ndarray] = []
        self._sys: list[np.ndarray] = []
        self._mic_n = 0  # samples received in all
        self._sys_n = 0
        self._mic_start: float | None = None  # the estimated capture time of sample 0
        self._sys_start: float | None = None
        self.offset: int | None = None  # system samples dropped (> 0) or zeros put first (< 0) at the start
        self._skip = 0  # of the leading system samples to drop, those that had not arrived yet
        self.padded = 0
        self.dropped = 0

    # ------------------------------------------------------------------ input

    def add_mic(self, block: np.ndarray, arrived: float) -> None:
        self._mic_n += block.shape[0]
        start = arrived - self._mic_n / self.rate
        self._mic_start = start if self._mic_start is None else min(self._mic_start, start)
        self._mic.append(np.asarray(block, dtype=np.int16))

    def add_system(self, block: np.ndarray, arrived: float) -> None:
        self._sys_n += block.shape[0]
        start = arrived - self._sys_n / self.rate
        self._sys_start = start if self._sys_start is None else min(self._sys_start, start)
        self._sys.append(np.asarray(block, dtype=np.int16))

    # ------------------------------------------------------------------ output

    def take(self) -> np.ndarray:
        """The stereo frames that can be paired now (none during the first ``calibrate_s``)."""
        if self.offset is None:
            if self._mic_n < self.calibrate_n or (self._sys_n < self.calibrate_n // 2
                                                  and self._mic_n < 2 * self.calibrate_n):
                return np.zeros((0, 2), dtype=np.int16)
            self._calibrate()
        mic, sys = _joined(self._mic), self._system()
        if sys.shape[0] - mic.shape[0] > self.max_lag:  # the system stream runs ahead: drop its oldest
            cut = sys.shape[0] - mic.shape[0] - self.settle
            sys = sys[cut:]
            self.dropped += cut
        if mic.shape[0] - sys.shape[0] > self.max_lag:  # it stalled or runs slow: silence in its place
            pad = mic.shape[0] - sys.shape[0] - self.settle
            sys = np.concatenate([sys, np.zeros(pad, dtype=np.int16)])
            self.padded += pad
        n = min(mic.shape[0], sys.shape[0])
        self._mic, self._sys = [mic[n:]], [sys[n:]]
        return np.stack([mic[:n], sys[:n]], axis=1)

    def finish(self) -> np.ndarray:
        """Everything the microphone captured that is not out yet, the system channel padded to its length."""
        if self.offset is None:
            self._calibrate()
        mic, sys = _joined(self._mic), self._system()
        if sys.shape[0] < mic.shape[0]:
            self.padded += mic.shape[0] - sys.shape[0]
            sys = np.concatenate([sys, np.zeros(mic.shape[0] - sys.shape[0], dtype=np.int16)])
        self._mic, self._sys = [], []
        return np.stack([mic, sys[: mic.shape[0]]], axis=1)

    def _calibrate(self) -> None:
        if self._mic_start is None or self._sys_start is None:
            self.offset = 0  # no system audio arrived (yet): it starts with the microphone
        else:
            self.offset = round((self._mic_start - self._sys_start) * self.rate)
        if self.offset >= 0:
            self._skip = self.offset
        else:
            self._sys.insert(0, np.zeros(-self.offset, dtype=np.int16))

    def _system(self) -> np.ndarray:
        sys = _joined(self._sys)
        if self._skip:
            k = min(self._skip, sys.shape[0])
            sys, self._skip = sys[k:], self._skip - k
        return sys


def _joined(blocks: list[np.ndarray]) -> np.ndarray:
    if not blocks:
        return _EMPTY
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
