"""The real daemon (`hushnote daemon`, a subprocess) and privacy: started in its own network namespace
(`unshare -n`, loopback only) it processes a real file with the egress guard on and nothing blocked; its
audit trail verifies; `hushnote doctor` reads its guard; it refuses a client running as another user
(`nobody`) and a socket folder others can change; slow, many and malformed clients do not stop it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.daemon import Daemon
from tests.support.ipc import raw_connect as _connect
from tests.support.ipc import read_line as _line
from tests.support.isolation import NOBODY, as_nobody
from tests.support.paths import REPO
from tests.support.waiting import wait_for

JFK = ("faster_whisper_tests", "jfk.flac")


class NetlessDaemon(Daemon):
    """The daemon in a fresh network namespace of its own: nothing could leave even if the guard failed.
    The Unix socket is a path in the file system, so clients outside the namespace still reach it."""

    def start(self, wait: bool = True, **env: str) -> subprocess.Popen[bytes]:
        if subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False).returncode != 0:
            pytest.fail("cannot create a network namespace (unshare -n): run the tests as scripts/test.sh does")
        e = dict(self.env, **env)
        cmd = ["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
               sys.executable, "-m", "hushnote.daemon.cli", "daemon", "--config", str(self.config)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=e, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        if wait:
            assert wait_for(self.ready, 30), self.log.read_text(errors="replace")
        return self.proc


@pytest.fixture()
def daemon(tmp_path: Path, home: Path) -> Iterator[NetlessDaemon]:
    d = NetlessDaemon(tmp_path / "hn", home)
    yield d
    d.cleanup()


def audit_entries(d: Daemon) -> list[dict[str, Any]]:
    r = d.cli("audit", "show", "--json")
    assert r.returncode == 0, r.stderr
    return list(json.loads(r.stdout))


def guard_of(d: Daemon) -> dict[str, Any]:
    return dict(d.call("status")["guard"])


def test_daemon_in_a_netless_namespace_processes_a_file_with_the_guard_on(daemon: NetlessDaemon,
                                                                          eval_dir: Path) -> None:
    daemon.start()
    assert daemon.proc is not None
    ns_daemon = os.readlink(f"/proc/{daemon.proc.pid}/ns/net")
    assert ns_daemon != os.readlink("/proc/self/ns/net")  # really in its own namespace
    g = guard_of(daemon)
    assert g == {"installed": True, "blocked": 0, "allow_network": False, "allowed_egress": 0}
    daemon.drop(eval_dir / "speech" / JFK[0] / JFK[1], "Client B 2025-01-02.flac")
    assert wait_for(lambda: daemon.counts()["done"] == 1, 180), daemon.call("queue")
    assert guard_of(daemon) == g  # transcribing and drafting tried to reach nothing
    notes = list(daemon.notes.glob("*.note.md"))
    assert len(notes) == 1

    doc = daemon.cli("doctor", "--json")  # with the speed test: tiny.en on the bundled clip
    report = json.loads(doc.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["service_guard"]["status"] == "OK", checks["service_guard"]
    assert checks["service_guard"]["details"]["guard"]["blocked"] == 0
    assert checks["guard"]["status"] == "OK" and checks["speech_model"]["status"] == "OK"
    speed = checks["speed"]
    assert speed["details"]["model"] == "tiny.en" and speed["details"]["real_time_factor"] > 0
    assert "fast enough" in speed["summary"] or "slow" in speed["summary"]
    assert checks["audit"]["status"] == "OK"
    assert doc.returncode == (1 if any(c["status"] == "FAIL" for c in report["checks"]) else 0)
    print("doctor:", json.dumps(speed["details"]))

    st = daemon.cli("status", timeout=60)
    assert "Network guard: on; 0 connection attempts refused since it started." in st.stdout, st.stdout
    assert daemon.stop() == 0
    verify = daemon.cli("audit", "verify")
    assert verify.returncode == 0 and "chain intact" in verify.stdout, verify.stdout
    events = [e["event"] for e in audit_entries(daemon)]
    assert events[0] == "service.start" and events[-1] == "service.stop"
    assert {"consent.confirmed", "draft.made"} <= set(events) and "network.blocked" not in events
    start = audit_entries(daemon)[0]["data"]
    assert start["guard"] is True and start["pid"] > 0
    log_text = daemon.log.read_text(errors="replace")
    assert "Client B" not in log_text and "blocked a network attempt" not in log_text


# ----------------------------------------------------------------------------- who may connect

def test_a_client_running_as_another_user_is_refused(daemon: NetlessDaemon) -> None:
    daemon.start()
    # Open the path up so that `nobody` can reach the socket at all: only the peer check may refuse it.
    for p, mode in ((daemon.runtime, 0o755), (daemon.sock.parent, 0o755), (daemon.sock, 0o777)):
        p.chmod(mode)
    client = textwrap.dedent(f"""
        import json, os, socket
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect({str(daemon.sock)!r})
        try:
            s.sendall(b'{{"v":1,"id":1,"op":"status"}}\\n')
            got = s.recv(65536)
        except OSError as e:
            got = type(e).__name__.encode()
        print(json.dumps({{"uid": os.geteuid(), "got": got.decode("utf-8", "replace")}}))
    """)
    r = subprocess.run(as_nobody([sys.executable, "-c", client]), capture_output=True, text=True, timeout=60,
                       check=False, cwd="/")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["uid"] == NOBODY
    assert out["got"] in ("", "ConnectionResetError", "BrokenPipeError"), out  # closed unanswered
    assert wait_for(lambda: "IPC connection refused by the peer check" in daemon.log.read_text(errors="replace"), 10)
    assert daemon.call("status")["state"] == "running"  # its own user is still answered
    assert daemon.proc is not None and daemon.proc.poll() is None


def test_a_socket_folder_others_can_change_stops_the_daemon_plainly(daemon: NetlessDaemon) -> None:
    daemon.sock.parent.mkdir(parents=True)
    daemon.sock.parent.chmod(0o777)
    proc = daemon.start(wait=False)
    rc = proc.wait(60)
    daemon.proc = None
    text = daemon.log.read_text(errors="replace")
    assert rc == 9, text
    assert f"The service's socket folder {daemon.sock.parent} can be changed by other users" in text
    assert "chmod 700" in text and "Traceback" not in text
    assert not daemon.sock.exists()


# ----------------------------------------------------------------------------- slow, many and malformed clients

def test_slow_many_and_malformed_clients_do_not_stop_the_daemon(daemon: NetlessDaemon) -> None:
    daemon.start()
    sock = daemon.sock
    stop = threading.Event()

    def slow(i: int) -> str:  # one byte at a time, 20 ms apart (about 0.6 s per request)
        with _connect(sock) as s:
            for b in b'{"v":1,"id":%d,"op":"status"}\n' % i:
                s.sendall(bytes([b]))
                time.sleep(0.02)
            reply = _line(s)
            return "ok" if reply and reply["ok"] and reply["id"] == i else f"bad:{reply}"

    bad_payloads = [b"garbage\n", b"[]\n", b'{"v":9,"id":1,"op":"status"}\n', b"x" * 2_000_000,
                    b'{"v":1,"id":1,"op":"nope"}\n', b'{"v":1,"id":1,"op":"retry","args":{"id":5}}\n',
                    b'{"v":1,"id":1,"op":"sta', b"\xff" * 100 + b"\n", b'{"v":1,"id":{},"op":"status"}\n']

    def bad(i: int) -> str:
        try:
            with _connect(sock) as s:
                s.sendall(bad_payloads[i % len(bad_payloads)])
                reply = _line(s) if bad_payloads[i % len(bad_payloads)].endswith(b"\n") else None
                return "answered" if reply is not None else "closed"
        except (BrokenPipeError, ConnectionResetError):
            return "closed"  # the huge one: refused as too large while still sending

    def silent(_: int) -> str:  # connects and says nothing until told to go
        with _connect(sock):
            stop.wait(30)
        return "silent"

    with ThreadPoolExecutor(max_workers=60) as pool:
        silents = [pool.submit(silent, i) for i in range(10)]
        slows = [pool.submit(slow, i) for i in range(20)]
        bads = [pool.submit(bad, i) for i in range(27)]
        assert [f.result(60) for f in slows] == ["ok"] * 20
        outcomes = [f.result(60) for f in bads]
        assert outcomes.count("answered") >= 18, outcomes
        assert daemon.call("status")["state"] == "running"  # while the silent ones still hold connections
        stop.set()
        assert [f.result(60) for f in silents] == ["silent"] * 10
    assert daemon.call("status")["state"] == "running"
    assert daemon.proc is not None and daemon.proc.poll() is None


def test_fuzzed_requests_against_the_real_daemon(daemon: NetlessDaemon) -> None:
    daemon.start()
    sock = daemon.sock
    def nest(x: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.lists(x, max_size=3) | st.dictionaries(st.text(max_size=5), x, max_size=3)

    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                               nest, max_leaves=8)
    requests = st.fixed_dictionaries(
        {"v": st.sampled_from([1, 1, 2, "1"]), "id": st.integers(-3, 9) | st.text(max_size=4),
         "op": st.sampled_from(["status", "queue", "retry", "cancel", "pause", "resume", "subscribe", "ping",
                                "record.status", "nope", ""]),
         "args": st.dictionaries(st.sampled_from(["id", "x", "json"]), json_values, max_size=2)})

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()),
                     requests.map(lambda v: json.dumps(v).encode())))
    def check(payload: bytes) -> None:
        if b'"pause"' in payload:  # keep the daemon's state as it is; pause is tested elsewhere
            return
        with _connect(sock) as s:
            s.sendall(payload.replace(b"\n", b" ") + b"\n" + b'{"v":1,"id":"probe","op":"ping"}\n')
            buf = b""
            while b'"probe"' not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            assert b'"probe"' in buf or b"too_large" in buf, buf[:300]

    check()
    assert daemon.call("status")["state"] == "running"
    assert daemon.proc is not None and daemon.proc.poll() is None
