"""Helpers for the service run in the test's own process (``Service(cfg, ipc=False, inbox_opts=FAST_INBOX)``)."""

from __future__ import annotations

import json
from typing import Any

from hushnote.daemon.core.config import Config
from hushnote.daemon.privacy import audit

# The inbox takes a file in after a third of a second of quiet instead of two seconds.
FAST_INBOX = {"settle_s": 0.3, "settle_closed_s": 0.1, "poll_s": 0.05}


def audit_entries(cfg: Config) -> list[dict[str, Any]]:
    """Every entry of the audit log in ``cfg``'s data folder (none if there is no log yet)."""
    path = cfg.path("paths.data") / audit.FILENAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="ascii").splitlines()]


def audit_of(cfg: Config, event: str) -> list[dict[str, Any]]:
    """The data of each audit entry of kind ``event``, in order."""
    return [e["data"] for e in audit_entries(cfg) if e["event"] == event]
