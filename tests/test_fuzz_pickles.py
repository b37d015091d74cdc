"""A structure-aware fuzzer for the CIFAR-10 loader: it *generates pickle opcode streams*.

Byte flips of valid files (``test_fuzz.py``) rarely build anything big. Here
hypothesis writes whole streams from a grammar of what hurts an unpickler:
nesting (thousands of ``TUPLE1``/``APPEND`` levels), memo sharing (``BINPUT``
then ``BINGET`` of the same container at every level, the 2**k bombs), huge
declared lengths with few bytes behind them, oversized integers, numpy array
reconstruction with odd shapes and dtypes, globals in and out of the
allow-list, and arbitrary opcodes with arbitrary arguments. Every stream is
wrapped as a batch (``{"data": ..., "labels": ...}``) or as ``batches.meta``
and loaded in a child process capped at 1 GiB of memory (:mod:`capped`),
with a 10 s limit per example. Each must end in a result or autonet's own
error: a crash, a hang, a ``MemoryError`` or any other exception fails.

``AUTONET_FUZZ_EXAMPLES=2000`` for a longer hunt; the default keeps this file
well under a minute.
"""

from __future__ import annotations

import os
import pickle
import struct
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capped import CappedWorker

EXAMPLES = int(os.environ.get("AUTONET_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
WORK = Path(tempfile.mkdtemp(prefix="autonet-pickle-fuzz-"))
WORKER = CappedWorker()

ALL_OPCODES = sorted({v for k, v in vars(pickle).items() if k.isupper() and isinstance(v, bytes) and len(v) == 1})
GLOBALS = [
    b"numpy.core.multiarray\n_reconstruct\n",
    b"numpy._core.multiarray\n_reconstruct\n",
    b"numpy\nndarray\n",
    b"numpy\ndtype\n",
    b"_codecs\nencode\n",
    b"numpy._core.numeric\n_frombuffer\n",
    b"builtins\nlist\n",
    b"posix\nsystem\n",
    b"builtins\ngetattr\n",
    b"numpy\nfrombuffer\n",
]
DTYPES = ["u1", "i8", "f4", "f8", "b1", "O8", "U10", "S3", "V0", "V8", "c16", "M8"]


def _uni(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")
    return (
        pickle.SHORT_BINUNICODE + bytes([len(raw)]) + raw
        if len(raw) < 256
        else pickle.BINUNICODE + struct.pack("<I", len(raw)) + raw
    )


class Stream:
    """Builds one opcode stream; tracks how many memo slots exist so BINGETs can hit them."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.memo = 0

    def maybe_put(self) -> bytes:
        if self.draw(st.integers(0, 3)) == 0:
            self.memo += 1
            return pickle.LONG_BINPUT + struct.pack("<I", self.memo - 1)
        return b""

    def get(self) -> bytes:
        if self.memo and self.draw(st.booleans()):
            return pickle.LONG_BINGET + struct.pack("<I", self.draw(st.integers(0, self.memo - 1)))
        return pickle.LONG_BINGET + struct.pack("<I", self.draw(st.integers(0, 2**32 - 1)))

    def scalar(self) -> bytes:
        d = self.draw
        kind = d(st.sampled_from(["none", "int1", "int", "long", "float", "text", "bytes", "bool", "lying-len"]))
        if kind == "none":
            return pickle.NONE
        if kind == "bool":
            return d(st.sampled_from([pickle.NEWTRUE, pickle.NEWFALSE]))
        if kind == "int1":
            return pickle.BININT1 + bytes([d(st.integers(0, 255))])
        if kind == "int":
            return pickle.BININT + struct.pack("<i", d(st.integers(-(2**31), 2**31 - 1)))
        if kind == "long":
            raw = d(st.binary(max_size=d(st.sampled_from([8, 16, 40]))))
            return pickle.LONG1 + bytes([len(raw)]) + raw
        if kind == "float":
            return pickle.BINFLOAT + struct.pack(">d", d(st.floats(allow_nan=True)))
        if kind == "text":
            return _uni(d(st.text(max_size=d(st.sampled_from([5, 300])))))
        if kind == "bytes":
            raw = d(st.binary(max_size=40))
            return pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw
        # a length far beyond the bytes that follow
        op = d(st.sampled_from([pickle.BINUNICODE, pickle.BINBYTES, pickle.BINSTRING]))
        return op + struct.pack("<I", d(st.integers(2**20, 2**32 - 1))) + d(st.binary(max_size=8))

    def array(self) -> bytes:
        d = self.draw
        if d(st.booleans()):  # what numpy itself writes, for a random small array
            dtype = d(st.sampled_from(["u1", "i8", "f4", "f8"]))
            shape = d(st.lists(st.integers(0, 4), min_size=0, max_size=3))
            # without PROTO and STOP; protocol 5 leaves a FRAME opcode mid-stream, itself a fuzz case
            return pickle.dumps(np.zeros(shape, dtype), protocol=d(st.sampled_from([2, 5])))[2:-1]
        dims = d(st.lists(st.sampled_from([0, 1, 2, 3072, 10**5, 2**31 - 1]), max_size=3))
        shape = pickle.MARK + b"".join(pickle.BININT + struct.pack("<i", x) for x in dims) + pickle.TUPLE
        dtype = (
            b"cnumpy\ndtype\n"
            + _uni(d(st.sampled_from(DTYPES)))
            + pickle.NEWFALSE
            + pickle.NEWTRUE
            + pickle.TUPLE3
            + pickle.REDUCE
        )
        state = (
            pickle.MARK
            + pickle.BININT1
            + b"\x01"
            + shape
            + dtype
            + pickle.NEWFALSE
            + pickle.SHORT_BINBYTES
            + bytes([len(raw := d(st.binary(max_size=24)))])
            + raw
            + pickle.TUPLE
        )
        return (
            b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
            + shape
            + pickle.SHORT_BINBYTES
            + b"\x01b"
            + pickle.TUPLE3
            + pickle.REDUCE
            + state
            + pickle.BUILD
        )

    def value(self, budget: int) -> bytes:
        d = self.draw
        choices = ["scalar", "get", "global", "odd", "deep", "shared-chain", "array"]
        if budget > 0:
            choices += ["list", "tuple", "dict", "call"] * 2
        kind = d(st.sampled_from(choices))
        if kind == "scalar":
            return self.scalar() + self.maybe_put()
        if kind == "get":
            return self.get()
        if kind == "global":
            return pickle.GLOBAL + d(st.sampled_from(GLOBALS)) + self.maybe_put()
        if kind == "odd":  # any opcode, any argument bytes
            return d(st.sampled_from(ALL_OPCODES)) + d(st.binary(max_size=9))
        if kind == "deep":  # nesting far past any limit
            depth = d(st.sampled_from([9, 100, 5000, 200_000]))
            if d(st.booleans()):
                return pickle.EMPTY_TUPLE + pickle.TUPLE1 * depth
            return pickle.MARK * depth + pickle.NONE + pickle.LIST * depth
        if kind == "shared-chain":  # x_{k+1} = [x_k, x_k]: 2**levels leaves
            levels = d(st.integers(1, 40))
            op_open, op_close = d(st.sampled_from([(pickle.MARK, pickle.LIST), (pickle.MARK, pickle.TUPLE)]))
            base = self.memo
            out = pickle.NONE + pickle.LONG_BINPUT + struct.pack("<I", base)
            for i in range(levels):
                ref = pickle.LONG_BINGET + struct.pack("<I", base + i)
                out += (
                    pickle.POP + op_open + ref + ref + op_close + pickle.LONG_BINPUT + struct.pack("<I", base + i + 1)
                )
            self.memo = base + levels + 1
            return out
        if kind == "array":
            return self.array() + self.maybe_put()
        if kind == "call":
            func = pickle.GLOBAL + d(st.sampled_from(GLOBALS))
            return (
                func
                + pickle.MARK
                + b"".join(self.value(budget - 1) for _ in range(d(st.integers(0, 3))))
                + pickle.TUPLE
                + pickle.REDUCE
                + self.maybe_put()
            )
        items = [self.value(budget - 1) for _ in range(d(st.integers(0, 4)))]
        if kind == "list":
            return pickle.EMPTY_LIST + self.maybe_put() + pickle.MARK + b"".join(items) + pickle.APPENDS
        if kind == "tuple":
            return pickle.MARK + b"".join(items) + pickle.TUPLE + self.maybe_put()
        pairs = b"".join(self.value(0) + v for v in items)
        return pickle.EMPTY_DICT + self.maybe_put() + pickle.MARK + pairs + pickle.SETITEMS


@st.composite
def batch_streams(draw) -> bytes:
    s = Stream(draw)
    data = s.array() if draw(st.booleans()) else s.value(3)
    labels = s.value(3)
    extra = s.value(2) + s.value(2) if draw(st.booleans()) else b""
    body = _uni("data") + data + _uni("labels") + labels + extra
    return pickle.PROTO + b"\x02" + pickle.EMPTY_DICT + pickle.MARK + body + pickle.SETITEMS + pickle.STOP


@st.composite
def meta_streams(draw) -> bytes:
    s = Stream(draw)
    names = b"".join(
        s.value(2) if draw(st.integers(0, 4)) == 0 else _uni(draw(st.text(max_size=8)))
        for _ in range(draw(st.integers(0, 11)))
    )
    body = _uni("label_names") + pickle.EMPTY_LIST + pickle.MARK + names + pickle.APPENDS
    return pickle.PROTO + b"\x02" + pickle.EMPTY_DICT + pickle.MARK + body + pickle.SETITEMS + pickle.STOP


def _load(kind: str, blob: bytes) -> None:
    path = WORK / ("batches.meta" if kind == "meta" else "data_batch_1")
    path.write_bytes(blob)
    status, detail = WORKER.load(kind, path, timeout=10)
    assert status in ("ok", "error"), (status, detail, blob[:300])
    assert "\n" not in detail and len(detail) < 1000, detail[:2000]


@FUZZ
@given(batch_streams())
def test_generated_batch_streams_end_in_a_result_or_a_data_error(blob):
    _load("batch", blob)


@FUZZ
@given(meta_streams())
def test_generated_meta_streams_end_in_a_result_or_a_data_error(blob):
    _load("meta", blob)


def test_the_grammar_reaches_the_bombs():
    """The generator is not vacuous: the streams it can build include the bombs the scan refuses."""
    found: set[str] = set()

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(batch_streams())
    def collect(blob):
        path = WORK / "probe"
        path.write_bytes(blob)
        status, detail = WORKER.load("batch", path, timeout=10)
        for needle in (
            "nested more than",
            "second reference to the same",
            "refused to unpickle global",
            "opcode",
            "not a valid pickle",
        ):
            if needle in detail:
                found.add(needle)

    collect()
    assert len(found) >= 4, found


def teardown_module():
    WORKER.close()
