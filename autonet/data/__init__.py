"""Datasets: find them, download and verify them, load them safely, split them.

CIFAR-10, three jobs, one module each:

- :mod:`autonet.data.download` -- which folder holds the batches
  (``data_dir`` argument, then ``$AUTONET_DATA``, then the per-user cache)
  and, when they must be fetched, the official archive, its md5 checked,
  extracted with every member vetted;
- :mod:`autonet.data.safe_pickle` -- the batch and meta pickles, built from
  a bounded, allow-listed walk of their opcodes (no unpickler), and validated;
- :mod:`autonet.data.cifar10` -- split into train / validation / test and
  convert to flat float rows in HWC order.

MNIST and Fashion-MNIST (the official gzip IDX files, parsed without pickle):
:mod:`autonet.data.idx`; any dataset as one ``.npz`` file: :mod:`autonet.data.npz`.
Both load into a :class:`autonet.data.dataset.Dataset` (the same splits as
CIFAR-10, plus the input's ``image_shape``); :func:`load_dataset` takes a name
or an ``.npz`` path (``DATASETS`` lists the names).

Typical use::

    from autonet.data import load_cifar10
    data = load_cifar10()            # 49,000 train / 1,000 val, float32, mean-subtracted
    data.X_train.reshape(-1, 32, 32, 3)   # images, height x width x channel
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from autonet.data.cifar10 import CIFAR10, load_cifar10, to_images
from autonet.data.dataset import Dataset
from autonet.data.download import (
    BATCH_DIR,
    CIFAR10_MD5,
    CIFAR10_URL,
    default_cache_dir,
    download_cifar10,
    locate_cifar10,
)
from autonet.data.idx import IDX_SOURCES, load_idx_dataset, read_idx
from autonet.data.npz import load_npz_dataset
from autonet.data.safe_pickle import CLASS_COUNT, IMAGE_SIZE, load_batch
from autonet.errors import DataError
from autonet.images import IMAGE_SHAPE

__all__ = [
    "BATCH_DIR",
    "CIFAR10",
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "CLASS_COUNT",
    "DATASETS",
    "Dataset",
    "IDX_SOURCES",
    "IMAGE_SHAPE",
    "IMAGE_SIZE",
    "default_cache_dir",
    "download_cifar10",
    "load_batch",
    "load_cifar10",
    "load_dataset",
    "load_idx_dataset",
    "load_npz_dataset",
    "locate_cifar10",
    "read_idx",
    "to_images",
]

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
