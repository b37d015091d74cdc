"""The exercise's ``TwoLayerNet`` API on top of autonet's backends and trainer.

Kept apart from :mod:`autonet.net` (parameters and the forward pass), which the
trainer imports: the facade imports the trainer, never the other way round.
"""

from __future__ import annotations

import numpy as np

from autonet.backends import get_backend
from autonet.errors import ConfigError
from autonet.net import check_inputs, init_params, init_rng, predict, scores
from autonet.train import TrainConfig, Trainer


class TwoLayerNet:
    """The cs231n ``TwoLayerNet`` API, backed by autonet.

    ``input - affine - ReLU - affine - softmax``, trained with softmax loss and
    L2 regularisation (0.5 factor) on the weights. Code written for the
    original exercise runs unchanged; every method also takes ``backend=``
    (``"manual"`` or ``"autograd"``).

    Parameters
    ----------
    input_size : D
    hidden_size : H
    output_size : C
    std : weight init standard deviation
    backend : default backend for :meth:`loss` and :meth:`train`
    seed : seed for the weights (and, in :meth:`train`, for minibatches);
        None draws fresh entropy
    dtype : parameter dtype (float64 by default, as in the exercise)
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, std: float = 1e-4,
                 backend: str = "manual", seed: int | None = None, dtype=np.float64) -> None:
        get_backend(backend)  # fail early on a bad name
        self.backend = backend
        self.seed = seed
        self.params = init_params([input_size, hidden_size, output_size], std=std, rng=init_rng(seed),
                                  dtype=dtype)

    def loss(self, X: np.ndarray, y: np.ndarray | None = None, reg: float = 0.0, backend: str | None = None):
        """Scores (N, C) when ``y`` is None, else ``(loss, grads)`` from the backend."""
        check_inputs(self.params, X, y)
        X = np.asarray(X, dtype=self.params["W1"].dtype)
        if y is None:
            return scores(self.params, X)
        loss_and_grads = get_backend(backend or self.backend)
        if not (isinstance(reg, (int, float, np.integer, np.floating)) and np.isfinite(reg) and reg >= 0):
            raise ConfigError(f"reg must be a finite number >= 0, got {reg!r}")
        return loss_and_grads(self.params, X, np.asarray(y), reg=reg)

    def train(self, X, y, X_val, y_val, learning_rate: float = 1e-3, learning_rate_decay: float = 0.95,
              reg: float = 1e-5, num_iters: int = 100, batch_size: int = 200, verbose: bool = False,
              backend: str | None = None, sampling: str = "replacement") -> dict:
        """Minibatch SGD with per-epoch learning-rate decay (the exercise's ``train``).

        Returns
        -------
        dict with ``loss_history`` (per iteration), ``train_acc_history`` and
        ``val_acc_history`` (per epoch).
        """
        cfg = TrainConfig(learning_rate=learning_rate, learning_rate_decay=learning_rate_decay, reg=reg,
                          num_iters=num_iters, batch_size=batch_size, sampling=sampling,
                          seed=self.seed, print_every=100 if verbose else 0, progress=False)
        # the Trainer validates X, y, X_val, y_val and cfg once, before the first step
        trainer = Trainer(get_backend(backend or self.backend), self.params, X, y, X_val, y_val, cfg)
        trainer.fit()
        self.params = trainer.params
        h = trainer.history
        return {"loss_history": h["loss"], "train_acc_history": h["train_acc"], "val_acc_history": h["val_acc"]}

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels (N,) (unlike the seed, ``b2`` is included)."""
        check_inputs(self.params, X)
        return predict(self.params, X)
