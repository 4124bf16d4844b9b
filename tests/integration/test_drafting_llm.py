"""The llm engine with a real GGUF model (SmolLM2-135M-Instruct): mechanics, not clinical quality.

SmolLM2-135M is far too small to write a real note. These tests check that every template section comes
back, that the grammar holds (each answer is JSON matching the schema), that a long session is drafted
by map-reduce instead of being cut, that the note's sentences are grounded, and that unusable model files
are refused with a ModelError.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hushnote.daemon.core.datatypes import Note, Transcript
from hushnote.daemon.core.errors import ModelError
from hushnote.daemon.drafting import llm
from hushnote.daemon.drafting.engine import draft
from hushnote.daemon.drafting.gguf_meta import read_header
from hushnote.daemon.drafting.template import Template, load_template
from hushnote.daemon.notes.notefile import render_note

from tests.support.aci import aci_transcript, long_session
from tests.support.config import llm_cfg

SMOLLM_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

pytestmark = pytest.mark.llm


def check_schema(raw: str, tpl: Template) -> None:
    """The answer is JSON, an object with exactly the template's keys (a drafting pass also has the risk
    candidates' key), each a list of strings."""
    data = json.loads(raw)
    schema = llm.schema(tpl, review=llm.REVIEW_KEY in data)
    assert isinstance(data, dict) and set(data) - {llm.REVIEW_KEY} == set(tpl.keys())
    for key, items in data.items():
        assert isinstance(items, list) and all(isinstance(x, str) for x in items)
        assert len(items) <= schema["properties"][key]["maxItems"]


def independent_flags_hold(note: Note, t: Transcript) -> None:
    """Cross-check grounding with a simpler rule: digits or mostly-unknown words must be flagged."""
    words = set(re.findall(r"[a-z0-9]+", t.text.lower()))
    prefixes = {w[:5] for w in words}
    for sec in note.sections:
        for s in sec.sentences:
            claim = re.sub(r"\[(?:line \d+|\d\d:\d\d:\d\d)\]", "", s.text)  # a quote's stamp is not a claim
            # nor is its attribution (`Patient stated: "…"`, `Therapist: "…"`, `Stated in session: "…"`)
            claim = re.sub(r'^(?:[A-Z][\w ]{0,30}? stated|Stated in session|[A-Z]\w*(?: \d)?): (?=")', "", claim)
            digits = re.findall(r"\d+", claim)
            if any(d not in words for d in digits):
                assert s.unverified, s.text
            long_words = [w for w in re.findall(r"[a-z]+", claim.lower()) if len(w) > 4]
            unknown = [w for w in long_words if w[:5] not in prefixes]
            if long_words and len(unknown) * 2 > len(long_words):
                assert s.unverified, s.text


@pytest.fixture(scope="module")
def single(eval_dir: Path, smollm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[Transcript, Note, list[str]]]:
    t = aci_transcript(eval_dir, 4, tmp_path_factory.mktemp("single"))  # ~630 words: fits 2048 tokens
    tpl = load_template("soap")
    raws: list[str] = []
    real = llm.draft_sections

    def spy(*a: Any, **k: Any) -> llm.LlmResult:
        res = real(*a, **k)
        raws.extend(res.raw_answers)
        return res

    llm.draft_sections = spy  # type: ignore[assignment]
    try:
        note = draft(t, llm_cfg(smollm_path), template=tpl.name, engine="auto")
    finally:
        llm.draft_sections = real  # type: ignore[assignment]
    yield t, note, raws
    llm.unload()


def test_single_window_note(single: tuple[Transcript, Note, list[str]], smollm_path: Path) -> None:
    t, note, raws = single
    tpl = load_template("soap")
    assert note.engine == "llm" and note.strategy == "single"
    assert note.model == smollm_path.name and note.model_sha256 == SMOLLM_SHA256
    assert [s.key for s in note.sections] == tpl.keys()
    assert len(raws) == 1
    check_schema(raws[0], tpl)
    text = render_note(note, t)
    for sec in tpl.sections:
        assert f"## {sec.title}" in text
    assert '"b179c9523d0e"' in text


def test_real_model_output_is_grounded(single: tuple[Transcript, Note, list[str]]) -> None:
    t, note, _ = single
    independent_flags_hold(note, t)
    for sec in note.sections:
        for s in sec.sentences:
            assert 0.0 <= s.support <= 1.0
            assert s.unverified == bool(s.reasons)


def test_long_session_map_reduce(eval_dir: Path, smollm_path: Path, tmp_path: Path) -> None:
    t = long_session(eval_dir, tmp_path, 0, indices=[4, 8])  # ~1,600 words: more than one 2048-token window
    tpl = load_template("birp")
    res = llm.draft_sections(t, tpl, llm_cfg(smollm_path))
    try:
        m = re.fullmatch(r"map-reduce \((\d+) windows\)", res.strategy)
        assert m and int(m.group(1)) >= 2, res.strategy
        assert len(res.raw_answers) in (int(m.group(1)), int(m.group(1)) + 1)  # + the merge pass if it fit
        for raw in res.raw_answers:
            check_schema(raw, tpl)
        assert [s.key for s in res.sections] == tpl.keys()
    finally:
        llm.unload()
    assert not llm.loaded()


def strip_gguf_key(src: Path, dst: Path, key: str) -> None:
    """Write a copy of GGUF ``src`` without metadata ``key``: header rewritten, tensor data re-aligned."""
    head = read_header(src)
    assert key in head.kv_spans
    alignment = int(head.kv.get("general.alignment", 32))
    with src.open("rb") as f:
        raw_kv = f.read(head.kv_end)[head.kv_start:]
        f.seek(head.kv_end)
        for _ in range(head.tensor_count):  # tensor infos: name, n_dims, dims, type, offset
            (n,) = struct.unpack("<Q", f.read(8))
            f.seek(n, 1)
            (dims,) = struct.unpack("<I", f.read(4))
            f.seek(8 * dims + 4 + 8, 1)
        infos_end = f.tell()
        f.seek(head.kv_end)
        infos = f.read(infos_end - head.kv_end)
        data_start = -(-infos_end // alignment) * alignment
        a, b = head.kv_spans[key]
        kept_kv = raw_kv[: a - head.kv_start] + raw_kv[b - head.kv_start:]
        header = b"GGUF" + struct.pack("<IQQ", head.version, head.tensor_count, len(head.kv) - 1)
        body = header + kept_kv + infos
        with dst.open("wb") as out:
            out.write(body + b"\0" * (-len(body) % alignment))
            f.seek(data_start)
            shutil.copyfileobj(f, out, 1 << 20)


@pytest.fixture(scope="module")
def no_template_gguf(smollm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("gguf") / "no-template.gguf"
    strip_gguf_key(smollm_path, dst, "tokenizer.chat_template")
    head = read_header(dst)
    assert "tokenizer.chat_template" not in head.kv and "tokenizer.ggml.tokens" in head.kv
    return dst


def test_gguf_without_chat_template_is_refused(no_template_gguf: Path, eval_dir: Path, tmp_path: Path) -> None:
    t = aci_transcript(eval_dir, 4, tmp_path)
    with pytest.raises(ModelError, match="no chat template") as err:
        draft(t, llm_cfg(no_template_gguf), template="soap", engine="llm")
    assert "drafting.chat_format" in str(err.value)
    assert not llm.loaded()


def test_gguf_without_chat_template_loads_with_explicit_chat_format(no_template_gguf: Path) -> None:
    cfg = llm_cfg(no_template_gguf, drafting__chat_format="chatml")
    try:
        model = llm.get_model(cfg)  # the rewritten file is a real, loadable model
        assert "tokenizer.chat_template" not in model.metadata
        assert llm.get_model(cfg) is model  # cached
    finally:
        llm.unload()
    assert not llm.loaded()
