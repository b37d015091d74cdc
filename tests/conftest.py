"""Shared fixtures: a fixed seed for every test, the real-data location."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed_global_rng():
    """Tests draw from explicit Generators; this only pins stray legacy calls."""
    np.random.seed(0)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def real_data_dir() -> Path | None:
    """``$AUTONET_DATA`` if it holds CIFAR-10 batches, else None."""
    root = os.environ.get("AUTONET_DATA")
    if not root:
        return None
    for p in (Path(root), Path(root) / "cifar-10-batches-py"):
        if (p / "data_batch_1").is_file():
            return p
    return None


@pytest.fixture(scope="session")
def real_data_path() -> Path:
    path = real_data_dir()
    if path is None:
        pytest.skip(
            "AUTONET_DATA not set or holds no cifar-10-batches-py: real-data test skipped "
            "(set AUTONET_DATA=/path/to/shared/data to run it)"
        )
    return path
