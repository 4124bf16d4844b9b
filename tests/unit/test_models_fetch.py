"""``hushnote models fetch``: against a loopback stand-in for the model hub (no real network)."""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hushnote.daemon.cli import main as cli
from hushnote.daemon.core import config
from hushnote.daemon.models import catalogue
from hushnote.daemon.models.catalogue import CatalogueEntry, ModelFile

GGUF = bytes(range(256)) * 1500  # 384 000 bytes
WHISPER = {
    "model.bin": b"\x01\x02weights" * 40_000,
    "config.json": b'{"alignment_heads": []}',
    "tokenizer.json": b'{"model": {}}',
    "vocabulary.txt": b"a\nb\nc\n",
}


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@dataclass
class Hub:
    """A tiny model hub: ``/<repo>/resolve/<rev>/<file>``, with Range, ETag and optional redirects."""

    files: dict[str, bytes]
    mode: str = "ok"  # ok | corrupt | drop-once | missing
    redirect: bool = False  # answer resolve URLs with 302 + X-Linked-Etag, like huggingface.co
    announce: str | None = None  # announce this sha256 instead of the true one
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    url: str = ""

    def content(self, name: str) -> bytes | None:
        data = self.files.get(name)
        if data is None or self.mode == "missing":
            return None
        if self.mode == "corrupt":
            return bytes([data[0] ^ 0xFF]) + data[1:]
        return data


def _handler(hub: Hub) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
            return

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            hub.requests.append((self.path, self.headers.get("Range")))
            m = re.fullmatch(r"/[^/]+/[^/]+/resolve/[^/]+/(.+)", self.path)
            cdn = re.fullmatch(r"/cdn/(.+)", self.path)
            name = m.group(1) if m else cdn.group(1) if cdn else None
            data = hub.content(name) if name else None
            if data is None:
                self.send_error(404)
                return
            true_sha = hub.announce or sha(hub.files[name or ""])  # normally the *right* checksum
            if m and hub.redirect:
                self.send_response(302)
                self.send_header("Location", f"/cdn/{name}")
                self.send_header("X-Linked-Etag", f'"{true_sha}"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = 0
            rng = self.headers.get("Range")
            if rng:
                start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))  # type: ignore[union-attr]
                if start >= len(data):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", '"opaque-cdn-tag"' if cdn else f'"{true_sha}"')
            self.end_headers()
            if hub.mode == "drop-once":
                hub.mode = "ok"
                self.wfile.write(body[: len(body) // 3])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture()
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    h = Hub(files={"tiny.gguf": GGUF, **WHISPER})
    server = http.server.HTTPServer(("127.0.0.1", 0), _handler(h))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-hub", daemon=True)
    thread.start()
    h.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", h.url)
    try:
        yield h
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture()
def tiny(monkeypatch: pytest.MonkeyPatch) -> dict[str, CatalogueEntry]:
    entries = {
        "tiny-llm": CatalogueEntry(
            name="tiny-llm", kind="llm", repo="test/tiny-GGUF", revision="0123abc",
            files=(ModelFile("tiny.gguf", len(GGUF), sha(GGUF)),),
            licence="Test Licence 1.0", licence_url="https://example.invalid/licence", purpose="testing",
        ),
        # no pinned sha256: must be checked against the server's X-Linked-Etag
        "tiny-whisper": CatalogueEntry(
            name="tiny-whisper", kind="whisper", repo="test/tiny-whisper", revision="main",
            files=tuple(ModelFile(n, len(b)) for n, b in WHISPER.items()),
            licence="MIT", licence_url="https://example.invalid/mit", purpose="testing",
        ),
    }
    monkeypatch.setattr(catalogue, "CATALOGUE", entries)
    return entries


def fetch(*args: str) -> int:
    return cli.main(["models", "fetch", *args])


def model_dir(name: str) -> Path:
    return config.load().path("paths.data") / "models" / name


def test_fetch_verifies_installs_and_updates_config(home: Path, hub: Hub, tiny: object,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    cfg_path = config.resolve_config_path()
    cfg_path.parent.mkdir(parents=True, exist_ok=True)
    cfg_path.write_text("# my settings\n[drafting]\ntemplate = \"dap\"  # I like DAP\n\n[worker]\ncount = 1\n",
                        encoding="utf-8")
    assert fetch("tiny-llm", "--yes") == 0
    out = capsys.readouterr().out
    assert "Test Licence 1.0" in out and "127.0.0.1" in out and "384.0 KB" in out

    path = model_dir("tiny-llm") / "tiny.gguf"
    assert path.read_bytes() == GGUF
    assert not path.with_name("tiny.gguf.part").exists()
    text = cfg_path.read_text(encoding="utf-8")
    assert text.startswith("# my settings\n[drafting]\n")
    assert 'template = "dap"  # I like DAP' in text and "[worker]\ncount = 1" in text
    cfg = config.load()
    assert cfg["drafting.model_path"] == str(path)
    assert cfg["drafting.template"] == "dap"
    assert hub.requests == [("/test/tiny-GGUF/resolve/0123abc/tiny.gguf", None)]

    # a second run finds it verified and contacts nobody
    assert fetch("tiny-llm", "--yes") == 0
    assert len(hub.requests) == 1


def test_whisper_through_redirect_with_server_checksum_creates_config(home: Path, hub: Hub, tiny: object) -> None:
    hub.redirect = True
    cfg_path = config.resolve_config_path()
    assert not cfg_path.exists()
    assert fetch("tiny-whisper", "--yes") == 0
    folder = model_dir("tiny-whisper")
    for name, data in WHISPER.items():
        assert (folder / name).read_bytes() == data
    assert tomllib.loads(cfg_path.read_text(encoding="utf-8")) == {"transcription": {"model": str(folder)}}
    assert any(p.startswith("/cdn/") for p, _ in hub.requests)


def test_corrupted_download_is_removed_and_config_untouched(home: Path, hub: Hub, tiny: object,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    hub.mode = "corrupt"
    assert fetch("tiny-llm", "--yes") != 0
    err = capsys.readouterr().err
    assert "damaged" in err and "Traceback" not in err
    folder = model_dir("tiny-llm")
    assert list(folder.iterdir()) == []
    assert not config.resolve_config_path().exists()


def test_server_checksum_mismatch_for_unpinned_file_is_caught(home: Path, hub: Hub, tiny: object) -> None:
    hub.mode, hub.redirect = "corrupt", True
    assert fetch("tiny-whisper", "--yes") != 0
    assert list(model_dir("tiny-whisper").iterdir()) == []
    assert not config.resolve_config_path().exists()


def test_interrupted_download_keeps_part_and_resumes_with_range(home: Path, hub: Hub, tiny: object,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    hub.mode = "drop-once"
    assert fetch("tiny-llm", "--yes") != 0
    assert "interrupted" in capsys.readouterr().err
    part = model_dir("tiny-llm") / "tiny.gguf.part"
    have = part.stat().st_size
    assert 0 < have < len(GGUF)
    assert not (model_dir("tiny-llm") / "tiny.gguf").exists()
    assert not config.resolve_config_path().exists()

    assert fetch("tiny-llm", "--yes") == 0
    assert hub.requests[-1][1] == f"bytes={have}-"
    assert (model_dir("tiny-llm") / "tiny.gguf").read_bytes() == GGUF
    assert not part.exists()
    assert config.load()["drafting.model_path"] == str(model_dir("tiny-llm") / "tiny.gguf")


def test_stale_part_longer_than_file_starts_over(home: Path, hub: Hub, tiny: object) -> None:
    folder = model_dir("tiny-whisper")
    folder.mkdir(parents=True)
    (folder / "config.json.part").write_bytes(b"x" * 4096)  # server will answer 416 to the Range
    assert fetch("tiny-whisper", "--yes", "--no-config") == 0
    assert (folder / "config.json").read_bytes() == WHISPER["config.json"]
    assert not config.resolve_config_path().exists()


def test_missing_file_404_is_a_plain_error(home: Path, hub: Hub, tiny: object,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    hub.mode = "missing"
    assert fetch("tiny-llm", "--yes") == 6
    assert "404" in capsys.readouterr().err


def test_network_down_is_a_plain_error(home: Path, tiny: object, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert fetch("tiny-llm", "--yes") == 6
    err = capsys.readouterr().err
    assert "Could not reach 127.0.0.1" in err and "Traceback" not in err


def test_refuses_without_yes_when_stdin_is_not_a_terminal(home: Path, hub: Hub, tiny: object,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert fetch("tiny-llm") != 0
    captured = capsys.readouterr()
    assert "Test Licence 1.0" in captured.out  # the licence was shown first
    assert "--yes" in captured.err
    assert hub.requests == []


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_asks_on_a_terminal(home: Path, hub: Hub, tiny: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", _Tty("n\n"))
    assert fetch("tiny-llm") == 1
    assert hub.requests == []
    monkeypatch.setattr("sys.stdin", _Tty("y\n"))
    assert fetch("tiny-llm", "--no-config") == 0
    assert (model_dir("tiny-llm") / "tiny.gguf").read_bytes() == GGUF
    assert not config.resolve_config_path().exists()


def test_unknown_name_lists_the_catalogue(home: Path, tiny: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert fetch("no-such-model") == 2
    captured = capsys.readouterr()
    assert "no-such-model" in captured.err
    assert "tiny-llm" in captured.out and "tiny-whisper" in captured.out


def test_no_name_lists_the_real_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert fetch() == 0
    out = capsys.readouterr().out
    for name in ("llama-3.2-3b", "qwen2.5-3b", "qwen2.5-7b", "whisper-small.en"):
        assert name in out


def test_catalogue_entries_are_well_formed() -> None:
    for name, e in catalogue.CATALOGUE.items():
        assert e.name == name and e.kind in ("llm", "whisper") and e.licence and e.licence_url.startswith("https://")
        assert e.files and all(f.size > 0 for f in e.files)
        for f in e.files:
            assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256)
        if e.kind == "whisper":
            assert {f.path for f in e.files} >= {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
        else:
            assert e.main_file.path.endswith(".gguf")


@pytest.mark.parametrize(("before", "after"), [
    ("", '[drafting]\nmodel_path = "/m/x.gguf"\n'),
    ("[drafting]\nmodel_path = \"/old\"\n", '[drafting]\nmodel_path = "/m/x.gguf"\n'),
    ("a = 1\n[drafting] # notes\nengine = \"llm\"\n[x]\nmodel_path = 3\n",
     'a = 1\n[drafting] # notes\nmodel_path = "/m/x.gguf"\nengine = "llm"\n[x]\nmodel_path = 3\n'),
    ("[worker]\ncount = 2", '[worker]\ncount = 2\n\n[drafting]\nmodel_path = "/m/x.gguf"\n'),
])
def test_toml_edit_is_minimal(before: str, after: str) -> None:
    from hushnote.daemon.models.fetch import set_toml_string

    assert set_toml_string(before, "drafting", "model_path", "/m/x.gguf") == after


def test_config_with_dotted_key_is_not_mangled(home: Path, hub: Hub, tiny: object,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    cfg_path = config.resolve_config_path()
    cfg_path.parent.mkdir(parents=True, exist_ok=True)
    original = 'drafting.model_path = "/old.gguf"\n'
    cfg_path.write_text(original, encoding="utf-8")
    assert fetch("tiny-llm", "--yes") != 0
    assert "by hand" in capsys.readouterr().err
    assert cfg_path.read_text(encoding="utf-8") == original
    assert (model_dir("tiny-llm") / "tiny.gguf").exists()  # the download itself stands


def test_server_announcing_a_different_file_than_pinned_is_refused(home: Path, hub: Hub, tiny: object,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    hub.announce = "ab" * 32
    assert fetch("tiny-llm", "--yes") == 5  # ModelError
    assert "different tiny.gguf" in capsys.readouterr().err
    assert list(model_dir("tiny-llm").iterdir()) == []
    assert not config.resolve_config_path().exists()


def test_not_enough_disk_space_is_a_plain_error_before_downloading(home: Path, hub: Hub, tiny: object,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from hushnote.daemon.models import fetch as models_fetch

    real = shutil.disk_usage
    monkeypatch.setattr(models_fetch.shutil, "disk_usage",
                        lambda p: real(p)._replace(free=1000))
    assert fetch("tiny-llm", "--yes") == 6
    assert "Not enough disk space" in capsys.readouterr().err
    assert hub.requests == []


def test_disk_full_while_writing_removes_the_part(home: Path, hub: Hub, tiny: object,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import errno

    real_open = Path.open

    class Full(io.BufferedWriter):
        def write(self, b: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    def fake_open(self: Path, mode: str = "r", *a: object, **k: object):
        fh = real_open(self, mode, *a, **k)  # type: ignore[call-overload]
        if self.name.endswith(".part") and "b" in mode and ("w" in mode or "a" in mode):
            fh.close()
            return Full(real_open(self, mode))
        return fh

    monkeypatch.setattr(Path, "open", fake_open)
    assert fetch("tiny-llm", "--yes") == 6
    assert "disk filled up" in capsys.readouterr().err
    assert list(model_dir("tiny-llm").iterdir()) == []
    assert not config.resolve_config_path().exists()
