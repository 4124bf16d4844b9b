"""Choosing where and how a model runs (device, compute type, threads), without loading one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hushnote.daemon.models import registry as models
from hushnote.daemon.speech import transcribe

from tests.support.config import make_cfg


def test_choose_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "cuda_device_count", lambda: 0)
    assert models.choose_device("auto", "auto") == ("cpu", "int8")
    assert models.choose_device("cpu", "float32") == ("cpu", "float32")
    monkeypatch.setattr(models, "cuda_device_count", lambda: 1)
    assert models.choose_device("auto", "auto") == ("cuda", "float16")
    assert models.choose_device("cpu", "auto") == ("cpu", "int8")


def test_threads_follow_config(home: Path) -> None:
    cfg = make_cfg(home, transcription__model="tiny.en")
    assert transcribe.transcriber_for(cfg).key.threads == (os.cpu_count() or 1)
    assert transcribe.transcriber_for(cfg.with_overrides(transcription__threads=1)).key.threads == 1
