"""Parameters and the shared scores-only forward pass.

Parameters are a dict ``W1, b1, ..., WL, bL`` (``W_l``: (fan_in, fan_out),
``b_l``: (fan_out,)). :func:`scores` is the one prediction path every backend
shares; training-time forwards live with each backend.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from types import ModuleType

import numpy as np

from autonet.conventions import BN_EPS, num_layers
from autonet.errors import ConfigError, DataError
from autonet.images import IMAGE_SHAPE, require_image_rows
from autonet.manual.layers import ACTIVATIONS
from autonet.preprocess import mirror_permutation

INITS = ("std", "he", "xavier")
TTA_MODES = ("none", "flip")  # test-time augmentation of scores(): none, or the mean with the mirror image


def layer_sizes(params: dict) -> list[int]:
    """``[D, H1, ..., C]`` read off the weight shapes."""
    L = num_layers(params)
    return [params["W1"].shape[0]] + [params[f"W{i}"].shape[1] for i in range(1, L + 1)]


def init_rng(seed: int | None) -> np.random.Generator:
    """The generator for weight init, kept apart from the minibatch stream of the same seed."""
    return np.random.default_rng(None if seed is None else [seed, 1])


def init_params(
    sizes: Sequence[int],
    std: float = 1e-4,
    init: str = "std",
    rng: np.random.Generator | np.random.RandomState | ModuleType | int | None = None,
    dtype=np.float64,
    batchnorm: bool = False,
) -> dict:
    """Random weights, zero biases, for layer sizes ``[D, H1, ..., C]``.

    Parameters
    ----------
    sizes : at least two positive ints, input size first, classes last
    std : weight standard deviation for ``init="std"`` (the exercise's 1e-4)
    init : ``"std"`` (N(0, std^2)), ``"he"`` (N(0, 2/fan_in)) or
        ``"xavier"`` (N(0, 2/(fan_in+fan_out)))
    rng : where the weights come from: a numpy ``Generator``, a legacy
        ``RandomState``, the module ``numpy.random`` itself (NumPy's global
        state: ``W_l = scale * np.random.randn(fan_in, fan_out)`` in layer
        order, exactly as the exercise draws them), or a seed for
        ``np.random.default_rng`` (int or None)
    dtype : float dtype of every array
    batchnorm : give every hidden layer ``l`` batch-norm parameters ``gamma_l``
        (ones) and ``beta_l`` (zeros) *instead of* the bias ``b_l``, which the
        normalisation would cancel; the weights drawn are the same
    """
    try:
        sizes = [operator.index(s) for s in sizes]
    except TypeError:
        raise ConfigError(f"layer sizes must be >= 2 positive ints, got {sizes!r}") from None
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
        raise ConfigError(f"layer sizes must be >= 2 positive ints, got {sizes}")
    if not isinstance(init, str) or init not in INITS:
        raise ConfigError(f"unknown init {init!r}; choose one of: {', '.join(INITS)}")
    if init == "std" and not (isinstance(std, (int, float, np.integer, np.floating)) and np.isfinite(std) and std > 0):
        raise ConfigError(f"std must be a finite number > 0, got {std!r}")
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        kind = None
    if kind != "f" or np.dtype(dtype).itemsize < 4:
        raise ConfigError(f"dtype must be a float type (float32 or float64), got {getattr(dtype, '__name__', dtype)!r}")
    if not (rng is np.random or isinstance(rng, (np.random.Generator, np.random.RandomState))):
        rng = np.random.default_rng(rng)
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        scale = {"std": std, "he": np.sqrt(2.0 / fan_in), "xavier": np.sqrt(2.0 / (fan_in + fan_out))}[init]
        params[f"W{i}"] = _scaled_normal(rng, scale, fan_in, fan_out, dtype)
        if batchnorm and i < len(sizes) - 1:
            params[f"gamma{i}"] = np.ones(fan_out, dtype=dtype)
            params[f"beta{i}"] = np.zeros(fan_out, dtype=dtype)
        else:
            params[f"b{i}"] = np.zeros(fan_out, dtype=dtype)
    return params


_DRAW_CHUNK = 1 << 22  # float64 normals drawn at once: 32 MiB, whatever the layer's size


def _scaled_normal(rng, scale: float, rows: int, cols: int, dtype) -> np.ndarray:
    """``(scale * rng.standard_normal((rows, cols))).astype(dtype)``, without its float64 temporaries.

    The whole-matrix expression holds two float64 copies of the matrix at once (the draw and the
    scaled draw) before the cast: 4x the float32 result. Drawing a block of rows at a time takes
    the same numbers from the generator in the same order (C order), scales them in float64 and
    casts them into the result, so the weights are bit for bit those of the whole-matrix
    expression, for every kind of ``rng``.
    """
    out = np.empty((rows, cols), dtype=dtype)
    step = max(1, _DRAW_CHUNK // cols)
    for start in range(0, rows, step):
        block = rng.standard_normal((min(step, rows - start), cols))
        block *= scale
        out[start : start + len(block)] = block
        del block  # before the next block is drawn: one block alive at a time
    return out


def has_batchnorm(params: dict) -> bool:
    """True when ``params`` holds batch-norm parameters (``gamma1``, ...)."""
    return "gamma1" in params


def init_bn_state(params: dict) -> dict:
    """Running statistics for a batch-norm net: ``mean_l`` zeros and ``var_l`` ones, (H_l,) each.

    They are not parameters (no gradient); the trainer averages the batch
    statistics into them and :func:`scores` uses them in evaluation mode.
    """
    return {
        f"{name}{i}": fill(params[f"gamma{i}"].shape, dtype=params[f"gamma{i}"].dtype)
        for i in range(1, num_layers(params))
        if f"gamma{i}" in params
        for name, fill in (("mean", np.zeros), ("var", np.ones))
    }


def fold_batchnorm(params: dict, state: dict | None) -> dict:
    """The plain ``W, b`` net that computes what the batch-norm net computes in evaluation mode.

    Evaluation-mode batch norm is affine per unit,
    ``gamma * (a - mean) / sqrt(var + eps) + beta = s * a + (beta - s * mean)``
    with ``s = gamma / sqrt(var + eps)``, so it folds into the layer before it:
    ``W_l <- W_l * s`` (column-wise), ``b_l <- s * (b_l - mean) + beta`` (``b_l = 0``
    when absent). ``params`` without batch norm are returned unchanged.

    Raises
    ------
    ConfigError
        Batch-norm parameters but no running statistics ``state``.
    """
    if not has_batchnorm(params):
        return params
    if state is None:
        raise ConfigError("this net has batch-norm parameters; pass its running statistics (state)")
    out = {}
    for i in range(1, num_layers(params) + 1):
        w, b = params[f"W{i}"], params.get(f"b{i}")
        if f"gamma{i}" in params:
            s = params[f"gamma{i}"] / np.sqrt(state[f"var{i}"] + BN_EPS)
            shift = -state[f"mean{i}"] if b is None else b - state[f"mean{i}"]
            w, b = w * s, s * shift + params[f"beta{i}"]
        out[f"W{i}"], out[f"b{i}"] = w, b
    return out


def check_inputs(params: dict, X: np.ndarray, y: np.ndarray | None = None, names: tuple[str, str] = ("X", "y")) -> None:
    """Raise :class:`DataError` naming the problem if ``X``/``y`` do not fit ``params``.

    Checks: X is a 2-D real (int or float) array with D columns and no NaN or
    inf; y is 1-D with one integer label in [0, C) per row of X. ``names``
    are the argument names used in messages (e.g. ``("X_val", "y_val")``).
    Costs two reductions over X (min and max; no temporary of X's size).
    """
    xn, yn = names
    D = params["W1"].shape[0]
    C = params[f"W{num_layers(params)}"].shape[1]
    try:
        X = np.asarray(X)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise DataError(f"{xn} must be a 2-D numeric array (N, D): {e}") from None
    if X.ndim != 2:
        raise DataError(f"{xn} must be 2-D (N, D), got shape {X.shape}")
    if X.shape[1] != D:
        raise DataError(f"{xn} has {X.shape[1]} features per row; the network expects D={D}")
    if X.dtype.kind not in "iuf":
        raise DataError(f"{xn} must hold real numbers (int or float), got dtype {X.dtype}")
    # min/max propagate NaN and expose +-inf, without an (N, D) boolean temporary
    if X.size:
        lo, hi = X.min(), X.max()
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise DataError(f"{xn} contains NaN or infinite values")
        dtype = params["W1"].dtype
        big = max(abs(float(lo)), abs(float(hi)))
        if dtype.kind == "f" and big > float(np.finfo(dtype).max):
            raise DataError(
                f"{xn} holds values up to {big:.3g}, beyond {dtype}'s range "
                f"(largest {float(np.finfo(dtype).max):.3g}): scale the inputs, or use float64"
            )
    if y is None:
        return
    try:
        y = np.asarray(y)
    except (ValueError, TypeError) as e:
        raise DataError(f"{yn} must be a 1-D array of integer labels: {e}") from None
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise DataError(f"{yn} must have shape ({X.shape[0]},) to match {xn}, got {y.shape}")
    if y.dtype.kind not in "iu":
        raise DataError(f"{yn} must hold integer labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= C):
        raise DataError(f"{yn} labels must be in [0, {C}), got range [{y.min()}, {y.max()}]")


def scores(
    params: dict,
    X: np.ndarray,
    state: dict | None = None,
    activation: str = "relu",
    tta: str = "none",
    image_shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Class scores (N, C): ``relu(... relu(X W1 + b1) ...) WL + bL``, evaluation mode.

    Batch norm uses the running statistics ``state`` (see :func:`fold_batchnorm`);
    dropout is the identity (inverted dropout scales in training instead).
    ``activation`` names the hidden nonlinearity (``autonet.manual.layers.ACTIVATIONS``).

    Test-time augmentation ``tta="flip"``: the mean of the scores of each row
    and of its left-right mirror, ``(s(x) + s(x[mirror])) / 2``, the rows
    being flat HWC images of ``image_shape`` (default: CIFAR-10's 32x32x3).
    The mirror is taken of the row the net is given; for a saved model that is
    the mean-subtracted image, and every preprocessing folded into it
    (standardisation, ZCA) commutes with mirroring, so this is the mirror the
    flip augmentation trained on (see :func:`mirror_rows`).
    """
    mirrored = None if tta == "none" else mirror_rows(X, tta, image_shape)
    out = _scores(params, X, state, activation)
    if mirrored is not None:
        out += _scores(params, mirrored, state, activation)
        out *= 0.5
    return out


def mirror_rows(X: np.ndarray, tta: str = "flip", image_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The left-right mirror images of the flat HWC image rows ``X`` (N, H*W*C), for ``tta="flip"``.

    Raises
    ------
    ConfigError
        ``tta`` is not one of :data:`TTA_MODES`, or the rows are not images of ``image_shape``.
    """
    if tta not in TTA_MODES or tta == "none":
        raise ConfigError(f"tta must be one of {', '.join(TTA_MODES)}, got {tta!r}")
    shape = tuple(IMAGE_SHAPE if image_shape is None else image_shape)
    require_image_rows(f"tta {tta}", X.shape[-1], shape)
    return X[:, mirror_permutation(shape)]


def _scores(params: dict, X: np.ndarray, state: dict | None, activation: str) -> np.ndarray:
    params = fold_batchnorm(params, state)
    L = num_layers(params)
    h = X
    for i in range(1, L):
        h = h @ params[f"W{i}"]
        h += params[f"b{i}"]
        if activation == "relu":
            np.maximum(h, 0, out=h)
        else:
            h = ACTIVATIONS[activation](h)[0]
    out = h @ params[f"W{L}"]
    out += params[f"b{L}"]
    return out


def predict(params: dict, X: np.ndarray, batch_size: int = 2000, state: dict | None = None, **options) -> np.ndarray:
    """Predicted labels (N,) = argmax of :func:`scores` (with every bias, ``b2`` included).

    Evaluated in chunks of ``batch_size`` rows to bound memory; ``state`` and
    ``options`` (``activation``, ``tta``, ``image_shape``) as in :func:`scores`.
    """
    X = np.asarray(X)
    params = fold_batchnorm(params, state)
    labels = [scores(params, X[i : i + batch_size], **options).argmax(axis=1) for i in range(0, len(X), batch_size)]
    return np.concatenate(labels or [np.zeros(0, dtype=np.int64)])


def accuracy(params: dict, X: np.ndarray, y: np.ndarray, **options) -> float:
    """Fraction of rows of ``X`` whose predicted label equals ``y``; ``options`` (``state``,
    ``activation``, ``tta``, ``image_shape``) as in :func:`predict` (evaluation mode, see :func:`scores`)."""
    return float((predict(params, X, **options) == np.asarray(y)).mean())
