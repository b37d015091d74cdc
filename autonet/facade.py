"""The exercise's ``TwoLayerNet`` API on top of autonet's backends and trainer.

Kept apart from :mod:`autonet.net` (parameters and the forward pass), which the
trainer imports: the facade imports the trainer, never the other way round.
"""

from __future__ import annotations

import numpy as np

from autonet.backends import get_backend
from autonet.config import Choice, Config, Int, Sizes, check_value
from autonet.net import check_inputs, init_params, init_rng, predict, scores
from autonet.train import BatchSampler, Trainer

#: L2 term for ``reg``: "half" is ``0.5 * reg * sum ||W||^2`` (the exercise's first
#: editions and its solution write-up), "full" is ``reg * sum ||W||^2`` (later editions).
#: The value is the factor on ``reg`` that turns the convention into the
#: backends' "half" one.
REG_CONVENTIONS = {"half": 1.0, "full": 2.0}


def global_numpy_sampler(sampling: str = "replacement") -> BatchSampler:
    """Minibatch indices drawn from NumPy's global random state.

    ``"replacement"`` is the exercise's line, ``np.random.choice(num_train,
    batch_size)``; ``"epoch"`` walks through ``np.random.permutation(num_train)``
    and draws a new one when fewer than ``batch_size`` rows are left.
    """
    if sampling == "replacement":
        return lambda n, batch_size: np.random.choice(n, batch_size)
    order = np.zeros(0, dtype=np.int64)

    def next_epoch_batch(n: int, batch_size: int) -> np.ndarray:
        nonlocal order
        if len(order) < batch_size:
            order = np.random.permutation(n)
        batch, order = order[:batch_size], order[batch_size:]
        return batch

    return next_epoch_batch


class TwoLayerNet:
    """The cs231n ``TwoLayerNet`` API, backed by autonet.

    ``input - affine - ReLU - affine - softmax``, trained with softmax loss and
    L2 regularisation on the weights. The exercise's notebook cells run on it
    as written: with ``seed=None`` (the default) the weights are drawn from
    NumPy's global random state exactly as the exercise draws them
    (``W1 = std * np.random.randn(D, H)``, ``b1 = 0``, ``W2 = std *
    np.random.randn(H, C)``, ``b2 = 0``) and :meth:`train` samples minibatches
    from it too (``np.random.choice(num_train, batch_size)``), so
    ``np.random.seed(...)`` reproduces a run. :meth:`train` calls
    :meth:`loss`, so a subclass that overrides ``loss`` is what trains.
    Every method also takes ``backend=`` (``"manual"`` or ``"autograd"``).

    Parameters
    ----------
    input_size : D
    hidden_size : H
    output_size : C
    std : weight init standard deviation
    backend : default backend for :meth:`loss` and :meth:`train`
    seed : None: NumPy's global random state, as the exercise. An int: a
        private generator for the weights and, in :meth:`train`, for the
        minibatches, leaving the global state alone
    dtype : parameter dtype (float64 by default, as in the exercise)
    reg_convention : ``"half"`` (default, the exercise's first editions and its
        solution write-up): the loss is ``data + 0.5 * reg * (||W1||^2 + ||W2||^2)``;
        ``"full"`` (the later editions, which drop the 0.5): ``data + reg *
        (||W1||^2 + ||W2||^2)``, with gradient ``2 * reg * W``. Pick the one
        your copy of the exercise uses and its ``correct_loss`` matches.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        std: float = 1e-4,
        backend: str = "manual",
        seed: int | None = None,
        dtype=np.float64,
        reg_convention: str = "half",
    ) -> None:
        get_backend(backend)  # fail early on a bad name
        # the schema's own rules (autonet.config), applied at this boundary
        layer = Int(1, Sizes.high)  # the bound of every layer size in the schema
        for name, size in (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size)):
            if isinstance(size, (int, np.integer)) and not isinstance(size, (bool, np.bool_)) and size > 0:
                layer.check(name, size)  # the upper bound; init_params names the other faults
        if isinstance(std, (int, float, np.integer, np.floating)):
            check_value("std", std)
        check_value("seed", seed)
        Choice(tuple(REG_CONVENTIONS)).check("reg_convention", reg_convention)
        self.backend = backend
        self.std = std
        self.seed = seed
        self.reg_convention = reg_convention
        rng = np.random if seed is None else init_rng(seed)
        self.params = init_params([input_size, hidden_size, output_size], std=std, rng=rng, dtype=dtype)

    def __repr__(self) -> str:
        (D, H), C = self.params["W1"].shape, self.params["W2"].shape[1]
        return (
            f"{type(self).__name__}(input_size={D}, hidden_size={H}, output_size={C}, std={self.std!r}, "
            f"backend={self.backend!r}, seed={self.seed!r}, dtype=np.{self.params['W1'].dtype.name}, "
            f"reg_convention={self.reg_convention!r})"
        )

    def loss(self, X: np.ndarray, y: np.ndarray | None = None, reg: float = 0.0, backend: str | None = None):
        """Scores (N, C) when ``y`` is None, else ``(loss, grads)`` from the backend.

        ``reg`` is read in this net's ``reg_convention``.
        """
        check_inputs(self.params, X, y)
        X = np.asarray(X, dtype=self.params["W1"].dtype)
        if y is None:
            return scores(self.params, X)
        loss_and_grads = get_backend(backend or self.backend)
        check_value("reg", reg)
        return loss_and_grads(self.params, X, np.asarray(y), reg=REG_CONVENTIONS[self.reg_convention] * reg)

    def train(
        self,
        X,
        y,
        X_val,
        y_val,
        learning_rate: float = 1e-3,
        learning_rate_decay: float = 0.95,
        reg: float = 1e-5,
        num_iters: int = 100,
        batch_size: int = 200,
        verbose: bool = False,
        backend: str | None = None,
        sampling: str = "replacement",
        early_stopping: int = 0,
    ) -> dict:
        """Minibatch SGD with per-epoch learning-rate decay (the exercise's ``train``).

        Every step calls ``self.loss(X_batch, y_batch, reg=reg)`` (with
        ``backend=`` only when one is given here), so an overridden
        :meth:`loss` is what trains; ``self.params`` is the trainer's live
        parameter dict throughout. ``early_stopping = P`` (epochs, 0: off)
        stops after ``P`` epochs without a better validation accuracy and keeps
        the best epoch's weights, as ``autonet train --early-stopping P`` does.

        Returns
        -------
        dict with ``loss_history`` (per iteration), ``train_acc_history`` and
        ``val_acc_history`` (per epoch), and with early stopping ``best_epoch``
        (1-based; 0: the initial weights were never beaten).
        """
        cfg = Config(
            learning_rate=learning_rate,
            learning_rate_decay=learning_rate_decay,
            reg=reg,
            num_iters=num_iters,
            batch_size=batch_size,
            sampling=sampling,
            seed=self.seed,
            print_every=100 if verbose else 0,
            progress=False,
            early_stopping=early_stopping,
        )
        loss_options = {} if backend is None else {"backend": backend}

        def loss_and_grads(params: dict, X_batch: np.ndarray, y_batch: np.ndarray, reg: float):
            self.params = params
            return self.loss(X_batch, y_batch, reg=reg, **loss_options)

        sampler = global_numpy_sampler(sampling) if self.seed is None else None
        # the Trainer validates X, y, X_val, y_val and cfg once, before the first step
        trainer = Trainer(loss_and_grads, self.params, X, y, X_val, y_val, cfg, sampler=sampler)
        trainer.fit()
        self.params = trainer.params
        h = trainer.history
        result = {"loss_history": h["loss"], "train_acc_history": h["train_acc"], "val_acc_history": h["val_acc"]}
        return {**result, "best_epoch": trainer.best["epoch"]} if trainer.best else result

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels (N,) (``b2`` included, which the exercise's solution write-up leaves out)."""
        check_inputs(self.params, X)
        return predict(self.params, X)
