"""The e2e harness: the real daemon as a subprocess (``hushnote daemon``) on its own folders, config and
environment, talked to over IPC. The ``daemon`` fixtures that use it are in tests/e2e/conftest.py."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hushnote.daemon.notes import notefile
from hushnote.daemon.privacy import vault
from hushnote.daemon.privacy.keys import MasterKeyStore
from hushnote.ipc.client import IpcClient

from tests.support.cli import run_cli
from tests.support.plaintext import kept_as
from tests.support.pulse import PulseServer
from tests.support.waiting import wait_for


class Daemon:
    """One daemon setup (folders, config, environment); ``start``/``kill``/``stop`` its process."""

    def __init__(self, root: Path, home: Path, **extra: dict[str, Any]) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.inbox, self.notes, self.data = root / "Inbox", root / "Notes", root / "data"
        self.runtime = Path(tempfile.mkdtemp(prefix="hn-", dir="/tmp"))  # short: Unix socket paths are limited
        self.sock = self.runtime / "hushnote" / "ipc.sock"
        cfg: dict[str, dict[str, Any]] = {
            "paths": {"inbox": str(self.inbox), "notes": str(self.notes), "data": str(self.data)},
            "transcription": {"model": "tiny.en", "beam_size": 1},
            "drafting": {"min_words": 5},
        }
        for k, v in extra.items():
            cfg.setdefault(k, {}).update(v)
        self.config = root / "config.toml"
        self.config.write_text("\n".join(
            f"[{sec}]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in body.items()) for sec, body in cfg.items()))
        self.env = dict(os.environ)
        self.env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
                         "XDG_RUNTIME_DIR": str(self.runtime), "HF_HUB_OFFLINE": "1"})
        self.env.pop("HUSHNOTE_CONFIG", None)
        self.log = root / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True, **env: str) -> subprocess.Popen[bytes]:
        e = dict(self.env, **env)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "hushnote.daemon.cli", "daemon", "--config", str(self.config)],
                                         env=e, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            assert wait_for(self.ready, 30), self.log.read_text(errors="replace")
        return self.proc

    def ready(self) -> bool:
        try:
            return bool(self.client().call("status"))
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def client(self) -> IpcClient:
        return IpcClient(self.sock, timeout=10)

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        return self.client().call(op, **args)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(60)
        self.proc = None
        return rc

    def cleanup(self) -> None:
        """Kill the process if it still runs; remove the runtime folder (fixtures call this at the end)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
        shutil.rmtree(self.runtime, ignore_errors=True)

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``hushnote <args> --config <this daemon's config>`` with the daemon's environment."""
        return run_cli(*args, "--config", str(self.config), env=self.env, timeout=timeout)

    def audio_bytes(self, p: Path) -> bytes:
        """A kept audio file's bytes, decrypted (the service keeps audio encrypted at rest by default)."""
        if not vault.is_encrypted(p):
            return p.read_bytes()
        key = MasterKeyStore(Path(self.env["XDG_CONFIG_HOME"]) / "hushnote", use_keyring=False).load().key
        return b"".join(vault.Vault(self.data, key).iter_plaintext(p))

    def counts(self) -> dict[str, int]:
        return dict(self.call("status")["queue"])

    def drop(self, src: Path, name: str) -> None:
        """Copy like a user would: into a hidden temp name, then rename (or plain copy)."""
        shutil.copy(src, self.inbox / name)

    def notes_by_source(self) -> dict[str, list[Path]]:
        out: dict[str, list[Path]] = {}
        for p in self.notes.glob("*.note.md"):
            fields, body = notefile.parse_front_matter(p.read_text(encoding="utf-8"))
            assert fields.get("status") == "draft" and "# DRAFT" in body, p  # every note parses, none partial
            out.setdefault(str(fields["source"]), []).append(p)
        return out


def assert_no_names_in_log(d: Daemon, names: list[str]) -> None:
    text = d.log.read_text(errors="replace")
    for n in names:
        assert Path(n).stem not in text, f"a file name reached the log: {n}"


@contextlib.contextmanager
def pulse_daemon(root: Path, home: Path, pulse: PulseServer, **recording: Any) -> Iterator[Daemon]:
    """A daemon setup recording from ``pulse``; its process (if still running) is killed at the end."""
    d = Daemon(root, home, recording={"chunk_s": 1.0, "live_window_s": 10.0, **recording})
    d.env["PULSE_SERVER"] = pulse.server
    try:
        yield d
    finally:
        d.cleanup()


def everything_accounted_for(d: Daemon, good: list[str], bad: list[str] = ()) -> None:  # type: ignore[assignment]
    """Each good input: exactly one note + transcript + audio beside. Each bad one: one report, file kept."""
    by_source = d.notes_by_source()  # also: every note parses, none partial
    assert sorted(by_source) == sorted(good), (sorted(by_source), sorted(good))
    for name, notes in by_source.items():
        assert len(notes) == 1, (name, notes)
        stem = notes[0].name.removesuffix(".note.md")
        assert (d.notes / f"{stem}.transcript.md").exists()
        kept_as(d.notes, f"{stem}{Path(name).suffix}")
    visible = [p.name for p in d.notes.iterdir() if not p.name.startswith(".")]
    assert not [n for n in visible if n.endswith(".tmp")]
    assert not [p for p in d.notes.iterdir() if p.name.endswith(".tmp")], "temp files left behind"
    for name in bad:
        assert len(list(d.notes.glob(f"{Path(name).stem}*.error.txt"))) == 1
        kept_as(d.inbox / "failed", name)
    assert [p.name for p in d.inbox.iterdir() if p.name != "failed"] == []
    assert list((d.data / "store").iterdir()) == []
    c = d.counts()
    assert c["queued"] == c["running"] == 0 and c["done"] == len(good)
