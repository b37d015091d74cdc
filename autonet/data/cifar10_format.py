"""The CIFAR-10 python format: folder and file names, image shape, class count.

One place for the facts every other module of :mod:`autonet.data` relies on.
"""

from __future__ import annotations

from autonet.images import IMAGE_SHAPE

BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"

IMAGE_SIZE = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
CLASS_COUNT = 10
