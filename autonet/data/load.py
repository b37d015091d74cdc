"""One entry point for every dataset: a name (``cifar10``, ``mnist``, ``fashion-mnist``) or an ``.npz`` path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from autonet.data.cifar10 import CIFAR10, load_cifar10
from autonet.data.dataset import Dataset
from autonet.data.idx import IDX_SOURCES, load_idx_dataset
from autonet.data.npz import load_npz_dataset
from autonet.errors import DataError

DATASETS = ("cifar10", *IDX_SOURCES)  # the named ones; anything else is a path to an .npz file


def load_dataset(
    source: str = "cifar10",
    data_dir: str | os.PathLike | None = None,
    num_val: int = 1000,
    num_train: int | None = None,
    dtype: Any = np.float32,
    subtract_mean: bool = True,
    download: bool | None = None,
    quiet: bool = False,
) -> CIFAR10 | Dataset:
    """Load ``source`` split into train / validation / test, mean-subtracted, as flat rows.

    Parameters
    ----------
    source : ``"cifar10"``, ``"mnist"``, ``"fashion-mnist"`` (found in or downloaded to
        ``data_dir``, else ``$AUTONET_DATA``, else the user cache), or the path of an
        ``.npz`` file (:mod:`autonet.data.npz`; ``data_dir`` and ``download`` do not apply)
    num_val, num_train, dtype, subtract_mean : as for :func:`autonet.data.load_cifar10`

    Returns
    -------
    dataset : CIFAR10 or Dataset
        ``X_train, y_train, X_val, y_val, X_test, y_test, mean_image, class_names, image_shape, name``.
    """
    split = dict(num_val=num_val, num_train=num_train, dtype=dtype, subtract_mean=subtract_mean)
    if source == "cifar10":
        return load_cifar10(data_dir, download=download, quiet=quiet, **split)
    if source in IDX_SOURCES:
        return load_idx_dataset(source, data_dir, download=download, quiet=quiet, **split)
    path = Path(str(source)).expanduser()
    if not path.is_file():
        raise DataError(f"dataset {source!r} is neither one of {', '.join(DATASETS)} nor an existing .npz file")
    return load_npz_dataset(path, **split)
