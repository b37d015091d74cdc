"""Data augmentation on flat image rows, vectorised, from an explicit Generator.

Rows are images flattened in height-width-channel order (``X.reshape(N, 32, 32, 3)``
for CIFAR-10, see :mod:`autonet.data`). Every random choice is drawn from the
``rng`` argument — the trainer passes its own, whose state it checkpoints — so a
run (and a resumed run) sees the same augmented batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from autonet.data.cifar10_format import IMAGE_SHAPE
from autonet.errors import ConfigError

AUGMENTATIONS = ("flip", "crop")


def check_crop_padding(crop_padding: int, image_shape: Sequence[int] = IMAGE_SHAPE) -> None:
    """Raise :class:`ConfigError` unless ``0 <= crop_padding <`` the image side (a shift of a whole image is no crop)."""
    side = min(int(image_shape[0]), int(image_shape[1]))
    if not 0 <= crop_padding < side:
        raise ConfigError(f"crop_padding must be smaller than the image side ({side} pixels), got {crop_padding}")


def augment_batch(X: np.ndarray, rng: np.random.Generator, flip: bool = False, crop_padding: int = 0,
                  image_shape: Sequence[int] = IMAGE_SHAPE) -> np.ndarray:
    """Randomly mirrored and shifted copies of the images in ``X``.

    - ``flip``: each image is mirrored left-right with probability 1/2
      (draw: ``rng.random(N) < 0.5``);
    - ``crop_padding = p > 0``: each image is zero-padded by ``p`` pixels on
      every side and a window of the original size is cut out at a uniformly
      random offset (draws: ``rng.integers(0, 2p + 1, N)`` for rows, then for
      columns), i.e. a random shift by up to ``p`` pixels each way, filling
      with 0 (the mean, for mean-subtracted data); with ``flip`` too, the
      window is mirrored.

    The draws happen in this order (flips, row offsets, column offsets). The
    crop is one gather of whole windows from a ``sliding_window_view`` of the
    padded batch, and the flip one reversed-slice copy: 5x faster than
    gathering every pixel by index (1.5 vs 8.3 ms for 256 images, 1 thread).

    Parameters
    ----------
    X : (N, H*W*C) array of flat HWC images
    rng : numpy Generator
    flip : bool
    crop_padding : int >= 0
    image_shape : (H, W, C)

    Returns
    -------
    (N, H*W*C) array, a new array of ``X``'s dtype
    """
    H, W, C = (int(s) for s in image_shape)
    if X.ndim != 2 or X.shape[1] != H * W * C:
        raise ConfigError(f"augmentation needs rows of {H}x{W}x{C} images, got X of shape {X.shape}")
    if crop_padding < 0:
        raise ConfigError(f"crop_padding must be >= 0, got {crop_padding}")
    n, p = X.shape[0], int(crop_padding)
    images = X.reshape(n, H, W, C)
    flipped = rng.random(n) < 0.5 if flip else None
    if p:
        padded = np.zeros((n, H + 2 * p, W + 2 * p, C), dtype=X.dtype)
        padded[:, p : p + H, p : p + W] = images
        rows, cols = rng.integers(0, 2 * p + 1, n), rng.integers(0, 2 * p + 1, n)
        windows = sliding_window_view(padded, (H, W), axis=(1, 2))  # (N, 2p+1, 2p+1, C, H, W), no copy
        out = np.ascontiguousarray(windows[np.arange(n), rows, cols].transpose(0, 2, 3, 1))
    else:
        out = images.copy()
    if flip:
        out[flipped] = out[flipped, :, ::-1]
    return out.reshape(n, H * W * C)
