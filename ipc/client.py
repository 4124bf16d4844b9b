"""The CLI's and the tray's side of the IPC.

``IpcClient(path).call("retry", id="12")`` opens a connection, sends one request, waits (with a timeout)
for its reply and closes: no connection state to go stale between calls. Error replies raise ``IpcError``;
no service raises ``DaemonNotRunning`` (plain message, exit code 3).

``client.subscribe()`` keeps a connection open and yields ``Event``s; ``close()`` it (from any thread)
to stop.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from hushnote.daemon.core.errors import HushnoteError
from hushnote.ipc import protocol
from hushnote.ipc.protocol import MAX_REPLY, Event, IpcError, Reply, Request
from hushnote.ipc.transport import DaemonNotRunning, EndpointError, Transport, as_transport

__all__ = ["ConnectionLost", "DaemonNotRunning", "Event", "IpcClient", "IpcError", "ServiceTimeout",
           "Subscription"]

DEFAULT_TIMEOUT = 5.0


class ConnectionLost(HushnoteError):
    """The service closed the connection before answering (it stopped, or refused this connection)."""

    exit_code = 3

    def __init__(self) -> None:
        super().__init__("The hushnote service closed the connection before answering.",
                         "It may have just stopped: check with `hushnote status`.")


class ServiceTimeout(HushnoteError, TimeoutError):
    """The service did not answer in time."""

    exit_code = 3

    def __init__(self, seconds: float) -> None:
        super().__init__(f"The hushnote service did not answer within {seconds:g} seconds.",
                         "It may be busy; try again in a moment.")


class _Lines:
    """Reads newline-terminated lines from a socket, within a deadline and a size limit."""

    def __init__(self, sock: socket.socket, limit: int) -> None:
        self.sock = sock
        self.limit = limit
        self.buf = bytearray()

    def readline(self, deadline: float | None, timeout_for_message: float) -> bytes:
        tried = False
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 1]
                return line
            if len(self.buf) > self.limit:
                raise IpcError("too_large", "The service sent a message larger than this app accepts.")
            if deadline is None:
                self.sock.settimeout(None)
            else:
                left = deadline - time.monotonic()
                if left <= 0 and tried:
                    raise ServiceTimeout(timeout_for_message)
                self.sock.settimeout(max(left, 0.0))  # 0: one non-blocking look (``get(0)``)
            tried = True
            try:
                chunk = self.sock.recv(65536)
            except (TimeoutError, BlockingIOError):
                raise ServiceTimeout(timeout_for_message) from None
            except OSError:
                raise ConnectionLost() from None
            if not chunk:
                raise ConnectionLost()
            self.buf += chunk


class IpcClient:
    """Talk to the hushnote service at ``path`` (see ``ipc.paths.endpoint``) or over a ``Transport``."""

    def __init__(self, path: Path | Transport, *, timeout: float = DEFAULT_TIMEOUT,
                 max_reply: int = MAX_REPLY) -> None:
        self._transport = as_transport(path)
        self.timeout = timeout
        self._max_reply = max_reply
        self._ids = itertools.count(1)
        self._id_lock = threading.Lock()

    def _next_id(self) -> int:
        with self._id_lock:
            return next(self._ids)

    def _connect(self) -> socket.socket:
        try:
            return self._transport.connect(self.timeout)
        except (TimeoutError, BlockingIOError):
            raise ServiceTimeout(self.timeout) from None
        except PermissionError:
            raise EndpointError(f"This account may not reach the hushnote service at {self._transport.describe()}.",
                                "Is it running as another user?") from None

    def _request(self, sock: socket.socket, op: str, args: dict[str, Any], deadline: float,
                 lines: _Lines) -> dict[str, Any]:
        rid = self._next_id()
        data = protocol.encode_request(Request(rid, op, args))
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            sock.sendall(data)
        except TimeoutError:
            raise ServiceTimeout(self.timeout) from None
        except OSError:
            raise ConnectionLost() from None
        while True:
            msg = protocol.decode_message(lines.readline(deadline, self.timeout))
            if isinstance(msg, Reply) and msg.id in (rid, None):
                if msg.ok and msg.result is not None:
                    return msg.result
                raise msg.error or IpcError("internal", "The service sent an error without details.")
            # an event or a reply to something else: not ours, keep reading

    def call(self, op: str, /, **args: Any) -> dict[str, Any]:
        """Send ``op`` with ``args`` and return the result dict. Raises ``IpcError`` for an error reply,
        ``DaemonNotRunning``, ``ServiceTimeout`` or ``ConnectionLost``."""
        deadline = time.monotonic() + self.timeout
        sock = self._connect()
        try:
            return self._request(sock, op, args, deadline, _Lines(sock, self._max_reply))
        finally:
            sock.close()

    def ping(self) -> bool:
        """Is a service answering? Never raises for a missing or unresponsive service."""
        try:
            return bool(self.call("ping").get("pong"))
        except (DaemonNotRunning, ServiceTimeout, ConnectionLost, IpcError):
            return False

    def subscribe(self, *, timeout: float | None = None) -> Subscription:
        """Open an event stream. Iterating raises ``ServiceTimeout`` if ``timeout`` seconds pass without an
        event (None: wait indefinitely) and ends when the service or ``close()`` ends the stream."""
        sock = self._connect()
        lines = _Lines(sock, self._max_reply)
        try:
            self._request(sock, "subscribe", {}, time.monotonic() + self.timeout, lines)
        except BaseException:
            sock.close()
            raise
        return Subscription(sock, lines, timeout)


class Subscription:
    """Server-pushed events. Iterate, or ``get(timeout)``; ``close()`` may be called from another thread."""

    def __init__(self, sock: socket.socket, lines: _Lines, timeout: float | None) -> None:
        self._sock = sock
        self._lines = lines
        self.timeout = timeout
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event; None if none arrived within ``timeout`` seconds. Raises ``ConnectionLost`` once
        the stream has ended (service gone, or closed here)."""
        if self.closed:
            raise ConnectionLost()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                line = self._lines.readline(deadline, timeout or 0.0)
            except ServiceTimeout:
                return None
            except (ConnectionLost, OSError):
                self.close()
                raise ConnectionLost() from None
            try:
                msg = protocol.decode_message(line)
            except IpcError:
                continue  # a line this version cannot read: skip it rather than drop the stream
            if isinstance(msg, Event):
                return msg

    def __iter__(self) -> Iterator[Event]:
        while True:
            try:
                event = self.get(self.timeout)
            except ConnectionLost:
                return
            if event is None:
                raise ServiceTimeout(self.timeout or 0.0)
            yield event

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a recv blocked in another thread
        self._sock.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
