"""The daemon's side of the IPC: one listener thread multiplexing every connection with ``selectors``.

Usage (the daemon)::

    router = Router()
    router.register("status", service.status)          # fn(**args) -> dict
    router.register("retry", service.retry)            # args checked against protocol.OPS["retry"]
    with IpcServer(endpoint(cfg), router) as server:
        ...
        server.publish("job.progress", {"id": "12", "stage": "transcribe", "fraction": 0.4})

The handler runs on the listener thread, so it must be quick (read state, flip a flag, enqueue work);
anything slow belongs in the daemon's workers. ``publish`` may be called from any thread and never blocks:
a subscriber that stops reading is dropped once its backlog passes ``max_backlog``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from hushnote.daemon.core.threads import BackgroundThread, where
from hushnote.ipc import protocol
from hushnote.ipc.protocol import MAX_MESSAGE, OPS, SERVER_OPS, IpcError, RequestId, check_args
from hushnote.ipc.transport import Transport, as_transport

log = logging.getLogger("hushnote.ipc")

Handler = Callable[[str, dict[str, Any]], dict[str, Any]]
PeerCheck = Callable[[socket.socket], bool]

_INTERNAL = ("The hushnote service hit an unexpected problem with this request. It is still running; "
             "the details are in its log.")
_LISTENER = object()
_WAKER = object()


class Router:
    """A handler that dispatches ``op`` to a registered function, checking arguments first.

    ``register("retry", fn)`` takes the argument types from ``protocol.OPS``; ops not listed there
    (e.g. the recorder's ``record.start``) pass ``params``/``optional`` explicitly. ``fn(**args)`` must
    return a JSON-safe dict, or raise ``IpcError``.
    """

    def __init__(self) -> None:
        self._routes: dict[str, tuple[Callable[..., dict[str, Any]], dict[str, protocol.ArgSpec],
                                      dict[str, protocol.ArgSpec]]] = {}

    def register(self, op: str, fn: Callable[..., dict[str, Any]], *,
                 params: dict[str, protocol.ArgSpec] | None = None,
                 optional: dict[str, protocol.ArgSpec] | None = None) -> None:
        if not protocol.valid_name(op):
            raise ValueError(f"{op!r} is not a valid op name (dotted lower-case words)")
        if op in SERVER_OPS:
            raise ValueError(f"{op!r} is handled by the IPC server itself")
        if op in self._routes:
            raise ValueError(f"{op!r} is already registered")
        if params is None and optional is None:
            params, optional = OPS.get(op, ({}, {}))
        self._routes[op] = (fn, dict(params or {}), dict(optional or {}))

    @property
    def ops(self) -> list[str]:
        return sorted(self._routes)

    def __call__(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        route = self._routes.get(op)
        if route is None:
            raise IpcError("unknown_op", f"The hushnote service does not offer '{op}'. "
                           "It may be older than this app: update it and restart it.")
        fn, required, optional = route
        check_args(op, args, required, optional)
        return fn(**args)


class _Conn:
    __slots__ = ("sock", "inbuf", "outbuf", "authed", "subscribed", "eof", "closing", "dead", "last", "mask")

    def __init__(self, sock: socket.socket, authed: bool, now: float) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.authed = authed
        self.subscribed = False
        self.eof = False  # the peer will send nothing more
        self.closing = False  # close once outbuf is flushed; read nothing more
        self.dead = False  # close now
        self.last = now
        self.mask = selectors.EVENT_READ


class IpcServer:
    """Serve ``handler`` at ``path`` (a Unix socket path, or on Windows a token file) or a ``Transport``."""

    def __init__(self, path: Path | Transport, handler: Handler, *, max_message: int = MAX_MESSAGE,
                 peer_check: PeerCheck | None = None, max_clients: int = 64, max_backlog: int = 1 << 20,
                 idle_timeout: float = 60.0, hello_timeout: float = 5.0) -> None:
        self._transport = as_transport(path)
        self._handler = handler
        self._max_message = max_message
        self._peer_check = peer_check
        self._max_clients = max_clients
        self._max_backlog = max_backlog
        self._idle_timeout = idle_timeout
        self._hello_timeout = hello_timeout
        self._lock = threading.Lock()  # guards _conns and every conn's outbuf/subscribed/dead
        self._conns: dict[int, _Conn] = {}
        self._stopping = threading.Event()
        self._loop: BackgroundThread | None = None
        self._listener: socket.socket | None = None
        self._sel: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._closed = False

    # ------------------------------------------------------------------------- lifecycle

    @property
    def transport(self) -> Transport:
        return self._transport

    @property
    def address(self) -> str:
        return self._transport.describe()

    def start(self) -> IpcServer:
        """Bind (raising ``AlreadyRunning`` / ``EndpointError`` here, in the caller's thread) and serve."""
        if self._loop is not None or self._closed:
            raise RuntimeError("an IpcServer can be started once")
        listener = self._transport.listen()
        try:
            listener.setblocking(False)
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
            self._sel = selectors.DefaultSelector()
            self._sel.register(listener, selectors.EVENT_READ, _LISTENER)
            self._sel.register(self._wake_r, selectors.EVENT_READ, _WAKER)
        except BaseException:
            listener.close()
            self._transport.cleanup()
            raise
        self._listener = listener
        self._loop = BackgroundThread("hushnote-ipc", functools.partial(self._run, self._sel, listener, self._wake_r),
                                      wake=self._wake, stopping=self._stopping, join_timeout=10.0).start()
        log.info("IPC listening at %s", self.address)
        return self

    def close(self) -> None:
        """Stop serving: close every connection, join the thread, remove the endpoint. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._loop is not None and not self._loop.close():
            log.warning("IPC thread did not stop within 10 s (a handler is stuck)")
        for s in (self._listener, self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        if self._sel is not None:
            self._sel.close()
        if self._listener is not None:
            self._transport.cleanup()

    def __enter__(self) -> IpcServer:
        if self._loop is None:
            self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------------- publishing (any thread)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return sum(1 for c in self._conns.values() if c.subscribed and not c.dead)

    def publish(self, event: str, data: dict[str, Any]) -> int:
        """Queue an event for every subscriber; returns how many got it. Never blocks, never raises."""
        try:
            line = protocol.encode_event(event, data)
        except (TypeError, ValueError) as exc:
            log.warning("event not sent: it cannot be encoded (%s)", exc.__class__.__name__)
            return 0
        sent = 0
        with self._lock:
            for conn in self._conns.values():
                if not conn.subscribed or conn.dead or conn.closing:
                    continue
                if len(conn.outbuf) + len(line) > self._max_backlog:
                    conn.dead = True
                    log.info("dropped an event subscriber that stopped reading")
                    continue
                conn.outbuf += line
                sent += 1
        self._wake()
        return sent

    def _wake(self) -> None:
        w = self._wake_w
        if w is None:
            return
        try:
            w.send(b"\0")
        except OSError:
            pass  # buffer full (a wake-up is already pending) or closed

    # ------------------------------------------------------------------------- the loop (listener thread)

    def _run(self, sel: selectors.BaseSelector, listener: socket.socket, wake_r: socket.socket) -> None:
        try:
            while not self._stopping.is_set():
                for key, mask in sel.select(timeout=0.5):
                    if key.data is _LISTENER:
                        self._accept(sel, listener)
                    elif key.data is _WAKER:
                        self._drain_wake(wake_r)
                    else:
                        conn: _Conn = key.data
                        try:
                            if mask & selectors.EVENT_READ and not conn.dead:
                                self._read(conn)
                            if mask & selectors.EVENT_WRITE and not conn.dead:
                                self._flush(conn)
                        except Exception as exc:  # noqa: BLE001 - one connection never takes the server down
                            log.error("IPC connection failed: %s at %s", exc.__class__.__name__, where(exc))
                            conn.dead = True
                self._tidy(sel)
        except Exception as exc:  # noqa: BLE001 - logged; close() still cleans up
            log.error("IPC loop stopped: %s at %s", exc.__class__.__name__, where(exc))
        finally:
            with self._lock:
                conns = list(self._conns.values())
                self._conns.clear()
            for conn in conns:
                if conn.outbuf and not conn.dead:  # best effort: what fits in the socket now, no waiting
                    with contextlib.suppress(OSError):
                        conn.sock.send(conn.outbuf)
                self._unregister(conn)

    @staticmethod
    def _drain_wake(wake_r: socket.socket) -> None:
        try:
            while wake_r.recv(4096):
                pass
        except OSError:
            pass

    def _accept(self, sel: selectors.BaseSelector, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # e.g. out of file descriptors: back off instead of spinning
            log.warning("IPC accept failed: %s", exc.__class__.__name__)
            time.sleep(0.05)
            return
        if len(self._conns) >= self._max_clients:
            log.warning("IPC connection refused: %d clients already connected", len(self._conns))
            sock.close()
            return
        if self._peer_check is not None:
            try:
                allowed = bool(self._peer_check(sock))
            except Exception as exc:  # noqa: BLE001 - a failing check refuses, it does not crash
                log.warning("IPC peer check failed: %s", exc.__class__.__name__)
                allowed = False
            if not allowed:
                log.warning("IPC connection refused by the peer check")
                sock.close()
                return
        sock.setblocking(False)
        conn = _Conn(sock, authed=not self._transport.needs_hello, now=time.monotonic())
        with self._lock:
            self._conns[sock.fileno()] = conn
        sel.register(sock, selectors.EVENT_READ, conn)

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            conn.dead = True
            return
        if not data:  # the peer closed (or shut down writing): answer what it sent, then close
            conn.eof = True
            conn.closing = True
            conn.inbuf.clear()  # half a line is nothing to answer
            return
        conn.last = time.monotonic()
        conn.inbuf += data
        while not conn.closing and not conn.dead:
            limit = self._max_message if conn.authed else 1024
            i = conn.inbuf.find(b"\n")
            if i < 0:
                if len(conn.inbuf) > limit:
                    self._too_large(conn, limit)
                return
            if i > limit:
                self._too_large(conn, limit)
                return
            line = bytes(conn.inbuf[:i])
            del conn.inbuf[: i + 1]
            self._line(conn, line)

    def _too_large(self, conn: _Conn, limit: int) -> None:
        conn.inbuf.clear()
        self._send(conn, protocol.encode_error(None, "too_large", f"The message is larger than the limit of "
                                               f"{limit} bytes; the connection is closed."))
        conn.closing = True

    def _line(self, conn: _Conn, line: bytes) -> None:
        if not line.strip():
            return  # blank lines are allowed (handy with `nc`)
        if not conn.authed:
            if self._transport.check_hello(line):
                conn.authed = True
            else:
                log.warning("IPC connection refused: missing or wrong access token")
                self._send(conn, protocol.encode_error(
                    None, "bad_request", "This connection did not present the hushnote access token."))
                conn.closing = True
            return
        try:
            req = protocol.decode_request(line)
        except IpcError as exc:
            self._send(conn, protocol.encode_error(exc.request_id, exc.code, exc.message))
            return
        if req.op in SERVER_OPS:
            self._server_op(conn, req)
            return
        self._send(conn, self._dispatch(req.id, req.op, req.args))

    def _server_op(self, conn: _Conn, req: protocol.Request) -> None:
        try:
            check_args(req.op, req.args, *OPS[req.op])
        except IpcError as exc:
            self._send(conn, protocol.encode_error(req.id, exc.code, exc.message))
            return
        if req.op == "subscribe":
            with self._lock:  # the ack is queued before any event: both go through the lock
                self._send_locked(conn, protocol.encode_result(req.id, {"subscribed": True}))
                conn.subscribed = True
        else:  # ping
            self._send(conn, protocol.encode_result(req.id, {"pong": True, "v": protocol.PROTOCOL_VERSION}))

    def _dispatch(self, rid: RequestId, op: str, args: dict[str, Any]) -> bytes:
        try:
            result = self._handler(op, args)
            if not isinstance(result, dict):
                raise TypeError("the handler returned something other than a dict")
            return protocol.encode_result(rid, result)
        except IpcError as exc:
            log.debug("IPC %s answered %s", op, exc.code)
            return protocol.encode_error(rid, exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001 - any handler failure is an 'internal' reply, server keeps going
            log.error("IPC %s failed: %s at %s", op, exc.__class__.__name__, where(exc))
            return protocol.encode_error(rid, "internal", _INTERNAL)

    def _send(self, conn: _Conn, data: bytes) -> None:
        with self._lock:
            self._send_locked(conn, data)

    def _send_locked(self, conn: _Conn, data: bytes) -> None:
        # a client that sends requests but never reads the replies; one reply on its own may be larger than
        # the backlog (a long ``queue`` listing: the client accepts up to MAX_REPLY)
        if conn.outbuf and len(conn.outbuf) + len(data) > self._max_backlog:
            conn.dead = True
            return
        conn.outbuf += data

    def _flush(self, conn: _Conn) -> None:
        with self._lock:
            if not conn.outbuf:
                return
            try:
                n = conn.sock.send(conn.outbuf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                conn.dead = True
                return
            del conn.outbuf[:n]
        conn.last = time.monotonic()

    def _tidy(self, sel: selectors.BaseSelector) -> None:
        """Close finished/dead/idle connections and keep each one's selector interest up to date."""
        now = time.monotonic()
        with self._lock:
            conns = list(self._conns.values())
        for conn in conns:
            with self._lock:
                pending = bool(conn.outbuf)
            if not conn.authed:
                idle_limit = self._hello_timeout
            elif conn.closing:
                idle_limit = min(5.0, self._idle_timeout)
            elif conn.subscribed:
                idle_limit = float("inf")  # subscribers listen for hours; backlog bounds them instead
            else:
                idle_limit = self._idle_timeout
            if conn.dead or (conn.closing and not pending) or now - conn.last > idle_limit:
                self._drop(conn)
                continue
            mask = (0 if conn.closing else selectors.EVENT_READ) | (selectors.EVENT_WRITE if pending else 0)
            if mask != conn.mask:
                sel.modify(conn.sock, mask, conn)
                conn.mask = mask

    def _drop(self, conn: _Conn) -> None:
        with self._lock:
            self._conns = {k: c for k, c in self._conns.items() if c is not conn}
        self._unregister(conn)

    def _unregister(self, conn: _Conn) -> None:
        if self._sel is not None:
            try:
                self._sel.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass
        conn.sock.close()
