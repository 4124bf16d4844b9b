"""Read a safetensors file without torch or the ``safetensors`` package.

The format: an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
byte range (``data_offsets``, relative to the end of the header), then the raw little-endian data.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import numpy.typing as npt

_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4", "I8": "i1", "U8": "u1"}
_MAX_HEADER = 100 * 1024 * 1024


class TensorFileError(ValueError):
    """A safetensors file that cannot be read (the message says what is wrong)."""


def read_tensors(data: bytes, names: set[str] | None = None) -> dict[str, npt.NDArray[Any]]:
    """The tensors in ``data`` (the whole file), or only those in ``names``; arrays are read-only views."""
    if len(data) < 8:
        raise TensorFileError("safetensors: the file is shorter than its 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise TensorFileError(f"safetensors: header length {n} does not fit the file ({len(data)} bytes)")
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TensorFileError(f"safetensors: the header is not JSON ({e})") from e
    if not isinstance(header, dict):
        raise TensorFileError("safetensors: the header is not a JSON object")
    body = memoryview(data)[8 + n:]
    out: dict[str, npt.NDArray[Any]] = {}
    for name, meta in header.items():
        if name == "__metadata__" or (names is not None and name not in names):
            continue
        out[name] = _tensor(name, meta, body)
    return out


def _tensor(name: str, meta: Any, body: memoryview) -> npt.NDArray[Any]:
    try:
        dtype = np.dtype(_DTYPES[meta["dtype"]])
        shape = tuple(int(s) for s in meta["shape"])
        start, end = (int(x) for x in meta["data_offsets"])
    except (KeyError, TypeError, ValueError) as e:
        raise TensorFileError(f"safetensors: tensor {name!r} has an unreadable entry ({e})") from e
    count = int(np.prod(shape, dtype=np.int64))
    if not 0 <= start <= end <= len(body) or end - start != count * dtype.itemsize:
        raise TensorFileError(f"safetensors: tensor {name!r} has byte range {start}..{end}, "
                              f"which does not fit its shape {shape} or the file")
    return np.frombuffer(body[start:end], dtype=dtype).reshape(shape)
