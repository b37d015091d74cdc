"""Step checks: hold one hand-derived gradient step against autograd's.

The derivation notebooks compute every intermediate of the backward pass with
``manual`` -- ``dL/dFC2_out``, ``dL/dH_out``, ``dL/dFC1_out``, ... -- and
compare each with what ``autograd`` gives for *the same intermediate*.

Scope: plain affine-ReLU nets (parameters ``W<l>, b<l>`` only).

Naming (for an L-layer net, ``l = 1..L``)::

    H0 = X                      the input
    A_l = H_{l-1} W_l + b_l     pre-activation of layer l   ("A1" = the write-up's FC1_out)
    H_l = relu(A_l), l < L      hidden activation           ("H1" = the write-up's H_out)
    A_L                         the class scores            ("A2" = FC2_out for L = 2)

autograd's ``dL/dZ`` for an intermediate ``Z`` is the gradient of *the rest of
the network* seen as a function of ``Z`` (:func:`tail_loss`): the net is cut
at ``Z``, the layers after the cut are renumbered and handed to
:func:`autonet.autograd_loss.loss`. Nothing here states a derivative.
The loss is the mean cross-entropy without the L2 term, which does not depend
on any intermediate.

Typical use::

    value, ref = autograd_grad_wrt(params, X, y, "A1")     # FC1_out and dL/dFC1_out
    check_step("(8) dL/dFC1_out", my_dFC1_out, ref)      # prints, raises if wrong
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
from autograd import grad

from autonet import autograd_loss
from autonet.errors import ConfigError
from autonet.gradcheck import rel_error
from autonet.net import num_layers

DEFAULT_TOL = 1e-8  # float64 manual vs autograd agree to ~1e-13; a wrong step is off by >1e-3

_NAME = re.compile(r"^([AH])(\d+)$")


def _parse(params: dict, name: str) -> tuple[str, int, int]:
    """``"A2"`` -> ``("A", 2, L)``, the layer index checked against the net's depth ``L``."""
    if extra := sorted(k for k in params if not re.fullmatch(r"[Wb]\d+", k)):
        raise ConfigError(f"params: step checks cover plain affine-ReLU nets (keys W<l>, b<l>), got {extra}")
    L = num_layers(params)
    m = _NAME.match(str(name))
    if m is None:
        raise ConfigError(f"name must be 'A<l>' or 'H<l>' (e.g. 'A1', 'H1'), got {name!r}")
    kind, layer = m.group(1), int(m.group(2))
    lo, hi = (1, L) if kind == "A" else (0, L - 1)
    if not lo <= layer <= hi:
        raise ConfigError(f"name {name!r}: {kind}<l> needs {lo} <= l <= {hi} for this {L}-layer net")
    return kind, layer, L


def layers(params: dict, first: int, last: int) -> dict:
    """Layers ``first..last`` of ``params``, renumbered from 1 (a sub-network)."""
    return {f"{p}{i - first + 1}": params[f"{p}{i}"] for i in range(first, last + 1) for p in ("W", "b")}


def head_value(params: dict, X: np.ndarray, name: str) -> np.ndarray:
    """The forward value of intermediate ``name`` (see the module docstring)."""
    kind, layer, _ = _parse(params, name)
    if kind == "H" and layer == 0:
        return np.asarray(X)
    a = np.asarray(autograd_loss.scores(layers(params, 1, layer), X))
    return a if kind == "A" else np.asarray(autograd_loss.relu(a))


def tail_loss(params: dict, name: str, y: np.ndarray) -> Callable[[np.ndarray], float]:
    """The mean cross-entropy as a function of intermediate ``name`` alone.

    For ``A_L`` (the scores) the "rest of the network" is the softmax
    cross-entropy alone, written as a one-layer net with weights ``I`` and
    bias 0 so that the same :func:`autonet.autograd_loss.loss` serves.
    """
    kind, layer, L = _parse(params, name)
    C = params[f"W{L}"].shape[1]
    dtype = params[f"W{L}"].dtype
    Y = autograd_loss.one_hot(y, C, dtype)
    if kind == "A" and layer == L:
        rest = {"W1": np.eye(C, dtype=dtype), "b1": np.zeros(C, dtype=dtype)}
    else:
        rest = layers(params, layer + 1, L)
    relu = kind == "A" and layer < L  # a pre-activation goes through its ReLU first
    return lambda Z: autograd_loss.loss(rest, autograd_loss.relu(Z) if relu else Z, Y)


def autograd_grad_wrt(params: dict, X: np.ndarray, y: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """autograd's value of intermediate ``name`` and ``dL/d name`` (same shape).

    Parameters
    ----------
    params : dict ``W1, b1, ..., WL, bL`` (float64 for exact comparisons)
    X : (N, D) inputs
    y : (N,) int labels in [0, C)
    name : ``"A<l>"`` or ``"H<l>"`` as in the module docstring

    Returns
    -------
    value : (N, width) array, the intermediate from autograd's forward pass
    grad : (N, width) array, ``dL/d value`` of the mean cross-entropy
    """
    value = head_value(params, X, name)
    return value, np.asarray(grad(tail_loss(params, name, y))(value))


def check_step(
    name: str,
    manual: np.ndarray,
    reference: np.ndarray,
    tol: float = DEFAULT_TOL,
    verbose: bool = True,
    reference_name: str = "autograd",
) -> float:
    """Compare one hand-derived quantity with autograd's; raise if they disagree.

    Parameters
    ----------
    name : what is compared, e.g. ``"(8) dL/dFC1_out"`` (used in messages)
    manual : the hand-derived array
    reference : autograd's array for the same quantity
    tol : largest accepted :func:`autonet.gradcheck.rel_error`
    verbose : print ``name``, shape and relative error
    reference_name : what ``reference`` came from, for the messages

    Returns
    -------
    The relative error (elementwise ``|a-b| / max(1e-8, |a|+|b|)``, maximised).

    Raises
    ------
    AssertionError
        Shapes differ, a value is not finite, or the relative error exceeds
        ``tol``; the message names the step and gives the error.
    """
    a, b = np.asarray(manual), np.asarray(reference)
    if a.shape != b.shape:
        raise AssertionError(f"{name}: manual shape {a.shape} differs from {reference_name}'s {b.shape}")
    finite_a, finite_b = bool(np.isfinite(a).all()), bool(np.isfinite(b).all())
    if not (finite_a and finite_b):
        raise AssertionError(
            f"{name}: non-finite values (manual finite: {finite_a}, {reference_name} finite: {finite_b})"
        )
    err = rel_error(a, b)
    ok = err <= tol
    if verbose:
        print(
            f"{name:<28} shape {str(a.shape):<10} rel. error vs {reference_name} {err:.1e}  {'ok' if ok else 'WRONG'}"
        )
    if not ok:
        raise AssertionError(f"{name}: relative error {err:.3e} vs {reference_name} exceeds tolerance {tol:.0e}")
    return err
