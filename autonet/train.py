"""The one trainer: minibatch gradient descent over any backend.

The trainer never sees how gradients are made. Every step, top to bottom
(:meth:`Trainer.step`, :meth:`Trainer.train_on_batch`): draw a batch, then::

    loss, grads = loss_and_grads(params, X_batch, y_batch, reg=reg, **options)
    for name in grads: rule(params[name], grads[name], opt_state[name])

with ``loss_and_grads`` any function of the backend contract
(:mod:`autonet.backends`) and ``rule`` the update rule of
:mod:`autonet.optim` named by ``config.update``; the learning rate comes from
:mod:`autonet.schedules`. Given the same seed, two backends whose gradients
agree produce the same loss history.

One epoch is ``max(N_train // batch_size, 1)`` iterations (an integer, unlike
the exercise's ``num_train / batch_size`` under Python 3). At the end of every
epoch the trainer records train accuracy (on a fixed, evenly spaced subset of
``train_acc_samples`` training rows) and validation accuracy.

The learning rate of every step is a pure function of the iteration
(:func:`autonet.schedules.learning_rate_at`; the default ``"decay"`` schedule
is the exercise's: times ``learning_rate_decay`` after every epoch), so resuming
from :meth:`Trainer.state_dict` continues the same schedule exactly.

Deep-net options go to the backend only when they are set, so any function
with the plain contract still trains plain nets: ``activation``, ``dropout``
(with a fresh mask ``seed`` drawn from the trainer's generator every step),
``label_smoothing`` and, for nets with batch norm, ``bn_stats`` (the batch
statistics the trainer folds into its running averages :attr:`Trainer.bn_state`,
used for evaluation and saved in the state). Augmentation (``augment``) also
draws from the trainer's generator, so a resumed run sees the same batches.

Options for accuracy (docs/deep.md, "Accuracy options"), each off by default:

- ``mixup`` / ``cutmix`` (Beta parameters alpha): every batch is blended with
  a permutation of itself (:func:`autonet.augment.mix_batch`, drawing from the
  trainer's generator) and trained against the mixed targets, the backends'
  ``mix`` option;
- ``ema_decay``: an exponential moving average of the parameters (and of the
  batch-norm running statistics), updated in place after every step, is the
  net that is *evaluated*: the per-epoch accuracies, and what
  :meth:`Trainer.evaluation_params` hands to the saved model. It is part of
  :meth:`Trainer.state_dict`, so a resumed run continues it exactly;
- ``tta``: ``"flip"`` scores each evaluated image as the mean of its scores
  and its mirror's (:func:`autonet.net.scores`); the saved model records it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from autonet import optim
from autonet.augment import augment_batch, mix_batch
from autonet.backends import takes_factored
from autonet.config import SAMPLING, Config
from autonet.divergence import check_finite
from autonet.errors import ConfigError, DataError
from autonet.images import IMAGE_SHAPE, image_options, require_image_rows
from autonet.net import accuracy, check_inputs, has_batchnorm, init_bn_state
from autonet.schedules import learning_rate_at

__all__ = ["SAMPLING", "Callback", "BatchSampler", "Trainer"]


Callback = Callable[[str, "Trainer"], None]

BatchSampler = Callable[[int, int], np.ndarray]
"""``sampler(n, batch_size)`` -> (batch_size,) row indices into the ``n`` training rows."""


def backend_options(config: Config, rng: np.random.Generator, batchnorm: bool, factored: bool) -> dict[str, Any]:
    """The keyword options of one step's backend call, only those in use (so any plain backend trains
    plain nets); the dropout mask ``seed`` is drawn from ``rng``. ``factored``: ask for factored weight
    gradients (:class:`autonet.manual.layers.WeightGradient`), for a backend that takes the option."""
    options: dict[str, Any] = {"factored": True} if factored else {}
    if config.activation != "relu":
        options["activation"] = config.activation
    if config.dropout:
        options["dropout"] = config.dropout
        options["seed"] = int(rng.integers(2**63))
    if config.label_smoothing:
        options["label_smoothing"] = config.label_smoothing
    if batchnorm:
        options["bn_stats"] = {}
    return options


class Trainer:
    """Minibatch training of ``params`` with a backend's ``loss_and_grads``.

    Parameters
    ----------
    loss_and_grads : backend function (see :mod:`autonet.backends`)
    params : dict ``W1, b1, ...``; copied, the caller's arrays are not modified
    X_train, y_train : (N, D) data and (N,) labels
    X_val, y_val : validation data and labels (may be None: no val accuracy)
        -- all four are validated once, here, with :func:`autonet.net.check_inputs`
        (DataError naming the argument), never inside the training loop
    config : a :class:`autonet.config.Config` (valid by construction; trusted here)
    callbacks : callables ``cb(event, trainer)`` with ``event`` in
        ``"iteration"``, ``"epoch"``, ``"end"``
    sampler : where minibatches come from, a :data:`BatchSampler`. None (the
        default): the trainer's own generator seeded by ``config.seed``,
        following ``config.sampling``, whose state :meth:`state_dict` saves so a
        resumed run sees the same batches. A given sampler keeps its own state
        (not saved); :class:`autonet.facade.TwoLayerNet` passes one drawing from
        NumPy's global random state, as the exercise does.
    image_shape : (H, W, C) of the image rows (augmentation, cutmix and flips need them)
    progress : report progress while fitting (:mod:`autonet.progress`: a bar in
        a terminal or notebook, one line per epoch when stderr is piped);
        None: ``config.progress``

    With ``config.early_stopping = P`` (epochs), :meth:`fit` stops once ``P``
    epochs have passed without a better validation accuracy, and ends with
    the best epoch's net restored (Keras' ``EarlyStopping(restore_best_weights=True)``);
    :attr:`best` holds that epoch, its accuracy and a copy of its net.

    Attributes
    ----------
    params, iteration, learning_rate (of the next step), update_rule (the
    function of :mod:`autonet.optim`), opt_state (its per-parameter config
    dicts), bn_state (running batch-norm statistics, empty without batch norm),
    history (``loss`` per iteration; ``train_acc``, ``val_acc``,
    ``epoch_iteration``, ``learning_rate`` (of the epoch's last step) per epoch)
    """

    def __init__(
        self,
        loss_and_grads,
        params: dict,
        X_train,
        y_train,
        X_val=None,
        y_val=None,
        config: Config | None = None,
        callbacks: Iterable[Callback] = (),
        sampler: BatchSampler | None = None,
        image_shape: tuple[int, int, int] = IMAGE_SHAPE,
        progress: bool | None = None,
    ) -> None:
        if config is not None and not isinstance(config, Config):
            raise ConfigError(f"config must be an autonet.config.Config, got {type(config).__name__}")
        self.config = config if config is not None else Config()
        self.progress = self.config.progress if progress is None else bool(progress)
        self.loss_and_grads = loss_and_grads
        self._factored = takes_factored(loss_and_grads)
        self.update_rule = optim.get_update_rule(self.config.update)
        self.params = {k: np.array(v, copy=True) for k, v in params.items()}
        self.dtype = self.params["W1"].dtype
        check_inputs(self.params, X_train, y_train, names=("X_train", "y_train"))
        if (X_val is None) != (y_val is None):
            raise DataError("X_val and y_val must be given together (or both be None)")
        if X_val is not None:
            check_inputs(self.params, X_val, y_val, names=("X_val", "y_val"))
            if len(X_val) == 0:  # its accuracy would be NaN
                raise DataError("X_val is empty (0 rows): give at least one validation row, or X_val=None")
            X_val, y_val = np.asarray(X_val), np.asarray(y_val)
        self.X_train, self.y_train = np.asarray(X_train), np.asarray(y_train)
        self.X_val, self.y_val = X_val, y_val
        self.callbacks = list(callbacks)
        self.sampler = sampler
        n = len(self.y_train)
        if n == 0:
            raise ConfigError("the training set is empty")
        self.iterations_per_epoch = max(n // self.config.batch_size, 1)
        self._acc_rows = np.linspace(0, n - 1, min(self.config.train_acc_samples, n)).astype(np.int64)
        self.rng = np.random.default_rng(self.config.seed)
        self.iteration = 0
        self.opt_state: dict[str, dict] = {name: self._optimizer_config(name) for name in self.params}
        self.bn_state = init_bn_state(self.params) if has_batchnorm(self.params) else {}
        self.image_shape = tuple(image_shape)
        for option in image_options(self.config):
            require_image_rows(option, self.X_train.shape[1], self.image_shape)
        # the evaluated net: an exponential moving average of params and bn_state (empty: the net itself)
        ema = bool(self.config.ema_decay)
        self.ema_params = {k: v.copy() for k, v in self.params.items()} if ema else {}
        self.ema_bn_state = {k: v.copy() for k, v in self.bn_state.items()} if ema else {}
        # early stopping: the best epoch so far (1-based; 0 the initial net) and a copy of its evaluated net
        self.best: dict[str, Any] = {}
        if self.config.early_stopping:
            if self.X_val is None:
                raise ConfigError("early_stopping needs validation data (X_val and y_val, or --num-val > 0)")
            self.best = self._snapshot(epoch=0, val_acc=-1.0)
        self.history: dict[str, list] = {
            k: [] for k in ("loss", "train_acc", "val_acc", "epoch_iteration", "learning_rate")
        }
        self._perm = np.zeros(0, dtype=np.int64)
        self._pos = 0
        self.train_seconds = 0.0

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step (a function of :attr:`iteration` only)."""
        return self._learning_rate_at(self.iteration)

    def _learning_rate_at(self, iteration: int) -> float:
        c, epoch = self.config, self.iterations_per_epoch
        warmup = round(c.warmup * epoch)
        return learning_rate_at(
            iteration, c.learning_rate, epoch, c.num_iters, c.schedule, c.learning_rate_decay, c.step_epochs, warmup
        )

    def _optimizer_config(self, name: str) -> dict:
        """Initial per-parameter config: the rule's hyperparameters (decay only on the ``W``)."""
        c = self.config
        if c.update in ("momentum", "nesterov"):
            return {"momentum": c.momentum}
        if c.update == "adamw":
            return {"weight_decay": c.weight_decay if name.startswith("W") else 0.0}
        return {}

    def _update_bn_state(self, batch_stats: dict) -> None:
        m = self.config.bn_momentum
        for key, running in self.bn_state.items():
            running *= m
            running += (1 - m) * batch_stats[key]

    def evaluation_params(self) -> tuple[dict, dict]:
        """``(params, bn_state)`` of the net that is evaluated and saved: the moving average with
        ``ema_decay``, else the trained parameters themselves (the arrays, not copies)."""
        return (self.ema_params, self.ema_bn_state) if self.ema_params else (self.params, self.bn_state)

    def _accuracy(self, X, y) -> float:
        params, bn_state = self.evaluation_params()
        options = {"activation": self.config.activation, "tta": self.config.tta, "image_shape": self.image_shape}
        return accuracy(params, X, y, state=bn_state or None, **options)

    def ema_decay_at(self, updates: int) -> float:
        """The moving average's decay after ``updates`` steps: ``min(ema_decay, (1 + t) / (10 + t))``.

        The warm-up term (TensorFlow's ``ExponentialMovingAverage(num_updates=t)``)
        keeps the average from being dominated by the initial weights early on.
        A pure function of the step count, so a resumed run continues it exactly.
        """
        return min(self.config.ema_decay, (1.0 + updates) / (10.0 + updates))

    def _update_ema(self) -> None:
        """``avg <- d * avg + (1 - d) * w`` for every parameter (and running statistic), in place.

        Computed as ``avg += (1 - d) * (w - avg)`` over the blocks of the update
        rules (:func:`autonet.optim.blocks`): no full-size temporary, and a block
        stays in cache for its three passes.
        """
        d = self.ema_decay_at(self.iteration + 1)
        pairs = [(self.ema_params[k], self.params[k]) for k in self.ema_params]
        pairs += [(self.ema_bn_state[k], self.bn_state[k]) for k in self.ema_bn_state]
        for avg, w in pairs:
            rate = avg.dtype.type(1.0 - d)
            for a, b in optim.blocks(avg, w):
                step = b - a  # one block-sized temporary, scaled and added in place
                step *= rate
                a += step

    def _snapshot(self, epoch: int, val_acc: float) -> dict[str, Any]:
        params, bn_state = copy.deepcopy(self.evaluation_params())
        return {"epoch": epoch, "val_acc": val_acc, "params": params, "bn_state": bn_state}

    @property
    def stopped_early(self) -> bool:
        """True once ``config.early_stopping`` epochs have passed without a better validation accuracy."""
        epochs = len(self.history["val_acc"])
        return bool(self.best) and epochs - self.best["epoch"] >= self.config.early_stopping

    def restore_best(self) -> None:
        """Make the evaluated net (:meth:`evaluation_params`) the best epoch's, in place (early stopping)."""
        params, bn_state = self.evaluation_params()
        for saved, live in ((self.best["params"], params), (self.best["bn_state"], bn_state)):
            for k, v in saved.items():
                live[k][...] = v

    # ----- minibatches -----

    def _next_batch(self) -> np.ndarray:
        n, b = len(self.y_train), self.config.batch_size
        if self.sampler is not None:
            return self.sampler(n, b)
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
        """One minibatch update: draw a batch (augmented, mixed), :meth:`train_on_batch`; returns its loss."""
        idx = self._next_batch()
        X_batch = np.asarray(self.X_train[idx], dtype=self.dtype)
        y_batch = self.y_train[idx]
        c = self.config
        if c.augment:
            crop = c.crop_padding if "crop" in c.augment else 0
            X_batch = augment_batch(X_batch, self.rng, "flip" in c.augment, crop, self.image_shape)
        mix = None
        if c.mixup or c.cutmix:
            X_batch, mix = mix_batch(X_batch, y_batch, self.rng, c.mixup, c.cutmix, self.image_shape)
        loss = self.train_on_batch(X_batch, y_batch, mix=mix)
        self.history["loss"].append(loss)
        self.iteration += 1
        if self.iteration % self.iterations_per_epoch == 0:
            self._end_epoch()
        return loss

    def train_on_batch(self, X_batch: np.ndarray, y_batch: np.ndarray, mix=None) -> float:
        """Forward, backward and the parameter update on one given batch; returns its loss (before the update).

        No history, no iteration count, no epoch end (Keras' ``train_on_batch``).
        ``mix``: the mixed targets ``(y2, lam)`` of a mixup/cutmix batch (the backends' option).
        Nothing changes when the loss or a gradient is not finite (DivergenceError).
        """
        options = backend_options(self.config, self.rng, bool(self.bn_state), self._factored)
        if mix is not None:
            options["mix"] = mix
        lr = self.learning_rate
        loss, grads = self.loss_and_grads(self.params, X_batch, y_batch, reg=self.config.reg, **options)
        check_finite(loss, grads, self.params, self.iteration, lr, self.config.reg, X_batch)
        if self.bn_state:
            self._update_bn_state(options["bn_stats"])
        for name, grad in grads.items():
            self.opt_state[name]["learning_rate"] = lr
            self.update_rule(self.params[name], grad, self.opt_state[name])
        if self.ema_params:
            self._update_ema()
        return float(loss)

    def _end_epoch(self) -> None:
        h = self.history
        h["epoch_iteration"].append(self.iteration)
        h["learning_rate"].append(self._learning_rate_at(self.iteration - 1))
        h["train_acc"].append(self._accuracy(self.X_train[self._acc_rows], self.y_train[self._acc_rows]))
        if self.X_val is not None:
            h["val_acc"].append(self._accuracy(self.X_val, self.y_val))
        if self.best and h["val_acc"][-1] > self.best["val_acc"]:
            self.best = self._snapshot(len(h["val_acc"]), h["val_acc"][-1])
        self._emit("epoch")

    def _emit(self, event: str) -> None:
        for cb in self.callbacks:
            cb(event, self)

    # ----- the loop -----

    def fit(self) -> dict:
        """Run until ``config.num_iters`` iterations are done; returns :attr:`history`."""
        from autonet.progress import progress_reporter

        cfg = self.config
        report = progress_reporter(self) if self.progress else None
        start = time.perf_counter()
        try:
            while self.iteration < cfg.num_iters and not self.stopped_early:
                loss = self.step()
                self._emit("iteration")
                if report is not None:
                    report.iteration(self, loss)
                if cfg.print_every and (self.iteration - 1) % cfg.print_every == 0:
                    print(f"iteration {self.iteration - 1} / {cfg.num_iters}: loss {loss:f}")
        finally:
            self.train_seconds += time.perf_counter() - start
            if report is not None:
                report.close()
        if self.best:
            self.restore_best()
        self._emit("end")
        return self.history

    def epoch_losses(self) -> list[float]:
        """The mean minibatch loss of every finished epoch (from ``history["loss"]``)."""
        return epoch_mean_losses(self.history)

    # ----- state (for checkpoints) -----

    def state_dict(self) -> dict:
        """Everything needed to continue this run exactly where it stands."""
        live = {
            "iteration": self.iteration,
            "learning_rate": self.learning_rate,
            "rng": self.rng.bit_generator.state,
            "perm": self._perm,
            "pos": self._pos,
            "history": self.history,
            "params": self.params,
            "opt_state": self.opt_state,
            "bn_state": self.bn_state,
            "ema": {"params": self.ema_params, "bn_state": self.ema_bn_state},
            "best": self.best,
            "train_seconds": self.train_seconds,
        }
        return {**copy.deepcopy(live), "config": self.config.to_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` (the inverse operation)."""
        self.iteration = int(state["iteration"])  # the learning rate follows from it
        self.rng.bit_generator.state = state["rng"]
        self._perm = np.asarray(state["perm"], dtype=np.int64)
        self._pos = int(state["pos"])
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.params = self._arrays(state["params"])
        self.opt_state = {k: dict(s) for k, s in state["opt_state"].items()}
        self.bn_state = self._arrays(state.get("bn_state", {}))
        ema = state.get("ema", {})
        self.ema_params, self.ema_bn_state = self._arrays(ema.get("params", {})), self._arrays(ema.get("bn_state", {}))
        best = state.get("best", {})
        if best:
            self.best = {"epoch": int(best["epoch"]), "val_acc": float(best["val_acc"])}
            self.best.update(params=self._arrays(best["params"]), bn_state=self._arrays(best["bn_state"]))
        self.train_seconds = float(state.get("train_seconds", 0.0))

    def _arrays(self, arrays: dict) -> dict[str, np.ndarray]:
        """Copies of the ``arrays`` of a saved state, in the trainer's dtype."""
        return {k: np.array(v, dtype=self.dtype, copy=True) for k, v in arrays.items()}


def epoch_mean_losses(history: dict) -> list[float]:
    """Mean of ``history["loss"]`` over each epoch's iterations (``history["epoch_iteration"]`` ends)."""
    loss, out, start = history["loss"], [], 0
    for end in history["epoch_iteration"]:
        chunk = loss[start:end]
        out.append(float(np.mean(chunk)) if chunk else float("nan"))
        start = end
    return out
