"""Errors a clinician can read: what went wrong, with which file, and what to do next.

Every failure that reaches the command line or the daemon's error reports is a ``HushnoteError``.
Its ``str()`` is one plain-English line; ``hint`` says what to do. No tracebacks unless ``--debug``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


class HushnoteError(Exception):
    """A failure explained in plain English. ``exit_code`` is what the CLI returns."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "", *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = path

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text += f" {self.hint}"
        return text


class ConfigError(HushnoteError):
    """The configuration file has one or more problems; ``problems`` lists all of them."""

    exit_code = 2

    def __init__(self, source: str, problems: list[str]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"The settings file {source} has {len(problems)} problem(s):\n{lines}",
            "Fix these lines (or delete the file to use the defaults) and try again.",
            path=source,
        )
        self.problems = problems


class InputError(HushnoteError):
    """The audio or transcript given to us cannot be used."""

    exit_code = 3


class TooLittleSpeech(HushnoteError):
    """The recording has no or too little speech to draft a note from. No note is written."""

    exit_code = 4


class ModelError(HushnoteError):
    """A model is missing, corrupt (checksum mismatch), or unsuitable."""

    exit_code = 5


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn an ``OSError`` raised while reading ``path`` into an ``InputError`` that says what to do::

        with reading(path):
            data = path.read_bytes()
    """
    try:
        yield
    except FileNotFoundError:
        raise InputError(f"{path} does not exist.", "Check the file name and try again.", path=str(path)) from None
    except PermissionError:
        raise InputError(f"{path} cannot be read (permission denied).",
                         "Check the file's permissions, or copy it somewhere you can read.", path=str(path)) from None
    except OSError as exc:
        raise InputError(f"{path} cannot be read ({exc.strerror or 'error'}).",
                         "Check the file and try again.", path=str(path)) from None
