"""The recorder as a process of its own, for kill -9 tests (and manual checks):

    python -m tests.support.recorder_proc DATA_DIR [--config FILE] [--chunk-s N]

records until SIGTERM/SIGINT or stdin closes, printing one JSON line per event (ids and numbers only);
``recorder_process()`` starts it and yields its first event. Test harness only: not part of the product."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hushnote.daemon.core import config
from hushnote.daemon.recording.recorder import Recorder, RecorderError

from tests.support.paths import REPO


@contextlib.contextmanager
def recorder_process(data: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    """Start recording into ``data``; yields the process and its first event (``record.started``). On exit the
    process is killed if still alive, reaped, and its pipes closed."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.recorder_proc", str(data), *args], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["event"] == "record.started", first
        yield proc, first
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for f in (proc.stdin, proc.stdout):
            if f:
                f.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.support.recorder_proc")
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--config")
    ap.add_argument("--chunk-s", type=float)
    args = ap.parse_args(argv)
    cfg = config.load(args.config)
    done = threading.Event()

    def emit(event: str, data: dict[str, Any]) -> None:
        print(json.dumps({"event": event, **data}), flush=True)
        if event == "record.stopped":
            done.set()

    rec = Recorder(cfg, on_event=emit, data_dir=args.data_dir)
    if args.chunk_s:
        rec.chunk_s = args.chunk_s
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())

    def watch_stdin() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        rec.start(consent_confirmed=True)
    except RecorderError as exc:
        print(json.dumps({"event": "record.error", "message": str(exc)}), flush=True)
        return 1
    done.wait()
    with contextlib.suppress(RecorderError):
        rec.stop()
    rec.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
