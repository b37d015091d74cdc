"""Forward/backward pairs for the layers of a fully-connected net (numpy only).

Each ``*_forward`` returns ``(out, cache)``; the matching ``*_backward`` takes the
upstream gradient ``dout`` (dL/d out, same shape as ``out``) and that cache, and
returns the gradients with respect to the forward's inputs. Shapes: N examples,
D input features, H hidden units, C classes.
"""

from __future__ import annotations

import numpy as np

# ----- affine -----


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    """Affine layer ``out = x @ w + b`` (seed eqs. (1) and (3)).

    Parameters
    ----------
    x : (N, D) array
    w : (D, M) array
    b : (M,) array

    Returns
    -------
    out : (N, M) array
    cache : tuple ``(x, w)`` for :func:`affine_backward`
    """
    out = x @ w
    out += b
    return out, (x, w)


def affine_backward(dout: np.ndarray, cache, compute_dx: bool = True):
    """Backward of :func:`affine_forward` (seed eqs. (6), (7), (9), (10)).

    ``dw = x^T dout`` (D, M); ``db = 1_N^T dout``, the column sums of ``dout``
    (M,) — the ones-vector is 1×N, the seed's (7) misprints it as 1×H;
    ``dx = dout w^T`` (N, D).

    Parameters
    ----------
    dout : (N, M) array, dL/d out
    cache : from :func:`affine_forward`
    compute_dx : set False for the first layer, whose input is the data:
        ``dx`` is then ``None`` and its (N, M) x (M, D) product is skipped.

    Returns
    -------
    dx : (N, D) or None, dw : (D, M), db : (M,)
    """
    x, w = cache
    dx = dout @ w.T if compute_dx else None
    dw = x.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


# ----- relu -----


def relu_forward(x: np.ndarray):
    """ReLU ``out = max(0, x)`` elementwise (seed eq. (2)).

    Returns
    -------
    out : array like ``x``
    cache : the boolean mask ``x > 0``
    """
    mask = x > 0
    return x * mask, mask


def relu_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Backward of :func:`relu_forward` (the corrected seed eq. (8)).

    ``dx = dout * 1[x > 0]``: the upstream gradient is *masked by the sign of
    the forward pre-activation*. The seed's ``max(dL/dH, 0)`` is wrong: it
    keeps positive gradients of dead units and zeroes negative gradients of
    live ones. At exactly ``x == 0`` the subgradient 0 is used (the seed code's
    ``hidden_layer <= 0`` convention), in every autonet backend.
    """
    return dout * cache


# ----- sandwich -----


def affine_relu_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    """``relu(x @ w + b)``; returns ``(out, (affine_cache, relu_cache))``."""
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout: np.ndarray, cache, compute_dx: bool = True):
    """Backward of :func:`affine_relu_forward`; returns ``(dx, dw, db)``."""
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache, compute_dx)


# ----- loss -----


def softmax_cross_entropy(scores: np.ndarray, y: np.ndarray):
    """Mean softmax cross-entropy and its gradient (seed eqs. (4) and (5)).

    ``p = softmax(scores)`` row-wise, computed as ``exp(s - max s)`` so that no
    exponent overflows (subtracting a per-row constant leaves softmax
    unchanged). ``L = -(1/N) sum_n log p[n, y_n]`` and
    ``dL/dscores = (p - MaskMat) / N``, where ``MaskMat`` is the one-hot
    (N, C) matrix of the labels.

    Parameters
    ----------
    scores : (N, C) array of class scores
    y : (N,) int array, labels in [0, C)

    Returns
    -------
    loss : float
    dscores : (N, C) array, dL/dscores
    """
    n = scores.shape[0]
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_norm
    rows = np.arange(n)
    loss = -log_probs[rows, y].sum() / n
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1
    dscores /= n
    return float(loss), dscores
