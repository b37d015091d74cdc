"""Loss and hand-derived gradients of an L-layer fully-connected ReLU net.

Architecture: ``(affine - relu) x (L-1) - affine - softmax``, parameters in a
dict ``W1, b1, ..., WL, bL`` (the number of layers is the number of ``W``
keys). This is the autonet backend contract (see ``autonet.backends``).
"""

from __future__ import annotations

import numpy as np

from manual.layers import (
    affine_backward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
    softmax_cross_entropy,
)


def num_layers(params: dict) -> int:
    """Number of affine layers L, counted from the ``W`` keys."""
    return sum(1 for k in params if k.startswith("W"))


def loss_and_grads(params: dict, X: np.ndarray, y: np.ndarray, reg: float = 0.0):
    """Mean softmax cross-entropy + ``0.5*reg*sum ||W||^2`` and its gradients.

    Parameters
    ----------
    params : dict of arrays ``W1`` (D, H1), ``b1`` (H1,), ..., ``WL`` (H_{L-1}, C), ``bL`` (C,)
    X : (N, D) array
    y : (N,) int array, labels in [0, C)
    reg : L2 strength (biases are not regularised)

    Returns
    -------
    loss : float
    grads : dict with the same keys, shapes and dtypes as ``params``
    """
    L = num_layers(params)
    caches = []
    h = X
    for i in range(1, L):
        h, cache = affine_relu_forward(h, params[f"W{i}"], params[f"b{i}"])
        caches.append(cache)
    scores, last_cache = affine_forward(h, params[f"W{L}"], params[f"b{L}"])
    data_loss, dscores = softmax_cross_entropy(scores, y)

    weights = [params[f"W{i}"] for i in range(1, L + 1)]
    reg_loss = 0.5 * reg * sum(float(np.vdot(w, w)) for w in weights)

    grads = {}
    dh, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dscores, last_cache, compute_dx=L > 1)
    for i in range(L - 1, 0, -1):
        dh, grads[f"W{i}"], grads[f"b{i}"] = affine_relu_backward(
            dh, caches[i - 1], compute_dx=i > 1  # nothing needs dL/dX
        )
    if reg:
        for i, w in enumerate(weights, start=1):
            grads[f"W{i}"] += reg * w  # d/dW of 0.5*reg*||W||^2
    return data_loss + reg_loss, grads
