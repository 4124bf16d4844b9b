"""Run test code where it cannot do harm: in a fresh network namespace with loopback only, or as ``nobody``.

``run_isolated(body)`` runs PRELUDE + body in a subprocess inside ``unshare -n`` (the prelude refuses to run at
all if a default route is present); ``as_nobody(argv)`` wraps a command so it runs as another user (root only).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import REPO

NOBODY = 65534


PRELUDE = textwrap.dedent("""
    import json, os, socket, sys
    def _default_routes():
        found = []
        with open("/proc/net/route") as fh:
            for line in list(fh)[1:]:
                f = line.split()
                if len(f) > 2 and f[1] == "00000000":
                    found.append(f[0])
        try:
            with open("/proc/net/ipv6_route") as fh:
                for line in fh:
                    f = line.split()
                    if len(f) > 9 and f[0] == "0" * 32 and f[1] == "00" and f[9] != "lo":
                        found.append(f[9])
        except FileNotFoundError:
            pass
        return found
    if _default_routes():
        print("REFUSING: this process can reach a network (default route present)", file=sys.stderr)
        sys.exit(97)
    from hushnote.daemon.privacy import guard
""")


def _default_route_here() -> bool:
    text = Path("/proc/net/route").read_text().splitlines()[1:]
    if any(len(f) > 2 and f[1] == "00000000" for f in (line.split() for line in text)):
        return True
    p6 = Path("/proc/net/ipv6_route")
    if p6.exists():
        for line in p6.read_text().splitlines():
            f = line.split()
            if len(f) > 9 and f[0] == "0" * 32 and f[1] == "00" and f[9] != "lo":
                return True
    return False


def run_isolated(body: str, timeout: float = 120) -> dict[str, Any]:
    """Run PRELUDE + body in a fresh no-network namespace; the body prints one JSON object last."""
    code = PRELUDE + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        cmd = ["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
               sys.executable, "-c", code]
    elif not _default_route_here():
        cmd = [sys.executable, "-c", code]  # already in a namespace without a route out
    else:
        pytest.fail("cannot create a network namespace (unshare -n) and this machine has a default route: "
                    "refusing to test egress on a live network. Run scripts/test.sh as a user who can.")
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"rc={r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return dict(json.loads(r.stdout.strip().splitlines()[-1]))


def as_nobody(argv: list[str]) -> list[str]:
    """``argv`` run as the ``nobody`` user; skips the test unless running as root with setpriv or su."""
    if os.geteuid() != 0:
        pytest.skip("running a process as another user needs root")
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    if shutil.which("su"):
        return ["su", "nobody", "-s", "/bin/sh", "-c", " ".join(f"'{a}'" for a in argv)]
    pytest.skip("neither setpriv nor su is available")
