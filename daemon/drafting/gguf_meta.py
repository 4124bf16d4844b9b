"""Read a GGUF file's header (metadata key/values) without loading its weights.

Used to refuse a file that is not GGUF, or a model without a chat template, before llama.cpp spends
seconds to minutes loading gigabytes. Arrays (the tokenizer vocabulary) are skipped, not kept.
Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

MAGIC = b"GGUF"
# value type -> struct format for the fixed-size scalars
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
MAX_STRING = 1 << 26  # 64 MiB: anything longer is a corrupt header, not a real value


class GgufFormatError(ValueError):
    pass


@dataclass
class GgufHeader:
    version: int
    tensor_count: int
    kv: dict[str, Any] = field(default_factory=dict)  # scalars and strings; arrays as ("array", type, count)
    kv_spans: dict[str, tuple[int, int]] = field(default_factory=dict)  # byte range of each key/value pair
    kv_start: int = 0  # offset of the first key/value pair
    kv_end: int = 0  # offset just after the last one (where the tensor infos begin)


def _read(f: BinaryIO, n: int) -> bytes:
    b = f.read(n)
    if len(b) != n:
        raise GgufFormatError("truncated header")
    return b


def _string(f: BinaryIO) -> str:
    (n,) = struct.unpack("<Q", _read(f, 8))
    if n > MAX_STRING:
        raise GgufFormatError("string length out of range")
    return _read(f, n).decode("utf-8", errors="replace")


def _value(f: BinaryIO, vtype: int) -> Any:
    if vtype in _SCALARS:
        fmt = _SCALARS[vtype]
        return struct.unpack(fmt, _read(f, struct.calcsize(fmt)))[0]
    if vtype == STRING:
        return _string(f)
    if vtype == ARRAY:
        (itype,) = struct.unpack("<I", _read(f, 4))
        (count,) = struct.unpack("<Q", _read(f, 8))
        if itype in _SCALARS:
            f.seek(struct.calcsize(_SCALARS[itype]) * count, 1)
        elif itype == STRING:
            for _ in range(count):
                (n,) = struct.unpack("<Q", _read(f, 8))
                if n > MAX_STRING:
                    raise GgufFormatError("string length out of range")
                f.seek(n, 1)
        else:
            for _ in range(count):
                _value(f, itype)
        return ("array", itype, count)
    raise GgufFormatError(f"unknown value type {vtype}")


def read_header(path: Path) -> GgufHeader:
    """Parse the header of ``path``. Raises ``GgufFormatError`` (not GGUF, truncated, corrupt) or OSError."""
    with path.open("rb") as f:
        if f.read(4) != MAGIC:
            raise GgufFormatError("not a GGUF file")
        (version,) = struct.unpack("<I", _read(f, 4))
        if version < 2:
            raise GgufFormatError(f"GGUF version {version} is too old")
        tensor_count, kv_count = struct.unpack("<QQ", _read(f, 16))
        if kv_count > 1_000_000:
            raise GgufFormatError("key count out of range")
        head = GgufHeader(version, tensor_count, kv_start=f.tell())
        for _ in range(kv_count):
            start = f.tell()
            key = _string(f)
            (vtype,) = struct.unpack("<I", _read(f, 4))
            head.kv[key] = _value(f, vtype)
            head.kv_spans[key] = (start, f.tell())
        head.kv_end = f.tell()
    return head
