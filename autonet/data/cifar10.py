"""CIFAR-10 as arrays: split the training batches, convert CHW bytes to HWC floats.

Typical use::

    from autonet.data import load_cifar10
    data = load_cifar10()            # 49,000 train / 1,000 val, float32, mean-subtracted
    data.X_train.shape               # (49000, 3072)
    data.X_train.reshape(-1, 32, 32, 3)   # images, height x width x channel

Rows of every ``X`` are flattened in height-width-channel (HWC) order, as in
cs231n, so ``X.reshape(-1, 32, 32, 3)`` yields images. The official batches
store channel planes (CHW); :func:`~autonet.data.safe_pickle.load_batch`
returns that raw order.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autonet.data.dataset import Dataset, center, check_split, float_dtype
from autonet.data.download import META_FILE, TEST_BATCH, TRAIN_BATCHES, locate_cifar10
from autonet.data.safe_pickle import IMAGE_SIZE, load_batch, load_class_names
from autonet.errors import DataError
from autonet.images import IMAGE_SHAPE


@dataclass
class CIFAR10(Dataset):
    """CIFAR-10 split into train / validation / (optional) test.

    Rows of every ``X`` are flattened images in HWC order, so
    ``X.reshape(-1, 32, 32, 3)`` gives ``(N, height, width, channel)``.

    Attributes
    ----------
    X_train : np.ndarray, shape (N_train, 3072)
        Training images, in the requested float dtype; mean-subtracted when
        loaded with ``subtract_mean=True``.
    y_train : np.ndarray of int64, shape (N_train,)
        Labels in ``[0, 10)``.
    X_val, y_val : np.ndarray, shapes (N_val, 3072) and (N_val,)
        Validation split: the last ``num_val`` of the 50,000 training-batch images.
    X_test, y_test : np.ndarray or None, shapes (N_test, 3072) and (N_test,)
        ``test_batch`` when the folder has it, else ``None``.
    mean_image : np.ndarray, shape (3072,)
        Mean of the training split only (same dtype as ``X_train``); add it
        back to undo the subtraction.
    class_names : list of str
        ``label_names`` from ``batches.meta``; ``class_names[y]`` names label ``y``.
    data_dir : Path
        The ``cifar-10-batches-py`` folder the data was read from.
    """

    image_shape: tuple[int, int, int] | None = IMAGE_SHAPE  # (height, width, channel): X.reshape(-1, *image_shape)
    name: str = "cifar10"


def _gather_rows(batches: Sequence[np.ndarray], start: int, stop: int, dtype: np.dtype) -> np.ndarray:
    """Rows ``start:stop`` of the (virtual) concatenation of uint8 CHW ``batches``, as HWC ``dtype``.

    Each piece is converted and permuted in one pass into the output, so no
    intermediate copy of a batch in another dtype is made.
    """
    out = np.empty((stop - start, IMAGE_SIZE), dtype=dtype)
    offset = 0
    for raw in batches:
        lo, hi = max(start, offset), min(stop, offset + raw.shape[0])
        if lo < hi:
            chw = raw[lo - offset : hi - offset].reshape(hi - lo, 3, 32, 32)
            out[lo - start : hi - start].reshape(hi - lo, 32, 32, 3)[...] = chw.transpose(0, 2, 3, 1)
        offset += raw.shape[0]
    return out


def load_cifar10(
    data_dir: str | os.PathLike | None = None,
    num_val: int = 1000,
    num_train: int | None = None,
    dtype: Any = np.float32,
    subtract_mean: bool = True,
    download: bool | None = None,
    quiet: bool = False,
) -> CIFAR10:
    """Load CIFAR-10 as flat HWC rows, split into train / validation / test.

    ``data_batch_1`` .. ``data_batch_5`` are concatenated (50,000 images). The
    validation split is the *last* ``num_val`` of them, the training split the
    first ``50000 - num_val``, cut to the first ``num_train`` if given. The
    test split is ``test_batch`` when present; otherwise ``X_test`` and
    ``y_test`` are None and a ``UserWarning`` says so.

    The mean image is computed over the (possibly truncated) training split
    only and, when ``subtract_mean``, subtracted in place from every split.
    Each split is converted from uint8 straight into ``dtype``; no float64
    copy of the data is ever made (full float32 data is about 0.6 GB).

    Parameters
    ----------
    data_dir : path-like, optional
        Folder that is or contains ``cifar-10-batches-py``; see :func:`locate_cifar10`.
    num_val : int
        Validation images, taken from the end of the training batches.
    num_train : int, optional
        Keep only the first ``num_train`` training images (small budgets).
    dtype : numpy float dtype
        dtype of every ``X`` and of ``mean_image``.
    subtract_mean : bool
        Subtract the training mean image from every split.
    download : bool or None
        Download the archive when no data is found: True always, False never,
        None (default) only into the default cache folder (see :func:`locate_cifar10`).
    quiet : bool
        No download message or progress bar.

    Returns
    -------
    CIFAR10
        ``X_*`` have shape (N, 3072) in HWC order (``X.reshape(-1, 32, 32, 3)``
        gives images); ``y_*`` are int64 of shape (N,).

    Raises
    ------
    DataError
        Data missing (with ``download=False``) or a file is missing, truncated,
        malformed or unsafe.
    DownloadError
        The download was needed and failed.
    ConfigError
        ``num_val``, ``num_train`` or ``dtype`` is invalid.
    """
    dt = float_dtype(dtype)
    folder = locate_cifar10(data_dir, download=download, quiet=quiet)
    class_names = load_class_names(folder / META_FILE)
    raws, ys = zip(*(load_batch(folder / name) for name in TRAIN_BATCHES), strict=True)
    labels = np.concatenate(ys)
    total = labels.shape[0]
    n_train = check_split(total, num_val, num_train)

    X_train = _gather_rows(raws, 0, n_train, dt)
    X_val = _gather_rows(raws, total - num_val, total, dt)
    del raws
    y_train, y_val = labels[:n_train].copy(), labels[total - num_val :].copy()
    X_test = y_test = None
    if (folder / TEST_BATCH).exists():
        raw, y_test = load_batch(folder / TEST_BATCH)
        X_test = _gather_rows([raw], 0, raw.shape[0], dt)
    else:
        warnings.warn(
            f"{folder} has no {TEST_BATCH}: no test split is available (X_test and y_test "
            "are None). Tune and report on the validation split.",
            UserWarning,
            stacklevel=2,
        )

    mean_image = center(X_train, (X_val, X_test), subtract_mean)
    return CIFAR10(X_train, y_train, X_val, y_val, X_test, y_test, mean_image, class_names, folder)


def to_images(X: np.ndarray, mean_image: np.ndarray | None = None) -> np.ndarray:
    """Turn flat HWC rows back into images for plotting.

    Parameters
    ----------
    X : np.ndarray, shape (N, 3072) or (3072,)
        Rows as returned by :func:`load_cifar10` (HWC order).
    mean_image : np.ndarray, shape (3072,), optional
        Added back first, undoing mean subtraction.

    Returns
    -------
    np.ndarray of float, shape (N, 32, 32, 3)
        A new array (``X`` is not modified); pixel values are on the 0..255
        scale when the mean has been restored, e.g. ``plt.imshow(img / 255)``.
    """
    X = np.asarray(X)
    X = X[None, :] if X.ndim == 1 else X
    if X.ndim != 2 or X.shape[1] != IMAGE_SIZE:
        raise DataError(f"expected rows of {IMAGE_SIZE} values, got shape {X.shape}")
    images = X.astype(X.dtype if X.dtype.kind == "f" else np.float64)  # a copy
    if mean_image is not None:
        mean = np.asarray(mean_image)
        if mean.shape != (IMAGE_SIZE,):
            raise DataError(f"mean_image should have shape ({IMAGE_SIZE},), got {mean.shape}")
        images += mean
    return images.reshape(-1, *IMAGE_SHAPE)
