"""End to end through the real command: `hushnote process` and `hushnote draft`, real models, real speech.

Each bad input must give one plain sentence on stderr, a non-zero exit, no traceback and nothing in --out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from hushnote.daemon.notes import notefile

from tests.support.paths import SAMPLES
from tests.support.wer import wer

SAMPLE = SAMPLES / "sample-session.flac"
TEMPLATE_SECTIONS = {
    "soap": ["Subjective", "Objective", "Assessment", "Plan"],
    "dap": ["Data", "Assessment", "Plan"],
    "birp": ["Behavior", "Intervention", "Response", "Plan"],
    "girp": ["Goals", "Intervention", "Response", "Plan"],
    "pirp": ["Problem", "Intervention", "Response", "Plan"],
}


def run(home: Path, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
                "HF_HUB_OFFLINE": "1"})
    env.pop("HUSHNOTE_CONFIG", None)
    extra = ["--config", str(config)] if config else []
    cmd = [sys.executable, "-m", "hushnote.daemon.cli", args[0], *extra, *args[1:]]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)


def assert_clean_failure(r: subprocess.CompletedProcess[str], out: Path, *words: str) -> None:
    assert r.returncode not in (0, 70), (r.returncode, r.stderr)  # 70 = unexpected internal error
    assert "Traceback" not in r.stderr, r.stderr
    msg = r.stderr.strip()
    assert msg.startswith("hushnote: "), msg
    for w in words:
        assert w.lower() in msg.lower(), msg
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str], Path]:
    """The Quick start job: the bundled sample through the default model (base) and the default engine."""
    home = tmp_path_factory.mktemp("home")
    out = tmp_path_factory.mktemp("out")
    r = run(home, "process", str(SAMPLE), "--out", str(out), "--quiet")
    return out, r, home


def test_process_sample_writes_transcript_and_note(processed: tuple[Path, subprocess.CompletedProcess[str], Path]) -> None:
    out, r, _ = processed
    assert r.returncode == 0, r.stderr
    t_path, n_path = out / "sample-session.transcript.md", out / "sample-session.note.md"
    assert f"Transcript: {t_path}" in r.stdout and f"Note:       {n_path}" in r.stdout
    fields, body = notefile.parse_front_matter(t_path.read_text(encoding="utf-8"))
    assert fields["source"] == "sample-session.flac"
    assert fields["model"] == "base" and fields["language"] == "en"
    assert 80 < fields["duration"] < 90
    # the default model hears the real speech: WER against the clips' reference text
    transcript = notefile.read_transcript(t_path)
    reference = (SAMPLES / "sample-session.txt").read_text(encoding="utf-8")
    assert wer(reference, transcript.text) < 0.12
    note_fields, note_body = notefile.parse_front_matter(n_path.read_text(encoding="utf-8"))
    assert note_fields["status"] == "draft" and note_fields["template"] == "soap"
    assert note_fields["engine"] == "extractive"
    assert "# DRAFT — review before signing" in note_body
    for title in TEMPLATE_SECTIONS["soap"]:
        assert f"\n## {title}\n" in note_body
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left behind"


@pytest.mark.parametrize("template", sorted(TEMPLATE_SECTIONS))
def test_draft_again_with_every_template(processed: tuple[Path, subprocess.CompletedProcess[str], Path],
                                         template: str, tmp_path: Path) -> None:
    out, r, home = processed
    assert r.returncode == 0
    r2 = run(home, "draft", str(out / "sample-session.transcript.md"), "--template", template, "--out", str(tmp_path))
    assert r2.returncode == 0, r2.stderr
    body = (tmp_path / "sample-session.note.md").read_text(encoding="utf-8")
    assert f'template: "{template}"' in body
    for title in TEMPLATE_SECTIONS[template]:
        assert f"\n## {title}\n" in body


def test_second_process_never_overwrites(processed: tuple[Path, subprocess.CompletedProcess[str], Path]) -> None:
    out, r, home = processed
    before = (out / "sample-session.note.md").read_bytes()
    r2 = run(home, "draft", str(out / "sample-session.transcript.md"), "--out", str(out))
    assert r2.returncode == 0, r2.stderr
    assert (out / "sample-session.note.md").read_bytes() == before
    assert (out / "sample-session-2.note.md").exists()


def test_unknown_template_lists_available(processed: tuple[Path, subprocess.CompletedProcess[str], Path],
                                          tmp_path: Path) -> None:
    out, _, home = processed
    dest = tmp_path / "o"
    r = run(home, "draft", str(out / "sample-session.transcript.md"), "--template", "nope", "--out", str(dest))
    assert_clean_failure(r, dest, "nope", "soap", "dap", "birp", "girp", "pirp")


def _wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def test_silence_gives_no_note(home: Path, tmp_path: Path) -> None:
    src = _wav(tmp_path / "quiet.wav", np.zeros(16000 * 20, dtype=np.float32))
    out = tmp_path / "out"
    r = run(home, "process", str(src), "--out", str(out), "--quiet")
    assert r.returncode == 4, r.stderr
    assert_clean_failure(r, out, "no note", "speech")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is installed by scripts/setup.sh")
def test_two_words_give_no_note(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "two.wav"
    subprocess.run(["espeak-ng", "-w", str(src), "hello there"], check=True, timeout=30)
    out = tmp_path / "out"
    r = run(home, "process", str(src), "--out", str(out), "--quiet")
    assert r.returncode == 4, r.stderr
    assert_clean_failure(r, out, "no note")


def _bad_inputs(tmp: Path) -> dict[str, Path]:
    d: dict[str, Path] = {}
    d["empty"] = tmp / "empty.wav"
    d["empty"].write_bytes(b"")
    d["random"] = tmp / "random.wav"
    d["random"].write_bytes(np.random.default_rng(1).bytes(200_000))
    data = SAMPLE.read_bytes()
    d["truncated"] = tmp / "truncated.flac"
    d["truncated"].write_bytes(data[:600])
    d["directory"] = tmp / "folder.wav"
    d["directory"].mkdir()
    d["missing"] = tmp / "missing.wav"
    d["video"] = tmp / "video.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=black:s=64x64:d=1",
                    str(d["video"])], check=True, timeout=60)
    return d


@pytest.mark.parametrize("kind", ["empty", "random", "truncated", "directory", "missing", "video"])
def test_bad_input_is_one_clear_sentence(home: Path, tmp_path: Path, kind: str) -> None:
    src = _bad_inputs(tmp_path)[kind]
    out = tmp_path / "out"
    r = run(home, "process", str(src), "--out", str(out), "--quiet")
    assert_clean_failure(r, out, src.name)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_corrupt_model_is_refused(processed: tuple[Path, subprocess.CompletedProcess[str], Path],
                                  tmp_path: Path) -> None:
    _, first, home = processed
    assert first.returncode == 0
    # the base model was assembled into this home's data dir by the first run; corrupt a copy of that home
    copy = tmp_path / "home"
    shutil.copytree(home, copy, symlinks=True)
    bins = list((copy / "data").rglob("model.bin"))
    assert bins, "assembled base model not found in the data dir"
    with open(bins[0], "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00corrupt\x00")
    out = tmp_path / "out"
    r = run(copy, "process", str(SAMPLE), "--out", str(out), "--quiet")
    assert r.returncode == 5, r.stderr
    assert_clean_failure(r, out, "checksum")
