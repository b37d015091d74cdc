"""Datasets: find them, download and verify them, load them safely, split them.

CIFAR-10, four jobs, one module each:

- :mod:`autonet.data.locate` -- which folder holds the batches
  (``data_dir`` argument, then ``$AUTONET_DATA``, then the per-user cache);
- :mod:`autonet.data.download` -- fetch the official archive, check its md5,
  extract it with every member vetted;
- :mod:`autonet.data.safe_pickle` -- the batch and meta pickles, built from
  a bounded, allow-listed walk of their opcodes (no unpickler), and validated;
- :mod:`autonet.data.cifar10` -- split into train / validation / test and
  convert to flat float rows in HWC order.

MNIST and Fashion-MNIST (the official gzip IDX files, parsed without pickle):
:mod:`autonet.data.idx`; any dataset as one ``.npz`` file: :mod:`autonet.data.npz`.
Both load into a :class:`autonet.data.dataset.Dataset` (the same splits as
CIFAR-10, plus the input's ``image_shape``); :func:`load_dataset` takes a name
or an ``.npz`` path.

Typical use::

    from autonet.data import load_cifar10
    data = load_cifar10()            # 49,000 train / 1,000 val, float32, mean-subtracted
    data.X_train.reshape(-1, 32, 32, 3)   # images, height x width x channel
"""

from autonet.data.cifar10 import CIFAR10, load_cifar10, to_images
from autonet.data.cifar10_format import BATCH_DIR, CLASS_COUNT, IMAGE_SHAPE, IMAGE_SIZE
from autonet.data.dataset import Dataset
from autonet.data.download import CIFAR10_MD5, CIFAR10_URL, download_cifar10
from autonet.data.idx import IDX_SOURCES, load_idx_dataset, read_idx
from autonet.data.load import DATASETS, load_dataset
from autonet.data.locate import default_cache_dir, locate_cifar10
from autonet.data.npz import load_npz_dataset
from autonet.data.safe_pickle import load_batch

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
