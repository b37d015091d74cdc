"""Update rules.

Every rule has the cs231n signature::

    next_w, config = rule(w, dw, config)

- ``w``: parameter array (updated in place, and returned);
- ``dw``: gradient of the loss with respect to ``w``, same shape;
- ``config``: dict holding the hyperparameters (``learning_rate`` is set by
  the trainer before every call; the others default as each docstring says)
  and the rule's per-parameter state (velocities, moments, step count), so
  saving ``config`` saves the optimizer. State arrays are created on the first
  call with the dtype of ``w``, so float32 training stays float32.

``lr`` below is ``config["learning_rate"]``; every product is elementwise.

The rules run over the arrays in blocks of :data:`BLOCK` elements
(:func:`blocks`): each block of ``w``, ``dw`` and the state is read from
memory once and stays in cache for all the rule's passes, and the
temporaries of an expression are block-sized. Every operation is
elementwise, so the numbers are those of the whole-array expressions.

``dw`` may also be a :class:`autonet.manual.layers.WeightGradient`, the factored
``h^T delta + reg * w`` of an affine layer that the manual backend hands the
trainer: :func:`sgd` takes its step inside that product, every other rule
multiplies it out first (``np.asarray``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from autonet.blas import gemm_update
from autonet.errors import ConfigError
from autonet.manual.layers import WeightGradient

UpdateRule = Callable[[np.ndarray, np.ndarray, dict], tuple]

# hyperparameter defaults of the rules (each rule stores them in its config on first use)
DEFAULTS = {"momentum": 0.9, "decay_rate": 0.99, "epsilon": 1e-8, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.0}


BLOCK = 1 << 16  # elements per block: 256 KiB of float32 for each of w, dw and the state


def blocks(*arrays: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """Matching flat views of ``arrays`` (one shape), :data:`BLOCK` elements at a time.

    Arrays that are not all C-contiguous come whole, as one block (a flat view of them would be a copy).
    """
    if not all(a.flags.c_contiguous for a in arrays):
        yield arrays
        return
    flat = [a.reshape(-1) for a in arrays]
    for i in range(0, flat[0].size, BLOCK):
        yield tuple(a[i : i + BLOCK] for a in flat)


def _state(config: dict, name: str, w: np.ndarray) -> np.ndarray:
    """``config[name]``, created as zeros like ``w`` on first use."""
    if name not in config:
        config[name] = np.zeros_like(w)
    return config[name]


def sgd(w: np.ndarray, dw: np.ndarray | WeightGradient, config: dict) -> tuple[np.ndarray, dict]:
    """Vanilla stochastic gradient descent: ``w <- w - lr * dw``.

    For a factored weight gradient ``dw = h^T delta + reg * w`` the same step
    is ``w <- -lr * h^T delta + (1 - lr * reg) * w``: one BLAS ``gemm`` with
    ``beta = 1 - lr * reg`` updates ``w`` where it lies
    (:func:`autonet.blas.gemm_update`), so ``dw`` is never written and no
    pass over the weights follows the product -- the step costs what the
    gradient's product alone would (equal to the array form up to rounding).
    """
    lr = config["learning_rate"]
    if isinstance(dw, WeightGradient) and dw.w is w:
        gemm_update(-lr, dw.x.T, dw.dout, 1.0 - lr * dw.reg, w)
    else:
        for w_, dw_ in blocks(w, np.asarray(dw)):
            w_ -= lr * dw_
    return w, config


def momentum(w: np.ndarray, dw, config: dict) -> tuple[np.ndarray, dict]:
    """SGD with (heavy-ball) momentum, ``momentum`` mu = 0.9 by default.

    ``v <- mu * v - lr * dw``; ``w <- w + v``. State: ``velocity``.
    """
    mu, lr = config.setdefault("momentum", DEFAULTS["momentum"]), config["learning_rate"]
    for w_, dw_, v_ in blocks(w, np.asarray(dw), _state(config, "velocity", w)):
        v_ *= mu
        v_ -= lr * dw_
        w_ += v_
    return w, config


def nesterov(w: np.ndarray, dw, config: dict) -> tuple[np.ndarray, dict]:
    """Nesterov momentum in the "look-ahead folded into w" form (Bengio et al. 2013, eq. 7).

    ``v_new = mu * v - lr * dw``; ``w <- w - mu * v + (1 + mu) * v_new``
    (equivalently ``w <- w + mu * v_new - lr * dw``), where ``dw`` is taken at
    the stored ``w``, which plays the role of the look-ahead point. State: ``velocity``.
    """
    mu, lr = config.setdefault("momentum", DEFAULTS["momentum"]), config["learning_rate"]
    for w_, dw_, v_ in blocks(w, np.asarray(dw), _state(config, "velocity", w)):
        v_ *= mu
        v_ -= lr * dw_
        w_ += mu * v_
        w_ -= lr * dw_
    return w, config


def rmsprop(w: np.ndarray, dw, config: dict) -> tuple[np.ndarray, dict]:
    """RMSprop (Tieleman & Hinton 2012): per-entry step scaled by a running RMS of gradients.

    ``s <- rho * s + (1 - rho) * dw**2``; ``w <- w - lr * dw / (sqrt(s) + eps)``,
    with ``decay_rate`` rho = 0.99 and ``epsilon`` = 1e-8 by default. State: ``cache``.
    """
    rho = config.setdefault("decay_rate", DEFAULTS["decay_rate"])
    eps, lr = config.setdefault("epsilon", DEFAULTS["epsilon"]), config["learning_rate"]
    for w_, dw_, s_ in blocks(w, np.asarray(dw), _state(config, "cache", w)):
        s_ *= rho
        s_ += (1 - rho) * dw_ * dw_
        w_ -= lr * dw_ / (np.sqrt(s_) + eps)
    return w, config


def adam(w: np.ndarray, dw, config: dict) -> tuple[np.ndarray, dict]:
    """Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", Algorithm 1).

    With ``beta1`` = 0.9, ``beta2`` = 0.999, ``epsilon`` = 1e-8 by default::

        t <- t + 1
        m <- beta1 * m + (1 - beta1) * dw
        v <- beta2 * v + (1 - beta2) * dw**2
        w <- w - lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

    State: ``m``, ``v``, ``t``.
    """
    _adam_step(w, dw, config)
    return w, config


def adamw(w: np.ndarray, dw, config: dict) -> tuple[np.ndarray, dict]:
    """AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019, Algorithm 2).

    First ``w <- w - lr * weight_decay * w`` (the decay is *not* added to
    ``dw``, so Adam's per-entry scaling does not weaken it), then the
    :func:`adam` step. ``weight_decay`` defaults to 0 (plain Adam); the
    trainer sets it for weight matrices only. The schedule multiplier of the
    paper is folded into ``lr``.
    """
    wd = config.setdefault("weight_decay", DEFAULTS["weight_decay"])
    _adam_step(w, dw, config, decay=config["learning_rate"] * wd)
    return w, config


def _adam_step(w: np.ndarray, dw, config: dict, decay: float = 0.0) -> None:
    """The Adam step of :func:`adam`, after ``w <- w - decay * w`` in each block (AdamW's decay)."""
    b1 = config.setdefault("beta1", DEFAULTS["beta1"])
    b2 = config.setdefault("beta2", DEFAULTS["beta2"])
    eps = config.setdefault("epsilon", DEFAULTS["epsilon"])
    config["t"] = t = config.get("t", 0) + 1
    # lr * m_hat / (sqrt(v_hat) + eps) with the bias corrections folded into scalars
    # (python floats, so float32 state is not promoted to float64)
    step = float(config["learning_rate"]) / (1 - b1**t)
    unbias = 1 / math.sqrt(1 - b2**t)
    # dw multiplied out before w changes (a factored gradient's L2 term reads w)
    for w_, dw_, m_, v_ in blocks(w, np.asarray(dw), _state(config, "m", w), _state(config, "v", w)):
        if decay:
            w_ -= decay * w_
        m_ *= b1
        m_ += (1 - b1) * dw_
        v_ *= b2
        v_ += (1 - b2) * dw_ * dw_
        w_ -= step * m_ / (np.sqrt(v_) * unbias + eps)


UPDATE_RULES = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")


def get_update_rule(name: str) -> UpdateRule:
    """The update rule called ``name``: the function of that name in this module, looked up now.

    Raises ConfigError listing the valid names for any other ``name``.
    """
    if name not in UPDATE_RULES:
        raise ConfigError(f"unknown optimizer {name!r}; choose one of: {', '.join(sorted(UPDATE_RULES))}")
    return globals()[name]
