"""Telling a diverged step apart from a bug, and saying what to change.

:func:`check_finite` is called by the trainer after every backend call: a
non-finite loss or gradient raises :class:`autonet.errors.DivergenceError`
whose message names the likely cause (:func:`divergence_cause`): the learning
rate, the L2 strength, the initial weights or the scale of the inputs.
"""

from __future__ import annotations

import numpy as np

from autonet.errors import DivergenceError
from autonet.manual.layers import WeightGradient


def check_finite(
    loss: float, grads: dict, params: dict, iteration: int, learning_rate: float, reg: float, X_batch: np.ndarray
) -> None:
    """Raise DivergenceError if ``loss`` or any gradient holds NaN or inf (before any parameter changes).

    A factored weight gradient ``h^T delta + reg * W`` is checked through
    ``delta``: the forward was finite (the loss is), so a finite ``delta``
    makes a finite product.
    """

    def cause() -> str:
        return divergence_cause(params, iteration, learning_rate, reg, X_batch)

    if not np.isfinite(loss):
        where = f"at iteration {iteration} ({largest_param(params)})"
        raise DivergenceError(f"non-finite loss ({loss}) {where}; {cause()}", iteration, "loss")
    for name, g in grads.items():
        g = g.dout if isinstance(g, WeightGradient) else g
        # a finite vdot(g, g) (one BLAS pass, 10x faster than g.sum()) means every entry is finite and
        # g.sum() too; only when it is not (NaN/inf, or a norm beyond 1e19 in float32) is the sum asked
        if not np.isfinite(np.vdot(g, g)) and not np.isfinite(g.sum()):
            raise DivergenceError(f"non-finite gradient of {name} at iteration {iteration}; {cause()}", iteration, name)


def divergence_cause(params: dict, iteration: int, learning_rate: float, reg: float, X_batch: np.ndarray) -> str:
    """What to change: the learning rate, unless nothing has been updated yet.

    At iteration 0 no update has happened, so the learning rate cannot be
    to blame: the starting point overflows, from weights initialised too
    large or inputs too large for the forward pass in this dtype.
    """
    dtype = params["W1"].dtype
    x = float(np.abs(X_batch).max(initial=0.0))
    if reg_cause := l2_cause(params, iteration, learning_rate, reg):
        return reg_cause
    if iteration > 0:
        if x > 1e6:
            return (
                f"the inputs are very large (max |x| = {x:.3g} in this batch): scale them (e.g. "
                f"--preprocess standardize), or try a smaller learning rate (now {learning_rate:g})"
            )
        return f"try a smaller learning rate (now {learning_rate:g})"
    name = max((k for k in params if k.startswith("W")), key=lambda k: float(np.abs(params[k]).max(initial=0.0)))
    w = float(np.abs(params[name]).max(initial=0.0))
    head = "before any update, so not the learning rate: "
    if not np.isfinite(x):
        return head + f"the inputs overflow {dtype} (scale them, or use float64)"
    if w > 10 and x <= 1e4:
        return head + "the initial weights are too large; lower the init std (--std) or use --init he"
    if x > 1e4:
        return head + (
            f"the inputs are too large for {dtype} arithmetic (max |x| = {x:.3g} in this "
            "batch); scale them (e.g. --preprocess standardize)"
        )
    return head + (
        f"the forward pass overflows {dtype} at the initial point (max |x| = {x:.3g}, "
        f"max |{name}| = {w:.3g}); lower the init std (--std) or scale the inputs"
    )


def l2_cause(params: dict, iteration: int, learning_rate: float, reg: float) -> str | None:
    """The L2 term's share of a divergence: None unless ``reg`` itself is to blame.

    After an update: ``reg > 1`` with ``learning rate * reg > 1`` -- the decay step
    ``w -= lr * reg * w`` alone overshoots zero and grows the weights (a huge learning rate
    with an ordinary reg stays the learning rate's fault). Before any update: the term
    ``0.5 * reg * sum ||W||^2`` itself beyond the dtype's range.
    """
    reg, lr = float(reg), float(learning_rate)
    if reg <= 1:
        return None
    if iteration > 0 and lr * reg > 1:
        return (
            f"the L2 term diverges: learning rate x reg = {lr * reg:.3g} > 1, so the decay step "
            f"w -= lr * reg * w overshoots and grows the weights; lower --reg (now {reg:g}) or the "
            f"learning rate (now {lr:g})"
        )
    if iteration == 0:
        with np.errstate(over="ignore", invalid="ignore"):
            weights = [w for k, w in params.items() if k.startswith("W") and np.isfinite(w).all()]
            l2 = 0.5 * reg * sum(float(np.vdot(w, w)) for w in weights)
        dtype = params["W1"].dtype
        if not l2 <= np.finfo(dtype).max:
            return (
                f"before any update, so not the learning rate: the L2 term 0.5 * reg * sum ||W||^2 = {l2:.3g} "
                f"overflows {dtype}; lower --reg (now {reg:g})"
            )
    return None


def largest_param(params: dict) -> str:
    """Name the parameter to blame for a non-finite loss: the first non-finite one, else the largest."""
    for name, w in params.items():
        if not np.isfinite(w).all():
            return f"parameter {name} holds NaN/inf"
    name = max(params, key=lambda k: float(np.abs(params[k]).max(initial=0.0)))
    return f"largest parameter {name}, max |{name}| = {float(np.abs(params[name]).max(initial=0.0)):.3g}"
