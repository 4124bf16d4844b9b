"""A short clip straight from the microphone into memory (a voice sample for enrolment).

Not a session recording: nothing is written to disk, there is no consent step (it is the therapist's own
voice) and no service is involved. The device is ``recording.device`` (as the recorder chooses it); the
audio is mixed to mono and resampled to 16 kHz. ``on_second(left)`` is told each whole second that passes,
for a countdown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from hushnote.daemon.core.config import Config
from hushnote.daemon.recording.devices import (
    SAMPLE_RATE,
    RecorderError,
    StreamResampler,
    open_input,
    pyaudio_session,
)

NO_SOUND_S = 5.0  # a microphone that delivers nothing for this long is not working
OPEN_HINT = ("Check that it is connected and not used by another program, or give a recorded sample with "
             "--from FILE.")


def record_clip(cfg: Config, seconds: float, *, on_second: Callable[[int], None] | None = None,
                monotonic: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> np.ndarray:
    """``seconds`` of 16 kHz mono float32 in [-1, 1] from the microphone. Raises ``RecorderError`` when there
    is no microphone, it cannot be opened, or it sends nothing."""
    with pyaudio_session() as pa:
        stream, dev, rate, channels = open_input(pa, cfg["recording.device"], hint=OPEN_HINT)
        try:
            blocks = _read(stream, dev.name, rate, channels, seconds, on_second, monotonic, sleep)
        finally:
            stream.close()
    pcm = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    if rate != SAMPLE_RATE:
        rs = StreamResampler(rate, SAMPLE_RATE)
        pcm = np.concatenate([rs.process(pcm), rs.flush()])
    return np.asarray(pcm / 32768.0, dtype=np.float32)


def _read(stream: Any, name: str, rate: int, channels: int, seconds: float,
          on_second: Callable[[int], None] | None, monotonic: Callable[[], float],
          sleep: Callable[[float], None]) -> list[np.ndarray]:
    want = int(seconds * rate)
    got = 0
    blocks: list[np.ndarray] = []
    last_data = monotonic()
    told = int(np.ceil(seconds)) + 1
    while got < want:
        avail = stream.get_read_available()
        if avail <= 0:
            if monotonic() - last_data > NO_SOUND_S:
                raise RecorderError(f'The microphone "{name}" is not sending any sound.',
                                    "Check that it is connected and working (hushnote devices), or give a "
                                    "recorded sample with --from FILE.")
            sleep(0.01)
            continue
        data = stream.read(min(avail, want - got), exception_on_overflow=False)
        block = np.frombuffer(data, dtype="<i2").astype(np.float32)
        if channels > 1:
            block = block.reshape(-1, channels).mean(axis=1)
        blocks.append(block)
        got += block.shape[0]
        last_data = monotonic()
        left = int(np.ceil((want - got) / rate))
        if on_second is not None and left < told:
            told = left
            on_second(left)
    return blocks
