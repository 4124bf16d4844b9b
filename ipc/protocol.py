"""The hushnote IPC protocol: newline-delimited JSON between the daemon and its clients (CLI, tray).

Framing: one JSON object per line, UTF-8, terminated by ``\\n``. A line longer than the receiver's limit
(``MAX_MESSAGE`` = 64 KiB for requests) is answered with a ``too_large`` error and the connection closed.

Messages (``v`` is always ``PROTOCOL_VERSION``)::

    request   {"v": 1, "id": 7, "op": "status", "args": {}}               id: int or str, args optional
    reply     {"v": 1, "id": 7, "ok": true,  "result": {...}}
    error     {"v": 1, "id": 7, "ok": false, "error": {"code": "not_found", "message": "plain English"}}
    event     {"v": 1, "event": "job.progress", "data": {...}}             server -> subscribers only

Error codes (``ERROR_CODES``): ``bad_request`` (malformed JSON, missing or wrongly typed field),
``unknown_op``, ``too_large``, ``version`` (a ``v`` other than 1), ``internal`` (the service failed;
it keeps running), ``not_found`` (no such job), ``conflict`` (the job is in a state that forbids it).
An error caused by a request whose ``id`` could not be read carries ``"id": null``.

Operations (``OPS`` lists each op's arguments; the daemon registers a handler per op with ``ipc.server.Router``):

``status``
    ``{"state": "running"|"paused", "pid": int, "version": str,
    "queue": {"queued": n, "running": n, "done": n, "failed": n, "cancelled": n},
    "running": [{"id": str, "kind": "recording"|"inbox", "stage": str, "fraction": float, "session": str}],
    "current": the first of "running" | null,
    "failed_recent": [job.done data of a failed job], the last few failures (a week), newest first,
    "next_retention": ISO-8601 str | null, "failed_audio_kept": n, "recording": record.status | null}``
    ``fraction`` is the whole job's share done (0..1, only goes up; it does not restart at each stage).
``queue``
    ``{"jobs": [{"id", "kind", "state", "priority", "attempts", "created", "updated", "error", "reason",
    "session", "retryable"}]}``: ``error`` is the stored code and text, ``reason`` the same in plain words.

``session`` is the name of the job's note (the original file's stem, or ``Session <date> <time>`` for a
recording): for display on this computer only. Clients never log it (nor do they log ``note``/``report``
paths).
``pause`` / ``resume``
    ``{"state": "paused"|"running"}``
``retry {"id": str}`` / ``cancel {"id": str}`` / ``delete {"id": str}`` (the job's audio, now)
    ``{"id": str, "state": str}``; unknown id -> ``not_found``; wrong state -> ``conflict``.
``subscribe`` (handled by the server itself)
    ``{"subscribed": true}``; afterwards the connection receives events:
    ``job.progress {id, stage, fraction, session}`` (``fraction``: the whole job), ``state {state}``,
    ``job.done {id, state, session}`` + when done ``{note: path, empty: bool | null[, warning]}`` (``empty``: no
    section had anything from the session; ``warning``: e.g. the audio ended early), when failed
    ``{reason, retryable, report: path | null}``.
``ping`` (handled by the server itself)
    ``{"pong": true}``: a liveness check that does not touch the daemon.

``record.start {"consent_confirmed"?: bool, "source"?: "cli"|"tray"}`` / ``record.stop`` / ``record.status``
    (registered by the daemon's recorder, ``recording.controller``): ``{"recording": bool, "state":
    "idle"|"starting"|"recording"|"finalising", "id": str|null, "elapsed_s", "level_db", "device"}``;
    ``record.status`` adds ``require_consent`` and ``live_transcription``, ``record.start`` adds ``paused``.
    A refusal (already recording, nothing to stop, consent not confirmed, no microphone) -> ``conflict``.
    Events: ``record.started {id, device}``, ``record.level {id, elapsed_s, level_db}``,
    ``record.warning {id, code, message}``, ``record.stopped {id, reason, seconds, message, job_id}``.

Other ops are added the same way: a handler registered with the router and, for documentation and
argument checking, an entry in ``OPS``: op names are dotted lower-case words.

Nothing in this module does I/O. ``decode_*`` raise ``IpcError`` and nothing else for any input.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeGuard

from hushnote.daemon.core.errors import HushnoteError

PROTOCOL_VERSION: Final = 1
MAX_MESSAGE: Final = 64 * 1024  # bytes per request line, newline excluded
MAX_REPLY: Final = 16 * 1024 * 1024  # bytes per reply/event line a client accepts (a long queue listing)

ERROR_CODES: Final = frozenset(
    {"bad_request", "unknown_op", "too_large", "version", "internal", "not_found", "conflict"}
)

RequestId = int | str
ArgSpec = type | tuple[type, ...]

# op -> (required args, optional args). Server-level ops (subscribe, ping) take no args.
OPS: Final[dict[str, tuple[dict[str, ArgSpec], dict[str, ArgSpec]]]] = {
    "status": ({}, {}),
    "queue": ({}, {}),
    "pause": ({}, {}),
    "resume": ({}, {}),
    "retry": ({"id": str}, {}),
    "cancel": ({"id": str}, {}),
    "delete": ({"id": str}, {}),
    "record.start": ({}, {"consent_confirmed": bool, "source": str}),
    "record.stop": ({}, {}),
    "record.status": ({}, {}),
    "subscribe": ({}, {}),
    "ping": ({}, {}),
}
SERVER_OPS: Final = frozenset({"subscribe", "ping"})
EVENTS: Final = frozenset({"job.progress", "job.done", "state", "record.started", "record.level", "record.warning",
                           "record.stopped"})

_OP_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_MAX_OP = 64
_MAX_ID = 128


def valid_name(name: object) -> bool:
    """Is ``name`` a valid op or event name (dotted lower-case words, at most 64 characters)?"""
    return isinstance(name, str) and len(name) <= _MAX_OP and _OP_RE.fullmatch(name) is not None


class IpcError(HushnoteError):
    """An error reply: ``code`` is one of ``ERROR_CODES``, ``message`` is plain English for a clinician.

    Raise it from a handler to answer with that error. ``request_id`` is the id of the request it
    answers when known (set by the decoder so the server can echo it).
    """

    def __init__(self, code: str, message: str, *, request_id: RequestId | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown IPC error code {code!r}")
        super().__init__(message)
        self.code = code
        self.request_id = request_id

    def __repr__(self) -> str:
        return f"IpcError({self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class Request:
    id: RequestId
    op: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    id: RequestId | None
    ok: bool
    result: dict[str, Any] | None = None
    error: IpcError | None = None


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, Any]


# ----------------------------------------------------------------------------- encoding

def _dump(obj: Mapping[str, Any]) -> bytes:
    """Compact JSON line. Raises ``TypeError``/``ValueError`` for values JSON cannot carry (NaN too)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n"


def encode_request(req: Request) -> bytes:
    _check_id(req.id, None)
    _check_op(req.op, req.id)
    return _dump({"v": PROTOCOL_VERSION, "id": req.id, "op": req.op, "args": req.args})


def encode_result(request_id: RequestId | None, result: Mapping[str, Any]) -> bytes:
    return _dump({"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": result})


def encode_error(request_id: RequestId | None, code: str, message: str) -> bytes:
    if code not in ERROR_CODES:
        raise ValueError(f"unknown IPC error code {code!r}")
    return _dump({"v": PROTOCOL_VERSION, "id": request_id, "ok": False,
                  "error": {"code": code, "message": message}})


def encode_event(name: str, data: Mapping[str, Any]) -> bytes:
    if not valid_name(name):
        raise ValueError("event names are dotted lower-case words")
    return _dump({"v": PROTOCOL_VERSION, "event": name, "data": data})


# ----------------------------------------------------------------------------- decoding

def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _load(line: bytes | str) -> dict[str, Any]:
    """Parse one line into a JSON object, or raise ``IpcError('bad_request')``."""
    try:
        text = line.decode("utf-8") if isinstance(line, bytes | bytearray) else line
        obj = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise IpcError("bad_request", "The message is not valid UTF-8 text.") from None
    except RecursionError:
        raise IpcError("bad_request", "The message is nested too deeply.") from None
    except ValueError:  # JSONDecodeError and the NaN/Infinity rejection
        raise IpcError("bad_request", "The message is not valid JSON.") from None
    if not isinstance(obj, dict):
        raise IpcError("bad_request", "The message must be a JSON object.")
    return obj


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _valid_id(v: Any) -> TypeGuard[RequestId]:
    return (_is_int(v) and -(2**63) <= v < 2**63) or (isinstance(v, str) and 0 < len(v) <= _MAX_ID)


def _check_id(v: Any, known: RequestId | None) -> RequestId:
    if _valid_id(v):
        return v
    raise IpcError("bad_request", f"The request id must be a whole number or a short text (at most {_MAX_ID} "
                   "characters).", request_id=known)


def _check_op(v: Any, rid: RequestId | None) -> str:
    if not isinstance(v, str) or not v:
        raise IpcError("bad_request", "The request has no operation name ('op').", request_id=rid)
    if not valid_name(v):
        raise IpcError("bad_request", "The operation name must be dotted lower-case words such as 'status'.",
                       request_id=rid)
    return v


def _check_version(obj: Mapping[str, Any], rid: RequestId | None) -> None:
    v = obj.get("v")
    if v is None:
        raise IpcError("bad_request", "The message has no protocol version ('v').", request_id=rid)
    if not _is_int(v):
        raise IpcError("bad_request", "The protocol version ('v') must be a whole number.", request_id=rid)
    if v != PROTOCOL_VERSION:
        raise IpcError("version", f"This hushnote service speaks protocol version {PROTOCOL_VERSION}, the "
                       f"request used version {v}. Update hushnote so both parts are the same version.",
                       request_id=rid)


def decode_request(line: bytes | str) -> Request:
    """Validate one request line. Raises ``IpcError`` (with ``request_id`` when it could be read)."""
    obj = _load(line)
    raw_id = obj.get("id")
    rid: RequestId | None = raw_id if _valid_id(raw_id) else None
    _check_version(obj, rid)
    if "id" not in obj:
        raise IpcError("bad_request", "The request has no id.")
    request_id = _check_id(raw_id, None)
    op = _check_op(obj.get("op"), request_id)
    args = obj.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise IpcError("bad_request", "The request's 'args' must be a JSON object.", request_id=request_id)
    unknown = set(obj) - {"v", "id", "op", "args"}
    if unknown:
        raise IpcError("bad_request", "The request has fields this service does not understand.",
                       request_id=request_id)
    return Request(request_id, op, args)


def decode_message(line: bytes | str) -> Reply | Event:
    """Validate one line from the server: a reply (result or error) or an event. Raises ``IpcError``."""
    obj = _load(line)
    _check_version(obj, None)
    if "event" in obj:
        name, data = obj.get("event"), obj.get("data", {})
        if not isinstance(name, str) or not valid_name(name) or not isinstance(data, dict):
            raise IpcError("bad_request", "The service sent an event this version cannot read.")
        return Event(name, data)
    raw_id = obj.get("id")
    if raw_id is not None:
        raw_id = _check_id(raw_id, None)
    ok = obj.get("ok")
    if ok is True:
        result = obj.get("result")
        if not isinstance(result, dict):
            raise IpcError("bad_request", "The service sent a reply without a result.")
        return Reply(raw_id, True, result=result)
    if ok is False:
        err = obj.get("error")
        if not isinstance(err, dict) or not isinstance(err.get("message"), str):
            raise IpcError("bad_request", "The service sent an error reply this version cannot read.")
        code = err.get("code")
        if code not in ERROR_CODES:
            code = "internal"
        return Reply(raw_id, False, error=IpcError(str(code), err["message"], request_id=raw_id))
    raise IpcError("bad_request", "The service sent a message that is neither a reply nor an event.")


def check_args(op: str, args: Mapping[str, Any], required: Mapping[str, ArgSpec],
               optional: Mapping[str, ArgSpec] | None = None) -> None:
    """Check ``args`` against declared types; raise ``IpcError('bad_request')`` naming the problem."""
    optional = optional or {}
    for name in args:
        if name not in required and name not in optional:
            raise IpcError("bad_request", f"'{op}' does not take an argument named {name[:40]!r}.")
    for name, spec in {**required, **optional}.items():
        if name not in args:
            if name in required:
                raise IpcError("bad_request", f"'{op}' needs the argument '{name}'.")
            continue
        value = args[name]
        types = spec if isinstance(spec, tuple) else (spec,)
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            wanted = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
            raise IpcError("bad_request", f"'{op}': the argument '{name}' must be {wanted}.")
        if isinstance(value, float) and not math.isfinite(value):
            raise IpcError("bad_request", f"'{op}': the argument '{name}' must be a finite number.")


_TYPE_NAMES: dict[type, str] = {str: "text", int: "a whole number", float: "a number", bool: "true or false",
                                dict: "an object", list: "a list"}
