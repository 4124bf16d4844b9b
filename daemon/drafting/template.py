"""Note templates: TOML data files, built in (``templates/*.toml``) or the user's own
(``<config dir>/templates/NAME.toml``, which adds a template or overrides a built-in one of the same name).

A template lists its sections (key, title, guidance for the llm prompt, cue phrases and weights for the
extractive scorer, whose words usually belong there, a length budget) and what must not appear in a note.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hushnote.daemon.core.config import Config, config_dir
from hushnote.daemon.core.errors import InputError

BUILTIN_DIR = Path(__file__).resolve().parent / "templates"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")
_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
SPEAKERS = ("client", "clinician", "any")
KEEP_KINDS = ("medications", "safety_plan", "homework", "next_appointment")


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    guidance: str
    cues: tuple[tuple[str, float], ...]  # (phrase, weight); a trailing "*" matches any word ending
    speaker: str = "any"  # "client" | "clinician" | "any"
    max_sentences: int = 6
    max_words: int = 150
    keeps: tuple[str, ...] = ()  # must-keep kinds quoted here whatever the budget (see mustkeep.py)


@dataclass(frozen=True)
class Template:
    name: str  # file stem, lower case: "soap"
    title: str  # "SOAP"
    description: str
    sections: tuple[Section, ...]
    must_not_include: tuple[str, ...]
    source: str  # "built-in" or the user file's path

    def keys(self) -> list[str]:
        return [s.key for s in self.sections]


def user_dir() -> Path:
    return config_dir() / "templates"


def _files() -> dict[str, Path]:
    found = {p.stem.lower(): p for p in sorted(BUILTIN_DIR.glob("*.toml"))}
    udir = user_dir()
    if udir.is_dir():
        for p in sorted(udir.glob("*.toml")):
            found[p.stem.lower()] = p  # a user template overrides the built-in of the same name
    return found


def available_templates(cfg: Config | None = None) -> list[str]:
    """Names of every template that can be used: built-in ones and the user's own."""
    return sorted(n for n in _files() if _NAME_RE.match(n))


def load_template(name: str, cfg: Config | None = None) -> Template:
    """Load and validate template ``name``. Unknown name or a broken file -> ``InputError``."""
    wanted = name.strip().lower()
    files = _files()
    path = files.get(wanted)
    if path is None or not _NAME_RE.match(wanted):
        raise InputError(f"There is no note template called {name!r}.",
                         f"Available templates: {', '.join(available_templates(cfg))}. Your own go in "
                         f"{user_dir()}/NAME.toml.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"The template file {path} is not valid TOML: {exc}.",
                         "Fix the file or delete it.", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"The template file {path} cannot be read ({exc.__class__.__name__}).",
                         "Check the file.", path=str(path)) from None
    source = "built-in" if path.parent == BUILTIN_DIR else str(path)
    return parse_template(wanted, data, str(path), source)


def _problem(path: str, key: str, what: str) -> InputError:
    return InputError(f"The template file {path} has a problem at {key}: {what}.",
                      "Fix that line (see the built-in soap.toml for the format) or delete the file.", path=path)


def _text(d: dict[str, Any], key: str, where: str, path: str, *, required: bool = True, default: str = "") -> str:
    v = d.get(key, None)
    if v is None:
        if required:
            raise _problem(path, where + key, "is missing")
        return default
    if not isinstance(v, str) or (required and not v.strip()):
        raise _problem(path, where + key, f"must be non-empty text (got {v!r})")
    return v.strip()


def _int(d: dict[str, Any], key: str, where: str, path: str, default: int, lo: int, hi: int) -> int:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _problem(path, where + key, f"must be a whole number from {lo} to {hi} (got {v!r})")
    return v


def _keeps(raw: dict[str, Any], where: str, path: str) -> tuple[str, ...]:
    v = raw.get("keeps", [])
    if not isinstance(v, list) or not all(isinstance(x, str) and x in KEEP_KINDS for x in v):
        raise _problem(path, where + "keeps", f"must be a list of: {', '.join(KEEP_KINDS)} (got {v!r})")
    return tuple(v)


def parse_template(name: str, data: dict[str, Any], path: str, source: str) -> Template:
    """Validate parsed TOML; every problem names the file and the key."""
    known_top = {"name", "description", "must_not_include", "sections"}
    for k in data:
        if k not in known_top:
            raise _problem(path, k, f"unknown key (known: {', '.join(sorted(known_top))})")
    title = _text(data, "name", "", path)
    description = _text(data, "description", "", path, required=False)
    mni = data.get("must_not_include", [])
    if not isinstance(mni, list) or not all(isinstance(x, str) and x.strip() for x in mni):
        raise _problem(path, "must_not_include", "must be a list of non-empty text items")
    secs = data.get("sections")
    if not isinstance(secs, list) or not secs:
        raise _problem(path, "sections", "needs at least one [[sections]] table")
    sections: list[Section] = []
    seen: set[str] = set()
    known_sec = {"key", "title", "guidance", "speaker", "max_sentences", "max_words", "cues", "keeps"}
    for i, raw in enumerate(secs, start=1):
        where = f"sections[{i}]."
        if not isinstance(raw, dict):
            raise _problem(path, f"sections[{i}]", "must be a [[sections]] table")
        for k in raw:
            if k not in known_sec:
                raise _problem(path, where + k, f"unknown key (known: {', '.join(sorted(known_sec))})")
        key = _text(raw, "key", where, path)
        if not _KEY_RE.match(key):
            raise _problem(path, where + "key", f"must be lower-case letters, digits or _ (got {key!r})")
        if key in seen:
            raise _problem(path, where + "key", f"{key!r} is used by two sections")
        seen.add(key)
        speaker = _text(raw, "speaker", where, path, required=False, default="any")
        if speaker not in SPEAKERS:
            raise _problem(path, where + "speaker", f"must be one of {', '.join(SPEAKERS)} (got {speaker!r})")
        cues_raw = raw.get("cues", {})
        if not isinstance(cues_raw, dict):
            raise _problem(path, where + "cues", 'must be a table of "phrase" = weight')
        cues: list[tuple[str, float]] = []
        for phrase, w in cues_raw.items():
            if isinstance(w, bool) or not isinstance(w, int | float) or not 0 < w <= 10:
                raise _problem(path, f"{where}cues.{phrase}", f"weight must be a number above 0 and at most 10 (got {w!r})")
            if not phrase.strip() or not re.search(r"\w", phrase):
                raise _problem(path, f"{where}cues", f"cue phrase {phrase!r} has no words")
            cues.append((phrase.strip().lower(), float(w)))
        sections.append(Section(
            key=key,
            title=_text(raw, "title", where, path),
            guidance=_text(raw, "guidance", where, path),
            cues=tuple(cues),
            speaker=speaker,
            max_sentences=_int(raw, "max_sentences", where, path, 6, 1, 50),
            max_words=_int(raw, "max_words", where, path, 150, 10, 2000),
            keeps=_keeps(raw, where, path),
        ))
    return Template(name, title, description, tuple(sections), tuple(x.strip() for x in mni), source)
