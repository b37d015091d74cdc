"""The exercise's two-layer derivation (its solution write-up), equation by equation, for reading beside it.

Network: ``X (N, D) -> affine (W1, b1) -> ReLU -> affine (W2, b2) -> softmax``
with the mean cross-entropy loss and ``0.5*reg*(||W1||^2 + ||W2||^2)``.
Each line below is one of the write-up's equations (1)-(10), with the two errata
of the write-up corrected where they occur. :func:`autonet.manual.network.loss_and_grads`
computes the same thing for any depth; the tests hold the two together.
"""

from __future__ import annotations

import numpy as np


def mask_mat(y: np.ndarray, num_classes: int, dtype=np.float64) -> np.ndarray:
    """The write-up's ``MaskMat``: (N, C) one-hot rows, ``MaskMat[n, y_n] = 1``."""
    out = np.zeros((y.shape[0], num_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def forward(params: dict, X: np.ndarray) -> dict:
    """Eqs. (1)-(4); returns every intermediate by the write-up's names.

    Returns
    -------
    dict with ``FC1_out`` (N, H), ``H_out`` (N, H), ``FC2_out`` (N, C) and
    ``final_output`` (N, C), the softmax probabilities.
    """
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    FC1_out = X @ W1 + b1  # (1)
    H_out = np.maximum(0, FC1_out)  # (2)
    FC2_out = H_out @ W2 + b2  # (3)
    # (4) softmax; subtracting the row max changes nothing mathematically but
    # keeps exp() from overflowing when scores are large.
    e = np.exp(FC2_out - FC2_out.max(axis=1, keepdims=True))
    final_output = e / e.sum(axis=1, keepdims=True)
    return {"FC1_out": FC1_out, "H_out": H_out, "FC2_out": FC2_out, "final_output": final_output}


def loss_and_grads(params: dict, X: np.ndarray, y: np.ndarray, reg: float = 0.0):
    """Loss and gradients of the two-layer net, one step per equation of the write-up.

    Parameters
    ----------
    params : dict with ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,)
    X : (N, D) array
    y : (N,) int labels in [0, C)
    reg : L2 strength

    Returns
    -------
    loss : float
    grads : dict with keys ``W1, b1, W2, b2``
    """
    N = X.shape[0]
    W1, W2 = params["W1"], params["W2"]
    f = forward(params, X)
    C = f["final_output"].shape[1]
    ones_N = np.ones((1, N), dtype=X.dtype)  # the 1×N ones-vector of (7) and (10)

    data_loss = -np.log(f["final_output"][np.arange(N), y]).mean()
    loss = data_loss + 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

    # (5) dL/dFC2_out = (final_output - MaskMat) / N; the 1/N because L is a mean.
    dFC2_out = (f["final_output"] - mask_mat(y, C, X.dtype)) / N
    # (6) dL/dW2 = H_out^T dL/dFC2_out                       (H, C)
    dW2 = f["H_out"].T @ dFC2_out
    # (7) dL/db2 = 1_{1×N} dL/dFC2_out                        (1, C)
    #     erratum: the write-up writes the ones-vector as 1×H; it sums over the N rows.
    db2 = (ones_N @ dFC2_out).ravel()
    # (8) dL/dH_out = dL/dFC2_out W2^T, then through the ReLU:
    #     dL/dFC1_out = dL/dH_out * 1[FC1_out > 0]              (N, H)
    #     erratum: the write-up writes max(dL/dH_out, 0), which clips the gradient's
    #     sign instead of masking by the forward pre-activation.
    dH_out = dFC2_out @ W2.T
    dFC1_out = dH_out * (f["FC1_out"] > 0)
    # (9) dL/dW1 = X^T dL/dFC1_out                             (D, H)
    dW1 = X.T @ dFC1_out
    # (10) dL/db1 = 1_{1×N} dL/dFC1_out                         (1, H)
    db1 = (ones_N @ dFC1_out).ravel()

    grads = {"W1": dW1 + reg * W1, "b1": db1, "W2": dW2 + reg * W2, "b2": db2}
    return float(loss), grads
