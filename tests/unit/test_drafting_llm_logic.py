"""The llm engine's windowing and merging, with a stand-in model object (no llama.cpp needed): a long
session is split into windows that together hold every word, and the drafts are merged without repeats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hushnote.daemon.core.datatypes import no_progress
from hushnote.daemon.drafting import llm
from hushnote.daemon.drafting.engine import finish
from hushnote.daemon.drafting.template import load_template

from tests.support.aci import long_session
from tests.support.config import llm_cfg


class WordModel:
    """Counts one token per whitespace-separated word; answers with the first words of each window."""

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.cut_merge = False

    def tokenize(self, data: bytes, add_bos: bool = False, special: bool = True) -> list[int]:
        return list(range(len(data.decode("utf-8").split())))

    def create_chat_completion(self, *, messages: list[dict[str, str]], response_format: dict[str, Any],
                               **_: Any) -> dict[str, Any]:
        user = messages[1]["content"]
        self.prompts.append(user)
        keys = list(response_format["schema"]["properties"])
        if user.startswith("Partial drafts"):
            merged = json.loads(user.split("\n", 1)[1])
            answer = {k: merged.get(k, [])[:3] for k in keys}
        else:
            first = user.splitlines()[1].split("] ", 1)[1]
            answer = {k: [first, first] if i == 0 else [] for i, k in enumerate(keys)}
        if self.cut_merge and user.startswith("Partial drafts"):
            return {"choices": [{"message": {"content": json.dumps(answer)[:20]}, "finish_reason": "length"}]}
        return {"choices": [{"message": {"content": json.dumps(answer)}, "finish_reason": "stop"}]}


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> WordModel:
    model = WordModel()
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(llm, "get_model", lambda cfg: model)
    return model


def test_long_session_is_windowed_never_truncated(fake: WordModel, eval_dir: Path, tmp_path: Path) -> None:
    t = long_session(eval_dir, tmp_path, 3)
    tpl = load_template("soap")
    res = llm.draft_sections(t, tpl, llm_cfg(tmp_path / "fake.gguf", 2048), no_progress)
    windows = [p for p in fake.prompts if p.startswith("Session transcript:")]
    assert res.strategy == f"map-reduce ({len(windows)} windows)" and len(windows) >= 3
    # every segment's words are in exactly one window, in order: nothing dropped, nothing repeated
    sent = " ".join(line.split("] ", 1)[1] for p in windows for line in p.splitlines()[1:])
    assert sent.split() == t.text.split()
    for p in windows:
        assert len(p.split()) + len(llm.system_prompt(tpl).split()) + 256 <= 2048
    assert res.model == "fake.gguf" and len(res.model_sha256) == 64


def test_merge_removes_repeats_and_falls_back_when_too_big(fake: WordModel, tmp_path: Path) -> None:
    tpl = load_template("dap")
    answers = [{"data": ["The client reported poor sleep.", "The client reported poor sleep!"], "plan": []},
               {"data": ["The client reported poor sleep."], "plan": ["Practice breathing daily."]}]
    merged = llm.merge_deterministic(answers, tpl)
    assert merged == {"data": ["The client reported poor sleep."], "assessment": [],
                      "plan": ["Practice breathing daily."]}
    got, raw = llm.reduce(answers, fake, tpl, n_ctx=100_000, max_tokens=256)
    assert raw and got["data"] == ["The client reported poor sleep."]  # the model merge pass ran
    got, raw = llm.reduce(answers, fake, tpl, n_ctx=300, max_tokens=256)
    assert raw == [] and got == merged  # did not fit: deterministic merge
    fake.cut_merge = True
    got, raw = llm.reduce(answers, fake, tpl, n_ctx=100_000, max_tokens=256)
    assert raw and got == merged  # the merge answer was cut off: deterministic merge, nothing lost


def test_model_sentences_are_grounded_and_risk_filtered_in_every_window(fake: WordModel, eval_dir: Path,
                                                                        tmp_path: Path) -> None:
    t = long_session(eval_dir, tmp_path, 2)
    tpl = load_template("soap")
    res = llm.draft_sections(t, tpl, llm_cfg(tmp_path / "fake.gguf", 1024), no_progress)
    note = finish(t, llm_cfg(tmp_path / "fake.gguf", 1024), tpl, res.sections, engine="llm")
    assert [s.key for s in note.sections] == tpl.keys()
    assert note.sections[0].sentences  # the (verbatim) window openings are kept ...
    assert all(not s.unverified for s in note.sections[0].sentences)  # ... and fully supported
