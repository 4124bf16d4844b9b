"""``hushnote models fetch NAME``: the project's one piece of network code, run only when the user asks.

Nothing here runs at import time, and nothing in the daemon or the pipeline imports this module (only
``hushnote.daemon.cli.main`` does, lazily). Standard library only.

The flow: show what will be downloaded (licence, host, size) and ask; download each file to
``<paths.data>/models/<name>/<file>.part`` (resuming an earlier ``.part`` with an HTTP Range request);
check its sha256 (pinned in the catalogue, else the sha256 the server announces); ``os.replace`` it
into place; and only when every file is in place, point the settings file at the model.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import http.client
import json
import os
import re
import shutil
import sys
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO

from hushnote.daemon import __version__
from hushnote.daemon.core import config as configmod
from hushnote.daemon.core.errors import ConfigError, HushnoteError, ModelError
from hushnote.daemon.core.fileio import atomic_write_text, fsync_dir
from hushnote.daemon.models import catalogue
from hushnote.daemon.models.catalogue import CatalogueEntry, ModelFile, human_size
from hushnote.daemon.privacy import guard

DEFAULT_ENDPOINT = "https://huggingface.co"
CHUNK = 1 << 20
TIMEOUT_S = 30.0
_SHA256_RE = re.compile(r'^(?:W/)?"?([0-9a-fA-F]{64})"?$')

Advance = Callable[[int], None]


class DownloadError(HushnoteError):
    """The download failed (network, server, disk). Exit code 6."""

    exit_code = 6


# ----------------------------------------------------------------------------- entry point

def main(args: argparse.Namespace) -> int:
    name: str | None = getattr(args, "name", None)
    if not name:
        print_catalogue()
        return 0
    entry = catalogue.get(name)
    if entry is None:
        print(f"hushnote: there is no model called {name!r} in the catalogue. These can be fetched:",
              file=sys.stderr)
        print_catalogue()
        return 2

    cfg_path = configmod.resolve_config_path(getattr(args, "config", None))
    cfg = configmod.load(getattr(args, "config", None)) if cfg_path.exists() else configmod.defaults()
    dest = cfg.path("paths.data") / "models" / entry.name
    endpoint = endpoint_url()

    print(summary(entry, endpoint, dest))
    if not getattr(args, "yes", False) and not confirm():
        print("Nothing was downloaded.")
        return 1

    # the guard's one exception (hushnote.daemon.privacy.guard): name lookups only for the hosts stated above
    with guard.allow_egress(f"hushnote models fetch {entry.name}", hosts=contact_hosts(endpoint)) as permit:
        fetch(entry, dest, endpoint, progress=not getattr(args, "quiet", False))
    names = sorted({t.strip("'\"") for e, t in permit.contacted if e == "socket.getaddrinfo"})
    if names:
        print(f"Contacted: {', '.join(names)}")
    target = model_setting_value(entry, dest)
    print(f"Verified and saved: {target}")
    if getattr(args, "no_config", False):
        key = _setting_key(entry)
        print(f"Settings not changed (--no-config). To use it, set {key} = {json.dumps(str(target))} in {cfg_path}")
        return 0
    key = set_model_in_config(cfg_path, entry, target)
    print(f"Settings updated: {key} in {cfg_path}")
    return 0


def print_catalogue() -> None:
    print("Models you can fetch (hushnote models fetch NAME):")
    for entry in catalogue.CATALOGUE.values():
        print("  " + catalogue.describe(entry))


def endpoint_url() -> str:
    ep = (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).strip().rstrip("/")
    scheme = urllib.parse.urlsplit(ep).scheme
    if scheme not in ("https", "http") or not urllib.parse.urlsplit(ep).hostname:
        raise HushnoteError(f"HF_ENDPOINT must be an http(s) address (got {ep!r}).",
                            "Unset it to download from https://huggingface.co.")
    return ep


def file_url(endpoint: str, entry: CatalogueEntry, f: ModelFile) -> str:
    q = urllib.parse.quote
    return f"{endpoint}/{q(entry.repo)}/resolve/{q(entry.revision, safe='')}/{q(f.path)}"


def contact_hosts(endpoint: str) -> tuple[str, ...]:
    """The host names the download may look up: the endpoint's, and for huggingface.co its download
    servers (``*.huggingface.co``, ``*.hf.co``), which it redirects file requests to."""
    host = (urllib.parse.urlsplit(endpoint).hostname or "").lower()
    return (host, ".huggingface.co", ".hf.co") if host == "huggingface.co" else (host,)


def summary(entry: CatalogueEntry, endpoint: str, dest: Path) -> str:
    host = urllib.parse.urlsplit(endpoint).hostname
    licence = entry.licence + (f" ({entry.licence_note})" if entry.licence_note else "")
    checks = ("sha256 pinned in hushnote's catalogue" if all(f.sha256 for f in entry.files)
              else "sha256 announced by the server (not pinned in advance)")
    lines = [
        f"Model:     {entry.name}: {entry.purpose}",
        f"Licence:   {licence}",
        f"           read it at {entry.licence_url}",
        f"Download:  {human_size(entry.size)} in {len(entry.files)} file(s) from {entry.repo} (revision {entry.revision})",
        f"Contacts:  {host} over {urllib.parse.urlsplit(endpoint).scheme.upper()}"
        + (" (which hands the file to its download servers under huggingface.co and hf.co)"
           if host == "huggingface.co" else "") + "; nothing else",
        f"Saves to:  {dest}",
        f"Checked:   {checks}",
        "Only the file requests are sent (the host sees this computer's IP address); "
        "no recording, transcript or note leaves this computer.",
    ]
    return "\n".join(lines)


def confirm() -> bool:
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        raise HushnoteError("Not downloading without your confirmation, and there is no terminal to ask in.",
                            "Run it again with --yes to accept the licence and download.")
    try:
        answer = input("Accept the licence and download? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


# ----------------------------------------------------------------------------- downloading

def fetch(entry: CatalogueEntry, dest: Path, endpoint: str, *, progress: bool = True) -> None:
    """Download every file of ``entry`` into ``dest``, verified. Raises ``HushnoteError``."""
    dest.mkdir(parents=True, exist_ok=True)
    todo = [f for f in entry.files if not _already_there(dest / f.path, f)]
    if not todo:
        print("Already downloaded and verified.")
        return
    _check_free_space(dest, todo)
    opener = _opener()
    with _bar(progress, sum(f.size for f in todo)) as advance:
        for f in todo:
            download_file(opener, file_url(endpoint, entry, f), dest / f.path, f, advance)


def _already_there(path: Path, f: ModelFile) -> bool:
    return f.sha256 is not None and path.is_file() and path.stat().st_size == f.size and _sha256_of(path) == f.sha256


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _check_free_space(dest: Path, todo: list[ModelFile]) -> None:
    have = sum((dest / f"{f.path}.part").stat().st_size for f in todo if (dest / f"{f.path}.part").is_file())
    need = sum(f.size for f in todo) - have
    free = shutil.disk_usage(dest).free
    if need > free:
        raise DownloadError(f"Not enough disk space in {dest}: {human_size(need)} needed, {human_size(free)} free.",
                            "Free some space (or set paths.data to another disk) and try again.")


class _RecordingRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects like urllib does, remembering each hop's headers: Hugging Face puts the
    file's sha256 (``X-Linked-Etag``) on the redirect, not on the download server's answer."""

    def __init__(self) -> None:
        self.hops: list[Message] = []

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: http.client.HTTPMessage, newurl: str) -> urllib.request.Request | None:
        self.hops.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclass
class _Opener:
    opener: urllib.request.OpenerDirector
    redirects: _RecordingRedirects


def _opener() -> _Opener:
    redirects = _RecordingRedirects()
    return _Opener(urllib.request.build_opener(redirects), redirects)


def announced_sha256(headers: list[Message]) -> str | None:
    """The sha256 the server announces: ``X-Linked-Etag`` (LFS files), else a sha256-shaped ``ETag``."""
    for name in ("X-Linked-Etag", "ETag"):
        for h in headers:
            m = _SHA256_RE.match((h.get(name) or "").strip())
            if m:
                return m.group(1).lower()
    return None


def download_file(op: _Opener, url: str, final: Path, f: ModelFile, advance: Advance) -> None:
    """Fetch ``url`` to ``final`` via ``final.part`` (resuming it), verify, then ``os.replace``."""
    part = final.with_name(final.name + ".part")
    final.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.is_file() else 0
    if f.sha256 and offset >= f.size:  # complete-but-unchecked or oversized: cannot resume, start over
        part.unlink()
        offset = 0
    resp = _open(op, url, offset)
    if resp is None:  # HTTP 416, range not satisfiable: the .part is useless; start over
        part.unlink(missing_ok=True)
        offset = 0
        resp = _open(op, url, 0)
        if resp is None:  # cannot happen: only a Range request is answered 416
            raise DownloadError(f"The server refused to send {f.path} (HTTP 416).")
    with resp:
        if offset and resp.status != 206:  # the server ignored the Range: start over
            offset = 0
        elif offset:
            crange = resp.headers.get("Content-Range", "")
            if not crange.startswith(f"bytes {offset}-"):
                part.unlink(missing_ok=True)
                raise DownloadError(f"The server answered the resume request for {f.path} oddly ({crange!r}).",
                                    "The partial file was removed; run the same command again.")
        server_sha = announced_sha256([*op.redirects.hops, resp.headers])
        if f.sha256 and server_sha and server_sha != f.sha256:
            part.unlink(missing_ok=True)
            raise ModelError(f"The server offers a different {f.path} than the one hushnote knows "
                             f"(sha256 {server_sha[:12]}… instead of {f.sha256[:12]}…). Nothing was installed.",
                             "Check for a newer hushnote, or report this.")
        expected = f.sha256 or server_sha
        if expected is None:
            raise DownloadError(f"The server sent no checksum for {f.path}, and the catalogue has none: "
                                "refusing to install a file that cannot be verified.")
        length = resp.headers.get("Content-Length")
        remaining = int(length) if length and length.isdigit() else None

        hasher = hashlib.sha256()
        if offset:
            with part.open("rb") as fh:
                for block in iter(lambda: fh.read(CHUNK), b""):
                    hasher.update(block)
            advance(offset)
        received = 0
        interrupted = False
        try:
            with part.open("ab" if offset else "wb") as out:
                while True:
                    try:
                        block = resp.read(CHUNK)
                    except (http.client.HTTPException, OSError):  # reset, timeout, truncated chunk…
                        interrupted = True
                        break
                    if not block:
                        break
                    out.write(block)
                    hasher.update(block)
                    received += len(block)
                    advance(len(block))
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:  # writing failed: the .part cannot be trusted
            part.unlink(missing_ok=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DownloadError(f"The disk filled up while saving {f.path}; the partial file was removed.",
                                    "Free some space and try again.") from None
            raise DownloadError(f"Could not save {f.path} in {part.parent} ({exc.strerror or exc}).") from None
        if interrupted or (remaining is not None and received < remaining):
            raise DownloadError(f"The download of {f.path} was interrupted after {human_size(offset + received)}.",
                                "Run the same command again: it will continue where it stopped.")

    if hasher.hexdigest() != expected:
        part.unlink(missing_ok=True)
        raise ModelError(f"{f.path} arrived damaged (its sha256 does not match); it was deleted and nothing "
                         "was installed.", "Run the same command again to download it afresh.")
    os.replace(part, final)
    fsync_dir(final.parent)


def _open(op: _Opener, url: str, offset: int) -> http.client.HTTPResponse | None:
    """Open ``url`` (from byte ``offset``); None when the server says that range is not satisfiable."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise DownloadError(f"Refusing to open {url!r}: only http(s) addresses are used.")
    headers = {"User-Agent": f"hushnote/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked just above
    host = urllib.parse.urlsplit(url).hostname
    op.redirects.hops.clear()
    try:
        resp: http.client.HTTPResponse = op.opener.open(req, timeout=TIMEOUT_S)
        return resp
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            return None
        if exc.code == 404:
            raise DownloadError(f"The file was not found on {host} (HTTP 404): {url}",
                                "The catalogue may be out of date; check for a newer hushnote.") from None
        if exc.code in (401, 403):
            raise DownloadError(f"{host} refused the download (HTTP {exc.code}).",
                                "The model may now need a login; hushnote does not do that.") from None
        raise DownloadError(f"{host} answered HTTP {exc.code} ({exc.reason}).", "Try again later.") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        why = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
        raise DownloadError(f"Could not reach {host} ({why}).",
                            "Check the internet connection (and any proxy settings), then try again.") from None
    except (http.client.HTTPException, OSError) as exc:  # incl. timeouts
        raise DownloadError(f"Could not reach {host} ({exc.__class__.__name__}).",
                            "Check the internet connection, then try again.") from None


@contextmanager
def _bar(enabled: bool, total: int) -> Iterator[Advance]:
    """A rich progress bar on stderr: bytes, percentage, speed and time remaining."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(TextColumn("Downloading"), BarColumn(), TaskProgressColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=Console(stderr=True)) as bar:
        task = bar.add_task("download", total=total)
        yield lambda n: bar.advance(task, n)


# ----------------------------------------------------------------------------- settings file

def _setting_key(entry: CatalogueEntry) -> str:
    return "drafting.model_path" if entry.kind == "llm" else "transcription.model"


def model_setting_value(entry: CatalogueEntry, dest: Path) -> Path:
    return dest / entry.main_file.path if entry.kind == "llm" else dest


def set_model_in_config(cfg_path: Path, entry: CatalogueEntry, target: Path) -> str:
    key = _setting_key(entry)
    section, name = key.split(".")
    original = cfg_path.read_text(encoding="utf-8") if cfg_path.exists() else None
    new_text = set_toml_string(original or "", section, name, str(target))
    try:
        parsed = tomllib.loads(new_text)
        ok = parsed.get(section, {}).get(name) == str(target)
        if ok:
            configmod.validate(parsed, str(cfg_path))
    except (tomllib.TOMLDecodeError, ConfigError, AttributeError):
        ok = False
    if not ok:
        raise HushnoteError(f"The model is downloaded, but hushnote could not safely edit {cfg_path}.",
                            f'Set it by hand: under [{section}] put {name} = {json.dumps(str(target))}')
    atomic_write_text(cfg_path, new_text)
    try:
        configmod.load(cfg_path)
    except ConfigError:
        if original is None:
            cfg_path.unlink(missing_ok=True)
        else:
            atomic_write_text(cfg_path, original)
        raise
    return key


_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\"' -]+?)\s*\]\s*(#.*)?$")


def set_toml_string(text: str, section: str, key: str, value: str) -> str:
    """``text`` with ``[section] key = "value"``, changing as little as possible: the one line if the
    key is set, else one line after the section header, else a new section at the end. Callers
    re-parse the result: odd layouts (dotted keys, inline tables, multi-line strings) are caught there."""
    literal = json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    lines = text.splitlines(keepends=True)
    nl = "\r\n" if "\r\n" in text else "\n"
    start = end = None
    for i, line in enumerate(lines):
        m = _HEADER.match(line.rstrip("\r\n"))
        if m and not line.lstrip().startswith("[["):
            if start is not None:
                end = i
                break
            if m.group(1).strip() == section:
                start = i
    if start is None:
        sep = "" if not text or text.endswith(("\n", "\r\n")) else nl
        gap = nl if text.strip() else ""
        return f"{text}{sep}{gap}[{section}]{nl}{key} = {literal}{nl}"
    end = len(lines) if end is None else end
    key_re = re.compile(rf"^(\s*){re.escape(key)}\s*=")
    for i in range(start + 1, end):
        m = key_re.match(lines[i])
        if m:
            ending = nl if lines[i].endswith(("\n", "\r\n")) else ""
            lines[i] = f"{m.group(1)}{key} = {literal}{ending}"
            return "".join(lines)
    header = lines[start]
    if not header.endswith(("\n", "\r\n")):
        lines[start] = header + nl
    lines.insert(start + 1, f"{key} = {literal}{nl}")
    return "".join(lines)
