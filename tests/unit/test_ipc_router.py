"""The server's op table: registration rules and argument checks, without a socket."""

from __future__ import annotations

import pytest
from hushnote.ipc.protocol import IpcError
from hushnote.ipc.server import Router


def test_router_registration_rules() -> None:
    r = Router()
    r.register("record.start", lambda device: {"ok": device}, params={"device": str})
    with pytest.raises(ValueError, match="already"):
        r.register("record.start", lambda: {})
    with pytest.raises(ValueError, match="server itself"):
        r.register("subscribe", lambda: {})
    with pytest.raises(ValueError, match="not a valid"):
        r.register("Record Start", lambda: {})
    assert r("record.start", {"device": "mic"}) == {"ok": "mic"}
    assert r.ops == ["record.start"]
    with pytest.raises(IpcError, match="needs the argument 'device'"):
        r("record.start", {})
