"""Config: every key has a default, every error is reported at once with its key and the file."""

from __future__ import annotations

import subprocess
import sys
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


def _hushnote(*args: str, env_home: Path) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(env_home), "XDG_CONFIG_HOME": str(env_home / "config"), "PATH": "/usr/bin:/bin",
           "XDG_DATA_HOME": str(env_home / "data")}
    return subprocess.run([sys.executable, "-m", "hushnote.daemon.cli", *args], capture_output=True, text=True,
                          env=env, timeout=60, check=False)


def test_cli_config_show_and_path(home: Path) -> None:
    r = _hushnote("config", "path", env_home=home)
    assert r.returncode == 0
    assert r.stdout.strip() == str(home / "config" / "hushnote" / "config.toml")
    r = _hushnote("config", "show", env_home=home)
    assert r.returncode == 0
    assert 'model = "base"' in r.stdout and "[retention]" in r.stdout


def test_cli_broken_config_lists_every_error_without_traceback(home: Path) -> None:
    f = home / "config" / "hushnote" / "config.toml"
    f.parent.mkdir(parents=True)
    f.write_text('[drafting]\nengine = 1\ntemplate = 2\n', encoding="utf-8")
    r = _hushnote("config", "show", env_home=home)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "drafting.engine" in r.stderr and "drafting.template" in r.stderr
    assert str(f) in r.stderr
