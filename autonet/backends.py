"""Registry of gradient backends: name -> ``loss_and_grads``.

Contract every backend honours::

    loss, grads = loss_and_grads(params, X, y, reg=0.0, *, activation="relu", dropout=0.0,
                                 seed=None, label_smoothing=0.0, bn_stats=None, mix=None)

- ``params``: dict ``W1, b1, ..., WL, bL`` (batch-norm nets: ``gamma_l, beta_l`` instead of
  the hidden ``b_l``); ``X``: (N, D) float; ``y``: (N,) int in [0, C).
- keyword options (see docs/deep.md): dropout masks are drawn from ``seed``, so two
  backends given the same seed use the same masks; ``bn_stats``, when a dict is given,
  receives the batch statistics.
- ``loss``: float, mean (label-smoothed) softmax cross-entropy + ``0.5 * reg * sum_l ||W_l||^2``.
- ``grads``: dict with the same keys, shapes and dtypes as ``params``.
- ReLU's derivative at exactly 0 is 0.
- ``factored`` (optional: only for a backend whose signature names it, see
  :func:`takes_factored`): the caller also accepts each ``W`` gradient as a
  :class:`autonet.manual.layers.WeightGradient` (``h^T delta + reg * W`` as its factors);
  the trainer asks for it, so that plain SGD takes its step inside that product.

Backends are imported lazily, so ``manual`` works without autograd installed.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

from autonet.errors import ConfigError

LossAndGrads = Callable[..., tuple]

_REGISTRY: dict[str, str | LossAndGrads] = {
    "manual": "autonet.manual.network:loss_and_grads",
    "autograd": "autonet.autograd_loss:loss_and_grads",
}


def available_backends() -> list[str]:
    """Names accepted by :func:`get_backend`."""
    return sorted(_REGISTRY)


def register_backend(name: str, target: str | LossAndGrads) -> None:
    """Add a backend: a ``"module:function"`` string or the function itself."""
    _REGISTRY[name] = target


def get_backend(name: str) -> LossAndGrads:
    """Return the ``loss_and_grads`` function registered as ``name``.

    Raises
    ------
    ConfigError (a ValueError)
        If ``name`` is not registered; the message lists the valid names.
    """
    try:
        target = _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown backend {name!r}; choose one of: {', '.join(available_backends())}") from None
    if callable(target):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def takes_factored(loss_and_grads: LossAndGrads) -> bool:
    """True when ``loss_and_grads`` has a parameter named ``factored`` (so a plain backend gets no such option)."""
    try:
        return "factored" in inspect.signature(loss_and_grads).parameters
    except (TypeError, ValueError):  # a callable without an inspectable signature
        return False
