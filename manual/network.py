"""Loss and hand-derived gradients of an L-layer fully-connected net.

Architecture: ``(affine - [batchnorm] - activation - [dropout]) x (L-1) -
affine - softmax``. Parameters live in a dict ``W1, b1, ..., WL, bL`` (the
number of layers is the number of ``W`` keys). A net with batch
normalisation also holds ``gamma_l, beta_l`` for every hidden layer ``l`` and
has no hidden biases ``b_l`` (the normalisation would cancel them); only
``bL`` remains. This is the autonet backend contract (see ``autonet.backends``),
and the function ``--backend manual`` trains with: every step calls the
layer functions of :mod:`autonet.manual.layers` below, looked up at call time.
"""

from __future__ import annotations

import numpy as np

from autonet.conventions import dropout_mask, num_layers

from . import layers

__all__ = ["loss_and_grads", "num_layers"]


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
    factored: bool = False,
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
        :func:`autonet.conventions.dropout_mask` from ``np.random.default_rng(seed)``,
        one ``(N, H_l)`` draw per hidden layer in order
    label_smoothing : eps in [0, 1) of :func:`autonet.manual.layers.softmax_cross_entropy`
    mix : None, or ``(y2, lam)``: mixed targets ``lam * one_hot(y) + (1 - lam) * one_hot(y2)``
        (mixup/cutmix; the gradient ``(softmax - T) / N`` is derived in
        :func:`autonet.manual.layers.softmax_cross_entropy`)
    bn_stats : dict to receive the batch statistics ``mean_l``, ``var_l`` (H_l,)
        of every batch-norm layer (batch norm runs in training mode here)
    factored : return each ``W`` gradient as a :class:`autonet.manual.layers.WeightGradient`
        (``h^T delta + reg * W`` as its factors) instead of an array; the trainer
        asks for this so that plain SGD takes its step inside the product

    Returns
    -------
    loss : float
    grads : dict with the same keys, shapes and dtypes as ``params``
    """
    if activation not in layers.ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(layers.ACTIVATIONS)}, got {activation!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    act_forward, act_backward = layers.ACTIVATIONS[activation], layers.DERIVATIVES[activation]
    L = num_layers(params)
    batchnorm = "gamma1" in params
    rng = np.random.default_rng(seed) if dropout else None

    # forward; each hidden layer's output overwrites its own fresh affine output (out=)
    caches = []
    h = X
    for i in range(1, L):
        a, fc_cache = layers.affine_forward(h, params[f"W{i}"], params.get(f"b{i}"))
        bn_cache = mask = None
        if batchnorm:
            a, bn_cache = layers.batchnorm_forward(a, params[f"gamma{i}"], params[f"beta{i}"])
            if bn_stats is not None:
                bn_stats[f"mean{i}"], bn_stats[f"var{i}"] = bn_cache[3], bn_cache[4]
        h, act_cache = act_forward(a, out=a)
        if dropout:
            assert rng is not None  # drawn above whenever dropout > 0
            # a new array: tanh's cache is its output h, which must stay as it is
            h, mask = layers.dropout_forward(h, dropout_mask(rng, h.shape, dropout, h.dtype))
        caches.append((fc_cache, bn_cache, act_cache, mask))
    scores, last_cache = layers.affine_forward(h, params[f"W{L}"], params[f"b{L}"])
    data_loss, dscores = layers.softmax_cross_entropy(scores, y, smoothing=label_smoothing, mix=mix)
    reg_loss = (
        0.5 * reg * sum(float(np.vdot(params[f"W{i}"], params[f"W{i}"])) for i in range(1, L + 1)) if reg else 0.0
    )

    # backward; reg * W (d/dW of the L2 term) is added by affine_backward
    grads = {}
    dh, grads[f"W{L}"], grads[f"b{L}"] = layers.affine_backward(
        dscores, last_cache, compute_dx=L > 1, factored=factored, reg=reg
    )
    for i in range(L - 1, 0, -1):
        fc_cache, bn_cache, act_cache, mask = caches[i - 1]
        if mask is not None:
            dh = layers.dropout_backward(dh, mask, out=dh)
        da = act_backward(dh, act_cache, out=dh)
        if bn_cache is not None:
            da, grads[f"gamma{i}"], grads[f"beta{i}"] = layers.batchnorm_backward(da, bn_cache)
        # nothing needs dL/dX: the first layer skips that product
        dh, grads[f"W{i}"], db = layers.affine_backward(da, fc_cache, compute_dx=i > 1, factored=factored, reg=reg)
        if f"b{i}" in params:
            grads[f"b{i}"] = db
    return data_loss + reg_loss, {k: grads[k] for k in params}
