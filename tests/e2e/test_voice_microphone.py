"""``hushnote voice enroll`` from the microphone: a private PulseAudio server plays one reader's voice into the
default input while the command records its 25 seconds (see tests/support/pulse.py); the voice stored is
that reader's. Nothing about PyAudio is faked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from hushnote.daemon.privacy import at_rest
from hushnote.daemon.speakers import Embedder, speech_regions, voiceprint, voiceprint_store

from tests.support.config import make_cfg, write_toml
from tests.support.paths import REPO
from tests.support.pulse import PulseServer
from tests.support.speakers import MALE, build_session, reader_audio
from tests.support.speech import write_wav


def test_enrol_from_the_microphone(pulse: PulseServer, home: Path, tmp_path: Path) -> None:
    cfg = make_cfg(home)
    cfg_file = write_toml(cfg, home / "config.toml")
    speech = build_session([[reader_audio(MALE[1], "enrol")]], 26.0, seed=4, turn_s=(2.0, 6.0)).audio
    wav = write_wav(tmp_path / "me.wav", speech)
    env = {k: v for k, v in os.environ.items() if k != "HUSHNOTE_CONFIG"}
    env["PULSE_SERVER"] = pulse.server
    cmd = [sys.executable, "-m", "hushnote.daemon.cli", "voice", "enroll", "--config", str(cfg_file)]
    with subprocess.Popen(cmd, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        pulse.play_and_wait(wav)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Your voice is enrolled." in out
    assert "Recording your voice:  0 s left" in err and "ALSA lib" not in err
    stored = voiceprint_store.load(at_rest.open_vault(cfg, create=False), cfg.path("paths.data"))
    assert stored is not None
    embedder = Embedder()
    prints = {r: voiceprint(a, speech_regions(a), embedder)
              for r in MALE for a in [reader_audio(r, "enrol")]}
    same, other = (float(np.dot(stored, prints[r])) for r in (MALE[1], MALE[0]))
    assert same > other + 0.2, (same, other)  # the microphone heard that reader, not a voice like it
