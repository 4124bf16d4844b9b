"""Zero egress, verifiable: an audit hook that refuses every network destination but this computer.

``install()`` is called first thing in every hushnote process. From then on, CPython's audit events for
sockets (``socket.connect``, ``sendto``, ``sendmsg``, ``bind``, ``getaddrinfo``, ``gethostbyname`` (and
``_ex``), ``gethostbyaddr``, ``getnameinfo``, and the creation of raw ``AF_PACKET`` sockets) are checked:
only Unix-domain sockets and loopback (127.0.0.0/8, ::1, ``localhost``) pass. Anything else raises
``EgressBlocked`` (a ``PermissionError``) *before* the packet or DNS query exists, and is counted.

Audit hooks cannot be removed (PEP 578), so the guard is one-way: installing again is harmless and can
tighten but never loosen it. The single exception is ``allow_egress(purpose, hosts)`` around
``hushnote models fetch``: it names what it is for, limits name lookups to the listed hosts, and records
what was contacted.

What this does not cover: native code that opens sockets without going through Python's ``socket``
module (no such library is in hushnote's clinical path) and child processes that do not install the guard.
Run the service in a network-less sandbox (``unshare -n``, a systemd ``PrivateNetwork=``/
``IPAddressDeny=any`` unit, or a macOS sandbox profile) for a kernel-enforced second wall.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hushnote.daemon.core.errors import HushnoteError

log = logging.getLogger("hushnote.guard")

# on_block(event, reason, total_blocked): no destination is passed on, because a host name can itself
# carry data (DNS exfiltration); reasons are fixed category strings.
BlockCallback = Callable[[str, str, int], None]

_LOCAL_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})
_ADDRESS_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"})
_NAME_EVENTS = frozenset({"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"})
_EVENTS = _ADDRESS_EVENTS | _NAME_EVENTS | {"socket.getnameinfo", "socket.__new__"}
_AF_PACKET = getattr(socket, "AF_PACKET", None)
_AF_UNIX = getattr(socket, "AF_UNIX", None)


class EgressBlocked(HushnoteError, PermissionError):
    """A network destination other than this computer was refused by hushnote's egress guard."""

    exit_code = 7

    def __init__(self, event: str, reason: str) -> None:
        HushnoteError.__init__(
            self,
            f"hushnote blocked a network connection ({event}: {reason}). Nothing was sent.",
            "hushnote never uses the network outside `hushnote models fetch`; please report this.",
        )
        self.event = event
        self.reason = reason


@dataclass
class _Exception:
    purpose: str
    hosts: frozenset[str]
    contacted: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _State:
    installed: bool = False
    allow_network: bool = False
    blocked: int = 0
    allowed_egress: int = 0
    callbacks: list[BlockCallback] = field(default_factory=list)
    exceptions: list[_Exception] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_state = _State()
_busy = threading.local()  # re-entrancy: a callback that itself touches sockets is not re-checked


# ----------------------------------------------------------------------------- classification (pure)


def _host_text(host: Any) -> str | None:
    if isinstance(host, bytes):
        try:
            return host.decode("ascii")
        except UnicodeDecodeError:
            return None
    return host if isinstance(host, str) else None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def is_loopback_host(host: Any) -> bool:
    """True for a loopback IP literal or the name ``localhost``; False for anything else (incl. "")."""
    text = _host_text(host)
    if not text:
        return False
    if text.lower() in _LOCAL_NAMES:
        return True
    ip = _ip(text)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def check(event: str, args: tuple[Any, ...]) -> str | None:
    """Why the audit event ``event`` with ``args`` would leave this computer, or None if it stays local."""
    if event == "socket.__new__":
        family = args[1] if len(args) > 1 else None
        if _AF_PACKET is not None and family == _AF_PACKET:
            return "raw link-layer socket"
        return None
    if event in _ADDRESS_EVENTS:
        sock, address = (args + (None, None))[:2]
        family = getattr(sock, "family", None)
        if address is None:  # sendmsg on a connected socket: its connect was already checked
            return None
        if family == _AF_UNIX or (_AF_UNIX is not None and family is None and isinstance(address, str | bytes)):
            return None
        if family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and address:
            return None if is_loopback_host(address[0]) else "address is not this computer"
        return "non-IP, non-Unix socket address"
    if event == "socket.getaddrinfo":
        host = _host_text(args[0]) if args else None
        if args and args[0] is None:
            return None  # passive / loopback lookup, no query leaves
        if host is not None and (is_loopback_host(host) or _ip(host) is not None):
            return None  # loopback, or a numeric literal (no DNS query; a connect is checked later)
        return "name lookup of another computer"
    if event in ("socket.gethostbyname", "socket.gethostbyaddr"):
        return None if args and is_loopback_host(args[0]) else "name lookup of another computer"
    if event == "socket.getnameinfo":
        sa = args[0] if args else None
        return None if isinstance(sa, tuple) and sa and is_loopback_host(sa[0]) else "reverse lookup"
    return None


def host_allowed(name: str, hosts: frozenset[str]) -> bool:
    """``name`` is one of ``hosts``, or below an entry written with a leading dot (``.hf.co``)."""
    return name in hosts or any(h.startswith(".") and name.endswith(h) for h in hosts)


# ----------------------------------------------------------------------------- the hook


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event not in _EVENTS or getattr(_busy, "on", False):
        return
    reason = check(event, args)
    if reason is None:
        return
    st = _state
    if st.exceptions:
        exc = st.exceptions[-1]
        if event in _NAME_EVENTS and exc.hosts and event != "socket.gethostbyaddr":
            name = (_host_text(args[0]) or "").lower().rstrip(".") if args else ""
            if not host_allowed(name, exc.hosts) and _ip(name) is None:
                _refuse(event, reason)
        with st.lock:
            st.allowed_egress += 1
            target = args[0] if event in _NAME_EVENTS else (args[1] if len(args) > 1 else None)
            exc.contacted.append((event, repr(target)[:200]))
        return
    if st.allow_network:
        with st.lock:
            st.allowed_egress += 1
        return
    _refuse(event, reason)


def _refuse(event: str, reason: str) -> None:
    st = _state
    with st.lock:
        st.blocked += 1
        total = st.blocked
        callbacks = list(st.callbacks)
    _busy.on = True
    try:
        for cb in callbacks:
            try:
                cb(event, reason, total)
            except Exception:  # a failing callback must not turn a refusal into something else
                log.exception("egress guard callback failed")
    finally:
        _busy.on = False
    raise EgressBlocked(event, reason)


# CPython resolves a host *name* given to connect/sendto/sendmsg/bind inside the C call, before it raises
# the audit event: the DNS query would leave before the hook sees it. So ``install`` also wraps those
# ``socket.socket`` methods with a check that runs before resolution (names other than localhost refused).
_ADDR_POS = {"connect": 0, "connect_ex": 0, "bind": 0, "sendto": -1, "sendmsg": 3}


def _needs_resolution(address: Any) -> str | None:
    if not isinstance(address, tuple) or not address:
        return None
    host = _host_text(address[0])
    if host is None or _ip(host) is not None or host.lower() in _LOCAL_NAMES:
        return None
    return host


def _precheck(method: str, sock: Any, args: tuple[Any, ...]) -> None:
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return
    pos = _ADDR_POS[method]
    if pos >= len(args) or (method == "sendto" and len(args) < 2):
        return
    name = _needs_resolution(args[pos])
    if name is None or getattr(_busy, "on", False):
        return
    event = "socket.connect" if method == "connect_ex" else f"socket.{method}"
    st = _state
    if st.exceptions:
        hosts = st.exceptions[-1].hosts
        if not hosts or host_allowed(name.lower().rstrip("."), hosts):
            return  # the audit hook records it
        _refuse(event, "name lookup of another computer")
    if not st.allow_network:
        _refuse(event, "name lookup of another computer")


def _wrap_socket_methods() -> None:
    cls = socket.socket
    for method in _ADDR_POS:
        orig = getattr(cls, method)
        if getattr(orig, "_hushnote_guard", False):
            continue

        def make(method: str, orig: Any) -> Any:
            def checked(self: Any, *args: Any) -> Any:
                _precheck(method, self, args)
                return orig(self, *args)

            checked._hushnote_guard = True  # type: ignore[attr-defined]
            checked.__name__ = method
            checked.__doc__ = orig.__doc__
            return checked

        setattr(cls, method, make(method, orig))


def install(allow_network: bool = False, on_block: BlockCallback | None = None) -> dict[str, Any]:
    """Install the guard in this process (idempotent). ``allow_network=True`` only records (never loosens
    an already-blocking guard). ``on_block`` is added to the callbacks told of each refusal."""
    st = _state
    with st.lock:
        if on_block is not None and on_block not in st.callbacks:
            st.callbacks.append(on_block)
        if not st.installed:
            st.allow_network = allow_network
            sys.addaudithook(_hook)
            _wrap_socket_methods()
            st.installed = True
        elif not allow_network:
            st.allow_network = False  # tighten only
    return status()


def add_callback(on_block: BlockCallback) -> None:
    """Also tell ``on_block`` of refusals (e.g. the service's audit log), without changing the guard."""
    with _state.lock:
        if on_block not in _state.callbacks:
            _state.callbacks.append(on_block)


def remove_callback(on_block: BlockCallback) -> None:
    """Stop telling ``on_block`` of refusals (a service that closes; the guard itself stays)."""
    with _state.lock:
        if on_block in _state.callbacks:
            _state.callbacks.remove(on_block)


def status() -> dict[str, Any]:
    """For ``hushnote doctor``: ``{installed, blocked, allow_network, allowed_egress, exception}``."""
    st = _state
    with st.lock:
        return {
            "installed": st.installed,
            "blocked": st.blocked,
            "allow_network": st.allow_network,
            "allowed_egress": st.allowed_egress,
            "exception": st.exceptions[-1].purpose if st.exceptions else None,
        }


class EgressPermit:
    """What ``allow_egress`` hands back: the purpose, allowed hosts and what was actually contacted."""

    def __init__(self, exc: _Exception) -> None:
        self._exc = exc

    @property
    def purpose(self) -> str:
        return self._exc.purpose

    @property
    def hosts(self) -> frozenset[str]:
        return self._exc.hosts

    @property
    def contacted(self) -> list[tuple[str, str]]:
        return list(self._exc.contacted)


@contextmanager
def allow_egress(purpose: str, hosts: Iterable[str] = ()) -> Iterator[EgressPermit]:
    """The one exception (``hushnote models fetch``): network allowed while inside, for ``purpose``.

    With ``hosts`` given, name lookups are limited to those names, or to names below an entry that starts
    with a dot (``".hf.co"``); connections go to whatever those names resolve to. Every non-local destination is recorded in ``permit.contacted``; tell the user.
    """
    exc = _Exception(purpose, frozenset(h.lower().rstrip(".") for h in hosts))
    with _state.lock:
        _state.exceptions.append(exc)
    log.info("network allowed for: %s (%s)", purpose, ", ".join(sorted(exc.hosts)) or "any host")
    try:
        yield EgressPermit(exc)
    finally:
        with _state.lock:
            _state.exceptions.remove(exc)
