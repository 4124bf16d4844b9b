"""Bad input for speaker labelling, through the ``hushnote`` command as a clinician runs it (a subprocess,
Whisper tiny.en, the real speaker model, real files): with the therapist's voice enrolled, a session of
two readers gets Therapist/Client, but one with a third reader (``speakers.count = 2``) gets Speaker 1/2/3
and no roles; music before one voice is not a second speaker; an enrolment clip of music is refused in one
sentence. Readers: tests/data/speakers; music: tests/support/music.py."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hushnote.daemon.notes import notefile

from tests.support.cli import home_env, run_cli
from tests.support.config import TINY, make_cfg, write_toml
from tests.support.music import tonal_music
from tests.support.speakers import FEMALE, MALE, build_session, reader_audio
from tests.support.speech import write_wav

THERAPIST = FEMALE[0]
ROLE_QUOTE = re.compile(r'^- (Therapist|Client)( stated)?: "')


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """A settings file, its notes folder and an environment where THERAPIST's voice is enrolled."""
    root = tmp_path_factory.mktemp("bad")
    cfg = write_toml(make_cfg(root, **TINY), root / "config.toml")
    env = home_env(root / "home")
    clip = write_wav(root / "me.wav", reader_audio(THERAPIST, "enrol"))
    r = run_cli("voice", "enroll", "--from", str(clip), "--config", str(cfg), env=env)
    assert r.returncode == 0, r.stderr
    return cfg, root / "Notes", env


def process(enrolled: tuple[Path, Path, dict[str, str]], name: str, audio: np.ndarray) -> tuple[str, Path]:
    """``hushnote process`` on ``audio``: its output and the transcript written."""
    cfg, notes, env = enrolled
    wav = write_wav(notes.parent / f"{name}.wav", audio)
    r = run_cli("process", "--config", str(cfg), str(wav), "--out", str(notes), "--quiet", env=env, timeout=600)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    return r.stdout, notes / f"{name}.transcript.md"


def test_two_voices_get_roles_but_a_third_voice_takes_them_away(enrolled: tuple[Path, Path, dict[str, str]]) -> None:
    two = build_session([[reader_audio(THERAPIST)], [reader_audio(MALE[0])]], 60.0, seed=1).audio
    out, transcript = process(enrolled, "two", two)
    assert "Speakers:   Therapist/Client (enrolled voice)" in out, out

    three = build_session([[reader_audio(THERAPIST)], [reader_audio(MALE[0])], [reader_audio(FEMALE[1])]], 90.0,
                          seed=1).audio
    out, transcript = process(enrolled, "three", three)
    assert "Speakers:   Speaker 1/2/3 (more voices than expected, roles unknown)" in out, out
    t = notefile.read_transcript(transcript)
    assert t.speakers == ("Speaker 1", "Speaker 2", "Speaker 3") and not t.roles_known
    assert {s.speaker for s in t.segments} <= {"Speaker 1", "Speaker 2", "Speaker 3", None}
    note = transcript.with_name("three.note.md").read_text(encoding="utf-8")
    assert 'speakers: "Speaker 1/2/3 (more voices than expected, roles unknown)"' in note
    assert not [line for line in note.splitlines() if ROLE_QUOTE.match(line)], "no quote is given a role"


def test_music_before_one_voice_is_not_a_second_speaker(enrolled: tuple[Path, Path, dict[str, str]]) -> None:
    audio = np.concatenate([tonal_music(20.0, seed=5), build_session([[reader_audio(MALE[1])]], 40.0, seed=2).audio])
    out, transcript = process(enrolled, "music", audio)
    assert "Speakers:   one speaker, lines not labelled: only one voice was heard" in out, out
    assert all(s.speaker is None for s in notefile.read_transcript(transcript).segments)


def test_an_enrolment_clip_of_music_is_refused_in_one_sentence(enrolled: tuple[Path, Path, dict[str, str]]) -> None:
    cfg, notes, env = enrolled
    clip = write_wav(notes.parent / "radio.wav", tonal_music(25.0, seed=6))
    r = run_cli("voice", "enroll", "--from", str(clip), "--config", str(cfg), env=env)
    assert r.returncode == 3 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("hushnote: The voice sample has no speech in it") and "radio.wav" in r.stderr
    assert "nothing was stored" in r.stderr and "microphone" in r.stderr
