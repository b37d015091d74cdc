"""One training run from a flat config to a run directory.

A run directory holds::

    config.json    the autonet.config.Config (every recorded option)
    history.json   loss per iteration; train/val accuracy and lr per epoch
    history.csv    the per-epoch part, one row per epoch
    summary.json   backend, val_acc, test_acc (or null), train_seconds, ...
    model.npz      params, mean image, class names, layer sizes (no pickles)
    best_model.npz with early stopping: the best epoch's net (model.npz is it too, once the run ends)
    plots/training.png
    checkpoint.npz the trainer's full state (when checkpointing; see autonet.storage.checkpoints)
    .lock          while a process writes the directory: its flock (removed when it finishes); see autonet.storage.lock

``autonet train`` and ``autonet sweep`` both go through :func:`run`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import platform
import time
import warnings
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from autonet.backends import get_backend
from autonet.config import DTYPES, GENERAL_RECIPE, Config, fitted_to_rows, identity
from autonet.errors import ConfigError, DivergenceError, OutOfMemory, WriteError
from autonet.images import IMAGE_SHAPE, image_options, require_image_rows
from autonet.interrupts import Interrupted, InterruptGuard
from autonet.net import accuracy, fold_batchnorm, init_params, init_rng
from autonet.preprocess import Preprocessor, fit_preprocess
from autonet.storage.checkpoints import CHECKPOINT_NAME, Checkpointer
from autonet.storage.files import atomic_write_json, atomic_write_text, read_regular_file, refuse_links
from autonet.storage.lock import LOCK_NAME, RunLock, check_no_writer
from autonet.storage.models import Model, save_model
from autonet.train import Trainer, epoch_mean_losses

SUMMARY_NAME = "summary.json"
BEST_MODEL_NAME = "best_model.npz"  # early stopping's best epoch, written when it improves
DIVERGED_NAME = "diverged.json"  # a sweep trial's divergence (autonet.sweep.record)
CHECKPOINT_EVERY = 100  # default checkpoint period of autonet train and of every sweep trial, in iterations
# What a run writes into its directory; ``overwrite=True`` removes exactly these.
RUN_FILES = (
    "config.json",
    "history.json",
    "history.csv",
    SUMMARY_NAME,
    "model.npz",
    BEST_MODEL_NAME,
    CHECKPOINT_NAME,
    "plots/training.png",
    DIVERGED_NAME,
)


def preprocess_data(cfg: Config, data):
    """Fit ``cfg.preprocess`` on the training split; returns it and a transformed copy of ``data``."""
    pre = fit_preprocess(
        data.X_train,
        cfg.preprocess,
        whiten_eps=cfg.whiten_eps,
        pca_components=cfg.pca_components,
        image_shape=input_shape(data),
    )
    if pre.method == "mean":
        return pre, data
    return pre, replace(
        data,
        X_train=pre.transform(data.X_train),
        X_val=pre.transform(data.X_val),
        X_test=None if data.X_test is None else pre.transform(data.X_test),
    )


def input_shape(data) -> tuple[int, int, int]:
    """``data.image_shape``, or ``(1, 1, D)`` for rows that are not images (each feature its own channel)."""
    return data.image_shape or (1, 1, data.X_train.shape[1])


def export_params(trainer: Trainer, pre: Preprocessor | None = None, best: bool = False) -> dict:
    """The trained net as a plain ``W, b`` ReLU net on the loader's rows.

    The net is :meth:`Trainer.evaluation_params` (the moving average, with
    ``ema_decay``). Batch norm (eval mode, running statistics) and the input
    preprocessing are affine, so both fold into the weights
    (:func:`autonet.net.fold_batchnorm`, :meth:`autonet.preprocess.Preprocessor.fold`);
    dropout is the identity at evaluation. ``autonet evaluate`` and ``predict``
    then need nothing else but the model's ``tta``. ``best``: early stopping's
    best epoch (:attr:`Trainer.best`) instead.
    """
    params, bn_state = (trainer.best["params"], trainer.best["bn_state"]) if best else trainer.evaluation_params()
    params = fold_batchnorm(params, bn_state or None)
    return params if pre is None else pre.fold(params)


def load_data(cfg: Config, quiet: bool = False):
    """Load ``cfg.dataset`` as ``cfg`` asks (split sizes, dtype, location)."""
    from autonet.data import load_dataset

    return load_dataset(
        cfg.dataset, cfg.data_dir, num_val=cfg.num_val, num_train=cfg.num_train, dtype=DTYPES[cfg.dtype], quiet=quiet
    )


def fit_to_data(cfg: Config, unset: Collection[str], quiet: bool = False) -> Config:
    """``cfg`` with its ``unset`` options following the rule for data other than CIFAR-10.

    The rule (:data:`autonet.config.DEFAULTS_RULE`) needs the number of rows,
    so the data is read once to count them. CIFAR-10, or nothing of the rule
    unset, returns ``cfg`` unchanged.
    """
    if cfg.dataset == "cifar10" or not set(unset) & {*GENERAL_RECIPE, "num_val", "batch_size"}:
        return cfg
    rows = load_data(cfg.replace(num_val=1, num_train=None), quiet=quiet)
    fitted = fitted_to_rows(len(rows.y_train) + 1, cfg.num_train)
    return cfg.replace(**{k: v for k, v in fitted.items() if k in unset})


def learning_watch(n_classes: int) -> Callable[[str, Trainer], None]:
    """A trainer callback that warns, once each, when a run has stopped learning (a silent failure otherwise).

    - every minibatch loss of an epoch within 0.01 of ``ln(C)``: the net still
      predicts uniform probabilities after a whole pass over the data;
    - the learning rate decayed under 1/1000 of its initial value with more
      than a tenth of the run left: the remaining steps cannot change the weights.
    """
    told: set[str] = set()

    def callback(event: str, trainer: Trainer) -> None:
        if event != "epoch":
            return
        cfg, epochs, chance = trainer.config, len(trainer.history["epoch_iteration"]), math.log(n_classes)
        left, lr = cfg.num_iters - trainer.iteration, trainer.learning_rate
        stuck = max(abs(v - chance) for v in trainer.history["loss"][-trainer.iterations_per_epoch :]) < 0.01
        for key, now, message in (
            (
                "chance",
                stuck,
                f"the loss has stayed at ln({n_classes}) = {chance:.4f} (uniform guessing) for a whole epoch "
                f"({epochs} so far): the net is not learning; try --init he --update adam --learning-rate 1e-3",
            ),
            (
                "decayed",
                lr < 1e-3 * cfg.learning_rate and left > cfg.num_iters // 10,
                f"the learning rate has decayed to {lr:.3g} (from {cfg.learning_rate:g}) in {epochs} epochs, with "
                f"{left} of {cfg.num_iters} iterations left that cannot change the weights: raise "
                "--learning-rate-decay, or lower --num-iters",
            ),
        ):
            if now and key not in told:
                told.add(key)
                warnings.warn(message, UserWarning, stacklevel=2)

    return callback


@np.errstate(over="ignore", invalid="ignore", divide="ignore")  # overflow: reported once, as a DivergenceError
def run(
    cfg: Config,
    out_dir: str | os.PathLike,
    data=None,
    quiet: bool = False,
    callbacks: Sequence = (),
    checkpoint_every: int | None = None,
    resume: bool = False,
    interrupts: InterruptGuard | None = None,
    overwrite: bool = False,
) -> dict:
    """Train one network as ``cfg`` says and write its run directory.

    Parameters
    ----------
    cfg : the run's configuration (a Config is valid by construction)
    out_dir : run directory (created once the data has loaded, so a run that
        cannot start leaves no directory behind)
    data : an already loaded :class:`autonet.data.CIFAR10` (else loaded from ``cfg``)
    quiet : no progress report and no loader chatter
    callbacks : passed to the :class:`Trainer`
    checkpoint_every : write ``out_dir/checkpoint.npz`` every this many iterations
        and at the end (0: only at the end and on interrupt; None: never)
    resume : continue from ``out_dir/checkpoint.npz``; ``cfg`` must be the
        run's own config (a mismatch raises ModelFileError naming it)
    interrupts : an entered :class:`InterruptGuard`: on SIGINT/SIGTERM the
        trainer stops after its current iteration, a checkpoint is written
        (when checkpointing) and :class:`Interrupted` propagates
    overwrite : replace the run files of a directory that is not empty
        (otherwise such a directory is refused, see :func:`open_run_dir`)

    Returns
    -------
    The summary dict also written to ``summary.json``. Resuming a run that
    has finished changes nothing and returns its summary, with
    ``"already_finished": True``.

    Raises
    ------
    DivergenceError
        Non-finite loss or gradient; the message says where the last good
        checkpoint is (the file is never overwritten by a non-finite state).
    RunDirBusy
        Another process is writing ``out_dir``.
    WriteError
        A file could not be written (disk full, read-only); the message says
        where the last good checkpoint is and how to resume.
    """
    out = Path(out_dir)
    if resume and (out / SUMMARY_NAME).is_file():  # finished (a summary is written last): nothing to load
        with open_run_dir(out, resume=True):
            return _finished(out)
    if not resume:
        check_no_writer(out)  # a live run without a checkpoint yet is running, not "stopped"
        _refuse_occupied(out, overwrite)  # before a long data load; repeated under the lock
    # Every input is read and checked (data, preprocessing, memory, initial weights) before the
    # directory is created, so a run that cannot start leaves no run directory behind.
    data = load_data(cfg, quiet=quiet) if data is None else data
    for name in [n for n in image_options(cfg) if n != "augment"]:  # augment: checked where it is set up
        require_image_rows(name, None, data.image_shape)
    pre, train = preprocess_data(cfg, data)  # fitted on the training split only
    sizes = [train.X_train.shape[1], *cfg.hidden, len(data.class_names)]
    every = None if checkpoint_every is None and not resume else checkpoint_every or 0  # None: no checkpoints
    estimate = check_memory(cfg, sizes, len(train.y_train), data.image_shape, checkpoint=every is not None)
    if cfg.batch_size > len(train.y_train):
        warnings.warn(
            f"batch_size {cfg.batch_size} is larger than the {len(train.y_train)} training rows: every step is a "
            "whole epoch, so a per-epoch learning-rate decay applies at every step; lower --batch-size",
            stacklevel=2,
        )
    try:
        params = init_params(
            sizes, std=cfg.std, init=cfg.init, rng=init_rng(cfg.seed), dtype=DTYPES[cfg.dtype], batchnorm=cfg.batchnorm
        )
        with open_run_dir(out, resume=resume, overwrite=overwrite):
            if resume and (out / SUMMARY_NAME).is_file():
                return _finished(out)
            trainer = Trainer(
                get_backend(cfg.backend),
                params,
                train.X_train,
                train.y_train,
                train.X_val,
                train.y_val,
                cfg,
                callbacks=[learning_watch(len(data.class_names)), *callbacks],
                progress=cfg.progress and not quiet,
                image_shape=input_shape(data),
            )
            return _train(trainer, cfg, out, data, pre, every, resume, interrupts)
    except MemoryError as e:  # the estimate is a floor: numpy temporaries come on top
        lines = str(e).strip().splitlines()
        raise OutOfMemory(
            f"ran out of memory ({type(e).__name__}{': ' + lines[0] if lines else ''}); the up-front estimate: {estimate}; lower --hidden or --batch-size"
        ) from None


def _finished(out: Path) -> dict:
    """The summary of the finished run in ``out``, marked ``already_finished`` (a tampered one: ConfigError)."""
    return {**read_json_object(out / SUMMARY_NAME, hint=" (edited?)"), "already_finished": True}


def _train(trainer: Trainer, cfg: Config, out: Path, data, pre, every, resume, interrupts) -> dict:
    """Train (or resume, from its checkpoint) in the locked ``out``, checkpointing every ``every`` iterations.

    On SIGINT/SIGTERM a checkpoint is saved; a divergence or a failed write
    says where the last good checkpoint is.
    """
    ckpt = None if every is None else Checkpointer(out / CHECKPOINT_NAME, every, checkpoint_meta(cfg, data))

    def save_best(event: str, trainer: Trainer) -> None:  # early stopping: the best epoch so far, as it comes
        if event == "epoch" and trainer.best and trainer.best["epoch"] == len(trainer.history["val_acc"]):
            save_model(out / BEST_MODEL_NAME, _model(cfg, data, export_params(trainer, pre, best=True)))

    trainer.callbacks += [c for c in (save_best, ckpt, interrupts and interrupts.check) if c]
    if ckpt is not None and resume:
        ckpt.remove_stale_temporaries()
        ckpt.restore(trainer)
    else:
        atomic_write_json(out / "config.json", cfg.to_dict())
    try:
        with interrupts.deferred() if interrupts is not None else contextlib.nullcontext():
            trainer.fit()
        return finish(cfg, trainer, data, out, pre)
    except Interrupted as e:  # save a checkpoint, and say where it is
        if ckpt is not None:
            with contextlib.suppress(WriteError):  # the previous checkpoint is intact; describe() still names it
                ckpt.save(trainer)
        e.checkpoint = ckpt.describe() if ckpt is not None else None  # "PATH (iteration N)"
        raise
    except WriteError as e:  # disk full or read-only while saving a checkpoint or the results: how to continue
        last = ckpt.describe() if ckpt is not None else None
        hint = f"; last good checkpoint: {last}; free space or fix permissions, then resume with: autonet train --resume {out}"
        err = WriteError(f"{e}{hint if last else '; no checkpoint was written'}")
        err.errno, err.strerror, err.filename = e.errno, e.strerror, e.filename
        raise err from None
    except DivergenceError as e:  # say where the last good checkpoint is
        if ckpt is None:
            raise
        last = ckpt.describe()
        where = f"last good checkpoint: {last}" if last else "no checkpoint had been written"
        raise DivergenceError(f"{e}; {where}", iteration=e.iteration, name=e.name) from None


# ----- the run directory: one writer, never someone else's files -----


@contextlib.contextmanager
def open_run_dir(out: Path, resume: bool = False, overwrite: bool = False) -> Iterator[None]:
    """Create ``out`` for one run and hold its lock for the ``with`` block.

    A new run (``resume`` False) refuses a directory that holds anything but
    a lock file, unless ``overwrite``, which removes the files a run writes
    (:data:`RUN_FILES`) and keeps anything else. The check is made once
    the lock is held, so two processes started on one empty directory cannot
    both pass it. A directory made here is removed again when the block fails
    before anything but the lock file was written (a run that cannot start
    leaves nothing behind).

    Raises
    ------
    ConfigError
        ``out`` is a file or below one, or holds another run or other files.
    RunDirBusy
        Another live process holds the directory's lock (message names its PID).
    WriteError
        ``out`` cannot be created or written (read-only, no space).
    """
    refuse_links(out / LOCK_NAME)  # a sweep's trial: no directory below the sweep's may be a planted link
    created = not out.exists()
    make_dir(out, "run")
    with RunLock(out):
        if not resume:
            _refuse_occupied(out, overwrite)
            if overwrite:
                for rel in RUN_FILES:
                    # unlinking plots/training.png through a planted plots/ link would delete elsewhere
                    refuse_links(out / rel)
                    (out / rel).unlink(missing_ok=True)
                for stale in out.glob(f".{CHECKPOINT_NAME}.*.tmp"):
                    stale.unlink(missing_ok=True)
        try:
            yield
        except BaseException:
            # refused before it wrote anything (e.g. by the trainer): a directory it made, it removes
            with contextlib.suppress(OSError):
                if created and [p.name for p in out.iterdir()] == [LOCK_NAME]:
                    (out / LOCK_NAME).unlink()
                    out.rmdir()
            raise


def make_dir(out: Path, what: str) -> None:
    """Create the directory ``out`` (and its parents) for a run, a sweep or figures (``what``).

    Raises
    ------
    ConfigError
        ``out`` is a file, or below one.
    WriteError
        ``out`` cannot be created (read-only, no space).
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory; give a directory for the {what}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"--out {out}: a part of this path is a file, not a directory") from None
    except OSError as e:
        raise WriteError.from_os_error(e, out) from None


def _refuse_occupied(out: Path, overwrite: bool) -> None:
    try:
        entries = sorted(p.name for p in out.iterdir() if p.name != LOCK_NAME)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise ConfigError(f"--out {out}: a part of this path is a file, not a directory") from None
    except OSError as e:
        raise WriteError.from_os_error(e, out) from None
    if not entries or overwrite:
        return
    if "config.json" in entries:
        if SUMMARY_NAME in entries:
            what, hint = "a finished run", ""
        elif CHECKPOINT_NAME in entries:
            what, hint = "another run", f"resume it with --resume {out}, "
        else:
            what, hint = "another run (stopped before its first checkpoint)", ""
        raise ConfigError(
            f"--out {out}: holds {what} (config.json); refusing to overwrite it: "
            f"{hint}choose another --out, or add --overwrite to replace it"
        )
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    raise ConfigError(
        f"--out {out}: not empty ({len(entries)} entr{'y' if len(entries) == 1 else 'ies'}: "
        f"{shown}); choose another --out, or add --overwrite to write the run into it"
    )


def check_memory(
    cfg: Config, sizes: list[int], n_train: int, image_shape: Sequence[int] | None, checkpoint: bool = True
) -> str:
    """Refuse, before allocating, a run whose parameters, optimizer state and batch would not fit.

    ``image_shape`` is the data's ``(H, W, C)``, which sizes the crop canvas (None: no images).
    Returns the estimate in words (for an out-of-memory error that still happens).
    """
    from autonet.augment import check_crop_padding
    from autonet.memory import check_fits, training_bytes

    if "crop" in cfg.augment:
        check_crop_padding(cfg.crop_padding)  # before its canvas is counted
    rows = cfg.batch_size if cfg.sampling == "replacement" else min(cfg.batch_size, n_train)
    parts = training_bytes(
        sizes,
        rows,
        np.dtype(DTYPES[cfg.dtype]).itemsize,
        cfg.update,
        crop_padding=cfg.crop_padding if "crop" in cfg.augment else None,
        image_shape=image_shape or IMAGE_SHAPE,  # no images: crop is refused when the trainer sets it up
        checkpoint=checkpoint,
    )
    hint = "lower --hidden or --batch-size" + (", or use --dtype float32" if cfg.dtype != "float32" else "")
    return check_fits(
        parts, what=f"a {'-'.join(map(str, sizes))} net with batch {rows} ({cfg.dtype}, {cfg.update})", hint=hint
    )


def checkpoint_meta(cfg: Config, data) -> dict:
    """What a checkpoint must match to be resumed: the config (bar data_dir) and the data."""
    config = identity(cfg.to_dict())  # a checkpoint of an earlier version (fewer options) still resumes
    sample = data.X_train[:: max(1, len(data.X_train) // 64)]
    fingerprint = {
        "n_train": int(len(data.y_train)),
        "n_val": int(len(data.y_val)),
        "dim": int(data.X_train.shape[1]),
        "classes": len(data.class_names),
        "labels_crc32": zlib.crc32(np.ascontiguousarray(data.y_train, dtype=np.int64).tobytes()),
        "rows_crc32": zlib.crc32(np.ascontiguousarray(sample).tobytes()),
    }
    return {"config": config, "data": fingerprint}


def finish(cfg: Config, trainer: Trainer, data, out: Path, pre: Preprocessor | None = None) -> dict:
    """Evaluate a finished trainer and write history, model, summary and plots.

    ``data`` holds the loader's rows; the model evaluated and saved is
    :func:`export_params` (batch norm and ``pre`` folded in).
    """
    from autonet.plots import plot_run, save_figure

    params = export_params(trainer, pre)
    image_shape = input_shape(data)

    def evaluate(X: np.ndarray, y: np.ndarray) -> float:
        return accuracy(params, X, y, activation=cfg.activation, tta=cfg.tta, image_shape=image_shape)

    summary = {
        "dataset": data.name,
        "backend": cfg.backend,
        "layer_sizes": [data.X_train.shape[1], *cfg.hidden, len(data.class_names)],
        "iterations": trainer.iteration,
        "epochs": trainer.iteration / trainer.iterations_per_epoch,
        "final_loss": trainer.history["loss"][-1] if trainer.history["loss"] else None,
        "train_acc": evaluate(data.X_train, data.y_train),
        "val_acc": evaluate(data.X_val, data.y_val),
        "test_acc": evaluate(data.X_test, data.y_test) if data.X_test is not None else None,
        "num_train": int(len(data.y_train)),
        "num_val": int(len(data.y_val)),
        "train_seconds": round(trainer.train_seconds, 3),
        "best_epoch": trainer.best["epoch"] if trainer.best else None,
        "stopped_early": trainer.stopped_early,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {  # where the figures were measured
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
    }
    atomic_write_json(out / "history.json", trainer.history)
    atomic_write_text(out / "history.csv", history_csv(trainer.history))
    save_model(out / "model.npz", _model(cfg, data, params))
    save_figure(plot_run(trainer.history, summary), out / "plots" / "training.png")
    atomic_write_json(out / SUMMARY_NAME, summary)
    return summary


def _model(cfg: Config, data, params: dict) -> Model:
    return Model(
        params=params,
        mean_image=data.mean_image,
        class_names=data.class_names,
        image_shape=data.image_shape,
        dataset=data.name,
        activation=cfg.activation,
        tta=cfg.tta,
    )


def history_csv(history: dict) -> str:
    """Per-epoch rows: epoch, iteration, learning_rate, loss (the epoch's mean minibatch loss), train_acc, val_acc."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["epoch", "iteration", "learning_rate", "loss", "train_acc", "val_acc"])
    for e, (it, loss) in enumerate(zip(history["epoch_iteration"], epoch_mean_losses(history), strict=False)):
        val = history["val_acc"][e] if e < len(history["val_acc"]) else ""
        w.writerow([e + 1, it, history["learning_rate"][e], loss, history["train_acc"][e], val])
    return buf.getvalue()


MAX_JSON_BYTES = 64 << 20  # config, summary and history files of a run (a history is ~100 bytes per epoch)


def read_json(
    path: str | os.PathLike, what: str = "JSON file", error: type[Exception] = ConfigError, limit: int = MAX_JSON_BYTES
) -> Any:
    """The JSON value in ``path``, a regular UTF-8 file of at most ``limit`` bytes.

    Raises
    ------
    error
        ``{path}: no such {what}``, not a regular file (a FIFO would block
        forever), too large, not UTF-8 or not valid JSON -- one line.
    """
    raw = read_regular_file(path, limit, what, error)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # RecursionError: [[[[...]]]] nested too deep
        raise error(f"{path}: not valid JSON ({type(e).__name__}: {str(e)[:120]})") from None


def read_json_object(
    path: str | os.PathLike,
    what: str = "JSON file",
    error: type[Exception] = ConfigError,
    limit: int = MAX_JSON_BYTES,
    hint: str = "",
) -> dict:
    """:func:`read_json` of a file that must hold a JSON object (else ``error``, ending with ``hint``)."""
    value = read_json(path, what, error, limit)
    if not isinstance(value, dict):
        raise error(f"{path}: expected a JSON object, got {type(value).__name__}{hint}")
    return value
