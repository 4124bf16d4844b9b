"""Config: every key has a default, every error is reported at once with its key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hushnote.daemon.core import config
from hushnote.daemon.core.errors import ConfigError


def test_no_file_means_defaults(home: Path) -> None:
    cfg = config.load()
    assert cfg.source == "(defaults)"
    assert cfg["transcription.model"] == "base"
    assert cfg["drafting.engine"] == "auto"
    assert cfg["drafting.template"] == "soap"
    assert cfg.path("paths.notes") == home / "Hushnote" / "Notes"
    assert cfg.threads >= 1


def test_every_schema_key_has_a_valid_default() -> None:
    # validating a file that states every default explicitly must pass unchanged
    d = config.defaults().as_dict()
    again = config.validate(d, "x.toml")
    assert again.as_dict() == d


def test_all_errors_reported_at_once(tmp_path: Path) -> None:
    f = tmp_path / "config.toml"
    f.write_text(
        '[drafting]\nengine = "gpt"\nn_ctx = "big"\ncolour = 3\n'
        '[transcription]\ndevice = "tpu"\nlanguage = "English"\n'
        '[retention]\ntranscript_days = 0\n[nonsense]\nx = 1\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as exc:
        config.load(f)
    err = exc.value
    assert err.path == str(f)
    keys = [p.split(":")[0] for p in err.problems]
    assert keys == ["drafting.engine", "drafting.n_ctx", "drafting.colour", "transcription.device",
                    "transcription.language", "retention.transcript_days", "[nonsense]"]
    assert str(f) in str(err)


def test_bool_is_not_a_number(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        config.validate({"drafting": {"n_ctx": True}}, "x.toml")
    assert exc.value.problems == ["drafting.n_ctx: must be a whole number (got True)"]


def test_broken_toml_is_one_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[drafting\nengine=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(f)


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "nope.toml")


def test_env_var_names_the_file(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "env.toml"
    f.write_text('[drafting]\ntemplate = "dap"\n', encoding="utf-8")
    monkeypatch.setenv("HUSHNOTE_CONFIG", str(f))
    cfg = config.load()
    assert cfg["drafting.template"] == "dap"
    assert cfg.source == str(f)


def test_fractional_retention_and_keep(tmp_path: Path) -> None:
    cfg = config.validate({"retention": {"audio_days": 0.0001, "transcript_days": 2}}, "x")
    assert cfg["retention.audio_days"] == 0.0001
    assert cfg["retention.transcript_days"] == 2


def test_batch_size_is_a_setting_checked_like_the_others() -> None:
    assert config.defaults()["transcription.batch_size"] == 1
    with pytest.raises(config.ConfigError) as e:
        config.validate({"transcription": {"batch_size": 0}}, "t.toml")
    assert "transcription.batch_size: must be at least 1" in str(e.value)
