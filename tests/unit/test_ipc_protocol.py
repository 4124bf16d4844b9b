"""The wire format: encoding, validation of every field, and fuzzing of the decoders (pure, no sockets)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hushnote.ipc import protocol
from hushnote.ipc.protocol import Event, IpcError, Reply, Request, check_args, decode_message, decode_request
from hypothesis import given, settings
from hypothesis import strategies as st


def test_request_round_trip() -> None:
    line = protocol.encode_request(Request(7, "retry", {"id": "12"}))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"v": 1, "id": 7, "op": "retry", "args": {"id": "12"}}
    assert decode_request(line.rstrip(b"\n")) == Request(7, "retry", {"id": "12"})


def test_request_args_optional_and_string_ids() -> None:
    assert decode_request(b'{"v":1,"id":"abc","op":"status"}') == Request("abc", "status", {})
    assert decode_request('{"v":1,"id":1,"op":"record.start","args":null}') == Request(1, "record.start", {})


def test_reply_event_and_error_round_trip() -> None:
    assert decode_message(protocol.encode_result(3, {"state": "paused"})) == Reply(3, True, {"state": "paused"})
    ev = decode_message(protocol.encode_event("job.progress", {"id": "1", "stage": "draft", "fraction": 0.5}))
    assert ev == Event("job.progress", {"id": "1", "stage": "draft", "fraction": 0.5})
    err = decode_message(protocol.encode_error(4, "conflict", "Job 12 is running; it cannot be cancelled now."))
    assert isinstance(err, Reply) and not err.ok and err.error is not None
    assert (err.error.code, err.error.message, err.id) == ("conflict", "Job 12 is running; it cannot be cancelled now.", 4)


def test_unicode_is_carried_verbatim() -> None:
    line = protocol.encode_result(1, {"msg": "Zoë — 50 %"})
    assert "Zoë".encode() in line
    assert decode_message(line) == Reply(1, True, {"msg": "Zoë — 50 %"})


def test_encoders_refuse_what_json_cannot_carry() -> None:
    with pytest.raises(ValueError):
        protocol.encode_result(1, {"x": float("nan")})
    with pytest.raises(TypeError):
        protocol.encode_event("state", {"x": object()})
    with pytest.raises(ValueError):
        protocol.encode_event("Bad Name", {})
    with pytest.raises(ValueError):
        protocol.encode_error(1, "nope", "x")
    with pytest.raises(ValueError):
        IpcError("nope", "x")


@pytest.mark.parametrize(("line", "code", "rid"), [
    (b"not json", "bad_request", None),
    (b"", "bad_request", None),
    (b"[1, 2]", "bad_request", None),
    (b'"a string"', "bad_request", None),
    (b"\xff\xfe{}", "bad_request", None),
    (b'{"v":1,"id":1,"op":"status","args":{"x":NaN}}', "bad_request", None),
    (b"[" * 50000, "bad_request", None),
    (b'{"id":1,"op":"status"}', "bad_request", 1),
    (b'{"v":"1","id":1,"op":"status"}', "bad_request", 1),
    (b'{"v":true,"id":1,"op":"status"}', "bad_request", 1),
    (b'{"v":2,"id":1,"op":"status"}', "version", 1),
    (b'{"v":0,"id":"x","op":"status"}', "version", "x"),
    (b'{"v":1,"op":"status"}', "bad_request", None),
    (b'{"v":1,"id":1.5,"op":"status"}', "bad_request", None),
    (b'{"v":1,"id":true,"op":"status"}', "bad_request", None),
    (b'{"v":1,"id":[1],"op":"status"}', "bad_request", None),
    (b'{"v":1,"id":"","op":"status"}', "bad_request", None),
    (b'{"v":1,"id":99999999999999999999999,"op":"status"}', "bad_request", None),
    (b'{"v":1,"id":1}', "bad_request", 1),
    (b'{"v":1,"id":1,"op":7}', "bad_request", 1),
    (b'{"v":1,"id":1,"op":"Status"}', "bad_request", 1),
    (b'{"v":1,"id":1,"op":"a b"}', "bad_request", 1),
    (b'{"v":1,"id":1,"op":"status","args":[]}', "bad_request", 1),
    (b'{"v":1,"id":1,"op":"status","args":"x"}', "bad_request", 1),
    (b'{"v":1,"id":1,"op":"status","extra":1}', "bad_request", 1),
])
def test_decode_request_rejects(line: bytes, code: str, rid: object) -> None:
    with pytest.raises(IpcError) as info:
        decode_request(line)
    assert info.value.code == code
    assert info.value.request_id == rid
    assert info.value.message and "Traceback" not in info.value.message


@pytest.mark.parametrize("line", [
    b'{"v":1,"id":1}', b'{"v":1,"id":1,"ok":true}', b'{"v":1,"id":1,"ok":false,"error":"x"}',
    b'{"v":1,"event":5}', b'{"v":1,"event":"x","data":[]}', b'{"v":3,"id":1,"ok":true,"result":{}}',
])
def test_decode_message_rejects(line: bytes) -> None:
    with pytest.raises(IpcError):
        decode_message(line)


def test_unknown_error_code_from_a_newer_server_reads_as_internal() -> None:
    msg = decode_message(b'{"v":1,"id":1,"ok":false,"error":{"code":"shiny","message":"m"}}')
    assert isinstance(msg, Reply) and msg.error is not None and msg.error.code == "internal"


def test_check_args() -> None:
    check_args("retry", {"id": "3"}, {"id": str})
    check_args("x", {"n": 2.0}, {}, {"n": (int, float)})
    check_args("x", {}, {}, {"n": int})
    for args, needle in [({}, "needs"), ({"id": 3}, "text"), ({"id": "3", "force": True}, "does not take"),
                         ({"id": True}, "text")]:
        with pytest.raises(IpcError, match=needle) as info:
            check_args("retry", args, {"id": str})
        assert info.value.code == "bad_request"
    with pytest.raises(IpcError, match="a whole number"):
        check_args("x", {"n": True}, {"n": int})
    with pytest.raises(IpcError, match="finite"):
        check_args("x", {"n": float("inf")}, {"n": float})


def test_known_ops_documented() -> None:
    for op in ("status", "queue", "pause", "resume", "retry", "cancel", "subscribe", "ping"):
        assert op in protocol.OPS
        assert f"``{op}" in (protocol.__doc__ or "")
    assert "record.start" in (protocol.__doc__ or "")


# ----------------------------------------------------------------------------- fuzzing

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
envelopes = st.fixed_dictionaries(
    {}, optional={"v": json_values | st.just(1), "id": json_values, "op": json_values | st.sampled_from(["status", "x.y"]),
                  "args": json_values, "extra": json_values})


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_fuzz_decoders_bytes(data: bytes) -> None:
    for decode in (decode_request, decode_message):
        try:
            decode(data)
        except IpcError as exc:
            assert exc.code in protocol.ERROR_CODES


@settings(max_examples=200, deadline=None)
@given(st.one_of(json_values, envelopes))
def test_fuzz_decoders_json_values(value: Any) -> None:
    line = json.dumps(value).encode()
    try:
        req = decode_request(line)
    except IpcError as exc:
        assert exc.code in {"bad_request", "version"}
    else:
        assert isinstance(req.id, int | str) and protocol.valid_name(req.op) and isinstance(req.args, dict)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(min_size=1, max_size=128)),
       st.from_regex(r"[a-z][a-z0-9_]{0,10}(\.[a-z][a-z0-9_]{0,10})?", fullmatch=True),
       st.dictionaries(st.text(max_size=8), json_values, max_size=4))
def test_fuzz_valid_requests_round_trip(rid: int | str, op: str, args: dict[str, Any]) -> None:
    assert decode_request(protocol.encode_request(Request(rid, op, args))) == Request(rid, op, args)
