"""From a ``FILE.py[:Name]`` / ``package.module:Name`` string to a report: in a bounded process, or in this one."""

from __future__ import annotations

import inspect
from typing import Any

from autonet.checking.layers import check_layers, layer_functions
from autonet.checking.report import Report
from autonet.checking.target import DEFAULT_CLASS, TargetError, import_module, split_spec
from autonet.checking.tolerances import Tolerances
from autonet.checking.twolayer import check_two_layer

DEFAULT_FUNCTION = "loss_and_grads"


def find_target(spec: str) -> tuple[Any, str]:
    """What ``spec`` names, imported in this process, and its label.

    - ``FILE.py:Name`` / ``package.module:Name``: a class with the exercise's
      API or a function with the backend contract; a module attribute that is
      itself a module of layer functions is that module.
    - ``FILE.py`` / ``package.module`` alone: the module if it defines any of
      the exercise's layer functions, else its ``TwoLayerNet``, else its ``loss_and_grads``.

    Raises
    ------
    TargetError
        Missing file, missing name, import failure, or a module with neither API.
    """
    module_spec, name = split_spec(spec)
    obj = module = import_module(module_spec)
    if name is not None:
        if not hasattr(module, name):
            public = sorted(n for n in vars(module) if not n.startswith("_"))[:12]
            raise TargetError(f"{module_spec} has no {name!r} (it defines: {', '.join(public) or 'nothing'})")
        obj = getattr(module, name)
    if not inspect.ismodule(obj) or layer_functions(obj):
        return obj, spec
    if name is not None:
        raise TargetError(f"{spec} is a module without layer functions")
    if inspect.isclass(getattr(obj, DEFAULT_CLASS, None)):
        return getattr(obj, DEFAULT_CLASS), f"{spec}:{DEFAULT_CLASS}"
    if inspect.isfunction(getattr(obj, DEFAULT_FUNCTION, None)):
        return getattr(obj, DEFAULT_FUNCTION), f"{spec}:{DEFAULT_FUNCTION}"
    raise TargetError(
        f"{spec} defines neither layer functions (affine_forward, relu_forward, softmax_loss, ...) "
        f"nor a {DEFAULT_CLASS} or {DEFAULT_FUNCTION}: name the target as {spec}:Name"
    )


def check_in_process(spec: str, *, l2: str = "half", tol: Tolerances | None = None) -> Report:
    """Import and check ``spec`` here (:mod:`autonet.testing`: the caller's own code, in its own pytest)."""
    obj, label = find_target(spec)
    return _check(obj, inspect.ismodule(obj), label, l2, tol)


def _check(obj: Any, layers: bool, label: str, l2: str, tol: Tolerances | None) -> Report:
    """The one check of a target found here or in a sandbox: its layer functions, or a two-layer net."""
    return check_layers(obj, label, tol) if layers else check_two_layer(obj, label, l2=l2, tol=tol)


def check_target(
    spec: str,
    *,
    l2: str = "half",
    tol: Tolerances | None = None,
    limits=None,
    hidden: tuple[str, ...] = (),
    allowed: tuple[str, ...] = (),
) -> Report:
    """Check ``spec`` with its code in a separate, bounded process (:class:`~autonet.checking.sandbox.Sandbox`).

    Every comparison and the verdict are made in this process; the report's
    ``events`` say what stopped or hurt the code (``timeout``, ``memory``,
    ``output``, ``exited``). ``hidden``, ``allowed``: see :class:`~autonet.checking.sandbox.Sandbox`.

    Raises
    ------
    TargetError
        The target cannot be imported or has neither API; ``.events`` as above.
    """
    from autonet.checking.sandbox import RemoteLayers, RemoteTarget, Sandbox

    with Sandbox(spec, limits, hidden, allowed) as sandbox:
        try:
            info = sandbox.load()
            layers = info["kind"] == "layers"
            target = RemoteLayers(sandbox) if layers else RemoteTarget(sandbox)
            report = _check(target, layers, info["label"], l2, tol)
        except TargetError as e:
            e.events = list(sandbox.events)
            raise
        report.events = list(sandbox.events)
        return report
