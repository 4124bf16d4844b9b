"""The service's start and close: a failure half-way through start closes what was started (in reverse),
releases the instance lock and leaves no thread running. Real parts (store, workers, inbox, retention)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hushnote.daemon.service.service import Service

from tests.support.config import make_cfg
from tests.support.service import audit_entries


def test_a_failure_half_way_through_start_unwinds_what_was_started(home: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_cfg(home)
    started: list[str] = []

    def boom(self: Service) -> None:
        started.extend(p for p in ("store", "scheduler", "recording", "workers", "retention", "watcher")
                       if getattr(self, p))
        raise OSError("the socket could not be made")

    svc = Service(cfg)
    with monkeypatch.context() as m, pytest.raises(OSError):
        m.setattr(Service, "_start_ipc", boom)
        svc.start()
    assert started == ["store", "scheduler", "recording", "workers", "retention", "watcher"]  # all running
    assert all(getattr(svc, p) is None for p in ("store", "scheduler", "recording", "recorder", "workers",
                                                   "retention", "watcher", "server"))
    events = [e["event"] for e in audit_entries(cfg)]
    assert events[0] == "service.start" and events[-1] == "service.stop", events
    with Service(cfg, ipc=False) as again:  # the instance lock was released
        assert again.store is not None
    # (the autouse fixture fails this test if any thread of the failed start is still running)
