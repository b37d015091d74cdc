"""Progress of a training run where a person waits for it.

- stderr is a terminal, or the code runs in a Jupyter kernel: a tqdm bar
  (``tqdm.auto``: the notebook widget in Jupyter) with the loss and learning
  rate;
- stderr is piped or redirected (a log file, a batch job): one line per epoch,
  ``epoch 3 (iteration 366/1600): loss 1.6234, train acc 0.5120, val acc
  0.4870, lr 0.00131, 12.3 s``;
- ``progress=False`` (``--quiet``): nothing.

``trainer`` below is an :class:`autonet.train.Trainer` (not imported: this module sits below it), of which
``config.num_iters``, ``iteration``, ``learning_rate``, ``history``, ``train_seconds`` and ``epoch_losses()``
are read.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def in_notebook() -> bool:
    """True inside a Jupyter (IPython kernel) session."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class BarProgress:
    """A tqdm bar over the iterations; the postfix shows the loss and the next step's learning rate."""

    def __init__(self, trainer: Any) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=trainer.config.num_iters, initial=trainer.iteration, desc="train", unit="it", dynamic_ncols=True
        )

    def iteration(self, trainer: Any, loss: float) -> None:
        self.bar.update(1)
        if trainer.iteration % 10 == 0:
            self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{trainer.learning_rate:.3g}", refresh=False)

    def close(self) -> None:
        self.bar.close()


class EpochLines:
    """One line per finished epoch on ``stream``: mean loss, accuracies, learning rate, elapsed time."""

    def __init__(self, trainer: Any, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.epochs_seen = len(trainer.history["epoch_iteration"])
        self.start = time.perf_counter() - trainer.train_seconds

    def iteration(self, trainer: Any, loss: float) -> None:
        h = trainer.history
        if len(h["epoch_iteration"]) == self.epochs_seen:
            return
        self.epochs_seen = e = len(h["epoch_iteration"])
        mean_loss = trainer.epoch_losses()[-1]
        val = f", val acc {h['val_acc'][-1]:.4f}" if len(h["val_acc"]) >= e else ""
        print(
            f"epoch {e} (iteration {trainer.iteration}/{trainer.config.num_iters}): loss {mean_loss:.4f}, "
            f"train acc {h['train_acc'][-1]:.4f}{val}, lr {h['learning_rate'][-1]:.3g}, "
            f"{time.perf_counter() - self.start:.1f} s",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        pass


def progress_reporter(trainer: Any, stream: TextIO | None = None) -> BarProgress | EpochLines:
    """A bar in a terminal or notebook, else per-epoch lines."""
    isatty = getattr(stream or sys.stderr, "isatty", bool)
    return BarProgress(trainer) if in_notebook() or isatty() else EpochLines(trainer, stream)
