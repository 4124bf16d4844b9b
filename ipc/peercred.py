"""Who is on the other end of the IPC socket: only the same user may talk to the hushnote service.

* ``peer_uid(sock)``: the peer's effective uid, from the kernel (``SO_PEERCRED`` on Linux,
  ``getpeereid`` on macOS/BSD). It cannot be forged by the client.
* ``same_user(sock)``: the ``peer_check`` hook for ``ipc.server.IpcServer``; fails closed (False) when the
  uid cannot be read.
* ``check_socket_dir(path)`` / ``check_socket_path(path)``: refuse a socket folder that another user owns
  or that group/others can write (someone could swap the socket), and a socket file owned by someone else.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import stat
import struct
import sys
from pathlib import Path

from hushnote.daemon.core.errors import HushnoteError

_UCRED = struct.Struct("3i")  # struct ucred { pid_t pid; uid_t uid; gid_t gid; }
SO_PEERCRED = getattr(socket, "SO_PEERCRED", 17)


class PeerCredError(HushnoteError):
    """The IPC socket or its folder is not safe to use, or the peer cannot be identified."""

    exit_code = 9


def _linux_peer(sock: socket.socket) -> tuple[int, int, int]:
    raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return pid, uid, gid


def _bsd_peer_uid(sock: socket.socket) -> int:
    libc_name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(libc_name, use_errno=True)
    uid = ctypes.c_uint32()
    gid = ctypes.c_uint32()
    if libc.getpeereid(sock.fileno(), ctypes.byref(uid), ctypes.byref(gid)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(uid.value)


def peer_uid(sock: socket.socket) -> int:
    """The effective uid of the process at the other end of a connected Unix socket."""
    if sock.family != socket.AF_UNIX:
        raise PeerCredError("The IPC connection is not a Unix socket, so its user cannot be checked.")
    try:
        if sys.platform.startswith("linux"):
            return _linux_peer(sock)[1]
        if sys.platform == "darwin" or "bsd" in sys.platform:
            return _bsd_peer_uid(sock)
    except OSError as exc:
        raise PeerCredError(f"The IPC peer's user could not be read ({exc.__class__.__name__}).") from None
    raise PeerCredError(f"Checking the IPC peer's user is not supported on {sys.platform}.")


def same_user(sock: socket.socket) -> bool:
    """True only if the peer runs as this process's effective user. Fails closed."""
    try:
        return peer_uid(sock) == os.geteuid()
    except (PeerCredError, OSError):
        return False


def check_socket_dir(path: str | os.PathLike[str]) -> None:
    """Refuse a socket folder that is a symlink, not a folder, owned by another user, or group/world
    writable. Raises ``PeerCredError`` with a plain-English fix."""
    p = Path(path)
    try:
        st = p.lstat()
    except FileNotFoundError:
        raise PeerCredError(f"The service's socket folder {p} does not exist.", path=str(p)) from None
    if stat.S_ISLNK(st.st_mode):
        raise PeerCredError(f"The service's socket folder {p} is a symbolic link; refusing to use it.",
                            "Remove the link; hushnote will create the folder itself.", path=str(p))
    if not stat.S_ISDIR(st.st_mode):
        raise PeerCredError(f"{p} should be the service's socket folder but is not a folder.", path=str(p))
    if st.st_uid != os.geteuid():
        raise PeerCredError(f"The service's socket folder {p} belongs to another user (uid {st.st_uid}); "
                            "refusing to use it.", "Use a folder of your own (XDG_RUNTIME_DIR).", path=str(p))
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PeerCredError(f"The service's socket folder {p} can be changed by other users; refusing to "
                            "use it.", f"Run: chmod 700 {p}", path=str(p))


def check_socket_path(path: str | os.PathLike[str]) -> None:
    """``check_socket_dir`` on the folder, then refuse an existing socket owned by another user or
    something that is not a socket at all."""
    p = Path(path)
    check_socket_dir(p.parent)
    try:
        st = p.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise PeerCredError(f"{p} is in the way of the service's socket and is not a socket.", path=str(p))
    if st.st_uid != os.geteuid():
        raise PeerCredError(f"The service socket {p} belongs to another user (uid {st.st_uid}); refusing "
                            "to use it.", path=str(p))
