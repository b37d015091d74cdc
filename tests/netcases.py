"""Random small networks and batches for the cross-check tests."""

from __future__ import annotations

import numpy as np

from autonet.net import init_params


def random_case(rng: np.random.Generator, sizes, n: int, scale: float = 0.1, kinks: bool = False):
    """float64 params of the given layer sizes (weights and biases ~ scale), X (n, D), y (n,).

    With ``kinks=True`` some hidden pre-activations are made exactly 0, so the
    ReLU derivative is evaluated *on* the kink: example 0 gets small integer
    inputs and the odd columns of ``W1`` dyadic entries (k/8), so their dot
    product is exact and the bias ``-x0 . W1[:, j]`` makes the pre-activation
    exactly 0.
    """
    params = init_params(sizes, std=scale, rng=rng)
    for k in params:
        if k.startswith("b"):
            params[k] = scale * rng.standard_normal(params[k].shape)
    X = rng.standard_normal((n, sizes[0]))
    y = rng.integers(0, sizes[-1], size=n)
    if kinks and len(sizes) > 2:
        X[0] = rng.integers(-3, 4, sizes[0])
        odd = params["W1"][:, 1::2]
        odd[...] = rng.integers(-8, 9, odd.shape) / 8
        params["b1"][1::2] = -(X[0] @ odd)
    return params, X, y
