"""The message format between the checker and the process running a student's code: numbers only, parsed defensively.

Both directions use it: the checker's requests (an operation and its
arguments) and the replies. Neither side unpickles anything.

A reply is ``[8-byte length][4-byte header length][JSON header][float64 data]``.
The header holds ``status`` (``ok``, ``user``: the code raised, ``target``: the
code has the wrong API), a one-line ``message``, an ``event`` (``memory``,
``output``), the ``mutated`` inputs and a ``value`` tree of JSON scalars,
lists, string-keyed dicts, arrays ``{"__a": i, "dtype": ..., "shape": [...]}``
(the i-th block of float64 data) and handles ``{"__h": id}`` to objects that
stay in the student's process (a layer's cache). The checker never unpickles
anything that process wrote: whatever it writes is at worst an unreadable
reply, never code the checker runs.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

import numpy as np

MAX_REPLY = 64 << 20  # bytes; a reply beyond this is refused
MAX_HEADER = 1 << 20
MAX_NODES = 10_000
DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
DTYPES |= {"float16", "float32", "float64"}


class BadReply(Exception):
    """The reply does not follow the format (the student's code wrote to the channel, or was cut off)."""


@dataclass(frozen=True)
class Handle:
    """An object that stays in the student's process; ``generation`` names which process."""

    id: int
    generation: int = 0


def encode(status: str, value=None, message: str = "", event: str = "", mutated=()) -> bytes:
    """One reply (called in the student's process on values the checker's code there built)."""
    blocks: list[bytes] = []

    def plain(x):  # what JSON cannot hold itself
        if isinstance(x, np.ndarray):
            blocks.append(np.ascontiguousarray(x, dtype="<f8").tobytes())
            name = x.dtype.name if x.dtype.name in DTYPES else "float64"
            return {"__a": len(blocks) - 1, "dtype": name, "shape": list(x.shape)}
        if isinstance(x, Handle):
            return {"__h": x.id}
        if isinstance(x, np.generic):
            return x.item()
        raise TypeError(f"{type(x).__name__} cannot be sent")

    header = json.dumps(
        {"status": status, "message": message, "event": event, "mutated": list(mutated), "value": value}, default=plain
    ).encode()
    body = struct.pack("<I", len(header)) + header + b"".join(blocks)
    return struct.pack("<Q", len(body)) + body


def decode(body: bytes, generation: int = 0) -> dict:
    """The header dict with arrays and handles rebuilt; :class:`BadReply` for anything malformed."""
    try:
        (size,) = struct.unpack_from("<I", body)
        if size > min(MAX_HEADER, len(body) - 4):
            raise BadReply("header too large")
        header = json.loads(body[4 : 4 + size])
        data = memoryview(body)[4 + size :]
        if not isinstance(header, dict) or header.get("status") not in ("ok", "user", "target"):
            raise BadReply("no status")
        offset, budget = 0, MAX_NODES

        def rebuild(x):
            nonlocal offset, budget
            budget -= 1
            if budget < 0:
                raise BadReply("too many values")
            if isinstance(x, list):
                return [rebuild(v) for v in x]
            if not isinstance(x, dict):
                return x  # what JSON itself holds: str, int, float, bool, None
            if "__h" in x:
                if type(x["__h"]) is not int:
                    raise BadReply("bad handle")
                return Handle(x["__h"], generation)
            if "__a" not in x:
                return {k: rebuild(v) for k, v in x.items()}
            shape, dtype = x.get("shape"), x.get("dtype")
            if not (isinstance(shape, list) and all(type(n) is int and 0 <= n < 2**31 for n in shape)):
                raise BadReply("bad shape")
            if dtype not in DTYPES:
                raise BadReply("bad dtype")
            start, offset = offset, offset + 8 * math.prod(shape)
            if offset > len(data):
                raise BadReply("array data missing")
            return np.frombuffer(data[start:offset], dtype="<f8").reshape(shape).astype(dtype)

        header["value"] = rebuild(header.get("value"))
        for key in ("message", "event"):
            header[key] = _one_line(header.get(key))
        mutated = header.get("mutated")
        header["mutated"] = [_one_line(m) for m in mutated[:8]] if isinstance(mutated, list) else []
        return header
    except BadReply:
        raise
    except Exception as e:  # struct, JSON, recursion, numpy: all mean a malformed reply
        raise BadReply(type(e).__name__) from None


def read_message(stream) -> bytes:
    """The body of the next message on a binary ``stream`` (its 8-byte length first); EOFError at the end."""
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    (size,) = struct.unpack("<Q", head)
    body = stream.read(size)
    if len(body) < size:
        raise EOFError
    return body


def _one_line(text) -> str:
    text = text if isinstance(text, str) else ""
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."
