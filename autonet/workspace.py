"""The manual backend's step with preallocated buffers: the same numbers, no allocation per step.

:func:`autonet.manual.network.loss_and_grads` is the readable derivation: every layer
function returns fresh arrays. At training speed those allocations cost more
than the arithmetic around them (a fresh 12 MB ``dW`` is page-faulted in on
every step, the L2 term makes a full-size temporary, and so on).
:class:`ManualWorkspace` computes *the same float operations in the same
order* -- ``tests/test_workspace.py`` checks the loss, every gradient and the
batch statistics bit for bit against the reference, for every option -- but
writes each intermediate into a buffer allocated once per batch shape:
``np.matmul(..., out=)``, in-place ufuncs, and the ReLU applied to the affine
output where it lies. The equations are those of :mod:`autonet.manual.layers`; see
there for each derivation.

Only the ReLU net is computed here in place; ``leaky_relu`` and ``tanh`` call
the layer functions of :mod:`autonet.manual.layers` (so still exact, just allocating).

:meth:`ManualWorkspace.sgd_step` goes one step further for plain SGD, and is
therefore equal only up to float rounding: each weight matrix takes its step
inside the product that would have computed its gradient,
``W <- -lr * h^T delta + (1 - lr * reg) * W`` in one BLAS call
(:func:`autonet.blas.gemm_update`), so ``dW`` is never written and no pass
over the weights follows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autonet.blas import gemm_update
from autonet.manual.layers import (
    BN_EPS,
    softmax_cross_entropy,
)
from autonet.manual.network import loss_and_grads as manual_loss_and_grads
from autonet.manual.network import num_layers


class ManualWorkspace:
    """``loss_and_grads`` of :mod:`autonet.manual.network`, into buffers owned by this object.

    Call it like the backend; the returned gradient arrays are this object's
    buffers, overwritten by the next call (the trainer consumes them first).

    Parameters
    ----------
    params : the parameter dict the calls will pass (its keys and shapes fix the buffers)
    """

    def __init__(self, params: dict) -> None:
        self.L = num_layers(params)
        self.keys = list(params)
        self.batchnorm = "gamma1" in params
        self.grads = {k: np.empty_like(v) for k, v in params.items()}
        self._reg_tmp: dict[str, np.ndarray] = {}  # reg * W, allocated on the first step with reg > 0
        self._shape: tuple | None = None

    @staticmethod
    def is_reference(fn) -> bool:
        """True when ``fn`` is the manual backend this workspace reproduces."""
        return fn is manual_loss_and_grads

    def _buffers(self, params: dict, n: int, dtype) -> None:
        """(Re)allocate the per-batch buffers for ``n`` rows of ``dtype``."""
        if self._shape == (n, dtype):
            return
        widths = [params[f"W{i}"].shape[1] for i in range(1, self.L + 1)]
        empty = lambda h: np.empty((n, h), dtype)  # noqa: E731
        self.a = [empty(h) for h in widths[:-1]]  # affine output, then (in place) the layer's output
        self.relu_mask = [np.empty((n, h), bool) for h in widths[:-1]]
        self.drop_mask = [empty(h) for h in widths[:-1]]
        self.uniforms = [np.empty((n, h)) for h in widths[:-1]]  # float64: dropout_mask's draw
        self.keep = [np.empty((n, h), bool) for h in widths[:-1]]
        self.xhat = [empty(h) for h in widths[:-1]] if self.batchnorm else []
        self.tmp = [empty(h) for h in widths[:-1]]
        self.dh = [empty(h) for h in widths[:-1]]  # dL/d(output of hidden layer l)
        self.scores = empty(widths[-1])
        self._shape = (n, dtype)

    def __call__(
        self,
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
        l2_gradient: bool = True,
        mix=None,
        sgd: tuple[float, Callable[[float, dict], None]] | None = None,
    ):
        """The backend contract (see :mod:`autonet.backends`); gradients are :attr:`grads`.

        ``l2_gradient=False`` leaves ``reg * W`` out of the ``W`` gradients (the
        loss still holds the L2 term): for a caller that adds it itself,
        inside its update (:class:`autonet.fused_update.FusedUpdate` ``l2=``).
        ``sgd = (learning_rate, check)``: :meth:`sgd_step`'s in-place step
        (only where :meth:`in_place`); the ``W`` gradients are then not written.
        """
        if not self.in_place(params, X, activation):
            if sgd is not None:
                raise ValueError("sgd= needs the in-place step (ReLU, these parameters, X of their dtype)")
            loss, grads = manual_loss_and_grads(
                params,
                X,
                y,
                reg if l2_gradient else 0.0,
                activation=activation,
                dropout=dropout,
                seed=seed,
                label_smoothing=label_smoothing,
                bn_stats=bn_stats,
                mix=mix,
            )
            return (loss if l2_gradient else loss + self._reg_loss(params, reg)), grads
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        L, g, n = self.L, self.grads, X.shape[0]
        self._buffers(params, n, X.dtype)
        rng = np.random.default_rng(seed) if dropout else None

        # forward: affine (- batchnorm) - relu (- dropout), in the buffer a[l]
        inv_std: list[Any] = [None] * L
        h = X
        for i in range(1, L):
            a, xhat, tmp = self.a[i - 1], (self.xhat[i - 1] if self.batchnorm else None), self.tmp[i - 1]
            np.matmul(h, params[f"W{i}"], out=a)  # affine_forward
            if f"b{i}" in params:
                a += params[f"b{i}"]
            if self.batchnorm:  # batchnorm_forward
                assert xhat is not None
                mu = a.mean(axis=0)
                np.subtract(a, mu, out=xhat)  # xc
                np.multiply(xhat, xhat, out=tmp)
                var = np.mean(tmp, axis=0)
                inv_std[i] = 1.0 / np.sqrt(var + BN_EPS)
                np.multiply(xhat, inv_std[i], out=xhat)  # xhat = xc * inv_std
                np.multiply(params[f"gamma{i}"], xhat, out=a)
                a += params[f"beta{i}"]
                if bn_stats is not None:
                    bn_stats[f"mean{i}"], bn_stats[f"var{i}"] = mu, var
            np.greater(a, 0, out=self.relu_mask[i - 1])  # relu_forward: x * (x > 0)
            np.multiply(a, self.relu_mask[i - 1], out=a)
            if dropout:  # dropout_forward; the mask drawn as dropout_mask draws it
                mask = self.drop_mask[i - 1]
                assert rng is not None
                rng.random(out=self.uniforms[i - 1])
                np.greater_equal(self.uniforms[i - 1], dropout, out=self.keep[i - 1])
                np.multiply(self.keep[i - 1], a.dtype.type(1.0 / (1.0 - dropout)), out=mask)
                np.multiply(a, mask, out=a)
            h = a
        np.matmul(h, params[f"W{L}"], out=self.scores)
        self.scores += params[f"b{L}"]
        data_loss, dscores = softmax_cross_entropy(self.scores, y, smoothing=label_smoothing, mix=mix)
        reg_loss = self._reg_loss(params, reg)
        if sgd is not None:
            sgd[1](data_loss + reg_loss, {})

        # backward (affine_backward, relu_backward, dropout_backward, batchnorm_backward)
        d = dscores
        for i in range(L, 0, -1):
            h_in = X if i == 1 else self.a[i - 2]
            if i < L:
                da = self.dh[i - 1]
                if dropout:
                    np.multiply(da, self.drop_mask[i - 1], out=da)
                np.multiply(da, self.relu_mask[i - 1], out=da)
                if self.batchnorm:
                    da = self._batchnorm_backward(i, da, params, inv_std[i], g)
                d = da
            if sgd is None:
                np.matmul(h_in.T, d, out=g[f"W{i}"])
            if f"b{i}" in params:
                np.sum(d, axis=0, out=g[f"b{i}"])
            if i > 1:
                np.matmul(d, params[f"W{i}"].T, out=self.dh[i - 2])
            if sgd is not None:  # W <- W - lr * (h^T d + reg * W), after W has served dh above
                lr, check = sgd
                check(data_loss + reg_loss, {f"W{i}": d})
                gemm_update(-lr, h_in.T, d, 1.0 - lr * reg, params[f"W{i}"])
        if reg and l2_gradient and sgd is None:
            for i in range(1, L + 1):  # d/dW of 0.5*reg*||W||^2
                tmp = self._reg_tmp.setdefault(f"W{i}", np.empty_like(params[f"W{i}"]))
                np.multiply(reg, params[f"W{i}"], out=tmp)
                g[f"W{i}"] += tmp
        return data_loss + reg_loss, g

    def in_place(self, params: dict, X: np.ndarray, activation: str = "relu") -> bool:
        """True when a call with these arguments runs in this object's buffers (not the reference)."""
        return activation == "relu" and set(params) == set(self.keys) and X.dtype == params["W1"].dtype

    def sgd_step(
        self,
        params: dict,
        X: np.ndarray,
        y: np.ndarray,
        reg: float,
        learning_rate: float,
        check: Callable[[float, dict], None],
        **options: Any,
    ) -> tuple[float, dict]:
        """Forward, backward and the SGD step of every ``W`` in one pass; returns ``(loss, other_grads)``.

        The weight update ``W <- W - lr * (dW + reg * W)`` with ``dW = h^T delta`` is
        done by the product itself, ``W <- -lr * h^T delta + (1 - lr * reg) * W``
        (:func:`autonet.blas.gemm_update`): no ``dW`` is written and no pass over
        the weights follows. The same numbers as the reference step up to float
        rounding (``tests/test_workspace.py``). ``delta`` of layer ``l`` is
        handed to ``check(loss, {"W<l>": delta})`` before ``W<l>`` changes (a
        finite ``delta`` makes a finite gradient ``h^T delta``), the loss to
        ``check(loss, {})`` before any change; a ``check`` that raises stops the
        step there. The remaining gradients (biases, batch-norm ``gamma`` and
        ``beta``) are returned for the caller's update rule. ``options``: as
        for :meth:`__call__`.
        """
        if not self.in_place(params, X, options.get("activation", "relu")):
            loss, grads = self(params, X, y, reg, **options)
            check(loss, grads)
            for key in (k for k in params if k.startswith("W")):
                w = params[key]
                w -= w.dtype.type(learning_rate) * grads[key]
        else:
            loss, grads = self(params, X, y, reg, sgd=(learning_rate, check), **options)
        return loss, {k: g for k, g in grads.items() if not k.startswith("W")}

    def _reg_loss(self, params: dict, reg: float) -> float:
        """``0.5 * reg * sum_l ||W_l||^2``, summed as :mod:`autonet.manual.network` sums it."""
        return (
            0.5 * reg * sum(float(np.vdot(params[f"W{i}"], params[f"W{i}"])) for i in range(1, self.L + 1))
            if reg
            else 0.0
        )

    def _batchnorm_backward(self, i: int, dout, params: dict, inv_std, g: dict):
        """``dx = (gamma * inv_std / N) * (N * dout - dbeta - xhat * dgamma)``, into ``tmp[i]``."""
        xhat, out, tmp = self.xhat[i - 1], self.tmp[i - 1], self.a[i - 1]  # a[i] is no longer needed
        n = dout.shape[0]
        np.sum(dout, axis=0, out=g[f"beta{i}"])
        np.multiply(dout, xhat, out=tmp)
        np.sum(tmp, axis=0, out=g[f"gamma{i}"])
        np.multiply(n, dout, out=out)
        out -= g[f"beta{i}"]
        np.multiply(xhat, g[f"gamma{i}"], out=tmp)
        out -= tmp
        out *= params[f"gamma{i}"] * inv_std / n
        return out
