"""The recorder with real audio: speech is played through a private PulseAudio server into a virtual sink and
recorded by PyAudio from the ALSA ``default`` device (see tests/support/pulse.py). Nothing about PyAudio is faked.
Transcripts use the real tiny.en model; scores use tests/support/wer.py.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hushnote.daemon.recording.chunks import recordings_dir
from hushnote.daemon.recording.live import LiveTranscriber
from hushnote.daemon.recording.recorder import Recorder, RecorderError, recover
from hushnote.daemon.speech.transcribe import transcriber_for

from tests.support.config import recorder_cfg as make_cfg
from tests.support.pulse import PulseServer, pulse_server
from tests.support.recorder_proc import recorder_process
from tests.support.speech import JFK_SLACK, joined_clips, seconds_of, write_wav
from tests.support.wer import wer


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[float, str, dict[str, Any]]] = []
        self.cond = threading.Condition()

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        with self.cond:
            self.items.append((time.monotonic(), event, dict(data)))
            self.cond.notify_all()

    def of(self, event: str) -> list[dict[str, Any]]:
        with self.cond:
            return [d for _, e, d in self.items if e == event]

    def wait_for(self, event: str, timeout: float) -> dict[str, Any]:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(e == event for _, e, _ in self.items), timeout)
        assert ok, f"no {event} event within {timeout} s; got {[e for _, e, _ in self.items]}"
        return self.of(event)[0]


# ----------------------------------------------------------------------------- record → file → transcript

def test_record_speech_transcribes_like_the_source(pulse: PulseServer, home: Path, eval_dir: Path,
                                                   tmp_path: Path) -> None:
    """~31 s of speech, captured at 48 kHz (so the resampler is in the path), stop, transcribe the file."""
    samples, ref = joined_clips(eval_dir, ["LJ001-0007", "LJ001-0008", "LJ001-0009", "LJ001-0010", "LJ001-0011"])
    wav = write_wav(tmp_path / "speech.wav", samples)
    cfg = make_cfg(home)
    events, finished = Events(), []
    with Recorder(cfg, on_event=events, on_finished=lambda p, i: finished.append((p, i)), capture_rate=48000) as rec:
        st = rec.start(consent_confirmed=True)
        assert st["recording"] and st["id"] and st["device"]
        time.sleep(1.5)  # some silence first, for the level-meter comparison
        t_play = time.monotonic()
        pulse.play_and_wait(wav)
        t_end = time.monotonic()
        time.sleep(0.3)
        mid = rec.status()
        assert mid["recording"] and mid["elapsed_s"] > 30
        res = rec.stop()
    assert res is not None and res.reason == "user" and res.path is not None
    assert finished == [(res.path, res.id)]
    assert res.path.exists() and res.path.suffix == ".flac"
    assert res.path.stat().st_mode & 0o777 == 0o600, "session audio is readable by its owner only"
    assert not (recordings_dir(cfg.path("paths.data")) / res.id).exists(), "chunks are removed after hand-off"
    got = seconds_of(res.path)
    assert abs(got - res.seconds) < 0.05
    assert samples.shape[0] / 16000 + 1.0 < got < samples.shape[0] / 16000 + 4.0

    stopped = events.of("record.stopped")
    assert stopped == [res.as_event()] and stopped[0]["reason"] == "user"
    levels = [(t, d["level_db"]) for t, e, d in events.items if e == "record.level"]
    assert len(levels) >= 60  # ~every 0.5 s
    silent = [db for t, db in levels if t < t_play]
    loud = [db for t, db in levels if t_play + 1.0 < t < t_end - 0.5]
    assert silent and max(silent) < -90
    assert np.median(loud) > -40 and np.median(loud) > max(silent) + 40

    tr = transcriber_for(cfg)
    direct = tr.transcribe_audio(samples, "source").text
    recorded = tr.transcribe_path(res.path).text
    w_direct, w_rec = wer(ref, direct), wer(ref, recorded)
    assert w_rec <= w_direct + 0.03, (w_direct, w_rec)


# ----------------------------------------------------------------------------- kill -9 → recover

def test_kill_9_mid_recording_is_recovered_once(pulse: PulseServer, home: Path, eval_dir: Path,
                                                tmp_path: Path) -> None:
    samples, ref = joined_clips(eval_dir, ["jfk"])
    wav = write_wav(tmp_path / "jfk.wav", samples)
    data = home / "data" / "hushnote"
    with recorder_process(data, "--chunk-s", "2") as (proc, first):
        pulse.play_and_wait(wav)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
    rec_dir = recordings_dir(data) / first["id"]
    assert (rec_dir / "meta.json").exists()
    assert json.loads((rec_dir / "meta.json").read_text())["state"] == "recording"

    # A hand-off that fails (a crash during recovery) leaves it for the next call; then exactly once.
    def failing(path: Path, rec_id: str) -> None:
        raise RuntimeError("queue not ready")

    assert recover(data, failing) == []
    assert json.loads((rec_dir / "meta.json").read_text())["state"] == "handing_off"
    handed: list[tuple[Path, str]] = []
    paths = recover(data, lambda p, i: handed.append((p, i)))
    assert len(paths) == 1 and handed == [(paths[0], first["id"])]
    assert recover(data) == [] and recover(data, lambda p, i: handed.append((p, i))) == []
    assert len(handed) == 1 and not rec_dir.exists()

    got = seconds_of(paths[0])
    played = samples.shape[0] / 16000
    assert played - 0.5 < got < played + 3.0, (played, got)
    tr = transcriber_for(make_cfg(home))
    assert wer(ref, tr.transcribe_path(paths[0]).text) <= wer(ref, tr.transcribe_audio(samples, "src").text) + JFK_SLACK


def test_recover_skips_a_recording_in_progress(pulse: PulseServer, home: Path) -> None:
    cfg = make_cfg(home)
    with Recorder(cfg) as rec:
        st = rec.start(consent_confirmed=True)
        assert recover(cfg.path("paths.data")) == []
        assert (recordings_dir(cfg.path("paths.data")) / st["id"]).is_dir()
        rec.stop()


# ----------------------------------------------------------------------------- warnings, device lost

def test_no_signal_warning(pulse: PulseServer, home: Path) -> None:
    events = Events()
    with Recorder(make_cfg(home, no_signal_warning_s=2), on_event=events) as rec:
        rec.start(consent_confirmed=True)
        w = events.wait_for("record.warning", timeout=8)
        assert w["code"] == "no_signal" and "microphone" in w["message"]
        assert rec.status()["recording"], "a warning does not stop the recording"
        rec.stop()
    assert len(events.of("record.warning")) == 1


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["server-killed", "server-stopped"])
def test_device_lost_keeps_what_was_captured(pulse: PulseServer, home: Path, eval_dir: Path, tmp_path: Path,
                                             sig: int) -> None:
    samples, _ = joined_clips(eval_dir, ["LJ001-0001"])
    wav = write_wav(tmp_path / "s.wav", samples)
    events, finished = Events(), []
    with pulse_server() as own:  # its own server: this one gets killed
        with Recorder(make_cfg(home), on_event=events, on_finished=lambda p, i: finished.append(p)) as rec:
            rec.start(consent_confirmed=True)
            player = own.play(wav)
            time.sleep(3.0)
            t_kill = time.monotonic()
            own.kill(sig)
            player.wait(timeout=10)
            if player.stderr:
                player.stderr.close()
            stopped = events.wait_for("record.stopped", timeout=10)
            took = time.monotonic() - t_kill
            assert stopped["reason"] == "device_lost", stopped
            assert "microphone" in stopped["message"] and "saved" in stopped["message"]
            assert not rec.status()["recording"]
            with pytest.raises(RecorderError, match="nothing to stop"):
                rec.stop()
    assert took < 6, took
    assert finished and Path(stopped["path"]) == finished[0]
    assert 2.0 < seconds_of(finished[0]) < 4.5
    assert 2.0 < stopped["seconds"] < 4.5


def test_start_with_no_sound_server_is_a_clear_error(home: Path, tmp_path: Path) -> None:
    saved = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = f"unix:{tmp_path}/nothing-here"
    try:
        with Recorder(make_cfg(home), start_timeout_s=3) as rec:
            with pytest.raises(RecorderError) as exc:
                rec.start(consent_confirmed=True)
            assert "microphone" in str(exc.value).lower()
            assert rec.status()["state"] == "idle"
            assert not any(recordings_dir(make_cfg(home).path("paths.data")).glob("rec-*"))
    finally:
        if saved is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = saved


# ----------------------------------------------------------------------------- races, consent, settings

def test_start_stop_races_and_consent(pulse: PulseServer, home: Path) -> None:
    release = threading.Event()
    events = Events()

    def slow_hand_off(path: Path, rec_id: str) -> None:
        release.wait(20)

    consents: list[tuple[str, bool]] = []
    with Recorder(make_cfg(home), on_event=events, on_finished=slow_hand_off,
                  consent_hook=lambda i, c: consents.append((i, c))) as rec:
        with pytest.raises(RecorderError, match="nothing to stop"):
            rec.stop()
        with pytest.raises(RecorderError, match="consent"):
            rec.start()
        assert rec.status() == {"recording": False, "state": "idle", "id": None, "elapsed_s": 0.0,
                                "level_db": None, "device": None}
        st = rec.start(consent_confirmed=True)
        assert consents == [(st["id"], True)]
        with pytest.raises(RecorderError, match="already running"):
            rec.start(consent_confirmed=True)
        time.sleep(1.0)
        assert rec.stop(wait=False) is None
        with pytest.raises(RecorderError, match="still being saved"):
            rec.start(consent_confirmed=True)
        with pytest.raises(RecorderError, match="already stopping"):
            rec.stop(wait=False)
        assert rec.status()["state"] == "finalising"
        release.set()
        stopped = events.wait_for("record.stopped", timeout=10)
        assert stopped["reason"] == "user" and stopped["seconds"] > 0.5
        st2 = rec.start(consent_confirmed=True)  # fine again once saved
        assert st2["id"] != st["id"]
        rec.stop()
    # consent not required by the settings
    with Recorder(make_cfg(home, require_consent=False)) as rec:
        rec.start()
        rec.stop()


def test_unknown_device_names_the_choices(pulse: PulseServer, home: Path) -> None:
    with Recorder(make_cfg(home, device="no-such-mic")) as rec:
        with pytest.raises(RecorderError, match='No microphone.s name contains "no-such-mic"') as exc:
            rec.start(consent_confirmed=True)
        assert "default" in exc.value.hint
    with Recorder(make_cfg(home, device="pulse")) as rec:
        assert rec.start(consent_confirmed=True)["device"] == "pulse"
        rec.stop()


# ----------------------------------------------------------------------------- live windows

def test_slow_window_consumer_drops_nothing(pulse: PulseServer, home: Path, eval_dir: Path, tmp_path: Path) -> None:
    samples, _ = joined_clips(eval_dir, ["LJ001-0003"])
    wav = write_wav(tmp_path / "s.wav", samples)
    got: list[tuple[float, int]] = []

    class Slow:
        ended: tuple[float, bool] | None = None

        def on_window(self, pcm: np.ndarray, offset_s: float) -> None:
            assert pcm.dtype == np.float32
            got.append((offset_s, pcm.shape[0]))
            time.sleep(1.5)  # slower than real time: windows pile up (on disk) and are caught up after Stop

        def on_end(self, duration_s: float, complete: bool) -> None:
            self.ended = (duration_s, complete)

    consumer = Slow()
    with Recorder(make_cfg(home, live_window_s=2.0, chunk_s=1.0)) as rec:
        rec.start(consent_confirmed=True, window_consumer=consumer)
        pulse.play_and_wait(wav)
        res = rec.stop()
        rec.close(wait_live=True)
    assert res is not None
    assert consumer.ended is not None and consumer.ended[1]
    total = sum(n for _, n in got)
    assert total == round(res.seconds * 16000)
    assert abs(consumer.ended[0] - res.seconds) < 1e-3
    offsets = [o for o, _ in got]
    assert offsets == sorted(offsets) and all(1.2 <= n / 16000 <= 2.0 for _, n in got[:-1])
    assert not (recordings_dir(make_cfg(home).path("paths.data")) / res.id).exists()


def test_live_transcription_matches_whole_file(pulse: PulseServer, home: Path, eval_dir: Path,
                                               tmp_path: Path) -> None:
    """Cutting the recording into windows at pauses loses no words: the live transcript scores within 4 points
    of the same recorded file transcribed whole. With the base model (the default): on this minute of speech
    the live-minus-whole WER moved between -1.4 and +1.4 points over 12 perturbed copies, while tiny.en
    moved between -3.4 and +2.7 (and +4.1 once in CI), too noisy to tell a lost word from a coin flip.
    """
    clips = ["1089-134686-0000", "1089-134686-0001", "1089-134691-0000", "1089-134691-0001",
             "sense_and_sensibility_01_austen_64kb-0870", "sense_and_sensibility_01_austen_64kb-0880",
             "sense_and_sensibility_01_austen_64kb-0890", "sense_and_sensibility_01_austen_64kb-0920",
             "sense_and_sensibility_01_austen_64kb-0930", "LJ001-0012"]
    samples, ref = joined_clips(eval_dir, clips)
    assert 55 < samples.shape[0] / 16000 < 65
    wav = write_wav(tmp_path / "s.wav", samples)
    cfg = make_cfg(home, model="base")
    live = LiveTranscriber(cfg, source="live")
    with Recorder(cfg) as rec:
        rec.start(consent_confirmed=True, window_consumer=live)
        pulse.play_and_wait(wav)
        before_stop = len(live.windows)
        t_stop = time.monotonic()
        res = rec.stop()
        live_tr = live.finish(timeout=120)
        latency = time.monotonic() - t_stop
    assert res is not None and res.path is not None
    assert before_stop >= 1, "windows are transcribed while recording"
    assert latency < 30
    assert all(a.start <= b.start for a, b in zip(live_tr.segments, live_tr.segments[1:], strict=False))
    assert live_tr.segments[-1].end <= res.seconds + 0.5
    whole = transcriber_for(cfg).transcribe_path(res.path)
    w_live, w_whole = wer(ref, live_tr.text), wer(ref, whole.text)
    assert w_live <= w_whole + 0.04, (w_live, w_whole)
    assert abs(live_tr.duration - res.seconds) < 1e-3
