"""Input devices, listed and resolved through a real private PulseAudio server."""

from __future__ import annotations

import pytest
from hushnote.daemon.recording.devices import RecorderError, list_devices, pyaudio_session, resolve_device

from tests.support.pulse import PulseServer


def test_list_and_resolve_devices(pulse: PulseServer) -> None:
    devs = list_devices()
    names = [d.name for d in devs]
    assert "default" in names and "pulse" in names
    assert sum(d.is_default for d in devs) == 1
    assert all(d.max_input_channels > 0 and d.default_sample_rate > 0 for d in devs)
    assert "default" in "\n".join(d.describe() for d in devs)
    with pyaudio_session() as pa:
        default = resolve_device(pa, "")
        assert default.is_default
        by_index = resolve_device(pa, str(devs[0].index))
        assert by_index == devs[0]
        assert resolve_device(pa, "PULS").name == "pulse"  # part of the name, any case
        assert resolve_device(pa, "default").name == "default"  # exact name wins over substring
        with pytest.raises(RecorderError, match="no microphone number 99"):
            resolve_device(pa, "99")
        with pytest.raises(RecorderError, match="hushnote devices"):
            resolve_device(pa, "usb headset")
