"""The model process (``hushnote.daemon.runner.process``): real tiny.en on real speech in a real child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hushnote.daemon.core.config import Config
from hushnote.daemon.core.errors import InputError, ModelError, TooLittleSpeech
from hushnote.daemon.notes import notefile, pipeline
from hushnote.daemon.runner import process as runner
from hushnote.daemon.runner.process import ModelRunner, RunnerCrashed

from tests.support.config import TINY, make_cfg
from tests.support.jobs import Rig
from tests.support.paths import SAMPLES
from tests.support.procs import alive, child_pids
from tests.support.speech import JFK, wav
from tests.support.waiting import wait_for


@pytest.fixture()
def cfg(tmp_path: Path) -> Config:
    return make_cfg(tmp_path, **TINY)


def test_job_in_the_child_matches_the_pipeline_in_process(cfg: Config, eval_dir: Path) -> None:
    audio = eval_dir / "speech" / JFK
    seen: list[tuple[str, float]] = []
    with ModelRunner() as r:
        transcript, note = r.process(audio, cfg, source="session 1.flac",
                                     progress=lambda s, f, d="": seen.append((s, f)))
        status = r.status()
        pid = r.pid
        assert pid is not None and status["pid"] == pid
        assert status["guard"] is True  # installed first thing in the child
        assert "ctranslate2" in status["modules"]  # the models live there ...
        again, _ = r.process(audio, cfg)  # ... and stay loaded between jobs: same process
        assert r.pid == pid
    assert not r.running and not alive(pid)
    direct = pipeline.transcribe_file(audio, cfg)
    assert transcript.segments == direct.segments and again.segments == direct.segments
    assert transcript.source == "session 1.flac" and transcript.model == "tiny.en"
    assert note == pipeline.draft_note(direct, cfg)
    stages = [s for s, _ in seen]
    assert stages.index("transcribe") < stages.index("draft") and stages[-1] == "draft"
    fractions = [f for s, f in seen if s == "transcribe"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_live_window_in_the_child_matches_in_process(cfg: Config, eval_dir: Path) -> None:
    """A recording's window (samples in memory) transcribed in the child: same segments and word times, the
    same voice embeddings for the speaker labels, input untouched."""
    from hushnote.daemon.speech import audio

    samples = audio.decode_all(eval_dir / "speech" / JFK)
    before = samples.copy()
    with ModelRunner() as r:
        got = r.transcribe_window(samples, cfg, source="live")
        chunks = r.speech_chunks(samples)  # where the recorder may end a window
        off = r.transcribe_window(samples, cfg.with_overrides(speakers__enabled=False), source="live")
        assert {"ctranslate2", "onnxruntime"} <= set(r.status()["modules"])
    assert (samples == before).all()
    assert chunks == audio.speech_chunks(samples.copy()) and chunks
    direct = pipeline.transcribe_window(samples.copy(), cfg, "live")
    assert got.transcript == direct.transcript and got.transcript.source == "live"
    assert "ask not" in got.transcript.text.lower() and len(got.transcript.words) >= 20
    assert got.voices is not None and direct.voices is not None and len(got.voices) >= 5
    assert got.voices.windows == direct.voices.windows
    assert np.allclose(got.voices.embeddings, direct.voices.embeddings, atol=1e-5)
    assert off.voices is None and off.transcript.words == () and off.transcript.segments


def test_errors_come_back_as_the_same_classes_and_the_child_carries_on(cfg: Config, tmp_path: Path,
                                                                         eval_dir: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    quiet = wav(tmp_path / "quiet.wav", 3.0)
    with ModelRunner() as r:
        with pytest.raises(InputError) as e1:
            r.process(empty, cfg)
        pid = r.pid
        with pytest.raises(TooLittleSpeech) as e2:
            r.process(quiet, cfg)
        with pytest.raises(ModelError) as e3:
            r.process(quiet, cfg.with_overrides(transcription__model=str(tmp_path / "no-such-model")))
        assert r.pid == pid  # bad input does not cost the loaded models
        transcript, _ = r.process(eval_dir / "speech" / JFK, cfg)
        assert "country" in transcript.text.lower()
    with pytest.raises(InputError) as direct:
        pipeline.transcribe_file(empty, cfg)
    assert e1.value.message == direct.value.message and e1.value.hint == direct.value.hint
    assert e1.value.exit_code == 3 and e2.value.exit_code == 4 and e3.value.exit_code == 5
    assert "no speech" in e2.value.message


def test_a_raising_progress_callback_kills_the_child_and_propagates(cfg: Config, eval_dir: Path) -> None:
    class Stop(Exception):
        pass

    def progress(stage: str, fraction: float, detail: str = "") -> None:
        if stage == "transcribe":
            raise Stop()

    r = ModelRunner()
    with pytest.raises(Stop):
        r.process(eval_dir / "speech" / JFK, cfg, progress=progress)
    assert not r.running
    transcript, _ = r.process(eval_dir / "speech" / JFK, cfg)  # a new child on the next job
    assert "country" in transcript.text.lower()
    r.stop()


def test_a_child_killed_mid_job_is_reported_as_a_crash(cfg: Config, eval_dir: Path) -> None:
    r = ModelRunner()

    def progress(stage: str, fraction: float, detail: str = "") -> None:
        if r.pid is not None and alive(r.pid):
            os.kill(r.pid, signal.SIGKILL)  # e.g. the out-of-memory killer

    with pytest.raises(RunnerCrashed):
        r.process(eval_dir / "speech" / JFK, cfg, progress=progress)
    assert not r.running


def test_the_child_dies_with_its_parent(tmp_path: Path) -> None:
    script = ("import sys, time\nfrom hushnote.daemon.runner.process import ModelRunner\nr = ModelRunner()\nr.start()\n"
              "print(r.pid, flush=True)\ntime.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert alive(child)
    finally:
        parent.kill()
        parent.wait()
    assert wait_for(lambda: not alive(child), 10)


def test_child_exits_on_end_of_its_input_without_the_deathsig(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "hushnote.daemon.runner.process", "--fd", str(write_fd), "--guard", "on"],
                            stdin=subprocess.PIPE, pass_fds=(write_fd,))
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as fh:
        assert runner.receive(fh) == {"op": "ready"}
        assert proc.stdin is not None
        proc.stdin.close()  # what the child sees when the service is gone
        assert proc.wait(timeout=30) == 0
        assert runner.receive(fh) is None


def test_an_encrypted_store_file_is_decrypted_in_the_child_with_its_key(cfg: Config, tmp_path: Path,
                                                                         eval_dir: Path) -> None:
    from hushnote.daemon.privacy.at_rest import encrypt_into
    from hushnote.daemon.privacy.vault import Vault

    vault = Vault(tmp_path / "vault", os.urandom(32))
    sealed = tmp_path / "job.flac.hnv"
    encrypt_into(eval_dir / "speech" / JFK, sealed, vault, "job1")
    assert b"fLaC" not in sealed.read_bytes()[:64]
    key = vault.data_key("job1")
    with ModelRunner() as r:
        transcript, _ = r.process(sealed, cfg, data_key=key)
        assert "country" in transcript.text.lower()
        with pytest.raises(InputError):  # encrypted, and no key: refused in plain words, not a crash
            r.process(sealed, cfg)
        with pytest.raises(InputError):  # the wrong key
            r.process(sealed, cfg, data_key=bytes(32))
    assert not list(tmp_path.rglob("*.flac"))  # no plaintext copy anywhere


def test_a_live_transcript_is_only_drafted_in_the_child(cfg: Config) -> None:
    from hushnote.daemon.core.datatypes import Segment, Transcript

    words = "the client said she has been sleeping better and walking every morning with her sister"
    live = Transcript((Segment(0.0, 5.0, words),), "en", 5.0, "tiny.en")
    with ModelRunner() as r:
        transcript, note = r.process(None, cfg, source="rec.wav", transcript=live)
        assert "ctranslate2" not in r.status()["modules"]  # nothing was transcribed
    assert transcript.segments == live.segments and transcript.source == "rec.wav"
    assert note == pipeline.draft_note(transcript, cfg)


# ----------------------------------------------------------------------------- the service's workers

def test_workers_run_jobs_in_a_model_process_that_exits_when_idle(tmp_path: Path, eval_dir: Path) -> None:

    rig = Rig(tmp_path)
    try:
        jid = rig.queued_job(eval_dir / "speech" / JFK)
        w = rig.workers(idle_unload_s=1.0)
        w.model_process = True
        with w:
            w.notify()
            assert wait_for(lambda: rig.state(jid) == "done", 120)
            assert w.models_loaded
            assert wait_for(lambda: not w.models_loaded and not child_pids(), 15)  # the child exited
        fields, body = notefile.parse_front_matter((rig.notes / "jfk.note.md").read_text())
        assert fields["source"] == "jfk.flac" and "# DRAFT" in body
        assert "country" in (rig.notes / "jfk.transcript.md").read_text().lower()
        assert ("job.done", {"id": jid, "state": "done"}) in [(e, {k: d[k] for k in ("id", "state")})
                                                              for e, d in rig.events if e == "job.done"]
    finally:
        rig.store.close()


def test_workers_stopping_mid_job_release_it_and_end_the_model_process(tmp_path: Path) -> None:

    rig = Rig(tmp_path)
    try:
        jid = rig.queued_job(SAMPLES / "sample-session.flac")
        w = rig.workers()
        w.model_process = True
        w.start()
        w.notify()
        assert wait_for(lambda: (w.current() or {}).get("stage") == "transcribe", 60)
        assert w.close(timeout=30)
        job = rig.store.get(jid)
        assert job is not None and job.state == "queued" and job.attempts == 0
        assert not list(rig.notes.glob("*.note.md"))
    finally:
        rig.store.close()


_SERVICE_SCRIPT = """
import json, sys, time, shutil
from pathlib import Path
from hushnote.daemon.privacy import guard
guard.install()
from hushnote.daemon.core.config import validate
from hushnote.daemon.service.service import Service
root, sample = Path(sys.argv[1]), sys.argv[2]
cfg = validate({"paths": {"inbox": str(root / "Inbox"), "notes": str(root / "Notes"), "data": str(root / "data")},
                "transcription": {"model": "tiny.en", "beam_size": 1}, "drafting": {"min_words": 5},
                "models": {"idle_unload_s": 0.5}}, "test")
with Service(cfg, ipc=False) as svc:
    shutil.copy(sample, root / "Inbox" / "a.flac")
    deadline = time.monotonic() + 120
    while svc.store.counts()["done"] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    while svc.workers.models_loaded and time.monotonic() < deadline:
        time.sleep(0.1)
    print(json.dumps({"counts": svc.store.counts(), "loaded": svc.workers.models_loaded,
                      "modules": [m for m in ("ctranslate2", "onnxruntime", "faster_whisper", "av", "tokenizers",
                                              "hushnote.daemon.models.catalogue", "hushnote.daemon.models.fetch")
                                  if m in sys.modules]}))
"""


def test_the_service_process_itself_never_loads_the_speech_libraries(home: Path, tmp_path: Path) -> None:
    import json


    out = subprocess.run([sys.executable, "-c", _SERVICE_SCRIPT, str(tmp_path), str(SAMPLES / "sample-session.flac")],
                         capture_output=True, text=True, timeout=300, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["counts"]["done"] == 1 and res["loaded"] is False
    # the work was done (and its memory freed) in the model process; the model catalogue and its download
    # code (``hushnote models fetch``, the one user-initiated network command) are never loaded by the service
    assert res["modules"] == []
    assert len(list((tmp_path / "Notes").glob("*.note.md"))) == 1
