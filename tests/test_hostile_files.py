"""Files of a few megabytes that used to cost gigabytes: each is loaded in a child process under a
1 GiB address-space cap, and must end in autonet's one-line error with a small peak RSS.

The figures the docs quote come from :func:`load_in_child`'s ``peak_mb`` (``ru_maxrss`` of the child).
"""

from __future__ import annotations

import gzip
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
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
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
