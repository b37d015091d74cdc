"""Flat image rows: the default image shape and the one rule for options that need images.

A row of ``X`` is an image flattened in height-width-channel order
(``X.reshape(N, H, W, C)``). Augmentation, cutmix and test-time flips move
pixels, so they need rows that are whole images; PCA-reduced rows or tabular
features are not. This module is the one place that rule is written
(:func:`require_image_rows`, :func:`image_options`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autonet.errors import ConfigError

IMAGE_SHAPE = (32, 32, 3)  # CIFAR-10: height, width, channels


def image_options(config: Any) -> list[str]:
    """The options set in ``config`` that need image rows (``augment``, ``cutmix``, ``tta``), in that order."""
    wanted = [("augment", bool(config.augment)), ("cutmix", config.cutmix > 0), ("tta", config.tta != "none")]
    return [name for name, on in wanted if on]


def require_image_rows(what: str, n_features: int | None, image_shape: Sequence[int] | None) -> None:
    """Raise ConfigError unless rows of ``n_features`` are images of ``image_shape``.

    ``what`` names the option that needs them (``"augment"``, ``"cutmix"``, ``"tta flip"``...);
    ``image_shape`` None means the data holds no images at all (tabular features).
    """
    if image_shape is None:
        raise ConfigError(f"{what} needs image rows; these rows are feature vectors, not images (leave {what} off)")
    H, W, C = (int(s) for s in image_shape)
    if n_features is not None and n_features != H * W * C:
        raise ConfigError(
            f"{what} needs rows of {H}x{W}x{C} images, got {n_features} features per row "
            "(PCA-reduced rows are not images: use preprocess zca or standardize, or leave it off)"
        )
