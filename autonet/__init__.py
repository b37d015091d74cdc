"""autonet: fully-connected nets on CIFAR-10 with two independent gradient paths.

``manual`` derives gradients by hand; the ``autograd`` backend differentiates
the forward loss with the autograd package. Both plug into one trainer.

The names below are imported on first use (PEP 562), so ``import autonet``
(or any ``autonet.x``) loads only what it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "MLPClassifier": "autonet.estimator",
    "TwoLayerNet": "autonet.facade",
    "get_backend": "autonet.backends",
    "available_backends": "autonet.backends",
}
__all__ = ["MLPClassifier", "TwoLayerNet", "get_backend", "available_backends", "__version__"]

if TYPE_CHECKING:
    from autonet.backends import available_backends, get_backend
    from autonet.estimator import MLPClassifier
    from autonet.facade import TwoLayerNet


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'autonet' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
