"""Where the IPC connection lives: a Unix socket (Linux, macOS), or loopback TCP plus a token file (Windows).

A ``Transport`` knows how to listen (server), connect (client), authenticate a connection's first line
and clean up its endpoint. The server and client speak the same protocol over either.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import socket
import stat
import sys
from abc import ABC, abstractmethod
from pathlib import Path

from hushnote.daemon.core.errors import HushnoteError

NOT_RUNNING = ("The hushnote service is not running. Start it with `hushnote daemon` or "
               "`hushnote service install`.")
MAX_UNIX_PATH = 104  # sun_path on macOS/BSD is 104 bytes including the NUL; Linux allows 108
_HELLO_MAX = 1024


class DaemonNotRunning(HushnoteError):
    """Nothing is listening at the service's address."""

    exit_code = 3

    def __init__(self) -> None:
        super().__init__(NOT_RUNNING)


class AlreadyRunning(HushnoteError):
    """Another live hushnote service already serves this address."""

    exit_code = 3

    def __init__(self, where: str) -> None:
        super().__init__(f"Another hushnote service is already running (it answers at {where}).",
                         "Stop it first, or use `hushnote status` to talk to it.")


class EndpointError(HushnoteError):
    """The address cannot be used: path too long, a non-socket file in the way, wrong permissions."""

    exit_code = 2


class Transport(ABC):
    """One way to carry protocol lines between the daemon and a client."""

    #: True when the first line of each connection must be a hello carrying a secret (``check_hello``).
    needs_hello: bool = False

    @abstractmethod
    def listen(self) -> socket.socket:
        """Bind and listen. Raise ``AlreadyRunning`` if a live server answers; replace a stale endpoint."""

    @abstractmethod
    def connect(self, timeout: float) -> socket.socket:
        """Connect as a client (sending the hello if needed). Raise ``DaemonNotRunning`` if nobody listens."""

    def check_hello(self, line: bytes) -> bool:
        """Server side: is ``line`` (the connection's first line, newline stripped) an acceptable hello?"""
        return True

    @abstractmethod
    def cleanup(self) -> None:
        """Server side: remove the endpoint (socket or token file) if it is still this server's."""

    @abstractmethod
    def describe(self) -> str:
        """Where it listens, for messages (a path; no secrets)."""


def _make_private_dir(d: Path) -> None:
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        d.chmod(0o700)
    except PermissionError:
        raise EndpointError(f"The folder {d} belongs to someone else; hushnote cannot keep its service "
                            "address private there.", "Set XDG_RUNTIME_DIR to a folder of your own.") from None


# ----------------------------------------------------------------------------- Unix sockets

class UnixTransport(Transport):
    """A Unix domain socket; its folder is 0700 and the socket 0600."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if len(os.fsencode(self.path)) >= MAX_UNIX_PATH:
            raise EndpointError(f"The service address {self.path} is too long for a Unix socket "
                                f"(limit {MAX_UNIX_PATH - 1} bytes).",
                                "Set XDG_RUNTIME_DIR, or paths.data in the settings, to a shorter folder.")
        self._ino: tuple[int, int] | None = None

    def describe(self) -> str:
        return str(self.path)

    def _probe(self) -> bool:
        """True if a live server answers at the path; False if nothing (or a stale file) is there."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1.0)
        try:
            s.connect(str(self.path))
        except (FileNotFoundError, ConnectionRefusedError):
            return False
        except OSError:
            return True  # something is there but busy or not ours: do not steal its address
        finally:
            s.close()
        return True

    def listen(self) -> socket.socket:
        _make_private_dir(self.path.parent)
        try:
            st = self.path.lstat()
        except FileNotFoundError:
            st = None
        if st is not None:
            if not stat.S_ISSOCK(st.st_mode):
                raise EndpointError(f"{self.path} exists and is not a socket; hushnote will not remove it.",
                                    "Move that file away and start the service again.")
            if self._probe():
                raise AlreadyRunning(str(self.path))
            self.path.unlink(missing_ok=True)  # stale: left by a service that stopped without cleaning up
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(self.path))
            os.chmod(self.path, 0o600)
            sock.listen(128)
            st = self.path.lstat()
            self._ino = (st.st_dev, st.st_ino)
        except BaseException:
            sock.close()
            raise
        return sock

    def connect(self, timeout: float) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(str(self.path))
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            s.close()
            raise DaemonNotRunning() from None
        except BaseException:
            s.close()
            raise
        return s

    def cleanup(self) -> None:
        if self._ino is None:
            return
        with contextlib.suppress(OSError):
            st = self.path.lstat()
            if (st.st_dev, st.st_ino) == self._ino:  # not replaced by a newer service meanwhile
                self.path.unlink()
        self._ino = None


# ----------------------------------------------------------------------------- loopback TCP + token

class TcpTransport(Transport):
    """127.0.0.1 on a random port. ``token_path`` (0600) holds ``{"port": N, "token": "..."}``;
    the first line of every connection must be ``{"v": 1, "token": "..."}``."""

    needs_hello = True
    HOST = "127.0.0.1"

    def __init__(self, token_path: Path) -> None:
        self.token_path = Path(token_path)
        self._token: str | None = None

    def describe(self) -> str:
        return f"{self.HOST} (see {self.token_path})"

    def _read(self) -> tuple[int, str] | None:
        try:
            info = json.loads(self.token_path.read_text(encoding="utf-8"))
            port, token = info["port"], info["token"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return None  # unreadable or half-written: treat as no service
        if not isinstance(port, int) or not isinstance(token, str) or not 0 < port < 65536:
            return None
        return port, token

    def _probe(self) -> bool:
        """True if a hushnote service answers a ping at the port in the token file (not just any program
        that happens to have reused the port)."""
        try:
            s = self.connect(1.0)
        except (DaemonNotRunning, OSError):
            return False
        try:
            s.sendall(b'{"v":1,"id":0,"op":"ping"}\n')
            buf = b""
            while b"\n" not in buf and len(buf) < _HELLO_MAX:
                chunk = s.recv(_HELLO_MAX)
                if not chunk:
                    break
                buf += chunk
            return b'"pong":true' in buf
        except OSError:
            return False
        finally:
            s.close()

    def listen(self) -> socket.socket:
        _make_private_dir(self.token_path.parent)
        if self._read() is not None and self._probe():
            raise AlreadyRunning(str(self.token_path))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((self.HOST, 0))
            sock.listen(128)
            port = sock.getsockname()[1]
            token = secrets.token_hex(32)
            tmp = self.token_path.with_name(f".{self.token_path.name}.{os.getpid()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"v": 1, "port": port, "token": token}, f)
            os.replace(tmp, self.token_path)
            self._token = token
        except BaseException:
            sock.close()
            raise
        return sock

    def connect(self, timeout: float) -> socket.socket:
        found = self._read()
        if found is None:
            raise DaemonNotRunning()
        port, token = found
        try:
            s = socket.create_connection((self.HOST, port), timeout=timeout)
        except ConnectionRefusedError:
            raise DaemonNotRunning() from None
        try:
            s.sendall(json.dumps({"v": 1, "token": token}).encode() + b"\n")
        except OSError:
            s.close()
            raise DaemonNotRunning() from None
        return s

    def check_hello(self, line: bytes) -> bool:
        if self._token is None or len(line) > _HELLO_MAX:
            return False
        try:
            hello = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return False
        token = hello.get("token") if isinstance(hello, dict) else None
        if not isinstance(token, str):
            return False
        return hmac.compare_digest(token.encode("utf-8", "replace"), self._token.encode())

    def cleanup(self) -> None:
        if self._token is None:
            return
        found = self._read()
        if found is not None and hmac.compare_digest(found[1], self._token):
            with contextlib.suppress(OSError):
                self.token_path.unlink()
        self._token = None


def default_transport(path: Path) -> Transport:
    """Unix socket everywhere but Windows, where ``path`` is the token file of a loopback TCP endpoint."""
    if sys.platform == "win32" or not hasattr(socket, "AF_UNIX"):
        return TcpTransport(path)
    return UnixTransport(path)


def as_transport(where: Path | str | Transport) -> Transport:
    return where if isinstance(where, Transport) else default_transport(Path(where))
