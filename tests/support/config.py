"""One settings factory for tests: the defaults, the three folders under a temporary root, then overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hushnote.daemon.core.config import Config, defaults

# The small real model and the settings that keep a test's transcription fast and a short clip draftable.
TINY = {"transcription__model": "tiny.en", "transcription__beam_size": 1, "drafting__min_words": 5}


def make_cfg(root: Path | None = None, **overrides: Any) -> Config:
    """Settings for a test: ``root``/Inbox, ``root``/Notes and ``root``/data (the default folders when ``root`` is
    None), then ``section__key=value`` overrides (``paths__data=…`` moves one folder). An unknown key is a
    ``KeyError``, as in ``Config.with_overrides``."""
    base = {} if root is None else {"paths__inbox": str(root / "Inbox"), "paths__notes": str(root / "Notes"),
                                    "paths__data": str(root / "data")}
    return defaults().with_overrides(**{**base, **overrides})


def llm_cfg(model_path: Path, n_ctx: int = 2048, **overrides: Any) -> Config:
    """Settings that draft with the GGUF model at ``model_path`` (short answers: 256 tokens)."""
    return make_cfg(drafting__model_path=str(model_path), drafting__n_ctx=n_ctx, drafting__max_tokens=256,
                    **overrides)


def recorder_cfg(root: Path, model: str = "tiny.en", **recording: Any) -> Config:
    """Settings for recording tests: English, ``model`` for the live transcript, ``recording.<key>`` overrides."""
    return make_cfg(root, transcription__model=model, transcription__language="en",
                    **{f"recording__{k}": v for k, v in recording.items()})


def write_toml(cfg: Config, path: Path,
               sections: tuple[str, ...] = ("paths", "transcription", "drafting", "storage", "notes", "retention")
               ) -> Path:
    """``cfg``'s ``sections`` as a settings file (for the CLI as a subprocess: ``--config path``)."""
    lines = []
    for sec, body in cfg.as_dict().items():
        if sec in sections:
            lines.append(f"[{sec}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in body.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
