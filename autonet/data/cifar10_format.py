"""The CIFAR-10 python format: folder and file names, image shape, class count.

One place for the facts every other module of :mod:`autonet.data` relies on.
"""

from __future__ import annotations

BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"

IMAGE_SHAPE = (32, 32, 3)  # height, width, channel
IMAGE_SIZE = 32 * 32 * 3
CLASS_COUNT = 10
