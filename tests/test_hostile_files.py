"""Files of a few megabytes that used to cost gigabytes: each is loaded in a child process under a
1 GiB address-space cap, and must end in autonet's one-line error with a small peak RSS.

The figures the docs quote come from :func:`load_in_child`'s ``peak_mb`` (``ru_maxrss`` of the child).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import resource
import struct
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CAP = 1 << 30  # the child's address space
PEAK_MB = 300  # "at most a few hundred MB" for a hostile file of <= 10 MB

_CHILD = textwrap.dedent("""
    import json, resource, sys, traceback
    from autonet.errors import AutonetError
    out = {"status": "ok", "message": ""}
    try:
        exec(sys.argv[1])
    except AutonetError as e:
        out = {"status": "error", "message": str(e)}
    except MemoryError:
        out = {"status": "memory", "message": ""}
    except BaseException as e:
        out = {"status": "other", "message": "".join(traceback.format_exception(e))[-1500:]}
    # VmHWM: the peak of this program's own memory (ru_maxrss would include the forked parent's pages)
    out["peak_mb"] = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
    print(json.dumps(out))
""")


def load_in_child(code: str, cap: int = CAP, timeout: float = 60) -> dict:
    """Run ``code`` in a fresh Python under ``RLIMIT_AS = cap``: ``{"status", "message", "peak_mb"}``."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        preexec_fn=limit,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def refused(code: str, *needles: str) -> dict:
    """Assert ``code`` ends in a one-line autonet error containing every needle, in bounded memory."""
    out = load_in_child(code)
    assert out["status"] == "error", out
    assert "\n" not in out["message"]
    for needle in needles:
        assert needle in out["message"], out["message"]
    assert out["peak_mb"] < PEAK_MB, out
    return out


def _batch(n: int = 4, protocol: int = 2) -> bytes:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return pickle.dumps({"data": X, "labels": [int(i % 10) for i in range(n)]}, protocol=protocol)


# ----- row 1: a memo index the unpickler would size its table by -----


@pytest.mark.parametrize("what", ["batch", "meta"])
def test_a_huge_memo_index_is_refused_before_the_unpickler_sizes_its_memo(tmp_path, what):
    # PROTO 2, NONE, LONG_BINPUT 2**28-1, POP, then an honest file: the C unpickler grew its memo to
    # 2**29 slots (4.2 GB) before reading on, and loaded the rest
    if what == "batch":
        honest = _batch()
        call = "from autonet.data import load_batch; load_batch(sys.argv[2])"
    else:
        honest = pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}, protocol=2)
        call = "from pathlib import Path; from autonet.data.safe_pickle import load_class_names; load_class_names(Path(sys.argv[2]))"
    path = tmp_path / what
    path.write_bytes(b"\x80\x02Nr" + struct.pack("<I", 2**28 - 1) + b"0" + honest)
    code = call.replace("sys.argv[2]", repr(str(path)))
    refused(code, str(path), "memo slot 268,435,455 after 0 entries")
    path.write_bytes(honest)
    assert load_in_child(code)["status"] == "ok"


# ----- row 15: numpy dtype flags the unpickler cannot handle; an empty batch -----


def test_a_dtype_with_odd_flags_is_refused_not_a_system_error(tmp_path):
    blob = _batch(2)
    i = blob.index(b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00")
    path = tmp_path / "data_batch_1"
    path.write_bytes(blob[: i + 10] + b"K\x3f" + blob[i + 12 :])  # flags 0x3f: SystemError in pickle.loads
    refused(f"from autonet.data import load_batch; load_batch({str(path)!r})", "a dtype state unlike numpy's")


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_an_empty_batch_is_called_empty_in_every_protocol(tmp_path, protocol):
    from autonet.data import load_batch
    from autonet.errors import DataError

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": np.zeros((0, 3072), np.uint8), "labels": []}, protocol=protocol))
    with pytest.raises(DataError, match=r"'data' holds no images$"):
        load_batch(path)


# ----- row 2: an IDX gzip stream far longer than its size can honestly hold -----


def _gzip_zeros(path: Path, header: bytes, nbytes: int) -> Path:
    chunk = bytes(1 << 20)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header)
        for start in range(0, nbytes, len(chunk)):
            f.write(chunk[: min(len(chunk), nbytes - start)])
    return path


def test_an_idx_gzip_of_zeros_is_refused_before_inflating(tmp_path):
    n = 400_000  # 400,000 images of 28x28: 314 MB of zeros in a 1.4 MB file (MNIST's images deflate 4.7:1)
    folder = tmp_path / "mnist"
    folder.mkdir()
    images = _gzip_zeros(folder / "train-images-idx3-ubyte.gz", struct.pack(">I3I", 0x803, n, 28, 28), n * 784)
    _gzip_zeros(folder / "train-labels-idx1-ubyte.gz", struct.pack(">II", 0x801, n), n)
    for name, dims in (("t10k-images-idx3-ubyte.gz", (10, 28, 28)), ("t10k-labels-idx1-ubyte.gz", (10,))):
        magic = 0x800 + len(dims)
        _gzip_zeros(folder / name, struct.pack(f">I{len(dims)}I", magic, *dims), int(np.prod(dims)))
    assert images.stat().st_size < 2 << 20
    code = f"from autonet.data import load_idx_dataset; load_idx_dataset('mnist', {str(tmp_path)!r}, download=False)"
    out = refused(code, str(images), "declares 313,600,000 bytes of data from", "decompress it with gunzip")
    assert out["peak_mb"] < 150


def test_a_plain_idx_file_shorter_than_its_header_is_refused_before_reading(tmp_path):
    from autonet.data.idx import read_idx
    from autonet.errors import DataError

    path = tmp_path / "x.idx"
    path.write_bytes(struct.pack(">I3I", 0x803, 1_000_000, 28, 28) + bytes(100))
    with pytest.raises(DataError, match="needs 784000000 bytes of data, the file holds 100$"):
        read_idx(path, max_bytes=1 << 30)


# ----- row 3: an .npz dataset member that inflates far beyond its compressed size -----


def _npz_of_zeros(path: Path, shape: tuple[int, ...]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("X_train.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
            chunk = bytes(1 << 20)
            total = int(np.prod(shape))
            for start in range(0, total, len(chunk)):
                f.write(chunk[: min(len(chunk), total - start)])
        buf = io.BytesIO()
        np.save(buf, np.arange(shape[0]) % 2)
        z.writestr("y_train.npy", buf.getvalue())
    return path


def test_an_npz_member_inflating_far_past_its_size_is_refused_before_inflating(tmp_path):
    path = _npz_of_zeros(tmp_path / "zeros.npz", (300_000, 1000))  # 300 MB of zeros in 1.3 MB
    assert path.stat().st_size < 2 << 20
    code = f"from autonet.data import load_npz_dataset; load_npz_dataset({str(path)!r})"
    out = refused(
        code, str(path), "member X_train.npy declares 300,000,128 bytes", "save it with np.savez, uncompressed"
    )
    assert out["peak_mb"] < 150


def test_an_honestly_compressed_npz_dataset_still_loads(tmp_path):
    from autonet.data import load_npz_dataset

    rng = np.random.default_rng(0)
    np.savez_compressed(
        tmp_path / "ok.npz", X_train=rng.integers(0, 256, (200, 64), dtype=np.uint8), y_train=np.arange(200) % 3
    )
    assert load_npz_dataset(tmp_path / "ok.npz", num_val=20).X_train.shape == (180, 64)


# ----- row 4: a label far beyond any class count -----


@pytest.mark.parametrize("label", [2 * 10**7, 10**12, 2**64 - 1])
def test_a_stray_label_is_named_not_turned_into_a_class_list(tmp_path, label):
    y = np.arange(50, dtype=np.uint64) % 3
    y[7] = label
    path = tmp_path / "stray.npz"
    np.savez(path, X_train=np.ones((50, 4), np.float32), y_train=y)
    code = f"from autonet.data import load_npz_dataset; load_npz_dataset({str(path)!r}, num_val=5)"
    refused(code, f"{path}: y_train holds label {label} at row 7", "at most 100,000 classes")


# ----- row 5: a tar archive whose extended header declares gigabytes -----


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME])
def test_an_archive_with_a_huge_extended_header_is_a_download_error(tmp_path, kind):
    size = 400 << 20  # 400 MiB of header data in a 0.4 MB archive (tarfile read it into memory whole)
    info = tarfile.TarInfo("././@LongHeader")
    info.type, info.size = kind, size
    archive = tmp_path / "cifar.tar.gz"
    with gzip.open(archive, "wb", compresslevel=1) as f:
        f.write(info.tobuf(format=tarfile.USTAR_FORMAT))
        chunk = bytes(1 << 20)
        for _ in range(size >> 20):
            f.write(chunk)
        f.write(bytes(1024))
    assert archive.stat().st_size < 2 << 20
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    code = (
        "from autonet.data.download import download_cifar10; "
        f"download_cifar10({str(tmp_path / 'data')!r}, url={archive.as_uri()!r}, md5={md5!r}, quiet=True)"
    )
    refused(code, "unsafe archive: a", "header of 419,430,400 bytes (extended headers are at most 65,536)")
    assert not (tmp_path / "data").exists()


# ----- row 11: a uint64 label >= 2**63 given to the Trainer -----


@pytest.mark.parametrize("label", [2**63, 2**64 - 1])
def test_a_uint64_label_beyond_int64_is_a_data_error_naming_it(label):
    from autonet.backends import get_backend
    from autonet.errors import DataError
    from autonet.net import init_params
    from autonet.train import Trainer

    X = np.ones((20, 4), np.float32)
    y = (np.arange(20) % 3).astype(np.uint64)
    y[3] = label
    with pytest.raises(DataError, match=rf"^y_train labels must be in \[0, 3\), got range \[0, {label}\]$"):
        Trainer(get_backend("manual"), init_params([4, 5, 3]), X, y)
    with pytest.raises(DataError, match=rf"^y_val labels must be in \[0, 3\), got range \[0, {label}\]$"):
        Trainer(get_backend("manual"), init_params([4, 5, 3]), X, y % 3, X, y)


def test_one_string_shared_by_many_arrays_is_refused(tmp_path):
    # each array built from the one memoized 1 MB Python 2 string is a copy (pickle.loads of 300 took 332 MB):
    # 1,000 of them ran out of a 1 GiB cap ("Failed to encode latin1 string")
    from numpy._core.multiarray import _reconstruct

    shared = bytes(1 << 20)

    class Copy:
        def __reduce__(self):
            return _reconstruct, (np.ndarray, tuple([0]), "b"), (1, (len(shared),), np.dtype("u1"), False, shared)

    from fakedata import dumps_py2

    batch = {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1], "extra": [Copy() for _ in range(1000)]}
    path = tmp_path / "data_batch_1"
    path.write_bytes(dumps_py2(batch))  # as Python 2 wrote it: a str the unpickler decodes, numpy copies
    assert path.stat().st_size < 2 << 20
    refused(
        f"from autonet.data import load_batch; load_batch({str(path)!r})",
        "arrays of 2,103,296 elements in all, in a file of",
    )
