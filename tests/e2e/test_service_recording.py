"""Recording through the service: the real daemon as a subprocess (``hushnote daemon``), a private PulseAudio
server (tests/support/pulse.py) playing real speech into the microphone, the real tiny.en model, and IPC/CLI calls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hushnote.daemon.core.datatypes import ENROLLED
from hushnote.daemon.notes import notefile
from hushnote.daemon.recording.chunks import recordings_dir
from hushnote.daemon.recording.controller import recording_name
from hushnote.daemon.speech.audio import decode_all
from hushnote.daemon.speech.transcribe import transcriber_for
from hushnote.ipc.client import IpcClient, Subscription
from hushnote.ipc.protocol import IpcError

from tests.support.config import recorder_cfg as make_cfg
from tests.support.daemon import Daemon, pulse_daemon
from tests.support.plaintext import kept_as
from tests.support.pulse import PulseServer, pulse_server
from tests.support.speakers import FEMALE, MALE, build_session, reader_audio
from tests.support.speech import JFK_SLACK, joined_clips, write_wav
from tests.support.stereo import locate
from tests.support.waiting import wait_for
from tests.support.wer import wer


@pytest.fixture()
def daemon(tmp_path: Path, home: Path, pulse: PulseServer) -> Iterator[Daemon]:
    with pulse_daemon(tmp_path / "hn", home, pulse) as d:
        yield d


def events_until(sub: Subscription, name: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ev = sub.get(timeout=max(0.05, deadline - time.monotonic()))
        if ev is None:
            continue
        seen.append(ev.name)
        if ev.name == name:
            return dict(ev.data)
    raise AssertionError(f"no {name} event in {timeout} s; saw {seen}")


def conflict(d: Daemon, op: str, **args: Any) -> str:
    with pytest.raises(IpcError) as exc:
        d.call(op, **args)
    assert exc.value.code == "conflict", exc.value
    return exc.value.message


def transcript_of(d: Daemon, job_id: str) -> str:
    notes = [p for p in d.notes.glob("*.transcript.md")]
    assert len(notes) == 1, notes
    return notefile.read_transcript(notes[0]).text


# ----------------------------------------------------------------------------- record → note

def test_record_from_the_service_makes_a_note(daemon: Daemon, pulse: PulseServer, eval_dir: Path,
                                              tmp_path: Path) -> None:
    samples, ref = joined_clips(eval_dir, ["LJ001-0007", "LJ001-0008", "LJ001-0009", "LJ001-0010", "LJ001-0011"])
    wav = write_wav(tmp_path / "speech.wav", samples)
    daemon.start()
    with IpcClient(daemon.sock, timeout=10).subscribe() as sub:
        st = daemon.call("record.start", consent_confirmed=True, source="cli")
        assert st["recording"] and st["id"].startswith("rec-") and st["paused"] is False
        events_until(sub, "record.started", 5)
        pulse.play_and_wait(wav)
        time.sleep(0.3)
        mid = daemon.call("record.status")
        assert mid["recording"] and mid["elapsed_s"] > 30 and mid["require_consent"] is True
        assert daemon.call("status")["recording"]["id"] == st["id"]
        t_stop = time.monotonic()
        stopped = daemon.call("record.stop")
        assert stopped["id"] == st["id"] and not stopped["recording"]
        ev = events_until(sub, "record.stopped", 30)
        assert ev["id"] == st["id"] and ev["reason"] == "user" and ev["job_id"] and "path" not in ev
        done = events_until(sub, "job.done", 180)
        latency = time.monotonic() - t_stop
    assert (done["id"], done["state"]) == (ev["job_id"], "done")
    jobs = daemon.call("queue")["jobs"]
    assert [(j["id"], j["kind"], j["state"]) for j in jobs] == [(ev["job_id"], "recording", "done")]
    name = recording_name(st["id"])
    stem = Path(name).stem
    assert (daemon.notes / f"{stem}.note.md").exists() and kept_as(daemon.notes, name)
    rec_root = recordings_dir(daemon.data)
    assert wait_for(lambda: list(rec_root.iterdir()) == [], 5), list(rec_root.rglob("*"))  # chunks cleaned up
    log = daemon.log.read_text(errors="replace")
    assert "using the transcript made while recording" in log, log  # live transcription was used
    assert "its model process was stopped" in log, log  # the idle service does not keep the live model
    assert daemon.proc is not None
    maps = Path(f"/proc/{daemon.proc.pid}/maps").read_text()
    assert "ctranslate2" not in maps and "onnxruntime" not in maps, "the service itself never loads a model"
    assert not daemon.call("record.status")["recording"]
    audit = [json.loads(line) for line in (daemon.data / "audit.jsonl").read_text().splitlines()]
    mine = [(e["event"], e["data"]) for e in audit if e["data"].get("recording_id") == st["id"]]
    assert [e for e, _ in mine] == ["consent.confirmed", "recording.start", "recording.stop"], mine
    assert mine[0][1]["method"] == "cli" and mine[1][1]["durable"] is True and "stripped" not in mine[1][1]
    assert mine[2][1]["reason"] == "user" and mine[2][1]["duration_s"] > 30

    got = transcript_of(daemon, ev["job_id"])
    direct = transcriber_for(make_cfg(daemon.root)).transcribe_audio(samples, "direct").text
    w_direct, w_got = wer(ref, direct), wer(ref, got)
    assert w_got <= w_direct + 0.04, (w_direct, w_got)
    print(f"stop -> note {latency:.1f} s; WER direct {w_direct:.3f}, recorded {w_got:.3f}")
    assert daemon.stop() == 0


def test_a_two_voice_session_recorded_through_the_service_is_labelled(daemon: Daemon, pulse: PulseServer,
                                                                      tmp_path: Path) -> None:
    """Two readers taking turns, recorded from the microphone with live transcription: after Stop the
    transcript says who spoke on every line, with the roles from the therapist's enrolled voice."""
    enrol = write_wav(tmp_path / "enrol.wav", reader_audio(MALE[0], "enrol"))
    r = daemon.cli("voice", "enroll", "--from", str(enrol))
    assert r.returncode == 0, r.stderr
    session = build_session([[reader_audio(FEMALE[1])], [reader_audio(MALE[0])]], 40.0, seed=5)  # 2nd: therapist
    wav = write_wav(tmp_path / "session.wav", session.audio)
    daemon.start()
    with IpcClient(daemon.sock, timeout=10).subscribe() as sub:
        st = daemon.call("record.start", consent_confirmed=True, source="tray")
        events_until(sub, "record.started", 5)
        pulse.play_and_wait(wav)
        time.sleep(0.3)
        daemon.call("record.stop")
        done = events_until(sub, "job.done", 180)
    assert done["state"] == "done", done
    stem = Path(recording_name(st["id"])).stem
    t = notefile.read_transcript(daemon.notes / f"{stem}.transcript.md")
    assert (t.speakers, t.speaker_basis) == (("Therapist", "Client"), ENROLLED)
    note = (daemon.notes / f"{stem}.note.md").read_text(encoding="utf-8")
    assert 'speakers: "Therapist/Client (enrolled voice)"' in note
    log = daemon.log.read_text(errors="replace")
    assert "using the transcript made while recording" in log and "transcribing the file" not in log, log
    plain = tmp_path / "recorded.flac"
    plain.write_bytes(daemon.audio_bytes(kept_as(daemon.notes, recording_name(st["id"]))))
    recorded = decode_all(plain)
    at, ncc = locate(np.round(recorded * 32767).astype(np.int16), session.audio)  # where playback began
    assert ncc > 0.9, ncc
    right = total = 0
    for seg in t.segments:
        words = len(seg.text.split())
        mid = (seg.start + seg.end) / 2 - at / 16000
        who = min(session.turns, key=lambda turn: max(turn[0] - mid, mid - turn[1], 0.0))[2]
        total += words
        right += words if seg.speaker == ("Client", "Therapist")[who] else 0
    assert total > 60 and right / total >= 0.9, (right, total)


def record_jfk(d: Daemon, pulse: PulseServer, eval_dir: Path, tmp_path: Path,
               *, paused: bool = False) -> tuple[dict[str, Any], np.ndarray, str]:
    """Start the daemon (paused if asked), start recording, play the 11 s JFK clip; still recording."""
    samples, ref = joined_clips(eval_dir, ["jfk"])
    wav = write_wav(tmp_path / "jfk.wav", samples)
    d.start()
    if paused:
        d.call("pause")
    st = d.call("record.start", consent_confirmed=True)
    pulse.play_and_wait(wav)
    return st, samples, ref


def test_kill_9_while_recording_then_restart_makes_a_note(daemon: Daemon, pulse: PulseServer, eval_dir: Path,
                                                          tmp_path: Path) -> None:
    st, samples, ref = record_jfk(daemon, pulse, eval_dir, tmp_path)
    time.sleep(0.5)
    daemon.kill()
    rec_dir = recordings_dir(daemon.data) / st["id"]
    assert json.loads((rec_dir / "meta.json").read_text())["state"] == "recording"
    daemon.start()
    assert wait_for(lambda: daemon.counts()["done"] == 1, 180), daemon.call("queue")
    jobs = daemon.call("queue")["jobs"]
    assert [(j["kind"], j["state"]) for j in jobs] == [("recording", "done")], "queued once, not twice"
    assert not rec_dir.exists()
    got = transcript_of(daemon, jobs[0]["id"])
    direct = transcriber_for(make_cfg(daemon.root)).transcribe_audio(samples, "direct").text
    assert wer(ref, got) <= wer(ref, direct) + JFK_SLACK, (got, direct)
    assert daemon.stop() == 0
    daemon.start()  # a second restart finds nothing more to recover
    assert len(daemon.call("queue")["jobs"]) == 1
    assert daemon.stop() == 0


def test_service_stopped_while_recording_saves_and_queues_it(daemon: Daemon, pulse: PulseServer, eval_dir: Path,
                                                             tmp_path: Path) -> None:
    # paused: the recording must survive the stop as a queued job, not be processed now
    st, _, _ = record_jfk(daemon, pulse, eval_dir, tmp_path, paused=True)
    assert daemon.stop() == 0  # SIGTERM mid-recording: a graceful stop
    assert not (recordings_dir(daemon.data) / st["id"]).exists(), "saved and handed over before the exit"
    assert "shutdown" in daemon.log.read_text()
    daemon.start()
    jobs = daemon.call("queue")["jobs"]
    assert [(j["kind"], j["state"]) for j in jobs] == [("recording", "queued")]
    daemon.call("resume")
    assert wait_for(lambda: daemon.counts()["done"] == 1, 120), daemon.call("queue")
    assert daemon.stop() == 0


# ----------------------------------------------------------------------------- races, consent, CLI

def test_start_stop_races_and_consent(daemon: Daemon, pulse: PulseServer, eval_dir: Path, tmp_path: Path) -> None:
    samples, _ = joined_clips(eval_dir, ["LJ001-0001"])
    wav = write_wav(tmp_path / "s.wav", samples)
    daemon.start()
    assert "nothing to stop" in conflict(daemon, "record.stop")
    assert "consent" in conflict(daemon, "record.start")
    assert "consent" in conflict(daemon, "record.start", consent_confirmed=False, source="tray")
    with pytest.raises(IpcError) as exc:
        daemon.call("record.start", consent_confirmed=True, source="phone")
    assert exc.value.code == "bad_request"
    assert not daemon.call("record.status")["recording"]

    # CLI: no consent flag -> told what to do; nothing recorded
    r = daemon.cli("record", "start")
    assert r.returncode == 1 and "consent" in r.stderr and "--consent-confirmed" in r.stderr, r
    assert "Traceback" not in r.stderr
    r = daemon.cli("record", "stop")
    assert r.returncode == 1 and "nothing to stop" in r.stderr, r

    # paused: recording is still allowed, the job waits for `resume`
    daemon.call("pause")
    r = daemon.cli("record", "start", "--consent-confirmed")
    assert r.returncode == 0 and "Recording" in r.stdout and "paused" in r.stdout, r
    assert "already running" in conflict(daemon, "record.start", consent_confirmed=True)
    r = daemon.cli("record", "status", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["recording"] is True, r
    r = daemon.cli("record", "status")
    assert r.returncode == 0 and "Recording for" in r.stdout, r
    r = daemon.cli("status")
    assert r.returncode == 0 and "Recording a session" in r.stdout, r
    pulse.play_and_wait(wav)
    r = daemon.cli("record", "stop")
    assert r.returncode == 0 and "saved" in r.stdout, r
    assert wait_for(lambda: daemon.counts()["queued"] == 1, 30), daemon.call("queue")
    time.sleep(1.0)
    assert daemon.counts()["queued"] == 1 and daemon.counts()["done"] == 0, "paused: the job waits"
    daemon.call("resume")
    assert wait_for(lambda: daemon.counts()["done"] == 1, 120), daemon.call("queue")
    assert daemon.ready()

    r = daemon.cli("devices", "--json")
    assert r.returncode == 0 and any(d["is_default"] for d in json.loads(r.stdout)), r
    r = daemon.cli("devices")
    assert r.returncode == 0 and "default" in r.stdout and "ALSA lib" not in r.stderr, r
    assert daemon.stop() == 0
    r = daemon.cli("record", "status")
    assert r.returncode == 3 and "not running" in r.stderr, r


def test_device_lost_through_the_service(daemon: Daemon, eval_dir: Path, tmp_path: Path) -> None:
    samples, _ = joined_clips(eval_dir, ["LJ001-0001"])
    wav = write_wav(tmp_path / "s.wav", samples)
    with pulse_server() as own:  # its own server: this one is stopped mid-recording
        daemon.start(PULSE_SERVER=own.server)
        with IpcClient(daemon.sock, timeout=10).subscribe() as sub:
            daemon.call("record.start", consent_confirmed=True)
            player = own.play(wav)
            time.sleep(6.0)
            own.kill()
            player.wait(timeout=10)
            if player.stderr:
                player.stderr.close()
            ev = events_until(sub, "record.stopped", 15)
    assert ev["reason"] == "device_lost" and "microphone" in ev["message"] and ev["job_id"], ev
    assert 4.0 < ev["seconds"] < 8.0
    assert daemon.ready() and not daemon.call("record.status")["recording"]
    assert wait_for(lambda: daemon.counts()["done"] == 1, 120), daemon.call("queue")
    assert daemon.stop() == 0


def test_no_signal_warns_and_keeps_the_audio(tmp_path: Path, home: Path, pulse: PulseServer) -> None:
    with pulse_daemon(tmp_path / "hn", home, pulse, no_signal_warning_s=5) as d:
        d.start()
        with IpcClient(d.sock, timeout=10).subscribe() as sub:
            st = d.call("record.start", consent_confirmed=True)  # nothing is played: silence
            warn = events_until(sub, "record.warning", 15)
            assert warn["code"] == "no_signal" and "microphone" in warn["message"] and warn["id"] == st["id"]
            assert d.call("record.status")["recording"], "a warning does not stop the recording"
            d.call("record.stop")
            ev = events_until(sub, "record.stopped", 15)
            done = events_until(sub, "job.done", 120)
        assert ev["reason"] == "user" and ev["seconds"] >= 5
        assert done["state"] == "failed"  # no speech: no note, but the audio is kept with a report
        kept = list((d.inbox / "failed").iterdir())
        assert len(kept) == 1 and kept[0].stat().st_size > 0
        assert len(list(d.notes.glob("*.error.txt"))) == 1 and not list(d.notes.glob("*.note.md"))
        assert d.stop() == 0


# ----------------------------------------------------------------------------- hand-off crash safety (in process)
