"""Load CIFAR-10 pickles without letting them run code, and validate what they hold.

The batches are Python pickles. A file is read only if it is a regular file
of bounded size (:func:`~autonet.storage.files.read_regular_file`), its
opcode stream is vetted before anything is built
(:func:`~autonet.data.pickle_scan.scan_pickle`: no code, no shared or deeply
nested containers, no oversized arrays), and it is then loaded through an
unpickler that admits only the few globals that numpy array reconstruction
needs. A tampered file raises :class:`~autonet.errors.DataError` instead of
running code, crashing, hanging or exhausting memory.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
import reprlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from autonet.data.cifar10_format import CLASS_COUNT, IMAGE_SIZE
from autonet.data.pickle_scan import BYTES, DTYPE, ENCODE, FROMBUFFER, NDARRAY, RECONSTRUCT, refusal, scan_pickle
from autonet.errors import DataError
from autonet.storage.files import read_regular_file

MAX_BATCH_BYTES = 256 << 20  # an official batch is 31 MB; room for protocol 0 and larger test batches
MAX_META_BYTES = 1 << 20  # the official batches.meta is 158 bytes


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` restricted to latin-1 text -> bytes.

    Python 3 writes ``bytes`` in protocol-2 pickles as
    ``_codecs.encode(text, "latin1")``; no other use is admitted.
    """
    latin1 = codecs.lookup(encoding).name == "iso8859-1"
    if not isinstance(text, str) or not latin1 or errors != "strict":
        raise pickle.UnpicklingError(f"refused _codecs.encode({type(text).__name__}, {encoding!r}, {errors!r})")
    return text.encode("latin-1")


def _empty_bytes(*args: Any) -> bytes:
    """``bytes()``, the only call of ``bytes`` a pickle of numbers makes (the scanner refuses arguments)."""
    if args:
        raise pickle.UnpicklingError("refused bytes() with arguments")
    return b""


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The objects behind the names :mod:`~autonet.data.pickle_scan` admits (one allow-list for both)."""
    try:
        from numpy._core import multiarray, numeric  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    return {
        **dict.fromkeys(RECONSTRUCT, multiarray._reconstruct),
        **dict.fromkeys(FROMBUFFER, numeric._frombuffer),  # type: ignore[attr-defined]  # protocol 5
        **dict.fromkeys(BYTES, _empty_bytes),  # protocols 0-2 write b"" as bytes()
        NDARRAY: np.ndarray,
        DTYPE: np.dtype,
        ENCODE: _latin1_encode,
    }


_ALLOWED_GLOBALS = _numpy_globals()


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals numpy array reconstruction needs.

    Objects are returned from a fixed table rather than imported, so naming a
    module in a pickle can never import or run anything.
    """

    def __init__(self, file: BinaryIO, path: Path) -> None:
        # latin1 is numpy's documented choice for Python 2 pickles: raw array
        # bytes survive unchanged; byte-string keys become str.
        super().__init__(file, encoding="latin1")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(refusal(self.path, module, name)) from None


def _unpickle(path: Path, max_bytes: int) -> Any:
    """Load one pickle file of at most ``max_bytes``: read, vet, then unpickle restricted."""
    if not os.path.lexists(path):
        raise DataError(f"{path}: file is missing")
    blob = read_regular_file(path, max_bytes, "CIFAR-10 file", DataError)
    scan_pickle(blob, path)
    try:
        return _RestrictedUnpickler(io.BytesIO(blob), path).load()
    except DataError:
        raise
    except EOFError as exc:
        raise DataError(f"{path}: file is truncated or empty (pickle ended early)") from exc
    except pickle.UnpicklingError as exc:
        raise DataError(f"{path}: not a valid pickle (truncated or corrupt): {exc}") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read file: {exc}") from exc
    except Exception as exc:  # malformed opcodes surface as many builtin types
        raise DataError(f"{path}: corrupt pickle: {type(exc).__name__}: {_brief(exc)}") from exc


def _brief(value: Any) -> str:
    """A bounded description of ``value`` for a one-line message, whatever its size."""
    if isinstance(value, BaseException):
        return str(value)[:200]
    return _SHORT_REPR.repr(value)


_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = 60
_SHORT_REPR.maxlist = _SHORT_REPR.maxtuple = _SHORT_REPR.maxdict = 4
_SHORT_REPR.maxlevel = 2


def _normalise_keys(obj: Any, path: Path) -> dict[str, Any]:
    """Python 2 pickles have byte-string keys, Python 3 ones str keys: return str keys."""
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict, found {type(obj).__name__}")
    out = {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    odd = next((k for k in out if not isinstance(k, str)), None)
    if odd is not None:
        raise DataError(f"{path}: a key that is a {type(odd).__name__}, not a string: {_brief(odd)}")
    return out


def _check_pixels(data: Any, path: Path) -> np.ndarray:
    if not isinstance(data, np.ndarray):
        raise DataError(f"{path}: 'data' should be a numpy array, found {type(data).__name__}")
    if data.ndim != 2 or data.shape[1] != IMAGE_SIZE:
        raise DataError(f"{path}: 'data' should have shape (N, {IMAGE_SIZE}), found {data.shape}")
    if data.shape[0] == 0:
        raise DataError(f"{path}: 'data' holds no images")
    if data.dtype == np.uint8:
        return data
    if data.dtype.kind not in "ui":
        raise DataError(f"{path}: 'data' should hold uint8 pixels, found dtype {data.dtype}")
    if data.min() < 0 or data.max() > 255:
        raise DataError(f"{path}: pixel values outside [0, 255] (dtype {data.dtype})")
    return data.astype(np.uint8)


def _check_labels(labels: Any, n: int, path: Path) -> np.ndarray:
    if not isinstance(labels, (list, tuple, np.ndarray)):
        raise DataError(f"{path}: 'labels' should be a list, found {type(labels).__name__}")
    if len(labels) != n:
        raise DataError(f"{path}: {len(labels)} labels for {n} images")
    if not isinstance(labels, np.ndarray):
        # np.asarray sizes a string array by its longest element: vet element types first
        odd = next((v for v in labels if not isinstance(v, (int, np.integer)) or isinstance(v, bool)), None)
        if odd is not None:
            raise DataError(f"{path}: 'labels' should be integers, found a {type(odd).__name__}: {_brief(odd)}")
    try:
        arr = np.asarray(labels)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: 'labels' is not a flat list of integers: {exc}") from exc
    if arr.ndim != 1 or arr.shape[0] != n:
        raise DataError(f"{path}: labels of shape {arr.shape} for {n} images")
    if arr.dtype.kind not in "ui":  # also refuses bools, floats and mixed lists (object)
        raise DataError(f"{path}: 'labels' should be integers, found dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= CLASS_COUNT:
        raise DataError(f"{path}: labels outside [0, {CLASS_COUNT}): min {arr.min()}, max {arr.max()}")
    return arr.astype(np.int64)


def load_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Load and validate one CIFAR-10 batch file (``data_batch_i`` or ``test_batch``).

    Parameters
    ----------
    path : path-like
        The batch pickle (Python 2 or Python 3 flavour).

    Returns
    -------
    X : np.ndarray of uint8, shape (N, 3072)
        Raw rows in the official order: the red, green and blue 32x32 planes
        (CHW), *not* the HWC order used by :func:`load_cifar10`.
    y : np.ndarray of int64, shape (N,)
        Labels in ``[0, 10)``.

    Raises
    ------
    DataError
        Missing, truncated, malformed or unsafe file; the message names the path.
    """
    path = Path(path)
    batch = _normalise_keys(_unpickle(path, MAX_BATCH_BYTES), path)
    for key in ("data", "labels"):
        if key not in batch:
            raise DataError(f"{path}: no {key!r} entry (keys: {_brief(sorted(batch))})")
    X = _check_pixels(batch["data"], path)
    y = _check_labels(batch["labels"], X.shape[0], path)
    return X, y


def load_class_names(path: Path) -> list[str]:
    meta = _normalise_keys(_unpickle(path, MAX_META_BYTES), path)
    names = meta.get("label_names")
    if not isinstance(names, list) or len(names) != CLASS_COUNT:
        raise DataError(f"{path}: 'label_names' should be a list of {CLASS_COUNT} names")
    out = [n.decode("utf-8", errors="replace") if isinstance(n, bytes) else n for n in names]
    for i, name in enumerate(out):
        if not isinstance(name, str):
            raise DataError(f"{path}: class name {i} is a {type(name).__name__}, not a string: {_brief(name)}")
    return out
