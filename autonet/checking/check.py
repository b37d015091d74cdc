"""``check_target``: from a ``FILE.py[:Name]`` / ``package.module:Name`` string to a report."""

from __future__ import annotations

import inspect

from autonet.checking.layers import check_layers, layer_functions
from autonet.checking.report import Report
from autonet.checking.target import TargetError, import_module, resolve, split_spec
from autonet.checking.twolayer import check_two_layer

DEFAULT_CLASS = "TwoLayerNet"


def check_target(spec: str, *, l2: str = "half", time_limit: float | None = None) -> Report:
    """Check what ``spec`` names.

    - ``FILE.py:Name`` / ``package.module:Name``: a class with the exercise's
      API or a function with the backend contract (:func:`check_two_layer`);
      a module attribute that is itself a module of layer functions is checked
      as layers.
    - ``FILE.py`` / ``package.module`` alone: its layer functions
      (:func:`check_layers`) if it defines any of the exercise's names, else
      its ``TwoLayerNet``.

    Raises
    ------
    TargetError
        Missing file, missing name, import failure, or an object with neither API.
    """
    module_spec, name = split_spec(spec)
    if name is not None:
        obj, label = resolve(spec, time_limit)
        if inspect.ismodule(obj):
            return _layers_or_fail(obj, spec, time_limit)
        return check_two_layer(obj, label, l2=l2, time_limit=time_limit)
    module = import_module(module_spec, time_limit)
    if layer_functions(module):
        return check_layers(module, spec, time_limit)
    if inspect.isclass(getattr(module, DEFAULT_CLASS, None)):
        return check_two_layer(getattr(module, DEFAULT_CLASS), f"{spec}:{DEFAULT_CLASS}", l2=l2, time_limit=time_limit)
    raise TargetError(
        f"{spec} defines neither layer functions (affine_forward, relu_forward, softmax_loss, ...) "
        f"nor a {DEFAULT_CLASS}: name the target as {spec}:Name"
    )


def _layers_or_fail(module, spec: str, time_limit: float | None) -> Report:
    if not layer_functions(module):
        raise TargetError(f"{spec} is a module without layer functions")
    return check_layers(module, spec, time_limit)
