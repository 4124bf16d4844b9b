"""A telehealth recording through a real private PulseAudio server (tests/support/pulse.py, ``call_setup``): the
"microphone" is the monitor of a null sink ``vmic`` (the therapist's clip is played into it), the call app's
output is the default sink ``vsink``, whose monitor the recorder captures with ``parec`` as the right channel
(the client's clip is played into it). Nothing about PyAudio, parec or PulseAudio is faked.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hushnote.daemon.cli.record import devices_main
from hushnote.daemon.core.datatypes import CHANNEL
from hushnote.daemon.notes import notefile
from hushnote.daemon.recording.chunks import recordings_dir
from hushnote.daemon.recording.controller import recording_name
from hushnote.daemon.recording.recorder import Recorder, RecorderError, recover
from hushnote.ipc.client import IpcClient

from tests.support.config import recorder_cfg, write_toml
from tests.support.daemon import pulse_daemon
from tests.support.pulse import PulseServer, pulse_server
from tests.support.recorder_proc import recorder_process
from tests.support.speech import joined_clips, write_wav
from tests.support.stereo import click_train, frame_db, locate, onsets, read_stereo

THERAPIST = ["LJ001-0007"]  # a woman reading (LJ Speech)
CLIENT = ["1089-134686-0000"]  # a man reading (LibriSpeech)
ALIGN_MAX_SAMPLES = 48  # 3 ms at 16 kHz


@pytest.fixture(scope="module")
def call() -> Iterator[PulseServer]:
    with pulse_server() as srv:
        yield srv.call_setup()


@pytest.fixture(scope="module")
def clips(eval_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[np.ndarray, Path]]:
    folder = tmp_path_factory.mktemp("clips")
    out = {}
    for role, names in (("therapist", THERAPIST), ("client", CLIENT)):
        samples, _ = joined_clips(eval_dir, names)
        out[role] = (samples, write_wav(folder / f"{role}.wav", samples))
    return out


def assert_channel_carries(rec: np.ndarray, own: int, clip: np.ndarray) -> int:
    """``clip`` is in channel ``own`` sample for sample, and over its voiced frames that channel is ≥ 30 dB
    louder than the other one in at least 98 % of them. Returns where it starts."""
    pos, ncc = locate(rec[:, own], clip)
    assert ncc > 0.95, (own, ncc)
    span = rec[pos:pos + clip.shape[0]]
    mine, other = frame_db(span[:, own]), frame_db(span[:, 1 - own])
    voiced = frame_db(clip)[: mine.shape[0]] > -40
    assert voiced.sum() > 20
    share = float(np.mean((mine - other)[voiced] >= 30))
    assert share >= 0.98, (own, share)
    return pos


class Windows:
    """A live-transcription consumer that only keeps what it is given."""

    def __init__(self) -> None:
        self.got: list[tuple[float, np.ndarray]] = []
        self.ended: tuple[float, bool] | None = None

    def on_window(self, pcm: np.ndarray, offset_s: float) -> None:
        self.got.append((offset_s, pcm))

    def on_end(self, duration_s: float, complete: bool) -> None:
        self.ended = (duration_s, complete)


# ----------------------------------------------------------------------------- each channel its speaker

def test_each_channel_carries_its_own_speaker(call: PulseServer, home: Path,
                                              clips: dict[str, tuple[np.ndarray, Path]]) -> None:
    cfg = recorder_cfg(home, system_audio=True, live_window_s=5.0, chunk_s=1.0)
    finished: list[tuple[Path, str]] = []
    events: list[tuple[str, dict[str, object]]] = []
    windows = Windows()
    with Recorder(cfg, on_finished=lambda p, i: finished.append((p, i)),
                  on_event=lambda e, d: events.append((e, d))) as rec:
        st = rec.start(consent_confirmed=True, window_consumer=windows)
        assert st["recording"]
        time.sleep(1.5)
        call.play_and_wait(clips["therapist"][1], device="vmic")
        time.sleep(0.3)
        call.play_and_wait(clips["client"][1], device="vsink")
        time.sleep(0.5)
        res = rec.stop()
        rec.close(wait_live=True)
    assert res is not None and res.path is not None and finished == [(res.path, res.id)]
    started = next(d for e, d in events if e == "record.started")
    assert started["system_audio"] == "vsink.monitor"
    rec_pcm = read_stereo(res.path)
    assert abs(rec_pcm.shape[0] / 16000 - res.seconds) < 1e-3
    t_pos = assert_channel_carries(rec_pcm, 0, clips["therapist"][0])
    c_pos = assert_channel_carries(rec_pcm, 1, clips["client"][0])
    assert t_pos + clips["therapist"][0].shape[0] <= c_pos + 16000, "played one after the other"

    # live transcription gets the mix of both channels, every frame of it, in order
    assert windows.ended is not None and windows.ended[1]
    live = np.concatenate([w for _, w in windows.got]) * 32768.0
    mix = rec_pcm.astype(np.float64).mean(axis=1)
    assert live.shape[0] == rec_pcm.shape[0]
    assert float(np.max(np.abs(live - mix))) <= 1.0


# ----------------------------------------------------------------------------- alignment

def test_a_click_into_both_channels_lands_on_the_same_sample(call: PulseServer, home: Path, tmp_path: Path) -> None:
    """The microphone and the computer's audio both listen to ``vsink`` (the microphone through the ALSA pulse
    device, the computer's audio through parec): the same click train must sit at the same samples in both."""
    clicks = write_wav(tmp_path / "clicks.wav", click_train(6, 0.7))
    call.pactl("set-default-source", "vsink.monitor")
    try:
        with Recorder(recorder_cfg(home, system_audio=True)) as rec:
            rec.start(consent_confirmed=True)
            time.sleep(1.5)
            call.play_and_wait(clicks, device="vsink")
            time.sleep(0.3)
            res = rec.stop()
    finally:
        call.pactl("set-default-source", "vmic.monitor")
    assert res is not None and res.path is not None
    pcm = read_stereo(res.path)
    left, right = onsets(pcm[:, 0]), onsets(pcm[:, 1])
    assert len(left) == len(right) == 6, (left, right)
    offsets = [r - lt for lt, r in zip(left, right, strict=True)]
    print(f"two-channel alignment (R - L, samples at 16 kHz): {offsets}")
    assert all(abs(o) <= ALIGN_MAX_SAMPLES for o in offsets), offsets
    assert max(offsets) - min(offsets) <= 2, "no drift within a recording"


# ----------------------------------------------------------------------------- kill -9 → stereo recovered

def test_kill_9_recovers_a_stereo_recording(call: PulseServer, home: Path, tmp_path: Path,
                                            clips: dict[str, tuple[np.ndarray, Path]]) -> None:
    cfg = recorder_cfg(home, system_audio=True)
    settings = write_toml(cfg, tmp_path / "settings.toml", sections=("paths", "transcription", "recording"))
    data = home / "data" / "hushnote"
    with recorder_process(data, "--chunk-s", "1", "--config", str(settings)) as (proc, first):
        assert first["system_audio"] == "vsink.monitor", first
        time.sleep(1.2)
        client = call.play(clips["client"][1], device="vsink")  # both talk at once: no bleed either way
        call.play_and_wait(clips["therapist"][1], device="vmic")
        client.communicate(timeout=60)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
    rec_dir = recordings_dir(data) / first["id"]
    meta = json.loads((rec_dir / "meta.json").read_text())
    assert meta["state"] == "recording" and meta["channels"] == 2
    handed: list[tuple[Path, str]] = []
    paths = recover(data, lambda p, i: handed.append((p, i)))
    assert len(paths) == 1 and handed == [(paths[0], first["id"])]
    assert recover(data, lambda p, i: handed.append((p, i))) == [] and len(handed) == 1
    pcm = read_stereo(paths[0])
    for own, role in ((0, "therapist"), (1, "client")):
        _, ncc = locate(pcm[:, own], clips[role][0])
        assert ncc > 0.95, (role, ncc)
        _, cross = locate(pcm[:, 1 - own], clips[role][0])
        assert cross < 0.3, (role, cross)


# ----------------------------------------------------------------------------- settings, devices

def test_unknown_output_names_the_choices(call: PulseServer, home: Path) -> None:
    with Recorder(recorder_cfg(home, system_audio=True, system_audio_device="no-such-output")) as rec:
        with pytest.raises(RecorderError, match="no-such-output") as exc:
            rec.start(consent_confirmed=True)
        assert "vsink.monitor" in exc.value.hint and "hushnote devices" in exc.value.hint
        assert rec.status()["state"] == "idle"
    assert not any(recordings_dir(recorder_cfg(home).path("paths.data")).glob("rec-*/meta.json"))
    with Recorder(recorder_cfg(home, system_audio=True, system_audio_device="vmic")) as rec:
        rec.start(consent_confirmed=True)
        res = rec.stop()
    assert res is not None and res.path is not None and read_stereo(res.path).shape[1] == 2


def test_devices_lists_the_computer_audio(call: PulseServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert devices_main(argparse.Namespace(json=False, computer_audio=False)) == 0
    out = capsys.readouterr().out
    section = out.split("Computer audio (for calls)", 1)[1]
    assert "* vsink.monitor" in section and "  vmic.monitor" in section and "system_audio = true" in section
    assert devices_main(argparse.Namespace(json=True, computer_audio=True)) == 0
    outputs = json.loads(capsys.readouterr().out)
    assert {m["name"] for m in outputs} >= {"vsink.monitor", "vmic.monitor"}
    assert [m["name"] for m in outputs if m["is_default"]] == ["vsink.monitor"]


def test_parec_ending_mid_recording_warns_and_keeps_the_microphone(call: PulseServer, home: Path,
                                                                   clips: dict[str, tuple[np.ndarray, Path]]
                                                                   ) -> None:
    """The call's output device goes away (a headset unplugged): the recording goes on with the microphone."""
    call.pactl("load-module", "module-null-sink", "sink_name=headset", "rate=16000", "channels=1")
    warned = threading.Event()

    def on_event(event: str, data: dict[str, object]) -> None:
        if event == "record.warning" and data.get("code") == "system_audio_lost":
            warned.set()

    with Recorder(recorder_cfg(home, system_audio=True, system_audio_device="headset"), on_event=on_event) as rec:
        rec.start(consent_confirmed=True)
        time.sleep(1.5)
        modules = call.pactl("list", "short", "modules").splitlines()
        index = next(line.split()[0] for line in modules if "sink_name=headset" in line)
        call.pactl("unload-module", index)
        call.play_and_wait(clips["therapist"][1], device="vmic")
        assert warned.wait(5), "no system_audio_lost warning"
        assert rec.status()["recording"]
        res = rec.stop()
    assert res is not None and res.path is not None and res.reason == "user"
    pcm = read_stereo(res.path)
    _, ncc = locate(pcm[:, 0], clips["therapist"][0])
    assert ncc > 0.95, "the microphone went on recording after the output was gone"


# ----------------------------------------------------------------------------- through the service: labelled by channel

def test_a_call_recorded_through_the_service_is_labelled_by_channel(call: PulseServer, home: Path, tmp_path: Path,
                                                                     eval_dir: Path) -> None:
    """The daemon records a call (therapist into the microphone, client from the call's output, two turns
    each) with live transcription; after Stop its model process reads the encrypted recording's channels and
    every line says who spoke: Therapist, Client, Therapist, Client."""
    turns = [("vmic", ["LJ001-0007"]), ("vsink", ["1089-134686-0000"]), ("vmic", ["LJ001-0008"]),
             ("vsink", ["1089-134686-0001"])]
    wavs = [(device, write_wav(tmp_path / f"turn{i}.wav", joined_clips(eval_dir, names)[0]))
            for i, (device, names) in enumerate(turns)]
    with pulse_daemon(tmp_path / "hn", home, call, system_audio=True) as d:
        d.start()
        with IpcClient(d.sock, timeout=10).subscribe() as sub:
            st = d.call("record.start", consent_confirmed=True, source="tray")
            time.sleep(1.5)
            for device, wav in wavs:
                call.play_and_wait(wav, device=device)
            time.sleep(0.5)
            d.call("record.stop")
            deadline = time.monotonic() + 180
            done = None
            while done is None and time.monotonic() < deadline:
                ev = sub.get(timeout=1.0)
                done = ev.data if ev is not None and ev.name == "job.done" else None
        assert done is not None and done["state"] == "done", done
        stem = Path(recording_name(st["id"])).stem
        t = notefile.read_transcript(d.notes / f"{stem}.transcript.md")
        log = d.log.read_text(errors="replace")
        assert "using the transcript made while recording" in log and "transcribing the file" not in log, log
        assert d.stop() == 0
    assert (t.speakers, t.speaker_basis) == (("Therapist", "Client"), CHANNEL)
    runs = [who for who, _ in itertools.groupby(s.speaker for s in t.segments)]
    assert runs == ["Therapist", "Client", "Therapist", "Client"], [(s.speaker, s.start) for s in t.segments]
    note = (d.notes / f"{stem}.note.md").read_text(encoding="utf-8")
    assert 'speakers: "Therapist/Client (by channel)"' in note
