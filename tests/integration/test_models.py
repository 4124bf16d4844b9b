"""Model resolution: assembly of Whisper base, sha256 checks, custom folders, device choice, listing."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest
from hushnote.daemon.core.errors import ModelError
from hushnote.daemon.models import registry as models
from hushnote.daemon.speech import transcribe

from tests.support.config import make_cfg
from tests.support.speech import JFK


def _flip_byte(path: Path, offset: int = 1_000_000) -> None:
    with path.open("r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ 0xFF]))


def _copy_dir(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(autouse=True)
def _fresh_hash_cache() -> None:
    models._hash_cache.clear()


# ----------------------------------------------------------------------------- Whisper base

def test_base_is_assembled_once_atomically_and_verified(home: Path) -> None:
    cfg = make_cfg(home)
    d = models.whisper_dir(cfg)
    assert d == models.base_target(cfg) and d.is_relative_to(home)
    assert (d / "model.bin").stat().st_size == models.BASE_SIZE
    assert models.sha256_file(d / "model.bin") == models.BASE_SHA256
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (d / name).is_file()
    assert [p.name for p in d.parent.iterdir()] == [models.BASE_DIR_NAME]  # no temp folders left
    mtime = (d / "model.bin").stat().st_mtime_ns
    assert models.whisper_dir(cfg) == d
    assert (d / "model.bin").stat().st_mtime_ns == mtime  # not rebuilt


def test_corrupt_assembled_base_is_refused(home: Path) -> None:
    cfg = make_cfg(home)
    d = models.whisper_dir(cfg)  # a copy assembled inside the temp home
    _flip_byte(d / "model.bin")
    models._hash_cache.clear()
    with pytest.raises(ModelError) as exc_info:
        models.whisper_dir(cfg)
    msg = str(exc_info.value)
    assert "damaged" in msg and str(d) in msg and "Delete the folder" in msg
    with pytest.raises(ModelError):
        transcribe.transcriber_for(cfg)
    assert [r.checksum for r in models.list_models(cfg) if r.name == "base"] == [models.MISMATCH]


def test_damaged_base_packages_are_refused(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = models.base_parts()
    assert parts is not None
    p1 = _copy_dir(parts[0], tmp_path / "p1" / "data")
    p2 = _copy_dir(parts[1], tmp_path / "p2" / "data")
    _flip_byte(p2 / "model.bin.part2")
    monkeypatch.setattr(models, "base_parts", lambda: (p1, p2))
    cfg = make_cfg(home)
    with pytest.raises(ModelError, match="damaged"):
        models.whisper_dir(cfg)
    target = models.base_target(cfg)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # the temp folder was removed


def test_missing_base_packages(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "base_parts", lambda: None)
    with pytest.raises(ModelError, match="not installed"):
        models.whisper_dir(make_cfg(home))


# ----------------------------------------------------------------------------- tiny.en and custom folders

def test_tiny_en_verified(home: Path) -> None:
    d = models.whisper_dir(make_cfg(home, transcription__model="tiny.en"))
    assert models.sha256_file(d / "model.bin") == models.TINY_EN_SHA256


def test_corrupt_tiny_en_is_refused(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = models.tiny_en_dir()
    assert real is not None
    copy = _copy_dir(real, tmp_path / "tiny-copy")
    _flip_byte(copy / "model.bin")
    monkeypatch.setattr(models, "tiny_en_dir", lambda: copy)
    with pytest.raises(ModelError, match="damaged"):
        models.whisper_dir(make_cfg(home, transcription__model="tiny.en"))


def test_custom_folder_by_path(home: Path, tmp_path: Path, eval_dir: Path) -> None:
    real = models.tiny_en_dir()
    assert real is not None
    mine = _copy_dir(real, tmp_path / "my-whisper")
    cfg = make_cfg(home, transcription__model=str(mine))
    assert models.whisper_dir(cfg) == mine.resolve()
    assert models.model_label(cfg) == "my-whisper"
    row = [r for r in models.list_models(cfg) if r.name == "my-whisper"][0]
    assert row.checksum == models.UNKNOWN and row.in_use
    assert "unknown — your own model" in row.describe()
    t = transcribe.transcriber_for(cfg).transcribe_path(eval_dir / "speech" / JFK)
    assert t.model == "my-whisper" and "country" in t.text


def test_custom_folder_problems(home: Path, tmp_path: Path) -> None:
    incomplete = tmp_path / "half"
    incomplete.mkdir()
    (incomplete / "model.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="config.json is missing"):
        models.whisper_dir(make_cfg(home, transcription__model=str(incomplete)))
    with pytest.raises(ModelError, match="does not exist"):
        models.whisper_dir(make_cfg(home, transcription__model=str(tmp_path / "nope")))
    with pytest.raises(ModelError, match="not a known model"):
        models.whisper_dir(make_cfg(home, transcription__model="small"))
    f = tmp_path / "model.bin"
    f.write_bytes(b"x")
    with pytest.raises(ModelError, match="not a model folder"):
        models.whisper_dir(make_cfg(home, transcription__model=str(f)))


def test_never_reaches_for_a_hub(home: Path, monkeypatch: pytest.MonkeyPatch, eval_dir: Path) -> None:
    import faster_whisper.transcribe as fwt
    import faster_whisper.utils as fwu

    def no_download(*a: object, **k: object) -> str:
        raise AssertionError("faster-whisper was asked to download a model")

    monkeypatch.setattr(fwu, "download_model", no_download)
    monkeypatch.setattr(fwt, "download_model", no_download)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    cfg = make_cfg(home, transcription__model="tiny.en", transcription__beam_size=1)
    tr = transcribe.transcriber_for(cfg)
    assert Path(tr.key.model_dir).is_dir()
    tr.unload()
    assert "country" in tr.transcribe_path(eval_dir / "speech" / JFK).text
    tr.unload()


# ----------------------------------------------------------------------------- devices


def test_real_cuda_count_on_this_machine() -> None:
    import ctranslate2

    assert models.cuda_device_count() == ctranslate2.get_cuda_device_count()


def test_failed_gpu_init_falls_back_to_cpu(home: Path, monkeypatch: pytest.MonkeyPatch, eval_dir: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """A GPU is 'seen' but initialising on it fails (there is none here): CPU int8 with a warning."""
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    cfg = make_cfg(home, transcription__model="tiny.en", transcription__beam_size=2)
    tr = transcribe.transcriber_for(cfg)
    with caplog.at_level(logging.WARNING, logger="hushnote.daemon.speech.transcribe"):
        t = tr.transcribe_path(eval_dir / "speech" / JFK)
    assert (tr.device, tr.compute_type) == ("cpu", "int8")
    assert any("GPU initialisation failed" in r.getMessage() for r in caplog.records)
    assert "country" in t.text
    tr.unload()


def test_explicit_cuda_without_gpu_is_a_model_error(home: Path) -> None:
    cfg = make_cfg(home, transcription__model="tiny.en", transcription__device="cuda", transcription__beam_size=3)
    tr = transcribe.transcriber_for(cfg)
    with pytest.raises(ModelError, match="could not be loaded"):
        tr.model()


# ----------------------------------------------------------------------------- hushnote models

def test_list_models_default(home: Path) -> None:
    rows = models.list_models(make_cfg(home))
    by_name = {r.name: r for r in rows}
    assert set(by_name) == {"base", "tiny.en", "extractive"}
    assert by_name["base"].in_use and by_name["base"].checksum == models.VERIFIED
    assert by_name["base"].size_bytes == models.BASE_SIZE
    assert by_name["tiny.en"].checksum == models.VERIFIED and not by_name["tiny.en"].in_use
    assert "needs no model" in by_name["extractive"].describe()
    for r in rows:
        line = r.describe()
        assert "\n" not in line and line.startswith(r.name)
    json.dumps([r.as_dict() for r in rows])  # serialisable for --json
    assert "base (in use)" in by_name["base"].describe() and "verified" in by_name["base"].describe()


def test_list_models_with_gguf(home: Path, tmp_path: Path) -> None:
    gguf = tmp_path / "my-model.Q4_K_M.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * (3 * 1024 * 1024))
    rows = {r.name: r for r in models.list_models(make_cfg(home, drafting__model_path=str(gguf)))}
    row = rows["my-model.Q4_K_M.gguf"]
    assert row.size_bytes == gguf.stat().st_size and row.in_use
    assert "3 MB" in row.describe() and "note drafting" in row.describe()
    assert not rows["extractive"].in_use
    missing = {r.name: r for r in models.list_models(make_cfg(home, drafting__model_path=str(tmp_path / "x.gguf")))}
    assert missing["x.gguf"].checksum == models.MISSING


def test_cli_models_lists_them(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hushnote.daemon.cli import main as cli

    cfg_file = home / "config" / "hushnote.toml"
    cfg_file.write_text(f'[paths]\ndata = "{home / "data"}"\n')
    assert cli.main(["models", "--config", str(cfg_file)]) == 0
    out = capsys.readouterr().out
    assert "base" in out and "tiny.en" in out and "needs no model" in out
    assert cli.main(["models", "--json", "--config", str(cfg_file)]) == 0
    names = [r["name"] for r in json.loads(capsys.readouterr().out)]
    assert names[:2] == ["base", "tiny.en"]


def test_sha256_of_one_file_or_parts_in_order_cached_until_a_file_changes(tmp_path: Path) -> None:
    import hashlib

    a, b = tmp_path / "part1", tmp_path / "part2"
    a.write_bytes(b"A" * 3_000_000)
    b.write_bytes(b"B" * 10)
    assert models.sha256_file(a) == hashlib.sha256(a.read_bytes()).hexdigest()
    assert models.sha256_file(a, b) == hashlib.sha256(a.read_bytes() + b.read_bytes()).hexdigest()
    assert models.sha256_file(b, a) != models.sha256_file(a, b)  # order matters
    before = models.sha256_file(a, b)
    b.write_bytes(b"C" * 11)  # a new size: the cached digest no longer applies
    assert models.sha256_file(a, b) != before
    assert models.sha256_file(a, b) == hashlib.sha256(a.read_bytes() + b.read_bytes()).hexdigest()
