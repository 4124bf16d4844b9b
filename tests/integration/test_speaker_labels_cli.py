"""Who said it, through the real command: a two-channel session (LJ Speech's reader on the left, the
microphone: the therapist; a LibriSpeech reader on the right, the call: the client, each leaking into the
other at -25 dB, with pauses between turns) through `hushnote process --export srt,vtt,json` with the real
speech model, labelled by channel (and a session's sentences in two espeak-ng voices, so the note
has something to quote); then `hushnote speakers swap` on the draft, and on a signed note."""

from __future__ import annotations

import json
import re
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hushnote.daemon.notes import notefile
from hushnote.daemon.speech.audio import decode_all

from tests.support.cli import home_env, run_cli
from tests.support.config import TINY, make_cfg, write_toml
from tests.support.subtitles import parse_srt, parse_vtt

SPEECH = Path(__file__).resolve().parents[1] / "data" / "eval" / "speech"
LEFT = ["ljspeech/LJ001-0001.flac", "ljspeech/LJ001-0003.flac", "ljspeech/LJ001-0005.flac", "ljspeech/LJ001-0004.flac"]
RIGHT = ["librispeech_testclean/1089-134686-0000.flac", "librispeech_testclean/1089-134686-0001.flac",
         "librispeech_testclean/1089-134691-0000.flac", "librispeech_testclean/1089-134691-0001.flac"]
RATE = 16_000
PAUSE_S = 1.5
BLEED = 10 ** (-25 / 20)
QUOTE_RE = re.compile(r'^- (?:(?P<who>Therapist|Client)(?P<stated> stated)?|Stated in session): "(?P<q>.*)" '
                      r'\[(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)\]$')


@dataclass(frozen=True)
class Built:
    path: Path
    turns: list[tuple[float, float, str]]  # start, end (s), "Therapist" | "Client"

    def who_at(self, t: float, slack: float = 0.0) -> set[str]:
        return {who for a, b, who in self.turns if a - slack <= t <= b + slack}


# What a session says, in espeak-ng's voices (the read clips carry no clinical words to quote)
THERAPIST_SAYS = [
    "Let's plan for you to keep a sleep diary every night this week, and we will review it at our next session.",
    "For homework, practise the breathing exercise twice a day, and write down what you notice.",
]
CLIENT_SAYS = [
    "I have been sleeping about four hours a night since my job changed, and I feel exhausted at work.",
    "My anxiety has been worse in the mornings, and I have been skipping breakfast most days.",
]


def espeak(text: str, voice: str, folder: Path) -> np.ndarray:
    out = folder / f"say-{abs(hash((text, voice)))}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(out), text], check=True, timeout=60)  # noqa: S603,S607
    return decode_all(out)


def build_call(path: Path) -> Built:
    """Turns alternating left (therapist) and right (client), each channel with the other's bleed: read
    speech from two corpora, then a session's sentences in two espeak-ng voices."""
    clips: list[tuple[np.ndarray, str]] = []
    for lclip, rclip in zip(LEFT, RIGHT, strict=True):
        clips += [(decode_all(SPEECH / lclip), "Therapist"), (decode_all(SPEECH / rclip), "Client")]
    for t_says, c_says in zip(THERAPIST_SAYS, CLIENT_SAYS, strict=True):
        clips += [(espeak(c_says, "en-gb+f3", path.parent), "Client"), (espeak(t_says, "en-us", path.parent), "Therapist")]
    left: list[np.ndarray] = [np.zeros(int(0.5 * RATE), dtype=np.float32)]
    right: list[np.ndarray] = [np.zeros(int(0.5 * RATE), dtype=np.float32)]
    turns: list[tuple[float, float, str]] = []
    clock = 0.5
    for clip, side in clips:
        x = (0.5 * clip / max(1e-6, float(np.abs(clip).max()))).astype(np.float32)
        mine, other = (left, right) if side == "Therapist" else (right, left)
        mine.append(x)
        other.append(BLEED * x)
        turns.append((clock, clock + len(x) / RATE, side))
        pause = np.zeros(int(PAUSE_S * RATE), dtype=np.float32)
        left.append(pause)
        right.append(pause)
        clock += len(x) / RATE + PAUSE_S
    stereo = np.stack([np.concatenate(left), np.concatenate(right)], axis=1)
    noise = np.random.default_rng(3).normal(0, 10 ** (-60 / 20), stereo.shape).astype(np.float32)
    pcm = np.clip((stereo + noise) * 32767, -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return Built(path, turns)


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Built, Path, Path]:
    root = tmp_path_factory.mktemp("speakers")
    built = build_call(root / "call.wav")
    cfg = write_toml(make_cfg(root, **TINY), root / "config.toml")
    out = root / "Notes"
    r = run_cli("process", "--config", str(cfg), str(built.path), "--out", str(out), "--quiet",
                "--export", "srt,vtt,json", env=home_env(root / "home"), timeout=600)
    assert r.returncode == 0, r.stderr
    assert "Speakers:   Therapist/Client (by channel)" in r.stdout, r.stdout
    return built, out, cfg


def test_a_two_channel_call_is_labelled_by_channel_on_every_line(processed: tuple[Built, Path, Path]) -> None:
    built, out, _ = processed
    t = notefile.read_transcript(out / "call.transcript.md")
    assert (t.speakers, t.speaker_basis) == (("Therapist", "Client"), "by channel")
    doc = json.loads((out / "call.transcript.json").read_text(encoding="utf-8"))
    right = total = 0
    for seg in doc["segments"]:
        words = len(seg["text"].split())
        total += words
        mid = (seg["start"] + seg["end"]) / 2
        right += words if built.who_at(mid, slack=0.3) == {seg["speaker"]} else 0
    assert total > 120 and right / total >= 0.95, (right, total)
    assert {s["speaker"] for s in doc["segments"]} == {"Therapist", "Client"}
    srt = parse_srt((out / "call.transcript.srt").read_text(encoding="utf-8"))
    vtt = parse_vtt((out / "call.transcript.vtt").read_text(encoding="utf-8"))
    assert len(srt) == len(vtt) == len(doc["segments"])
    assert [v[2] for v in vtt] == [s["speaker"] for s in doc["segments"]]
    assert all(text.startswith(("Therapist: ", "Client: ")) for *_, text in srt)


def _quotes(note: Path) -> list[tuple[str | None, str, float]]:
    out = []
    for line in note.read_text(encoding="utf-8").splitlines():
        m = QUOTE_RE.match(line)
        if m:
            out.append((m.group("who"), m.group("q"), int(m.group("h")) * 3600 + int(m.group("m")) * 60 + int(m.group("s"))))
    return out


def test_the_note_never_quotes_the_therapist_as_the_client(processed: tuple[Built, Path, Path]) -> None:
    built, out, _ = processed
    note = out / "call.note.md"
    assert 'speakers: "Therapist/Client (by channel)"' in note.read_text(encoding="utf-8")
    qs = _quotes(note)
    assert any(who == "Client" for who, _, _ in qs) and any(who == "Therapist" for who, _, _ in qs), qs
    for who, q, at in qs:
        if who is not None:
            assert built.who_at(at + 0.5, slack=0.6) == {who}, (who, q, at)  # the stamp is a whole second


def test_swap_redrafts_a_draft_and_never_touches_a_signed_note(processed: tuple[Built, Path, Path],
                                                               tmp_path: Path) -> None:
    built, out, cfg = processed
    folder = tmp_path / "copy"
    folder.mkdir()
    for name in ("call.transcript.md", "call.note.md"):
        (folder / name).write_bytes((out / name).read_bytes())
    env = home_env(tmp_path / "home")
    note = folder / "call.note.md"
    r = run_cli("speakers", "swap", "--config", str(cfg), str(note), env=env)
    assert r.returncode == 0, r.stderr
    assert "Therapist/Client (swapped by the clinician)" in r.stdout and "drafted again" in r.stdout
    t = notefile.read_transcript(folder / "call.transcript.md")
    assert t.speaker_basis == "swapped by the clinician"
    for seg in t.segments:
        truth = built.who_at(seg.start + 0.5, slack=0.6)
        if seg.speaker and len(truth) == 1:
            assert seg.speaker not in truth or len(seg.text.split()) <= 2, seg  # now the other way round
    swapped = _quotes(note)
    assert swapped and all(who is None or built.who_at(at + 0.5, slack=0.6) == {"Therapist", "Client"} - {who}
                           for who, _, at in swapped)
    r = run_cli("sign", "--config", str(cfg), str(note), "--name", "Dr Test", env=env)
    assert r.returncode == 0, r.stderr
    signed = note.read_bytes()
    r = run_cli("speakers", "swap", "--config", str(cfg), str(note), env=env)
    assert r.returncode == 0, r.stderr
    assert "is signed and was left as it is" in r.stdout
    assert note.read_bytes() == signed
    assert (folder / "call-2.note.md").is_file() and (folder / "call-2.transcript.md").is_file()
    back = notefile.read_transcript(folder / "call-2.transcript.md")
    assert [s.speaker for s in back.segments] == [s.speaker for s in notefile.read_transcript(
        out / "call.transcript.md").segments]


def test_swap_refuses_a_transcript_without_known_roles(processed: tuple[Built, Path, Path], tmp_path: Path) -> None:
    _, out, cfg = processed
    text = (out / "call.transcript.md").read_text(encoding="utf-8")
    (tmp_path / "x.transcript.md").write_text(text.replace("Therapist/Client (by channel)", "Speaker 1/2 (roles unknown)")
                                              .replace("] Therapist: ", "] ").replace("] Client: ", "] "),
                                              encoding="utf-8")
    (tmp_path / "x.note.md").write_bytes((out / "call.note.md").read_bytes())
    r = run_cli("speakers", "swap", "--config", str(cfg), str(tmp_path / "x.note.md"), env=home_env(tmp_path / "h"))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.startswith("hushnote: ") and "cannot be swapped" in r.stderr
