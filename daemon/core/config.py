"""Settings: a schema with a default for every key, loaded from TOML, validated all at once.

Where the file lives: ``--config FILE``, else ``$HUSHNOTE_CONFIG``, else
``<platformdirs user config dir>/hushnote/config.toml``. No file at all is fine: defaults apply.
A file with problems is rejected with *every* problem listed, each with its ``section.key``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from hushnote.daemon.core.errors import ConfigError

APP = "hushnote"

Validator = Callable[[Any], str | None]  # returns a problem description or None


@dataclass(frozen=True)
class Field:
    type: type | tuple[type, ...]
    default: Any  # a value, or a zero-argument callable evaluated when defaults are made (paths)
    help: str
    check: Validator | None = None

    def default_value(self) -> Any:
        if callable(self.default):
            return self.default()
        return list(self.default) if isinstance(self.default, list) else self.default  # a list is never shared


def _one_of(*choices: str) -> Validator:
    def check(v: Any) -> str | None:
        return None if v in choices else f"must be one of {', '.join(choices)} (got {v!r})"

    return check


def _at_least(lo: float) -> Validator:
    def check(v: Any) -> str | None:
        return None if v >= lo else f"must be at least {lo} (got {v!r})"

    return check


def _transcript_days(v: Any) -> str | None:
    if v == "keep" or (isinstance(v, int | float) and not isinstance(v, bool) and v > 0):
        return None
    return f'must be a number of days above 0, or "keep" (got {v!r})'


def _language(v: Any) -> str | None:
    if v == "auto" or (isinstance(v, str) and 2 <= len(v) <= 3 and v.isalpha() and v.islower()):
        return None
    return f'must be "auto" or a language code such as "en" or "de" (got {v!r})'


NAME_CHARS = frozenset(" -.'")
EXPORTS = ("srt", "vtt", "json")


def _role_names(v: Any) -> str | None:
    """Two distinct role names that a transcript line can carry (``Client: …``)."""
    if not isinstance(v, list) or len(v) != 2 or not all(isinstance(x, str) for x in v):
        return f'must be two names, the therapist\'s role first, e.g. ["Therapist", "Client"] (got {v!r})'
    for name in v:
        n = name.strip()
        if not n or len(n) > 30 or not n[0].isalpha() or not all(c.isalnum() or c in NAME_CHARS for c in n):
            return f"{name!r} is not a usable name: up to 30 letters, digits, spaces, - . or ', starting with a letter"
        if n.lower().startswith("speaker"):
            return f'{name!r} is reserved: "Speaker 1/2" is what lines say when the roles are not known'
    if v[0].strip().lower() == v[1].strip().lower():
        return f"the two names must differ (got {v!r})"
    return None


def _between(lo: int, hi: int) -> Validator:
    def check(v: Any) -> str | None:
        return None if lo <= v <= hi else f"must be from {lo} to {hi} (got {v!r})"

    return check


def _exports(v: Any) -> str | None:
    if isinstance(v, list) and all(x in EXPORTS for x in v):
        return None
    return f"must be a list of formats from {', '.join(EXPORTS)}, e.g. [\"srt\", \"json\"] (got {v!r})"


def _default_home(sub: str) -> Callable[[], str]:
    return lambda: str(Path.home() / "Hushnote" / sub)


NUMBER = (int, float)

# The schema: section -> key -> Field. Paths are strings here; ``Config.path()`` expands them.
SCHEMA: dict[str, dict[str, Field]] = {
    "paths": {
        "notes": Field(str, _default_home("Notes"), "where notes (and, until deleted, their audio) are written"),
        "inbox": Field(str, _default_home("Inbox"), "folder the service watches for audio files"),
        "data": Field(str, lambda: platformdirs.user_data_dir(APP), "queue, audio store and assembled models"),
    },
    "transcription": {
        "model": Field(str, "base", '"base", "tiny.en", or the path to a CTranslate2 Whisper folder'),
        "device": Field(str, "auto", "auto (GPU when it works, else CPU), cpu or cuda", _one_of("auto", "cpu", "cuda")),
        "compute_type": Field(str, "auto", "auto (int8 on CPU, float16 on GPU), or a CTranslate2 compute type",
                              _one_of("auto", "int8", "int8_float16", "int8_float32", "float16", "float32", "bfloat16")),
        "language": Field(str, "auto", 'spoken language: "auto" or a code such as "en"', _language),
        "beam_size": Field(int, 5, "beam search width (1 = fastest)", _at_least(1)),
        "batch_size": Field(int, 1, "speech pieces decoded together (1 = one at a time, with fallbacks; "
                            "8 with beam_size 1 = fastest, but one timestamp per up to 30 s)",
                            _at_least(1)),
        "threads": Field(int, 0, "CPU threads for speech recognition (0 = all cores)", _at_least(0)),
    },
    "drafting": {
        "engine": Field(str, "auto", "auto (llm when model_path is set, else extractive), extractive or llm",
                        _one_of("auto", "extractive", "llm")),
        "model_path": Field(str, "", "path to an instruction-tuned GGUF model for the llm engine"),
        "chat_format": Field(str, "", "llama.cpp chat format for a GGUF that has no chat template (e.g. chatml)"),
        "template": Field(str, "soap", "note template: soap, dap, birp, girp, pirp or one of your own"),
        "n_ctx": Field(int, 4096, "llm context window in tokens", _at_least(512)),
        "threads": Field(int, 0, "CPU threads for the llm (0 = all cores)", _at_least(0)),
        "max_tokens": Field(int, 768, "longest llm answer, in tokens", _at_least(64)),
        "min_words": Field(int, 25, "fewer transcribed words than this: no note is drafted", _at_least(1)),
        "support_threshold": Field(NUMBER, 0.5, "note sentences with less transcript support are marked [unverified]"),
        "quotes": Field(str, "clean", 'extractive quotes: "clean" (clean verbatim: no um/uh, stutters or '
                        'repeated words; only words that were said) or "verbatim" (exactly as transcribed)',
                        _one_of("clean", "verbatim")),
    },
    "models": {
        "idle_unload_s": Field(NUMBER, 300, "unload models after this many idle seconds (service)", _at_least(0)),
    },
    "worker": {
        "count": Field(int, 2, "recordings processed at once by the service (each in its own model process, "
                       "with an equal share of the cores; 1 = less memory)", _at_least(1)),
    },
    "recording": {
        "device": Field((str, int), "", 'input device: "" = the system default, a number = device index, '
                        'text = part of the device name'),
        "require_consent": Field(bool, True, "refuse to start recording until the client's consent is confirmed"),
        "no_signal_warning_s": Field(NUMBER, 60, "warn after this many seconds without any input signal",
                                     _at_least(5)),
        "chunk_s": Field(NUMBER, 3, "seconds of audio per chunk written to disk (at most this much is lost "
                         "in a power cut)", _at_least(0.5)),
        "live_transcription": Field(bool, True, "transcribe while recording, so the note is ready soon after Stop"),
        "live_window_s": Field(NUMBER, 25, "longest live-transcription window in seconds", _at_least(5)),
        "system_audio": Field(bool, False, "also record the computer's sound output (the client in a video call) "
                              "as a second channel: left = microphone (therapist), right = computer audio "
                              "(client); Linux only for now"),
        "system_audio_device": Field(str, "", 'the output to record with system_audio: "" = the default output, '
                                     "text = part of its name (hushnote devices lists them)"),
    },
    "inbox": {
        "consent_covered": Field(bool, True, "files put in the inbox are covered by the practice's consent "
                                 "paperwork; false = inbox files are held with an error report instead"),
    },
    "storage": {
        "encrypt_audio": Field(bool, True, "encrypt audio and transcripts kept in the data folder"),
        "passphrase": Field(bool, False, "protect the master key with a passphrase (asked for at start)"),
    },
    "notes": {
        "encrypt": Field(bool, False, "keep notes encrypted too (read them with `hushnote open NOTE`)"),
        "export": Field(list, [], 'transcript exports written beside each note: any of "srt", "vtt", "json" '
                        "(<stem>.transcript.srt etc.); not written while encrypt is on, since they are "
                        "copies for other programs and are never encrypted", _exports),
    },
    "speakers": {
        "enabled": Field(bool, True, "say who spoke on every transcript line (false: no labels, e.g. for dictation)"),
        "labels": Field(list, ["Therapist", "Client"], "role names: the therapist's first (the enrolled voice, or the "
                        "left/microphone channel), the client's second; used only when the roles are known, "
                        'otherwise lines say "Speaker 1" / "Speaker 2"', _role_names),
        "count": Field(int, 2, "how many people to tell apart: 2 (a session), 3 (couples or family sessions), "
                       "1 (only one person: no labels)", _between(1, 3)),
    },
    "guard": {
        "enabled": Field(bool, True, "refuse every network connection except this computer's own (loopback)"),
    },
    "retention": {
        "audio_days": Field(NUMBER, 3, "delete audio this many days after its note is written", _at_least(0)),
        "transcript_days": Field((str, int, float), "keep", 'delete transcripts after N days, or "keep"', _transcript_days),
        "max_audio_days": Field(NUMBER, 30, "delete audio of failed jobs after this many days", _at_least(0)),
        "sweep_interval_s": Field(NUMBER, 600, "the retention sweep also runs this often (a safety net: it "
                                  "runs when the next file falls due, and after the computer wakes)", _at_least(1)),
        "after_sign": Field(str, "delete", '"delete": crypto-shred a session\'s audio as soon as its note is '
                            'signed (`hushnote sign`); "keep": leave it to retention.audio_days',
                            _one_of("delete", "keep")),
    },
}


def _type_name(t: type | tuple[type, ...]) -> str:
    names = {str: "text", int: "a whole number", float: "a number", bool: "true/false", list: "a list"}
    if isinstance(t, tuple):
        return " or ".join(names.get(x, x.__name__) for x in t if x is not float or int not in t)
    return names.get(t, t.__name__)


class Config:
    """Effective settings. Read with ``cfg["drafting.engine"]``; paths with ``cfg.path("paths.notes")``."""

    def __init__(self, values: Mapping[str, Any], source: str) -> None:
        self._values = dict(values)
        self.source = source  # the file read, or "(defaults)"

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def path(self, key: str) -> Path:
        return Path(os.path.expandvars(os.path.expanduser(str(self._values[key]))))

    def with_overrides(self, **overrides: Any) -> Config:
        """A copy with ``section__key=value`` overrides (e.g. ``drafting__engine="llm"``)."""
        vals = dict(self._values)
        for k, v in overrides.items():
            key = k.replace("__", ".")
            if key not in vals:
                raise KeyError(key)
            vals[key] = v
        return Config(vals, self.source)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for key, value in self._values.items():
            section, name = key.split(".", 1)
            out.setdefault(section, {})[name] = value
        return out

    @property
    def threads(self) -> int:
        return int(self["transcription.threads"]) or (os.cpu_count() or 1)

    @property
    def llm_threads(self) -> int:
        return int(self["drafting.threads"]) or (os.cpu_count() or 1)


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def config_dir() -> Path:
    return default_config_path().parent


def resolve_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("HUSHNOTE_CONFIG")
    if env:
        return Path(env)
    return default_config_path()


def defaults() -> Config:
    return Config({f"{s}.{k}": f.default_value() for s, keys in SCHEMA.items() for k, f in keys.items()}, "(defaults)")


def validate(data: Mapping[str, Any], source: str) -> Config:
    """Check ``data`` (parsed TOML) against the schema; raise ``ConfigError`` listing every problem."""
    problems: list[str] = []
    values = dict(defaults()._values)
    for section, body in data.items():
        if section not in SCHEMA:
            problems.append(f"[{section}]: unknown section (known: {', '.join(SCHEMA)})")
            continue
        if not isinstance(body, dict):
            problems.append(f"{section}: must be a [{section}] table")
            continue
        for key, value in body.items():
            name = f"{section}.{key}"
            field = SCHEMA[section].get(key)
            if field is None:
                problems.append(f"{name}: unknown setting (known in [{section}]: {', '.join(SCHEMA[section])})")
                continue
            types = field.type if isinstance(field.type, tuple) else (field.type,)
            if isinstance(value, bool) and bool not in types or not isinstance(value, types):
                problems.append(f"{name}: must be {_type_name(field.type)} (got {value!r})")
                continue
            if field.check and (why := field.check(value)):
                problems.append(f"{name}: {why}")
                continue
            values[name] = value
    if problems:
        raise ConfigError(source, problems)
    return Config(values, source)


def load(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Load the effective config. A missing default file means defaults; a missing explicit file is an error."""
    path = resolve_config_path(explicit)
    named = bool(explicit or os.environ.get("HUSHNOTE_CONFIG"))
    if not path.exists():
        if named:
            raise ConfigError(str(path), ["the file does not exist"])
        return defaults()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot be read: {exc.__class__.__name__}"]) from None
    return validate(data, str(path))


def to_toml(cfg: Config) -> str:
    """Render the effective config as TOML, with each key's help as a comment."""
    lines: list[str] = [f"# effective hushnote settings (from {cfg.source})"]
    for section, keys in SCHEMA.items():
        lines.append(f"\n[{section}]")
        for key, field in keys.items():
            value = cfg[f"{section}.{key}"]
            lines.append(f"# {field.help}")
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'
