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
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as onp
from autograd import value_and_grad
from autograd.scipy.special import logsumexp


def relu(z):
    """``max(0, z)`` as ``z * 1[z > 0]``, so autograd's derivative at 0 is 0.

    ``anp.maximum(0, z)`` would split the gradient 0.5/0.5 on ties; here the
    mask is a constant to autograd, and the derivative is the mask itself.
    """
    return z * (z > 0)


def scores(params: dict, X):
    """Class scores (N, C) of the L-layer ReLU net, in ``autograd.numpy``."""
    L = sum(1 for k in params if k.startswith("W"))
    h = X
    for i in range(1, L):
        h = relu(h @ params[f"W{i}"] + params[f"b{i}"])
    return h @ params[f"W{L}"] + params[f"b{L}"]


def loss(params: dict, X, Y, reg: float = 0.0):
    """Mean softmax cross-entropy against one-hot ``Y`` (N, C) + ``0.5*reg*sum ||W||^2``."""
    s = scores(params, X)
    log_probs = s - logsumexp(s, axis=1, keepdims=True)
    data_loss = -anp.sum(log_probs * Y) / X.shape[0]
    reg_loss = sum(anp.sum(anp.square(w)) for k, w in params.items() if k.startswith("W"))
    return data_loss + 0.5 * reg * reg_loss


_loss_and_grads = value_and_grad(loss)


def one_hot(y, num_classes: int, dtype) -> onp.ndarray:
    """(N,) int labels -> (N, C) one-hot matrix (the seed's ``MaskMat``)."""
    return (onp.asarray(y)[:, None] == onp.arange(num_classes)).astype(dtype)


def loss_and_grads(params: dict, X, y, reg: float = 0.0):
    """Backend contract (see :mod:`autonet.backends`): ``(loss, grads)`` via autograd."""
    L = sum(1 for k in params if k.startswith("W"))
    Y = one_hot(y, params[f"W{L}"].shape[1], X.dtype)
    value, grads = _loss_and_grads(params, X, Y, float(reg))
    return float(value), grads
