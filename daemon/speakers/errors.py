"""The one error speaker labelling raises: a plain-English sentence saying what, and what to do."""

from __future__ import annotations


class SpeakerError(Exception):
    """Speaker labelling or voice enrolment cannot go ahead; ``str()`` is one sentence plus a hint."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()
