"""autonet: fully-connected nets on CIFAR-10 with two independent gradient paths.

``manual`` derives gradients by hand; the ``autograd`` backend differentiates
the forward loss with the autograd package. Both plug into one trainer.
"""

__version__ = "0.1.0"

from autonet.backends import available_backends, get_backend  # noqa: E402
from autonet.estimator import MLPClassifier  # noqa: E402
from autonet.facade import TwoLayerNet  # noqa: E402

__all__ = ["MLPClassifier", "TwoLayerNet", "get_backend", "available_backends", "__version__"]
