"""The conventions both gradient paths share -- none of them a derivative.

``manual`` (hand-derived gradients) and :mod:`autonet.autograd_loss`
(autograd's) are written independently, but they must agree on a few plain
facts to compute the same loss: how layers are counted, the batch-norm
epsilon, the leaky-ReLU slope, and how dropout masks are drawn from a seed.
Each is written once, here, and both import it.
"""

from __future__ import annotations

import numpy as np

BN_EPS = 1e-5  # added to the batch variance before its square root
LEAKY_SLOPE = 0.01  # leaky ReLU slope for x <= 0


def num_layers(params: dict) -> int:
    """Number of affine layers L, counted from the ``W`` keys of a parameter dict."""
    return sum(1 for k in params if k.startswith("W"))


def dropout_mask(rng: np.random.Generator, shape: tuple, p: float, dtype) -> np.ndarray:
    """Inverted-dropout mask: ``1/(1-p)`` where ``rng.random(shape) >= p``, else 0.

    The draw convention every backend follows, so that backends handed the
    same generator state draw the same masks: one ``rng.random(shape)`` call
    (float64 uniforms in [0, 1)) per hidden layer, in layer order.
    """
    dtype = np.dtype(dtype)
    return (rng.random(shape) >= p).astype(dtype) * dtype.type(1.0 / (1.0 - p))
