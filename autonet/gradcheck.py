"""Numerical gradients and the relative error used to compare gradients."""

from __future__ import annotations

from typing import Callable

import numpy as np


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """The exercise's ``max |x - y| / max(1e-8, |x| + |y|)``, elementwise max."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centred differences ``(f(x + h e_i) - f(x - h e_i)) / 2h`` for every entry of ``x``.

    ``f`` takes no arguments and reads ``x``, which is perturbed in place
    and restored. Cost: 2 evaluations of ``f`` per entry; use tiny shapes.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


def numerical_param_grads(loss_fn: Callable[[dict], float], params: dict, h: float = 1e-5) -> dict:
    """Centred-difference gradient of ``loss_fn(params)`` for every array in ``params``."""
    return {k: numerical_gradient(lambda: loss_fn(params), params[k], h) for k in params}


def max_rel_error(a: dict, b: dict) -> float:
    """Largest :func:`rel_error` over the keys of two gradient dicts (same keys)."""
    if a.keys() != b.keys():
        raise ValueError(f"gradient keys differ: {sorted(a)} vs {sorted(b)}")
    return max(rel_error(a[k], b[k]) for k in a)
