"""Wait for a condition that another thread or process makes true (integration and e2e tiers)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(cond: Callable[[], Any], timeout: float = 60.0, step: float = 0.05) -> Any:
    """``cond()``'s first truthy value before ``timeout`` seconds, else its last value (falsy)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(step)
    return cond()


def wait_until(cond: Callable[[], Any], timeout: float = 5.0) -> None:
    """Like ``wait_for``, but fails the test when the condition is not met in time."""
    if not wait_for(cond, timeout, 0.02):
        raise AssertionError("condition not met in time")
