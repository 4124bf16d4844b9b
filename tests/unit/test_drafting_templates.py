"""Templates: built-ins, a user's own in <config dir>/templates, validation errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hushnote.daemon.core.config import config_dir, defaults
from hushnote.daemon.core.errors import InputError, ModelError
from hushnote.daemon.drafting.engine import draft, resolve_engine
from hushnote.daemon.drafting.template import BUILTIN_DIR, available_templates, load_template
from hushnote.daemon.notes.notefile import render_note

from tests.support.aci import aci_transcript

CUSTOM = '''
name = "Brief"
description = "A two-part note"
must_not_include = ["speculation"]

[[sections]]
key = "concerns"
title = "Concerns raised"
guidance = "What the client said was worrying them."
speaker = "client"
max_sentences = 3
cues = { "worr*" = 2.0, "pain" = 2.0, "feel*" = 1.0, "i've been" = 1.0 }

[[sections]]
key = "next_steps"
title = "Next steps"
guidance = "What was agreed."
cues = { "plan" = 2.0, "follow up" = 2.0, "continue" = 1.5, "we'll" = 1.5, "going to" = 1.0 }
'''


def user_templates(home: Path) -> Path:
    d = config_dir() / "templates"
    assert str(d).startswith(str(home)), "the home fixture must isolate the config dir"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.mark.parametrize("name", ["soap", "dap", "birp", "girp", "pirp"])
def test_builtins_load_and_validate(name: str) -> None:
    tpl = load_template(name)
    assert tpl.source == "built-in" and tpl.sections and tpl.must_not_include
    assert all(s.guidance and s.cues for s in tpl.sections)


def test_unknown_template_lists_the_available_ones(home: Path) -> None:
    with pytest.raises(InputError) as err:
        load_template("sooap", defaults())
    msg = str(err.value)
    assert "sooap" in msg
    for name in ("soap", "dap", "birp", "girp", "pirp"):
        assert name in msg


def test_user_template_adds_one_and_the_engine_uses_it(home: Path, eval_dir: Path, tmp_path: Path) -> None:
    (user_templates(home) / "brief.toml").write_text(CUSTOM, encoding="utf-8")
    assert "brief" in available_templates(defaults())
    t = aci_transcript(eval_dir, 0, tmp_path)
    note = draft(t, defaults(), template="brief", engine="extractive")
    assert [s.key for s in note.sections] == ["concerns", "next_steps"]
    assert len(note.sections[0].sentences) <= 3
    text = render_note(note, t)
    assert "## Concerns raised" in text and "## Next steps" in text and "## Subjective" not in text


def test_user_template_overrides_a_builtin(home: Path, eval_dir: Path, tmp_path: Path) -> None:
    (user_templates(home) / "soap.toml").write_text(CUSTOM, encoding="utf-8")
    tpl = load_template("soap")
    assert tpl.source.endswith("soap.toml") and tpl.source != "built-in"
    assert tpl.keys() == ["concerns", "next_steps"]
    assert (BUILTIN_DIR / "soap.toml").exists()  # the built-in file itself is untouched


@pytest.mark.parametrize(("body", "where"), [
    (CUSTOM.replace('key = "concerns"', 'key = "Concerns!"'), "sections[1].key"),
    (CUSTOM.replace('"worr*" = 2.0', '"worr*" = "high"'), "sections[1].cues.worr*"),
    (CUSTOM.replace('speaker = "client"', 'speaker = "therapist"'), "sections[1].speaker"),
    (CUSTOM.replace('max_sentences = 3', 'max_sentences = 0'), "sections[1].max_sentences"),
    (CUSTOM.replace('title = "Next steps"\n', ''), "sections[2].title"),
    (CUSTOM.replace('key = "next_steps"', 'key = "concerns"'), "sections[2].key"),
    (CUSTOM.replace('name = "Brief"', 'name = "Brief"\ncolour = "blue"'), "colour"),
    ('name = "Empty"\n', "sections"),
    ("name = [unclosed", "not valid TOML"),
])
def test_broken_user_template_names_file_and_key(home: Path, body: str, where: str) -> None:
    path = user_templates(home) / "brief.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_template("brief")
    assert str(path) in str(err.value) and where in str(err.value)
    assert err.value.path == str(path)


def test_engine_choice() -> None:
    cfg = defaults()
    assert resolve_engine("auto", cfg) == "extractive"
    assert resolve_engine("auto", cfg.with_overrides(drafting__model_path="/x/model.gguf")) == "llm"
    with pytest.raises(ModelError):
        resolve_engine("llm", cfg)
    with pytest.raises(InputError):
        resolve_engine("gpt", cfg)
