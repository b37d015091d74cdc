"""The autograd backend: the forward loss only; ``autograd`` derives the rest.

Nothing in this module states a derivative. ``loss`` is written with
``autograd.numpy`` and :func:`loss_and_grads` is ``autograd.value_and_grad``
of it, so its gradients are exactly what reverse-mode differentiation of the
forward computation gives. Loss convention: see :mod:`manual`.

The forward is *written* so that autograd's derivative of it is lean (each
choice measured; see ``benchmarks/``):

- ``h @ W`` (matmul), not ``anp.dot``: autograd's ``dot`` VJP builds ``dW`` as
  a transposed ``tensordot`` result (Fortran-ordered, plus a copy of the
  transposed operand), which makes every later elementwise op on ``dW`` slow;
  matmul's VJP is ``h.T @ g``, one BLAS call into a C-ordered array.
- ReLU as ``z * (z > 0)``, not ``anp.where``: ``where``'s VJP pads with
  ``anp.zeros(g.shape)``, which is float64 and silently up-casts a float32
  backward pass to float64; the product's VJP is ``g * mask`` in g's dtype.
- L2 as ``sum(square(W))``, not ``sum(W * W)``: the product's VJP makes two
  full-size contributions that must then be added; ``square`` makes one.
  (``dot`` of the flattened weights has a faster forward but, in the whole
  graph, a step twice as slow on a 3072-1024-1024-10 net:
  ``benchmarks/autograd_parts.py --l2-form dot``.) With ``reg = 0`` the term
  is left out rather than multiplied by 0, so its derivative -- a fifth to a
  quarter of the step on that net -- is not computed for nothing.
- log-sum-exp written out (:func:`logsumexp`), not ``autograd.scipy``'s: that
  one comes with a hand-written derivative (and needs scipy); this one is
  plain ``autograd.numpy``, so its derivative is derived like everything else.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as onp
from autograd import value_and_grad
from autograd.tracer import getval

from autonet.conventions import BN_EPS, LEAKY_SLOPE, dropout_mask, num_layers


def relu(z):
    """``max(0, z)`` as ``z * 1[z > 0]``, so autograd's derivative at 0 is 0.

    ``anp.maximum(0, z)`` would split the gradient 0.5/0.5 on ties; here the
    mask is a constant to autograd, and the derivative is the mask itself.
    """
    return z * (z > 0)


def leaky_relu(z):
    """``z`` where ``z > 0``, else ``0.01 z`` (slope 0.01 at 0, as in ``manual``); a constant multiplier."""
    return z * onp.where(z > 0, 1.0, LEAKY_SLOPE).astype(z.dtype)


ACTIVATIONS = {"relu": relu, "leaky_relu": leaky_relu, "tanh": anp.tanh}


def batchnorm(a, gamma, beta, stats: dict | None = None, layer: int = 0):
    """Batch normalisation, training mode: standardise each unit over the batch, then scale and shift.

    When ``stats`` is a dict, the batch mean and (biased) variance are stored
    in it as ``mean<layer>``, ``var<layer>`` (plain arrays, for running averages).
    """
    mu = anp.mean(a, axis=0)
    xc = a - mu
    var = anp.mean(anp.square(xc), axis=0)
    if stats is not None:
        stats[f"mean{layer}"], stats[f"var{layer}"] = getval(mu), getval(var)
    return gamma * (xc / anp.sqrt(var + BN_EPS)) + beta


def scores(params: dict, X, activation: str = "relu", masks=None, bn_stats: dict | None = None):
    """Class scores (N, C) of the L-layer net, in ``autograd.numpy``.

    Hidden layer ``l``: ``h @ W_l (+ b_l)``, batch norm when ``gamma_l`` is in
    ``params``, the activation, then times the dropout mask ``masks[l-1]`` if given.
    """
    L = num_layers(params)
    act = ACTIVATIONS[activation]
    h = X
    for i in range(1, L):
        a = h @ params[f"W{i}"]
        if f"b{i}" in params:
            a = a + params[f"b{i}"]
        if f"gamma{i}" in params:
            a = batchnorm(a, params[f"gamma{i}"], params[f"beta{i}"], bn_stats, i)
        h = act(a)
        if masks is not None:
            h = h * masks[i - 1]
    return h @ params[f"W{L}"] + params[f"b{L}"]


def logsumexp(s):
    """Row-wise ``log sum_j exp(s[n, j])``, shape (N, 1), without overflow; dtype of ``s``.

    ``m + log sum_j exp(s[n, j] - m)`` with ``m = max_j s[n, j]``: every
    exponent is <= 0, and the largest term is exactly 1. ``m`` is held
    constant (its value is taken out of the trace): the identity holds for
    any ``m``, so the derivative is ``softmax(s)`` exactly, and autograd's
    derivative of ``max`` (ties split as ``1/count``, float64) never enters.
    """
    m = onp.max(getval(s), axis=1, keepdims=True)
    return m + anp.log(anp.sum(anp.exp(s - m), axis=1, keepdims=True))


def loss(params: dict, X, Y, reg: float = 0.0, **options):
    """Mean cross-entropy against target rows ``Y`` (N, C) + ``0.5*reg*sum ||W||^2``.

    ``Y`` is one-hot, or the label-smoothed targets; ``options`` go to :func:`scores`.
    """
    s = scores(params, X, **options)
    log_probs = s - logsumexp(s)
    data_loss = -anp.sum(log_probs * Y) / X.shape[0]
    if not reg:
        return data_loss
    return data_loss + 0.5 * reg * sum(anp.sum(anp.square(w)) for k, w in params.items() if k.startswith("W"))


_loss_and_grads = value_and_grad(loss)


def one_hot(y, num_classes: int, dtype) -> onp.ndarray:
    """(N,) int labels -> (N, C) one-hot matrix (the exercise's ``MaskMat``)."""
    return (onp.asarray(y)[:, None] == onp.arange(num_classes)).astype(dtype)


def loss_and_grads(
    params: dict,
    X,
    y,
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
    """Backend contract (see :mod:`autonet.backends`): ``(loss, grads)`` via autograd.

    Options as in ``autonet.manual.network.loss_and_grads``: ``activation``,
    ``dropout`` with its mask ``seed``, ``label_smoothing`` (targets
    ``(1 - eps) * one_hot + eps / C``), ``bn_stats`` (receives the batch statistics),
    ``mix = (y2, lam)`` (mixup/cutmix targets ``lam * one_hot(y) + (1 - lam) * one_hot(y2)``,
    smoothed on top; ``lam`` a number or one per row). The dropout masks are drawn by
    :func:`autonet.conventions.dropout_mask` (the one convention; a mask has no gradient), so both
    backends given the same seed use the same masks. ``factored`` is accepted and answered with
    arrays: autograd's gradients are arrays, which every caller of the contract takes.
    """
    L = num_layers(params)
    C = params[f"W{L}"].shape[1]
    Y = one_hot(y, C, X.dtype)
    if mix is not None:
        y2, lam = mix
        lam = onp.reshape(onp.asarray(lam, dtype=onp.float64), (-1, 1))  # a number or one per row
        Y = (lam * Y + (1 - lam) * one_hot(y2, C, X.dtype)).astype(X.dtype)
    if label_smoothing:
        Y = (1 - label_smoothing) * Y + X.dtype.type(label_smoothing / C)
    masks = None
    if dropout:
        rng = onp.random.default_rng(seed)
        masks = [dropout_mask(rng, (X.shape[0], params[f"W{i}"].shape[1]), dropout, X.dtype) for i in range(1, L)]
    value, grads = _loss_and_grads(params, X, Y, float(reg), activation=activation, masks=masks, bn_stats=bn_stats)
    return float(value), grads
