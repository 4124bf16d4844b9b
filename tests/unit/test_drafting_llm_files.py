"""The llm engine's preconditions, without a model: llama-cpp-python is there, and a missing, foreign or cut
model file is refused with a ModelError before anything is loaded."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hushnote.daemon.core.errors import ModelError
from hushnote.daemon.drafting.engine import draft

from tests.support.aci import aci_transcript
from tests.support.config import llm_cfg

pytestmark = pytest.mark.llm


def test_llama_cpp_is_installed() -> None:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pytest.fail("llama-cpp-python is not installed: pip install 'hushnote[llm]'")


def test_missing_and_broken_model_files(tmp_path: Path, eval_dir: Path) -> None:
    t = aci_transcript(eval_dir, 4, tmp_path)
    with pytest.raises(ModelError, match="does not exist"):
        draft(t, llm_cfg(tmp_path / "nope.gguf"), template="soap", engine="llm")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"PK\x03\x04 not a model at all")
    with pytest.raises(ModelError, match="not a usable GGUF"):
        draft(t, llm_cfg(junk), template="soap", engine="auto")
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1, 5) + b"\x05\x00")
    with pytest.raises(ModelError, match="truncated"):
        draft(t, llm_cfg(cut), template="soap", engine="llm")
