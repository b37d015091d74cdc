"""Matplotlib figures, shared by the CLI and the notebooks.

Each ``plot_*`` function draws into the axes given as ``ax=`` (so a notebook
can place a figure in its own layout) or, by default, into a new
:class:`matplotlib.figure.Figure` built directly, not through ``pyplot``
(calling them never switches a notebook's plotting backend and leaves no open
figures behind), and returns the Figure. Saving is the caller's job:
:func:`save_figure` writes one atomically (the CLI saves PNGs).

- :func:`plot_training`: loss per iteration (raw and smoothed), train/val
  accuracy per epoch.
- :func:`plot_weight_grid`: first-layer weights as 32x32 colour images.
- :func:`plot_confusion_matrix`: row-normalised confusion matrix.
- :func:`plot_misclassified`: a few misclassified images per true class.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from autonet.errors import ConfigError, DataError
from autonet.images import IMAGE_SHAPE

DPI = 100  # PNG resolution; figures are sized so that this keeps files small
# |values| beyond this are left out of a curve: matplotlib's axis arithmetic (limits, margins,
# ticks) overflows on a finite 1e308 ("arange: cannot compute length"); no loss worth reading is this large
PLOT_LIMIT = 1e100
MAX_DPI = 600  # the largest figure (10 x 10 in) is then 6000 x 6000 pixels, about 140 MB of RGBA


def check_history(history) -> dict:
    """``history`` if it is a training history a figure can be drawn from, else :class:`DataError`.

    A dict with ``loss`` (list of numbers, one per iteration) and optionally
    ``train_acc``/``val_acc`` (lists of numbers, one per epoch); NaN/inf are
    allowed (a diverged run's loss), other types are not.
    """
    if not isinstance(history, dict):
        raise DataError(f"history must be a JSON object with a 'loss' list, got {type(history).__name__}")
    if "loss" not in history:
        raise DataError("history has no 'loss' list")
    for key, values in ((k, history[k]) for k in ("loss", "train_acc", "val_acc") if k in history):
        if not isinstance(values, list):
            raise DataError(f"history '{key}' must be a list of numbers, got {type(values).__name__}")
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise DataError(f"history '{key}'[{i}] must be a number, got {v!r:.40}")
    return history


def _axes(ax, figsize: tuple[float, float], *shape: int):
    """``(figure, axes)``: the given ``ax`` and its figure, or a new constrained-layout figure (not registered
    with pyplot) with ``subplots(*shape)``."""
    from matplotlib.figure import Figure

    if ax is not None:
        first = np.ravel(np.asarray(ax, dtype=object))[0]
        return first.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, (fig.subplots(*shape, squeeze=False) if shape else fig.subplots())


def save_figure(fig, path: str | os.PathLike, dpi: int = DPI) -> Path:
    """Write ``fig`` to ``path`` atomically, in the format its suffix names (default PNG); returns the path.

    ``dpi``: an integer in [1, :data:`MAX_DPI`] (else :class:`~autonet.errors.ConfigError`).
    """
    from autonet.storage.files import atomic_write

    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or not 1 <= dpi <= MAX_DPI:
        raise ConfigError(f"dpi must be an integer in [1, {MAX_DPI}], got {dpi!r}")
    fmt = Path(path).suffix[1:].lower() or "png"
    return atomic_write(Path(path), lambda f: fig.savefig(f, dpi=int(dpi), format=fmt))


def smooth(values, window: int) -> np.ndarray:
    """Trailing moving average of ``values`` over ``window`` points (shorter at the start)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or window <= 1:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, v.size + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


# ----- training curves -----


def plottable(values, name: str, low: float = -PLOT_LIMIT, high: float = PLOT_LIMIT, why: str = "") -> np.ndarray:
    """``values`` as float64, finite entries outside ``[low, high]`` replaced by NaN (left out of the curve).

    One warning names how many were left out and the first of them. NaN and inf stay as they are (a
    diverged run's loss; matplotlib leaves them out itself). ``why`` explains the range in the warning.
    """
    v = np.full(len(values), np.nan)
    huge = np.zeros(len(values), dtype=bool)  # integers beyond float range (JSON allows them)
    for i, x in enumerate(values):
        try:
            v[i] = float(x)
        except OverflowError:
            huge[i] = True
    bad = huge | (np.isfinite(v) & ((v < low) | (v > high)))
    if bad.any():
        first = int(np.argmax(bad))
        shown = f"an integer of {len(str(values[first]))} digits" if huge[first] else f"{v[first]:.3g}"
        warnings.warn(
            f"history '{name}': {int(bad.sum())} of {len(v)} values outside [{low:g}, {high:g}]{why} left out of "
            f"the plot (first {shown} at index {first})",
            stacklevel=2,
        )
        v[bad] = np.nan
    return v


def plot_run(history: dict, summary: dict, untitled: str = "", ax=None):
    """:func:`plot_training` of a finished run: titled with, and showing, the final evaluation of ``summary``.

    ``summary``: a run's ``summary.json`` (``backend``, ``layer_sizes``,
    ``val_acc``, ``epochs``); without those (an unfinished run), the title is
    ``untitled`` and there is no final point.
    """
    try:
        title = f"{summary['backend']} backend, layers {summary['layer_sizes']}, val acc {summary['val_acc']:.3f}"
        final = (float(summary["epochs"]), float(summary["val_acc"]))
    except (KeyError, TypeError, ValueError):
        title, final = untitled, None
    return plot_training(history, title=title, final=final, ax=ax)


def plot_training(history: dict, *, title: str = "", final: tuple[float, float] | None = None, ax=None):
    """Loss per iteration (raw and smoothed) above train/val accuracy per epoch; returns the Figure.

    ``history`` is a :class:`autonet.train.Trainer` history dict (keys
    ``loss``, ``train_acc``, ``val_acc``). ``final``: ``(epochs, val_acc)`` of
    the run's final evaluation (the saved model: a moving average, a run that
    ends mid-epoch), drawn as a star. ``ax``: two Axes ``(loss, accuracy)``
    to draw into (default: a new 8 x 7 in figure).
    """
    check_history(history)
    own = ax is None
    fig, axes = _axes(ax, (8, 7), 2, 1)
    ax1, ax2 = np.ravel(np.asarray(axes, dtype=object))
    loss = plottable(history["loss"], "loss")
    it = np.arange(len(loss))
    ax1.plot(it, loss, color="tab:blue", alpha=0.3, lw=0.8, label="minibatch loss")
    window = max(len(loss) // 50, 1)
    ax1.plot(it, smooth(loss, window), color="tab:blue", lw=2, label=f"moving average ({window} it)")
    ax1.legend()
    for key, style, colour, label in (
        ("train_acc", "o-", "tab:red", "train"),
        ("val_acc", "s-", "tab:green", "validation"),
    ):
        if history.get(key):
            acc = plottable(history[key], key, 0.0, 1.0, " (not accuracies)")
            ax2.plot(np.arange(1, len(acc) + 1), 100 * acc, style, color=colour, label=label)
    if final is not None:
        ax2.plot([final[0]], [100 * final[1]], "*", ms=14, color="tab:green", label=f"final: {100 * final[1]:.1f}%")
    if ax2.lines:
        ax2.legend()
    for a, xlabel, ylabel, name in (
        (ax1, "iteration (minibatch updates)", "loss (cross-entropy + L2, nats)", "Loss history"),
        (ax2, "epoch", "accuracy (%)", "Classification accuracy history"),
    ):
        a.set(xlabel=xlabel, ylabel=ylabel, title=name)
        a.xaxis.get_major_locator().set_params(integer=True)
        a.grid(alpha=0.3)
    if title and own:
        fig.suptitle(title)
    elif title:
        ax1.set_title(title)
    return fig


# ----- first-layer weights -----


def as_images(X: np.ndarray, image_shape=IMAGE_SHAPE, mean_image: np.ndarray | None = None) -> np.ndarray:
    """Flat HWC rows (N, H*W*C) or one row as images (N, H, W, 3): grey (C=1) repeated to RGB.

    ``mean_image`` (D,) is added back first. A new float array; ``X`` is not modified.
    """
    H, W, C = image_shape
    X = np.asarray(X, dtype=np.float64)
    X = X[None, :] if X.ndim == 1 else X
    if X.ndim != 2 or X.shape[1] != H * W * C or C not in (1, 3):
        raise DataError(f"rows of shape {X.shape[1:]} cannot be shown as {H}x{W}x{C} images")
    if mean_image is not None:
        X = X + np.asarray(mean_image, dtype=np.float64)
    images = X.reshape(-1, H, W, C)
    return np.repeat(images, 3, axis=3) if C == 1 else images


def weight_grid(W1: np.ndarray, max_units: int = 64, padding: int = 2, image_shape=IMAGE_SHAPE) -> np.ndarray:
    """Tile the first-layer weights into one RGB image, one HxW tile per hidden unit.

    Column ``j`` of ``W1`` (D, H) holds hidden unit j's weights on the input
    pixels, flattened in HWC order like the data rows (``image_shape``, CIFAR-10's
    32x32x3 by default; grey images are shown grey). Each tile is min-max scaled to [0, 1] on
    its own (a constant tile becomes 0.5); tiles fill a near-square grid row
    by row, separated by ``padding`` white pixels.

    Parameters
    ----------
    W1 : (D, H) array, D = prod(image_shape)
    max_units : show the first ``min(H, max_units)`` units
    padding : pixels between tiles
    image_shape : (height, width, channels), channels 1 or 3

    Returns
    -------
    (rows * (h + padding) - padding, cols * (w + padding) - padding, 3) float array in [0, 1]
    """
    W1 = np.asarray(W1)
    D = int(np.prod(image_shape))
    if W1.ndim != 2 or W1.shape[0] != D:
        H, W, C = image_shape
        raise DataError(f"W1 must have shape ({D}, H) to be shown as {H}x{W}x{C} images, got {W1.shape}")
    if max_units < 1:
        raise DataError(f"max_units must be >= 1, got {max_units}")
    tiles = as_images(W1[:, :max_units].T, image_shape)  # (n, h, w, 3)
    lo = tiles.min(axis=(1, 2, 3), keepdims=True)
    span = tiles.max(axis=(1, 2, 3), keepdims=True) - lo
    tiles = np.where(span > 0, (tiles - lo) / np.where(span > 0, span, 1), 0.5)
    n, h, w, _ = tiles.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    # each tile with its white margin below and to the right, then the tiles side by side, the outer margins cut
    tiles = np.pad(tiles, ((0, rows * cols - n), (0, padding), (0, padding), (0, 0)), constant_values=1.0)
    th, tw = h + padding, w + padding
    grid = tiles.reshape(rows, cols, th, tw, 3).swapaxes(1, 2).reshape(rows * th, cols * tw, 3)
    return grid[: rows * th - padding, : cols * tw - padding]


def plot_weight_grid(W1: np.ndarray, *, title: str = "", max_units: int = 64, image_shape=IMAGE_SHAPE, ax=None):
    """First-layer weights as images of ``image_shape`` (see :func:`weight_grid`); returns the Figure.

    ``ax``: the Axes to draw into (default: a new 6 x 7 in figure).
    """
    grid = weight_grid(W1, max_units=max_units, image_shape=image_shape)
    H, W, C = image_shape
    n = min(W1.shape[1], max_units)
    fig, ax = _axes(ax, (6, 7))
    ax.imshow(grid, interpolation="nearest")
    ax.set(xticks=[], yticks=[])
    ax.set_xlabel(
        f"hidden units 1-{n} of {W1.shape[1]}, row by row\n"
        f"each tile: {H}x{W} px {'RGB' if C == 3 else 'grey'}, min-max scaled per unit"
    )
    ax.set_title(title or "First-layer weights (W1 columns as images)")
    return fig


# ----- confusion matrix -----


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``M[i, j]`` of examples with true class ``i`` predicted as ``j``.

    Parameters
    ----------
    y_true, y_pred : (N,) int arrays with values in [0, num_classes)
    num_classes : C

    Returns
    -------
    (C, C) int64 array; rows sum to the class counts of ``y_true``.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise DataError(f"y_true and y_pred must be 1-D of equal length, got {y_true.shape} and {y_pred.shape}")
    for name, v in (("y_true", y_true), ("y_pred", y_pred)):
        if v.size and (not np.issubdtype(v.dtype, np.integer) or v.min() < 0 or v.max() >= num_classes):
            raise DataError(
                f"{name} must hold integer labels in [0, {num_classes}), "
                f"got dtype {v.dtype}, range [{v.min()}, {v.max()}]"
            )
    flat = np.bincount(num_classes * y_true.astype(np.int64) + y_pred, minlength=num_classes**2)
    return flat.reshape(num_classes, num_classes)


def plot_confusion_matrix(cm: np.ndarray, class_names: Sequence[str], *, title: str = "", ax=None):
    """Confusion matrix, each row as a percentage of its true class, counts in the cells; returns the Figure.

    ``cm`` is a (C, C) count matrix from :func:`confusion_matrix` (rows: true
    class). ``ax``: the Axes to draw into (default: a new 7.5 x 6.5 in figure).
    """
    cm = np.asarray(cm)
    C = len(class_names)
    if cm.shape != (C, C):
        raise DataError(f"cm must have shape ({C}, {C}) for {C} class names, got {cm.shape}")
    totals = cm.sum(axis=1, keepdims=True)
    pct = 100 * cm / np.maximum(totals, 1)
    fig, ax = _axes(ax, (7.5, 6.5))
    im = ax.imshow(pct, cmap="Blues", vmin=0, vmax=100)
    for (i, j), count in np.ndenumerate(cm):
        ax.text(j, i, f"{count}", ha="center", va="center", fontsize=8, color="white" if pct[i, j] > 55 else "black")
    ax.set_xticks(range(C), class_names, rotation=45, ha="right")
    ax.set_yticks(range(C), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(title or f"Confusion matrix: {cm.sum()} images, accuracy {100 * acc:.1f}%")
    fig.colorbar(im, ax=ax, label="% of the true class (cell text: image count)")
    return fig


# ----- misclassified examples -----


def pick_misclassified(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, per_class: int) -> list:
    """For each true class ``c``, the indices of its first ``per_class`` misclassified examples.

    Returns
    -------
    list of C int arrays (each of length <= ``per_class``, increasing)
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    wrong = y_true != y_pred
    return [np.flatnonzero(wrong & (y_true == c))[:per_class] for c in range(num_classes)]


def plot_misclassified(
    X: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[str],
    *,
    mean_image: np.ndarray | None = None,
    per_class: int = 5,
    title: str = "",
    image_shape=IMAGE_SHAPE,
    ax=None,
):
    """A grid of misclassified images: one row per true class, the first ``per_class`` mistakes.

    Returns the Figure. ``ax``: a (C, ``per_class``) array of Axes to draw
    into (default: a new figure sized to the grid).

    Parameters
    ----------
    X : (N, D) image rows in HWC order, raw pixels (any range: the images
        shown are scaled together to their own darkest and brightest values) or
        mean-subtracted with ``mean_image`` given to add back
    y_true, y_pred : (N,) int labels
    class_names : C names
    mean_image : (D,) optional, added back before display
    per_class : mistakes shown per true class (columns)
    image_shape : (H, W, C) with H*W*C = D (CIFAR-10's by default)
    """

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if per_class < 1:
        raise DataError(f"per_class must be >= 1, got {per_class}")
    if not (len(X) == len(y_true) == len(y_pred)):
        raise DataError(f"X, y_true and y_pred must have the same length, got {len(X)}, {len(y_true)}, {len(y_pred)}")
    C = len(class_names)
    picks = pick_misclassified(y_true, y_pred, C, per_class)
    if ax is not None and np.shape(ax) != (C, per_class):
        raise DataError(f"ax must be a ({C}, {per_class}) array of Axes, got shape {np.shape(ax)}")
    fig, axes = _axes(ax, (1.25 * per_class + 1.4, 1.3 * C + 0.6), C, per_class)
    images = as_images(X[np.concatenate(picks)], image_shape, mean_image)  # class by class, in pick order
    lo, hi = (images.min(), images.max()) if len(images) else (0, 1)
    shown = iter((images - lo) / (hi - lo) if hi > lo else images * 0 + 0.5)
    for (c, k), ax in np.ndenumerate(np.asarray(axes, dtype=object)):
        ax.set(xticks=[], yticks=[])
        ax.spines[:].set_visible(False)
        if k < len(picks[c]):
            ax.imshow(next(shown), interpolation="nearest")
            ax.set_title(f"as {class_names[y_pred[picks[c][k]]]}", fontsize=8)
        if k == 0:
            ax.set_ylabel(class_names[c], fontsize=9)
    n_wrong = int((y_true != y_pred).sum())
    fig.suptitle(
        title or f"Misclassified examples ({n_wrong} of {len(y_true)} wrong); row = true class, caption = prediction",
        fontsize=10,
    )
    return fig


# ----- sweep heat-map -----


def plot_sweep_heatmap(
    rows: Sequence[dict],
    *,
    title: str = "",
    x: str = "learning_rate",
    y: str = "reg",
    metric: str = "val_acc",
    max_cells: int = 12,
    ax=None,
):
    """Validation accuracy (%) over learning rate x reg, one annotated cell per pair; returns the Figure.

    Parameters
    ----------
    rows : dicts with keys ``x``, ``y``, ``metric`` and ``status`` (``"ok"``,
        ``"diverged"``, ...), e.g. the rows of :func:`autonet.sweep.run_sweep`
    x, y : the keys on the horizontal and vertical axis
    metric : accuracy in [0, 1] shown as colour and cell text
    max_cells : when either axis has more distinct values than this (a random
        search), points are drawn on log axes, coloured by accuracy, instead of cells
    ax : the Axes to draw into (default: a new 7.5 x 5.5 in figure)

    Several rows on one cell (other keys varied): the cell shows the best.
    A cell whose trials all diverged reads "div"; an untried cell is blank.
    """
    ok = [r for r in rows if r.get("status") == "ok"]
    bad = [r for r in rows if r.get("status") == "diverged"]
    xs = sorted({float(r[x]) for r in ok + bad})
    ys = sorted({float(r[y]) for r in ok + bad})
    if not xs:
        raise DataError("plot_sweep_heatmap needs at least one finished trial")
    accs = [100 * float(r[metric]) for r in ok]
    lo, hi = (min(accs), max(accs)) if accs else (0.0, 100.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    fig, ax = _axes(ax, (7.5, 5.5))
    label = {"learning_rate": "learning rate (initial)", "reg": "L2 regularization strength reg"}
    if len(xs) > max_cells or len(ys) > max_cells:
        xy = ([r[x] for r in ok], [r[y] for r in ok])
        im = ax.scatter(*xy, c=accs, cmap="viridis", vmin=lo, vmax=hi, s=60, edgecolors="black", linewidths=0.5)
        if bad:
            ax.scatter([r[x] for r in bad], [r[y] for r in bad], marker="x", color="tab:red", label="diverged")
            ax.legend(loc="best")
        for r, a in zip(ok, accs, strict=True):
            ax.annotate(f"{a:.1f}", (r[x], r[y]), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
        for axis, vals in ((ax.set_xscale, xs), (ax.set_yscale, ys)):
            if min(vals) > 0:
                axis("log")
    else:
        grid = np.full((len(ys), len(xs)), np.nan)
        for r, a in zip(ok, accs, strict=True):
            i, j = ys.index(float(r[y])), xs.index(float(r[x]))
            grid[i, j] = np.fmax(grid[i, j], a)  # the best of a cell's trials (fmax skips the NaN of "none yet")
        diverged = {(ys.index(float(r[y])), xs.index(float(r[x]))) for r in bad}
        from matplotlib import colormaps

        cmap = colormaps["viridis"].with_extremes(bad="lightgrey")
        im = ax.imshow(np.ma.masked_invalid(grid), origin="lower", cmap=cmap, vmin=lo, vmax=hi, aspect="auto")
        best = np.nanmax(grid) if accs else None
        for (i, j), v in np.ndenumerate(grid):
            if np.isnan(v):
                text, colour, weight = ("div" if (i, j) in diverged else ""), "tab:red", "normal"
            else:
                text = f"{v:.1f}"
                colour = "white" if (v - lo) / (hi - lo) < 0.5 else "black"
                weight = "bold" if v == best else "normal"
            ax.text(j, i, text, ha="center", va="center", fontsize=9, color=colour, fontweight=weight)
        ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
        ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
    ax.set_xlabel(label.get(x, x))
    ax.set_ylabel(label.get(y, y))
    n_div = f", {len(bad)} diverged" if bad else ""
    ax.set_title(title or f"Sweep: {metric.replace('_', ' ')} over {x} x {y}")
    fig.colorbar(
        im, ax=ax, label=f"{'validation' if metric == 'val_acc' else metric} accuracy (%) - {len(ok)} trials{n_div}"
    )
    return fig
