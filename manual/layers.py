"""Forward/backward pairs for the layers of a fully-connected net (numpy only).

Each ``*_forward`` returns ``(out, cache)``; the matching ``*_backward`` takes the
upstream gradient ``dout`` (dL/d out, same shape as ``out``) and that cache, and
returns the gradients with respect to the forward's inputs. Shapes: N examples,
D input features, H hidden units, C classes.

These functions are what ``--backend manual`` trains with, so they are written
to be fast as well as readable: where a function takes ``out=``, its result is
written into that array (numpy's ``out=``, no allocation); the weight gradient
of an affine layer can be left as its two factors (:class:`WeightGradient`),
so that a plain SGD step is taken by the gradient's own matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autonet.conventions import BN_EPS, LEAKY_SLOPE  # shared with the autograd backend

# ----- affine -----


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, out: np.ndarray | None = None):
    """Affine layer ``out = x @ w + b`` (eqs. (1) and (3) of the exercise).

    Parameters
    ----------
    x : (N, D) array
    w : (D, M) array
    b : (M,) array, or None for no bias (a layer followed by batch norm,
        whose mean subtraction would cancel it)
    out : optional (N, M) array to write the result into

    Returns
    -------
    out : (N, M) array
    cache : tuple ``(x, w)`` for :func:`affine_backward`
    """
    out = np.matmul(x, w, out=out)
    if b is not None:
        out += b
    return out, (x, w)


@dataclass(frozen=True)
class WeightGradient:
    """``dL/dw = x^T dout + reg * w`` of an affine layer, kept as its factors (eqs. (6) and (9)).

    Multiplying it out is a (D, N) x (N, M) matrix product that writes a
    (D, M) array. A caller that folds the gradient into a linear update does
    not need that array: plain SGD, ``w <- w - lr * (x^T dout + reg * w)``,
    is ``w <- -lr * x^T dout + (1 - lr * reg) * w``, a single BLAS ``gemm``
    on ``w`` where it lies (:func:`autonet.optim.sgd`) -- the same cost as the
    product alone. ``np.asarray(g)`` multiplies it out for everything else.

    Attributes
    ----------
    x : (N, D) the layer's input; dout : (N, M) the upstream gradient;
    w : (D, M) the weight itself (read only for the L2 term); reg : L2 strength
    """

    x: np.ndarray
    dout: np.ndarray
    w: np.ndarray
    reg: float = 0.0

    @property
    def shape(self) -> tuple[int, int]:
        return self.w.shape

    @property
    def dtype(self) -> np.dtype:
        return self.w.dtype

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        dw = self.x.T @ self.dout
        if self.reg:
            dw += self.reg * self.w  # d/dw of 0.5 * reg * ||w||^2
        return dw if dtype is None else dw.astype(dtype, copy=False)


def affine_backward(dout: np.ndarray, cache, compute_dx: bool = True, factored: bool = False, reg: float = 0.0):
    """Backward of :func:`affine_forward` (eqs. (6), (7), (9), (10)).

    ``dw = x^T dout`` (D, M); ``db = 1_N^T dout``, the column sums of ``dout``
    (M,) -- the ones-vector is 1×N (the write-up's (7) misprints it as 1×H);
    ``dx = dout w^T`` (N, D).

    Parameters
    ----------
    dout : (N, M) array, dL/d out
    cache : from :func:`affine_forward`
    compute_dx : set False for the first layer, whose input is the data:
        ``dx`` is then ``None`` and its (N, M) x (M, D) product is skipped.
    factored : return ``dw`` as a :class:`WeightGradient` (its factors ``x``
        and ``dout``) instead of multiplying it out
    reg : add the L2 term's gradient ``reg * w`` to ``dw``

    Returns
    -------
    dx : (N, D) or None, dw : (D, M) array or :class:`WeightGradient`, db : (M,)
    """
    x, w = cache
    dx = dout @ w.T if compute_dx else None
    dw = WeightGradient(x, dout, w, reg)
    db = dout.sum(axis=0)
    return dx, (dw if factored else np.asarray(dw)), db


# ----- relu -----


def relu_forward(x: np.ndarray, out: np.ndarray | None = None):
    """ReLU ``out = max(0, x)`` elementwise (eq. (2)), as ``x * 1[x > 0]``.

    ``out=x`` applies it in place (the mask is taken first).

    Returns
    -------
    out : array like ``x``
    cache : the boolean mask ``x > 0``
    """
    mask = x > 0
    return np.multiply(x, mask, out=out), mask


def relu_backward(dout: np.ndarray, cache, out: np.ndarray | None = None) -> np.ndarray:
    """Backward of :func:`relu_forward` (eq. (8), corrected).

    ``dx = dout * 1[x > 0]``: the upstream gradient is *masked by the sign of
    the forward pre-activation*. The write-up's ``max(dL/dH, 0)`` is wrong: it
    keeps positive gradients of dead units and zeroes negative gradients of
    live ones. At exactly ``x == 0`` the subgradient 0 is used (the exercise
    code's ``hidden_layer <= 0`` convention), in every autonet backend.
    ``out=dout`` masks in place.
    """
    return np.multiply(dout, cache, out=out)


# ----- other activations -----


def leaky_relu_forward(x: np.ndarray, out: np.ndarray | None = None):
    """Leaky ReLU ``out = x if x > 0 else 0.01 x``; cache: the mask ``x > 0``."""
    mask = x > 0
    return np.multiply(x, _leaky_slopes(mask, x.dtype), out=out), mask


def leaky_relu_backward(dout: np.ndarray, cache, out: np.ndarray | None = None) -> np.ndarray:
    """``dx = dout * (1 if x > 0 else 0.01)``; at ``x == 0`` the slope 0.01 is used."""
    return np.multiply(dout, _leaky_slopes(cache, dout.dtype), out=out)


def _leaky_slopes(mask: np.ndarray, dtype) -> np.ndarray:
    """1 where ``mask``, else :data:`LEAKY_SLOPE`, in ``dtype``."""
    return np.where(mask, np.dtype(dtype).type(1), np.dtype(dtype).type(LEAKY_SLOPE))


def tanh_forward(x: np.ndarray, out: np.ndarray | None = None):
    """``out = tanh(x)``; the cache is ``out`` itself."""
    out = np.tanh(x, out=out)
    return out, out


def tanh_backward(dout: np.ndarray, cache, out: np.ndarray | None = None) -> np.ndarray:
    """``dx = dout * (1 - out**2)``, written from the cached output (as sklearn does)."""
    return np.multiply(dout, 1 - cache * cache, out=out)


# name -> forward / backward, so a flag picks the hidden nonlinearity (sklearn's ACTIVATIONS/DERIVATIVES)
ACTIVATIONS = {"relu": relu_forward, "leaky_relu": leaky_relu_forward, "tanh": tanh_forward}
DERIVATIVES = {"relu": relu_backward, "leaky_relu": leaky_relu_backward, "tanh": tanh_backward}


# ----- inverted dropout -----


def dropout_forward(x: np.ndarray, mask: np.ndarray, out: np.ndarray | None = None):
    """``out = x * mask`` (mask from :func:`autonet.conventions.dropout_mask`); the scale ``1/(1-p)``
    keeps ``E[out] = x``, so evaluation uses the layer as the identity."""
    return np.multiply(x, mask, out=out), mask


def dropout_backward(dout: np.ndarray, cache, out: np.ndarray | None = None) -> np.ndarray:
    """``dx = dout * mask``: dropped units pass no gradient."""
    return np.multiply(dout, cache, out=out)


# ----- batch normalisation -----


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = BN_EPS):
    """Batch normalisation in training mode (Ioffe & Szegedy 2015, Algorithm 1).

    ``mu = mean_n x``, ``var = mean_n (x - mu)**2`` (biased, over the batch),
    ``xhat = (x - mu) / sqrt(var + eps)``, ``out = gamma * xhat + beta``.

    Parameters
    ----------
    x : (N, H) array
    gamma, beta : (H,) arrays, scale and shift

    Returns
    -------
    out : (N, H) array
    cache : ``(xhat, gamma, inv_std, mu, var)``; ``mu`` and ``var`` (H,) are
        the batch statistics a trainer folds into its running averages.
    """
    mu = x.mean(axis=0)
    xc = x - mu
    var = np.mean(xc * xc, axis=0)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = xc * inv_std
    return gamma * xhat + beta, (xhat, gamma, inv_std, mu, var)


def batchnorm_backward(dout: np.ndarray, cache):
    """Backward of :func:`batchnorm_forward` (derived in ``notebooks/04_batchnorm.ipynb``).

    ``dbeta = sum_n dout``, ``dgamma = sum_n dout * xhat`` and, because every
    ``x[n]`` also moves ``mu`` and ``var``::

        dx = gamma * inv_std / N * (N * dout - dbeta - xhat * dgamma)

    i.e. ``dxhat = gamma * dout`` with its batch mean and its component along
    ``xhat`` removed, scaled by ``1 / sqrt(var + eps)``.

    Returns
    -------
    dx : (N, H), dgamma : (H,), dbeta : (H,)
    """
    xhat, gamma, inv_std, _, _ = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dx = (gamma * inv_std / n) * (n * dout - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def batchnorm_eval_forward(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    eps: float = BN_EPS,
) -> np.ndarray:
    """Batch normalisation in evaluation mode: the running statistics replace the batch's.

    ``out = gamma * (x - running_mean) / sqrt(running_var + eps) + beta``, an
    affine map of each unit, so each example's output no longer depends on
    the rest of the batch.
    """
    return gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta


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


def softmax_cross_entropy(scores: np.ndarray, y: np.ndarray, smoothing: float = 0.0, mix=None):
    """Mean softmax cross-entropy and its gradient (eqs. (4) and (5)).

    ``p = softmax(scores)`` row-wise, computed as ``exp(s - max s)`` so that no
    exponent overflows (subtracting a per-row constant leaves softmax
    unchanged). ``L = -(1/N) sum_n log p[n, y_n]`` and
    ``dL/dscores = (p - MaskMat) / N``, where ``MaskMat`` is the one-hot
    (N, C) matrix of the labels.

    With label smoothing ``eps`` (Szegedy et al. 2016) the target row is
    ``T = (1 - eps) * MaskMat + eps / C`` instead of the one-hot row:
    ``L = -(1/N) sum_n sum_c T[n, c] log p[n, c]`` and ``dL/dscores = (p - T) / N``
    (the same shape of result, since every row of ``T`` sums to 1).

    With mixed targets ``mix = (y2, lam)`` (mixup, Zhang et al. 2018; cutmix,
    Yun et al. 2019: the input row is a blend of the images of ``y`` and
    ``y2``) the one-hot row is replaced by the blend of the two labels'
    one-hot rows, ``M = lam * MaskMat(y) + (1 - lam) * MaskMat(y2)``, and
    smoothing applies on top: ``T = (1 - eps) * M + eps / C``.

    The gradient for *any* target rows ``T`` whose entries sum to 1 per row:
    with ``log p[n, c] = s[n, c] - log sum_j exp(s[n, j])``,
    ``d log p[n, c] / d s[n, k] = 1[c = k] - p[n, k]``, so::

        dL/ds[n, k] = -(1/N) sum_c T[n, c] (1[c = k] - p[n, k])
                    = -(1/N) (T[n, k] - p[n, k] sum_c T[n, c])
                    = (p[n, k] - T[n, k]) / N.

    The loss splits the same way as the targets:
    ``L = (1 - eps) * (lam * CE(y) + (1 - lam) * CE(y2)) - eps/(N C) sum_{n,c} log p[n, c]``,
    each ``CE`` the plain mean cross-entropy of those labels.

    Parameters
    ----------
    scores : (N, C) array of class scores
    y : (N,) int array, labels in [0, C)
    smoothing : eps in [0, 1); 0 is the plain cross-entropy
    mix : None, or ``(y2, lam)``: (N,) int labels of the blended-in rows and
        the weight ``lam`` in [0, 1] of ``y`` (a number, or an (N,) array: one per row)

    Returns
    -------
    loss : float
    dscores : (N, C) array, dL/dscores
    """
    n, c = scores.shape
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_norm
    rows = np.arange(n)
    if mix is not None:
        return _mixed_cross_entropy(log_probs, y, smoothing, *mix)
    loss = -log_probs[rows, y].sum() / n
    dscores = np.exp(log_probs)
    if smoothing:
        # -(1/N) sum T log p = (1 - eps) * the one-hot loss + eps * mean_n (-(1/C) sum_c log p)
        loss = (1 - smoothing) * loss - smoothing * log_probs.sum() / (n * c)
        dscores -= smoothing / c
        dscores[rows, y] -= 1 - smoothing
    else:
        dscores[rows, y] -= 1
    dscores /= n
    return float(loss), dscores


def _mixed_cross_entropy(log_probs: np.ndarray, y: np.ndarray, smoothing: float, y2: np.ndarray, lam):
    """Loss and ``(p - T) / N`` for the mixed targets of :func:`softmax_cross_entropy` (derived there)."""
    n, c = log_probs.shape
    rows = np.arange(n)
    lam = np.asarray(lam, dtype=np.float64)
    lam_rows = np.broadcast_to(lam, (n,))
    # -(1/N) sum_n [lam_n log p[n, y_n] + (1 - lam_n) log p[n, y2_n]]
    loss = -(lam_rows * log_probs[rows, y] + (1 - lam_rows) * log_probs[rows, y2]).sum() / n
    dscores = np.exp(log_probs)
    keep = 1 - smoothing
    if smoothing:
        loss = keep * loss - smoothing * log_probs.sum() / (n * c)
        dscores -= smoothing / c
    # two separate subtractions, so a row whose y and y2 agree gets both parts
    dscores[rows, y] -= (keep * lam_rows).astype(dscores.dtype)
    dscores[rows, y2] -= (keep * (1 - lam_rows)).astype(dscores.dtype)
    dscores /= n
    return float(loss), dscores
