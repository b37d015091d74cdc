"""Loss and hand-derived gradients of an L-layer fully-connected net.

Architecture: ``(affine - [batchnorm] - activation - [dropout]) x (L-1) -
affine - softmax``. Parameters live in a dict ``W1, b1, ..., WL, bL`` (the
number of layers is the number of ``W`` keys). A net with batch
normalisation also holds ``gamma_l, beta_l`` for every hidden layer ``l`` and
has no hidden biases ``b_l`` (the normalisation would cancel them); only
``bL`` remains. This is the autonet backend contract (see ``autonet.backends``).
"""

from __future__ import annotations

import numpy as np

from .layers import (
    ACTIVATIONS,
    DERIVATIVES,
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    dropout_mask,
    softmax_cross_entropy,
)


def num_layers(params: dict) -> int:
    """Number of affine layers L, counted from the ``W`` keys."""
    return sum(1 for k in params if k.startswith("W"))


def loss_and_grads(
    params: dict,
    X: np.ndarray,
    y: np.ndarray,
    reg: float = 0.0,
    *,
    activation: str = "relu",
    dropout: float = 0.0,
    seed=None,
    label_smoothing: float = 0.0,
    bn_stats: dict | None = None,
    mix=None,
):
    """Mean softmax cross-entropy + ``0.5*reg*sum ||W||^2`` and its gradients.

    Parameters
    ----------
    params : dict of arrays ``W1`` (D, H1), ``b1`` (H1,), ..., ``WL`` (H_{L-1}, C), ``bL`` (C,);
        with batch norm, ``gamma_l``/``beta_l`` (H_l,) instead of ``b_l`` for ``l < L``
    X : (N, D) array
    y : (N,) int array, labels in [0, C)
    reg : L2 strength (only the ``W`` are regularised)
    activation : hidden nonlinearity, a key of :data:`autonet.manual.layers.ACTIVATIONS`
    dropout : probability p in [0, 1) of zeroing each hidden unit (inverted dropout)
    seed : int or numpy Generator for the dropout masks, drawn by
        :func:`autonet.manual.layers.dropout_mask` from ``np.random.default_rng(seed)``,
        one ``(N, H_l)`` draw per hidden layer in order
    label_smoothing : eps in [0, 1) of :func:`autonet.manual.layers.softmax_cross_entropy`
    mix : None, or ``(y2, lam)``: mixed targets ``lam * one_hot(y) + (1 - lam) * one_hot(y2)``
        (mixup/cutmix; the gradient ``(softmax - T) / N`` is derived in
        :func:`autonet.manual.layers.softmax_cross_entropy`)
    bn_stats : dict to receive the batch statistics ``mean_l``, ``var_l`` (H_l,)
        of every batch-norm layer (batch norm runs in training mode here)

    Returns
    -------
    loss : float
    grads : dict with the same keys, shapes and dtypes as ``params``
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    act_forward, act_backward = ACTIVATIONS[activation], DERIVATIVES[activation]
    L = num_layers(params)
    batchnorm = "gamma1" in params
    rng = np.random.default_rng(seed) if dropout else None

    caches = []
    h = X
    for i in range(1, L):
        a, fc_cache = affine_forward(h, params[f"W{i}"], params.get(f"b{i}"))
        bn_cache = mask = None
        if batchnorm:
            a, bn_cache = batchnorm_forward(a, params[f"gamma{i}"], params[f"beta{i}"])
            if bn_stats is not None:
                bn_stats[f"mean{i}"], bn_stats[f"var{i}"] = bn_cache[3], bn_cache[4]
        h, act_cache = act_forward(a)
        if dropout:
            assert rng is not None  # drawn above whenever dropout > 0
            h, mask = dropout_forward(h, dropout_mask(rng, h.shape, dropout, h.dtype))
        caches.append((fc_cache, bn_cache, act_cache, mask))
    scores, last_cache = affine_forward(h, params[f"W{L}"], params[f"b{L}"])
    data_loss, dscores = softmax_cross_entropy(scores, y, smoothing=label_smoothing, mix=mix)

    weights = [params[f"W{i}"] for i in range(1, L + 1)]
    reg_loss = 0.5 * reg * sum(float(np.vdot(w, w)) for w in weights) if reg else 0.0

    grads = {}
    dh, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dscores, last_cache, compute_dx=L > 1)
    for i in range(L - 1, 0, -1):
        fc_cache, bn_cache, act_cache, mask = caches[i - 1]
        if mask is not None:
            dh = dropout_backward(dh, mask)
        da = act_backward(dh, act_cache)
        if bn_cache is not None:
            da, grads[f"gamma{i}"], grads[f"beta{i}"] = batchnorm_backward(da, bn_cache)
        dh, grads[f"W{i}"], db = affine_backward(da, fc_cache, compute_dx=i > 1)  # nothing needs dL/dX
        if f"b{i}" in params:
            grads[f"b{i}"] = db
    if reg:
        for i, w in enumerate(weights, start=1):
            grads[f"W{i}"] += reg * w  # d/dW of 0.5*reg*||W||^2
    return data_loss + reg_loss, {k: grads[k] for k in params}
