"""Matplotlib figures, saved as PNG (the Agg backend; no display needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def smooth(values, window: int) -> np.ndarray:
    """Trailing moving average of ``values`` over ``window`` points (shorter at the start)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or window <= 1:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, v.size + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def plot_training(history: dict, path: str | os.PathLike, title: str = "") -> Path:
    """Loss per iteration (raw and smoothed) above train/val accuracy per epoch.

    ``history`` is a :class:`autonet.train.Trainer` history dict.
    """
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 7), constrained_layout=True)
    loss = np.asarray(history["loss"], dtype=float)
    it = np.arange(len(loss))
    ax1.plot(it, loss, color="tab:blue", alpha=0.3, lw=0.8, label="minibatch loss")
    window = max(len(loss) // 50, 1)
    ax1.plot(it, smooth(loss, window), color="tab:blue", lw=2, label=f"moving average ({window} it)")
    ax1.set_xlabel("iteration")
    ax1.set_ylabel("loss (cross-entropy + L2, nats)")
    ax1.set_title("Loss history")
    ax1.legend()
    ax1.grid(alpha=0.3)
    epochs = np.arange(1, len(history.get("train_acc", [])) + 1)
    if len(epochs):
        ax2.plot(epochs, 100 * np.asarray(history["train_acc"]), "o-", color="tab:red", label="train")
    if len(history.get("val_acc", [])):
        ax2.plot(np.arange(1, len(history["val_acc"]) + 1), 100 * np.asarray(history["val_acc"]), "s-",
                 color="tab:green", label="validation")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.set_title("Classification accuracy history")
    ax2.legend()
    ax2.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
