"""Structure bombs in CIFAR-10 pickles: no code payload, just opcodes that build too much.

Each file is loaded in a child process capped at 1 GiB and 120 CPU seconds
(:mod:`capped`), so a regression shows up as a failed test -- "crash",
"timeout" or "memory" -- instead of taking the test run down. Before the
loader walked the opcodes itself (:mod:`autonet.data.safe_pickle`) the first
four cases segfaulted, hashed forever, asked numpy for 16 GB and took 3 minutes
to print a 671 MB error line.
"""

from __future__ import annotations

import os
import pickle
import re
import struct
import time

import numpy as np
import pytest

from capped import CappedWorker

PROTO2 = b"\x80\x02"


def _uni(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _array(arr: np.ndarray) -> bytes:
    """The opcodes numpy writes for ``arr`` (protocol 2, without PROTO and STOP)."""
    return pickle.dumps(arr, protocol=2)[2:-1]


def _batch(labels: bytes, data: bytes | None = None) -> bytes:
    data = _array(np.zeros((2, 3072), np.uint8)) if data is None else data
    return PROTO2 + b"}(" + _uni("data") + data + _uni("labels") + labels + b"u."


def _shared_list(levels: int) -> bytes:
    """[l, l] where l = [m, m] ... : ``levels`` memo references deep, 2**levels leaves."""
    out = b"]r" + struct.pack("<I", 0) + b"(K\x00K\x00e0"
    for i in range(levels):
        ref = b"j" + struct.pack("<I", i)
        out += b"]r" + struct.pack("<I", i + 1) + b"(" + ref + ref + b"e0"
    return out + b"j" + struct.pack("<I", levels)


def deep_tuple_key() -> bytes:
    return PROTO2 + b"})" + b"\x85" * 10**6 + b"Ns."  # {((((...)))): None}, 10**6 deep


def shared_tuple_key() -> bytes:
    out = PROTO2 + b"})q\x000"
    for i in range(40):
        out += b"h" + bytes([i]) + b"h" + bytes([i]) + b"\x86q" + bytes([i + 1]) + b"0"
    return out + b"h" + bytes([40]) + b"Ns."  # a 2**40-leaf tuple as a dict key


def shared_labels() -> bytes:
    return _batch(_shared_list(31))


def meta_bomb() -> bytes:
    return PROTO2 + b"}(" + _uni("label_names") + b"](" + _shared_list(31) + _uni("a") * 9 + b"eu."


def ndarray_call() -> bytes:  # numpy.ndarray((100000, 100000)): 10 GB from 60 bytes
    return _batch(b"K\x00", PROTO2[:0] + b"cnumpy\nndarray\nJ\xa0\x86\x01\x00J\xa0\x86\x01\x00\x86\x85R")


def reconstruct_huge() -> bytes:  # _reconstruct(ndarray, (10**5, 10**5), b"b")
    return _batch(
        b"K\x00",
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\xa0\x86\x01\x00J\xa0\x86\x01\x00\x86C\x01b\x87R",
    )


def object_array() -> bytes:
    arr = np.empty(2, dtype=object)
    arr[:] = [1, 2]
    return _batch(_array(arr))


def long_string_labels() -> bytes:  # np.asarray would size 1000 strings by the longest: 4 GB
    return _batch(
        b"(" + b"X" + struct.pack("<I", 10**6) + b"a" * 10**6 + b"K\x00" * 999 + b"l",
        _array(np.zeros((1000, 3072), np.uint8)),
    )


def huge_int_label() -> bytes:
    return _batch(b"(\x8b" + struct.pack("<i", 10**6) + b"\x01" * 10**6 + b"K\x00l")


def persistent_id() -> bytes:
    return PROTO2 + b"}(" + _uni("data") + _uni("x") + b"Qu."


def dup_list() -> bytes:
    return _batch(b"](K\x00K\x00e2\x86")


CASES = {
    "deep-tuple-key": ("batch", deep_tuple_key, "nested more than 8 deep"),
    "self-sharing-tuple-key": ("batch", shared_tuple_key, "second reference to the same tuple"),
    "self-sharing-labels": ("batch", shared_labels, "second reference to the same list"),
    "self-sharing-class-name": ("meta", meta_bomb, "second reference to the same list"),
    "ndarray-called": ("batch", ndarray_call, "a call of numpy.ndarray"),
    "reconstruct-huge-shape": ("batch", reconstruct_huge, r"_reconstruct called with other arguments"),
    "object-array": ("batch", object_array, "dtype 'O8'"),
    "long-string-label": ("batch", long_string_labels, "'labels' should be integers, found a str"),
    "huge-int-label": ("batch", huge_int_label, r"an integer of \d{7} bits \(at most 64\)"),
    "persistent-id": ("batch", persistent_id, "opcode BINPERSID"),
    "dup": ("batch", dup_list, "opcode DUP"),
}


@pytest.fixture(scope="module")
def worker():
    w = CappedWorker()
    yield w
    w.close()


@pytest.mark.parametrize("case", list(CASES))
def test_structure_bomb_is_refused_quickly_in_bounded_memory(worker, tmp_path, case):
    kind, build, message = CASES[case]
    path = tmp_path / ("batches.meta" if kind == "meta" else "data_batch_1")
    path.write_bytes(build())
    start = time.monotonic()
    status, detail = worker.load(kind, path)
    assert status == "error", (status, detail[:500])
    assert re.search(message, detail), detail
    assert str(path) in detail and "\n" not in detail and len(detail) < 400
    assert time.monotonic() - start < 10


def test_error_for_an_odd_class_name_is_one_short_line(worker, tmp_path):
    path = tmp_path / "batches.meta"
    names = [list(range(10**5))] + ["a"] * 9  # a big but unshared structure
    path.write_bytes(pickle.dumps({"label_names": names}, protocol=2))
    status, detail = worker.load("meta", path)
    assert status == "error" and "class name 0 is a list, not a string" in detail and len(detail) < 300


@pytest.mark.parametrize("kind", ["batch", "meta"])
def test_a_fifo_is_refused_without_blocking(worker, tmp_path, kind):
    path = tmp_path / ("batches.meta" if kind == "meta" else "data_batch_1")
    os.mkfifo(path)
    status, detail = worker.load(kind, path, timeout=10)
    assert status == "error", (status, detail)
    assert detail == f"{path}: is a FIFO, not a regular file; refusing to read it as a CIFAR-10 file"


def test_a_directory_or_device_is_refused(worker, tmp_path):
    (tmp_path / "data_batch_1").mkdir()
    assert worker.load("batch", tmp_path / "data_batch_1") == (
        "error",
        f"{tmp_path / 'data_batch_1'}: is a directory, not a regular file; refusing to read it as a CIFAR-10 file",
    )
    status, detail = worker.load("batch", "/dev/zero")
    assert status == "error" and "is a character device" in detail


def test_an_oversized_batch_is_refused_unread(worker, tmp_path):
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        f.truncate(300 << 20)  # sparse: 300 MiB without writing them
    assert worker.load("batch", path) == (
        "error",
        f"{path}: CIFAR-10 file of 314,572,800 bytes is larger than the 268,435,456 bytes a CIFAR-10 "
        "file can need; refused",
    )


def test_the_official_layout_still_loads_in_every_protocol(worker, tmp_path):
    rng = np.random.default_rng(0)
    batch = {
        "batch_label": "b",
        "labels": [int(v) for v in rng.integers(0, 10, 30)],
        "data": rng.integers(0, 256, (30, 3072), dtype=np.uint8),
        "filenames": ["f"] * 30,
    }
    for protocol in range(6):
        path = tmp_path / f"data_batch_{protocol}"
        path.write_bytes(pickle.dumps(batch, protocol=protocol))
        assert worker.load("batch", path) == ("ok", ""), protocol
