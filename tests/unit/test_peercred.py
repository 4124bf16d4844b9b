"""IPC peer checks with real Unix sockets, and a real client running as another user (``nobody``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hushnote.ipc.peercred import PeerCredError, check_socket_dir, check_socket_path, peer_uid, same_user

from tests.support.isolation import NOBODY, as_nobody


def test_socketpair_same_user() -> None:
    a, b = socket.socketpair()
    try:
        assert peer_uid(a) == os.geteuid()
        assert same_user(a) and same_user(b)
    finally:
        a.close()
        b.close()


def test_non_unix_socket_fails_closed() -> None:
    srv = socket.socket()
    try:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        c = socket.create_connection(srv.getsockname())
        conn, _ = srv.accept()
        with pytest.raises(PeerCredError):
            peer_uid(conn)
        assert not same_user(conn)
        for s in (c, conn):
            s.close()
    finally:
        srv.close()


@pytest.fixture()
def shared_dir() -> Iterator[Path]:
    """A root-owned 0755 folder that ``nobody`` can reach (pytest's tmp_path is 0700)."""
    d = Path(tempfile.mkdtemp(prefix="hn-peercred-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_client_running_as_another_user_is_refused(shared_dir: Path) -> None:
    check_socket_dir(shared_dir)  # root-owned, 0755: fine for root
    path = shared_dir / "hushnote.sock"
    srv = socket.socket(socket.AF_UNIX)
    try:
        srv.bind(str(path))
        path.chmod(0o777)  # let nobody connect at all: the peer check is what must refuse it
        srv.listen()
        srv.settimeout(30)
        client = textwrap.dedent(f"""
            import os, socket
            s = socket.socket(socket.AF_UNIX)
            s.connect({str(path)!r})
            s.sendall(str(os.geteuid()).encode())
            s.recv(1)
            s.close()
        """)
        proc = subprocess.Popen(as_nobody([sys.executable, "-c", client]), stderr=subprocess.PIPE)
        try:
            conn, _ = srv.accept()
            with conn:
                assert conn.recv(16) == str(NOBODY).encode()
                assert peer_uid(conn) == NOBODY
                assert not same_user(conn)
                conn.sendall(b"x")
        finally:
            _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        # and the same user on the same socket is accepted
        c = socket.socket(socket.AF_UNIX)
        c.connect(str(path))
        conn, _ = srv.accept()
        with conn, c:
            assert same_user(conn)
    finally:
        srv.close()


def test_socket_dir_checks(tmp_path: Path, shared_dir: Path) -> None:
    d = tmp_path / "run"
    d.mkdir(mode=0o700)
    check_socket_dir(d)
    check_socket_path(d / "hushnote.sock")  # absent socket is fine
    for mode in (0o770, 0o777, 0o722, 0o1777):
        d.chmod(mode)
        with pytest.raises(PeerCredError, match="other users"):
            check_socket_dir(d)
    d.chmod(0o700)
    link = tmp_path / "link"
    link.symlink_to(d)
    with pytest.raises(PeerCredError, match="symbolic link"):
        check_socket_dir(link)
    with pytest.raises(PeerCredError, match="does not exist"):
        check_socket_dir(tmp_path / "nope")
    (d / "file").write_text("")
    with pytest.raises(PeerCredError, match="not a folder"):
        check_socket_dir(d / "file")
    with pytest.raises(PeerCredError, match="not a socket"):
        check_socket_path(d / "file")
    if os.geteuid() == 0:
        other = shared_dir / "theirs"
        other.mkdir(mode=0o700)
        os.chown(other, NOBODY, NOBODY)
        with pytest.raises(PeerCredError, match="another user"):
            check_socket_dir(other)


def test_socket_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    d = tmp_path / "run"
    d.mkdir(mode=0o700)
    path = d / "hushnote.sock"
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(path))
        check_socket_path(path)
        os.chown(path, NOBODY, NOBODY)
        with pytest.raises(PeerCredError, match="another user"):
            check_socket_path(path)
    finally:
        s.close()
