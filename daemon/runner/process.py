"""Model work in a child process, so the service process itself never loads a model.

The service's worker hands each job to a ``ModelRunner``: a child process (``python -m hushnote.daemon.runner.process``)
started on the first job, which loads the speech (and drafting) models, transcribes, drafts, and sends the
result back. After ``models.idle_unload_s`` without work the worker stops the child, and every byte of
model memory (CTranslate2, ONNX Runtime, PyAV, llama.cpp and their thread pools) goes back to the system:
the idle service never imports those libraries. A crash inside native model code (or the kernel's
out-of-memory killer) takes down the child, not the service: the job then counts a failed attempt.

Protocol: two private pipes (the child's stdin, and a copy of its original stdout; the child's own
``sys.stdout`` then points at stderr so that nothing a library prints can corrupt the channel). Each
message is a 4-byte big-endian length and a UTF-8 JSON object:

    parent → child  {"op": "job", "config": {...}, "audio": path, "source": name, "data_key": hex|None,
                     "voiceprint": base64 float32|None, "transcript": {...}|None, "voices": {...}|None}
                     (a transcript made while recording, with word times: labelled from "voices", the voice
                     windows embedded while recording, and "audio", then drafted)
                    {"op": "transcribe", "config": {...}, "samples": base64 float32 16 kHz, "source": name}
                     (a live window: its transcript, with word times and "voices" when speakers are wanted)
                    {"op": "vad", "samples": ...}  (speech chunks, where a live window may end)
                    {"op": "status"}   {"op": "exit"}
    child → parent  {"op": "ready"}   {"op": "progress", "stage", "fraction"}
                    {"op": "result", "transcript": {...}, "note": {...}|None, "voices": {"windows": [[s, e]...],
                     "embeddings": base64 float32 (n, 192)}|None}   {"op": "result", "chunks": [...]}
                    {"op": "error", "kind", "message", "hint", "path"}
                    {"op": "status", "pid", "guard", "modules"}

Errors come back as the same ``HushnoteError`` class (``InputError``, ``TooLittleSpeech``, ``ModelError``,
...) with their plain-English message. Any other exception comes back by its class name only (its text could
quote a transcript): it is re-raised in the service as an exception of that name (``RemoteError``).

Safety: the child installs the network guard before anything else (when ``guard.enabled``); it dies with
the service (``PR_SET_PDEATHSIG`` on Linux, and end-of-file on its stdin everywhere). When the progress
callback raises (the service is stopping), the child is killed and the exception propagates. Logs carry
no file names or transcript text, in the child as in the service.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import os
import signal
import struct
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
from hushnote.daemon.core import errors
from hushnote.daemon.core.config import Config, validate
from hushnote.daemon.core.datatypes import (
    Evidence,
    Note,
    NoteSection,
    NoteSentence,
    Progress,
    Segment,
    Transcript,
    Word,
    no_progress,
)
from hushnote.daemon.speakers.diarize import Gathered

if TYPE_CHECKING:
    from hushnote.daemon.notes.pipeline import LiveTranscript

log = logging.getLogger("hushnote.runner")

MAX_MESSAGE = 256 << 20  # a transcript of many hours is a few MB; anything larger is a broken stream
STOP_TIMEOUT_S = 10.0


class RunnerCrashed(RuntimeError):
    """The model process ended in the middle of a job (killed, out of memory, or a crash in native code)."""


class RemoteError(RuntimeError):
    """An unexpected exception in the model process, re-raised here under its class name (no message)."""


_remote_types: dict[str, type[RemoteError]] = {}


def _remote_error(name: str) -> RemoteError:
    cls = _remote_types.get(name)
    if cls is None:
        safe = name if name.isidentifier() else "RemoteError"
        cls = _remote_types[name] = type(safe, (RemoteError,), {})
    return cls("an unexpected error in the model process")


# ----------------------------------------------------------------------------- framing

def send(fh: IO[bytes], msg: dict[str, Any]) -> None:
    data = json.dumps(msg, separators=(",", ":")).encode()
    fh.write(struct.pack(">I", len(data)) + data)
    fh.flush()


def _read_exact(fh: IO[bytes], n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        part = fh.read(n - len(buf))
        if not part:
            return None
        buf += part
    return buf


def receive(fh: IO[bytes]) -> dict[str, Any] | None:
    """The next message, or None at end of file (the other side is gone)."""
    head = _read_exact(fh, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    if n > MAX_MESSAGE:
        raise ValueError("message too large")
    body = _read_exact(fh, n)
    if body is None:
        return None
    msg = json.loads(body)
    if not isinstance(msg, dict):
        raise ValueError("message is not an object")
    return msg


# ----------------------------------------------------------------------------- values over the pipe

def transcript_to_dict(t: Transcript) -> dict[str, Any]:
    return dataclasses.asdict(t)


def transcript_from_dict(d: dict[str, Any]) -> Transcript:
    segs = tuple(Segment(**s) for s in d["segments"])
    words = tuple(Word(float(w["start"]), float(w["end"]), str(w["text"]), int(w["segment"]))
                  for w in d.get("words", ()))
    return Transcript(segs, d["language"], d["duration"], d["model"], d.get("source", ""), d.get("timed", True),
                      bool(d.get("ended_early", False)), d.get("expected_duration"),
                      tuple(str(x) for x in d.get("speakers", ())), str(d.get("speaker_basis", "")), words)


def voices_to_dict(g: Gathered | None) -> dict[str, Any] | None:
    """Embedded voice windows over the pipe: their times, and the embeddings as base64 float32."""
    if g is None:
        return None
    return {"windows": [[w.start, w.end] for w in g.windows], "embeddings": _b64(g.embeddings)}


def voices_from_dict(d: dict[str, Any] | None) -> Gathered | None:
    if d is None:
        return None
    from hushnote.daemon.speakers.embedder import EMBEDDING_DIM, Window

    g = Gathered()
    windows = [Window(float(a), float(b)) for a, b in d["windows"]]
    g.add(windows, _floats(str(d["embeddings"])).reshape(len(windows), EMBEDDING_DIM))  # (0, 192): no speech
    return g


def note_to_dict(n: Note) -> dict[str, Any]:
    return dataclasses.asdict(n)


def note_from_dict(d: dict[str, Any]) -> Note:
    sections = [NoteSection(s["key"], s["title"], [NoteSentence(**x) for x in s["sentences"]])
                for s in d["sections"]]
    risk = [Evidence(**e) for e in d.get("risk", [])]
    return Note(d["template"], sections, d["engine"], d.get("model", ""), d.get("model_sha256", ""), risk,
                d.get("strategy", "single"), d.get("quotes", ""))


def error_to_dict(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, errors.HushnoteError) and getattr(errors, type(exc).__name__, None) is type(exc):
        return {"op": "error", "kind": type(exc).__name__, "message": exc.message, "hint": exc.hint,
                "path": exc.path}
    return {"op": "error", "kind": type(exc).__name__, "remote": True}


def error_from_dict(d: dict[str, Any]) -> BaseException:
    cls = getattr(errors, str(d.get("kind", "")), None)
    if not d.get("remote") and isinstance(cls, type) and issubclass(cls, errors.HushnoteError) \
            and cls is not errors.ConfigError:
        return cls(str(d.get("message", "")), str(d.get("hint") or ""), path=d.get("path"))
    return _remote_error(str(d.get("kind", "RemoteError")))


# ----------------------------------------------------------------------------- the parent side

class ModelRunner:
    """One model child process, started on demand; not thread-safe (one per worker thread)."""

    def __init__(self, *, guard: bool = True, env: dict[str, str] | None = None,
                 audit_log: str | os.PathLike[str] | None = None) -> None:
        self.guard = guard
        self.audit_log = audit_log  # where the child records refused network attempts (network.blocked)
        self.env = env
        self.lock = threading.Lock()  # held by whoever runs a job; stop() from elsewhere takes it too
        self._proc: subprocess.Popen[bytes] | None = None
        self._to: IO[bytes] | None = None
        self._from: IO[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        if self.running:
            return
        self.stop()
        read_fd, write_fd = os.pipe()  # child → parent
        try:
            proc = subprocess.Popen(  # noqa: S603 - our own module, with this interpreter
                [sys.executable, "-m", "hushnote.daemon.runner.process", "--fd", str(write_fd),
                 "--guard", "on" if self.guard else "off",
                 *(["--audit", os.fspath(self.audit_log)] if self.audit_log else [])],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, pass_fds=(write_fd,), env=self.env,
                close_fds=True)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self._proc = proc
        self._to = proc.stdin
        self._from = os.fdopen(read_fd, "rb", buffering=0)
        msg = self._receive()
        if msg.get("op") != "ready":
            self.stop()
            raise RunnerCrashed("the model process did not start")
        log.info("model process started (pid %d)", proc.pid)

    def _receive(self) -> dict[str, Any]:
        assert self._from is not None  # noqa: S101
        try:
            msg = receive(self._from)
        except (ValueError, OSError):
            msg = None
        if msg is None:
            code = self._proc.wait(timeout=STOP_TIMEOUT_S) if self._proc is not None else None
            self._cleanup()
            raise RunnerCrashed(f"the model process ended unexpectedly (exit status {code})")
        return msg

    def process(self, audio: Path | None, cfg: Config, *, source: str = "", data_key: bytes | None = None,
                transcript: Transcript | None = None, progress: Progress = no_progress,
                voiceprint: np.ndarray | None = None, voices: Gathered | None = None) -> tuple[Transcript, Note]:
        """Transcribe ``audio`` and draft its note in the child (or, given a ``transcript``, only draft; one
        made while recording, with word times, is first given speaker labels from ``voices`` and ``audio``).
        ``source`` is the name recorded in the transcript; ``data_key`` opens an encrypted (vault) file;
        ``voiceprint`` is the therapist's enrolled voice (speaker roles). Raises what the pipeline raises."""
        reply = self._call({"op": "job", "config": cfg.as_dict(), "source_file": cfg.source,
                            "audio": str(audio) if audio is not None else None, "source": source,
                            "data_key": data_key.hex() if data_key is not None else None,
                            "voiceprint": _b64(voiceprint) if voiceprint is not None else None,
                            "transcript": transcript_to_dict(transcript) if transcript is not None else None,
                            "voices": voices_to_dict(voices)},
                           progress)
        return transcript_from_dict(reply["transcript"]), note_from_dict(reply["note"])

    def transcribe_window(self, samples: np.ndarray, cfg: Config, *, source: str = "") -> LiveTranscript:
        """Transcribe 16 kHz mono samples (a live recording's window) in the child, with word times and the
        speech's voice embeddings when speaker labels are wanted (``pipeline.transcribe_window``)."""
        from hushnote.daemon.notes.pipeline import LiveTranscript

        reply = self._call({"op": "transcribe", "config": cfg.as_dict(), "source_file": cfg.source,
                            "samples": _b64(samples), "source": source}, no_progress)
        return LiveTranscript(transcript_from_dict(reply["transcript"]), voices_from_dict(reply.get("voices")))

    def speech_chunks(self, samples: np.ndarray) -> list[dict[str, int]]:
        """Silero VAD's speech chunks (sample offsets) of 16 kHz mono samples, computed in the child."""
        reply = self._call({"op": "vad", "samples": _b64(samples)}, no_progress)
        return [{"start": int(c["start"]), "end": int(c["end"])} for c in reply["chunks"]]

    def _call(self, msg: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """Send one request (starting the child if needed); relay its progress; return its result."""
        self.start()
        assert self._to is not None  # noqa: S101
        try:
            send(self._to, msg)
        except OSError:
            self.kill()
            raise RunnerCrashed("the model process is not reachable") from None
        while True:
            reply = self._receive()
            op = reply.get("op")
            if op == "progress":
                try:
                    progress(str(reply["stage"]), float(reply["fraction"]), "")
                except BaseException:
                    self.kill()  # e.g. the service is stopping: the job is released, the child ends now
                    raise
            elif op == "result":
                return reply
            elif op == "error":
                raise error_from_dict(reply)
            else:
                self.kill()
                raise RunnerCrashed("the model process sent something unexpected")

    def status(self) -> dict[str, Any]:
        """The child's pid, whether its network guard is on, and which heavy libraries it has loaded."""
        self.start()
        assert self._to is not None  # noqa: S101
        send(self._to, {"op": "status"})
        return self._receive()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Ask the child to exit (it unloads everything by ending); kill it if it does not in time."""
        if self._proc is None:
            return
        if self._proc.poll() is None and self._to is not None:
            with contextlib.suppress(OSError, ValueError):
                send(self._to, {"op": "exit"})
            try:
                self._proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            log.info("model process stopped")
        self._cleanup()

    def stop_if_idle(self, kill_busy: bool = False) -> bool:
        """Stop the child unless a request is in flight (``lock`` held): returns whether it was running and
        is now stopped. A busy one is left to finish, or with ``kill_busy`` sent SIGKILL only (its user is
        inside a call: it sees the end of the pipe and cleans up itself)."""
        if self.lock.acquire(blocking=False):
            try:
                was = self.running
                self.stop()
                return was
            finally:
                self.lock.release()
        if kill_busy:
            pid = self.pid
            if pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        return False

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
            log.info("model process killed")
        self._cleanup()

    def _cleanup(self) -> None:
        for fh in (self._to, self._from):
            if fh is not None:
                with contextlib.suppress(OSError):
                    fh.close()
        self._to = self._from = None
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=STOP_TIMEOUT_S)
        self._proc = None

    def __enter__(self) -> ModelRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ----------------------------------------------------------------------------- the child side

def _die_with_parent() -> None:
    """Linux: the kernel sends SIGKILL to this process when the thread that started it ends."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class _OneFileVault:
    """The ``vault.open`` a pipeline needs for one encrypted file, given its unwrapped data key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def open(self, path: str | os.PathLike[str], *, file_id: str | None = None,
             allow_incomplete: bool = False) -> Any:
        from hushnote.daemon.privacy.vault import DecryptedFile

        return DecryptedFile(Path(path), self._key, allow_incomplete=allow_incomplete, expect_id=file_id)


def run_job(msg: dict[str, Any], out: IO[bytes]) -> dict[str, Any]:
    from hushnote.daemon.notes import pipeline

    cfg = validate(msg["config"], str(msg.get("source_file", "(service)")))
    lock = threading.Lock()

    def progress(stage: str, fraction: float, detail: str = "") -> None:
        with lock:
            send(out, {"op": "progress", "stage": stage, "fraction": fraction})

    kwargs: dict[str, Any] = {}
    if msg.get("voiceprint"):
        kwargs["voiceprint"] = _floats(msg["voiceprint"])
    if msg.get("data_key"):
        kwargs["vault"] = _OneFileVault(bytes.fromhex(msg["data_key"]))
    if not msg.get("transcript"):
        transcript = pipeline.transcribe_file(Path(msg["audio"]), cfg, progress, **kwargs)
    else:
        transcript = transcript_from_dict(msg["transcript"])
        if transcript.words and msg.get("audio"):  # made while recording: speakers are labelled now
            transcript = pipeline.label_recorded(Path(msg["audio"]), transcript, cfg,
                                                 voices_from_dict(msg.get("voices")), progress=progress, **kwargs)
    if msg.get("source"):
        transcript = dataclasses.replace(transcript, source=str(msg["source"]))
    note = pipeline.draft_note(transcript, cfg, progress=progress)
    return {"op": "result", "transcript": transcript_to_dict(transcript), "note": note_to_dict(note)}


def _b64(samples: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(samples, dtype="<f4").reshape(-1).tobytes()).decode("ascii")


def _floats(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)  # a writable copy


def _samples(msg: dict[str, Any]) -> np.ndarray:
    return _floats(msg["samples"])


def run_transcribe(msg: dict[str, Any]) -> dict[str, Any]:
    from hushnote.daemon.notes.pipeline import transcribe_window

    cfg = validate(msg["config"], str(msg.get("source_file", "(service)")))
    got = transcribe_window(_samples(msg), cfg, str(msg.get("source") or ""))
    return {"op": "result", "transcript": transcript_to_dict(got.transcript), "note": None,
            "voices": voices_to_dict(got.voices)}


def run_vad(msg: dict[str, Any]) -> dict[str, Any]:
    from hushnote.daemon.speech.audio import speech_chunks

    return {"op": "result", "chunks": speech_chunks(_samples(msg))}


def child_main(argv: list[str]) -> int:
    guard_on = "--guard" not in argv or argv[argv.index("--guard") + 1] != "off"
    if guard_on:
        from hushnote.daemon.privacy import guard

        on_block = None
        if "--audit" in argv:  # refusals in this child go to the service's audit log (it is multi-process safe)
            from hushnote.daemon.privacy.audit_head import audit_log

            on_block = audit_log(Path(argv[argv.index("--audit") + 1])).on_guard_block
        guard.install(on_block=on_block)
    _die_with_parent()
    fd = int(argv[argv.index("--fd") + 1])
    if os.getppid() == 1:
        return 0  # the parent died before PR_SET_PDEATHSIG was in place
    out = os.fdopen(fd, "wb", buffering=0)
    os.dup2(2, 1)  # stray prints go to stderr, never into the channel
    sys.stdout = sys.stderr
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("hushnote").setLevel(logging.INFO)
    inp = sys.stdin.buffer
    send(out, {"op": "ready"})
    while True:
        msg = receive(inp)
        if msg is None or msg.get("op") == "exit":
            return 0  # end of file: the service is gone
        if msg.get("op") == "status":
            from hushnote.daemon.privacy import guard

            heavy = ("ctranslate2", "onnxruntime", "av", "faster_whisper", "llama_cpp")
            g = guard.status()
            send(out, {"op": "status", "pid": os.getpid(), "guard": bool(g["installed"] and not g["allow_network"]),
                       "modules": [m for m in heavy if m in sys.modules]})
            continue
        handler = {"transcribe": run_transcribe, "vad": run_vad}.get(str(msg.get("op")))
        if handler is None and msg.get("op") != "job":
            continue
        try:
            reply = run_job(msg, out) if handler is None else handler(msg)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the service by class
            reply = error_to_dict(exc)
            if "remote" in reply:  # where, by code file and line only (the message could quote a transcript)
                where = " < ".join(f"{Path(f.filename).name}:{f.lineno}"
                                   for f in reversed(traceback.extract_tb(exc.__traceback__)[-4:]))
                log.error("model process: job failed (%s at %s)", type(exc).__name__, where)
        send(out, reply)


if __name__ == "__main__":
    raise SystemExit(child_main(sys.argv[1:]))
