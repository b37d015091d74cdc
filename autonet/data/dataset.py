"""A loaded dataset of any shape: the splits, the training mean, class names, input shape.

:class:`autonet.data.CIFAR10` is the CIFAR-10 instance of the same layout;
:class:`Dataset` holds every other source (MNIST, Fashion-MNIST, an ``.npz``
file). Rows of every ``X`` are flat; when the inputs are images,
``X.reshape(-1, *image_shape)`` gives them in height-width-channel order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autonet.errors import ConfigError, DataError

# Real datasets deflate 1-5 to 1 (MNIST's images 4.7, CIFAR-10 1.1): a compressed stream may declare at
# most this many times its own size (plus 1 MiB for tiny files), so a few megabytes of zeros cannot
# declare gigabytes. Memory while loading then stays linear in the file's size.
MAX_INFLATION = 8
# The most classes a dataset may have (ImageNet-21k has 21,841): a stray label of 10**12 must be named,
# not turned into a list of 10**12 class names.
MAX_CLASSES = 100_000


def check_inflation(path: Path, declared: int, stored: int, what: str, remedy: str) -> None:
    """Refuse ``declared`` bytes of data from ``stored`` compressed bytes beyond :data:`MAX_INFLATION`."""
    if declared > MAX_INFLATION * stored + (1 << 20):
        raise DataError(
            f"{path}: {what} declares {declared:,} bytes of data from {stored:,} compressed bytes, more than "
            f"the {MAX_INFLATION}:1 real data compresses to; refused before inflating (if it is genuine, {remedy})"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_split(total: int, num_val: int, num_train: int | None) -> int:
    """Validate the split sizes; return the number of training images."""
    if not _is_int(num_val) or not 0 <= num_val < total:
        raise ConfigError(f"num_val must be an integer in [0, {total}), got {num_val!r}")
    available = total - num_val
    if num_train is None:
        return available
    if not _is_int(num_train) or not 1 <= num_train <= available:
        raise ConfigError(
            f"num_train must be an integer in [1, {available}] ({total} images minus "
            f"num_val={num_val}), got {num_train!r}"
        )
    return int(num_train)


def float_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as a numpy float dtype; ConfigError naming it otherwise."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ConfigError(f"dtype {dtype!r} is not a numpy dtype") from exc
    if dt.kind != "f":
        raise ConfigError(f"dtype must be a floating type such as float32, got {dt}")
    return dt


@dataclass
class Dataset:
    """Train / validation / (optional) test splits of flat rows.

    Attributes
    ----------
    X_train, y_train : (N_train, D) float rows (mean-subtracted when loaded so) and (N_train,) int64 labels
    X_val, y_val : the validation split, the same layout
    X_test, y_test : the test split, or None when the source has none
    mean_image : (D,) mean of the training rows (subtracted from every split when loaded so)
    class_names : ``class_names[y]`` names label ``y``; labels lie in ``[0, len(class_names))``
    data_dir : where the data was read from
    image_shape : ``(H, W, C)`` when the rows are images (D = H*W*C), else None
    name : the dataset's name (``"mnist"``, ``"fashion-mnist"``, or the file name)
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    mean_image: np.ndarray
    class_names: list[str]
    data_dir: Path
    image_shape: tuple[int, int, int] | None = None
    name: str = ""


def center(X_train: np.ndarray, others: tuple[np.ndarray | None, ...], subtract: bool) -> np.ndarray:
    """The training rows' mean (accumulated in float64, no float64 copy of X), subtracted in place when ``subtract``."""
    mean_image = (X_train.sum(axis=0, dtype=np.float64) / len(X_train)).astype(X_train.dtype)
    for part in (X_train, *others) if subtract else ():
        if part is not None:
            part -= mean_image
    return mean_image


def split_dataset(
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray | None,
    y_test: np.ndarray | None,
    class_names: list[str],
    data_dir: Path,
    image_shape: tuple[int, int, int] | None,
    name: str,
    num_val: int = 1000,
    num_train: int | None = None,
    dtype=np.float32,
    subtract_mean: bool = True,
) -> Dataset:
    """Split validated rows as :func:`autonet.data.load_cifar10` splits CIFAR-10.

    The validation split is the *last* ``num_val`` rows of ``X``, the training
    split the first ``N - num_val`` (cut to the first ``num_train``); every
    split is converted to ``dtype`` and, when ``subtract_mean``, has the
    training mean (accumulated in float64) subtracted.

    Parameters
    ----------
    X : (N, D) rows (any real dtype, e.g. uint8 pixels); y : (N,) labels in [0, len(class_names))
    X_test, y_test : the test split or None
    """
    dt = float_dtype(dtype)
    total = len(y)
    n_train = check_split(total, num_val, num_train)
    X_train = X[:n_train].astype(dt)
    X_val = X[total - num_val :].astype(dt)
    X_te = None if X_test is None else X_test.astype(dt)
    mean_image = center(X_train, (X_val, X_te), subtract_mean)
    y_train, y_val = (np.asarray(v, dtype=np.int64).copy() for v in (y[:n_train], y[total - num_val :]))
    y_te = None if y_test is None else np.asarray(y_test, dtype=np.int64).copy()
    return Dataset(
        X_train, y_train, X_val, y_val, X_te, y_te, mean_image, list(class_names), Path(data_dir), image_shape, name
    )
