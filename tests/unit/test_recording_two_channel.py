"""Two-channel recordings without a sound server: the aligner on made-up streams with known start times, jitter,
a stall and clock drift; stereo chunks (plain and encrypted) recovered after a crash; the consent text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hushnote.daemon.core.config import defaults
from hushnote.daemon.privacy import consent
from hushnote.daemon.privacy.vault import Vault, is_encrypted, open_decrypted
from hushnote.daemon.recording.align import ChannelAligner
from hushnote.daemon.recording.chunks import RecordingStore, recordings_dir, recover

from tests.support.stereo import read_stereo

RATE = 16_000


def feed(aligner: ChannelAligner, world: np.ndarray, *, mic_from: int, sys_from: int, seconds: float,
         sys_rate: float = RATE, sys_stops_at: float | None = None, seed: int = 1) -> np.ndarray:
    """Both streams hear ``world`` (sample n happens at n / RATE s). The microphone's capture starts at sample
    ``mic_from`` and arrives in 50 ms blocks, the system's at ``sys_from`` in 20 ms blocks, each block with
    3-40 ms of latency and jitter (in order: a late block holds back the next). Returns the stereo frames the aligner gives."""
    rng = np.random.default_rng(seed)
    blocks: list[tuple[float, str, np.ndarray]] = []
    for start in range(mic_from, mic_from + int(seconds * RATE), 800):
        blocks.append(((start + 800) / RATE + rng.uniform(0.003, 0.04), "mic", world[start:start + 800]))
    n, step = 0, 320
    while (n + step) / sys_rate < seconds - 0.1:
        t_end = (sys_from + (n + step) * RATE / sys_rate) / RATE
        if sys_stops_at is None or t_end < sys_stops_at:
            idx = sys_from + ((n + np.arange(step)) * RATE / sys_rate).astype(int)
            blocks.append((t_end + rng.uniform(0.003, 0.04), "sys", world[idx]))
        n += step
    last = {"mic": 0.0, "sys": 0.0}
    for i, (when, kind, block) in enumerate(blocks):  # a stream delivers its blocks in order
        last[kind] = max(last[kind], when)
        blocks[i] = (last[kind], kind, block)
    out = []
    for when, kind, block in sorted(blocks, key=lambda b: b[0]):
        if kind == "mic":
            aligner.add_mic(block, when)
            out.append(aligner.take())
        else:
            aligner.add_system(block, when)
    out.append(aligner.finish())
    return np.concatenate(out)


def lag_of(frames: np.ndarray, at: int, width: int = 4000, search: int = 200) -> int:
    """How many samples the right channel lags the left around ``at`` (exact match of the same world)."""
    left = frames[at:at + width, 0]
    for lag in sorted(range(-search, search + 1), key=abs):
        right = frames[at + lag:at + lag + width, 1]
        if right.shape[0] == width and np.array_equal(left, right):
            return lag
    raise AssertionError(f"no lag within ±{search} samples at {at}")


@pytest.fixture()
def world() -> np.ndarray:
    return np.random.default_rng(0).integers(-20000, 20000, RATE * 40, dtype=np.int16)


@pytest.mark.parametrize("sys_from", [0, 1600, 4000], ids=["together", "system-100ms-earlier", "250ms-earlier"])
def test_streams_started_apart_are_paired_sample_for_sample(world: np.ndarray, sys_from: int) -> None:
    mic_from = 4000
    a = ChannelAligner()
    frames = feed(a, world, mic_from=mic_from, sys_from=mic_from - sys_from, seconds=10)
    assert frames.shape == (10 * RATE, 2)
    assert np.array_equal(frames[:, 0], world[mic_from:mic_from + 10 * RATE]), "the microphone is kept whole"
    lags = [lag_of(frames, at) for at in (RATE, 5 * RATE, 9 * RATE)]
    # the earliest of ~20 blocks per stream in the first second: 0-37 ms of jitter leaves about 1 ms
    assert len(set(lags)) == 1 and abs(lags[0]) <= 32, lags
    assert a.dropped == 0, "nothing of the computer's audio is lost"


def test_a_system_stream_that_stops_is_padded_with_silence(world: np.ndarray) -> None:
    a = ChannelAligner()
    frames = feed(a, world, mic_from=0, sys_from=0, seconds=8, sys_stops_at=3.0)
    assert frames.shape == (8 * RATE, 2)
    assert not frames[int(3.3 * RATE):, 1].any()
    assert abs(lag_of(frames, RATE)) <= 32
    assert a.padded >= 4.5 * RATE


def test_clock_drift_stays_bounded() -> None:
    """The output's clock runs 0.5 % fast (an extreme 5000 ppm: 150 ms in 30 s): its oldest samples are dropped
    so the right channel never lags more than ``max_lag``. The world is a ramp (one value per millisecond), so
    each sample says when it was captured."""
    ramp = (np.arange(RATE * 31) // 16).astype(np.int16)
    a = ChannelAligner(max_lag_s=0.1)
    frames = feed(a, ramp, mic_from=0, sys_from=0, seconds=30, sys_rate=RATE * 1.005)
    assert frames.shape == (30 * RATE, 2)
    assert a.dropped > 0
    steady = frames[2 * RATE:int(29.5 * RATE)].astype(np.int64)
    lag_ms = np.abs(steady[:, 1] - steady[:, 0])
    assert int(lag_ms.max()) <= 100, int(lag_ms.max())  # without the drops it reaches 144 ms here


# ----------------------------------------------------------------------------- stereo on disk

@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_stereo_chunks_and_a_torn_part_are_recovered_as_stereo(home: Path, encrypted: bool) -> None:
    vault = Vault(home / "data", b"M" * 32) if encrypted else None
    root = recordings_dir(home / "data")
    store = RecordingStore.create(root, "rec-s", {}, vault=vault, channels=2)
    t = np.arange(RATE * 3)
    frames = np.stack([np.sin(t / 5) * 8000, np.sin(t / 13) * 3000], axis=1).astype("<i2")
    raw = frames.tobytes()
    store.write_chunk(1, raw[: RATE * 2 * 4])  # 2 s complete
    store.append_part(2, raw[RATE * 2 * 4:RATE * 2 * 4 + 4 * 1000 + 3])  # 1000 frames and a torn one
    store.release()  # the process died here
    handed: list[tuple[Path, str]] = []
    assert recover(home / "data", lambda p, i: handed.append((p, i)), vault=vault)
    (out, rid), = handed
    assert rid == "rec-s"
    if vault is not None:
        assert is_encrypted(out)
        got = read_stereo(b"".join(open_decrypted(out, vault.data_key(rid), expect_id=rid)))
    else:
        got = read_stereo(out)
    assert np.array_equal(got, frames[: RATE * 2 + 1000]), "every whole frame, each in its own channel"
    assert recover(home / "data", lambda p, i: handed.append((p, i)), vault=vault) == [] and len(handed) == 1


def test_consent_text_names_both_channels_only_when_the_call_is_recorded() -> None:
    plain = consent.client_text(defaults())
    both = consent.client_text(defaults().with_overrides(recording__system_audio=True))
    assert "call" not in plain
    assert "two things are recorded: my microphone, and the sound of the call" in both
    assert "your voice" in both
