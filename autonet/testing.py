"""Assertions for pytest: hold your own two-layer code, backend or layer functions against autonet.

The same battery and diagnoses as ``autonet check``; a failure raises
``AssertionError`` whose message is the whole report (the table and where
each fault enters)::

    from autonet.testing import assert_gradients_match, assert_backend_passes

    def test_my_net():
        assert_gradients_match(TwoLayerNet)          # a class with the exercise's API

    def test_my_backend():
        assert_backend_passes(my_loss_and_grads)     # loss_and_grads(params, X, y, reg) -> (loss, grads)

autonet's own test suite runs :func:`assert_backend_passes` on its
``manual`` and ``autograd`` backends: a third backend passes exactly the
cases they pass.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from autonet.checking.cases import Case, battery
from autonet.checking.report import Report
from autonet.checking.tolerances import Tolerances
from autonet.checking.twolayer import check_two_layer

__all__ = [
    "Case",
    "Report",
    "Tolerances",
    "assert_backend_passes",
    "assert_gradients_match",
    "assert_layers_match",
    "battery",
    "check",
]


def check(target: Any, *, l2: str = "half", cases: list[Case] | None = None, tol: Tolerances | None = None) -> Report:
    """The report for ``target``: a class (exercise API), a function (backend contract), a module of layer
    functions, or a ``"FILE.py[:Name]"`` / ``"package.module:Name"`` string; never raises for a failing check.

    Parameters
    ----------
    l2 : ``"half"`` (loss ``0.5*reg*||W||^2``, the default) or ``"full"`` (``reg*||W||^2``)
    cases : the battery to run (default :func:`battery`); strings always use the default
    tol : the tolerances (default :class:`Tolerances`: rtol 1e-7 against autonet, 1e-6 against
        finite differences of step 1e-5, atol 1e-9 where the gradient is tiny)

    The code runs in this process (it is your own, in your own pytest); ``autonet check`` runs it in a
    separate, bounded one.
    """
    if isinstance(target, str):
        from autonet.checking.check import check_in_process

        return check_in_process(target, l2=l2, tol=tol)
    if inspect.ismodule(target):
        from autonet.checking.layers import check_layers

        return check_layers(target, target.__name__, tol)
    return check_two_layer(target, l2=l2, cases=cases, tol=tol)


def _assert(report: Report) -> Report:
    if not report.passed:
        raise AssertionError("\n" + report.text())
    return report


def assert_gradients_match(
    target: Any, *, l2: str = "half", cases: list[Case] | None = None, tol: Tolerances | None = None
) -> Report:
    """Assert that ``target``'s scores, loss and gradients match autonet's on every case.

    Raises
    ------
    AssertionError
        Carrying the report: which checks fail, where the fault enters, and
        the classic mistake when its numerical signature is recognised.
    autonet.checking.TargetError
        If ``target`` does not have the exercise's API or the backend contract.
    """
    return _assert(check(target, l2=l2, cases=cases, tol=tol))


def assert_backend_passes(
    backend: str | Callable, *, l2: str = "half", cases: list[Case] | None = None, tol: Tolerances | None = None
) -> Report:
    """Run the whole cross-check battery on a backend: a registered name or any function
    ``loss_and_grads(params, X, y, reg) -> (loss, grads)``.

    It must agree with both autonet backends (``manual``, ``autograd``) and with
    finite differences of its own loss, on every case.
    """
    label = None
    if isinstance(backend, str):
        from autonet.backends import get_backend

        backend, label = get_backend(backend), f"backend {backend!r}"
    return _assert(check_two_layer(backend, label, l2=l2, cases=cases, tol=tol))


def assert_layers_match(module: Any, *, tol: Tolerances | None = None) -> Report:
    """Assert that a module's (or ``"path/to/layers.py"``'s) layer functions match autonet's and finite differences."""
    return _assert(check(module, tol=tol))
