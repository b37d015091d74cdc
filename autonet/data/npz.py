"""Any dataset as one ``.npz`` file: ``X_train``, ``y_train`` and optionally ``X_test``, ``y_test``, ``class_names``.

The file is read with ``allow_pickle=False`` (object arrays are refused by
numpy itself) after its members' sizes are checked against a limit, so
reading it cannot run code or exhaust memory. Then:

- ``X_train`` (and ``X_test``) are real numbers without NaN/inf, either flat
  rows ``(N, D)`` or images ``(N, H, W)`` / ``(N, H, W, C)`` (height, width,
  channel), which are flattened in that order and keep their ``image_shape``
  (so augmentation and the image plots can use it);
- ``y_train`` (and ``y_test``) hold one label per row: integers in
  ``[0, C)``, or strings (mapped to ``0..C-1`` in sorted order, which
  then are the class names);
- ``class_names``: C strings naming integer labels (default ``"0", "1", ...``,
  with C = the largest training label + 1).

Any other member is refused by name (a typo such as ``x_train`` would
otherwise be silently ignored).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from autonet.data.dataset import MAX_CLASSES, Dataset, check_inflation, float_dtype, split_dataset
from autonet.errors import DataError
from autonet.storage.safe_npz import read_npz

NPZ_KEYS = ("X_train", "y_train", "X_test", "y_test", "class_names")
MAX_NPZ_BYTES = 8 << 30  # uncompressed size of all members together


def load_npz_dataset(
    path: str | os.PathLike,
    num_val: int = 1000,
    num_train: int | None = None,
    dtype: Any = np.float32,
    subtract_mean: bool = True,
    max_bytes: int = MAX_NPZ_BYTES,
) -> Dataset:
    """Load and validate an ``.npz`` dataset (see the module docstring); split like CIFAR-10.

    The validation split is the last ``num_val`` rows of ``X_train``.

    Raises
    ------
    DataError
        Naming the file and the problem: unreadable, not an npz, a member too
        large, pickled (object) arrays, a missing or unknown member, wrong
        shapes, non-numeric or non-finite X, labels out of range.
    ConfigError
        ``num_val``, ``num_train`` or ``dtype`` is invalid.
    """
    path, dtype = Path(path), float_dtype(dtype)
    arrays = _read(path, max_bytes)
    X, image_shape = _rows(arrays["X_train"], path, "X_train", dtype)
    y, class_names = _labels(arrays, path, len(X))
    X_test = y_test = None
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{path}: X_test and y_test must be given together")
    if "X_test" in arrays:
        X_test, test_shape = _rows(arrays["X_test"], path, "X_test", dtype)
        if X_test.shape[1] != X.shape[1] or test_shape != image_shape:
            raise DataError(
                f"{path}: X_test rows have shape {arrays['X_test'].shape[1:]}, "
                f"X_train rows {arrays['X_train'].shape[1:]}"
            )
        y_test = _encode(arrays["y_test"], class_names, path, "y_test", len(X_test))
    split = dict(num_val=num_val, num_train=num_train, dtype=dtype, subtract_mean=subtract_mean)
    return split_dataset(X, y, X_test, y_test, class_names, path.parent, image_shape, path.name, **split)


def _read(path: Path, max_bytes: int) -> dict[str, np.ndarray]:
    def check_members(infos: list[zipfile.ZipInfo]) -> None:
        names = [i.filename[:-4] if i.filename.endswith(".npy") else i.filename for i in infos]
        if unknown := sorted(set(names) - set(NPZ_KEYS)):
            raise DataError(f"{path}: unknown member(s) {', '.join(unknown)}; expected {', '.join(NPZ_KEYS)}")
        if missing := [k for k in ("X_train", "y_train") if k not in names]:
            raise DataError(f"{path}: missing {' and '.join(missing)}")
        for i in infos:
            if i.compress_type != zipfile.ZIP_STORED:
                what = f"member {i.filename[:40]}"
                check_inflation(path, i.file_size, i.compress_size, what, "save it with np.savez, uncompressed")
        if (total := sum(i.file_size for i in infos)) > max_bytes:
            raise DataError(f"{path}: its arrays take {total} bytes uncompressed, more than the limit of {max_bytes}")

    # the file cap leaves room for zip overhead; the members are checked against max_bytes, then each
    # member's .npy header against its size before it is inflated (a header declaring 80 GB for a small
    # member is refused, not allocated); never unpickled
    return read_npz(path, ".npz file", max_bytes=max_bytes + (1 << 20), check_members=check_members, error=DataError)


def _rows(X: np.ndarray, path: Path, name: str, target: np.dtype) -> tuple[np.ndarray, tuple[int, int, int] | None]:
    """``X`` as (N, D) rows and its image shape (H, W, C) or None; its values must fit the float dtype ``target``."""
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: {name} must hold real numbers, got dtype {X.dtype}")
    if X.ndim not in (2, 3, 4) or X.shape[0] == 0 or 0 in X.shape[1:]:
        raise DataError(
            f"{path}: {name} must be (N, D) rows or (N, H, W[, C]) images with N, D >= 1, got shape {X.shape}"
        )
    if X.dtype.kind == "f" and not (np.isfinite(X.min()) and np.isfinite(X.max())):
        raise DataError(f"{path}: {name} contains NaN or infinite values")
    if X.size and X.dtype.itemsize > target.itemsize:
        big = max(abs(float(X.min())), abs(float(X.max())))
        if big > float(np.finfo(target).max):  # the cast to the training dtype would make them inf
            raise DataError(
                f"{path}: {name} holds values up to {big:.3g}, beyond {target}'s range (largest "
                f"{float(np.finfo(target).max):.3g}): scale them, or train in float64 (--dtype float64)"
            )
    image_shape = None if X.ndim == 2 else (*X.shape[1:3], X.shape[3] if X.ndim == 4 else 1)
    return X.reshape(len(X), -1), image_shape


def _labels(arrays: dict[str, np.ndarray], path: Path, n: int) -> tuple[np.ndarray, list[str]]:
    """Training labels as ints in [0, C) and the C class names."""
    y = arrays["y_train"]
    names = arrays.get("class_names")
    if names is not None and (names.ndim != 1 or names.dtype.kind not in "US" or len(names) == 0):
        raise DataError(f"{path}: class_names must be a 1-D array of strings, got {names.dtype} of shape {names.shape}")
    if y.dtype.kind in "US":
        if names is not None:
            raise DataError(f"{path}: y_train holds strings, which are the class names; drop class_names")
        class_names = [str(s) for s in np.unique(y)]
    elif y.dtype.kind in "iu":
        top = int(y.max()) + 1 if y.size else 0
        if names is None and top > MAX_CLASSES:
            row = int(y.argmax())
            raise DataError(
                f"{path}: y_train holds label {top - 1} at row {row}; labels are class indices 0..C-1 and at most "
                f"{MAX_CLASSES:,} classes are supported: fix that label"
            )
        class_names = [str(s) for s in names] if names is not None else [str(i) for i in range(top)]
    else:
        raise DataError(f"{path}: y_train must hold integer or string labels, got dtype {y.dtype}")
    if len(class_names) > MAX_CLASSES:
        raise DataError(f"{path}: {len(class_names):,} classes; at most {MAX_CLASSES:,} are supported")
    if len(class_names) < 2:
        raise DataError(f"{path}: y_train has {len(class_names)} class(es); a classifier needs at least 2")
    return _encode(y, class_names, path, "y_train", n), class_names


def _encode(y: np.ndarray, class_names: list[str], path: Path, name: str, n: int) -> np.ndarray:
    """Labels as int64 in [0, len(class_names)); string labels are looked up in ``class_names``."""
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{path}: {name} must have shape ({n},), one label per row, got {y.shape}")
    C = len(class_names)
    if y.dtype.kind in "US":
        order = np.asarray(class_names)
        idx = np.searchsorted(order, y.astype(order.dtype))
        bad = (idx >= C) | (order[np.minimum(idx, C - 1)] != y)
        if bad.any():
            raise DataError(f"{path}: {name} holds label {str(y[bad][0])!r}, not among the training labels")
        return idx.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise DataError(f"{path}: {name} must hold integer labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= C):
        raise DataError(f"{path}: {name} labels must lie in [0, {C}) ({C} classes), got range [{y.min()}, {y.max()}]")
    return y.astype(np.int64)
