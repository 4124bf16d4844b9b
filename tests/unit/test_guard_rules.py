"""The egress guard's rules, in this process without installing it: which hosts are loopback, which audit
events it would refuse (the installed guard is tested in subprocesses, in tests/integration/test_guard.py)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from hushnote.daemon.privacy import guard


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1", "localhost",
                                  "LOCALHOST", "localhost.", b"127.0.0.1", "::1%lo"])
def test_loopback_hosts(host: Any) -> None:
    assert guard.is_loopback_host(host)


@pytest.mark.parametrize("host", ["", "0.0.0.0", "::", "10.0.0.1", "192.168.1.1",  # noqa: S104 - refused
                                  "203.0.113.1", "8.8.8.8",
                                  "2001:db8::1", "example.com", "localhost.example.com", "127.1",
                                  "<broadcast>", None, 2130706433])
def test_non_loopback_hosts(host: Any) -> None:
    assert not guard.is_loopback_host(host)


def test_check_table() -> None:
    inet = socket.socket()
    unix = socket.socket(socket.AF_UNIX)
    try:
        assert guard.check("socket.connect", (inet, ("127.0.0.1", 80))) is None
        assert guard.check("socket.connect", (inet, ("203.0.113.1", 80)))
        assert guard.check("socket.connect", (unix, "/run/x.sock")) is None
        assert guard.check("socket.connect", (unix, b"\0abstract")) is None
        assert guard.check("socket.sendmsg", (inet, None)) is None
        assert guard.check("socket.bind", (inet, ("", 0)))
        assert guard.check("socket.getaddrinfo", (None, 80, 0, 0, 0)) is None
        assert guard.check("socket.getaddrinfo", ("203.0.113.1", 80, 0, 0, 0)) is None
        assert guard.check("socket.getaddrinfo", ("example.com", 80, 0, 0, 0))
        assert guard.check("socket.gethostbyname", ("localhost",)) is None
        assert guard.check("open", ("/etc/passwd", "r", 0)) is None
    finally:
        inet.close()
        unix.close()


def test_status_in_an_unguarded_process() -> None:
    st = guard.status()
    assert set(st) >= {"installed", "blocked"} and isinstance(st["blocked"], int)
