"""The one trainer: minibatch gradient descent over any backend.

The trainer never sees how gradients are made. It needs a function with the
backend contract (:mod:`autonet.backends`)::

    loss, grads = loss_and_grads(params, X_batch, y_batch, reg=reg)

and an update rule from :mod:`autonet.optim`. Given the same seed, two
backends whose gradients agree produce the same loss history.

One epoch is ``max(N_train // batch_size, 1)`` iterations (an integer, unlike
the seed's ``num_train / batch_size`` under Python 3). At the end of every
epoch the trainer records train accuracy (on a fixed, evenly spaced subset of
``train_acc_samples`` training rows) and validation accuracy, then multiplies
the learning rate by ``learning_rate_decay``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, fields
from typing import Callable, Iterable

import numpy as np

from autonet.errors import ConfigError, DivergenceError
from autonet.net import accuracy
from autonet.optim import UPDATE_RULES, get_update_rule

SAMPLING = ("replacement", "epoch")


@dataclass
class TrainConfig:
    """Hyperparameters of one training run; defaults are the seed's best sweep entry."""

    learning_rate: float = 1.6e-3  # initial step size
    learning_rate_decay: float = 0.90  # lr *= this after every epoch (1.0 turns decay off)
    reg: float = 1e-2  # L2 strength of 0.5 * reg * sum ||W||^2
    num_iters: int = 1600  # minibatch steps in all
    batch_size: int = 400  # rows per minibatch
    sampling: str = "replacement"  # "replacement" (seed: i.i.d. rows) or "epoch" (shuffle, no repeats)
    update: str = "sgd"  # update rule, see autonet.optim
    seed: int | None = 0  # minibatch sampling seed; None draws fresh entropy
    train_acc_samples: int = 1000  # training rows scored for the per-epoch train accuracy
    print_every: int = 0  # print the loss every this many iterations (0: never)
    progress: bool = True  # tqdm bar (shown only when stderr is a terminal)

    def validate(self) -> "TrainConfig":
        """Raise :class:`ConfigError` naming the first invalid value."""
        positive = {"learning_rate": self.learning_rate, "num_iters": self.num_iters,
                    "batch_size": self.batch_size}
        for name, value in positive.items():
            if not (isinstance(value, (int, float, np.number)) and np.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be > 0, got {value!r}")
        for name in ("num_iters", "batch_size"):
            if int(getattr(self, name)) != getattr(self, name):
                raise ConfigError(f"{name} must be an integer, got {getattr(self, name)!r}")
        if not (0 < self.learning_rate_decay <= 1):
            raise ConfigError(f"learning_rate_decay must be in (0, 1], got {self.learning_rate_decay!r}")
        if not (np.isfinite(self.reg) and self.reg >= 0):
            raise ConfigError(f"reg must be >= 0, got {self.reg!r}")
        if self.sampling not in SAMPLING:
            raise ConfigError(f"sampling must be one of {', '.join(SAMPLING)}, got {self.sampling!r}")
        if self.update not in UPDATE_RULES:
            get_update_rule(self.update)
        return self

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Build from a dict, ignoring keys that are not fields (e.g. CLI-only flags)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)


Callback = Callable[[str, "Trainer"], None]


class Trainer:
    """Minibatch training of ``params`` with a backend's ``loss_and_grads``.

    Parameters
    ----------
    loss_and_grads : backend function (see :mod:`autonet.backends`)
    params : dict ``W1, b1, ...``; copied, the caller's arrays are not modified
    X_train, y_train : (N, D) data and (N,) labels
    X_val, y_val : validation data and labels (may be None: no val accuracy)
    config : :class:`TrainConfig`
    callbacks : callables ``cb(event, trainer)`` with ``event`` in
        ``"iteration"``, ``"epoch"``, ``"end"``

    Attributes
    ----------
    params, iteration, learning_rate, history (``loss`` per iteration;
    ``train_acc``, ``val_acc``, ``epoch_iteration``, ``learning_rate`` per epoch)
    """

    def __init__(self, loss_and_grads, params: dict, X_train, y_train, X_val=None, y_val=None,
                 config: TrainConfig | None = None, callbacks: Iterable[Callback] = ()) -> None:
        self.config = (config or TrainConfig()).validate()
        self.loss_and_grads = loss_and_grads
        self.update_rule = get_update_rule(self.config.update)
        self.params = {k: np.array(v, copy=True) for k, v in params.items()}
        self.dtype = self.params["W1"].dtype
        self.X_train, self.y_train = X_train, np.asarray(y_train)
        self.X_val, self.y_val = X_val, y_val
        self.callbacks = list(callbacks)
        n = len(self.y_train)
        if n == 0:
            raise ConfigError("the training set is empty")
        self.iterations_per_epoch = max(n // self.config.batch_size, 1)
        k = min(self.config.train_acc_samples, n)
        self._acc_rows = np.linspace(0, n - 1, k).astype(np.int64)
        self.rng = np.random.default_rng(self.config.seed)
        self.iteration = 0
        self.learning_rate = float(self.config.learning_rate)
        self.opt_state: dict[str, dict] = {name: {} for name in self.params}
        self.history: dict[str, list] = {"loss": [], "train_acc": [], "val_acc": [],
                                         "epoch_iteration": [], "learning_rate": []}
        self._perm = np.zeros(0, dtype=np.int64)
        self._pos = 0
        self.train_seconds = 0.0

    # ----- minibatches -----

    def _next_batch(self) -> np.ndarray:
        n, b = len(self.y_train), self.config.batch_size
        if self.config.sampling == "replacement":
            return self.rng.integers(0, n, size=b)
        if self._pos + b > len(self._perm):
            self._perm = self.rng.permutation(n)
            self._pos = 0
        idx = self._perm[self._pos : self._pos + b]
        self._pos += b
        return idx

    # ----- one step -----

    def step(self) -> float:
        """One minibatch update; returns the minibatch loss (before the update)."""
        idx = self._next_batch()
        X_batch = np.asarray(self.X_train[idx], dtype=self.dtype)
        loss, grads = self.loss_and_grads(self.params, X_batch, self.y_train[idx], reg=self.config.reg)
        self._check_finite(loss, grads)
        for name, w in self.params.items():
            cfg = self.opt_state[name]
            cfg["learning_rate"] = self.learning_rate
            self.params[name], self.opt_state[name] = self.update_rule(w, grads[name], cfg)
        self.history["loss"].append(float(loss))
        self.iteration += 1
        if self.iteration % self.iterations_per_epoch == 0:
            self._end_epoch()
        return float(loss)

    def _check_finite(self, loss: float, grads: dict) -> None:
        if not np.isfinite(loss):
            raise DivergenceError(
                f"non-finite loss ({loss}) at iteration {self.iteration}; "
                f"try a smaller learning rate (now {self.learning_rate:g})",
                iteration=self.iteration, name="loss")
        for name, g in grads.items():
            if not np.isfinite(g.sum()):
                raise DivergenceError(
                    f"non-finite gradient of {name} at iteration {self.iteration}; "
                    f"try a smaller learning rate (now {self.learning_rate:g})",
                    iteration=self.iteration, name=name)

    def _end_epoch(self) -> None:
        h = self.history
        h["epoch_iteration"].append(self.iteration)
        h["learning_rate"].append(self.learning_rate)
        h["train_acc"].append(accuracy(self.params, self.X_train[self._acc_rows], self.y_train[self._acc_rows]))
        if self.X_val is not None:
            h["val_acc"].append(accuracy(self.params, self.X_val, self.y_val))
        self.learning_rate *= self.config.learning_rate_decay
        self._emit("epoch")

    def _emit(self, event: str) -> None:
        for cb in self.callbacks:
            cb(event, self)

    # ----- the loop -----

    def fit(self) -> dict:
        """Run until ``config.num_iters`` iterations are done; returns :attr:`history`."""
        cfg = self.config
        bar = _progress_bar(cfg.num_iters, self.iteration, enabled=cfg.progress)
        start = time.perf_counter()
        try:
            while self.iteration < cfg.num_iters:
                loss = self.step()
                self._emit("iteration")
                if bar is not None:
                    bar.update(1)
                    if self.iteration % 10 == 0:
                        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.learning_rate:.3g}", refresh=False)
                if cfg.print_every and (self.iteration - 1) % cfg.print_every == 0:
                    print(f"iteration {self.iteration - 1} / {cfg.num_iters}: loss {loss:f}")
        finally:
            self.train_seconds += time.perf_counter() - start
            if bar is not None:
                bar.close()
        self._emit("end")
        return self.history

    # ----- state (for checkpoints) -----

    def state_dict(self) -> dict:
        """Everything needed to continue this run exactly where it stands."""
        return {
            "iteration": self.iteration,
            "learning_rate": self.learning_rate,
            "rng": self.rng.bit_generator.state,
            "perm": self._perm.copy(),
            "pos": self._pos,
            "history": {k: list(v) for k, v in self.history.items()},
            "params": {k: v.copy() for k, v in self.params.items()},
            "opt_state": {k: {n: (np.copy(x) if isinstance(x, np.ndarray) else x) for n, x in s.items()}
                          for k, s in self.opt_state.items()},
            "train_seconds": self.train_seconds,
            "config": self.config.to_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` (the inverse operation)."""
        self.iteration = int(state["iteration"])
        self.learning_rate = float(state["learning_rate"])
        self.rng.bit_generator.state = state["rng"]
        self._perm = np.asarray(state["perm"], dtype=np.int64)
        self._pos = int(state["pos"])
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.params = {k: np.array(v, dtype=self.dtype, copy=True) for k, v in state["params"].items()}
        self.opt_state = {k: dict(s) for k, s in state["opt_state"].items()}
        self.train_seconds = float(state.get("train_seconds", 0.0))


def _progress_bar(total: int, initial: int, enabled: bool):
    """A tqdm bar on stderr, or None when disabled or stderr is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="train", unit="it", dynamic_ncols=True)
