"""Small, deterministic fake CIFAR-10 folders and archives for the tests.

The files follow the official layout and pickle format: each batch is a dict
with ``batch_label``, ``labels`` (list of int), ``data`` (uint8 array of shape
(n, 3072), CHW planes) and ``filenames``. With ``py2_keys=True`` the pickle is
written the way Python 2 wrote the official files (protocol 2, every byte
string -- keys included -- as a Python 2 ``str`` opcode), so loading it with
``encoding="bytes"`` yields ``bytes`` keys, exactly like the real download.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import struct
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

BATCH_DIR = "cifar-10-batches-py"
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler lets us swap one opcode writer
    """Protocol-2 pickler that writes ``bytes`` as Python 2 ``str`` (BINSTRING) opcodes."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def dumps_py2(obj: Any) -> bytes:
    """Pickle ``obj`` as Python 2 would have (protocol 2, byte strings as ``str``)."""
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    # The official files were written by numpy 1.x, which named numpy.core.
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def _encode(obj: dict[str, Any], py2_keys: bool, protocol: int | None) -> bytes:
    if py2_keys:

        def to_bytes(v: Any) -> Any:
            if isinstance(v, str):
                return v.encode("latin-1")
            if isinstance(v, list):
                return [to_bytes(x) for x in v]
            return v

        return dumps_py2({k.encode("ascii"): to_bytes(v) for k, v in obj.items()})
    return pickle.dumps(obj, protocol=pickle.DEFAULT_PROTOCOL if protocol is None else protocol)


def fake_batch(n: int, rng: np.random.Generator, label: str) -> dict[str, Any]:
    """One batch dict in the official format (str keys)."""
    labels = rng.integers(0, 10, size=n)
    return {
        "batch_label": label,
        "labels": [int(v) for v in labels],
        "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        "filenames": [f"{label.replace(' ', '_')}_{i}.png" for i in range(n)],
    }


def write_pickle(path: Path, obj: dict[str, Any], py2_keys: bool = True, protocol: int | None = None) -> None:
    """Write ``obj`` (a dict with str keys) as a batch pickle."""
    Path(path).write_bytes(_encode(obj, py2_keys, protocol))


def make_fake_cifar(
    root: str | Path,
    n_per_batch: int = 20,
    with_test: bool = False,
    seed: int = 0,
    py2_keys: bool = True,
    protocol: int | None = None,
) -> Path:
    """Write ``root/cifar-10-batches-py`` with five data batches, meta (and a test batch).

    Parameters
    ----------
    root : path
        Folder to create ``cifar-10-batches-py`` in.
    n_per_batch : int
        Images per batch (so ``5 * n_per_batch`` training-batch images).
    with_test : bool
        Also write ``test_batch``.
    seed : int
        Seed of the pixel and label generator.
    py2_keys : bool
        Python 2 flavour (byte-string keys) if True, else a Python 3 pickle
        with str keys in ``protocol`` (default: ``pickle.DEFAULT_PROTOCOL``).

    Returns
    -------
    Path
        The ``cifar-10-batches-py`` folder.
    """
    folder = Path(root) / BATCH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(1, 6):
        batch = fake_batch(n_per_batch, rng, f"training batch {i} of 5")
        write_pickle(folder / f"data_batch_{i}", batch, py2_keys, protocol)
    if with_test:
        write_pickle(folder / "test_batch", fake_batch(n_per_batch, rng, "testing batch 1 of 1"), py2_keys, protocol)
    meta = {"num_cases_per_batch": n_per_batch, "label_names": list(CLASS_NAMES), "num_vis": 3072}
    write_pickle(folder / "batches.meta", meta, py2_keys, protocol)
    return folder


def raw_training_data(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated raw (CHW uint8) data and labels of data_batch_1..5, read with plain pickle.

    Only for fake folders written by this module (trusted content).
    """
    xs, ys = [], []
    for i in range(1, 6):
        with open(Path(folder) / f"data_batch_{i}", "rb") as f:
            d = pickle.load(f, encoding="bytes")
        d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
        xs.append(np.asarray(d["data"], dtype=np.uint8))
        ys.append(np.asarray(d["labels"], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def md5_of(path: str | Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def make_fake_archive(path: str | Path, **kw: Any) -> str:
    """Write a ``.tar.gz`` laid out like the official one; return its md5 hex digest.

    Keyword arguments go to :func:`make_fake_cifar` (``with_test`` defaults to
    True, as in the official archive).
    """
    kw.setdefault("with_test", True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_fake_cifar(tmp, **kw)
        with tarfile.open(path, "w:gz") as tar:
            tar.add(folder, arcname=BATCH_DIR)
    return md5_of(path)
