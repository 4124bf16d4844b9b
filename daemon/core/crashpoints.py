"""Fault injection for the crash tests: ``HUSHNOTE_TEST_CRASH_AT=<name>`` makes the process die (like
kill -9) when it reaches ``crashpoint(<name>)``. Read once; unset in normal use, where this is a no-op."""

from __future__ import annotations

import os

_CRASH_AT = os.environ.get("HUSHNOTE_TEST_CRASH_AT", "")


def crashpoint(name: str) -> None:
    if _CRASH_AT and _CRASH_AT == name:
        os._exit(137)
