"""The one trainer: minibatch gradient descent over any backend.

The trainer never sees how gradients are made. It needs a function with the
backend contract (:mod:`autonet.backends`)::

    loss, grads = loss_and_grads(params, X_batch, y_batch, reg=reg)

and an update rule from :mod:`autonet.optim`. Given the same seed, two
backends whose gradients agree produce the same loss history.

One epoch is ``max(N_train // batch_size, 1)`` iterations (an integer, unlike
the seed's ``num_train / batch_size`` under Python 3). At the end of every
epoch the trainer records train accuracy (on a fixed, evenly spaced subset of
``train_acc_samples`` training rows) and validation accuracy.

The learning rate of every step is a pure function of the iteration
(:func:`autonet.schedules.learning_rate_at`; the default ``"decay"`` schedule
is the seed's: times ``learning_rate_decay`` after every epoch), so resuming
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

import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

import numpy as np

from autonet.augment import augment_batch, check_crop_padding, mix_batch
from autonet.config import SAMPLING, Config
from autonet.errors import ConfigError, DataError, DivergenceError
from autonet.fused_update import FusedUpdate
from autonet.images import IMAGE_SHAPE
from autonet.net import accuracy, check_inputs, has_batchnorm, init_bn_state
from autonet.optim import get_update_rule
from autonet.schedules import learning_rate_at
from autonet.workspace import ManualWorkspace

TrainConfig = Config  # the name of the trainer's config before the one schema (autonet.config)
__all__ = ["SAMPLING", "Callback", "BatchSampler", "Trainer", "TrainConfig"]


EMA_BLOCK = 1 << 16  # elements per block of the in-place moving-average update (256 KiB of float32)

Callback = Callable[[str, "Trainer"], None]

BatchSampler = Callable[[int, int], np.ndarray]
"""``sampler(n, batch_size)`` -> (batch_size,) row indices into the ``n`` training rows."""


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
    fast : take the in-place fast paths. ``"exact"``: only those equal bit for
        bit to the reference path taken with ``fast=False`` (which calls the
        update rule of :mod:`autonet.optim` on every parameter): the manual
        step in preallocated buffers and the block-wise update. ``True`` (the
        default) adds, for plain SGD on the manual backend, the weight update
        done by the gradient's own matrix product
        (:meth:`autonet.workspace.ManualWorkspace.sgd_step`: equal up to float
        rounding, one pass over the weights fewer)
    progress : report progress while fitting (:mod:`autonet.progress`: a bar in
        a terminal or notebook, one line per epoch when stderr is piped);
        None: ``config.progress``

    Attributes
    ----------
    params, iteration, learning_rate (of the next step), bn_state (running
    batch-norm statistics, empty without batch norm), history (``loss`` per
    iteration; ``train_acc``, ``val_acc``, ``epoch_iteration``, ``learning_rate``
    (of the epoch's last step) per epoch)
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
        fast: bool | Literal["exact"] = True,
        image_shape: tuple[int, int, int] = IMAGE_SHAPE,
        progress: bool | None = None,
    ) -> None:
        if config is not None and not isinstance(config, Config):
            raise ConfigError(f"config must be an autonet.config.Config, got {type(config).__name__}")
        self.config = config if config is not None else Config()
        self.progress = self.config.progress if progress is None else bool(progress)
        self.loss_and_grads = loss_and_grads
        if fast not in (True, False, "exact"):
            raise ConfigError(f"fast must be True, False or 'exact', got {fast!r}")
        if fast and ManualWorkspace.is_reference(loss_and_grads):  # the same step into preallocated buffers
            self.loss_and_grads = ManualWorkspace(params)
        self.update_rule = get_update_rule(self.config.update)
        # plain SGD of the W's inside the gradient's matrix product (equal up to rounding, see autonet.workspace)
        self._gemm_sgd = (
            fast is True and isinstance(self.loss_and_grads, ManualWorkspace) and self.config.update == "sgd"
        )
        # the same rule applied in place, block by block (equal bit for bit, see autonet.fused_update)
        self._fused_update = (
            FusedUpdate(self.config.update) if fast and FusedUpdate.supports(self.config.update) else None
        )
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
        k = min(self.config.train_acc_samples, n)
        self._acc_rows = np.linspace(0, n - 1, k).astype(np.int64)
        self.rng = np.random.default_rng(self.config.seed)
        self.iteration = 0
        self.opt_state: dict[str, dict] = {name: self._optimizer_config(name) for name in self.params}
        self.bn_state = init_bn_state(self.params) if has_batchnorm(self.params) else {}
        self.image_shape = tuple(image_shape)
        if self.config.augment and self.X_train.shape[1] != np.prod(self.image_shape):
            H, W, C = self.image_shape
            raise ConfigError(
                f"augment needs rows of {H}x{W}x{C} images, got {self.X_train.shape[1]} features "
                "(PCA-reduced rows cannot be augmented)"
            )
        if "crop" in self.config.augment:
            check_crop_padding(self.config.crop_padding, IMAGE_SHAPE)
        for name, on in (("cutmix", self.config.cutmix > 0), ("tta", self.config.tta != "none")):
            if on and self.X_train.shape[1] != np.prod(self.image_shape):
                H, W, C = self.image_shape
                raise ConfigError(
                    f"{name} needs rows of {H}x{W}x{C} images, got {self.X_train.shape[1]} features "
                    "(PCA-reduced rows are not images)"
                )
        # the evaluated net: an exponential moving average of params and bn_state (empty: the net itself)
        self.ema_params: dict[str, np.ndarray] = {}
        self.ema_bn_state: dict[str, np.ndarray] = {}
        if self.config.ema_decay:
            self.ema_params = {k: v.copy() for k, v in self.params.items()}
            self.ema_bn_state = {k: v.copy() for k, v in self.bn_state.items()}
        self._ema_scratch: np.ndarray | None = None
        self.history: dict[str, list] = {
            "loss": [],
            "train_acc": [],
            "val_acc": [],
            "epoch_iteration": [],
            "learning_rate": [],
        }
        self._perm = np.zeros(0, dtype=np.int64)
        self._pos = 0
        self.train_seconds = 0.0

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step (a function of :attr:`iteration` only)."""
        return self._learning_rate_at(self.iteration)

    def _learning_rate_at(self, iteration: int) -> float:
        c = self.config
        return learning_rate_at(
            iteration,
            c.learning_rate,
            self.iterations_per_epoch,
            c.num_iters,
            schedule=c.schedule,
            decay=c.learning_rate_decay,
            step_epochs=c.step_epochs,
            warmup_iters=round(c.warmup * self.iterations_per_epoch),
        )

    def _optimizer_config(self, name: str) -> dict:
        """Initial per-parameter config: the rule's hyperparameters (decay only on the ``W``)."""
        c = self.config
        if c.update in ("momentum", "nesterov"):
            return {"momentum": c.momentum}
        if c.update == "adamw":
            return {"weight_decay": c.weight_decay if name.startswith("W") else 0.0}
        return {}

    def _backend_options(self) -> dict:
        """Keyword options for this step's ``loss_and_grads`` call (only those in use)."""
        c = self.config
        options: dict[str, Any] = {}
        if c.activation != "relu":
            options["activation"] = c.activation
        if c.dropout:
            options["dropout"] = c.dropout
            options["seed"] = int(self.rng.integers(2**63))
        if c.label_smoothing:
            options["label_smoothing"] = c.label_smoothing
        if self.bn_state:
            options["bn_stats"] = {}
        return options

    def _update_bn_state(self, batch_stats: dict) -> None:
        m = self.config.bn_momentum
        for key, running in self.bn_state.items():
            running *= m
            running += (1 - m) * batch_stats[key]

    def evaluation_params(self) -> tuple[dict, dict]:
        """``(params, bn_state)`` of the net that is evaluated and saved: the moving average with
        ``ema_decay``, else the trained parameters themselves (the arrays, not copies)."""
        if self.ema_params:
            return self.ema_params, self.ema_bn_state
        return self.params, self.bn_state

    def _accuracy(self, X, y) -> float:
        params, bn_state = self.evaluation_params()
        return accuracy(
            params,
            X,
            y,
            state=bn_state or None,
            activation=self.config.activation,
            tta=self.config.tta,
            image_shape=self.image_shape,
        )

    def ema_decay_at(self, updates: int) -> float:
        """The moving average's decay after ``updates`` steps: ``min(ema_decay, (1 + t) / (10 + t))``.

        The warm-up term (TensorFlow's ``ExponentialMovingAverage(num_updates=t)``)
        keeps the average from being dominated by the initial weights early on.
        A pure function of the step count, so a resumed run continues it exactly.
        """
        return min(self.config.ema_decay, (1.0 + updates) / (10.0 + updates))

    def _update_ema(self) -> None:
        """``avg <- d * avg + (1 - d) * w`` for every parameter (and running statistic), in place.

        Computed as ``avg += (1 - d) * (w - avg)`` over blocks of
        :data:`EMA_BLOCK` elements through one scratch buffer: no full-size
        temporary, and a block stays in cache for its three passes.
        """
        d = self.ema_decay_at(self.iteration + 1)
        pairs = [(self.ema_params[k], self.params[k]) for k in self.ema_params]
        pairs += [(self.ema_bn_state[k], self.bn_state[k]) for k in self.ema_bn_state]
        for avg, w in pairs:
            flat_avg, flat_w = avg.reshape(-1), w.reshape(-1)
            if self._ema_scratch is None or self._ema_scratch.dtype != avg.dtype:
                self._ema_scratch = np.empty(EMA_BLOCK, dtype=avg.dtype)
            rate = avg.dtype.type(1.0 - d)
            for i in range(0, flat_avg.size, EMA_BLOCK):
                a, b = flat_avg[i : i + EMA_BLOCK], flat_w[i : i + EMA_BLOCK]
                tmp = self._ema_scratch[: a.size]
                np.subtract(b, a, out=tmp)
                tmp *= rate
                a += tmp

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
        """One minibatch update; returns the minibatch loss (before the update)."""
        idx = self._next_batch()
        X_batch = np.asarray(self.X_train[idx], dtype=self.dtype)
        y_batch = self.y_train[idx]
        if self.config.augment:
            X_batch = augment_batch(
                X_batch,
                self.rng,
                flip="flip" in self.config.augment,
                crop_padding=self.config.crop_padding if "crop" in self.config.augment else 0,
                image_shape=self.image_shape,
            )
        mix = None
        if self.config.mixup or self.config.cutmix:
            X_batch, mix = mix_batch(
                X_batch,
                y_batch,
                self.rng,
                mixup=self.config.mixup,
                cutmix=self.config.cutmix,
                image_shape=self.image_shape,
            )
        loss = self.update_on_batch(X_batch, y_batch, mix=mix)
        self.history["loss"].append(loss)
        self.iteration += 1
        if self.iteration % self.iterations_per_epoch == 0:
            self._end_epoch()
        return float(loss)

    def update_on_batch(self, X_batch: np.ndarray, y_batch: np.ndarray, mix=None) -> float:
        """Forward, backward and the parameter update on one given batch; returns its loss.

        The body of :meth:`step` after the batch is drawn: no history, no
        iteration count, no epoch end (so a benchmark can time just this).
        ``mix``: the mixed targets ``(y2, lam)`` of a mixup/cutmix batch (the backends' option).
        The moving average (``ema_decay``) is updated here, after the parameters.
        """
        options = self._backend_options()
        if mix is not None:
            options["mix"] = mix
        lr = self.learning_rate
        for cfg in self.opt_state.values():
            cfg["learning_rate"] = lr
        fold_l2 = False
        if self._gemm_sgd:  # the W's take their step inside the backward pass; grads holds the rest
            assert isinstance(self.loss_and_grads, ManualWorkspace)

            def check(loss: float, grads: dict) -> None:
                self._check_finite(loss, grads, X_batch)

            loss, grads = self.loss_and_grads.sgd_step(
                self.params, X_batch, y_batch, self.config.reg, lr, check, **options
            )
        else:
            # the manual step leaves reg * W to the fused update, which adds it block by block
            fold_l2 = bool(
                self.config.reg and self._fused_update is not None and isinstance(self.loss_and_grads, ManualWorkspace)
            )
            if fold_l2:
                options["l2_gradient"] = False
            loss, grads = self.loss_and_grads(self.params, X_batch, y_batch, reg=self.config.reg, **options)
            self._check_finite(loss, grads, X_batch)
        if self.bn_state:
            self._update_bn_state(options["bn_stats"])
        if self._fused_update is not None:
            self._fused_update(
                {k: self.params[k] for k in grads},
                grads,
                self.opt_state,
                l2={k: self.config.reg for k in grads if k.startswith("W")} if fold_l2 else None,
            )
        else:
            for name in grads:
                self.params[name], self.opt_state[name] = self.update_rule(
                    self.params[name], grads[name], self.opt_state[name]
                )
        if self.ema_params:
            self._update_ema()
        return float(loss)

    def _check_finite(self, loss: float, grads: dict, X_batch: np.ndarray | None = None) -> None:
        if not np.isfinite(loss):
            raise DivergenceError(
                f"non-finite loss ({loss}) at iteration {self.iteration} ({_largest_param(self.params)}); "
                f"{self._divergence_cause(X_batch)}",
                iteration=self.iteration,
                name="loss",
            )
        for name, g in grads.items():
            # a finite vdot(g, g) (one BLAS pass, 10x faster than g.sum()) means every entry is finite and
            # g.sum() too; only when it is not (NaN/inf, or a norm beyond 1e19 in float32) is the sum asked
            if not np.isfinite(np.vdot(g, g)) and not np.isfinite(g.sum()):
                raise DivergenceError(
                    f"non-finite gradient of {name} at iteration {self.iteration}; {self._divergence_cause(X_batch)}",
                    iteration=self.iteration,
                    name=name,
                )

    def _divergence_cause(self, X_batch: np.ndarray | None) -> str:
        """What to change: the learning rate, unless nothing has been updated yet.

        At iteration 0 no update has happened, so the learning rate cannot be
        to blame: the starting point overflows, from weights initialised too
        large or inputs too large for the forward pass in this dtype.
        """
        x = float(np.abs(X_batch).max(initial=0.0)) if X_batch is not None and X_batch.size else 0.0
        reg_cause = self._l2_cause()
        if reg_cause:
            return reg_cause
        if self.iteration > 0:
            if x > 1e6:
                return (
                    f"the inputs are very large (max |x| = {x:.3g} in this batch): scale them (e.g. "
                    f"--preprocess standardize), or try a smaller learning rate (now {self.learning_rate:g})"
                )
            return f"try a smaller learning rate (now {self.learning_rate:g})"
        name = max(
            (k for k in self.params if k.startswith("W")), key=lambda k: float(np.abs(self.params[k]).max(initial=0.0))
        )
        w = float(np.abs(self.params[name]).max(initial=0.0))
        head = "before any update, so not the learning rate: "
        if not np.isfinite(x):
            return head + f"the inputs overflow {self.dtype} (scale them, or use float64)"
        if w > 10 and x <= 1e4:
            return head + "the initial weights are too large; lower the init std (--std) or use --init he"
        if x > 1e4:
            return head + (
                f"the inputs are too large for {self.dtype} arithmetic (max |x| = {x:.3g} in this "
                "batch); scale them (e.g. --preprocess standardize)"
            )
        return head + (
            f"the forward pass overflows {self.dtype} at the initial point (max |x| = {x:.3g}, "
            f"max |{name}| = {w:.3g}); lower the init std (--std) or scale the inputs"
        )

    def _l2_cause(self) -> str | None:
        """The L2 term's share of a divergence: None unless ``reg`` itself is to blame.

        After an update: ``reg > 1`` with ``learning rate * reg > 1`` -- the decay step
        ``w -= lr * reg * w`` alone overshoots zero and grows the weights (a huge learning rate
        with an ordinary reg stays the learning rate's fault). Before any update: the term
        ``0.5 * reg * sum ||W||^2`` itself beyond the dtype's range.
        """
        reg, lr = float(self.config.reg), float(self.learning_rate)
        if reg <= 1:
            return None
        if self.iteration > 0 and lr * reg > 1:
            return (
                f"the L2 term diverges: learning rate x reg = {lr * reg:.3g} > 1, so the decay step "
                f"w -= lr * reg * w overshoots and grows the weights; lower --reg (now {reg:g}) or the "
                f"learning rate (now {lr:g})"
            )
        if self.iteration == 0:
            with np.errstate(over="ignore", invalid="ignore"):
                l2 = (
                    0.5
                    * reg
                    * sum(
                        float(np.vdot(w, w))
                        for k, w in self.params.items()
                        if k.startswith("W") and np.isfinite(w).all()
                    )
                )
            if not l2 <= np.finfo(self.dtype).max:
                return (
                    f"before any update, so not the learning rate: the L2 term 0.5 * reg * sum ||W||^2 = {l2:.3g} "
                    f"overflows {self.dtype}; lower --reg (now {reg:g})"
                )
        return None

    def _end_epoch(self) -> None:
        h = self.history
        h["epoch_iteration"].append(self.iteration)
        h["learning_rate"].append(self._learning_rate_at(self.iteration - 1))
        h["train_acc"].append(self._accuracy(self.X_train[self._acc_rows], self.y_train[self._acc_rows]))
        if self.X_val is not None:
            h["val_acc"].append(self._accuracy(self.X_val, self.y_val))
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
            while self.iteration < cfg.num_iters:
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
        self._emit("end")
        return self.history

    def epoch_losses(self) -> list[float]:
        """The mean minibatch loss of every finished epoch (from ``history["loss"]``)."""
        return epoch_mean_losses(self.history)

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
            "opt_state": {
                k: {n: (np.copy(x) if isinstance(x, np.ndarray) else x) for n, x in s.items()}
                for k, s in self.opt_state.items()
            },
            "bn_state": {k: v.copy() for k, v in self.bn_state.items()},
            "ema": {
                "params": {k: v.copy() for k, v in self.ema_params.items()},
                "bn_state": {k: v.copy() for k, v in self.ema_bn_state.items()},
            },
            "train_seconds": self.train_seconds,
            "config": self.config.to_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` (the inverse operation)."""
        self.iteration = int(state["iteration"])  # the learning rate follows from it
        self.rng.bit_generator.state = state["rng"]
        self._perm = np.asarray(state["perm"], dtype=np.int64)
        self._pos = int(state["pos"])
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.params = {k: np.array(v, dtype=self.dtype, copy=True) for k, v in state["params"].items()}
        self.opt_state = {k: dict(s) for k, s in state["opt_state"].items()}
        self.bn_state = {k: np.array(v, dtype=self.dtype, copy=True) for k, v in state.get("bn_state", {}).items()}
        ema = state.get("ema", {})
        self.ema_params = {k: np.array(v, dtype=self.dtype, copy=True) for k, v in ema.get("params", {}).items()}
        self.ema_bn_state = {k: np.array(v, dtype=self.dtype, copy=True) for k, v in ema.get("bn_state", {}).items()}
        self.train_seconds = float(state.get("train_seconds", 0.0))


def _largest_param(params: dict) -> str:
    """Name the parameter to blame for a non-finite loss: the first non-finite one, else the largest."""
    for name, w in params.items():
        if not np.isfinite(w).all():
            return f"parameter {name} holds NaN/inf"
    name = max(params, key=lambda k: float(np.abs(params[k]).max(initial=0.0)))
    return f"largest parameter {name}, max |{name}| = {float(np.abs(params[name]).max(initial=0.0)):.3g}"


def epoch_mean_losses(history: dict) -> list[float]:
    """Mean of ``history["loss"]`` over each epoch's iterations (``history["epoch_iteration"]`` ends)."""
    loss, out, start = history["loss"], [], 0
    for end in history["epoch_iteration"]:
        chunk = loss[start:end]
        out.append(float(np.mean(chunk)) if chunk else float("nan"))
        start = end
    return out
