"""IpcServer + IpcClient over real Unix sockets and loopback TCP, with real threads."""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hushnote.daemon.core import config
from hushnote.ipc import paths
from hushnote.ipc.client import ConnectionLost, IpcClient, ServiceTimeout
from hushnote.ipc.protocol import IpcError
from hushnote.ipc.server import IpcServer, Router
from hushnote.ipc.transport import NOT_RUNNING, AlreadyRunning, DaemonNotRunning, EndpointError, TcpTransport
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.ipc import raw_connect, read_line

STATUS: dict[str, Any] = {
    "state": "running", "pid": 4242, "version": "0.1.0",
    "queue": {"queued": 2, "running": 1, "done": 5, "failed": 1, "cancelled": 0},
    "current": {"id": "12", "kind": "recording", "stage": "transcribe", "fraction": 0.4},
    "next_retention": "2025-01-02T03:04:05+00:00", "failed_audio_kept": 1,
}
JOB: dict[str, Any] = {"id": "12", "kind": "inbox", "state": "failed", "priority": 0, "attempts": 2,
                       "created": "2025-01-01T10:00:00+00:00", "updated": "2025-01-01T10:05:00+00:00",
                       "error": "The audio could not be read."}


def make_router() -> Router:
    r = Router()
    state = {"state": "running"}
    r.register("status", lambda: dict(STATUS, state=state["state"]))
    r.register("queue", lambda: {"jobs": [JOB]})

    def pause() -> dict[str, Any]:
        state["state"] = "paused"
        return dict(state)

    def resume() -> dict[str, Any]:
        state["state"] = "running"
        return dict(state)

    def retry(id: str) -> dict[str, Any]:  # noqa: A002 - the protocol's argument name
        if id != "12":
            raise IpcError("not_found", f"There is no job {id}.")
        return {"id": id, "state": "queued"}

    def cancel(id: str) -> dict[str, Any]:  # noqa: A002
        raise IpcError("conflict", f"Job {id} is running; it cannot be cancelled now.")

    def boom() -> dict[str, Any]:
        raise RuntimeError("patient Jane Roe said something private")

    r.register("pause", pause)
    r.register("resume", resume)
    r.register("retry", retry)
    r.register("cancel", cancel)
    r.register("boom", boom)
    r.register("not.a.dict", lambda: ["x"])  # type: ignore[arg-type, return-value]
    r.register("not.json", lambda: {"x": object()})
    r.register("slow", lambda seconds: time.sleep(seconds) or {"slept": seconds}, params={"seconds": float})
    r.register("echo", lambda **kw: kw, params={}, optional={"text": str, "n": int})
    return r


@pytest.fixture()
def sock_path(home: Path) -> Path:
    return paths.socket_path(config.defaults())


@pytest.fixture()
def server(sock_path: Path) -> Iterator[IpcServer]:
    with IpcServer(sock_path, make_router()) as srv:
        yield srv


def is_closed(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def exchange(path: Path, payload: bytes) -> dict[str, Any] | None:
    with raw_connect(path) as s:
        s.sendall(payload)
        return read_line(s)


def good(path: Path | TcpTransport) -> None:
    """The server still answers a good request."""
    assert IpcClient(path).call("status")["pid"] == 4242


# ----------------------------------------------------------------------------- round trips

def test_every_op_round_trips(server: IpcServer, sock_path: Path) -> None:
    c = IpcClient(sock_path)
    assert c.call("status") == STATUS
    assert c.call("queue") == {"jobs": [JOB]}
    assert c.call("pause") == {"state": "paused"}
    assert c.call("status")["state"] == "paused"
    assert c.call("resume") == {"state": "running"}
    assert c.call("retry", id="12") == {"id": "12", "state": "queued"}
    with pytest.raises(IpcError) as info:
        c.call("retry", id="99")
    assert (info.value.code, info.value.message) == ("not_found", "There is no job 99.")
    with pytest.raises(IpcError) as info:
        c.call("cancel", id="12")
    assert info.value.code == "conflict" and str(info.value) == "Job 12 is running; it cannot be cancelled now."
    assert c.call("ping") == {"pong": True, "v": 1}
    assert c.ping()
    assert c.call("echo", text="héllo", n=3) == {"text": "héllo", "n": 3}


def test_subscribe_receives_published_events(server: IpcServer, sock_path: Path) -> None:
    with IpcClient(sock_path).subscribe(timeout=5) as sub:
        assert server.subscribers == 1
        assert server.publish("job.progress", {"id": "12", "stage": "transcribe", "fraction": 0.25}) == 1
        server.publish("job.done", {"id": "12", "state": "done"})
        server.publish("state", {"state": "paused"})
        events = [sub.get(5), sub.get(5), sub.get(5)]
        assert [(e.name, e.data) for e in events if e] == [
            ("job.progress", {"id": "12", "stage": "transcribe", "fraction": 0.25}),
            ("job.done", {"id": "12", "state": "done"}),
            ("state", {"state": "paused"}),
        ]
        assert sub.get(0.05) is None
        good(sock_path)  # plain calls are unaffected by the subscription
    deadline = time.monotonic() + 5
    while server.subscribers and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.subscribers == 0
    assert server.publish("state", {"state": "running"}) == 0


def test_subscription_iteration_timeout_and_close_from_another_thread(server: IpcServer, sock_path: Path) -> None:
    sub = IpcClient(sock_path).subscribe(timeout=0.1)
    with pytest.raises(ServiceTimeout):
        next(iter(sub))
    sub.timeout = None
    seen: list[str] = []

    def consume() -> None:
        seen.extend(e.name for e in sub)  # blocks until closed

    t = threading.Thread(target=consume)
    t.start()
    server.publish("state", {"state": "paused"})
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    sub.close()
    t.join(5)
    assert not t.is_alive() and seen == ["state"]
    with pytest.raises(ConnectionLost):
        sub.get(0.1)


def test_subscription_ends_when_the_server_stops(sock_path: Path) -> None:
    with IpcServer(sock_path, make_router()) as srv:
        sub = IpcClient(sock_path).subscribe(timeout=5)
        srv.publish("state", {"state": "paused"})
    assert [e.name for e in sub] == ["state"]  # the queued event, then a clean end
    sub.close()


def test_pipelined_requests_answered_in_order(server: IpcServer, sock_path: Path) -> None:
    with raw_connect(sock_path) as s:
        s.sendall(b"".join(json.dumps({"v": 1, "id": i, "op": "ping"}).encode() + b"\n" for i in range(20))
                  + b"\n\n")
        buf = b""
        while buf.count(b"\n") < 20:
            buf += s.recv(65536)
        assert [json.loads(x)["id"] for x in buf.splitlines()] == list(range(20))


# ----------------------------------------------------------------------------- bad input

BAD: list[tuple[bytes, str, object]] = [
    (b"this is not json\n", "bad_request", None),
    (b"[1,2,3]\n", "bad_request", None),
    (b"42\n", "bad_request", None),
    (b"\xff\xfe\xfd\n", "bad_request", None),
    (b"[" * 60000 + b"\n", "bad_request", None),
    (b'{"v":2,"id":5,"op":"status"}\n', "version", 5),
    (b'{"v":1,"id":[5],"op":"status"}\n', "bad_request", None),
    (b'{"v":1,"id":5,"op":3}\n', "bad_request", 5),
    (b'{"v":1,"id":5,"op":"status","args":[1]}\n', "bad_request", 5),
    (b'{"v":1,"id":5,"op":"retry","args":{"id":12}}\n', "bad_request", 5),
    (b'{"v":1,"id":5,"op":"retry"}\n', "bad_request", 5),
    (b'{"v":1,"id":5,"op":"status","args":{"x":1}}\n', "bad_request", 5),
    (b'{"v":1,"id":5,"op":"subscribe","args":{"x":1}}\n', "bad_request", 5),
    (b'{"v":1,"id":"q","op":"frobnicate"}\n', "unknown_op", "q"),
]


@pytest.mark.parametrize(("payload", "code", "rid"), BAD)
def test_bad_request_gets_error_and_connection_survives(server: IpcServer, sock_path: Path, payload: bytes,
                                                         code: str, rid: object) -> None:
    with raw_connect(sock_path) as s:
        s.sendall(payload)
        reply = read_line(s)
        assert reply is not None and reply["ok"] is False and reply["v"] == 1
        assert reply["error"]["code"] == code and reply["id"] == rid
        assert isinstance(reply["error"]["message"], str) and reply["error"]["message"]
        s.sendall(b'{"v":1,"id":"next","op":"status"}\n')  # same connection, next good request
        after = read_line(s)
        assert after is not None and after["ok"] and after["id"] == "next" and after["result"] == STATUS
    good(sock_path)


@pytest.mark.parametrize("payload", [b"x" * 70_000, b'{"v":1,"id":1,"op":"echo","args":{"text":"'
                                     + b"a" * 70_000 + b'"}}\n'])
def test_oversized_message_too_large_and_closed(server: IpcServer, sock_path: Path, payload: bytes) -> None:
    with raw_connect(sock_path) as s:
        s.sendall(payload)
        reply = read_line(s)
        assert reply is not None and reply["error"]["code"] == "too_large" and reply["id"] is None
        assert is_closed(s)
    good(sock_path)


def test_message_just_under_the_limit_is_fine(sock_path: Path) -> None:
    with IpcServer(sock_path, make_router(), max_message=1000):
        line = json.dumps({"v": 1, "id": 1, "op": "echo", "args": {"text": ""}})
        text = "a" * (1000 - len(line))
        req = json.dumps({"v": 1, "id": 1, "op": "echo", "args": {"text": text}}).encode()
        assert len(req) == 1000
        assert exchange(sock_path, req + b"\n") == {"v": 1, "id": 1, "ok": True, "result": {"text": text}}
        assert exchange(sock_path, req[:-1] + b' }\n')["error"]["code"] == "too_large"  # type: ignore[index]


def test_half_a_line_then_disconnect(server: IpcServer, sock_path: Path) -> None:
    for _ in range(5):
        with raw_connect(sock_path) as s:
            s.sendall(b'{"v":1,"id":1,"op":"sta')
    good(sock_path)


def test_request_then_shutdown_write_still_answered(server: IpcServer, sock_path: Path) -> None:
    with raw_connect(sock_path) as s:
        s.sendall(b'{"v":1,"id":1,"op":"ping"}\n{"v":1,"id":2,"op"')
        s.shutdown(socket.SHUT_WR)
        assert read_line(s) == {"v": 1, "id": 1, "ok": True, "result": {"pong": True, "v": 1}}
        assert is_closed(s)


def test_handler_exception_is_internal_error_without_phi(server: IpcServer, sock_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="hushnote")
    c = IpcClient(sock_path)
    for op in ("boom", "not.a.dict", "not.json"):
        with pytest.raises(IpcError) as info:
            c.call(op)
        assert info.value.code == "internal"
        assert "Jane" not in info.value.message
    assert "boom failed: RuntimeError at test_ipc_server.py" in caplog.text
    assert "Jane" not in caplog.text and "private" not in caplog.text
    good(sock_path)


def test_client_timeout(server: IpcServer, sock_path: Path) -> None:
    with pytest.raises(ServiceTimeout, match="did not answer within 0.2 seconds"):
        IpcClient(sock_path, timeout=0.2).call("slow", seconds=0.6)
    time.sleep(0.5)
    good(sock_path)


def test_fifty_concurrent_misbehaving_clients(server: IpcServer, sock_path: Path) -> None:
    payloads = [b"garbage\n", b"[]\n", b'{"v":9,"id":1,"op":"status"}\n', b"x" * 70_000,
                b'{"v":1,"id":1,"op":"nope"}\n', b'{"v":1,"id":1,"op":"boom"}\n', b'{"v":1,"id":1,"op":"sta',
                b'{"v":1,"id":1,"op":"status"}\n', b"", b"\xff" * 100 + b"\n"]

    def one(i: int) -> str:
        payload = payloads[i % len(payloads)]
        with raw_connect(sock_path) as s:
            s.sendall(payload)
            if payload.endswith(b"\n") or len(payload) > 65536:
                reply = read_line(s)
                assert reply is not None
                return "ok" if reply["ok"] else reply["error"]["code"]
        return "dropped"

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(one, range(50)))
    assert outcomes.count("ok") == 5 and outcomes.count("too_large") == 5 and outcomes.count("dropped") == 10
    assert set(outcomes) == {"ok", "bad_request", "version", "too_large", "unknown_op", "internal", "dropped"}
    good(sock_path)


def test_fifty_concurrent_good_clients(server: IpcServer, sock_path: Path) -> None:
    def one(i: int) -> dict[str, Any]:
        return IpcClient(sock_path).call("echo", n=i)

    with ThreadPoolExecutor(max_workers=50) as pool:
        assert [r["n"] for r in pool.map(one, range(50))] == list(range(50))


def test_one_reply_larger_than_the_backlog_is_delivered(sock_path: Path) -> None:
    """A long ``queue`` listing is one reply bigger than a subscriber's backlog: it still arrives whole."""
    r = make_router()
    jobs = [{"id": f"{i:06x}", "session": "x" * 200} for i in range(2000)]
    r.register("big", lambda: {"jobs": jobs})
    with IpcServer(sock_path, r, max_backlog=64 * 1024):
        assert IpcClient(sock_path).call("big")["jobs"] == jobs


def test_slow_subscriber_is_dropped_without_stalling_publish(sock_path: Path) -> None:
    with IpcServer(sock_path, make_router(), max_backlog=64 * 1024) as srv:
        stuck = raw_connect(sock_path)  # subscribes, then never reads
        stuck.sendall(b'{"v":1,"id":1,"op":"subscribe"}\n')
        with IpcClient(sock_path).subscribe(timeout=5) as healthy:
            deadline = time.monotonic() + 5
            while srv.subscribers < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert srv.subscribers == 2
            blob = "x" * 1000
            worst = 0.0
            for i in range(3000):
                t0 = time.perf_counter()
                srv.publish("job.progress", {"id": str(i), "stage": "draft", "fraction": 0.5, "pad": blob})
                worst = max(worst, time.perf_counter() - t0)
                got = healthy.get(5)  # the healthy one keeps up
                assert got is not None and got.data["id"] == str(i)
                if srv.subscribers == 1:
                    break
            assert srv.subscribers == 1, "the stuck subscriber should have been dropped"
            assert worst < 0.25
            srv.publish("state", {"state": "paused"})
            names = []
            while (ev := healthy.get(2)) is not None:
                names.append(ev.name)
                if ev.name == "state":
                    break
            assert names[-1] == "state"
            good(sock_path)
        stuck.close()


def test_idle_and_unauthenticated_connections_are_closed(sock_path: Path) -> None:
    with IpcServer(sock_path, make_router(), idle_timeout=0.3):
        with raw_connect(sock_path) as s:
            t0 = time.monotonic()
            assert is_closed(s)
            assert time.monotonic() - t0 < 3
        with IpcClient(sock_path).subscribe(timeout=1) as sub:  # subscribers are not idle-timed
            time.sleep(0.8)
            assert sub.get(0.05) is None


def test_client_cap(sock_path: Path) -> None:
    with IpcServer(sock_path, make_router(), max_clients=2):
        a, b = raw_connect(sock_path), raw_connect(sock_path)
        time.sleep(0.2)
        with raw_connect(sock_path) as c:
            assert is_closed(c)
        a.close()
        b.close()
        time.sleep(0.2)
        good(sock_path)


# ----------------------------------------------------------------------------- the socket file

def test_socket_and_folder_permissions(home: Path, sock_path: Path) -> None:
    sock_path.parent.mkdir(mode=0o755)
    os.chmod(sock_path.parent, 0o755)  # noqa: S103 - deliberately too open: the server must tighten it
    with IpcServer(sock_path, make_router()):
        assert stat.S_ISSOCK(sock_path.stat().st_mode)
        assert stat.S_IMODE(sock_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(sock_path.parent.stat().st_mode) == 0o700
    assert not sock_path.exists()


def test_folder_created_private(home: Path) -> None:
    cfg = config.defaults().with_overrides(paths__data=str(home / "data" / "hn"))
    os.environ.pop("XDG_RUNTIME_DIR")
    path = paths.socket_path(cfg)
    assert path == home / "data" / "hn" / "run" / "ipc.sock"
    with IpcServer(path, make_router()):
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        good(path)


def test_stale_socket_file_is_replaced(home: Path, sock_path: Path) -> None:
    sock_path.parent.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock_path))
    dead.close()  # the file stays; nobody listens: like a crashed daemon
    assert sock_path.exists()
    with pytest.raises(DaemonNotRunning):
        IpcClient(sock_path).call("status")
    with IpcServer(sock_path, make_router()):
        good(sock_path)


def test_second_server_on_a_live_socket_is_refused(server: IpcServer, sock_path: Path) -> None:
    with pytest.raises(AlreadyRunning, match="already running"):
        IpcServer(sock_path, make_router()).start()
    good(sock_path)  # the first one is untouched, its socket file too


def test_non_socket_file_in_the_way_is_not_removed(home: Path, sock_path: Path) -> None:
    sock_path.parent.mkdir(mode=0o700)
    sock_path.write_text("precious")
    with pytest.raises(EndpointError, match="not a socket"):
        IpcServer(sock_path, make_router()).start()
    assert sock_path.read_text() == "precious"


def test_not_running_message(home: Path, sock_path: Path) -> None:
    with pytest.raises(DaemonNotRunning) as info:
        IpcClient(sock_path).call("status")
    assert str(info.value) == NOT_RUNNING
    assert "hushnote daemon" in NOT_RUNNING and "hushnote service install" in NOT_RUNNING
    assert not IpcClient(sock_path).ping()


def test_closed_server_leaves_nothing_behind(sock_path: Path) -> None:
    srv = IpcServer(sock_path, make_router()).start()
    good(sock_path)
    srv.close()
    srv.close()  # idempotent
    assert not sock_path.exists()
    with pytest.raises(DaemonNotRunning):
        IpcClient(sock_path).call("status")
    with pytest.raises(RuntimeError):
        srv.start()


def test_paths(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config.defaults().with_overrides(paths__data=str(home / "d"))
    assert paths.socket_path(cfg) == home / "runtime" / "hushnote" / "ipc.sock"
    assert paths.endpoint(cfg) == paths.socket_path(cfg)
    assert paths.token_path(cfg) == home / "d" / "run" / "ipc.token"
    monkeypatch.setenv("XDG_RUNTIME_DIR", "relative/dir")  # not absolute: ignored, as the spec says
    assert paths.socket_path(cfg) == home / "d" / "run" / "ipc.sock"
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/" + "x" * 100)
    with pytest.raises(EndpointError, match="too long"):
        paths.socket_path(cfg)
    with pytest.raises(EndpointError, match="too long"):
        IpcServer(Path("/" + "y" * 120), make_router())


# ----------------------------------------------------------------------------- peer check hook

def test_peer_check_refuses_and_allows(sock_path: Path) -> None:
    seen: list[int] = []

    def check(sock: socket.socket) -> bool:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        seen.append(int.from_bytes(creds[4:8], "little"))
        return False

    with IpcServer(sock_path, make_router(), peer_check=check):
        with pytest.raises(ConnectionLost):
            IpcClient(sock_path).call("status")
    assert seen == [os.getuid()]

    def broken(sock: socket.socket) -> bool:
        raise OSError("no creds")

    with IpcServer(sock_path, make_router(), peer_check=broken):
        with pytest.raises(ConnectionLost):
            IpcClient(sock_path).call("status")
    with IpcServer(sock_path, make_router(), peer_check=lambda s: True):
        good(sock_path)


# ----------------------------------------------------------------------------- loopback TCP

@pytest.fixture()
def token_file(home: Path) -> Path:
    return home / "data" / "hushnote" / "run" / "ipc.token"


def test_tcp_right_token_works(token_file: Path) -> None:
    with IpcServer(TcpTransport(token_file), make_router()) as srv:
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
        info = json.loads(token_file.read_text())
        assert set(info) == {"v", "port", "token"} and len(info["token"]) == 64
        client = IpcClient(TcpTransport(token_file))
        assert client.call("status") == STATUS
        assert client.call("retry", id="12") == {"id": "12", "state": "queued"}
        with client.subscribe(timeout=5) as sub:
            srv.publish("job.done", {"id": "12", "state": "done"})
            ev = sub.get(5)
            assert ev is not None and ev.data == {"id": "12", "state": "done"}
        assert "token" not in srv.address.lower() or info["token"] not in srv.address
    assert not token_file.exists()
    with pytest.raises(DaemonNotRunning):
        IpcClient(TcpTransport(token_file)).call("status")


@pytest.mark.parametrize("first_line", [
    b'{"v":1,"token":"0000"}\n',
    b'{"v":1,"id":1,"op":"status"}\n',  # no token at all: a request straight away
    b"not json\n",
    b'{"v":1,"token":5}\n',
    b"y" * 5000,
])
def test_tcp_wrong_or_missing_token_refused(token_file: Path, first_line: bytes) -> None:
    with IpcServer(TcpTransport(token_file), make_router()):
        port = json.loads(token_file.read_text())["port"]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(first_line + b'{"v":1,"id":1,"op":"status"}\n')
            reply = read_line(s)
            assert reply is None or (reply["ok"] is False and reply["error"]["code"] in {"bad_request", "too_large"})
            assert is_closed(s)
        good(TcpTransport(token_file))


def test_tcp_silent_connection_dropped(token_file: Path) -> None:
    with IpcServer(TcpTransport(token_file), make_router(), hello_timeout=0.3):
        port = json.loads(token_file.read_text())["port"]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            assert is_closed(s)


def test_tcp_stale_token_replaced_and_live_one_refused(token_file: Path) -> None:
    token_file.parent.mkdir(parents=True, mode=0o700)
    with socket.socket() as tmp:
        tmp.bind(("127.0.0.1", 0))
        free = tmp.getsockname()[1]
    token_file.write_text(json.dumps({"v": 1, "port": free, "token": "ab" * 32}))
    with IpcServer(TcpTransport(token_file), make_router()):
        assert json.loads(token_file.read_text())["token"] != "ab" * 32
        with pytest.raises(AlreadyRunning):
            IpcServer(TcpTransport(token_file), make_router()).start()
        good(TcpTransport(token_file))


def test_tcp_port_reused_by_a_stranger_is_not_mistaken_for_the_service(token_file: Path) -> None:
    token_file.parent.mkdir(parents=True, mode=0o700)
    with socket.socket() as stranger:  # listens but never speaks the protocol
        stranger.bind(("127.0.0.1", 0))
        stranger.listen(1)
        token_file.write_text(json.dumps({"v": 1, "port": stranger.getsockname()[1], "token": "cd" * 32}))
        with IpcServer(TcpTransport(token_file), make_router()):
            good(TcpTransport(token_file))


# ----------------------------------------------------------------------------- fuzzing the live server

def test_fuzz_server_stays_up(sock_path: Path) -> None:
    with IpcServer(sock_path, make_router(), max_message=4096) as srv:
        conn = raw_connect(sock_path)

        @settings(max_examples=200, deadline=None)
        @given(st.one_of(
            st.binary(max_size=600),
            st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                         lambda x: st.lists(x, max_size=3) | st.dictionaries(st.text(max_size=5), x, max_size=3),
                         max_leaves=10).map(lambda v: json.dumps(v).encode()),
            st.fixed_dictionaries({"v": st.just(1), "id": st.integers(0, 9),
                                   "op": st.sampled_from(["status", "retry", "cancel", "boom", "echo", "x"]),
                                   "args": st.dictionaries(st.sampled_from(["id", "text", "n"]),
                                                           st.integers() | st.text(max_size=5), max_size=2)})
            .map(lambda v: json.dumps(v).encode()),
        ))
        def check(payload: bytes) -> None:
            nonlocal conn
            conn.sendall(payload.replace(b"\n", b" ") + b"\n")
            conn.sendall(b'{"v":1,"id":"probe","op":"ping"}\n')
            while True:  # every line gets one reply (or too_large and a close); the probe still answers
                reply = read_line_buffered(conn)
                if reply is None:
                    conn.close()
                    conn = raw_connect(sock_path)
                    break
                assert reply["v"] == 1 and isinstance(reply["ok"], bool)
                if reply["id"] == "probe":
                    break

        check()
        conn.close()
        good(sock_path)
        assert srv.publish("state", {"state": "running"}) == 0


_pending: dict[int, bytes] = {}


def read_line_buffered(s: socket.socket) -> dict[str, Any] | None:
    """Like read_line, but keeps what follows the first line for the next call (pipelined replies)."""
    return read_line(s, _pending)
